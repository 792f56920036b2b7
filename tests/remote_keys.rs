//! Remote keys through the verifier (issue 14): tokens minted by PyJWT
//! (`tests/fixtures/tokens`), key sets fed as fetch results with a fake
//! clock. Expectations come from the issue and docs/POLICY.md: no pass
//! without keys, 503 `jwks_unavailable` with `Retry-After`, rotation, bounded
//! staleness, configured keys that keep working when the remote is down.

use std::fs;
use std::path::Path;

use jwtgate::http::{Decision, Request};
use jwtgate::keys::{Document, Event, FailureKind};
use jwtgate::verify::VerifyOptions;
use jwtgate::{ErrorCode, VerifiedCache, Verifier};
use serde_json::{json, Value};

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tokens")
        .join(name);
    serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap()
}

fn token(name: &str) -> (String, i64) {
    let cases = fixture("cases.json");
    let case = cases["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no case {name}"));
    (
        case["token"].as_str().unwrap().to_string(),
        case["now"].as_i64().unwrap(),
    )
}

/// The fixture key sets: idp's (kid p256, rsa, ...) and other's (kid "other").
fn jwks(provider: &str) -> String {
    fixture("policy.json")["providers"][provider]["jwks"].to_string()
}

/// The fixture's idp provider with its keys fetched from `remote` (and,
/// with `embedded`, its own keys configured too).
fn verifier(remote: Value, embedded: Option<&str>) -> Verifier {
    let mut idp = fixture("policy.json")["providers"]["idp"].clone();
    let idp = idp.as_object_mut().unwrap();
    idp.remove("jwks");
    if let Some(provider) = embedded {
        idp.insert(
            "jwks".into(),
            serde_json::from_str(&jwks(provider)).unwrap(),
        );
    }
    idp.insert("remote_jwks".into(), remote);
    let policy = json!({"providers": {"idp": idp}, "rules": [{"prefix": "/", "requires": "idp"}]});
    Verifier::from_json(&policy.to_string()).expect("policy loads")
}

fn remote() -> Value {
    json!({"uri": "https://idp.example.com/jwks", "jitter_percent": 0, "max_stale_seconds": 400})
}

fn code(v: &Verifier, token: &str, now: i64) -> String {
    match v.verify(token, &VerifyOptions { now, path: None }) {
        Ok(_) => "ok".into(),
        Err(e) => e.code().as_str().into(),
    }
}

/// Performs the due fetch of idp and answers it with `body`.
fn fetch_answers(v: &mut Verifier, now: i64, body: &str) -> Event {
    let fetches = v.due_fetches(now);
    assert_eq!(fetches.len(), 1, "one fetch due at {now}: {fetches:?}");
    assert_eq!(fetches[0].fetch.document, Document::Jwks);
    v.key_fetched("idp", now, 200, &[], body.as_bytes())
        .unwrap()
}

/// The authorize decision's code on `token` (or none) at `at` ("ok" for an allow) and
/// how long the request may wait for keys (`Verifier::key_wait`).
fn decide_and_wait(v: &Verifier, token: Option<&str>, at: i64) -> (String, Option<i64>) {
    let headers: Vec<(String, String)> = token
        .map(|t| ("authorization".to_string(), format!("Bearer {t}")))
        .into_iter()
        .collect();
    let request = Request {
        method: "GET",
        path: "/",
        headers: &headers,
        case_insensitive: false,
    };
    let decision = v.authorize(&request, at, None);
    let code = decision.refusal().map_or("ok", |c| c.as_str()).to_string();
    (code, v.key_wait(decision.refusal(), at))
}

/// idp's key set with the other provider's key ("other") added: a rotation.
fn rotated_set() -> String {
    let mut set: Value = serde_json::from_str(&jwks("idp")).unwrap();
    let other: Value = serde_json::from_str(&jwks("other")).unwrap();
    set["keys"]
        .as_array_mut()
        .unwrap()
        .extend(other["keys"].as_array().unwrap().iter().cloned());
    set.to_string()
}

