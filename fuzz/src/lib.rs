//! The bodies of jwtgate's fuzz targets, one per parser entry point.
//!
//! The libFuzzer binaries in `fuzz/fuzz_targets/` call these; the root crate's
//! `tests/regressions.rs` includes this file and replays `fuzz/seeds/` and any
//! `fuzz/artifacts/` through the same functions on stable Rust, so every seed
//! and every crash found stays a test.
//!
//! Besides "never panics", each target checks properties that must hold for
//! any input (a failed `assert!` is a crash to libFuzzer):
//!
//! - `token`: `verify` and `explain` give the same verdict and error code; a
//!   verified token parses, and its header passes [`Header::from_json`].
//! - `jwks`: without `allow_symmetric` no `oct` key loads; every key returned
//!   by `select` allows the algorithm and has the `kid` asked for or none (and
//!   then at most `max_keys_without_kid` are returned).
//! - `policy`: a policy that loads can verify and authorize without panicking;
//!   a policy whose JSON does not fit the types gets the field path that
//!   `serde_path_to_error` tracks through them (the core names it from
//!   serde_json's error position, `json::path_at`); malformed JSON gets
//!   serde_json's own error (line and column); each provider of a policy that
//!   is JSON, and the whole input, read as a provider give what serde's
//!   derive gives ([`derived`]).
//! - `authorize`: the decision is the same without a cache, on a cache miss
//!   and on a cache hit.
//! - `path`: a canonical target is a fixed point (canonicalizing it again
//!   changes nothing) and has no dot segment, empty segment, backslash or
//!   encoded `/`, `\` or `%`; the fixture policy picks the same rule for the
//!   target and for its canonical form.
//! - `claim_path`: a parsed path has member names, none empty; it
//!   round-trips through them and finds a claim nested along them.
//! - `pem`: a key read from PEM, SPKI DER or a certificate re-encodes to an
//!   SPKI that reads back as the same key.
//! - `key_source`: any answer to a fetch (status, `Cache-Control`, body; a
//!   discovery document or a JWKS) leaves the key source consistent: at most
//!   one fetch in flight, keys only when ready, a schedule in the future.
//! - `sidecar_request`, `sidecar_cli` (feature `sidecar`, on by default in
//!   the fuzz crate): see [`sidecar`].

use jwtgate::cache::VerifiedCache;
use jwtgate::claims::{lookup, ClaimPath};
use jwtgate::http::{Decision, Request};
use jwtgate::jws::{Header, UntrustedJws};
use jwtgate::path::RequestTarget;
use jwtgate::policy::Limits;
use jwtgate::verify::VerifyOptions;
use jwtgate::{Alg, ErrorCode, KeySet, KeySetOptions, Verifier};

pub mod derived;
#[cfg(feature = "sidecar")]
pub mod sidecar;

/// The fixture policy (three providers, path rules, a deny list).
pub const POLICY: &str = include_str!("../../tests/fixtures/tokens/policy.json");

/// The time every target verifies at: `now` of `tests/fixtures/tokens/cases.json`,
/// so the fixture tokens in the seeds reach the claim checks.
pub const NOW: i64 = 1_700_000_000;

/// A valid RS256 token of the fixture (`cases.json`, "valid RS256").
const VALID_RS256: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYSIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlLmNvbSIsImF1ZCI6Im9yZGVycy1hcGkiLCJzdWIiOiJhbGljZSIsImlhdCI6MTY5OTk5OTk5MCwiZXhwIjoxNzAwMDAwNjAwfQ.QgqrKp0KcdygWXaOJ35w-75_hEhU9V12GlVuJ8wc0cnwlICyRBhGWwjzo0u4SuMmrTgZVwhm22T0yUo5oEvrUgNfJGYa7_pU79yPiNnxQQHkvLr6iM2Al8wDrv_UxLaGE3-10njCmjfeHs2fcbpCxqs0frtzgSlcg-Atdswyag2jMR34sl5Op2tfdZPYFiHC6GyMYEdxxAsypHZWfAkYMAS8kvk34bvy58a2getgervVsdLUd8-Ymgk8DRemFkYEiPPwbJ9vnM19xVDhuj2XOVd-raUi0jKEhIeiIRZxjyTO_0lGF2UBtt9pTUDaDY0UC3N47_818UN2lkqYm2VFNA";

