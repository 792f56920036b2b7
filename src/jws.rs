//! Compact JWS (RFC 7515): untrusted parsing and signature verification
//! against a key set. JWT verification ([`crate::verify`]) is built on this.
//!
//! Parsing is strict: exactly three segments (a five-segment JWE gets its own
//! error), strict unpadded base64url, a header that is a JSON object without
//! duplicate members. The algorithm must be one we implement and must fit the
//! key that verifies it: the token's `alg` alone never decides. `crit`
//! extensions are refused (we implement none, including `b64: false`), and
//! `jku`, `x5u`, `jwk` and `x5c` are ignored: keys only come from the caller
//! (the policy, or the key set passed to [`verify`]), never from the token.
//!
//! ```
//! use jwtgate::jws::{verify, UntrustedJws};
//! use jwtgate::policy::Limits;
//! use jwtgate::jwk::{KeySet, KeySetOptions};
//!
//! // RFC 7515 appendix A.1 (HS256).
//! let token = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9\
//!     .eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ\
//!     .dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
//! let jwk = r#"{"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}"#;
//! let keys = KeySet::from_json(jwk, &KeySetOptions { allow_symmetric: true, ..Default::default() }).unwrap();
//! let jws = UntrustedJws::parse(token, &Limits::default()).unwrap();
//! let verified = verify(&jws, &keys, &[]).unwrap();
//! assert!(verified.payload.starts_with(b"{\"iss\":\"joe\""));
//! ```

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use serde_json::{Map, Value};

use crate::alg::{check_format, pure_rust_verifies, verify_signature, Alg, FULL_BUILD};
use crate::base64url;
use crate::error::{err, Error, ErrorCode};
use crate::explain::Trace;
use crate::host::SignatureVerifier;
use crate::json;
use crate::jwk::{Jwk, KeySet};
use crate::policy::Limits;

/// Header members that name or carry keys. They are never used to find a
/// key (RFC 8725 §3.10); the explain trace says they were ignored.
pub const IGNORED_KEY_HEADERS: [&str; 4] = ["jku", "x5u", "jwk", "x5c"];

/// A compact JWS split and decoded, but not verified: nothing in it is
/// trustworthy yet.
#[derive(Debug, Clone)]
pub struct UntrustedJws<'a> {
    /// The protected header, as JSON.
    pub header: Map<String, Value>,
    /// The decoded header bytes: the JSON text `header` was parsed from.
    pub header_json: Vec<u8>,
    /// The decoded payload bytes (not yet parsed: claims are only read after
    /// the signature verifies).
    pub payload: Vec<u8>,
    /// The decoded signature bytes.
    pub signature: Vec<u8>,
    /// The base64url payload segment, as it appears in the token.
    pub payload_segment: &'a str,
    /// The signed text: `header.payload` as it appears in the token.
    pub signing_input: &'a str,
}

impl<'a> UntrustedJws<'a> {
    /// Splits and decodes a compact JWS, checking its structure and size.
    /// The header's meaning (`alg`, `crit`, ...) is checked by [`Header::from_json`].
    pub fn parse(token: &'a str, limits: &Limits) -> Result<Self, Error> {
        if token.is_empty() {
            return Err(err!(Malformed, "the token is empty"));
        }
        if token.len() > limits.max_token_bytes {
            return Err(err!(
                TooLarge,
                "the token is {} bytes; the limit is {} (limits.max_token_bytes)",
                token.len(),
                limits.max_token_bytes
            ));
        }
        let dots = token.bytes().filter(|b| *b == b'.').count();
        if dots == 4 {
            return Err(err!(
                JweUnsupported,
                "the token has 5 segments: it is an encrypted JWE, which jwtgate does not accept"
            ));
        }
        if dots != 2 {
            return Err(err!(
                Malformed,
                "a compact JWS has 3 segments separated by '.', this token has {}",
                dots + 1
            ));
        }
        let mut parts = token.splitn(3, '.');
        let (h, p, s) = match (parts.next(), parts.next(), parts.next()) {
            (Some(h), Some(p), Some(s)) => (h, p, s),
            _ => {
                return Err(err!(
                    Malformed,
                    "the token could not be split into 3 segments"
                ))
            }
        };
        let decode = |segment: &str, name: &str| {
            base64url::decode_public(segment).ok_or_else(|| {
                err!(
                    Malformed,
                    "the {name} segment is not strict base64url (no padding, no whitespace, alphabet A-Z a-z 0-9 - _)"
                )
            })
        };
        let header_bytes = decode(h, "header")?;
        let payload = decode(p, "payload")?;
        let signature = decode(s, "signature")?;
        let header = json::parse_object(&header_bytes, limits.max_json_depth, "header")?;
        Ok(UntrustedJws {
            header,
            header_json: header_bytes,
            payload,
            signature,
            payload_segment: p,
            signing_input: &token[..h.len() + 1 + p.len()],
        })
    }
}

