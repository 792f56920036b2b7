//! The core against tokens minted by an independent library (PyJWT and
//! cryptography, `tests/fixtures/tokens/gen_tokens.py`), with verdicts written
//! by hand from the specs. Also: the HTTP decision, the cache, and the rule
//! that every error code is reachable.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use jwtgate::http::{Decision, Request};
use jwtgate::verify::VerifyOptions;
use jwtgate::{ErrorCode, VerifiedCache, Verifier};
use serde_json::Value;

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tokens")
        .join(name);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn verifier() -> Verifier {
    Verifier::from_json(&fixture("policy.json")).expect("fixture policy loads")
}

fn cases() -> Vec<Value> {
    let all: Value = serde_json::from_str(&fixture("cases.json")).unwrap();
    all["cases"].as_array().unwrap().clone()
}

/// The codes the fixture cases reach, for the coverage test below.
fn run_cases() -> BTreeSet<String> {
    let v = verifier();
    let mut reached = BTreeSet::new();
    let mut failures = Vec::new();
    for c in cases() {
        let name = c["name"].as_str().unwrap();
        let token = c["token"].as_str().unwrap();
        let expect = c["expect"].as_str().unwrap();
        let options = VerifyOptions {
            now: c["now"].as_i64().unwrap(),
            path: c["path"].as_str(),
        };
        let got = match v.verify(token, &options) {
            Ok(_) => "ok".to_string(),
            Err(e) => e.code().as_str().to_string(),
        };
        // explain runs the same path: same verdict, and its last check is the failing one.
        let report = v.explain(token, &options);
        assert_eq!(
            report.ok,
            got == "ok",
            "{name}: explain and verify disagree"
        );
        if let Some(e) = &report.error {
            assert_eq!(e.code().as_str(), got, "{name}: explain code");
            let last = report
                .checks
                .last()
                .expect("a failed explain names the failing check");
            assert!(
                !last.ok,
                "{name}: last check should be the failure: {:?}",
                report.checks
            );
        }
        if got != expect {
            failures.push(format!("{name}: expected {expect}, got {got}"));
        }
        reached.insert(got);
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    reached
}

#[test]
fn pyjwt_minted_cases_get_their_expected_verdicts() {
    let reached = run_cases();
    assert!(reached.contains("ok"));
}

#[test]
fn weak_keys_are_reported_not_fatal() {
    let v = verifier();
    let warnings = v.warnings().join("\n");
    assert!(
        warnings.contains("providers.idp.jwks.keys[5] (kid \"weak\"): skipped"),
        "{warnings}"
    );
    assert!(warnings.contains("2048"), "{warnings}");
}

#[test]
fn every_error_code_is_reachable() {
    let mut reached = run_cases();
    // The codes the PyJWT cases cannot reach come from focused checks here.
    let base = fixture("policy.json");
    let policy: Value = serde_json::from_str(&base).unwrap();

    let mut p = policy.clone();
    p["providers"]["idp"]["max_age_seconds"] = 5.into();
    p["providers"]["idp"]["clock_skew_seconds"] = 0.into();
    p["providers"]["idp"]["subjects"] = serde_json::json!(["bob"]);
    let strict = Verifier::from_json(&p.to_string()).unwrap();
    let valid = cases()
        .into_iter()
        .find(|c| c["name"] == "valid RS256")
        .unwrap();
    let token = valid["token"].as_str().unwrap();
    let now = valid["now"].as_i64().unwrap();
    let opts = VerifyOptions { now, path: None };
    reached.insert(
        strict
            .verify(token, &opts)
            .unwrap_err()
            .code()
            .as_str()
            .into(),
    );
    p["providers"]["idp"]["max_age_seconds"] = 3600.into();
    let strict = Verifier::from_json(&p.to_string()).unwrap();
    reached.insert(
        strict
            .verify(token, &opts)
            .unwrap_err()
            .code()
            .as_str()
            .into(),
    );

    let e = Verifier::from_json(r#"{"providers":{"a":{"issuer":"i","jwks":{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}}}}"#)
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidConfig);
    assert!(e.message().starts_with("providers.a.jwks:"), "{e}");
    reached.insert(e.code().as_str().into());
    let keys = jwtgate::KeySet::from_json(
        r#"{"kty":"RSA","n":"AQAB","e":"AQAB"}"#,
        &Default::default(),
    );
    reached.insert(keys.unwrap_err().code().as_str().into());

    let v = verifier();
    let d = get(&v, "/orders", &[], now);
    let Decision::Deny(deny) = d else {
        panic!("no token must be denied")
    };
    reached.insert(deny.error.code().as_str().into());
    let Decision::Deny(deny) = get(&v, "/a%2Fb", &[], now) else {
        panic!("an encoded slash must be refused")
    };
    reached.insert(deny.error.code().as_str().into());

    // Remote keys not fetched yet (tests/remote_keys.rs has the rest).
    let mut p = policy.clone();
    p["providers"]["idp"]["remote_jwks"] =
        serde_json::json!({"uri": "https://idp.example.com/jwks"});
    p["providers"]["idp"]
        .as_object_mut()
        .unwrap()
        .remove("jwks");
    let remote = Verifier::from_json(&p.to_string()).unwrap();
    let e = remote
        .verify(
            token,
            &VerifyOptions {
                now,
                path: Some("/admin"),
            },
        )
        .unwrap_err();
    reached.insert(e.code().as_str().into());

    // Only a build without the pure-Rust RSA/ECDSA verifiers can have no
    // verifier for a signature: tests/small_build.rs reaches it there.
    let elsewhere = ["verifier_unavailable"];
    let missing: Vec<&str> = ErrorCode::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|c| !reached.contains(*c) && !elsewhere.contains(c))
        .collect();
    assert!(
        missing.is_empty(),
        "error codes no test reaches: {missing:?}"
    );
}