/// No path (every provider), and paths that select the `idp` rule with its
/// claim rules and the `hmac` rule of the fixture policy.
const PATHS: [Option<&str>; 3] = [None, Some("/admin/x"), Some("/hmac")];

thread_local! {
    // A `Verifier` may hold a host signature verifier that is not `Sync`:
    // one per thread (libFuzzer runs one).
    static VERIFIER: Verifier = Verifier::from_json(POLICY).expect("the fixture policy loads");
}

/// Runs `f` with the fixture policy, loaded once per thread.
pub fn with_verifier<R>(f: impl FnOnce(&Verifier) -> R) -> R {
    VERIFIER.with(f)
}

/// `token`: the token parser, the header rules, `verify`, `explain` and `decode`.
pub fn token(data: &[u8]) {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = UntrustedJws::parse(token, &Limits::default());
    let header_ok = match &parsed {
        Ok(jws) => Header::from_json(&jws.header).is_ok(),
        Err(_) => false,
    };
    with_verifier(|verifier| check_token(verifier, token, parsed.is_ok() && header_ok));
    let _ = jwtgate::decode::decode(token, Some(NOW));
    let _ = jwtgate::decode::decode(token, None);
}

fn check_token(verifier: &Verifier, token: &str, parses: bool) {
    for path in PATHS {
        let options = VerifyOptions { now: NOW, path };
        let verified = verifier.verify(token, &options);
        let explained = verifier.explain(token, &options);
        match &verified {
            Ok(v) => {
                assert!(
                    explained.ok,
                    "verify accepted, explain refused: {explained:?}"
                );
                assert_eq!(explained.provider.as_deref(), Some(v.provider.as_str()));
                assert!(parses, "accepted a token that does not parse");
            }
            Err(e) => {
                assert!(!explained.ok, "verify refused ({e}), explain accepted");
                let code = explained.error.as_ref().map(|e| e.code());
                assert_eq!(code, Some(e.code()), "verify and explain disagree");
            }
        }
    }
}

/// `jwks`: the key-set loader and key selection.
pub fn jwks(data: &[u8]) {
    let Ok(json) = std::str::from_utf8(data) else {
        return;
    };
    for allow_symmetric in [false, true] {
        let options = KeySetOptions {
            allow_symmetric,
            ..KeySetOptions::default()
        };
        let Ok(set) = KeySet::from_json(json, &options) else {
            continue;
        };
        assert!(!set.keys().is_empty(), "a loaded key set has no key");
        assert!(set.keys().len() + set.problems().len() <= options.max_keys);
        if !allow_symmetric {
            assert!(
                set.keys().iter().all(|k| k.key().kind() != "oct"),
                "an oct key loaded without allow_symmetric"
            );
        }
        for &alg in Alg::ALL {
            let kids = set.keys().iter().map(|k| k.kid());
            for kid in std::iter::once(None).chain(kids) {
                if let Ok(candidates) = set.select(alg, kid) {
                    assert!(!candidates.is_empty(), "select returned no key");
                    let candidates_len = candidates.len();
                    for key in candidates {
                        assert!(
                            key.allows(alg),
                            "select returned a key that does not allow {alg}"
                        );
                        // A kid picks the keys with that kid or, when none
                        // has it, keys without a kid; never another kid.
                        if kid.is_some() && key.kid().is_some() {
                            assert_eq!(key.kid(), kid, "select returned a key with another kid");
                        }
                        assert!(
                            candidates_len <= options.max_keys_without_kid
                                || kid.is_some_and(|k| key.kid() == Some(k)),
                            "more keys tried than max_keys_without_kid without a kid naming them"
                        );
                    }
                }
            }
        }
    }
}

