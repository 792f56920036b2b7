//! Claim checks (RFC 7519 §4.1) and authorization rules on verified claims.
//!
//! Time always comes from the caller (`now`, Unix seconds): the core owns no
//! clock. NumericDate claims may be integers or floats; anything else is an
//! `invalid_claim`.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use base64ct::Encoding as _;
use serde_json::{Map, Value};

use crate::error::{err, Error};
use crate::explain::{detail, Trace};
use crate::jws::printable;
use crate::policy::{ClaimRule, Provider};

/// The verified claims of a token.
pub type Claims = Map<String, Value>;

/// The path from the payload to one claim, resolved once when the policy
/// loads (`claim_rules[].claim`, `claim_to_headers[].claim`,
/// `required_claims[]`).
///
/// A policy writes it in one of two forms, and each has one meaning:
///
/// - a **string** is a dotted path of nested members: `"realm_access.roles"`
///   is the member `roles` of the object `realm_access` (as `claim_name` in
///   Envoy `jwt_authn`). It never names a top-level claim whose name contains
///   a dot.
/// - an **array of strings** lists the member names one by one, dots and all:
///   `["https://example.com/roles"]` is the top-level claim of that name,
///   `["resource_access", "orders.api", "roles"]` a nested one.
///
/// Refused at load (the message is prefixed with the field): an empty string
/// or array, an empty member name (`"a..b"`, `["a", ""]`), and a string that
/// has a dot and also `:` or `/` (`"https://example.com/roles"`), which reads
/// like one claim name with dots but would be split at every dot.
///
/// ```
/// use jwtgate::claims::{lookup, ClaimPath, Claims};
/// let claims: Claims = serde_json::from_str(
///     r#"{"realm_access.roles": ["spoof"], "realm_access": {"roles": ["admin"]},
///         "https://example.com/roles": ["ops"]}"#).unwrap();
/// let nested: ClaimPath = serde_json::from_str(r#""realm_access.roles""#).unwrap();
/// assert_eq!(lookup(&claims, &nested), Some(&serde_json::json!(["admin"])));
/// let named: ClaimPath = serde_json::from_str(r#"["https://example.com/roles"]"#).unwrap();
/// assert_eq!(lookup(&claims, &named), Some(&serde_json::json!(["ops"])));
/// assert!(serde_json::from_str::<ClaimPath>(r#""https://example.com/roles""#).is_err());
/// assert_eq!(nested.to_string(), r#""realm_access.roles""#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath {
    segments: Vec<String>,
    /// Written as a dotted string (shown that way in messages).
    dotted: bool,
}

impl ClaimPath {
    /// Reads a path from its policy form (a string or an array of strings);
    /// the error says what is wrong, without the field name.
    pub fn from_value(value: &Value) -> Result<ClaimPath, String> {
        match value {
            Value::String(text) => ClaimPath::dotted(text),
            Value::Array(items) => {
                let segments = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| match item {
                        Value::String(s) if !s.is_empty() => Ok(s.clone()),
                        Value::String(_) => Err(format!("member name {i} is empty")),
                        other => Err(format!(
                            "member name {i} must be a string, not {}",
                            crate::json::type_name(other)
                        )),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if segments.is_empty() {
                    return Err(String::from(
                        "an empty array names no claim (list the member names, e.g. [\"realm_access\", \"roles\"])",
                    ));
                }
                Ok(ClaimPath {
                    segments,
                    dotted: false,
                })
            }
            other => Err(format!(
                "a claim path is a string (\"realm_access.roles\") or an array of member names ([\"https://example.com/roles\"]), not {}",
                crate::json::type_name(other)
            )),
        }
    }

    /// Reads the dotted string form (`"realm_access.roles"`).
    pub fn dotted(text: &str) -> Result<ClaimPath, String> {
        if text.is_empty() {
            return Err(String::from("an empty string names no claim"));
        }
        let segments: Vec<String> = text.split('.').map(String::from).collect();
        if segments.iter().any(String::is_empty) {
            return Err(format!(
                "\"{}\" has an empty member name (a string is a dotted path such as \"realm_access.roles\")",
                printable(text)
            ));
        }
        if segments.len() > 1 && text.contains([':', '/']) {
            return Err(format!(
                "\"{}\" is ambiguous: a string is a dotted path of nested members, so this names {}; \
                 for one claim whose name contains dots write [{}]",
                printable(text),
                Value::from(segments.clone()),
                Value::from(text)
            ));
        }
        Ok(ClaimPath {
            segments,
            dotted: true,
        })
    }

    /// The member names, outermost first.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }
}

impl core::fmt::Display for ClaimPath {
    /// The path as the policy wrote it: `"realm_access.roles"` or
    /// `["https://example.com/roles"]`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.dotted {
            write!(f, "\"{}\"", printable(&self.segments.join(".")))
        } else {
            let parts: Vec<String> = self
                .segments
                .iter()
                .map(|s| format!("\"{}\"", printable(s)))
                .collect();
            write!(f, "[{}]", parts.join(", "))
        }
    }
}

