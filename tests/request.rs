//! Request-level security: the canonical path, rule matching, and one way
//! to read a request's tokens. Tokens are minted by PyJWT
//! (`tests/fixtures/tokens/cases.json`); every expectation is written from
//! the policy and RFC 3986, not from jwtgate's answers.

use std::fs;
use std::path::Path;

use jwtgate::http::{Decision, Request};
use jwtgate::path::RequestTarget;
use jwtgate::Verifier;
use proptest::prelude::*;
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

/// The PyJWT-minted token of a case, and its `now`.
fn token(name: &str) -> (String, i64) {
    let all: Value = serde_json::from_str(&fixture("cases.json")).unwrap();
    let c = all["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no case {name}"));
    (
        c["token"].as_str().unwrap().to_string(),
        c["now"].as_i64().unwrap(),
    )
}

/// A valid idp token without the admin group, and one with it.
fn user() -> (String, i64) {
    token("valid RS256")
}
fn admin() -> (String, i64) {
    token("claim rule met")
}
fn other_issuer() -> (String, i64) {
    token("valid token of the other issuer on a path that accepts both")
}

fn headers(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn bearer(token: &str) -> Vec<(String, String)> {
    headers(&[("authorization", &format!("Bearer {token}"))])
}

fn decide(v: &Verifier, method: &str, path: &str, h: &[(String, String)], now: i64) -> Decision {
    let request = Request {
        method,
        path,
        headers: h,
        case_insensitive: false,
    };
    v.authorize(&request, now, None)
}

/// `(status, code or reason, forwarded target)`: 200 with the reason and the
/// target the upstream receives, or the denial's status and code.
fn outcome(d: &Decision, raw: &str) -> (u16, String, Option<String>) {
    match d {
        Decision::Allow(a) => (
            200,
            a.reason.to_string(),
            Some(a.set_path.clone().unwrap_or_else(|| raw.to_string())),
        ),
        Decision::Deny(d) => (d.status, d.error.code().as_str().to_string(), None),
    }
}

fn get(
    v: &Verifier,
    path: &str,
    h: &[(String, String)],
    now: i64,
) -> (u16, String, Option<String>) {
    outcome(&decide(v, "GET", path, h, now), path)
}

/// The reviewer's walk-arounds: a token without the admin group must never
/// reach `/admin/users` (403), whatever the spelling; a spelling that cannot
/// be read one way is refused (400); no token is 401, never `no_rule`.
#[test]
fn spellings_of_a_guarded_path_meet_its_rule() {
    let v = Verifier::from_json(&fixture("policy.json")).unwrap();
    let (user, now) = user();
    let (admin, _) = admin();
    for path in [
        "/admin/users",
        "/orders/../admin/users",
        "/x/%2e%2e/admin/users",
        "/./admin/users",
        "/%61dmin/users",
        "//admin/users",
        "/admin//users",
        "/admin;jsessionid=1/users",
        "http://x/admin/users",
        "https://x:8443/admin/users",
    ] {
        assert_eq!(get(&v, path, &bearer(&user), now).0, 403, "{path}");
        assert_eq!(get(&v, path, &[], now).0, 401, "{path} without a token");
        let (status, reason, forwarded) = get(&v, path, &bearer(&admin), now);
        assert_eq!((status, reason.as_str()), (200, "verified"), "{path}");
        let want = if path.contains(';') {
            "/admin;jsessionid=1/users"
        } else {
            "/admin/users"
        };
        assert_eq!(
            forwarded.as_deref(),
            Some(want),
            "{path}: what the upstream gets"
        );
    }
    for path in [
        "/x%2F..%2Fadmin/users",
        "/x%5C..%5Cadmin/users",
        "/x\\..\\admin/users",
        "/x/..;/admin/users",
        "/x/%252e%252e/admin/users",
        "/admin./users",
        "/admin%00/users",
        "*",
        "",
        "admin/users",
    ] {
        let (status, code, _) = get(&v, path, &bearer(&admin), now);
        assert_eq!((status, code.as_str()), (400, "invalid_path"), "{path:?}");
    }
}

#[test]
fn invalid_paths_get_400_without_a_bearer_challenge() {
    let v = Verifier::from_json(&fixture("policy.json")).unwrap();
    let Decision::Deny(d) = decide(&v, "GET", "/a%2fb", &[], 0) else {
        panic!("must be refused")
    };
    assert_eq!(d.status, 400);
    assert!(d.headers.iter().all(|(k, _)| k != "www-authenticate"));
    let body: Value = serde_json::from_str(&d.body).unwrap();
    assert_eq!(body["error"], "invalid_path");
    assert!(body["message"].as_str().unwrap().contains("%2F"));
}

/// A policy without a catch-all: `/admin` exact and `/api` prefix. Every
/// spelling of those paths meets them.
#[test]
fn a_policy_without_catch_all_still_guards_every_spelling() {
    let mut p = policy();
    p["rules"] = json!([
        {"path": "/admin", "requires": "idp", "claim_rules": [{"claim": "groups", "contains": "admin"}]},
        {"path_separated_prefix": "/api", "requires": "idp"}
    ]);
    let v = Verifier::from_json(&p.to_string()).unwrap();
    let (user, now) = user();
    for path in ["/admin", "/admin/", "/x/../admin", "/%61dmin", "//admin"] {
        assert_eq!(get(&v, path, &bearer(&user), now).0, 403, "{path}");
    }
    for path in [
        "/api",
        "/api/",
        "/api/x",
        "//api/x",
        "/%61pi/x",
        "/x/../api/x",
    ] {
        assert_eq!(get(&v, path, &[], now).1, "missing", "{path}");
    }
    assert_eq!(get(&v, "/admin.", &[], now).0, 400);
    // Segment-aware: /apix is another resource.
    assert_eq!(get(&v, "/apix", &[], now).1, "no_rule");
    // Case-sensitive by default: /Admin is another resource for Envoy.
    assert_eq!(get(&v, "/Admin", &[], now).1, "no_rule");

    p["paths"] = json!({"case_sensitive": false});
    let v = Verifier::from_json(&p.to_string()).unwrap();
    for path in ["/Admin", "/ADMIN/", "/%41dmin"] {
        assert_eq!(get(&v, path, &bearer(&user), now).0, 403, "{path}");
    }
    assert_eq!(get(&v, "/API/x", &[], now).1, "missing");
}

/// The middleware of an application that routes without case (Express)
/// asks for case-insensitive matching per request.
#[test]
fn case_insensitive_routing_per_request() {
    let v = Verifier::from_json(&fixture("policy.json")).unwrap();
    let (user, now) = user();
    let h = bearer(&user);
    let express = Request {
        method: "GET",
        path: "/ADMIN/users",
        headers: &h,
        case_insensitive: true,
    };
    assert_eq!(outcome(&v.authorize(&express, now, None), "").0, 403);
    // The same request to a case-sensitive upstream is a /-rule request.
    assert_eq!(get(&v, "/ADMIN/users", &h, now).0, 200);
}

#[test]
fn merge_slashes_off_refuses_empty_segments() {
    let mut p = policy();
    p["paths"] = json!({"merge_slashes": false});
    let v = Verifier::from_json(&p.to_string()).unwrap();
    let (admin, now) = admin();
    assert_eq!(
        get(&v, "//admin/users", &bearer(&admin), now).1,
        "invalid_path"
    );
    assert_eq!(get(&v, "/admin/users/", &bearer(&admin), now).0, 200);
}

#[test]
fn rule_precedence_methods_and_prefix_kinds() {
    let mut p = policy();
    p["rules"] = json!([
        {"prefix": "/", "bypass": true},
        {"path_separated_prefix": "/orders", "requires": "idp", "methods": ["POST", "delete"]},
        {"path_separated_prefix": "/orders", "requires": "idp", "methods": ["GET"],
         "claim_rules": [{"claim": "groups", "contains": "admin"}]},
        {"path": "/orders/public", "bypass": true},
        {"prefix": "/orders/public/more", "requires": "idp"}
    ]);
    let v = Verifier::from_json(&p.to_string()).unwrap();
    let (user, now) = user();
    let h = bearer(&user);
    let m = |method: &str, path: &str| outcome(&decide(&v, method, path, &h, now), path).0;
    assert_eq!(m("GET", "/orders/1"), 403, "GET rule with claim rules");
    assert_eq!(m("HEAD", "/orders/1"), 403, "GET covers HEAD");
    assert_eq!(m("get", "/orders/1"), 403, "methods compare without case");
    assert_eq!(m("POST", "/orders/1"), 200);
    assert_eq!(m("DELETE", "/orders"), 200);
    assert_eq!(m("PUT", "/orders/1"), 200, "no rule for PUT but the bypass");
    assert_eq!(
        outcome(&decide(&v, "PUT", "/orders/1", &[], now), "").1,
        "bypass"
    );
    assert_eq!(
        outcome(&decide(&v, "POST", "/orders/1", &[], now), "").1,
        "missing"
    );
    // Exact first, then the longest prefix.
    assert_eq!(
        outcome(&decide(&v, "GET", "/orders/public", &[], now), "").1,
        "bypass"
    );
    assert_eq!(
        outcome(&decide(&v, "GET", "/orders/public/", &[], now), "").1,
        "bypass"
    );
    assert_eq!(
        outcome(&decide(&v, "GET", "/orders/public/more/x", &[], now), "").1,
        "missing"
    );
}

#[test]
fn policy_paths_must_be_canonical() {
    for (rule, field) in [
        (
            json!({"prefix": "/a/../b", "bypass": true}),
            "rules[0].prefix",
        ),
        (json!({"path": "/%61", "bypass": true}), "rules[0].path"),
        (json!({"path": "/a;b", "bypass": true}), "rules[0].path"),
        (
            json!({"path_separated_prefix": "/a/", "bypass": true}),
            "rules[0].path_separated_prefix",
        ),
        (
            json!({"prefix": "/a", "methods": [], "bypass": true}),
            "rules[0].methods",
        ),
    ] {
        let mut p = policy();
        p["rules"] = json!([rule]);
        let e = Verifier::from_json(&p.to_string()).unwrap_err();
        assert_eq!(e.code().as_str(), "invalid_config");
        assert!(e.message().starts_with(field), "{e}");
    }
}

/// Two providers with their own locations: a token is only checked by the
/// providers that read it where it was found.
#[test]
fn each_provider_reads_its_own_locations() {
    let mut p = policy();
    p["providers"]["idp"]["from_cookies"] = json!(["session"]);
    p["providers"]["other"]["from_headers"] =
        json!([{"name": "authorization", "value_prefix": "Bearer "}]);
    p["rules"] = json!([{"prefix": "/", "requires": ["idp", "other"]}]);
    let v = Verifier::from_json(&p.to_string()).unwrap();
    let (idp_token, now) = user();
    let (other_token, _) = other_issuer();
    let cookie = |t: &str| headers(&[("cookie", &format!("a=1; session={t}"))]);
    assert_eq!(get(&v, "/x", &cookie(&idp_token), now).1, "verified");
    assert_eq!(get(&v, "/x", &bearer(&other_token), now).1, "verified");
    // idp's token in other's header: only `other` may check it, and its keys
    // did not sign it; other's token in idp's cookie likewise.
    assert_eq!(get(&v, "/x", &bearer(&idp_token), now).0, 401);
    assert_eq!(get(&v, "/x", &cookie(&other_token), now).0, 401);
}

#[test]
fn repeated_and_competing_tokens_are_refused() {
    let v = Verifier::from_json(&fixture("policy.json")).unwrap();
    let (t, now) = user();
    let (a, _) = admin();
    let two_headers = headers(&[
        ("authorization", &format!("Bearer {t}")),
        ("Authorization", &format!("Bearer {t}")),
    ]);
    // Envoy joins repeated headers with commas; Node hands them separately.
    let joined = headers(&[("authorization", &format!("Bearer {t},Bearer {t}"))]);
    assert_eq!(get(&v, "/orders", &two_headers, now).1, "malformed");
    assert_eq!(get(&v, "/orders", &joined, now).1, "malformed");
    // A Basic header first: the joined value is not a Bearer value at all.
    let basic_first = headers(&[
        ("authorization", "Basic YTpi"),
        ("authorization", &format!("Bearer {t}")),
    ]);
    assert_eq!(get(&v, "/orders", &basic_first, now).1, "missing");
    // Two different tokens: refused, whatever their validity.
    let path = format!("/orders?access_token={a}");
    assert_eq!(get(&v, &path, &bearer(&t), now).1, "malformed");
    let path = format!("/orders?access_token={a}&access_token={t}");
    assert_eq!(get(&v, &path, &[], now).1, "malformed");
    // The same token twice is one token.
    let path = format!("/orders?access_token={t}");
    assert_eq!(get(&v, &path, &bearer(&t), now).1, "verified");
}

/// With `forward: false` (the default), no copy of the token reaches the upstream.
#[test]
fn every_copy_of_the_token_is_removed() {
    let mut p = policy();
    p["providers"]["idp"]["from_headers"] =
        json!([{"name": "authorization", "value_prefix": "Bearer "}]);
    p["providers"]["idp"]["from_params"] = json!(["access_token"]);
    p["providers"]["idp"]["from_cookies"] = json!(["jwt"]);
    let v = Verifier::from_json(&p.to_string()).unwrap();
    let (t, now) = user();
    let mut h = bearer(&t);
    h.push(("cookie".into(), format!("a=1; jwt={t}; b=2")));
    let path = format!("/orders?x=1&access_token={t}&access%5Ftoken={t}&y=2&access_token={t}");
    let Decision::Allow(a) = decide(&v, "GET", &path, &h, now) else {
        panic!("a valid token must pass")
    };
    assert_eq!(a.set_path.as_deref(), Some("/orders?x=1&y=2"));
    assert!(a.remove_headers.contains(&"authorization".to_string()));
    assert!(a
        .set_headers
        .contains(&("cookie".to_string(), "a=1; b=2".to_string())));
    // With forward: true nothing is removed, and the path is left alone.
    p["providers"]["idp"]["forward"] = json!(true);
    let v = Verifier::from_json(&p.to_string()).unwrap();
    let Decision::Allow(a) = decide(&v, "GET", &path, &h, now) else {
        panic!("a valid token must pass")
    };
    assert_eq!(a.set_path, None);
    assert!(!a.remove_headers.contains(&"authorization".to_string()));
}

/// `forward_payload_header` carries the payload segment as it was signed.
#[test]
fn payload_header_is_the_signed_segment() {
    let mut p = policy();
    p["providers"]["idp"]["forward_payload_header"] = json!("x-jwt-payload");
    let v = Verifier::from_json(&p.to_string()).unwrap();
    let (t, now) = user();
    let Decision::Allow(a) = decide(&v, "GET", "/orders", &bearer(&t), now) else {
        panic!("a valid token must pass")
    };
    let segment = t.split('.').nth(1).unwrap();
    assert!(a
        .set_headers
        .contains(&("x-jwt-payload".to_string(), segment.to_string())));
}

/// The pieces random paths are made of: separators, dot segments in every
/// spelling, encoded and raw characters, the guarded names.
fn piece() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "/", "/", "/", ".", "..", "%2e", "%2E", "%2f", "%5c", "%25", "%61", "%41", "admin",
        "Admin", "users", "login", "orders", "a", ";", ";x=1", "?", "&", "=", "#", "\\", "%",
        "%c3%a9", "%ff", "%00", " ", "http://h", "//", "~", "%7e", "-",
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// For any path: the request is refused, or the upstream receives a
    /// canonical target that, sent again, gets the same decision (so the
    /// rule was chosen on exactly what is forwarded).
    #[test]
    fn forwarded_targets_are_what_the_rule_was_chosen_on(pieces in prop::collection::vec(piece(), 0..12)) {
        let v = Verifier::from_json(&fixture("policy.json")).unwrap();
        let (t, now) = user();
        let raw: String = pieces.concat();
        for h in [bearer(&t), Vec::new()] {
            let first = outcome(&decide(&v, "GET", &raw, &h, now), &raw);
            if let Some(forwarded) = &first.2 {
                let again = RequestTarget::parse(forwarded, true).unwrap();
                prop_assert_eq!(&again.origin_form(), forwarded, "forwarded target is canonical");
                let second = outcome(&decide(&v, "GET", forwarded, &h, now), forwarded);
                prop_assert_eq!(&first.0, &second.0);
                prop_assert_eq!(&first.1, &second.1);
                prop_assert_eq!(
                    v.rule_for("GET", &raw).unwrap().map(|r| r as *const _),
                    v.rule_for("GET", forwarded).unwrap().map(|r| r as *const _)
                );
            } else {
                prop_assert!(first.0 >= 400);
            }
        }
    }
}