/// `policy`: the policy loader; a policy that loads is then used once.
pub fn policy(data: &[u8]) {
    let Ok(json) = std::str::from_utf8(data) else {
        return;
    };
    derived::same_provider(json).unwrap();
    if let Ok(serde_json::Value::Object(policy)) = serde_json::from_str(json) {
        if let Some(serde_json::Value::Object(providers)) = policy.get("providers") {
            for provider in providers.values() {
                derived::same_provider(&provider.to_string()).unwrap();
            }
        }
    }
    let loaded = Verifier::from_json(json);
    if let Some(want) = json_stage_error(json) {
        let got = loaded
            .as_ref()
            .err()
            .map(|e| e.message())
            .unwrap_or("(loaded)");
        if want.data {
            assert_eq!(got, want.message, "the field path of a config error");
        } else {
            assert!(
                got.ends_with(&format!(": {}", want.error)),
                "{got} for {}",
                want.message
            );
        }
    }
    let Ok(verifier) = loaded else {
        return;
    };
    let options = VerifyOptions {
        now: NOW,
        path: Some("/admin"),
    };
    let _ = verifier.verify(VALID_RS256, &options);
    let headers = vec![("authorization".to_owned(), format!("Bearer {VALID_RS256}"))];
    let request = Request {
        method: "GET",
        path: "/admin?x=1",
        headers: &headers,
        case_insensitive: false,
    };
    let _ = verifier.authorize(&request, NOW, None);
}

/// A policy's JSON-stage error as the types' own path gives it
/// (serde_path_to_error, with the two differences noted in
/// [`json_stage_error`]), or `None` when that stage accepts the policy.
pub struct JsonStageError {
    /// The message `Policy::from_json` gives: `path: serde_json's error`.
    pub message: String,
    /// serde_json's error alone.
    pub error: String,
    /// The JSON is well formed but does not fit the policy's types (a wrong
    /// type, an unknown or missing field): the path must be the same.
    /// Otherwise (malformed JSON) the line and column say where.
    pub data: bool,
}

/// See [`JsonStageError`].
pub fn json_stage_error(json: &str) -> Option<JsonStageError> {
    let de = &mut serde_json::Deserializer::from_str(json);
    let (segments, error) =
        match serde_path_to_error::deserialize::<_, jwtgate::policy::Policy>(&mut *de) {
            Ok(_) => (Vec::new(), de.end().err()?),
            Err(e) => (e.path().iter().cloned().collect(), e.into_inner()),
        };
    let data = error.classify() == serde_json::error::Category::Data;
    let error = error.to_string();
    // The path as serde_path_to_error writes it, except: where it has `?` (a
    // member name it could not read), the core names the object around it;
    // and the core names a duplicate member, as it does an unknown one (for
    // serde_json both stop at the name).
    use serde_path_to_error::Segment;
    let mut segments: Vec<Segment> = segments
        .into_iter()
        .filter(|s| !matches!(s, Segment::Unknown))
        .collect();
    if let Some(name) = error
        .strip_prefix("duplicate field `")
        .and_then(|e| e.split('`').next())
    {
        segments.push(Segment::Map {
            key: name.to_string(),
        });
    }
    let mut path = String::new();
    for (i, segment) in segments.iter().enumerate() {
        if i > 0 && !matches!(segment, Segment::Seq { .. }) {
            path.push('.');
        }
        path.push_str(&segment.to_string());
    }
    if segments.is_empty() {
        path.push('.');
    }
    let message = if path == "." {
        format!("policy: {error}")
    } else {
        format!("{path}: {error}")
    };
    Some(JsonStageError {
        message,
        error,
        data,
    })
}