/// The header members jwtgate understands, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The algorithm the token claims (still to be matched against the key).
    pub alg: Alg,
    /// The key id, if any.
    pub kid: Option<String>,
    /// The media type of the token, if any (e.g. `"JWT"`).
    pub typ: Option<String>,
    /// The content type of the payload, if any.
    pub cty: Option<String>,
}

impl Header {
    /// Reads `alg`, `kid`, `typ`, `cty` and refuses what we must not accept:
    /// `none`, unknown algorithms, and any `crit` extension (we implement none;
    /// `b64` is refused even when not listed in `crit`).
    pub fn from_json(header: &Map<String, Value>) -> Result<Header, Error> {
        let alg = match header.get("alg") {
            None => return Err(err!(Malformed, "the header has no alg")),
            Some(Value::String(name)) => match Alg::from_name(name) {
                Some(alg) => alg,
                None if name.eq_ignore_ascii_case("none") => {
                    return Err(err!(
                        UnsupportedAlg,
                        "alg \"{name}\" (unsigned tokens) is never accepted"
                    ))
                }
                None => {
                    return Err(err!(
                        UnsupportedAlg,
                        "alg \"{}\" is not supported",
                        printable(name)
                    ))
                }
            },
            Some(other) => {
                return Err(err!(
                    Malformed,
                    "alg must be a string, not {}",
                    json::type_name(other)
                ))
            }
        };
        if let Some(crit) = header.get("crit") {
            let names = match crit {
                Value::Array(items) if !items.is_empty() => items,
                _ => {
                    return Err(err!(
                        Malformed,
                        "crit must be a non-empty array of header names"
                    ))
                }
            };
            let list: Vec<String> = names
                .iter()
                .map(|n| match n {
                    Value::String(s) => printable(s),
                    other => String::from(json::type_name(other)),
                })
                .collect();
            return Err(err!(
                UnsupportedCrit,
                "the header marks [{}] as critical; jwtgate implements no JWS extensions",
                list.join(", ")
            ));
        }
        if header.contains_key("b64") {
            return Err(err!(
                UnsupportedCrit,
                "b64 (RFC 7797 unencoded payload) is not supported"
            ));
        }
        Ok(Header {
            alg,
            kid: optional_string(header, "kid")?,
            typ: optional_string(header, "typ")?,
            cty: optional_string(header, "cty")?,
        })
    }
}

fn optional_string(header: &Map<String, Value>, name: &str) -> Result<Option<String>, Error> {
    match header.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(err!(
            Malformed,
            "{name} must be a string, not {}",
            json::type_name(other)
        )),
    }
}

/// Text from a token, safe to put in a message: control characters escaped
/// and cut to 64 characters.
pub(crate) fn printable(s: &str) -> String {
    let mut out: String = s.chars().take(64).flat_map(char::escape_debug).collect();
    if s.chars().count() > 64 {
        out.push_str("...");
    }
    out
}

