//! Native signature checks with AWS-LC (`aws-lc-rs`), through the core's
//! [`SignatureVerifier`] seam: RS256/384/512, PS256/384/512, ES256, ES384
//! and ES512. EdDSA and HS* stay in pure Rust, which is native code here
//! anyway; the pure-Rust verifier remains the reference, and the core only
//! uses this after [`crate::host::self_test`].
//!
//! Each key is parsed once, when the core prepares it
//! ([`VerifyingKey::spki_der`] into one AWS-LC `ParsedPublicKey` per
//! algorithm the key fits), so a check is only the signature arithmetic:
//! no key parsing and no Montgomery setup per request, as BoringSSL in
//! Envoy's `jwt_authn` does it.

extern crate std;

use alloc::vec::Vec;

use aws_lc_rs::signature::{self, ParsedPublicKey, VerificationAlgorithm};

use crate::alg::{Alg, VerifyingKey};
use crate::host::SignatureVerifier;

/// The name reported in logs, explain output and `Verifier::signature_checker`.
pub const NAME: &str = "aws-lc";

/// A prepared key: parsed once for each algorithm it fits.
struct Prepared {
    parsed: Vec<(Alg, ParsedPublicKey)>,
}

/// AWS-LC's verifier; one per [`crate::Verifier`] (keys are prepared once).
#[derive(Default)]
pub struct AwsLcCrypto {
    keys: Vec<Prepared>,
}

impl AwsLcCrypto {
    /// A verifier with no keys prepared yet.
    pub fn new() -> Self {
        AwsLcCrypto::default()
    }
}

/// The algorithms a key of this kind is checked for here, and AWS-LC's
/// name for each (JOSE's raw `r || s` is AWS-LC's "fixed" ECDSA encoding).
fn algorithms(kind: &str) -> &'static [(Alg, &'static dyn VerificationAlgorithm)] {
    match kind {
        "RSA" => &[
            (Alg::RS256, &signature::RSA_PKCS1_2048_8192_SHA256),
            (Alg::RS384, &signature::RSA_PKCS1_2048_8192_SHA384),
            (Alg::RS512, &signature::RSA_PKCS1_2048_8192_SHA512),
            (Alg::PS256, &signature::RSA_PSS_2048_8192_SHA256),
            (Alg::PS384, &signature::RSA_PSS_2048_8192_SHA384),
            (Alg::PS512, &signature::RSA_PSS_2048_8192_SHA512),
        ],
        "EC P-256" => &[(Alg::ES256, &signature::ECDSA_P256_SHA256_FIXED)],
        "EC P-384" => &[(Alg::ES384, &signature::ECDSA_P384_SHA384_FIXED)],
        "EC P-521" => &[(Alg::ES512, &signature::ECDSA_P521_SHA512_FIXED)],
        // Ed25519 and HMAC: pure Rust.
        _ => &[],
    }
}

impl SignatureVerifier for AwsLcCrypto {
    fn prepare(&mut self, key: &VerifyingKey) -> Option<u32> {
        let algorithms = algorithms(key.kind());
        if algorithms.is_empty() {
            return None;
        }
        let spki = key.spki_der()?;
        let parsed = algorithms
            .iter()
            .map(|(alg, algorithm)| Some((*alg, ParsedPublicKey::new(*algorithm, &spki).ok()?)))
            .collect::<Option<Vec<_>>>()?;
        let handle = u32::try_from(self.keys.len()).ok()?;
        self.keys.push(Prepared { parsed });
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
        // The core never asks for an algorithm the key does not fit; if it
        // did, pure Rust decides.
        let (_, parsed) = key.parsed.iter().find(|(a, _)| *a == alg)?;
        Some(parsed.verify_sig(signing_input, signature).is_ok())
    }

    /// RSA (PKCS#1 v1.5 and PSS) and ECDSA; Ed25519 and HMAC are pure Rust's.
    fn handles(&self, alg: Alg) -> bool {
        !matches!(alg, Alg::EdDSA | Alg::HS256 | Alg::HS384 | Alg::HS512)
    }

    fn name(&self) -> &'static str {
        NAME
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::self_test;

    #[test]
    fn passes_the_self_test() {
        self_test(&mut AwsLcCrypto::new()).unwrap();
    }
}