impl<'de> serde::Deserialize<'de> for ClaimPath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ClaimPath, D::Error> {
        // Checked inside the deserializer's own call, so that serde_json's
        // error position (and with it a config error's field path) is this
        // value's, not the array's around it.
        d.deserialize_any(ClaimPathVisitor)
    }
}

/// Reads any JSON value and checks it as a claim path ([`ClaimPath::from_value`]).
struct ClaimPathVisitor;

impl ClaimPathVisitor {
    fn check<E: serde::de::Error>(value: Value) -> Result<ClaimPath, E> {
        ClaimPath::from_value(&value).map_err(E::custom)
    }
}

impl<'de> serde::de::Visitor<'de> for ClaimPathVisitor {
    type Value = ClaimPath;

    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("a claim path")
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<ClaimPath, E> {
        Self::check(Value::Bool(v))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ClaimPath, E> {
        Self::check(Value::from(v))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ClaimPath, E> {
        Self::check(Value::from(v))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<ClaimPath, E> {
        Self::check(Value::from(v))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ClaimPath, E> {
        Self::check(Value::from(v))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<ClaimPath, E> {
        Self::check(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<ClaimPath, A::Error> {
        use serde::Deserialize as _;
        Self::check(Value::deserialize(
            serde::de::value::SeqAccessDeserializer::new(seq),
        )?)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<ClaimPath, A::Error> {
        use serde::Deserialize as _;
        Self::check(Value::deserialize(
            serde::de::value::MapAccessDeserializer::new(map),
        )?)
    }
}

/// Looks up a claim by its path; `None` when any member on the way is absent
/// or not an object.
///
/// ```
/// use jwtgate::claims::{lookup, ClaimPath, Claims};
/// let claims: Claims = serde_json::from_str(r#"{"a":{"b":1},"x.y":2}"#).unwrap();
/// let path = |p: &str| ClaimPath::dotted(p).unwrap();
/// assert_eq!(lookup(&claims, &path("a.b")), Some(&serde_json::json!(1)));
/// assert_eq!(lookup(&claims, &path("x.y")), None); // "x.y" is x -> y, not the claim "x.y"
/// assert_eq!(lookup(&claims, &path("a.c")), None);
/// ```
pub fn lookup<'a>(claims: &'a Claims, path: &ClaimPath) -> Option<&'a Value> {
    let (first, rest) = path.segments.split_first()?;
    let mut current = claims.get(first)?;
    for member in rest {
        current = current.as_object()?.get(member)?;
    }
    Some(current)
}

/// A claim as a request header value, or `None` when it gives no header.
/// Modelled on Envoy `jwt_authn`'s `claim_to_headers`, so a header means the
/// same behind either:
///
/// - a string is copied as it is (its UTF-8 bytes; front ends whose header
///   API takes Latin-1 code units get it as [`byte_string`]);
/// - an integer (also written `1.0`) from 0 to 2^64 as its decimal digits,
///   any other number in its JSON form (`-1`, `1.5`, `1e21`);
/// - `true` / `false`;
/// - an array or an object as the standard, padded base64 (RFC 4648 §4) of
///   its compact JSON (members sorted by name), so `["a", "b,c"]` is
///   `WyJhIiwiYixjIl0=` and no element can look like two;
/// - no header for `null`, an empty string, a string with a control
///   character (C0, DEL or C1, tab included: no header injection, and Envoy
///   refuses the request for CR or LF) and a string with a leading or trailing
///   space, which an HTTP parser would strip (RFC 9110 §5.5), so the upstream
///   would read another value (`" admin"` as `admin`).
///
/// ```
/// use jwtgate::claims::header_value;
/// use serde_json::json;
/// assert_eq!(header_value(&json!("José")).as_deref(), Some("José"));
/// assert_eq!(header_value(&json!(7)).as_deref(), Some("7"));
/// assert_eq!(header_value(&json!(["a", "b,c"])).as_deref(), Some("WyJhIiwiYixjIl0="));
/// assert_eq!(header_value(&json!("a\r\nx-admin: 1")), None);
/// assert_eq!(header_value(&json!(" admin")), None);
/// ```
pub fn header_value(v: &Value) -> Option<String> {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => String::from(if *b { "true" } else { "false" }),
        Value::Number(n) => number_text(n),
        Value::Array(_) | Value::Object(_) => {
            let json = serde_json::to_string(v).ok()?;
            return Some(base64ct::Base64::encode_string(json.as_bytes()));
        }
        Value::Null => return None,
    };
    let usable = !text.is_empty()
        && !text.chars().any(char::is_control)
        && !text.starts_with(' ')
        && !text.ends_with(' ');
    usable.then_some(text)
}

/// A header value as a byte string: one character (U+0000 to U+00FF) per
/// UTF-8 byte, the form in which Node's `setHeader` and the Fetch `Headers`
/// API send exactly those bytes (as Envoy sends the UTF-8 text). ASCII is
/// unchanged.
///
/// ```
/// assert_eq!(jwtgate::claims::byte_string("José"), "Jos\u{c3}\u{a9}");
/// assert_eq!(jwtgate::claims::byte_string("alice"), "alice");
/// ```
pub fn byte_string(value: &str) -> String {
    value.bytes().map(char::from).collect()
}

/// The latest NumericDate accepted: 9999-12-31T23:59:59Z.
pub const MAX_NUMERIC_DATE: f64 = 253_402_300_799.0;

/// Reads a NumericDate claim: `None` when absent, an `invalid_claim` error
/// when it is not a number from 0 (1970-01-01T00:00:00Z) to
/// [`MAX_NUMERIC_DATE`] (9999-12-31T23:59:59Z). Negative, later, NaN and
/// infinite values never come from an honest issuer, and out of this range
/// arithmetic on seconds loses its meaning (`exp + skew` rounds away, an
/// `iat` in the year 30000 is "not in the future" for no reason anyone can
/// check).
///
/// ```
/// use jwtgate::claims::{numeric_date, Claims};
/// let c: Claims = serde_json::from_str(r#"{"exp":1700000000.5,"nbf":-1,"iat":1e12}"#).unwrap();
/// assert_eq!(numeric_date(&c, "exp").unwrap(), Some(1_700_000_000.5));
/// assert_eq!(numeric_date(&c, "nbf").unwrap_err().code().as_str(), "invalid_claim");
/// assert_eq!(numeric_date(&c, "iat").unwrap_err().code().as_str(), "invalid_claim");
/// assert_eq!(numeric_date(&c, "other").unwrap(), None);
/// ```
pub fn numeric_date(claims: &Claims, name: &str) -> Result<Option<f64>, Error> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(v) if (0.0..=MAX_NUMERIC_DATE).contains(&v) => Ok(Some(v)),
            _ => Err(err!(
                InvalidClaim,
                "{name} is {n}, outside the NumericDates jwtgate accepts \
                 (0 = 1970-01-01T00:00:00Z to 253402300799 = 9999-12-31T23:59:59Z)"
            )),
        },
        Some(other) => Err(err!(
            InvalidClaim,
            "{name} must be a NumericDate (a number of seconds), not {}",
            crate::json::type_name(other)
        )),
    }
}

/// Checks `exp`, `nbf`, `iat`, the lifetime and the age against `now`.
/// Returns the time until which this result stays valid (for caching).
pub(crate) fn check_times(
    claims: &Claims,
    p: &Provider,
    now: i64,
    trace: &mut Trace,
) -> Result<f64, Error> {
    let now_f = now as f64;
    let skew = f64::from(p.clock_skew_seconds);
    let exp = numeric_date(claims, "exp");
    let exp_check = exp.clone().and_then(|exp| match exp {
        None if p.require_exp => Err(err!(
            MissingClaim,
            "the token has no exp and the provider requires one"
        )),
        None => Ok(detail!(trace, "no exp (allowed by require_exp: false)")),
        Some(exp) if now_f >= exp + skew => Err(err!(
            Expired,
            "the token expired at {} ({} ago; clock skew {}s)",
            iso8601(exp),
            human_duration(now_f - exp),
            p.clock_skew_seconds
        )),
        Some(exp) => Ok(detail!(
            trace,
            "expires at {} (in {})",
            iso8601(exp),
            human_duration(exp - now_f)
        )),
    });
    trace.step("exp", exp_check, String::clone)?;
    let exp = exp?;
    if let Some(max) = p.max_remaining_lifetime_seconds {
        // jwt_authn's max_lifetime: allowed while exp - now < max; no skew.
        let remaining = match exp {
            Some(exp) if exp - now_f >= max as f64 => Err(err!(
                LifetimeTooLong,
                "the token stays valid for another {} (exp - now); the limit is {} \
                 (max_remaining_lifetime_seconds)",
                human_duration(exp - now_f),
                human_duration(max as f64)
            )),
            Some(exp) => Ok(detail!(
                trace,
                "valid for another {}, under {}",
                human_duration(exp - now_f),
                human_duration(max as f64)
            )),
            None => Err(err!(
                MissingClaim,
                "max_remaining_lifetime_seconds needs an exp claim"
            )),
        };
        trace.step("remaining lifetime", remaining, String::clone)?;
    }
    let mut valid_until = exp.map_or(f64::INFINITY, |exp| exp + skew);
    let nbf = numeric_date(claims, "nbf");
    let iat = numeric_date(claims, "iat");

    let nbf_result = match nbf? {
        Some(nbf) if now_f + skew < nbf => Err(err!(
            NotYetValid,
            "the token is not valid before {} (in {}; clock skew {}s)",
            iso8601(nbf),
            human_duration(nbf - now_f),
            p.clock_skew_seconds
        )),
        Some(nbf) => Ok(detail!(trace, "valid since {}", iso8601(nbf))),
        None => Ok(detail!(trace, "no nbf")),
    };
    trace.step("nbf", nbf_result, String::clone)?;

    let iat = iat?;
    let iat_result = match iat {
        Some(iat) if iat > now_f + skew => Err(err!(
            IssuedInFuture,
            "the token claims to be issued at {}, {} in the future",
            iso8601(iat),
            human_duration(iat - now_f)
        )),
        Some(iat) => Ok(detail!(trace, "issued at {}", iso8601(iat))),
        None if p.max_lifetime_seconds.is_some() || p.max_age_seconds.is_some() => Err(err!(
            MissingClaim,
            "the token has no iat, which max_lifetime_seconds / max_age_seconds need"
        )),
        None => Ok(detail!(trace, "no iat")),
    };
    trace.step("iat", iat_result, String::clone)?;

    if let (Some(max), Some(iat)) = (p.max_lifetime_seconds, iat) {
        let lifetime = match exp {
            Some(exp) if exp - iat > max as f64 => Err(err!(
                LifetimeTooLong,
                "the token lives {} (exp - iat); the limit is {}",
                human_duration(exp - iat),
                human_duration(max as f64)
            )),
            Some(exp) => Ok(detail!(
                trace,
                "lifetime {} within {}",
                human_duration(exp - iat),
                human_duration(max as f64)
            )),
            None => Err(err!(
                MissingClaim,
                "max_lifetime_seconds needs an exp claim"
            )),
        };
        trace.step("lifetime", lifetime, String::clone)?;
    }
    if let (Some(max), Some(iat)) = (p.max_age_seconds, iat) {
        let limit = iat + max as f64 + skew;
        let age = if now_f >= limit {
            Err(err!(
                TooOld,
                "the token was issued {} ago; the limit is {}",
                human_duration(now_f - iat),
                human_duration(max as f64)
            ))
        } else {
            valid_until = valid_until.min(limit);
            Ok(detail!(
                trace,
                "age {} within {}",
                human_duration(now_f - iat),
                human_duration(max as f64)
            ))
        };
        trace.step("age", age, String::clone)?;
    }
    Ok(valid_until)
}

/// The text by which a `jti` or `sub` is compared with the deny list: a
/// string as it is; a number as its decimal digits when it is an integer
/// (`123` and `123.0` are `"123"`), else its JSON form (`1.5`). Other JSON
/// types have none.
///
/// ```
/// use jwtgate::claims::identifier_text;
/// use serde_json::json;
/// assert_eq!(identifier_text(&json!("123")).as_deref(), Some("123"));
/// assert_eq!(identifier_text(&json!(123)).as_deref(), Some("123"));
/// assert_eq!(identifier_text(&json!(123.0)).as_deref(), Some("123"));
/// assert_eq!(identifier_text(&json!(true)), None);
/// ```
pub fn identifier_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(number_text(n)),
        _ => None,
    }
}

