//! Whether an EC public key's point is on its NIST curve: the check every
//! build makes when an EC key is built ([`crate::alg::VerifyingKey::ec`]).
//!
//! The point `(x, y)` is valid when both coordinates are below the field's
//! prime `p` and `y² = x³ - 3x + b (mod p)` (SEC 1 v2 §3.2.2.1; the three
//! curves have cofactor 1, so there is no subgroup to check, and the point at
//! infinity has no affine coordinates). The modular arithmetic is
//! `crypto-bigint`'s (RustCrypto), with one integer size for the three curves:
//! the check runs once per key, and the curves' own field arithmetic (the
//! `p256`, `p384` and `p521` crates) added about 70 KB to every wasm module
//! without the pure-Rust ECDSA verifiers. The tests hold this check to those
//! crates' `PublicKey::from_sec1_bytes` on the same points.
//!
//! ```
//! use jwtgate::curve::{on_curve, Curve};
//! // The generator of P-256 (SEC 2 v2 §2.4.2).
//! let x = hex("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296");
//! let y = hex("4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5");
//! assert!(on_curve(Curve::P256, &x, &y));
//! let mut off = y.clone();
//! off[31] ^= 1;
//! assert!(!on_curve(Curve::P256, &x, &off));
//! # fn hex(s: &str) -> Vec<u8> {
//! #     (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
//! # }
//! ```

use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
use crypto_bigint::U576;

/// The NIST curves of JWS (`crv`, RFC 7518 §6.2.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// P-256 (secp256r1), for ES256.
    P256,
    /// P-384 (secp384r1), for ES384.
    P384,
    /// P-521 (secp521r1), for ES512.
    P521,
}

impl Curve {
    /// The curve of a JWK's `crv`: `"P-256"`, `"P-384"` or `"P-521"`.
    pub fn from_name(crv: &str) -> Option<Curve> {
        match crv {
            "P-256" => Some(Curve::P256),
            "P-384" => Some(Curve::P384),
            "P-521" => Some(Curve::P521),
            _ => None,
        }
    }

    /// The size of one coordinate in bytes: 32, 48 or 66.
    pub fn size(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }

    /// The prime `p` of the curve's field (with its Montgomery parameters,
    /// computed at compile time) and the `b` of its equation.
    fn params(self) -> &'static (DynResidueParams<LIMBS>, U576) {
        match self {
            Curve::P256 => &P256,
            Curve::P384 => &P384,
            Curve::P521 => &P521,
        }
    }
}

const LIMBS: usize = U576::LIMBS;

// SEC 2 v2 §2.4.2, §2.5.1 and §2.6.1: p, then b, as 576-bit big-endian hex.
const P256: (DynResidueParams<LIMBS>, U576) = (
    DynResidueParams::new(&U576::from_be_hex(concat!(
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000ffffffff00000001000000000000000000000000ffffffff",
        "ffffffffffffffff",
    ))),
    U576::from_be_hex(concat!(
        "0000000000000000000000000000000000000000000000000000000000000000",
        "00000000000000005ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f6",
        "3bce3c3e27d2604b",
    )),
);
const P384: (DynResidueParams<LIMBS>, U576) = (
    DynResidueParams::new(&U576::from_be_hex(concat!(
        "000000000000000000000000000000000000000000000000ffffffffffffffff",
        "fffffffffffffffffffffffffffffffffffffffffffffffeffffffff00000000",
        "00000000ffffffff",
    ))),
    U576::from_be_hex(concat!(
        "000000000000000000000000000000000000000000000000b3312fa7e23ee7e4",
        "988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d",
        "2a85c8edd3ec2aef",
    )),
);
const P521: (DynResidueParams<LIMBS>, U576) = (
    DynResidueParams::new(&U576::from_be_hex(concat!(
        "00000000000001ffffffffffffffffffffffffffffffffffffffffffffffffff",
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "ffffffffffffffff",
    ))),
    U576::from_be_hex(concat!(
        "0000000000000051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3",
        "b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1",
        "ef451fd46b503f00",
    )),
);

/// Whether `(x, y)` (big-endian, each exactly [`Curve::size`] bytes) is a
/// point of `curve`: both coordinates below `p`, and the curve's equation
/// holds. Coordinates of another length are not a point.
pub fn on_curve(curve: Curve, x: &[u8], y: &[u8]) -> bool {
    let (field, b) = curve.params();
    let (Some(x), Some(y)) = (coordinate(curve, x), coordinate(curve, y)) else {
        return false;
    };
    if x >= *field.modulus() || y >= *field.modulus() {
        return false;
    }
    let (x, y) = (DynResidue::new(&x, *field), DynResidue::new(&y, *field));
    let b = DynResidue::new(b, *field);
    // a = -3 on all three curves: x³ - 3x + b.
    let right = x.square() * x - (x + x + x) + b;
    y.square().retrieve() == right.retrieve()
}

/// A coordinate of exactly the curve's size, as a 576-bit integer.
fn coordinate(curve: Curve, bytes: &[u8]) -> Option<U576> {
    if bytes.len() != curve.size() {
        return None;
    }
    let mut padded = [0_u8; U576::BYTES];
    padded[U576::BYTES - bytes.len()..].copy_from_slice(bytes);
    Some(U576::from_be_slice(&padded))
}
