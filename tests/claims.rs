//! Claims and keys through the public API, with tokens minted by PyJWT
//! (`tests/fixtures/tokens/gen_tokens.py`): claim headers, the remaining
//! lifetime (jwt_authn's `max_lifetime`), the bound on keys tried without a
//! naming `kid`, exact audiences and claim paths. Expectations are written
//! from docs/POLICY.md and the measured jwt_authn behaviour they cite, never
//! from jwtgate's own output.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use jwtgate::http::{Decision, Request};
use jwtgate::verify::VerifyOptions;
use jwtgate::{ErrorCode, Verifier};
use serde_json::{json, Value};

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tokens")
        .join(name);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn policy() -> Value {
    serde_json::from_str(&fixture("policy.json")).unwrap()
}

fn case(name: &str) -> Value {
    let all: Value = serde_json::from_str(&fixture("cases.json")).unwrap();
    all["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no case named {name:?}"))
        .clone()
}

/// The verdict for a case's token under `policy`, at the case's time plus `later`.
fn verdict(policy: &Value, case: &Value, later: i64) -> Result<(), ErrorCode> {
    let v = Verifier::from_json(&policy.to_string()).expect("the policy loads");
    let options = VerifyOptions {
        now: case["now"].as_i64().unwrap() + later,
        path: case["path"].as_str(),
    };
    v.verify(case["token"].as_str().unwrap(), &options)
        .map(|_| ())
        .map_err(|e| e.code())
}

