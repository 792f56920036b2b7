//! Claim checks (RFC 7519 §4.1) and authorization rules on verified claims.
//!
//! Time always comes from the caller (`now`, Unix seconds): the core owns no
//! clock. NumericDate claims may be integers or floats; anything else is an
//! `invalid_claim`.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use serde_json::{Map, Value};

use crate::error::{err, Error};
use crate::explain::{detail, Trace};
use crate::jws::printable;
use crate::policy::{ClaimRule, Provider};

/// The verified claims of a token.
pub type Claims = Map<String, Value>;

/// Looks up a claim by dotted path (`"realm_access.roles"`). A top-level
/// claim whose name contains dots (`"https://example.com/roles"`) is found
/// by its full name first.
///
/// ```
/// let claims: jwtgate::claims::Claims =
///     serde_json::from_str(r#"{"a":{"b":1},"x.y":2}"#).unwrap();
/// assert_eq!(jwtgate::claims::lookup(&claims, "a.b"), Some(&serde_json::json!(1)));
/// assert_eq!(jwtgate::claims::lookup(&claims, "x.y"), Some(&serde_json::json!(2)));
/// assert_eq!(jwtgate::claims::lookup(&claims, "a.c"), None);
/// ```
pub fn lookup<'a>(claims: &'a Claims, path: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(path) {
        return Some(v);
    }
    let mut parts = path.split('.');
    let mut current = claims.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

/// Reads a NumericDate claim: `None` when absent, an error when not a number.
pub fn numeric_date(claims: &Claims, name: &str) -> Result<Option<f64>, Error> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(v) if v.is_finite() => Ok(Some(v)),
            _ => Err(err!(InvalidClaim, "{name} is not a usable NumericDate")),
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

/// Checks `iss`, `aud`, `sub` and the required claims against the provider.
pub(crate) fn check_identity(
    claims: &Claims,
    p: &Provider,
    trace: &mut Trace,
) -> Result<(), Error> {
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
        let auds: Result<Vec<&str>, Error> = match claims.get("aud") {
            None => Err(err!(WrongAudience, "the token has no aud claim")),
            Some(Value::String(a)) => Ok(alloc::vec![a.as_str()]),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .ok_or_else(|| err!(InvalidClaim, "aud must hold only strings"))
                })
                .collect(),
            Some(other) => Err(err!(
                InvalidClaim,
                "aud must be a string or an array of strings, not {}",
                crate::json::type_name(other)
            )),
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
            None => Err(err!(WrongSubject, "the token has no sub claim")),
            Some(other) => Err(err!(
                InvalidClaim,
                "sub must be a string, not {}",
                crate::json::type_name(other)
            )),
        };
        trace.step("sub", sub, String::clone)?;
    }

    for name in &p.required_claims {
        let present = match lookup(claims, name) {
            Some(_) => Ok(()),
            None => Err(err!(
                MissingClaim,
                "the required claim \"{name}\" is absent"
            )),
        };
        trace.step("required claim", present, |()| {
            format!("\"{name}\" is present")
        })?;
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
                "claim \"{}\" fails the rule: it must be that it {}",
                rule.claim,
                describe_rule(rule)
            ))
        };
        trace.step("claim rule", result, |()| {
            format!("\"{}\" {}", rule.claim, describe_rule(rule))
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
        return format!("{t:e} seconds after 1970-01-01");
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
        assert_eq!(iso8601(1e300), "1e300 seconds after 1970-01-01");
        assert_eq!(human_duration(90.0), "90s");
        assert_eq!(human_duration(3600.0), "60m");
        assert_eq!(human_duration(86_400.0 * 3.0), "3d");
    }
}
