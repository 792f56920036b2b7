//! The reports `jwtgate inspect` and `jwtgate verify` print: the text (or
//! JSON) of a decoded token and of an [`Explanation`], for every command line
//! (the native binary's `src/sidecar/cli.rs` and the npm package's
//! `js/bin/jwtgate.mjs`, through one binding), so both print the same bytes.
//!
//! Formatting only: the values come already parsed and checked
//! ([`crate::decode::decode`], [`crate::Verifier::explain`]); the time in
//! them is read at the caller's `now` (Unix seconds), never at a clock.
//!
//! ```
//! use jwtgate::report::{self, Format};
//!
//! // {"alg":"none"} . {"exp":1} . (no signature)
//! let decoded = jwtgate::decode::decode("eyJhbGciOiJub25lIn0.eyJleHAiOjF9.", Some(3601)).unwrap();
//! let text = report::decoded(&decoded, 3601.0, Format::Text);
//! assert!(text.starts_with("NOT VERIFIED: decoding only"));
//! assert!(text.contains("\ntimes:\n  exp       1970-01-01T00:00:01Z (1 hour ago)\n"));
//! ```

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::claims::iso8601;
use crate::decode::Decoded;
use crate::error::Error;
use crate::verify::Explanation;

/// How a report is printed.
///
/// ```
/// use jwtgate::report::Format;
/// let json_flag = true; // `--json` on the command line
/// let format = if json_flag { Format::Json } else { Format::Text };
/// assert_eq!(format, Format::Json);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Lines for a person: headings, a check per line, times in words.
    Text,
    /// The values as indented JSON (two spaces, as `JSON.stringify(v, null, 2)`).
    Json,
}

/// The claims shown with their time in words, in this order, when they are
/// finite numbers.
const TIME_CLAIMS: [&str; 4] = ["iat", "nbf", "exp", "auth_time"];

/// The units of a relative time, largest first, with their length in seconds.
const UNITS: [(&str, f64); 5] = [
    ("year", 365.0 * 86_400.0),
    ("day", 86_400.0),
    ("hour", 3600.0),
    ("minute", 60.0),
    ("second", 1.0),
];

/// Indented JSON; serializing plain data cannot fail.
fn pretty(value: &impl Serialize) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// What `jwtgate inspect` prints for a decoded token, judged at `now`
/// (Unix seconds: the relative times, as the warnings were). Text: a
/// not-verified notice, the header and the claims as indented JSON, the time
/// claims in words, the warnings. JSON: `{"header","payload","warnings"}`.
/// Object members print in name order (the core's JSON objects are sorted
/// maps), not in the token's order. Lines are joined with `\n`, with no final
/// newline.
///
/// ```
/// use jwtgate::report::{self, Format};
/// // {"alg":"none"} . {"sub":"x"} . (no signature)
/// let d = jwtgate::decode::decode("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", None).unwrap();
/// let json: serde_json::Value = serde_json::from_str(&report::decoded(&d, 0.0, Format::Json)).unwrap();
/// assert_eq!(json["payload"]["sub"], "x");
/// assert!(report::decoded(&d, 0.0, Format::Text).contains("claims:\n{\n  \"sub\": \"x\"\n}"));
/// ```
pub fn decoded(decoded: &Decoded, now: f64, format: Format) -> String {
    if format == Format::Json {
        #[derive(Serialize)]
        struct Shown<'a> {
            header: &'a Map<String, Value>,
            payload: &'a Value,
            warnings: &'a [String],
        }
        return pretty(&Shown {
            header: &decoded.header,
            payload: &decoded.payload,
            warnings: &decoded.warnings,
        });
    }
    let mut out: Vec<String> = vec![
        "NOT VERIFIED: decoding only; nothing here is proof of anything.".into(),
        String::new(),
        "header:".into(),
        pretty(&decoded.header),
        String::new(),
        "claims:".into(),
        pretty(&decoded.payload),
    ];
    let times: Vec<(&str, f64)> = TIME_CLAIMS
        .iter()
        .filter_map(|c| {
            let t = decoded.payload.get(c)?.as_f64()?;
            t.is_finite().then_some((*c, t))
        })
        .collect();
    if !times.is_empty() {
        out.push(String::new());
        out.push("times:".into());
        for (claim, t) in times {
            out.push(format!("  {claim:<9} {}", human_time(t, now)));
        }
    }
    if !decoded.warnings.is_empty() {
        out.push(String::new());
        out.push("warnings:".into());
        for w in &decoded.warnings {
            out.push(format!("  - {w}"));
        }
    }
    out.join("\n")
}

