//! Unverified decoding for inspection (the inspector page, `jwtgate inspect`,
//! `decode()` in JS): header, payload, sizes and warnings. Nothing here says
//! a token is valid.
//!
//! ```
//! // {"alg":"none"} . {"sub":"x"} . (no signature)
//! let d = jwtgate::decode::decode("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", Some(0)).unwrap();
//! assert_eq!(d.payload["sub"], "x");
//! assert!(d.warnings.iter().any(|w| w.contains("alg \"none\"")));
//! assert!(d.warnings.iter().any(|w| w.contains("no exp")));
//! ```

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::claims::{human_duration, iso8601, numeric_date};
use crate::error::Error;
use crate::json;
use crate::jws::{printable, Header, UntrustedJws, IGNORED_KEY_HEADERS};
use crate::policy::Limits;

/// A decoded, unverified token.
#[derive(Debug, Clone, Serialize)]
pub struct Decoded {
    /// The protected header.
    pub header: Map<String, Value>,
    /// The payload, parsed as JSON.
    pub payload: Value,
    /// Things a reader should know: expiry, weak or refused algorithms,
    /// key-carrying headers, extensions verifiers will refuse.
    pub warnings: Vec<String>,
    /// Sizes in bytes.
    pub sizes: Sizes,
}

/// Sizes of a token and its decoded parts, in bytes.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sizes {
    /// The whole token.
    pub token: usize,
    /// The decoded header JSON.
    pub header: usize,
    /// The decoded payload.
    pub payload: usize,
    /// The decoded signature.
    pub signature: usize,
}

/// Decodes a compact JWS without verifying it. With `now` (Unix seconds),
/// the warnings also cover expiry and not-before.
pub fn decode(token: &str, now: Option<i64>) -> Result<Decoded, Error> {
    let (jws, payload, warnings) = parts(token, now)?;
    Ok(Decoded {
        sizes: Sizes {
            token: token.len(),
            header: serde_json::to_string(&jws.header)
                .map(|s| s.len())
                .unwrap_or_default(),
            payload: jws.payload.len(),
            signature: jws.signature.len(),
        },
        header: jws.header,
        payload,
        warnings,
    })
}

/// What [`decode`] says of a token, with the header and payload as the
/// JSON text it parsed strictly (the token's decoded bytes) instead of
/// parsed values: the same refusals (the same error) and the same warnings,
/// for callers that parse that text themselves (the npm package's `decode`).
pub fn warnings_and_text(token: &str, now: Option<i64>) -> Result<TextParts, Error> {
    parts(token, now).map(|(jws, _, warnings)| TextParts {
        warnings,
        header: jws.header_json,
        payload: jws.payload,
    })
}

/// [`warnings_and_text`]'s answer.
#[derive(Debug, Clone)]
pub struct TextParts {
    /// [`Decoded::warnings`].
    pub warnings: Vec<String>,
    /// The header's JSON text, as decoded from the token.
    pub header: Vec<u8>,
    /// The payload, as decoded from the token (JSON text: [`decode`] parsed it).
    pub payload: Vec<u8>,
}

/// The token decoded and its warnings: [`decode`]'s work.
fn parts(token: &str, now: Option<i64>) -> Result<(UntrustedJws<'_>, Value, Vec<String>), Error> {
    let limits = Limits::default();
    let jws = UntrustedJws::parse(token, &limits)?;
    // Keep the parser's code: `too_large` for deep nesting, as `verify` says.
    let payload = json::parse_strict(&jws.payload, limits.max_json_depth, "payload")?;
    let mut warnings = Vec::new();
    header_warnings(&jws.header, &mut warnings);
    if jws.signature.is_empty() {
        warnings.push(String::from("the signature is empty"));
    }
    if let Value::Object(claims) = &payload {
        claim_warnings(claims, now, &mut warnings);
    } else {
        warnings.push(String::from(
            "the payload is not a JSON object, so it holds no JWT claims",
        ));
    }
    Ok((jws, payload, warnings))
}

fn header_warnings(header: &Map<String, Value>, warnings: &mut Vec<String>) {
    match Header::from_json(header) {
        Ok(h) if h.alg.is_symmetric() => warnings.push(format!(
            "alg {}: a shared secret; anyone able to verify this token can also mint one",
            h.alg
        )),
        Ok(_) => {}
        Err(e) => warnings.push(format!("verifiers will refuse this token: {}", e.message())),
    }
    for name in IGNORED_KEY_HEADERS {
        if header.contains_key(name) {
            warnings.push(format!(
                "the header carries {name}: a verifier must never take keys from the token itself"
            ));
        }
    }
}