/// `v`'s decision for a GET of `path` with `headers` at `now`, without a cache.
fn get(v: &Verifier, path: &str, headers: &[(String, String)], now: i64) -> Decision {
    v.authorize(
        &Request {
            method: "GET",
            path,
            headers,
            case_insensitive: false,
        },
        now,
        None,
    )
}

fn bearer(token: &str) -> Vec<(String, String)> {
    vec![
        ("authorization".into(), format!("Bearer {token}")),
        ("x-jwt-sub".into(), "spoofed".into()),
    ]
}

fn token_named(name: &str) -> (String, i64) {
    let c = cases().into_iter().find(|c| c["name"] == name).unwrap();
    (
        c["token"].as_str().unwrap().to_string(),
        c["now"].as_i64().unwrap(),
    )
}

#[test]
fn http_allow_sets_claim_headers_strips_token_and_spoofed_headers() {
    let v = verifier();
    let (token, now) = token_named("valid ES256");
    let headers = bearer(&token);
    let d = get(&v, "/orders?x=1", &headers, now);
    let Decision::Allow(allow) = d else {
        panic!("{d:?}")
    };
    assert_eq!(allow.reason, "verified");
    assert_eq!(allow.verified.unwrap().provider, "idp");
    // forward defaults to false (as jwt_authn): the token header goes.
    assert!(allow.remove_headers.contains(&"authorization".to_string()));
    assert!(allow.remove_headers.contains(&"x-jwt-sub".to_string()));
    assert_eq!(
        allow.set_headers,
        [("x-jwt-sub".to_string(), "alice".to_string())]
    );
}

