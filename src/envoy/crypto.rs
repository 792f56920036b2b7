//! Host crypto: RS256/384/512 and ES256/384/512 signature checks by Envoy's
//! `verify_signature` foreign function (BoringSSL), through the core's
//! [`SignatureVerifier`] seam.
//!
//! Envoy (`source/extensions/common/wasm/foreign.cc`) takes a serialized
//! `VerifySignatureArguments { string hash_function = 1; bytes public_key = 2;
//! bytes signature = 3; bytes text = 4; }` (DER SubjectPublicKeyInfo, ASN.1
//! DER for ECDSA signatures) and answers `VerifySignatureResult { bool result
//! = 1; string error = 2; }`. BoringSSL's `EVP_DigestVerify` uses PKCS#1 v1.5
//! for RSA keys, so PS* (PSS), EdDSA and HS* stay in pure Rust.
//!
//! The two messages are encoded and decoded here by hand (a few fields of
//! tag, varint and length-delimited bytes; tested against known bytes below),
//! so the filter needs no protobuf crate.
//!
//! Only a clear answer counts: `result: true` with no error is valid, and
//! `result: false` with Envoy's "Failed to verify digest" error (what
//! `EVP_DigestVerify` failing gives) is invalid. Anything else (the function
//! is missing, the key is refused, an unknown hash, an unexpected message)
//! is `None`: the full filter lets pure Rust decide, the small one refuses
//! the request with `verifier_unavailable` (HTTP 500, logged as a warning).

use alloc::vec::Vec;

use log::debug;
use proxy_wasm::hostcalls::call_foreign_function;

use super::metrics::{add, counter};
use crate::alg::{ecdsa_signature_der, Alg, VerifyingKey, PURE_RUST_RSA_ECDSA};
use crate::host::SignatureVerifier;

/// The name [`SignatureVerifier::name`] reports (and the core writes into
/// explain output and `Verifier::signature_checker`).
pub(crate) const NAME: &str = "envoy";

/// The error Envoy sets when BoringSSL's `EVP_DigestVerify` says no
/// (`"Failed to verify digest. Error code: 0"`, Envoy 1.40
/// `source/common/crypto/utility_impl.cc`). Every other error means Envoy
/// could not check, not that the signature is wrong.
const VERIFY_FAILED: &[u8] = b"Failed to verify digest";

/// What becomes of a check Envoy gave no answer for (for the debug logs).
const FALLBACK: &str = if PURE_RUST_RSA_ECDSA {
    "pure Rust decides"
} else {
    "the request is refused with verifier_unavailable"
};

/// Envoy's `verify_signature`, one instance per VM.
pub(crate) struct EnvoyCrypto {
    /// The DER SubjectPublicKeyInfo of each prepared key; the handle is the index.
    keys: Vec<Vec<u8>>,
    /// `jwtgate.crypto.host_checks`: answers given by Envoy.
    answered: Option<u32>,
    /// `jwtgate.crypto.host_fallbacks`: checks Envoy could not answer (pure Rust decided).
    declined: Option<u32>,
}

impl EnvoyCrypto {
    pub(crate) fn new() -> Self {
        EnvoyCrypto {
            keys: Vec::new(),
            answered: counter("jwtgate.crypto.host_checks"),
            declined: counter("jwtgate.crypto.host_fallbacks"),
        }
    }
}

impl SignatureVerifier for EnvoyCrypto {
    fn prepare(&mut self, key: &VerifyingKey) -> Option<u32> {
        // RSA and EC keys only; Ed25519 and HMAC keys have no SPKI here.
        let der = key.spki_der()?;
        let handle = u32::try_from(self.keys.len()).ok()?;
        self.keys.push(der);
        Some(handle)
    }

    fn verify(
        &self,
        alg: Alg,
        handle: u32,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Option<bool> {
        let hash = hash_function(alg)?;
        let answer = self.ask(alg, hash, handle, signing_input, signature);
        add(
            if answer.is_some() {
                self.answered
            } else {
                self.declined
            },
            1,
        );
        answer
    }

    /// RS* and ES*: `verify_signature` has no PSS padding, and EdDSA and HMAC
    /// are pure Rust's.
    fn handles(&self, alg: Alg) -> bool {
        hash_function(alg).is_some()
    }

    fn name(&self) -> &'static str {
        NAME
    }
}