#[test]
fn no_pass_before_the_first_fetch_then_503_with_retry_after() {
    let (es256, now) = token("valid ES256");
    let mut v = verifier(remote(), None);
    assert_eq!(code(&v, &es256, now), "jwks_unavailable");
    assert_eq!(v.first_fetch_pending(now), Some(now + 5));
    let headers = vec![("authorization".to_string(), format!("Bearer {es256}"))];
    let request = Request {
        method: "GET",
        path: "/",
        headers: &headers,
        case_insensitive: false,
    };
    let Decision::Deny(deny) = v.authorize(&request, now, None) else {
        panic!("no keys, no pass")
    };
    assert_eq!(deny.status, 503);
    let header = |name: &str| {
        deny.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("retry-after"), Some("5"));
    assert_eq!(header("www-authenticate"), Some("Bearer realm=\"jwtgate\""));
    let body: Value = serde_json::from_str(&deny.body).unwrap();
    assert_eq!(body["error"], "jwks_unavailable");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("being fetched for the first time"),
        "{body}"
    );

    // The first fetch fails: still unavailable, and no longer pending.
    let fetches = v.due_fetches(now);
    assert_eq!(fetches[0].fetch.url, "https://idp.example.com/jwks");
    let event = v
        .key_fetch_failed("idp", now + 1, FailureKind::Network, "connection refused")
        .unwrap();
    assert!(matches!(event, Event::Failed(_)));
    assert_eq!(v.first_fetch_pending(now + 1), None);
    assert_eq!(code(&v, &es256, now + 1), "jwks_unavailable");
    // The retry brings keys.
    assert!(
        v.due_fetches(now + 2).is_empty(),
        "backoff: retry after retry_seconds"
    );
    assert!(matches!(
        fetch_answers(&mut v, now + 6, &jwks("idp")),
        Event::KeysChanged(_)
    ));
    assert_eq!(code(&v, &es256, now + 6), "ok");
    assert!(matches!(
        v.authorize(&request, now + 6, None),
        Decision::Allow(_)
    ));
}

#[test]
fn rotation_new_kid_verifies_after_one_early_fetch_old_kid_goes() {
    let (es256, now) = token("valid ES256");
    let (rotated, _) = token("signed by the other issuer's key but claiming idp's issuer");
    let mut v = verifier(remote(), None);
    let mut cache = VerifiedCache::new(16, 1 << 20);
    fetch_answers(&mut v, now, &jwks("idp"));
    let headers = vec![("authorization".to_string(), format!("Bearer {es256}"))];
    let request = Request {
        method: "GET",
        path: "/",
        headers: &headers,
        case_insensitive: false,
    };
    assert!(matches!(
        v.authorize(&request, now, Some(&mut cache)),
        Decision::Allow(_)
    ));
    // The IdP adds a key ("other"): a token with the new kid is unknown at first ...
    assert_eq!(code(&v, &rotated, now + 40), "unknown_kid");
    // ... and asks for one early fetch, which brings it.
    let fetches = v.due_fetches(now + 40);
    assert_eq!(fetches.len(), 1);
    assert_eq!(fetches[0].fetch.reason, "unknown_kid");
    let both = rotated_set();
    let Event::KeysChanged(change) = v
        .key_fetched("idp", now + 40, 200, &[], both.as_bytes())
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(change.added, ["other"]);
    assert_eq!(code(&v, &rotated, now + 40), "ok");
    // The old keys leave at the next refresh (600 s later): the cached verdict goes too.
    assert!(v.due_fetches(now + 639).is_empty());
    let Event::KeysChanged(change) = fetch_answers(&mut v, now + 640, &jwks("other")) else {
        panic!()
    };
    assert!(change.removed.contains(&"p256".to_string()), "{change}");
    let Decision::Deny(deny) = v.authorize(&request, now + 640, Some(&mut cache)) else {
        panic!("a removed key must not verify, cached or not")
    };
    assert_eq!(deny.error.code(), ErrorCode::UnknownKid);
}