/// What `jwtgate inspect` prints when the token does not decode.
///
/// ```
/// use jwtgate::{report, Error, ErrorCode};
/// let e = Error::new(ErrorCode::Malformed, "a JWS has three segments");
/// assert_eq!(report::undecodable(&e), "not a decodable token: malformed: a JWS has three segments");
/// ```
pub fn undecodable(error: &Error) -> String {
    format!(
        "not a decodable token: {}: {}",
        error.code().as_str(),
        error.message()
    )
}

/// What `jwtgate verify` prints for an [`Explanation`]. Text: one line per
/// check (`ok  ` or `FAIL`, its name, what was found), then
/// `accepted (provider NAME)` or `refused: CODE: MESSAGE`. JSON: the
/// explanation as the npm package's `explain` returns it
/// (`{"ok","code"?,"message"?,"provider"?,"checks"}`). No final newline.
///
/// ```
/// use jwtgate::report::{self, Format};
/// use jwtgate::verify::Explanation;
/// let e = Explanation { ok: true, error: None, provider: Some("main".into()), checks: vec![] };
/// assert_eq!(report::explanation(&e, Format::Text), "accepted (provider main)");
/// ```
pub fn explanation(explanation: &Explanation, format: Format) -> String {
    if format == Format::Json {
        return pretty(explanation);
    }
    let mut out: Vec<String> = explanation
        .checks
        .iter()
        .map(|c| {
            let mark = if c.ok { "ok  " } else { "FAIL" };
            format!("{mark}  {}: {}", c.check, c.detail)
        })
        .collect();
    out.push(match &explanation.error {
        None => format!(
            "accepted (provider {})",
            explanation.provider.as_deref().unwrap_or_default()
        ),
        Some(e) => format!("refused: {}: {}", e.code().as_str(), e.message()),
    });
    out.join("\n")
}

/// A NumericDate (`seconds`, Unix) as an ISO 8601 UTC time and how far it is
/// from `now`, in the largest whole unit that fits (truncated toward zero),
/// worded as JavaScript's `toISOString` and
/// `Intl.RelativeTimeFormat('en', {numeric: 'always'})` word them (the npm
/// CLI printed those before this module).
///
/// ```
/// let t = 1_767_225_600.0; // 2026-01-01T00:00:00Z
/// assert_eq!(jwtgate::report::human_time(t, t - 3.0 * 3600.0), "2026-01-01T00:00:00Z (in 3 hours)");
/// ```
pub fn human_time(seconds: f64, now: f64) -> String {
    let ms = trunc(seconds * 1000.0);
    let whole = floor(ms / 1000.0);
    let mut iso = iso8601(whole);
    let millis = ms - whole * 1000.0;
    if millis != 0.0 {
        iso = format!("{}.{:03}Z", iso.trim_end_matches('Z'), millis as i64);
    }
    let delta = seconds - now;
    let (unit, size) = UNITS
        .iter()
        .copied()
        .find(|(_, s)| delta.abs() >= *s)
        .unwrap_or(UNITS[UNITS.len() - 1]);
    let count = trunc(delta / size);
    let n = grouped(count.abs() as u64);
    let unit = if count.abs() == 1.0 {
        unit.to_string()
    } else {
        format!("{unit}s")
    };
    if count < 0.0 || (count == 0.0 && count.is_sign_negative()) {
        format!("{iso} ({n} {unit} ago)")
    } else {
        format!("{iso} (in {n} {unit})")
    }
}

/// Rounds toward zero, keeping the sign of zero (`Math.trunc`; `f64::trunc`
/// needs `std`).
fn trunc(x: f64) -> f64 {
    // From 2^52 on (and for infinities and NaN), every f64 is whole already.
    if x.abs() < 4_503_599_627_370_496.0 {
        (x as i64 as f64).copysign(x)
    } else {
        x
    }
}

/// Rounds down (`Math.floor`; `f64::floor` needs `std`).
fn floor(x: f64) -> f64 {
    let t = trunc(x);
    if x < t {
        t - 1.0
    } else {
        t
    }
}

