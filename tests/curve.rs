//! The on-curve check of EC keys (src/curve.rs, crypto-bigint) against the
//! curves' own crates: `p256`, `p384` and `p521`'s `PublicKey::from_sec1_bytes`
//! (SEC 1 point validation) must give the same verdict on every point, on the
//! curve (multiples of the generator) or off it (a coordinate changed, both at
//! random, or at and above the prime). Needs the default features (the crates'
//! arithmetic comes with the pure-Rust ECDSA verifiers).
#![cfg(feature = "rust-rsa-ecdsa")]

use jwtgate::alg::VerifyingKey;
use jwtgate::curve::{on_curve, Curve};
use p256::elliptic_curve::ff::PrimeField;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use proptest::prelude::*;

const CURVES: [Curve; 3] = [Curve::P256, Curve::P384, Curve::P521];

/// The crate's verdict on `04 || x || y`.
fn reference(curve: Curve, x: &[u8], y: &[u8]) -> bool {
    let mut sec1 = vec![0x04];
    sec1.extend_from_slice(x);
    sec1.extend_from_slice(y);
    match curve {
        Curve::P256 => p256::PublicKey::from_sec1_bytes(&sec1).is_ok(),
        Curve::P384 => p384::PublicKey::from_sec1_bytes(&sec1).is_ok(),
        Curve::P521 => p521::PublicKey::from_sec1_bytes(&sec1).is_ok(),
    }
}

/// `k` times the curve's generator, as affine (x, y), by the crate.
fn multiple(curve: Curve, k: u64) -> (Vec<u8>, Vec<u8>) {
    let sec1 = match curve {
        Curve::P256 => (p256::ProjectivePoint::GENERATOR * p256::Scalar::from(k))
            .to_encoded_point(false)
            .as_bytes()
            .to_vec(),
        Curve::P384 => (p384::ProjectivePoint::GENERATOR * p384::Scalar::from(k))
            .to_encoded_point(false)
            .as_bytes()
            .to_vec(),
        Curve::P521 => (p521::ProjectivePoint::GENERATOR * p521::Scalar::from(k))
            .to_encoded_point(false)
            .as_bytes()
            .to_vec(),
    };
    let size = curve.size();
    assert_eq!(sec1.len(), 1 + 2 * size, "not the point at infinity");
    (sec1[1..1 + size].to_vec(), sec1[1 + size..].to_vec())
}

/// The field's prime `p`, big-endian: the crate's (`PrimeField::MODULUS`), and
/// for P-521 (whose crate does not export its field) 2^521 - 1.
fn prime(curve: Curve) -> Vec<u8> {
    let hex = match curve {
        Curve::P256 => p256::FieldElement::MODULUS,
        Curve::P384 => p384::FieldElement::MODULUS,
        Curve::P521 => {
            let mut p = vec![0xff_u8; 66];
            p[0] = 0x01;
            return p;
        }
    };
    let hex = hex.trim_start_matches("0x");
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    bytes[bytes.len() - curve.size()..].to_vec()
}

fn name(curve: Curve) -> &'static str {
    match curve {
        Curve::P256 => "P-256",
        Curve::P384 => "P-384",
        Curve::P521 => "P-521",
    }
}

/// Both verdicts, which must agree, and the key constructor's.
fn agree(curve: Curve, x: &[u8], y: &[u8]) -> bool {
    let ours = on_curve(curve, x, y);
    assert_eq!(
        ours,
        reference(curve, x, y),
        "{curve:?}: x = {x:02x?}, y = {y:02x?}"
    );
    assert_eq!(VerifyingKey::ec(name(curve), x, y).is_ok(), ours);
    ours
}

/// Big-endian `value + delta` (wrapping within the width).
fn add(value: &[u8], delta: u8) -> Vec<u8> {
    let mut out = value.to_vec();
    let mut carry = u16::from(delta);
    for byte in out.iter_mut().rev() {
        let sum = u16::from(*byte) + carry;
        *byte = sum as u8;
        carry = sum >> 8;
    }
    out
}

#[test]
fn generator_multiples_are_on_the_curve_and_neighbours_are_not() {
    for curve in CURVES {
        for k in [1, 2, 3, 7, 0xffff_ffff, u64::MAX] {
            let (x, y) = multiple(curve, k);
            assert!(agree(curve, &x, &y), "{curve:?} {k}·G");
            assert!(!agree(curve, &x, &add(&y, 1)), "{curve:?} {k}·G, y + 1");
            assert!(!agree(curve, &add(&x, 1), &y), "{curve:?} {k}·G, x + 1");
        }
    }
}

#[test]
fn coordinates_at_or_above_the_prime_are_refused() {
    for curve in CURVES {
        let p = prime(curve);
        let (x, y) = multiple(curve, 5);
        for at_or_above in [p.clone(), add(&p, 1), vec![0xff; curve.size()]] {
            assert!(!agree(curve, &at_or_above, &y), "{curve:?} x >= p");
            assert!(!agree(curve, &x, &at_or_above), "{curve:?} y >= p");
        }
        // y and p - y are both on the curve (the point and its negative).
        let minus_y = {
            let (mut out, mut borrow) = (vec![0_u8; y.len()], 0_i16);
            for i in (0..y.len()).rev() {
                let d = i16::from(p[i]) - i16::from(y[i]) - borrow;
                out[i] = d.rem_euclid(256) as u8;
                borrow = i16::from(d < 0);
            }
            out
        };
        assert!(agree(curve, &x, &minus_y), "{curve:?} -5·G");
        // (0, 0) and other small values are not points of these curves.
        let zero = vec![0_u8; curve.size()];
        assert!(!agree(curve, &zero, &zero));
    }
}

#[test]
fn coordinates_of_another_length_are_not_a_point() {
    for curve in CURVES {
        let (x, y) = multiple(curve, 9);
        assert!(!on_curve(curve, &x[1..], &y));
        assert!(!on_curve(curve, &x, &[&[0][..], &y].concat()));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_multiple_and_any_changed_byte_agree(
        k in 1_u64..,
        which in 0_usize..3,
        at in 0_usize..132,
        flip in 1_u8..,
    ) {
        let curve = CURVES[which];
        let (x, mut y) = multiple(curve, k);
        prop_assert!(agree(curve, &x, &y));
        let mut x2 = x.clone();
        if at < curve.size() {
            x2[at] ^= flip;
        } else {
            y[at % curve.size()] ^= flip;
        }
        agree(curve, &x2, &y);
    }

    #[test]
    fn random_coordinates_agree(which in 0_usize..3, x in any::<[u8; 66]>(), y in any::<[u8; 66]>()) {
        let curve = CURVES[which];
        let size = curve.size();
        agree(curve, &x[..size], &y[..size]);
    }
}