#[test]
fn http_denials_follow_rfc_6750() {
    let v = verifier();
    let (expired, now) = token_named("expired");
    let d = get(&v, "/", &bearer(&expired), now);
    let Decision::Deny(deny) = d else { panic!() };
    assert_eq!(deny.status, 401);
    let challenge = &deny
        .headers
        .iter()
        .find(|(k, _)| k == "www-authenticate")
        .unwrap()
        .1;
    assert!(challenge.starts_with(r#"Bearer realm="jwtgate", error="invalid_token", error_description="expired: the token expired at"#), "{challenge}");
    let body: Value = serde_json::from_str(&deny.body).unwrap();
    assert_eq!(body["error"], "expired");

    let (no_admin, now) = token_named("claim rule failed");
    let d = get(&v, "/admin/x", &bearer(&no_admin), now);
    let Decision::Deny(deny) = d else { panic!() };
    assert_eq!(deny.status, 403);
    assert!(deny.headers[0].1.contains(r#"error="insufficient_scope""#));

    let d = get(&v, "/", &[], now);
    let Decision::Deny(deny) = d else { panic!() };
    assert_eq!(
        (deny.status, deny.headers[0].1.as_str()),
        (401, r#"Bearer realm="jwtgate""#)
    );
}

#[test]
fn hide_details_keeps_reasons_out_of_responses() {
    let mut p: Value = serde_json::from_str(&fixture("policy.json")).unwrap();
    p["response"] = serde_json::json!({"hide_details": true, "realm": "api"});
    let v = Verifier::from_json(&p.to_string()).unwrap();
    let (expired, now) = token_named("expired");
    let Decision::Deny(deny) = get(&v, "/", &bearer(&expired), now) else {
        panic!()
    };
    assert_eq!(
        deny.headers[0].1,
        r#"Bearer realm="api", error="invalid_token""#
    );
    assert!(!deny.body.contains("expired"), "{}", deny.body);
    assert_eq!(deny.error.code(), ErrorCode::Expired);
}

#[test]
fn a_cached_verdict_is_not_used_before_it_was_reached() {
    // nbf = now + 61 (PyJWT-minted): valid from now + 1 with the 60 s skew.
    let v = verifier();
    let mut cache = VerifiedCache::new(16, 1 << 20);
    let (token, now) = token_named("not yet valid");
    let headers = bearer(&token);
    let req = Request {
        method: "GET",
        path: "/",
        headers: &headers,
        case_insensitive: false,
    };
    assert!(matches!(
        v.authorize(&req, now + 120, Some(&mut cache)),
        Decision::Allow(_)
    ));
    // A clock that goes back (or an earlier `now`) must not reuse it.
    let Decision::Deny(deny) = v.authorize(&req, now, Some(&mut cache)) else {
        panic!("a verdict reached later was reused before nbf")
    };
    assert_eq!(deny.error.code(), ErrorCode::NotYetValid);
}

#[test]
fn cache_hits_respect_expiry_and_rule_claims() {
    let v = verifier();
    let mut cache = VerifiedCache::new(16, 1 << 20);
    let (token, now) = token_named("valid RS256");
    let headers = bearer(&token);
    let req = Request {
        method: "GET",
        path: "/",
        headers: &headers,
        case_insensitive: false,
    };
    assert!(matches!(
        v.authorize(&req, now, Some(&mut cache)),
        Decision::Allow(_)
    ));
    assert!(matches!(
        v.authorize(&req, now, Some(&mut cache)),
        Decision::Allow(_)
    ));
    assert_eq!((cache.hits(), cache.misses()), (1, 1));
    // The path's claim rule still applies to a cached token.
    let admin = Request {
        method: "GET",
        path: "/admin",
        headers: &headers,
        case_insensitive: false,
    };
    let Decision::Deny(deny) = v.authorize(&admin, now, Some(&mut cache)) else {
        panic!()
    };
    assert_eq!(deny.error.code(), ErrorCode::ClaimRuleFailed);
    // Past exp + skew the entry is not used: the token is expired.
    let Decision::Deny(deny) = v.authorize(&req, now + 600 + 60, Some(&mut cache)) else {
        panic!()
    };
    assert_eq!(deny.error.code(), ErrorCode::Expired);
    // Failures are not cached.
    let (bad, _) = token_named("tampered payload");
    let bad_headers = bearer(&bad);
    let bad_req = Request {
        method: "GET",
        path: "/",
        headers: &bad_headers,
        case_insensitive: false,
    };
    for _ in 0..2 {
        assert!(matches!(
            v.authorize(&bad_req, now, Some(&mut cache)),
            Decision::Deny(_)
        ));
    }
    assert_eq!(cache.len(), 0);
}

#[test]
fn token_locations_and_bypass() {
    let policy = fixture("policy.json").replace(
        r#""claim_to_headers""#,
        r#""from_params": ["access_token"], "from_cookies": ["jwt"], "from_headers": [{"name": "x-token"}], "claim_to_headers""#,
    );
    let mut p: Value = serde_json::from_str(&policy).unwrap();
    p["rules"]
        .as_array_mut()
        .unwrap()
        .insert(0, serde_json::json!({"prefix": "/login", "bypass": true}));
    p["rules"].as_array_mut().unwrap().insert(
        0,
        serde_json::json!({"prefix": "/public", "requires": "idp", "allow_missing": true}),
    );
    p["allow_cors_preflight"] = true.into();
    let v = Verifier::from_json(&p.to_string()).unwrap();
    let (token, now) = token_named("valid PS256");
    let allow = |path: &str, headers: &[(String, String)]| match v.authorize(
        &Request {
            method: "GET",
            path,
            headers,
            case_insensitive: false,
        },
        now,
        None,
    ) {
        Decision::Allow(a) => a,
        Decision::Deny(d) => panic!("{path}: {:?}", d.error),
    };
    let a = allow(&format!("/orders?a=1&access_token={token}&b=2"), &[]);
    assert_eq!(a.set_path.as_deref(), Some("/orders?a=1&b=2"));
    let a = allow(
        "/x",
        &[("cookie".into(), format!("theme=dark; jwt={token}"))],
    );
    assert!(a
        .set_headers
        .contains(&("cookie".to_string(), "theme=dark".to_string())));
    let a = allow("/x", &[("X-Token".into(), token.clone())]);
    assert!(a.remove_headers.contains(&"x-token".to_string()));
    assert_eq!(allow("/login/form", &[]).reason, "bypass");
    assert_eq!(allow("/public/x", &[]).reason, "missing_allowed");
    let preflight = [
        ("origin".to_string(), "https://app".to_string()),
        (
            "access-control-request-method".to_string(),
            "POST".to_string(),
        ),
    ];
    assert_eq!(
        match v.authorize(
            &Request {
                method: "OPTIONS",
                path: "/x",
                headers: &preflight,
                case_insensitive: false,
            },
            now,
            None
        ) {
            Decision::Allow(a) => a.reason,
            Decision::Deny(_) => "denied",
        },
        "cors_preflight"
    );
    // A bypass prefix does not open paths that an upstream may normalise elsewhere.
    assert!(matches!(
        get(&v, "/login/../admin", &[], now),
        Decision::Deny(_)
    ));
    // allow_missing still refuses a present but invalid token.
    let (expired, _) = token_named("expired");
    assert!(matches!(
        get(&v, "/public/x", &[("x-token".into(), expired)], now),
        Decision::Deny(_)
    ));
}

/// A host backed by the pure-Rust reference that counts its calls.
struct CountingHost {
    keys: Vec<jwtgate::alg::VerifyingKey>,
    calls: std::rc::Rc<std::cell::Cell<u32>>,
}

impl jwtgate::host::SignatureVerifier for CountingHost {
    fn prepare(&mut self, key: &jwtgate::alg::VerifyingKey) -> Option<u32> {
        key.spki_der()?; // like Envoy: only RSA and EC keys
        self.keys.push(key.clone());
        Some(self.keys.len() as u32 - 1)
    }
    fn verify(&self, alg: jwtgate::Alg, handle: u32, input: &[u8], sig: &[u8]) -> Option<bool> {
        self.calls.set(self.calls.get() + 1);
        let key = self.keys.get(handle as usize)?;
        Some(jwtgate::alg::verify_signature(alg, key, input, sig).is_ok())
    }
    fn handles(&self, _: jwtgate::Alg) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "counting host"
    }
}

/// A broken host that accepts every signature.
struct Yes;
impl jwtgate::host::SignatureVerifier for Yes {
    fn prepare(&mut self, _: &jwtgate::alg::VerifyingKey) -> Option<u32> {
        Some(0)
    }
    fn verify(&self, _: jwtgate::Alg, _: u32, _: &[u8], _: &[u8]) -> Option<bool> {
        Some(true)
    }
    fn handles(&self, _: jwtgate::Alg) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "yes"
    }
}

#[test]
fn host_crypto_gives_the_same_verdicts_and_broken_hosts_are_refused() {
    let calls = std::rc::Rc::new(std::cell::Cell::new(0));
    let mut v = verifier();
    let host = CountingHost {
        keys: Vec::new(),
        calls: calls.clone(),
    };
    assert_eq!(
        v.offer_host_crypto(Box::new(host)).unwrap(),
        "counting host"
    );
    calls.set(0);
    for c in cases() {
        let options = VerifyOptions {
            now: c["now"].as_i64().unwrap(),
            path: c["path"].as_str(),
        };
        let got = match v.verify(c["token"].as_str().unwrap(), &options) {
            Ok(_) => "ok".to_string(),
            Err(e) => e.code().as_str().to_string(),
        };
        assert_eq!(
            got,
            c["expect"].as_str().unwrap(),
            "{} (host crypto)",
            c["name"]
        );
    }
    assert!(calls.get() > 10, "the host was asked for RSA/EC signatures");
    // The explain trace names who checked the signature.
    let checked_by = |case: &str, who: &str| {
        let options = VerifyOptions {
            now: 1_700_000_000,
            path: None,
        };
        let explained = v.explain(&token_named(case).0, &options);
        let found = explained.checks.iter().any(|c| c.detail.ends_with(who));
        assert!(found, "{case}: {:?}", explained.checks);
    };
    checked_by("valid ES256", "by counting host");
    checked_by("valid EdDSA", "by pure Rust");

    // A host that says yes to everything never gets to decide.
    let mut auto = verifier();
    assert_eq!(auto.offer_host_crypto(Box::new(Yes)).unwrap(), "pure Rust");
    assert!(auto
        .warnings()
        .iter()
        .any(|w| w.contains("failed its self-test")));
    let (tampered, now) = token_named("tampered payload");
    assert_eq!(
        auto.verify(&tampered, &VerifyOptions { now, path: None })
            .unwrap_err()
            .code(),
        ErrorCode::BadSignature
    );
    let strict = fixture("policy.json").replacen('{', r#"{"signature_verifier": "host","#, 1);
    let mut strict = Verifier::from_json(&strict).unwrap();
    let e = strict.offer_host_crypto(Box::new(Yes)).unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidConfig);
    assert!(e.message().starts_with("signature_verifier:"), "{e}");
    let rust_only = fixture("policy.json").replacen('{', r#"{"signature_verifier": "rust","#, 1);
    let mut rust_only = Verifier::from_json(&rust_only).unwrap();
    let host = CountingHost {
        keys: Vec::new(),
        calls: calls.clone(),
    };
    assert_eq!(
        rust_only.offer_host_crypto(Box::new(host)).unwrap(),
        "pure Rust"
    );
}

#[test]
fn key_rotation_replaces_keys_and_empties_caches() {
    let mut v = verifier();
    let mut cache = VerifiedCache::new(16, 1 << 20);
    let (token, now) = token_named("valid ES256");
    let headers = bearer(&token);
    let req = Request {
        method: "GET",
        path: "/",
        headers: &headers,
        case_insensitive: false,
    };
    assert!(matches!(
        v.authorize(&req, now, Some(&mut cache)),
        Decision::Allow(_)
    ));
    let policy: Value = serde_json::from_str(&fixture("policy.json")).unwrap();
    let other_keys = policy["providers"]["other"]["jwks"].to_string();
    assert!(v.set_jwks("idp", &other_keys).unwrap().is_empty());
    // The cached verdict under the old keys is not used.
    let Decision::Deny(deny) = v.authorize(&req, now, Some(&mut cache)) else {
        panic!("rotated key must not verify")
    };
    assert_eq!(deny.error.code(), ErrorCode::UnknownKid);
    // A bad key set is refused and the current keys stay.
    let e = v
        .set_jwks("idp", r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#)
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidKey);
    assert_eq!(
        v.set_jwks("nope", &other_keys).unwrap_err().code(),
        ErrorCode::InvalidConfig
    );
    let (other, now) = token_named("valid token of the other issuer on a path that accepts both");
    assert!(v.verify(&other, &VerifyOptions { now, path: None }).is_ok());
}

#[test]
fn repeated_token_headers_are_malformed_not_jwe() {
    let v = verifier();
    let (token, now) = token_named("valid ES256");
    // Proxies join repeated headers with ", ": five dots, but not a JWE.
    let headers = vec![(
        "authorization".to_string(),
        format!("Bearer {token}, Bearer {token}"),
    )];
    let Decision::Deny(deny) = get(&v, "/", &headers, now) else {
        panic!("two tokens in one header must be refused")
    };
    assert_eq!(deny.error.code(), ErrorCode::Malformed);
    assert!(deny.error.message().contains("several values"));
}

#[test]
fn with_several_providers_the_most_telling_error_wins() {
    // idp knows no kid "nope"; hmac only allows HS256: the kid error is the useful one.
    let mut p: Value = serde_json::from_str(&fixture("policy.json")).unwrap();
    p["providers"]["hmac"]["algorithms"] = serde_json::json!(["HS256"]);
    p["rules"] = serde_json::json!([{"prefix": "/", "requires": ["idp", "hmac"]}]);
    let v = Verifier::from_json(&p.to_string()).unwrap();
    let (token, now) = token_named("unknown kid");
    let e = v
        .verify(
            &token,
            &VerifyOptions {
                now,
                path: Some("/"),
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::UnknownKid);
}

/// A host whose crypto is asynchronous (like WebCrypto): it cannot answer
/// inside `verify`, so answers are computed ahead of time from
/// `signature_requests` and looked up. Here the "async" crypto is the
/// pure-Rust reference run by the test.
/// Answers by (key handle, signed text, signature).
type AnswerMap = std::collections::HashMap<(u32, Vec<u8>, Vec<u8>), bool>;

#[derive(Clone, Default)]
struct Answers {
    keys: std::rc::Rc<std::cell::RefCell<Vec<jwtgate::alg::VerifyingKey>>>,
    known: std::rc::Rc<std::cell::RefCell<AnswerMap>>,
    misses: std::rc::Rc<std::cell::Cell<u32>>,
}

impl Answers {
    fn answer(&self, alg: jwtgate::Alg, handle: u32, input: &[u8], sig: &[u8]) {
        let key = self.keys.borrow()[handle as usize].clone();
        let valid = jwtgate::alg::verify_signature(alg, &key, input, sig).is_ok();
        self.known
            .borrow_mut()
            .insert((handle, input.to_vec(), sig.to_vec()), valid);
    }
}

impl jwtgate::host::SignatureVerifier for Answers {
    fn prepare(&mut self, key: &jwtgate::alg::VerifyingKey) -> Option<u32> {
        key.spki_der()?;
        self.keys.borrow_mut().push(key.clone());
        Some(self.keys.borrow().len() as u32 - 1)
    }
    fn verify(&self, _: jwtgate::Alg, handle: u32, input: &[u8], sig: &[u8]) -> Option<bool> {
        let answer = self
            .known
            .borrow()
            .get(&(handle, input.to_vec(), sig.to_vec()))
            .copied();
        if answer.is_none() {
            self.misses.set(self.misses.get() + 1);
        }
        answer
    }
    fn handles(&self, _: jwtgate::Alg) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "async host"
    }
}

#[test]
fn asynchronous_hosts_answer_signature_requests_ahead_of_time() {
    let host = Answers::default();
    // The self-test's probes are answered ahead of time too.
    for (i, probe) in jwtgate::host::probes().into_iter().enumerate() {
        host.keys.borrow_mut().push(probe.key.clone());
        let handle = u32::try_from(i).unwrap();
        host.answer(probe.alg, handle, probe.message, &probe.good);
        host.answer(probe.alg, handle, probe.message, &probe.bad);
    }
    host.keys.borrow_mut().clear();
    let mut v = verifier();
    assert_eq!(
        v.offer_host_crypto(Box::new(host.clone())).unwrap(),
        "async host"
    );
    host.misses.set(0);
    for c in cases() {
        let token = c["token"].as_str().unwrap();
        let options = VerifyOptions {
            now: c["now"].as_i64().unwrap(),
            path: c["path"].as_str(),
        };
        for r in v.signature_requests(token, &options) {
            // The signature travels as base64url (for JavaScript hosts).
            let json = serde_json::to_value(&r).unwrap();
            let sig = jwtgate::base64url::decode(json["signature"].as_str().unwrap()).unwrap();
            assert_eq!(sig, r.signature);
            host.answer(r.alg, r.handle, r.signing_input.as_bytes(), &r.signature);
        }
        let got = match v.verify(token, &options) {
            Ok(_) => "ok".to_string(),
            Err(e) => e.code().as_str().to_string(),
        };
        assert_eq!(
            got,
            c["expect"].as_str().unwrap(),
            "{} (async host)",
            c["name"]
        );
    }
    assert_eq!(
        host.misses.get(),
        0,
        "every host check was answered ahead of time"
    );
    assert!(!host.known.borrow().is_empty());
}

/// The same for HTTP requests: `authorize_signature_requests` lists the
/// checks `authorize` will ask for on the request's one token, so an
/// asynchronous host (the edge worker's WebCrypto) can answer them first.
#[test]
fn asynchronous_hosts_answer_authorize_signature_requests_ahead_of_time() {
    let host = Answers::default();
    for (i, probe) in jwtgate::host::probes().into_iter().enumerate() {
        host.keys.borrow_mut().push(probe.key.clone());
        let handle = u32::try_from(i).unwrap();
        host.answer(probe.alg, handle, probe.message, &probe.good);
        host.answer(probe.alg, handle, probe.message, &probe.bad);
    }
    host.keys.borrow_mut().clear();
    let mut v = verifier();
    v.offer_host_crypto(Box::new(host.clone())).unwrap();
    host.misses.set(0);
    let mut asked = 0;
    for c in cases() {
        let token = c["token"].as_str().unwrap();
        let now = c["now"].as_i64().unwrap();
        let headers = [("Authorization".to_string(), format!("Bearer {token}"))];
        let request = Request {
            method: "GET",
            path: c["path"].as_str().unwrap_or("/orders"),
            headers: &headers,
            case_insensitive: false,
        };
        for r in v.authorize_signature_requests(&request, now) {
            asked += 1;
            host.answer(r.alg, r.handle, r.signing_input.as_bytes(), &r.signature);
        }
        let got = match v.authorize(&request, now, None) {
            Decision::Allow(_) => "ok".to_string(),
            Decision::Deny(d) => d.error.code().as_str().to_string(),
        };
        // An empty bearer credential is no token at all (as for jwt_authn).
        let expected = match token {
            "" => "missing",
            _ => c["expect"].as_str().unwrap(),
        };
        assert_eq!(got, expected, "{} (async host, authorize)", c["name"]);
    }
    assert_eq!(
        host.misses.get(),
        0,
        "every host check was answered ahead of time"
    );
    assert!(asked >= 9, "{asked} checks asked for");
    // Requests decided without a signature ask for nothing.
    let no_token = Request {
        method: "GET",
        path: "/orders",
        headers: &[],
        case_insensitive: false,
    };
    assert!(v.authorize_signature_requests(&no_token, 0).is_empty());
    let (valid, now) = token_named("valid RS256");
    let refused = [("authorization".to_string(), format!("Bearer {valid}"))];
    let ambiguous = Request {
        method: "GET",
        path: "/x%2F..%2Fadmin",
        headers: &refused,
        case_insensitive: false,
    };
    assert!(v.authorize_signature_requests(&ambiguous, now).is_empty());
}

#[test]
fn explanations_serialize_with_the_error_at_the_top_level() {
    let v = verifier();
    let (expired, now) = token_named("expired");
    let report =
        serde_json::to_value(v.explain(&expired, &VerifyOptions { now, path: None })).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["code"], "expired");
    assert!(report["message"]
        .as_str()
        .unwrap()
        .starts_with("the token expired at"));
    assert!(report.get("provider").is_none() && report.get("error").is_none());
    let (valid, now) = token_named("valid EdDSA");
    let report = serde_json::to_value(v.explain(
        &valid,
        &VerifyOptions {
            now,
            path: Some("/"),
        },
    ))
    .unwrap();
    assert_eq!(
        (report["ok"].clone(), report["provider"].clone()),
        (Value::from(true), Value::from("idp"))
    );
    assert!(report.get("code").is_none());
    assert!(report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["ok"] == true));
}