#[test]
fn a_kid_noted_unknown_asks_for_no_fetch_once_adopted_keys_have_it() {
    // Another instance (an Envoy worker, an edge isolate) fetched the rotated
    // set; this one noted the new kid before adopting it: no refetch follows.
    let (rotated, now) = token("signed by the other issuer's key but claiming idp's issuer");
    let mut config = remote();
    config["cooldown_seconds"] = json!(1);
    let mut leader = verifier(config.clone(), None);
    let mut follower = verifier(config, None);
    fetch_answers(&mut follower, now, &jwks("idp"));
    assert_eq!(code(&follower, &rotated, now + 40), "unknown_kid");
    let both = rotated_set();
    fetch_answers(&mut leader, now + 40, &both);
    let snapshot = leader.key_sources().next().unwrap().1.snapshot().unwrap();
    // Adopted before the follower looks at its noted kid, a second later,
    // when the cooldown (1 s, from the adopted fetch) has passed.
    assert!(matches!(
        follower.adopt_keys("idp", now + 40, &snapshot),
        Ok(Event::KeysChanged(_))
    ));
    assert_eq!(code(&follower, &rotated, now + 41), "ok");
    assert!(follower.due_fetches(now + 41).is_empty());
    // A kid no key has still asks for its fetch after the cooldown.
    let (unknown, _) = token("unknown kid");
    assert_eq!(code(&follower, &unknown, now + 80), "unknown_kid");
    assert_eq!(
        follower.due_fetches(now + 80)[0].fetch.reason,
        "unknown_kid"
    );
}

#[test]
fn a_kid_flood_asks_for_one_fetch_per_cooldown() {
    let (es256, now) = token("valid ES256");
    let (unknown, _) = token("unknown kid");
    let mut v = verifier(remote(), None);
    fetch_answers(&mut v, now, &jwks("idp"));
    let mut fetches = 0;
    for t in now..now + 300 {
        for _ in 0..10 {
            assert_eq!(code(&v, &unknown, t), "unknown_kid");
            for f in v.due_fetches(t) {
                fetches += 1;
                assert_eq!(f.fetch.reason, "unknown_kid");
                v.key_fetched("idp", t, 200, &[], jwks("idp").as_bytes())
                    .unwrap();
            }
        }
    }
    // One kid, remembered for the cooldown: one fetch per 30 s at most.
    assert!(fetches <= 300 / 30, "{fetches} fetches");
    assert!(fetches >= 1);
    assert_eq!(code(&v, &es256, now + 300), "ok");
}

#[test]
fn failures_keep_the_keys_until_max_stale_then_503() {
    let (es256, now) = token("valid ES256");
    let mut config = remote();
    config["refresh_seconds"] = json!(60);
    let mut v = verifier(config, None);
    let mut cache = VerifiedCache::new(16, 1 << 20);
    fetch_answers(&mut v, now, &jwks("idp"));
    let headers = vec![("authorization".to_string(), format!("Bearer {es256}"))];
    let request = Request {
        method: "GET",
        path: "/",
        headers: &headers,
        case_insensitive: false,
    };
    assert!(matches!(
        v.authorize(&request, now, Some(&mut cache)),
        Decision::Allow(_)
    ));
    let mut t = now + 60;
    while t <= now + 400 {
        for f in v.due_fetches(t) {
            assert_eq!(f.provider, "idp");
            let event = v
                .key_fetched("idp", t, 200, &[], b"<html>garbage</html>")
                .unwrap();
            assert!(
                matches!(event, Event::Failed(ref f) if f.kind == FailureKind::InvalidJwks),
                "{event:?}"
            );
        }
        assert_eq!(code(&v, &es256, t), "ok", "stale keys served at {t}");
        t += 7;
    }
    assert_eq!(code(&v, &es256, now + 400), "ok");
    assert_eq!(code(&v, &es256, now + 401), "jwks_unavailable");
    let Decision::Deny(deny) = v.authorize(&request, now + 401, Some(&mut cache)) else {
        panic!("the cache must not outlive max_stale")
    };
    assert_eq!(deny.status, 503);
    assert!(
        deny.error.message().contains("max_stale_seconds (400)"),
        "{}",
        deny.error
    );
    let stats = v.key_sources().next().unwrap().1.stats().clone();
    assert!(stats
        .failures_by_kind()
        .any(|(k, n)| k == FailureKind::InvalidJwks && n > 5));
}