impl EnvoyCrypto {
    /// One `verify_signature` call; `None` unless Envoy gave a clear answer.
    fn ask(
        &self,
        alg: Alg,
        hash: &str,
        handle: u32,
        input: &[u8],
        signature: &[u8],
    ) -> Option<bool> {
        let key = self.keys.get(usize::try_from(handle).ok()?)?;
        let der;
        let signature = if matches!(alg, Alg::ES256 | Alg::ES384 | Alg::ES512) {
            // The core refused out-of-range r and s already (alg::check_format);
            // should it ever be None, the core decides as for no answer.
            der = ecdsa_signature_der(alg, signature)?;
            der.as_slice()
        } else {
            signature
        };
        let arguments = encode_arguments(hash, key, signature, input);
        match call_foreign_function("verify_signature", Some(&arguments)) {
            Ok(Some(bytes)) => {
                let (result, error) = decode_result(&bytes)?;
                let answer = interpret(result, error);
                if answer.is_none() {
                    debug!(
                        "jwtgate: envoy verify_signature gave no answer for {alg} (result {result}, error {:?}); {FALLBACK}",
                        alloc::string::String::from_utf8_lossy(error)
                    );
                }
                answer
            }
            Ok(None) => {
                debug!("jwtgate: envoy verify_signature returned nothing for {alg}; {FALLBACK}");
                None
            }
            Err(status) => {
                debug!("jwtgate: envoy verify_signature failed for {alg} ({status:?}); {FALLBACK}");
                None
            }
        }
    }
}

/// Envoy's hash name (`Common::Crypto::UtilityImpl::getHashFunction`) for
/// the algorithms Envoy verifies; `None` for every other algorithm.
fn hash_function(alg: Alg) -> Option<&'static str> {
    match alg {
        Alg::RS256 | Alg::ES256 => Some("sha256"),
        Alg::RS384 | Alg::ES384 => Some("sha384"),
        Alg::RS512 | Alg::ES512 => Some("sha512"),
        // PS* need PSS padding, which verify_signature does not offer.
        _ => None,
    }
}

/// `result` and `error` of a decoded `VerifySignatureResult` as an answer.
fn interpret(result: bool, error: &[u8]) -> Option<bool> {
    match (result, error) {
        (true, []) => Some(true),
        (false, e) if e.starts_with(VERIFY_FAILED) => Some(false),
        _ => None,
    }
}

const WIRE_VARINT: u8 = 0;
const WIRE_I64: u8 = 1;
const WIRE_LEN: u8 = 2;
const WIRE_I32: u8 = 5;

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_len_delimited(out: &mut Vec<u8>, field: u8, data: &[u8]) {
    out.push(field << 3 | WIRE_LEN);
    put_varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

/// A serialized `VerifySignatureArguments` (fields 1 to 4; `public_key_pem`
/// stays empty because Envoy refuses a request that sets both key fields).
fn encode_arguments(
    hash_function: &str,
    public_key: &[u8],
    signature: &[u8],
    text: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        hash_function.len() + public_key.len() + signature.len() + text.len() + 16,
    );
    put_len_delimited(&mut out, 1, hash_function.as_bytes());
    put_len_delimited(&mut out, 2, public_key);
    put_len_delimited(&mut out, 3, signature);
    put_len_delimited(&mut out, 4, text);
    out
}

fn take_varint(input: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for i in 0..10 {
        let (&byte, rest) = input.split_first()?;
        *input = rest;
        let bits = u64::from(byte & 0x7f);
        if i == 9 && bits > 1 {
            return None; // more than 64 bits
        }
        value |= bits << (7 * i);
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn take_bytes<'a>(input: &mut &'a [u8], len: u64) -> Option<&'a [u8]> {
    let len = usize::try_from(len).ok()?;
    if len > input.len() {
        return None;
    }
    let (taken, rest) = input.split_at(len);
    *input = rest;
    Some(taken)
}