/// Checks one signature: the format rules first (always in Rust), then the
/// host's crypto when it handles `alg`, prepared this key and answers, else
/// pure Rust.
/// Returns who decided.
fn check_signature(
    alg: Alg,
    key: &Jwk,
    input: &[u8],
    signature: &[u8],
    host: Option<&dyn SignatureVerifier>,
) -> Result<&'static str, Error> {
    check_format(alg, key.key(), signature)?;
    let host = host.filter(|host| host.handles(alg));
    if let (Some(host), Some(handle)) = (host, key.host_handle()) {
        match host.verify(alg, handle, input, signature) {
            Some(true) => return Ok(host.name()),
            Some(false) => return Err(err!(BadSignature, "the signature does not verify")),
            // The host takes this alg but failed: a fault, not the token's.
            None if !pure_rust_verifies(alg) => {
                return Err(err!(
                    VerifierUnavailable,
                    "the host crypto ({}) gave no answer for this {alg} signature, and this build has no pure-Rust {alg} verifier ({FULL_BUILD})",
                    host.name()
                ))
            }
            None => {}
        }
    }
    verify_signature(alg, key.key(), input, signature).map(|()| "pure Rust")
}

/// A JWS whose signature verified.
#[derive(Debug, Clone)]
pub struct VerifiedJws<'k> {
    /// The checked header.
    pub header: Header,
    /// The payload bytes (any content; JWT claims are checked by [`crate::verify`]).
    pub payload: Vec<u8>,
    /// The key that verified the signature.
    pub key: &'k Jwk,
}

/// Verifies `jws` against `keys`: header rules, the algorithm allow-list
/// (`algorithms`, empty = every algorithm a key allows), key selection by
/// `kid` and algorithm, then the signature. Tokens without `kid` are tried
/// against every key that allows their algorithm.
pub fn verify<'k>(
    jws: &UntrustedJws<'_>,
    keys: &'k KeySet,
    algorithms: &[Alg],
) -> Result<VerifiedJws<'k>, Error> {
    verify_traced(jws, keys, algorithms, None, &mut Trace::off())
}