/// A number as text: integers (also written `1.0` or `-0.0`) as decimal
/// digits, everything else in its JSON form (`1.5`, `1e300`).
fn number_text(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        return format!("{n}");
    }
    match n.as_f64() {
        Some(f)
            if (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f)
                && (f as i64) as f64 == f =>
        {
            format!("{}", f as i64)
        }
        Some(f) if (0.0..18_446_744_073_709_551_616.0).contains(&f) && (f as u64) as f64 == f => {
            format!("{}", f as u64)
        }
        _ => format!("{n}"),
    }
}

/// Checks that `sub` and `jti` are strings and `aud` a string or an array of
/// strings, when present: always, whether or not a setting looks at them, so
/// an upstream or a later check never meets a claim of the wrong type.
fn check_types(claims: &Claims, trace: &mut Trace) -> Result<(), Error> {
    let mut result = Ok(());
    for name in ["sub", "jti"] {
        match claims.get(name) {
            None | Some(Value::String(_)) => {}
            Some(other) => {
                result = Err(err!(
                    InvalidClaim,
                    "{name} must be a string, not {}",
                    crate::json::type_name(other)
                ));
                break;
            }
        }
    }
    if result.is_ok() {
        result = match claims.get("aud") {
            None | Some(Value::String(_)) => Ok(()),
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => Ok(()),
            Some(Value::Array(_)) => Err(err!(InvalidClaim, "aud must hold only strings")),
            Some(other) => Err(err!(
                InvalidClaim,
                "aud must be a string or an array of strings, not {}",
                crate::json::type_name(other)
            )),
        };
    }
    trace.step("claim types", result, |()| {
        String::from("sub and jti are strings, aud a string or strings (where present)")
    })
}