#[test]
fn configured_keys_keep_working_while_the_remote_never_answers() {
    let (es256, now) = token("valid ES256");
    let (rotated, _) = token("signed by the other issuer's key but claiming idp's issuer");
    let (unknown, _) = token("unknown kid");
    let mut v = verifier(remote(), Some("idp"));
    assert_eq!(
        code(&v, &es256, now),
        "ok",
        "embedded keys work before any fetch"
    );
    // A kid the embedded keys lack may be in the missing fetched ones: 503, not 401.
    assert_eq!(code(&v, &unknown, now), "jwks_unavailable");
    let f = v.due_fetches(now);
    assert_eq!(f.len(), 1);
    v.key_fetch_failed("idp", now + 5, FailureKind::Timeout, "no answer")
        .unwrap();
    assert_eq!(code(&v, &es256, now + 5), "ok");
    // Once fetched, both sets verify, and an unknown kid is a plain 401 again.
    fetch_answers(&mut v, now + 10, &jwks("other"));
    assert_eq!(code(&v, &es256, now + 10), "ok");
    assert_eq!(code(&v, &rotated, now + 10), "ok");
    assert_eq!(code(&v, &unknown, now + 10), "unknown_kid");
    // Past max_stale only the embedded keys remain.
    assert_eq!(code(&v, &es256, now + 10 + 401), "ok");
    assert_eq!(code(&v, &rotated, now + 10 + 401), "jwks_unavailable");
}

#[test]
fn discovery_then_jwks() {
    let (es256, now) = token("valid ES256");
    let mut idp = fixture("policy.json")["providers"]["idp"].clone();
    idp.as_object_mut().unwrap().remove("jwks");
    idp["discovery"] = json!(true);
    let policy = json!({"providers": {"idp": idp}});
    let mut v = Verifier::from_json(&policy.to_string()).unwrap();
    let f = v.due_fetches(now);
    assert_eq!(
        f[0].fetch.url,
        "https://idp.example.com/.well-known/openid-configuration"
    );
    let doc = br#"{"issuer":"https://idp.example.com","jwks_uri":"https://keys.idp.example.com/v1/jwks"}"#;
    assert!(matches!(
        v.key_fetched("idp", now, 200, &[], doc).unwrap(),
        Event::Discovered { .. }
    ));
    let f = v.due_fetches(now);
    assert_eq!(
        (f[0].fetch.authority.as_str(), f[0].fetch.path.as_str()),
        ("keys.idp.example.com", "/v1/jwks")
    );
    v.key_fetched("idp", now, 200, &[], jwks("idp").as_bytes())
        .unwrap();
    assert_eq!(code(&v, &es256, now), "ok");
}

#[test]
fn policy_errors_name_the_field() {
    let load = |idp: Value| {
        Verifier::from_json(&json!({"providers": {"idp": idp}}).to_string())
            .unwrap_err()
            .to_string()
    };
    let m = load(json!({"issuer": "https://i"}));
    assert!(
        m.contains(
            "providers.idp.jwks: needs keys: jwks, pem_keys, remote_jwks or discovery: true"
        ),
        "{m}"
    );
    let m = load(json!({"issuer": "https://i", "remote_jwks": {"uri": "http://i/jwks"}}));
    assert!(
        m.contains("providers.idp.remote_jwks.uri: ") && m.contains("must use https"),
        "{m}"
    );
    let m = load(
        json!({"issuer": "https://i", "remote_jwks": {"uri": "https://i/jwks", "refresh_seconds": 0}}),
    );
    assert!(
        m.contains("providers.idp.remote_jwks.refresh_seconds: must be greater than 0"),
        "{m}"
    );
    let m = load(json!({"issuer": "https://i", "remote_jwks": {"url": "https://i/jwks"}}));
    assert!(
        m.contains("providers.idp.remote_jwks.url: unknown field"),
        "{m}"
    );
    let m = load(json!({"issuer": ["https://i", "https://j"], "discovery": true}));
    assert!(
        m.contains("providers.idp.issuer: discovery needs exactly one issuer"),
        "{m}"
    );
    let m = load(json!({"issuer": "not a url", "discovery": true}));
    assert!(
        m.contains("providers.idp.issuer: discovery needs a URL issuer"),
        "{m}"
    );
    let m = load(
        json!({"issuer": "https://i", "discovery": true, "remote_jwks": {"uri": "https://i/jwks"}}),
    );
    assert!(
        m.contains("providers.idp.remote_jwks.uri: set either uri or discovery"),
        "{m}"
    );
}

