//! Strict base64url (RFC 4648 §5) without padding, as JWS and JWK require.
//!
//! Decoding refuses padding, whitespace, characters outside the alphabet and
//! non-canonical trailing bits (so every byte string has exactly one encoding).

use alloc::string::String;
use alloc::vec::Vec;
use base64ct::{Base64UrlUnpadded, Encoding};

/// Decodes strict, unpadded base64url. `None` on any deviation.
///
/// Constant-time (`base64ct`): for secrets (a JWK's `k`).
pub fn decode(input: &str) -> Option<Vec<u8>> {
    Base64UrlUnpadded::decode_vec(input).ok()
}

/// Decodes strict, unpadded base64url exactly as [`decode`] does (same
/// refusals, same bytes), with a lookup table: several times faster in
/// wasm, and not constant-time, so only for public input (the segments of a
/// token, which its sender already knows).
///
/// ```
/// use jwtgate::base64url::decode_public;
/// assert_eq!(decode_public("aGk").unwrap(), b"hi");
/// assert!(decode_public("aGl").is_none()); // non-canonical trailing bits
/// ```
pub fn decode_public(input: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    decode_public_into(input, &mut out).then_some(out)
}

/// [`decode_public`], appending the bytes to `out` (one exact reservation,
/// no intermediate buffer). Returns `false`, with `out` as it was, on any
/// deviation.
pub fn decode_public_into(input: &str, out: &mut Vec<u8>) -> bool {
    let bytes = input.as_bytes();
    let start = out.len();
    // One character left over (len % 4 == 1) can never be valid.
    let decoded = match bytes.len() % 4 {
        1 => return false,
        0 => bytes.len() / 4 * 3,
        r => bytes.len() / 4 * 3 + r - 1,
    };
    out.resize(start + decoded, 0);
    if fill(bytes, &mut out[start..]).is_none() {
        out.truncate(start);
        return false;
    }
    true
}

/// Decodes `bytes` into `out`, exactly `out.len()` bytes long (set by
/// [`decode_public_into`]).
fn fill(bytes: &[u8], out: &mut [u8]) -> Option<()> {
    let mut quads = bytes.chunks_exact(4);
    let mut triples = out.chunks_exact_mut(3);
    for (quad, triple) in (&mut quads).zip(&mut triples) {
        let n = (sextet(quad[0])? << 18)
            | (sextet(quad[1])? << 12)
            | (sextet(quad[2])? << 6)
            | sextet(quad[3])?;
        triple[0] = (n >> 16) as u8;
        triple[1] = (n >> 8) as u8;
        triple[2] = n as u8;
    }
    let tail = triples.into_remainder();
    match (quads.remainder(), tail) {
        ([], []) => {}
        (&[a, b], [x]) => {
            let n = (sextet(a)? << 6) | sextet(b)?;
            // 12 bits for one byte: the 4 left over must be zero (canonical).
            if n & 0xf != 0 {
                return None;
            }
            *x = (n >> 4) as u8;
        }
        (&[a, b, c], [x, y]) => {
            let n = (sextet(a)? << 12) | (sextet(b)? << 6) | sextet(c)?;
            if n & 0x3 != 0 {
                return None;
            }
            *x = (n >> 10) as u8;
            *y = (n >> 2) as u8;
        }
        _ => return None,
    }
    Some(())
}

const INVALID: u8 = 0xff;

/// The value of each base64url character (RFC 4648 §5), [`INVALID`] for every other byte.
const SEXTETS: [u8; 256] = {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < alphabet.len() {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table
};

fn sextet(byte: u8) -> Option<u32> {
    match SEXTETS[usize::from(byte)] {
        INVALID => None,
        value => Some(u32::from(value)),
    }
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
        for bad in [
            "aGk=", "aG k", "aGk\n", "a+/A", "aGl", "aGkab", "=", "aGk\0",
        ] {
            assert!(decode_public(bad).is_none(), "{bad:?}");
        }
    }

    /// The table decoder against the constant-time one: every string of up to
    /// 5 characters over an alphabet with edge cases of each kind, and longer
    /// pseudo-random strings.
    #[test]
    fn the_public_decoder_agrees_with_the_constant_time_one() {
        let chars = b"AQgw_-9z+/=. \x80";
        let mut checked = 0;
        let mut word = alloc::vec::Vec::new();
        fn walk(word: &mut alloc::vec::Vec<u8>, chars: &[u8], left: usize, checked: &mut u32) {
            if let Ok(text) = core::str::from_utf8(word) {
                assert_eq!(decode_public(text), decode(text), "{text:?}");
                // Appending keeps what was there, and leaves it alone on a refusal.
                let mut out = alloc::vec![7u8];
                let ok = decode_public_into(text, &mut out);
                assert_eq!(ok.then(|| out[1..].to_vec()), decode(text), "{text:?}");
                assert!(ok || out == [7], "{text:?}");
                *checked += 1;
            }
            if left == 0 {
                return;
            }
            for &c in chars {
                word.push(c);
                walk(word, chars, left - 1, checked);
                word.pop();
            }
        }
        walk(&mut word, chars, 5, &mut checked);
        assert!(checked > 100_000);
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for round in 0..2000 {
            let len = round % 97;
            let text: String = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    alphabet[(state % 64) as usize] as char
                })
                .collect();
            assert_eq!(decode_public(&text), decode(&text), "{text:?}");
            let encoded = encode(text.as_bytes());
            assert_eq!(decode_public(&encoded).unwrap(), text.as_bytes());
        }
    }
}