/// `(result, error)` of a serialized `VerifySignatureResult`; unknown fields
/// are skipped, as protobuf requires. `None` if the bytes do not parse or a
/// known field has the wrong wire type.
fn decode_result(mut input: &[u8]) -> Option<(bool, &[u8])> {
    let mut result = false;
    let mut error: &[u8] = &[];
    while !input.is_empty() {
        let key = take_varint(&mut input)?;
        let field = key >> 3;
        let wire = (key & 7) as u8;
        match (field, wire) {
            (0, _) => return None,
            (1, WIRE_VARINT) => result = take_varint(&mut input)? != 0,
            (2, WIRE_LEN) => {
                let len = take_varint(&mut input)?;
                error = take_bytes(&mut input, len)?;
            }
            (1 | 2, _) => return None,
            (_, WIRE_VARINT) => {
                take_varint(&mut input)?;
            }
            (_, WIRE_I64) => {
                take_bytes(&mut input, 8)?;
            }
            (_, WIRE_LEN) => {
                let len = take_varint(&mut input)?;
                take_bytes(&mut input, len)?;
            }
            (_, WIRE_I32) => {
                take_bytes(&mut input, 4)?;
            }
            _ => return None,
        }
    }
    Some((result, error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_encode_to_known_bytes() {
        // protoc --encode=VerifySignatureArguments with hash_function "sha256",
        // public_key 01 02, signature 03, text "hi" (written out by hand).
        assert_eq!(
            encode_arguments("sha256", &[1, 2], &[3], b"hi"),
            [
                0x0a, 6, b's', b'h', b'a', b'2', b'5', b'6', // 1: string
                0x12, 2, 1, 2, // 2: bytes
                0x1a, 1, 3, // 3: bytes
                0x22, 2, b'h', b'i', // 4: bytes
            ]
        );
    }

    #[test]
    fn long_fields_get_multi_byte_lengths() {
        let key = [7u8; 300]; // 300 = 0xac 0x02 as a varint
        let out = encode_arguments("sha512", &key, &[], &[]);
        assert_eq!(&out[8..11], &[0x12, 0xac, 0x02]);
        assert_eq!(out.len(), 8 + 3 + 300 + 2 + 2);
        let mut v = Vec::new();
        put_varint(&mut v, u64::MAX);
        assert_eq!(
            v,
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
        assert_eq!(take_varint(&mut v.as_slice()), Some(u64::MAX));
    }

    #[test]
    fn results_decode_from_known_bytes() {
        // What Envoy serializes: result true, error "" (proto3 omits it).
        assert_eq!(decode_result(&[0x08, 0x01]), Some((true, &b""[..])));
        let message = b"Failed to verify digest. Error code: 0";
        let mut failed = Vec::from([0x12, message.len() as u8]);
        failed.extend_from_slice(message);
        assert_eq!(failed[1], 38);
        assert_eq!(
            decode_result(&failed),
            Some((false, &b"Failed to verify digest. Error code: 0"[..]))
        );
        // Field order does not matter; unknown fields are skipped.
        let mut mixed = Vec::from(&b"\x12\x03abc"[..]);
        mixed.extend_from_slice(&[0x18, 0x96, 0x01]); // 3: varint 150
        mixed.extend_from_slice(&[0x25, 1, 2, 3, 4]); // 4: fixed32
        mixed.extend_from_slice(&[0x29, 1, 2, 3, 4, 5, 6, 7, 8]); // 5: fixed64
        mixed.extend_from_slice(&[0x32, 0x01, 0xff]); // 6: bytes
        mixed.extend_from_slice(&[0x08, 0x01]);
        assert_eq!(decode_result(&mixed), Some((true, &b"abc"[..])));
        assert_eq!(decode_result(&[]), Some((false, &b""[..])));
    }

    #[test]
    fn broken_results_do_not_decode() {
        for bad in [
            &[0x08][..],         // varint missing
            &[0x08, 0x80],       // varint cut short
            &[0x12, 0x05, b'a'], // length past the end
            &[0x0a, 0x00],       // result as bytes
            &[0x10, 0x01],       // error as varint
            &[0x00, 0x01],       // field 0
            &[0x0b],             // wire type 3 (groups)
            &[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
            ], // > 64 bits
        ] {
            assert_eq!(decode_result(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn only_clear_answers_count() {
        assert_eq!(interpret(true, b""), Some(true));
        assert_eq!(
            interpret(false, b"Failed to verify digest. Error code: 0"),
            Some(false)
        );
        assert_eq!(interpret(false, b"sha3 is not supported."), None);
        assert_eq!(
            interpret(false, b"Failed to initialize digest verify."),
            None
        );
        assert_eq!(interpret(false, b""), None);
        assert_eq!(interpret(true, b"Failed to verify digest"), None);
    }

    #[test]
    fn hash_names_match_envoys() {
        assert_eq!(hash_function(Alg::RS256), Some("sha256"));
        assert_eq!(hash_function(Alg::ES384), Some("sha384"));
        assert_eq!(hash_function(Alg::RS512), Some("sha512"));
        for alg in [Alg::PS256, Alg::PS384, Alg::PS512, Alg::EdDSA, Alg::HS256] {
            assert_eq!(hash_function(alg), None, "{alg}");
        }
    }
}