/// `authorize`: the HTTP decision on an arbitrary request. The input is text:
/// the first line is `METHOD PATH` (or just a path), each further line a
/// header `name: value` (a line without `:` is a header with an empty value).
pub fn authorize(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let first = lines.next().unwrap_or_default();
    let (method, path) = first.split_once(' ').unwrap_or(("GET", first));
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap_or((line, ""));
            (name.to_owned(), value.trim_start().to_owned())
        })
        .collect();
    let request = Request {
        method,
        path,
        headers: &headers,
        case_insensitive: false,
    };
    with_verifier(|verifier| {
        let plain = summary(&verifier.authorize(&request, NOW, None));
        let mut cache = VerifiedCache::new(16, 64 * 1024);
        let miss = summary(&verifier.authorize(&request, NOW, Some(&mut cache)));
        let hit = summary(&verifier.authorize(&request, NOW, Some(&mut cache)));
        assert_eq!(plain, miss, "a cache miss changed the decision");
        assert_eq!(plain, hit, "a cache hit changed the decision");
    });
}

/// `pem`: the PEM, SPKI and certificate readers (the input as text and as DER).
pub fn pem(data: &[u8]) {
    use jwtgate::pem::{key_from_certificate_der, key_from_pem, key_from_spki_der};
    let mut keys = Vec::new();
    if let Ok(text) = std::str::from_utf8(data) {
        keys.extend(key_from_pem(text).ok());
        let x5c = serde_json::Value::Array(vec![serde_json::Value::String(text.to_owned())]);
        if let Some(key) = keys.first() {
            let _ = jwtgate::pem::check_x5c(&x5c, key);
        }
    }
    keys.extend(key_from_spki_der(data).ok());
    let certified = key_from_certificate_der(data);
    // The core reads a certificate only as far as its key: wherever
    // x509-cert's full parse accepts it, the outcome is that of its key.
    if let Ok(parsed) = <x509_cert::Certificate as der::Decode>::from_der(data) {
        let spki = der::Encode::to_der(&parsed.tbs_certificate.subject_public_key_info)
            .expect("a parsed key encodes");
        match (&certified, &key_from_spki_der(&spki)) {
            (Ok(a), Ok(b)) => assert!(a.same_key(b), "another key than x509-cert's"),
            (Err(a), Err(b)) => assert_eq!(a.message(), b.message()),
            (a, b) => panic!(
                "{:?} against x509-cert's {:?}",
                a.as_ref().err(),
                b.as_ref().err()
            ),
        }
    }
    keys.extend(certified.ok());
    for key in keys {
        if let Some(der) = key.spki_der() {
            let again = key_from_spki_der(&der).expect("our own SPKI reads back");
            assert!(again.same_key(&key), "the SPKI round trip changed the key");
        }
    }
}