/// `1234567` as `1,234,567` (English grouping).
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Sizes;
    use crate::explain::Check;
    use crate::ErrorCode;
    use serde_json::json;

    fn token(header: Value, payload: Value, warnings: &[&str]) -> Decoded {
        let Value::Object(header) = header else {
            unreachable!("a header is an object")
        };
        Decoded {
            header,
            payload,
            warnings: warnings.iter().map(|w| w.to_string()).collect(),
            sizes: Sizes {
                token: 0,
                header: 0,
                payload: 0,
                signature: 0,
            },
        }
    }

    #[test]
    fn inspect_text_lays_out_header_claims_times_and_warnings() {
        let now = 1_767_225_600.0; // 2026-01-01T00:00:00Z
        let d = token(
            json!({"alg": "ES256", "kid": "k1"}),
            json!({"sub": "alice", "exp": 1_767_232_800_i64, "iat": 1_767_225_510_i64, "nbf": "soon"}),
            &["the token has no aud"],
        );
        let expected = "NOT VERIFIED: decoding only; nothing here is proof of anything.

header:
{
  \"alg\": \"ES256\",
  \"kid\": \"k1\"
}

claims:
{
  \"exp\": 1767232800,
  \"iat\": 1767225510,
  \"nbf\": \"soon\",
  \"sub\": \"alice\"
}

times:
  iat       2025-12-31T23:58:30Z (1 minute ago)
  exp       2026-01-01T02:00:00Z (in 2 hours)

warnings:
  - the token has no aud";
        assert_eq!(decoded(&d, now, Format::Text), expected);
    }

    #[test]
    fn inspect_text_without_times_or_warnings_has_no_such_sections() {
        let d = token(json!({"alg": "none"}), json!([1, 2]), &[]);
        assert_eq!(
            decoded(&d, 0.0, Format::Text),
            "NOT VERIFIED: decoding only; nothing here is proof of anything.\n\nheader:\n{\n  \"alg\": \"none\"\n}\n\nclaims:\n[\n  1,\n  2\n]"
        );
    }

    #[test]
    fn inspect_json_has_header_payload_warnings_only() {
        let d = token(json!({"alg": "none"}), json!({"exp": 1}), &["expired"]);
        assert_eq!(
            decoded(&d, 0.0, Format::Json),
            "{\n  \"header\": {\n    \"alg\": \"none\"\n  },\n  \"payload\": {\n    \"exp\": 1\n  },\n  \"warnings\": [\n    \"expired\"\n  ]\n}"
        );
    }

    #[test]
    fn explanation_lists_checks_then_the_verdict() {
        let check = |check: &str, ok: bool, detail: &str| Check {
            check: check.into(),
            ok,
            detail: detail.into(),
        };
        let refused = Explanation {
            ok: false,
            error: Some(Error::new(
                ErrorCode::BadSignature,
                "the signature does not verify",
            )),
            provider: None,
            checks: vec![
                check("alg", true, "ES256 is allowed"),
                check(
                    "signature",
                    false,
                    "bad_signature: the signature does not verify",
                ),
            ],
        };
        assert_eq!(
            explanation(&refused, Format::Text),
            "ok    alg: ES256 is allowed\nFAIL  signature: bad_signature: the signature does not verify\nrefused: bad_signature: the signature does not verify"
        );
        assert_eq!(
            explanation(&refused, Format::Json),
            "{\n  \"ok\": false,\n  \"code\": \"bad_signature\",\n  \"message\": \"the signature does not verify\",\n  \"checks\": [\n    {\n      \"check\": \"alg\",\n      \"ok\": true,\n      \"detail\": \"ES256 is allowed\"\n    },\n    {\n      \"check\": \"signature\",\n      \"ok\": false,\n      \"detail\": \"bad_signature: the signature does not verify\"\n    }\n  ]\n}"
        );
        let accepted = Explanation {
            ok: true,
            error: None,
            provider: Some("main".into()),
            checks: vec![check("exp", true, "in 10 minutes")],
        };
        assert_eq!(
            explanation(&accepted, Format::Text),
            "ok    exp: in 10 minutes\naccepted (provider main)"
        );
    }

    #[test]
    fn relative_times_read_like_intl() {
        let t = 1_767_225_600.0; // 2026-01-01T00:00:00Z
        assert_eq!(
            human_time(t, t - 3.0 * 3600.0),
            "2026-01-01T00:00:00Z (in 3 hours)"
        );
        assert_eq!(
            human_time(t, t + 3600.0),
            "2026-01-01T00:00:00Z (1 hour ago)"
        );
        assert_eq!(human_time(t, t), "2026-01-01T00:00:00Z (in 0 seconds)");
        assert_eq!(
            human_time(t + 0.25, t + 0.5),
            "2026-01-01T00:00:00.250Z (0 seconds ago)"
        );
        assert_eq!(
            human_time(t, t - 2000.0 * 365.0 * 86_400.0),
            "2026-01-01T00:00:00Z (in 2,000 years)"
        );
        assert_eq!(
            human_time(t, t + 2.0 * 86_400.0 + 5.0),
            "2026-01-01T00:00:00Z (2 days ago)"
        );
        assert_eq!(
            human_time(-1.5, 0.0),
            "1969-12-31T23:59:58.500Z (1 second ago)"
        );
        assert_eq!(
            (trunc(-0.5), trunc(2.7), floor(-0.5), floor(2.7)),
            (-0.0, 2.0, -1.0, 2.0)
        );
        assert!(trunc(-0.5).is_sign_negative());
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(grouped(999), "999");
    }
}