/// `Verifier::key_wait` for a first fetch: what a front end may hold
/// (docs/POLICY.md, "Remote keys", first fetch): a `jwks_unavailable`
/// refusal while a first fetch is pending, at most the fetch timeout (two
/// with discovery); nothing once it failed, nor for refusals keys cannot change.
#[test]
fn requests_may_wait_for_a_pending_first_fetch_only() {
    let (es256, now) = token("valid ES256");
    let (unknown, _) = token("unknown kid");
    let decide = |v: &Verifier, token: Option<&str>, at: i64| decide_and_wait(v, token, at).1;
    let mut v = verifier(
        json!({"uri": "https://idp.example.com/jwks", "timeout_seconds": 4}),
        None,
    );
    assert_eq!(decide(&v, Some(&es256), now), Some(now + 4));
    // A refusal that keys cannot change is answered at once.
    assert_eq!(decide(&v, None, now), None, "missing token");
    assert_eq!(decide(&v, Some("a.b"), now), None, "malformed");
    // In flight since `now`: the wait ends with the fetch's timeout.
    assert_eq!(v.due_fetches(now).len(), 1);
    assert_eq!(decide(&v, Some(&es256), now + 3), Some(now + 4));
    assert_eq!(decide(&v, Some(&es256), now + 5), None, "past the timeout");
    // Keys landed: no refusal to wait on, and an unknown kid is a plain 401
    // (within the cooldown of the first fetch: no refetch to wait for).
    v.key_fetched("idp", now + 1, 200, &[], jwks("idp").as_bytes())
        .unwrap();
    assert_eq!(decide(&v, Some(&es256), now + 1), None);
    assert_eq!(decide(&v, Some(&unknown), now + 1), None);

    // Configured keys while the fetched ones are pending: a kid they lack waits.
    let v = verifier(remote(), Some("other"));
    assert_eq!(decide(&v, Some(&unknown), now), Some(now + 5));

    // The first fetch failed: 503 at once.
    let mut v = verifier(remote(), None);
    v.due_fetches(now);
    v.key_fetch_failed("idp", now, FailureKind::Network, "refused")
        .unwrap();
    assert_eq!(decide(&v, Some(&es256), now), None);

    // Discovery: two fetches before the first keys.
    let mut idp = fixture("policy.json")["providers"]["idp"].clone();
    idp.as_object_mut().unwrap().remove("jwks");
    idp["discovery"] = json!(true);
    let policy = json!({"providers": {"idp": idp}, "rules": [{"prefix": "/", "requires": "idp"}]});
    let v = Verifier::from_json(&policy.to_string()).unwrap();
    assert_eq!(decide(&v, Some(&es256), now), Some(now + 10));
}