fn claim_warnings(claims: &Map<String, Value>, now: Option<i64>, warnings: &mut Vec<String>) {
    let mut date = |name: &str| match numeric_date(claims, name) {
        Ok(v) => v,
        Err(e) => {
            warnings.push(String::from(e.message()));
            None
        }
    };
    let (exp, nbf, iat) = (date("exp"), date("nbf"), date("iat"));
    match exp {
        None => warnings.push(String::from("no exp: the token never expires")),
        Some(exp) => {
            if let Some(now) = now.map(|n| n as f64) {
                if exp <= now {
                    warnings.push(format!(
                        "expired at {} ({} ago)",
                        iso8601(exp),
                        human_duration(now - exp)
                    ));
                }
            }
            if let Some(iat) = iat {
                if exp - iat > 86_400.0 {
                    warnings.push(format!(
                        "long lifetime: {} between iat and exp",
                        human_duration(exp - iat)
                    ));
                }
            }
        }
    }
    if let (Some(nbf), Some(now)) = (nbf, now.map(|n| n as f64)) {
        if nbf > now {
            warnings.push(format!(
                "not valid before {} (in {})",
                iso8601(nbf),
                human_duration(nbf - now)
            ));
        }
    }
    if let (Some(iat), Some(now)) = (iat, now.map(|n| n as f64)) {
        if iat > now {
            warnings.push(format!("issued in the future: iat {}", iso8601(iat)));
        }
    }
    if !claims.contains_key("iss") {
        warnings.push(String::from("no iss: verifiers cannot tell who issued it"));
    }
    if let Some(Value::String(iss)) = claims.get("iss") {
        if iss.is_empty() {
            warnings.push(format!("empty iss \"{}\"", printable(iss)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base64url::encode;
    use crate::error::ErrorCode;

    fn token(header: &str, payload: &str) -> String {
        format!(
            "{}.{}.AAAA",
            encode(header.as_bytes()),
            encode(payload.as_bytes())
        )
    }

    #[test]
    fn warnings_cover_time_alg_and_key_headers() {
        let t = token(
            r#"{"alg":"HS256","jku":"https://x"}"#,
            r#"{"iss":"i","exp":100,"nbf":500,"iat":0}"#,
        );
        let d = decode(&t, Some(200)).unwrap();
        let all = d.warnings.join("\n");
        assert!(all.contains("alg HS256: a shared secret"), "{all}");
        assert!(all.contains("carries jku"), "{all}");
        assert!(
            all.contains("expired at 1970-01-01T00:01:40Z (100s ago)"),
            "{all}"
        );
        assert!(all.contains("not valid before"), "{all}");
        assert_eq!(d.sizes.signature, 3);
        let d = decode(
            &token(r#"{"alg":"ES256"}"#, r#"{"iss":"i","exp":1e10}"#),
            Some(0),
        )
        .unwrap();
        assert!(d.warnings.is_empty(), "{:?}", d.warnings);
        let d = decode(
            &token(r#"{"alg":"ES256","crit":["x"]}"#, r#"{"exp":"soon"}"#),
            None,
        )
        .unwrap();
        let all = d.warnings.join("\n");
        assert!(all.contains("verifiers will refuse this token"), "{all}");
        assert!(all.contains("exp must be a NumericDate"), "{all}");
    }

    #[test]
    fn text_parts_are_the_tokens_bytes_with_decodes_warnings_and_refusals() {
        let header = br#" {"alg":"HS256", "kid":"k"} "#;
        let payload = br#"{"iss":"i", "exp":100}"#;
        let t = format!("{}.{}.AAAA", encode(header), encode(payload));
        let parts = warnings_and_text(&t, Some(200)).unwrap();
        assert_eq!(parts.header, header);
        assert_eq!(parts.payload, payload);
        assert_eq!(parts.warnings, decode(&t, Some(200)).unwrap().warnings);
        let dup = token(r#"{"alg":"HS256"}"#, r#"{"a":1,"a":2}"#);
        assert_eq!(
            warnings_and_text(&dup, None).unwrap_err(),
            decode(&dup, None).unwrap_err()
        );
    }

    #[test]
    fn malformed_tokens_fail_with_codes() {
        assert_eq!(
            decode("abc", None).unwrap_err().code(),
            ErrorCode::Malformed
        );
        assert_eq!(
            decode("a.b.c.d.e", None).unwrap_err().code(),
            ErrorCode::JweUnsupported
        );
        let not_json = format!("{}.{}.", encode(b"{\"alg\":\"ES256\"}"), encode(b"hello"));
        assert_eq!(
            decode(&not_json, None).unwrap_err().code(),
            ErrorCode::Malformed
        );
    }
}
