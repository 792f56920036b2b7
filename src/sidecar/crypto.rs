//! Native signature checks with `ring`, through the core's
//! [`SignatureVerifier`] seam: RS256/384/512, PS256/384/512, ES256 and
//! ES384. ES512 (ring has no P-521), EdDSA and HS* stay in pure Rust,
//! which is native code here anyway; the pure-Rust verifier remains the
//! reference, and the core only uses this after [`crate::host::self_test`].
//!
//! Keys come from [`VerifyingKey::spki_der`]: ring takes the SPKI's
//! `subjectPublicKey` bit string (an `RSAPublicKey` for RSA, the
//! uncompressed point for EC), so that is all [`spki_public_key`] extracts.

extern crate std;

use alloc::vec::Vec;

use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};

use crate::alg::{Alg, VerifyingKey};
use crate::host::SignatureVerifier;

/// The name reported in logs, explain output and `Verifier::signature_checker`.
pub const NAME: &str = "ring";

/// A prepared key: what ring needs, and the algorithms it fits.
struct Prepared {
    kind: Kind,
    public_key: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rsa,
    P256,
    P384,
}

/// ring's verifier; one per [`crate::Verifier`] (keys are prepared once).
#[derive(Default)]
pub struct RingCrypto {
    keys: Vec<Prepared>,
}

impl RingCrypto {
    /// A verifier with no keys prepared yet.
    pub fn new() -> Self {
        RingCrypto::default()
    }
}

impl SignatureVerifier for RingCrypto {
    fn prepare(&mut self, key: &VerifyingKey) -> Option<u32> {
        let kind = match key.kind() {
            "RSA" => Kind::Rsa,
            "EC P-256" => Kind::P256,
            "EC P-384" => Kind::P384,
            // P-521: ring has no P-521; Ed25519 and HMAC: no SPKI here.
            _ => return None,
        };
        let public_key = spki_public_key(&key.spki_der()?)?.to_vec();
        let handle = u32::try_from(self.keys.len()).ok()?;
        self.keys.push(Prepared { kind, public_key });
        Some(handle)
    }

    fn verify(
        &self,
        alg: Alg,
        handle: u32,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Option<bool> {
        let key = self.keys.get(usize::try_from(handle).ok()?)?;
        let algorithm: &'static dyn VerificationAlgorithm = match (key.kind, alg) {
            (Kind::Rsa, Alg::RS256) => &signature::RSA_PKCS1_2048_8192_SHA256,
            (Kind::Rsa, Alg::RS384) => &signature::RSA_PKCS1_2048_8192_SHA384,
            (Kind::Rsa, Alg::RS512) => &signature::RSA_PKCS1_2048_8192_SHA512,
            (Kind::Rsa, Alg::PS256) => &signature::RSA_PSS_2048_8192_SHA256,
            (Kind::Rsa, Alg::PS384) => &signature::RSA_PSS_2048_8192_SHA384,
            (Kind::Rsa, Alg::PS512) => &signature::RSA_PSS_2048_8192_SHA512,
            // JOSE's raw r || s is ring's "fixed" encoding.
            (Kind::P256, Alg::ES256) => &signature::ECDSA_P256_SHA256_FIXED,
            (Kind::P384, Alg::ES384) => &signature::ECDSA_P384_SHA384_FIXED,
            // The core never asks for a key that does not fit; if it did,
            // pure Rust decides.
            _ => return None,
        };
        Some(
            UnparsedPublicKey::new(algorithm, &key.public_key)
                .verify(signing_input, signature)
                .is_ok(),
        )
    }

    fn name(&self) -> &'static str {
        NAME
    }
}

/// The `subjectPublicKey` bits of a DER `SubjectPublicKeyInfo`
/// (`SEQUENCE { SEQUENCE algorithm, BIT STRING subjectPublicKey }`), without
/// the unused-bits byte; `None` unless the DER has exactly that shape.
pub fn spki_public_key(spki: &[u8]) -> Option<&[u8]> {
    let (outer, rest) = der_element(spki, 0x30)?;
    if !rest.is_empty() {
        return None;
    }
    let (_algorithm, rest) = der_element(outer, 0x30)?;
    let (bits, rest) = der_element(rest, 0x03)?;
    if !rest.is_empty() {
        return None;
    }
    match bits.split_first() {
        Some((0, key)) if !key.is_empty() => Some(key),
        _ => None,
    }
}

/// One DER element with tag `tag`: its contents and what follows it.
fn der_element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, rest) = input.split_first()?;
    if t != tag {
        return None;
    }
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 2 || rest.len() < count {
            return None;
        }
        let (digits, after) = rest.split_at(count);
        rest = after;
        let len = digits.iter().fold(0usize, |n, d| n << 8 | usize::from(*d));
        // DER: the shortest length form.
        if len < 0x80 || (count == 2 && len < 0x100) {
            return None;
        }
        len
    };
    (len <= rest.len()).then(|| rest.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::self_test;

    #[test]
    fn passes_the_self_test() {
        self_test(&mut RingCrypto::new()).unwrap();
    }

    #[test]
    fn spki_bits_are_extracted_and_bad_der_refused() {
        // SEQUENCE { SEQUENCE { OID 1.2 }, BIT STRING 00 04 01 02 }
        let spki = [
            0x30, 0x0a, 0x30, 0x03, 0x06, 0x01, 0x2a, 0x03, 0x04, 0x00, 0x04, 0x01,
        ];
        assert_eq!(spki_public_key(&spki), None, "length past the end");
        let spki = [
            0x30, 0x0a, 0x30, 0x03, 0x06, 0x01, 0x2a, 0x03, 0x04, 0x00, 0x04, 0x01, 0x02,
        ];
        assert_eq!(spki_public_key(&spki), None, "outer length wrong");
        let spki = [
            0x30, 0x0b, 0x30, 0x03, 0x06, 0x01, 0x2a, 0x03, 0x04, 0x00, 0x04, 0x01, 0x02,
        ];
        assert_eq!(spki_public_key(&spki), Some(&[4, 1, 2][..]));
        let unused_bits = [
            0x30, 0x0b, 0x30, 0x03, 0x06, 0x01, 0x2a, 0x03, 0x04, 0x01, 0x04, 0x01, 0x02,
        ];
        assert_eq!(spki_public_key(&unused_bits), None);
        // A long-form length that should have been short.
        assert_eq!(der_element(&[0x30, 0x81, 0x01, 0x00], 0x30), None);
        assert_eq!(der_element(&[0x30, 0x81, 0x80], 0x30), None);
    }
}