/// `Verifier::key_wait` for a kid-miss refetch (docs/POLICY.md, "Remote
/// keys", rotation): a request refused `unknown_kid` may wait for the
/// refetch its kid asks for, from the ask until the answer, a failure or
/// the timeout, as jose's createRemoteJWKSet does; never within the
/// cooldown, so a flood of random kids waits for at most one fetch per cooldown.
#[test]
fn an_unknown_kid_waits_for_the_refetch_it_asks_for_and_no_longer() {
    let (rotated, now) = token("signed by the other issuer's key but claiming idp's issuer");
    let (unknown, _) = token("unknown kid");
    let config = json!({"uri": "https://idp.example.com/jwks", "jitter_percent": 0,
        "timeout_seconds": 4, "cooldown_seconds": 30, "max_stale_seconds": 4000});
    let mut v = verifier(config.clone(), None);
    fetch_answers(&mut v, now, &jwks("idp"));
    // Within the first fetch's cooldown: refused at once.
    assert_eq!(
        decide_and_wait(&v, Some(&rotated), now + 10),
        ("unknown_kid".into(), None)
    );
    assert!(v.due_fetches(now + 10).is_empty());

    // Past it, the new kid asks for a refetch: wait for it (4 s timeout) ...
    let t = now + 40;
    assert_eq!(
        decide_and_wait(&v, Some(&rotated), t),
        ("unknown_kid".into(), Some(t + 4))
    );
    let fetches = v.due_fetches(t + 1);
    assert_eq!(fetches.len(), 1);
    assert_eq!(fetches[0].fetch.reason, "unknown_kid");
    // ... while it is in flight, every unknown kid may wait for it, no longer than its timeout ...
    assert_eq!(
        decide_and_wait(&v, Some(&unknown), t + 2),
        ("unknown_kid".into(), Some(t + 5))
    );
    assert_eq!(
        decide_and_wait(&v, Some(&rotated), t + 2),
        ("unknown_kid".into(), Some(t + 5))
    );
    assert!(
        v.due_fetches(t + 2).is_empty(),
        "one refetch, however many kids"
    );
    // ... and once it landed with the kid, the request waiting passes; the other kid is a 401 at once.
    v.key_fetched("idp", t + 2, 200, &[], rotated_set().as_bytes())
        .unwrap();
    assert_eq!(
        decide_and_wait(&v, Some(&rotated), t + 2),
        ("ok".into(), None)
    );
    assert_eq!(
        decide_and_wait(&v, Some(&unknown), t + 3),
        ("unknown_kid".into(), None)
    );
    assert!(v.due_fetches(t + 3).is_empty());

    // A failed refetch ends the wait: the refusal stands.
    let t = t + 100;
    assert_eq!(decide_and_wait(&v, Some(&unknown), t).1, Some(t + 4));
    assert_eq!(v.due_fetches(t).len(), 1);
    v.key_fetch_failed("idp", t + 1, FailureKind::Status, "status 500")
        .unwrap();
    assert_eq!(
        decide_and_wait(&v, Some(&unknown), t + 1),
        ("unknown_kid".into(), None)
    );
    // (Its retry, 5 s later, brings the keys back on schedule.)
    fetch_answers(&mut v, t + 6, &rotated_set());

    // A refetch never answered: the wait ends with its timeout.
    let t = t + 100;
    assert_eq!(decide_and_wait(&v, Some(&unknown), t).1, Some(t + 4));
    assert_eq!(v.due_fetches(t).len(), 1);
    assert_eq!(decide_and_wait(&v, Some(&unknown), t + 4).1, Some(t + 4));
    assert_eq!(
        decide_and_wait(&v, Some(&unknown), t + 5),
        ("unknown_kid".into(), None)
    );

    // Left to another instance (its lease): the wait goes on until its keys are adopted.
    let (mut a, mut b) = (verifier(config.clone(), None), verifier(config, None));
    fetch_answers(&mut a, now, &jwks("idp"));
    fetch_answers(&mut b, now, &jwks("idp"));
    let t = now + 40;
    let mut store = None;
    assert_eq!(decide_and_wait(&a, Some(&rotated), t).1, Some(t + 4));
    assert_eq!(decide_and_wait(&b, Some(&rotated), t).1, Some(t + 4));
    assert_eq!(a.due_fetches(t).len(), 1);
    assert_eq!(b.due_fetches(t).len(), 1);
    assert!(claim(&mut a, &mut store, "a", t));
    assert!(!claim(&mut b, &mut store, "b", t));
    assert_eq!(
        decide_and_wait(&b, Some(&rotated), t + 1).1,
        Some(t + 4),
        "b waits for a's fetch"
    );
    a.key_fetched("idp", t + 1, 200, &[], rotated_set().as_bytes())
        .unwrap();
    let snapshot = a.key_sources().next().unwrap().1.snapshot().unwrap();
    assert!(matches!(
        b.adopt_keys("idp", t + 1, &snapshot),
        Ok(Event::KeysChanged(_))
    ));
    assert_eq!(
        decide_and_wait(&b, Some(&rotated), t + 1),
        ("ok".into(), None)
    );
    assert_eq!(
        decide_and_wait(&b, Some(&unknown), t + 1),
        ("unknown_kid".into(), None)
    );
}

/// A store shared by instances, as Envoy's shared data is (with
/// compare-and-swap) and the Cache API is not: one lease text per provider.
/// Each instance follows src/lease.rs's protocol; returns whether it fetches.
fn claim(v: &mut Verifier, store: &mut Option<String>, holder: &str, now: i64) -> bool {
    match v
        .claim_fetch_lease("idp", store.as_deref(), holder, now)
        .unwrap()
    {
        Some(lease) => {
            *store = Some(lease.text());
            true
        }
        None => false,
    }
}

fn after(store: &mut Option<String>, event: &Event, holder: &str) {
    match jwtgate::lease::Lease::after(event, holder) {
        jwtgate::lease::LeaseUpdate::Write(lease) => *store = Some(lease.text()),
        jwtgate::lease::LeaseUpdate::Release => *store = None,
        jwtgate::lease::LeaseUpdate::Keep => {}
    }
}

