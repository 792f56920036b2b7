//! Strict base64url (RFC 4648 §5) without padding, as JWS and JWK require.
//!
//! Decoding refuses padding, whitespace, characters outside the alphabet and
//! non-canonical trailing bits (so every byte string has exactly one encoding).

use alloc::string::String;
use alloc::vec::Vec;
use base64ct::{Base64UrlUnpadded, Encoding};

/// Decodes strict, unpadded base64url. `None` on any deviation.
pub fn decode(input: &str) -> Option<Vec<u8>> {
    Base64UrlUnpadded::decode_vec(input).ok()
}

/// Encodes bytes as unpadded base64url.
pub fn encode(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        assert_eq!(decode("aGk").unwrap(), b"hi");
        assert_eq!(encode(b"hi"), "aGk");
        assert_eq!(decode("").unwrap(), b"");
    }

    #[test]
    fn refuses_padding_whitespace_and_foreign_alphabets() {
        assert!(decode("aGk=").is_none());
        assert!(decode("aG k").is_none());
        assert!(decode("aGk\n").is_none());
        assert!(decode("a+/A").is_none());
        // "aGl" has non-zero trailing bits: not the canonical encoding of "hi".
        assert!(decode("aGl").is_none());
        // A single leftover character can never be valid.
        assert!(decode("aGkab").is_none());
    }
}