pub(crate) fn verify_traced<'k>(
    jws: &UntrustedJws<'_>,
    keys: &'k KeySet,
    algorithms: &[Alg],
    host: Option<&dyn SignatureVerifier>,
    trace: &mut Trace,
) -> Result<VerifiedJws<'k>, Error> {
    let header = trace.step("header", Header::from_json(&jws.header), |h| {
        let mut detail = format!("alg {}", h.alg);
        if let Some(kid) = &h.kid {
            detail += &format!(", kid \"{}\"", printable(kid));
        }
        let ignored: Vec<&str> = IGNORED_KEY_HEADERS
            .iter()
            .copied()
            .filter(|name| jws.header.contains_key(*name))
            .collect();
        if !ignored.is_empty() {
            detail += &format!(
                "; ignored (keys come only from the policy): {}",
                ignored.join(", ")
            );
        }
        detail
    })?;
    let allowed = if algorithms.is_empty() || algorithms.contains(&header.alg) {
        Ok(())
    } else {
        Err(err!(
            UnsupportedAlg,
            "alg {} is not in this provider's algorithms",
            header.alg
        ))
    };
    trace.step("algorithm", allowed, |()| {
        format!("{} is allowed", header.alg)
    })?;
    let candidates = trace.step("key", keys.select(header.alg, header.kid.as_deref()), |c| {
        format!("{} candidate key(s) for {}", c.len(), header.alg)
    })?;
    let mut last = None;
    let mut unchecked: Option<Error> = None;
    let input = jws.signing_input.as_bytes();
    for key in &candidates {
        match check_signature(header.alg, key, input, &jws.signature, host) {
            Ok(by) => {
                trace.pass("signature", || {
                    let which = match key.kid() {
                        Some(kid) => format!("key \"{}\"", printable(kid)),
                        None => format!("a {} key", key.key().kind()),
                    };
                    format!("{} signature verified with {which} by {by}", header.alg)
                });
                return Ok(VerifiedJws {
                    header,
                    payload: jws.payload.clone(),
                    key,
                });
            }
            Err(e) if e.code() == ErrorCode::VerifierUnavailable => unchecked = Some(e),
            Err(e) => last = Some(e),
        }
    }
    let error = match (unchecked, last) {
        // A key that no verifier could check may be the one that signed: the
        // token is not to blame, so that fault is what is reported.
        (Some(fault), _) => fault,
        (None, Some(e)) if candidates.len() == 1 => e,
        (None, Some(e)) => err!(
            BadSignature,
            "the signature does not verify with any of {} candidate keys ({})",
            candidates.len(),
            e.message()
        ),
        (None, None) => err!(KeyMismatch, "no key can verify alg {}", header.alg),
    };
    trace.fail("signature", &error);
    Err(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(token: &str) -> Result<UntrustedJws<'_>, Error> {
        UntrustedJws::parse(token, &Limits::default())
    }

    fn header(json: &str) -> Result<Header, Error> {
        Header::from_json(&json::parse_object(json.as_bytes(), 8, "header").unwrap())
    }

    #[test]
    fn structure() {
        assert_eq!(parse("").unwrap_err().code(), ErrorCode::Malformed);
        assert_eq!(parse("a.b").unwrap_err().code(), ErrorCode::Malformed);
        assert_eq!(parse("a.b.c.d").unwrap_err().code(), ErrorCode::Malformed);
        assert_eq!(
            parse("a.b.c.d.e").unwrap_err().code(),
            ErrorCode::JweUnsupported
        );
        // {"alg":"HS256"} with padding, whitespace, standard alphabet.
        assert_eq!(
            parse("eyJhbGciOiJIUzI1NiJ9=.e30.AA").unwrap_err().code(),
            ErrorCode::Malformed
        );
        assert_eq!(
            parse("eyJhbGciOiJIUzI1NiJ9 .e30.AA").unwrap_err().code(),
            ErrorCode::Malformed
        );
        assert_eq!(
            parse("eyJhbGciOiJIUzI1NiJ9.e30.A+").unwrap_err().code(),
            ErrorCode::Malformed
        );
        let ok = parse("eyJhbGciOiJIUzI1NiJ9.e30.AA").unwrap();
        assert_eq!(ok.payload, b"{}");
        assert_eq!(ok.signature, [0]);
        assert_eq!(ok.signing_input, "eyJhbGciOiJIUzI1NiJ9.e30");
        let big = "a".repeat(9000);
        assert_eq!(parse(&big).unwrap_err().code(), ErrorCode::TooLarge);
    }

    #[test]
    fn header_rules() {
        assert_eq!(
            header(r#"{"alg":"ES256","kid":"k"}"#)
                .unwrap()
                .kid
                .as_deref(),
            Some("k")
        );
        for none in ["none", "None", "NONE", "nOnE"] {
            let e = header(&format!(r#"{{"alg":"{none}"}}"#)).unwrap_err();
            assert_eq!(e.code(), ErrorCode::UnsupportedAlg, "{none}");
        }
        assert_eq!(
            header(r#"{"alg":"HS1"}"#).unwrap_err().code(),
            ErrorCode::UnsupportedAlg
        );
        assert_eq!(
            header(r#"{"alg":"rs256"}"#).unwrap_err().code(),
            ErrorCode::UnsupportedAlg
        );
        assert_eq!(header(r#"{}"#).unwrap_err().code(), ErrorCode::Malformed);
        assert_eq!(
            header(r#"{"alg":1}"#).unwrap_err().code(),
            ErrorCode::Malformed
        );
        assert_eq!(
            header(r#"{"alg":"RS256","kid":1}"#).unwrap_err().code(),
            ErrorCode::Malformed
        );
        let e = header(r#"{"alg":"RS256","crit":["exp"],"exp":1}"#).unwrap_err();
        assert_eq!(e.code(), ErrorCode::UnsupportedCrit);
        assert!(e.message().contains("[exp]"));
        let e = header(r#"{"alg":"RS256","b64":false,"crit":["b64"]}"#).unwrap_err();
        assert_eq!(e.code(), ErrorCode::UnsupportedCrit);
        let e = header(r#"{"alg":"RS256","b64":false}"#).unwrap_err();
        assert_eq!(e.code(), ErrorCode::UnsupportedCrit);
        assert_eq!(
            header(r#"{"alg":"RS256","crit":[]}"#).unwrap_err().code(),
            ErrorCode::Malformed
        );
        // Key-carrying headers are accepted but never used.
        assert!(
            header(r#"{"alg":"RS256","jku":"https://evil","jwk":{},"x5u":"x","x5c":[]}"#).is_ok()
        );
    }

    #[test]
    fn printable_escapes_and_cuts() {
        assert_eq!(printable("a\nb"), "a\\nb");
        assert!(printable(&"x".repeat(100)).ends_with("..."));
    }
}