#[test]
fn instances_sharing_a_lease_fetch_once_and_share_a_failed_first_fetch() {
    let (es256, now) = token("valid ES256");
    let config = json!({"uri": "https://idp.example.com/jwks", "jitter_percent": 0,
        "timeout_seconds": 3, "retry_seconds": 10, "max_stale_seconds": 400});
    let (mut a, mut b) = (verifier(config.clone(), None), verifier(config, None));
    let mut store = None;
    // Both find the first fetch due; a claims the lease, b leaves the fetch to a.
    assert_eq!(a.due_fetches(now).len(), 1);
    assert_eq!(b.due_fetches(now).len(), 1);
    assert!(claim(&mut a, &mut store, "a", now));
    assert_eq!(store.as_deref(), Some(format!("{} a", now + 4).as_str()));
    assert!(!claim(&mut b, &mut store, "b", now));
    // b, waiting for its first keys, looks again a second later, not at the lease's end.
    assert!(b.due_fetches(now).is_empty());
    assert_eq!(b.due_fetches(now + 1).len(), 1);
    assert!(!claim(&mut b, &mut store, "b", now + 1));
    let headers = [("authorization".to_string(), format!("Bearer {es256}"))];
    let request = Request {
        method: "GET",
        path: "/",
        headers: &headers,
        case_insensitive: false,
    };
    assert!(b
        .key_wait(b.authorize(&request, now + 1, None).refusal(), now + 1)
        .is_some());
    // a's fetch fails: the lease says so until a's retry ...
    let event = a
        .key_fetch_failed("idp", now + 2, FailureKind::Timeout, "no answer")
        .unwrap();
    after(&mut store, &event, "a");
    assert_eq!(
        store.as_deref(),
        Some(format!("{} a failed:timeout", now + 12).as_str())
    );
    // ... so b's first fetch fails too: its requests stop waiting and get 503.
    assert_eq!(b.due_fetches(now + 2).len(), 1);
    assert!(!claim(&mut b, &mut store, "b", now + 2));
    let decision = b.authorize(&request, now + 2, None);
    assert!(matches!(&decision, Decision::Deny(d) if d.status == 503));
    assert_eq!(b.key_wait(decision.refusal(), now + 2), None);
    // Until a's retry nobody else fetches; a's own retry takes the lease again.
    assert!(b.due_fetches(now + 11).is_empty());
    assert_eq!(a.due_fetches(now + 12).len(), 1);
    assert!(claim(&mut a, &mut store, "a", now + 12));
    let event = a
        .key_fetched("idp", now + 12, 200, &[], jwks("idp").as_bytes())
        .unwrap();
    assert!(matches!(event, Event::KeysChanged(_)));
    after(&mut store, &event, "a");
    assert_eq!(store, None, "a good fetch releases the lease");
    // b adopts a's keys instead of fetching.
    let snapshot = a.key_sources().next().unwrap().1.snapshot().unwrap();
    b.adopt_keys("idp", now + 12, &snapshot).unwrap();
    assert_eq!(code(&b, &es256, now + 12), "ok");
}

#[test]
fn a_lease_held_by_no_one_or_unreadable_is_taken_and_discovery_keeps_it() {
    let now = 1_000;
    let mut idp = fixture("policy.json")["providers"]["idp"].clone();
    idp.as_object_mut().unwrap().remove("jwks");
    idp["discovery"] = json!(true);
    idp["remote_jwks"] = json!({"timeout_seconds": 2});
    let policy = json!({"providers": {"idp": idp}});
    let mut v = Verifier::from_json(&policy.to_string()).unwrap();
    for stored in ["999 other", "garbage", "1000 other", "2000 me"] {
        v.due_fetches(now);
        let lease = v.claim_fetch_lease("idp", Some(stored), "me", now).unwrap();
        assert_eq!(lease.map(|l| l.text()), Some("1003 me".into()), "{stored}");
        v.key_fetch_failed("idp", now, FailureKind::Network, "x")
            .unwrap();
        v = Verifier::from_json(&policy.to_string()).unwrap();
    }
    v.due_fetches(now);
    let doc = br#"{"issuer":"https://idp.example.com","jwks_uri":"https://idp.example.com/jwks"}"#;
    let event = v.key_fetched("idp", now, 200, &[], doc).unwrap();
    assert_eq!(
        jwtgate::lease::Lease::after(&event, "me"),
        jwtgate::lease::LeaseUpdate::Keep
    );
    // Unknown providers are refused, not ignored.
    assert_eq!(
        v.claim_fetch_lease("nobody", None, "me", now)
            .unwrap_err()
            .code(),
        ErrorCode::InvalidConfig
    );
}