/// `key_source`: answers to a discovery and a JWKS fetch. The input is text:
/// the first line is `STATUS CACHE-CONTROL`, the rest the body; the same
/// answer goes to the discovery fetch, then (if asked for) to the JWKS fetch.
/// The first line is also read as a fetch lease ([`jwtgate::lease`]), which
/// must read back what it writes.
pub fn key_source(data: &[u8]) {
    use jwtgate::keys::{KeySource, Readiness, RemoteJwks, Url};
    let (first, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let first = String::from_utf8_lossy(first);
    let (status, cache_control) = first.split_once(' ').unwrap_or((&first, ""));
    let status: u16 = status.parse().unwrap_or(200);
    let headers = vec![("cache-control".to_owned(), cache_control.to_owned())];
    let _ = Url::parse(cache_control, true);
    let _ = jwtgate::keys::max_age(cache_control);
    if let Some(lease) = jwtgate::lease::Lease::parse(&first) {
        let again = jwtgate::lease::Lease::parse(&lease.text());
        assert_eq!(again, Some(lease), "a lease reads back what it wrote");
    }
    let config = RemoteJwks::default();
    let mut source = KeySource::new(
        &config,
        Some("https://idp.example.com"),
        KeySetOptions::default(),
        7,
    )
    .expect("a valid configuration");
    for now in NOW..NOW + 3 {
        if source.next_fetch(now).is_some() {
            assert!(source.next_fetch(now).is_none(), "two fetches in flight");
            let _ = source.fetched(now, status, &headers, body);
        }
        match source.readiness(now) {
            Readiness::Ready => assert!(source.key_set().is_some(), "ready without keys"),
            _ => assert!(source.valid_until().is_none_or(|until| now > until)),
        }
        assert!(source.wake_at() >= now, "a schedule in the past");
    }
}

/// What a decision does, for comparisons: allowed (with its reason and header
/// edits) or denied (with its status and error code).
#[derive(Debug, PartialEq)]
enum Summary {
    Allow {
        reason: &'static str,
        remove: Vec<String>,
        set: Vec<(String, String)>,
        path: Option<String>,
    },
    Deny {
        status: u16,
        code: ErrorCode,
    },
}

fn summary(decision: &Decision) -> Summary {
    match decision {
        Decision::Allow(a) => Summary::Allow {
            reason: a.reason,
            remove: a.remove_headers.clone(),
            set: a.set_headers.clone(),
            path: a.set_path.clone(),
        },
        Decision::Deny(d) => Summary::Deny {
            status: d.status,
            code: d.error.code(),
        },
    }
}

/// `path`: the request-target parser and canonical form.
pub fn path(data: &[u8]) {
    let Ok(target) = std::str::from_utf8(data) else {
        return;
    };
    for merge in [true, false] {
        let Ok(parsed) = RequestTarget::parse(target, merge) else {
            continue;
        };
        let canonical = parsed.origin_form();
        let again = RequestTarget::parse(&canonical, merge).expect("a canonical target parses");
        assert_eq!(
            again.origin_form(),
            canonical,
            "canonicalizing twice changed it"
        );
        let path = parsed.path();
        assert!(path.starts_with('/'));
        assert!(!path.contains("//") && !path.contains('\\'), "{path}");
        assert!(
            path.split('/').all(|s| s != "." && s != ".."),
            "dot segment left in {path}"
        );
        let upper = path.to_ascii_uppercase();
        assert!(
            !["%2F", "%5C", "%25"].iter().any(|e| upper.contains(e)),
            "{path}"
        );
    }
    with_verifier(|verifier| {
        if let Ok(parsed) = RequestTarget::parse(target, true) {
            let raw = verifier
                .rule_for("GET", target)
                .expect("it parsed")
                .map(|r| r as *const _);
            let canonical = verifier
                .rule_for("GET", &parsed.origin_form())
                .expect("canonical parses")
                .map(|r| r as *const _);
            assert_eq!(raw, canonical, "the rule depends on the spelling");
        }
    });
}

/// `claim_path`: the claim-path parser (`claim_rules[].claim`,
/// `claim_to_headers[].claim`, `required_claims[]`). The input is JSON; when
/// it is a path, it has at least one member name and none is empty, it
/// round-trips through its segments, and it finds a claim nested along them.
pub fn claim_path(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(path) = ClaimPath::from_value(&value) else {
        return;
    };
    let segments = path.segments();
    assert!(!segments.is_empty(), "a path without member names");
    assert!(
        segments.iter().all(|s| !s.is_empty()),
        "an empty member name"
    );
    match &value {
        serde_json::Value::String(text) => {
            assert_eq!(&segments.join("."), text, "a dotted path lost text")
        }
        _ => {
            let again = serde_json::Value::from(segments.to_vec());
            assert_eq!(ClaimPath::from_value(&again).as_ref(), Ok(&path));
        }
    }
    let mut nested = serde_json::json!(1);
    for member in segments.iter().rev() {
        nested = serde_json::json!({ member: nested });
    }
    let claims = nested.as_object().expect("an object").clone();
    assert_eq!(lookup(&claims, &path), Some(&serde_json::json!(1)));
    let _ = path.to_string();
}