#[test]
fn claim_headers_are_encoded_as_documented() {
    let v = Verifier::from_json(&fixture("policy.json")).unwrap();
    let c = case("claim headers");
    let headers = vec![(
        "authorization".to_string(),
        format!("Bearer {}", c["token"].as_str().unwrap()),
    )];
    let request = Request {
        method: "GET",
        path: c["path"].as_str().unwrap(),
        headers: &headers,
        case_insensitive: false,
    };
    let Decision::Allow(allow) = v.authorize(&request, c["now"].as_i64().unwrap(), None) else {
        panic!("the claim headers token must be allowed")
    };
    let claim_headers: Vec<String> = policy()["providers"]["headers"]["claim_to_headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["header"].as_str().unwrap().to_string())
        .collect();
    let got: BTreeMap<&str, &str> = allow
        .set_headers
        .iter()
        .filter(|(name, _)| claim_headers.contains(name))
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let want: BTreeMap<&str, &str> = c["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str().unwrap()))
        .collect();
    // Exactly these: no header for " admin" (leading space), "a\r\nx-admin: 1"
    // (control characters) or null; every claim header is removed first.
    assert_eq!(got, want);
    for name in &claim_headers {
        assert!(allow.remove_headers.contains(name), "{name} is not removed");
    }
    // The nested path read realm_access -> roles, not the claim "realm_access.roles".
    assert_eq!(
        want["x-realm-roles"], "WyJyMSJd",
        "base64 of [\"r1\"], as jwt_authn 1.40 sent it"
    );
}

#[test]
fn remaining_lifetime_is_jwt_authns_max_lifetime() {
    // "valid RS256": iat = now - 10, exp = now + 600. jwt_authn allows a token
    // while exp - now < max_lifetime (jwks_cache.cc, isLifetimeAllowed).
    let c = case("valid RS256");
    let mut p = policy();
    p["providers"]["idp"]["max_remaining_lifetime_seconds"] = json!(600);
    assert_eq!(verdict(&p, &c, 0), Err(ErrorCode::LifetimeTooLong));
    assert_eq!(verdict(&p, &c, 1), Ok(()));
    p["providers"]["idp"]["max_remaining_lifetime_seconds"] = json!(601);
    assert_eq!(verdict(&p, &c, 0), Ok(()));
    // max_lifetime_seconds is the whole lifetime, exp - iat = 610.
    p["providers"]["idp"]["max_lifetime_seconds"] = json!(609);
    assert_eq!(verdict(&p, &c, 0), Err(ErrorCode::LifetimeTooLong));
    // The remaining lifetime needs no iat, but it needs exp.
    let no_iat = case("exp at 9999-12-31T23:59:59Z is accepted");
    let mut p = policy();
    p["providers"]["hmac"]["max_remaining_lifetime_seconds"] = json!(86400);
    assert_eq!(verdict(&p, &no_iat, 0), Err(ErrorCode::LifetimeTooLong));
    p["providers"]["hmac"]["max_remaining_lifetime_seconds"] = json!(300_000_000_000u64);
    assert_eq!(verdict(&p, &no_iat, 0), Ok(()));
    p["providers"]["hmac"]["max_lifetime_seconds"] = json!(300_000_000_000u64);
    assert_eq!(verdict(&p, &no_iat, 0), Err(ErrorCode::MissingClaim));
}

#[test]
fn keys_tried_without_a_naming_kid_are_a_policy_limit() {
    let many = case("no kid and 5 candidate keys (limit 4)");
    let kidless = case("no kid, signed by one of two keys without kid");
    let unknown_kid = case("kid no key has, signed by a key without kid");
    assert_eq!(verdict(&policy(), &many, 0), Err(ErrorCode::TooManyKeys));
    let mut p = policy();
    p["limits"] = json!({"max_keys_without_kid": 5});
    assert_eq!(verdict(&p, &many, 0), Ok(()));
    // 0: every token needs a kid that names its key.
    p["limits"] = json!({"max_keys_without_kid": 0});
    assert_eq!(verdict(&p, &kidless, 0), Err(ErrorCode::TooManyKeys));
    assert_eq!(verdict(&p, &unknown_kid, 0), Err(ErrorCode::TooManyKeys));
    assert_eq!(verdict(&p, &case("valid ES256"), 0), Ok(()));
    // The refusal says why and which limit, and no signature was checked.
    let v = Verifier::from_json(&policy().to_string()).unwrap();
    let options = VerifyOptions {
        now: many["now"].as_i64().unwrap(),
        path: Some("/many"),
    };
    let report = v.explain(many["token"].as_str().unwrap(), &options);
    let e = report.error.as_ref().unwrap();
    assert_eq!(
        e.message(),
        "the token has no kid and 5 keys could verify ES256; at most 4 are tried for a token \
         whose kid does not name its key (limits.max_keys_without_kid)"
    );
    assert!(report.checks.iter().all(|c| c.check != "signature"));
}

#[test]
fn audiences_are_compared_exactly() {
    // jwt_authn strips "http(s)://" and one trailing slash before comparing
    // (check_audience.cc); RFC 7519 §2 compares StringOrURI values as they are.
    let c = case("valid RS256"); // aud "orders-api"
    for configured in ["https://orders-api", "orders-api/", "https://orders-api/"] {
        let mut p = policy();
        p["providers"]["idp"]["audiences"] = json!([configured]);
        assert_eq!(
            verdict(&p, &c, 0),
            Err(ErrorCode::WrongAudience),
            "{configured}"
        );
    }
    let mut p = policy();
    p["providers"]["idp"]["audiences"] = json!(["orders-api", "https://orders-api/"]);
    assert_eq!(verdict(&p, &c, 0), Ok(()));
}

#[test]
fn deny_entries_match_whatever_json_type_they_are_written_in() {
    // "revoked jti" carries jti "revoked-jti"; "jti string matching a numeric
    // deny entry" jti "4711"; "valid RS256" sub "alice".
    let mut p = policy();
    p["deny"] = json!({"jti": [4711.0], "sub": []});
    let c = case("jti string matching a numeric deny entry");
    assert_eq!(verdict(&p, &c, 0), Err(ErrorCode::Revoked));
    p["deny"] = json!({"jti": ["4711"]});
    assert_eq!(verdict(&p, &c, 0), Err(ErrorCode::Revoked));
    p["deny"] = json!({"jti": [4712]});
    assert_eq!(verdict(&p, &c, 0), Ok(()));
    // A numeric jti is refused whether or not the list holds it.
    let numeric = case("jti is a number");
    p["deny"] = json!({"jti": [17]});
    assert_eq!(verdict(&p, &numeric, 0), Err(ErrorCode::InvalidClaim));
    p["deny"] = json!({});
    assert_eq!(verdict(&p, &numeric, 0), Err(ErrorCode::InvalidClaim));
}

#[test]
fn claim_paths_name_one_claim() {
    let shadow = case("a dotted top-level claim does not shadow the nested one");
    assert_eq!(
        verdict(&policy(), &shadow, 0),
        Err(ErrorCode::ClaimRuleFailed)
    );
    // The same rule written as one member name reads the top-level claim.
    let mut p = policy();
    let rule = p["rules"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|r| r["prefix"] == "/realm")
        .unwrap();
    rule["claim_rules"] = json!([{"claim": ["realm_access.roles"], "contains": "admin"}]);
    assert_eq!(verdict(&p, &shadow, 0), Ok(()));
    // required_claims takes the same forms (on "/", which has no claim rule).
    let mut shadow = shadow;
    shadow["path"] = json!("/");
    let mut p = policy();
    p["providers"]["idp"]["required_claims"] =
        json!([["realm_access.roles"], "realm_access.roles"]);
    assert_eq!(verdict(&p, &shadow, 0), Ok(()));
    let mut alone = case("a dotted top-level claim alone does not meet the nested rule");
    alone["path"] = json!("/");
    assert_eq!(verdict(&p, &alone, 0), Err(ErrorCode::MissingClaim));
    // An ambiguous path is refused at load, with the field named.
    let mut p = policy();
    p["providers"]["idp"]["claim_to_headers"] =
        json!([{"claim": "https://example.com/roles", "header": "x-roles"}]);
    let e = Verifier::from_json(&p.to_string()).unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidConfig);
    assert!(
        e.message().starts_with(
            "providers.idp.claim_to_headers[0].claim: \"https://example.com/roles\" is ambiguous"
        ),
        "{e}"
    );
}