/// `verify_for_rule` with the rule `path_rule` found is `verify` with the
/// path: the same verdict, claims and error code, for every spelling.
#[test]
fn verify_for_a_rule_found_once_is_verify_with_the_path() {
    use jwtgate::verify::VerifyOptions;
    let v = Verifier::from_json(&fixture("policy.json")).unwrap();
    let (user, now) = user();
    let (admin, _) = admin();
    let (other, _) = other_issuer();
    let paths = [
        None,
        Some("/"),
        Some("/orders/1"),
        Some("/admin"),
        Some("/admin/users"),
        Some("/%61dmin/x"),
        Some("//admin/../admin"),
        Some("/admin."),
        Some("/a%zz"),
        Some("http://example.com/admin?x=1"),
    ];
    for path in paths {
        for token in [&user, &admin, &other, &String::from("not.a.token")] {
            let direct = v.verify(token, &VerifyOptions { now, path });
            let by_rule = v
                .path_rule(path)
                .and_then(|rule| v.verify_for_rule(token, rule, now));
            match (direct, by_rule) {
                (Ok(a), Ok((b, json))) => {
                    assert_eq!(a, b, "{path:?}");
                    // The JSON text handed on is the token's own, decoded
                    // from its segments, and parses to what was checked.
                    let segments: Vec<&str> = token.split('.').collect();
                    let decoded = |s: &str| jwtgate::base64url::decode(s).unwrap();
                    assert_eq!(json.header, decoded(segments[0]));
                    assert_eq!(json.payload, decoded(segments[1]));
                    let parsed =
                        |text: &[u8]| serde_json::from_slice::<serde_json::Value>(text).unwrap();
                    assert_eq!(
                        parsed(&json.header),
                        serde_json::Value::Object(b.header.clone())
                    );
                    assert_eq!(
                        parsed(&json.payload),
                        serde_json::Value::Object(b.claims.clone())
                    );
                }
                (Err(a), Err(b)) => assert_eq!(a.code(), b.code(), "{path:?}"),
                (a, b) => panic!("{path:?}: {a:?} against {b:?}"),
            }
        }
    }
}