/// Checks `iss`, `aud`, `sub` and the required claims against the provider.
pub(crate) fn check_identity(
    claims: &Claims,
    p: &Provider,
    trace: &mut Trace,
) -> Result<(), Error> {
    check_types(claims, trace)?;
    let iss = match claims.get("iss") {
        Some(Value::String(iss)) if p.issuer.iter().any(|i| i == iss) => {
            Ok(detail!(trace, "\"{}\"", printable(iss)))
        }
        Some(Value::String(iss)) => Err(err!(
            WrongIssuer,
            "iss \"{}\" is not one of the provider's issuers",
            printable(iss)
        )),
        None => Err(err!(WrongIssuer, "the token has no iss claim")),
        Some(other) => Err(err!(
            InvalidClaim,
            "iss must be a string, not {}",
            crate::json::type_name(other)
        )),
    };
    trace.step("iss", iss, String::clone)?;

    if !p.audiences.is_empty() {
        // The types were checked by check_types.
        let auds: Result<Vec<&str>, Error> = match claims.get("aud") {
            Some(Value::String(a)) => Ok(alloc::vec![a.as_str()]),
            Some(Value::Array(items)) => Ok(items.iter().filter_map(Value::as_str).collect()),
            _ => Err(err!(WrongAudience, "the token has no aud claim")),
        };
        let aud = auds.and_then(|auds| {
            match auds
                .iter()
                .find(|a| p.audiences.iter().any(|want| want == *a))
            {
                Some(a) => Ok(detail!(trace, "\"{}\" is accepted", printable(a))),
                None => Err(err!(
                    WrongAudience,
                    "aud [{}] has none of the provider's audiences",
                    auds.iter()
                        .map(|a| printable(a))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            }
        });
        trace.step("aud", aud, String::clone)?;
    }

    if !p.subjects.is_empty() {
        let sub = match claims.get("sub") {
            Some(Value::String(s)) if p.subjects.iter().any(|want| want == s) => {
                Ok(detail!(trace, "\"{}\"", printable(s)))
            }
            Some(Value::String(s)) => Err(err!(
                WrongSubject,
                "sub \"{}\" is not an allowed subject",
                printable(s)
            )),
            _ => Err(err!(WrongSubject, "the token has no sub claim")),
        };
        trace.step("sub", sub, String::clone)?;
    }

    for path in &p.required_claims {
        let present = match lookup(claims, path) {
            Some(_) => Ok(()),
            None => Err(err!(MissingClaim, "the required claim {path} is absent")),
        };
        trace.step("required claim", present, |()| format!("{path} is present"))?;
    }
    Ok(())
}

/// Checks authorization rules; a failure is `claim_rule_failed` (HTTP 403).
pub(crate) fn check_rules(
    claims: &Claims,
    rules: &[ClaimRule],
    trace: &mut Trace,
) -> Result<(), Error> {
    for rule in rules {
        let result = if rule_holds(claims, rule) {
            Ok(())
        } else {
            Err(err!(
                ClaimRuleFailed,
                "claim {} fails the rule: it must be that it {}",
                rule.claim,
                describe_rule(rule)
            ))
        };
        trace.step("claim rule", result, |()| {
            format!("{} {}", rule.claim, describe_rule(rule))
        })?;
    }
    Ok(())
}

fn rule_holds(claims: &Claims, rule: &ClaimRule) -> bool {
    let value = lookup(claims, &rule.claim);
    if let Some(want) = &rule.equals {
        value == Some(want)
    } else if let Some(options) = &rule.one_of {
        value.is_some_and(|v| options.contains(v))
    } else if let Some(want) = &rule.contains {
        match (value, want) {
            (Some(Value::Array(items)), _) => items.contains(want),
            (Some(Value::String(s)), Value::String(w)) => s.split(' ').any(|part| part == w),
            _ => false,
        }
    } else {
        value.is_some() == rule.exists.unwrap_or(true)
    }
}

/// What a rule asks, e.g. `contains "admin"`.
fn describe_rule(rule: &ClaimRule) -> String {
    if let Some(want) = &rule.equals {
        format!("equals {want}")
    } else if let Some(options) = &rule.one_of {
        format!("is one of {}", Value::Array(options.clone()))
    } else if let Some(want) = &rule.contains {
        format!("contains {want}")
    } else if rule.exists.unwrap_or(true) {
        String::from("exists")
    } else {
        String::from("is absent")
    }
}

/// Formats Unix seconds as an RFC 3339 UTC timestamp (whole seconds).
/// Times outside the years 0000-9999 are shown as plain seconds.
pub fn iso8601(t: f64) -> String {
    if !(-62_167_219_200.0..253_402_300_800.0).contains(&t) {
        // serde_json's number formatting (shortest round trip), already in
        // every build: core's `{:e}` for f64 alone adds ~11 KB to the module.
        return match serde_json::Number::from_f64(t) {
            Some(n) => format!("{n} seconds after 1970-01-01"),
            None => String::from("a time that is not a finite number"),
        };
    }
    // Floor without std's float functions (no_std).
    let secs = if (t as i64) as f64 > t {
        t as i64 - 1
    } else {
        t as i64
    };
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A rough human duration: "42s", "5m", "3h", "2d".
pub fn human_duration(seconds: f64) -> String {
    let s = (if seconds < 0.0 { -seconds } else { seconds } + 0.5) as u64;
    match s {
        0..=119 => format!("{s}s"),
        120..=7_199 => format!("{}m", s / 60),
        7_200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::policy::Policy;

    fn provider(extra: &str) -> Provider {
        let json = format!(r#"{{"providers":{{"p":{{"issuer":["a","b"],"jwks":{{}}{extra}}}}}}}"#);
        Policy::from_json(&json)
            .unwrap()
            .providers
            .remove("p")
            .unwrap()
    }

    fn claims(json: &str) -> Claims {
        serde_json::from_str(json).unwrap()
    }

    fn times(c: &str, p: &Provider, now: i64) -> Result<f64, Error> {
        check_times(&claims(c), p, now, &mut Trace::off())
    }

    #[test]
    fn exp_with_skew() {
        let p = provider("");
        assert_eq!(times(r#"{"exp":1000}"#, &p, 1059).unwrap(), 1060.0);
        let e = times(r#"{"exp":1000}"#, &p, 1060).unwrap_err();
        assert_eq!(e.code(), ErrorCode::Expired);
        assert!(e.message().contains("1970-01-01T00:16:40Z"), "{e}");
        assert_eq!(
            times(r#"{}"#, &p, 0).unwrap_err().code(),
            ErrorCode::MissingClaim
        );
        assert!(times(r#"{}"#, &provider(r#","require_exp":false"#), 0).is_ok());
        assert_eq!(
            times(r#"{"exp":"1000"}"#, &p, 0).unwrap_err().code(),
            ErrorCode::InvalidClaim
        );
        assert!(times(r#"{"exp":1000.5}"#, &p, 1000).is_ok());
    }

    #[test]
    fn nbf_iat_lifetime_age() {
        let p = provider("");
        assert_eq!(
            times(r#"{"exp":9999,"nbf":200}"#, &p, 139)
                .unwrap_err()
                .code(),
            ErrorCode::NotYetValid
        );
        assert!(times(r#"{"exp":9999,"nbf":200}"#, &p, 140).is_ok());
        assert_eq!(
            times(r#"{"exp":9999,"iat":200}"#, &p, 139)
                .unwrap_err()
                .code(),
            ErrorCode::IssuedInFuture
        );
        assert_eq!(
            times(r#"{"exp":9999,"nbf":null}"#, &p, 0)
                .unwrap_err()
                .code(),
            ErrorCode::InvalidClaim
        );
        let p = provider(r#","max_lifetime_seconds":100,"max_age_seconds":50"#);
        assert_eq!(
            times(r#"{"exp":1101,"iat":1000}"#, &p, 1000)
                .unwrap_err()
                .code(),
            ErrorCode::LifetimeTooLong
        );
        assert_eq!(
            times(r#"{"exp":1100}"#, &p, 1000).unwrap_err().code(),
            ErrorCode::MissingClaim
        );
        // Valid until the earlier of exp+skew (1160) and iat+max_age+skew (1110).
        assert_eq!(
            times(r#"{"exp":1100,"iat":1000}"#, &p, 1000).unwrap(),
            1110.0
        );
        assert_eq!(
            times(r#"{"exp":1100,"iat":1000}"#, &p, 1110)
                .unwrap_err()
                .code(),
            ErrorCode::TooOld
        );
    }

    fn identity(c: &str, p: &Provider) -> Result<(), Error> {
        check_identity(&claims(c), p, &mut Trace::off())
    }

    #[test]
    fn issuer_audience_subject_required() {
        let p =
            provider(r#","audiences":["api"],"subjects":["alice"],"required_claims":["email"]"#);
        let good = r#"{"iss":"b","aud":["x","api"],"sub":"alice","email":"a@x"}"#;
        assert!(identity(good, &p).is_ok());
        let code = |c: &str| identity(c, &p).unwrap_err().code();
        assert_eq!(
            code(&good.replace(r#""iss":"b""#, r#""iss":"c""#)),
            ErrorCode::WrongIssuer
        );
        assert_eq!(
            code(&good.replace(r#""iss":"b","#, "")),
            ErrorCode::WrongIssuer
        );
        assert_eq!(
            code(&good.replace(r#""iss":"b""#, r#""iss":1"#)),
            ErrorCode::InvalidClaim
        );
        assert_eq!(
            code(&good.replace(r#"["x","api"]"#, r#""x""#)),
            ErrorCode::WrongAudience
        );
        assert_eq!(
            code(&good.replace(r#"["x","api"]"#, r#"[1]"#)),
            ErrorCode::InvalidClaim
        );
        assert!(identity(&good.replace(r#"["x","api"]"#, r#""api""#), &p).is_ok());
        assert_eq!(code(&good.replace("alice", "bob")), ErrorCode::WrongSubject);
        assert_eq!(
            code(&good.replace(r#","email":"a@x""#, "")),
            ErrorCode::MissingClaim
        );
    }

    fn rule(json: &str) -> ClaimRule {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn claim_rules() {
        let c =
            claims(r#"{"groups":["dev","admin"],"scope":"read write","org":{"id":7},"v":true}"#);
        let ok = |r: &str| check_rules(&c, &[rule(r)], &mut Trace::off()).is_ok();
        assert!(ok(r#"{"claim":"groups","contains":"admin"}"#));
        assert!(!ok(r#"{"claim":"groups","contains":"root"}"#));
        assert!(ok(r#"{"claim":"scope","contains":"write"}"#));
        assert!(!ok(r#"{"claim":"scope","contains":"writ"}"#));
        assert!(ok(r#"{"claim":"org.id","equals":7}"#));
        assert!(!ok(r#"{"claim":"org.id","equals":"7"}"#));
        assert!(ok(r#"{"claim":"org.id","one_of":[6,7]}"#));
        assert!(ok(r#"{"claim":"v","exists":true}"#));
        assert!(ok(r#"{"claim":"w","exists":false}"#));
        assert!(!ok(r#"{"claim":"w","equals":null}"#));
        let e = check_rules(
            &c,
            &[rule(r#"{"claim":"groups","contains":"root"}"#)],
            &mut Trace::off(),
        )
        .unwrap_err();
        assert_eq!(e.code(), ErrorCode::ClaimRuleFailed);
        assert_eq!(
            e.message(),
            "claim \"groups\" fails the rule: it must be that it contains \"root\""
        );
    }

    #[test]
    fn time_formatting() {
        assert_eq!(iso8601(0.0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400.0), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(1_700_000_000.0), "2023-11-14T22:13:20Z");
        assert_eq!(iso8601(-1.0), "1969-12-31T23:59:59Z");
        assert_eq!(iso8601(1e300), "1e+300 seconds after 1970-01-01");
        assert_eq!(iso8601(253_402_300_799.0), "9999-12-31T23:59:59Z");
        assert_eq!(
            iso8601(253_402_300_800.0),
            "253402300800.0 seconds after 1970-01-01"
        );
        assert_eq!(iso8601(-1e20), "-1e+20 seconds after 1970-01-01");
        assert_eq!(iso8601(f64::NAN), "a time that is not a finite number");
        assert_eq!(human_duration(90.0), "90s");
        assert_eq!(human_duration(3600.0), "60m");
        assert_eq!(human_duration(86_400.0 * 3.0), "3d");
    }

    fn path(json: &str) -> Result<ClaimPath, String> {
        ClaimPath::from_value(&serde_json::from_str(json).unwrap())
    }

    #[test]
    fn claim_paths_have_one_meaning() {
        let c = claims(
            r#"{"realm_access.roles":["spoof"],"realm_access":{"roles":["admin"]},
                "https://example.com/roles":["ops"],"a":{"b.c":{"d":1}},"cognito:groups":["g"]}"#,
        );
        let get = |p: &str| lookup(&c, &path(p).unwrap()).cloned();
        // A string is nested members only: the dotted top-level claim never shadows it.
        assert_eq!(
            get(r#""realm_access.roles""#),
            Some(serde_json::json!(["admin"]))
        );
        assert_eq!(
            get(r#"["realm_access.roles"]"#),
            Some(serde_json::json!(["spoof"]))
        );
        assert_eq!(
            get(r#"["realm_access","roles"]"#),
            Some(serde_json::json!(["admin"]))
        );
        assert_eq!(
            get(r#"["https://example.com/roles"]"#),
            Some(serde_json::json!(["ops"]))
        );
        assert_eq!(get(r#"["a","b.c","d"]"#), Some(serde_json::json!(1)));
        assert_eq!(get(r#""a.b.c.d""#), None);
        assert_eq!(get(r#""cognito:groups""#), Some(serde_json::json!(["g"])));
        assert_eq!(get(r#""realm_access.roles.x""#), None);
        assert_eq!(
            format!("{}", path(r#"["a.b","c"]"#).unwrap()),
            r#"["a.b", "c"]"#
        );
        assert_eq!(path(r#""a.b""#).unwrap().segments(), ["a", "b"]);
    }

    #[test]
    fn ambiguous_or_empty_claim_paths_are_refused() {
        for (json, why) in [
            (r#""""#, "an empty string names no claim"),
            (r#"[]"#, "an empty array names no claim"),
            (r#""a..b""#, "has an empty member name"),
            (r#"".a""#, "has an empty member name"),
            (r#"["a",""]"#, "member name 1 is empty"),
            (r#"["a",1]"#, "member name 1 must be a string, not a number"),
            (r#"7"#, "a claim path is a string"),
            (
                r#""https://example.com/roles""#,
                r#"is ambiguous: a string is a dotted path of nested members, so this names ["https://example","com/roles"]; for one claim whose name contains dots write ["https://example.com/roles"]"#,
            ),
            (r#""urn:x.y""#, "is ambiguous"),
        ] {
            let e = path(json).unwrap_err();
            assert!(e.contains(why), "{json}: {e}");
        }
    }

    #[test]
    fn header_values_follow_jwt_authn() {
        use serde_json::json;
        let h = |v: Value| header_value(&v);
        // Measured on Envoy 1.40 jwt_authn claim_to_headers (tests/e2e/harness.py
        // setup, echo upstream): the bytes it sent for these claims.
        assert_eq!(h(json!("José €")).as_deref(), Some("José €"));
        assert_eq!(h(json!(7)).as_deref(), Some("7"));
        assert_eq!(h(json!(1.0)).as_deref(), Some("1"));
        assert_eq!(h(json!(-0.0)).as_deref(), Some("0"));
        assert_eq!(h(json!(true)).as_deref(), Some("true"));
        assert_eq!(h(json!(["a"])).as_deref(), Some("WyJhIl0="));
        assert_eq!(h(json!(["r1"])).as_deref(), Some("WyJyMSJd"));
        assert_eq!(h(json!([])).as_deref(), Some("W10="));
        assert_eq!(h(json!({})).as_deref(), Some("e30="));
        assert_eq!(
            h(json!(["a", "b,c", "é", 1, 1.5, true, null, {"k": "v"}])).as_deref(),
            Some("WyJhIiwiYixjIiwiw6kiLDEsMS41LHRydWUsbnVsbCx7ImsiOiJ2In1d")
        );
        // Members sorted by name (jwt_authn writes them in no stable order).
        assert_eq!(
            h(json!({"b": 1, "a": [true, null]})).as_deref(),
            Some(base64ct::Base64::encode_string(br#"{"a":[true,null],"b":1}"#).as_str())
        );
        // Where jwtgate differs on purpose: numbers jwt_authn prints with six
        // decimals ("-1.000000", "1.500000", "0.000000" for 1e-7).
        assert_eq!(h(json!(-1)).as_deref(), Some("-1"));
        assert_eq!(h(json!(1.5)).as_deref(), Some("1.5"));
        assert_eq!(h(json!(1e-7)).as_deref(), Some("1e-7"));
        assert_eq!(h(json!(u64::MAX)).as_deref(), Some("18446744073709551615"));
        // No header: null, empty, control characters (tab included), and
        // leading or trailing spaces an HTTP parser would strip.
        for v in [
            json!(null),
            json!(""),
            json!("a\nb"),
            json!("a\rb"),
            json!("a\u{0}b"),
            json!("a\tb"),
            json!("a\u{7f}"),
            json!("\u{85}"),
            json!(" admin"),
            json!("admin "),
        ] {
            assert_eq!(h(v.clone()), None, "{v}");
        }
        // Inside an array a control character is JSON-escaped, so it is safe.
        assert_eq!(h(json!(["a\nb"])).as_deref(), Some("WyJhXG5iIl0="));
    }

    #[test]
    fn byte_strings_carry_utf8_bytes() {
        assert_eq!(byte_string("é€"), "\u{c3}\u{a9}\u{e2}\u{82}\u{ac}");
        assert!(byte_string("José €").chars().all(|c| (c as u32) < 0x100));
    }

    #[test]
    fn numeric_dates_out_of_range_are_invalid() {
        let p = provider(r#","require_exp":false"#);
        for c in [
            r#"{"exp":-1}"#,
            r#"{"nbf":-0.5}"#,
            r#"{"iat":253402300800}"#,
            r#"{"exp":1e300}"#,
        ] {
            let e = times(c, &p, 1000).unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidClaim, "{c}");
            assert!(e.message().contains("9999-12-31T23:59:59Z"), "{e}");
        }
        assert!(times(r#"{"exp":253402300799,"nbf":0,"iat":0}"#, &p, 1000).is_ok());
    }

    #[test]
    fn remaining_lifetime_is_jwt_authns_max_lifetime() {
        let p = provider(r#","max_remaining_lifetime_seconds":100"#);
        // Allowed while exp - now < 100; iat plays no part, no clock skew.
        assert!(times(r#"{"exp":1099,"iat":0}"#, &p, 1000).is_ok());
        let e = times(r#"{"exp":1100}"#, &p, 1000).unwrap_err();
        assert_eq!(e.code(), ErrorCode::LifetimeTooLong);
        assert!(e.message().contains("(exp - now)"), "{e}");
        let p = provider(r#","max_remaining_lifetime_seconds":100,"require_exp":false"#);
        assert_eq!(
            times(r#"{}"#, &p, 1000).unwrap_err().code(),
            ErrorCode::MissingClaim
        );
    }

    #[test]
    fn registered_claim_types_are_always_checked() {
        let p = provider("");
        let code = |c: &str| identity(c, &p).map_err(|e| e.code());
        assert_eq!(
            code(r#"{"iss":"a","sub":"s","jti":"j","aud":["x"]}"#),
            Ok(())
        );
        for bad in [
            r#"{"iss":"a","sub":5}"#,
            r#"{"iss":"a","jti":5}"#,
            r#"{"iss":"a","jti":null}"#,
            r#"{"iss":"a","aud":5}"#,
            r#"{"iss":"a","aud":["x",1]}"#,
            r#"{"iss":5}"#,
        ] {
            assert_eq!(code(bad), Err(ErrorCode::InvalidClaim), "{bad}");
        }
    }

    #[test]
    fn identifiers_compare_as_text() {
        use serde_json::json;
        assert_eq!(identifier_text(&json!(123)).as_deref(), Some("123"));
        assert_eq!(identifier_text(&json!(-5)).as_deref(), Some("-5"));
        assert_eq!(identifier_text(&json!(123.0)).as_deref(), Some("123"));
        assert_eq!(identifier_text(&json!(1.5)).as_deref(), Some("1.5"));
        assert_eq!(identifier_text(&json!("123")).as_deref(), Some("123"));
        for v in [json!(null), json!(true), json!([1]), json!({})] {
            assert_eq!(identifier_text(&v), None);
        }
    }
}
