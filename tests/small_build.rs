//! The build without the pure-Rust RSA/ECDSA verifiers (`--no-default-features`,
//! the small filter): what needs them is refused at load with the field named,
//! the key checks are the same, and an RS*/ES* signature no host checked is
//! refused (`unsupported_alg` if no host takes the alg, `verifier_unavailable`,
//! HTTP 500, if the host takes it and gives no answer), never passed. Run by scripts/test.sh:
//! `cargo test --no-default-features --test small_build`.
#![cfg(not(feature = "rust-rsa-ecdsa"))]

use std::cell::RefCell;

use jwtgate::alg::{verify_signature, Alg, HostKey, VerifyingKey};
use jwtgate::host::{probes, SignatureVerifier};
use jwtgate::http::{Decision, Request};
use jwtgate::verify::VerifyOptions;
use jwtgate::{ErrorCode, Verifier};

/// A policy with one provider holding `jwk`, and `extra` top-level fields.
fn policy(jwk: &str, provider_extra: &str, extra: &str) -> String {
    format!(
        r#"{{{extra}"providers":{{"idp":{{"issuer":"https://idp.example",{provider_extra}"jwks":{{"keys":[{jwk}]}}}}}},"rules":[{{"prefix":"/","requires":"idp"}}]}}"#
    )
}

// RFC 7515 Appendix A.3's P-256 key.
const EC_JWK: &str = r#"{"kty":"EC","crv":"P-256","kid":"e","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;

fn refusal(json: &str) -> String {
    let e = Verifier::from_json(json).expect_err("the policy must be refused");
    assert_eq!(e.code(), ErrorCode::InvalidConfig, "{}", e.message());
    e.message().to_string()
}

#[test]
fn a_policy_that_needs_pure_rust_is_refused_with_the_field_named() {
    let m = refusal(&policy(EC_JWK, "", r#""signature_verifier":"rust","#));
    assert!(
        m.starts_with("signature_verifier: \"rust\" needs the pure-Rust RSA/ECDSA verifiers"),
        "{m}"
    );
    assert!(m.contains("jwtgate_filter_full.wasm"), "{m}");
    let m = refusal(&policy(EC_JWK, r#""algorithms":["RS256","PS384"],"#, ""));
    assert!(
        m.starts_with(
            "providers.idp.algorithms[1]: PS384 (RSASSA-PSS) has no verifier in this build"
        ),
        "{m}"
    );
    assert!(m.contains("jwtgate_filter_full.wasm"), "{m}");
    let ps_key = EC_JWK.replace(r#""kid":"e""#, r#""kid":"e","alg":"PS256""#);
    let m = refusal(&policy(&ps_key, "", ""));
    assert!(
        m.contains("PS256 (RSASSA-PSS) has no verifier in this build"),
        "{m}"
    );
    // The rest loads.
    Verifier::from_json(&policy(
        EC_JWK,
        r#""algorithms":["RS256","ES256","EdDSA"],"#,
        "",
    ))
    .unwrap();
}

/// A host that fails the self-test (says no to everything).
struct No;
impl SignatureVerifier for No {
    fn prepare(&mut self, _: &VerifyingKey) -> Option<u32> {
        Some(0)
    }
    fn verify(&self, _: Alg, _: u32, _: &[u8], _: &[u8]) -> Option<bool> {
        Some(false)
    }
    fn name(&self) -> &'static str {
        "no"
    }
}

#[test]
fn a_host_failing_its_self_test_is_refused_even_under_auto() {
    let mut v = Verifier::from_json(&policy(EC_JWK, "", "")).unwrap();
    let e = v.offer_host_crypto(Box::new(No)).unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidConfig);
    assert!(
        e.message()
            .starts_with("signature_verifier: the host crypto (no) failed its self-test"),
        "{}",
        e.message()
    );
    assert!(
        e.message()
            .contains("no pure-Rust RSA/ECDSA to fall back to"),
        "{}",
        e.message()
    );
}

#[test]
fn key_checks_are_unchanged_and_unchecked_signatures_are_refused() {
    // Off the curve: the P-256 point with y + 1.
    let x = jwtgate::base64url::decode("f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU").unwrap();
    let mut y = jwtgate::base64url::decode("x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0").unwrap();
    let key = VerifyingKey::ec("P-256", &x, &y).unwrap();
    *y.last_mut().unwrap() ^= 1;
    let e = VerifyingKey::ec("P-256", &x, &y).unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidKey);
    assert_eq!(e.message(), "the point (x, y) is not on the P-256 curve");
    // RSA: size, parity and exponent, on the bytes.
    let mut n = vec![0xab_u8; 256];
    n[0] = 0xc3;
    n[255] |= 1;
    assert!(VerifyingKey::rsa(&n[1..], &[1, 0, 1])
        .unwrap_err()
        .message()
        .contains("2040 bits"));
    assert!(VerifyingKey::rsa(&n, &[2])
        .unwrap_err()
        .message()
        .contains("exponent"));
    let rsa = VerifyingKey::rsa(&n, &[1, 0, 1]).unwrap();
    // With no host, pure Rust cannot check RS*/ES*/PS*: refused, never passed.
    let e = verify_signature(Alg::ES256, &key, b"a.b", &[1; 64]).unwrap_err();
    assert_eq!(e.code(), ErrorCode::UnsupportedAlg);
    assert!(
        e.message().contains("no pure-Rust ES256 verifier"),
        "{}",
        e.message()
    );
    let e = verify_signature(Alg::PS256, &rsa, b"a.b", &[1; 256]).unwrap_err();
    assert_eq!(e.code(), ErrorCode::UnsupportedAlg);
    // The other checks still come first.
    let e = verify_signature(Alg::ES256, &rsa, b"a.b", &[1; 64]).unwrap_err();
    assert_eq!(e.code(), ErrorCode::KeyMismatch);
}

/// A host that knows the answers to the self-test's probes and gives no
/// answer for any other key: what Envoy's crypto does when it cannot use a
/// key (an error instead of a yes or no).
#[derive(Default)]
struct ProbesOnly {
    keys: RefCell<Vec<VerifyingKey>>,
}
impl SignatureVerifier for ProbesOnly {
    fn prepare(&mut self, key: &VerifyingKey) -> Option<u32> {
        let mut keys = self.keys.borrow_mut();
        keys.push(key.clone());
        u32::try_from(keys.len() - 1).ok()
    }
    fn verify(&self, alg: Alg, handle: u32, input: &[u8], sig: &[u8]) -> Option<bool> {
        let keys = self.keys.borrow();
        let key = keys.get(handle as usize)?;
        let probe = probes()
            .into_iter()
            .find(|p| p.alg == alg && p.message == input && same_key(&p.key, key))?;
        Some(sig == probe.good.as_slice())
    }
    fn name(&self) -> &'static str {
        "probes-only"
    }
}

fn same_key(a: &VerifyingKey, b: &VerifyingKey) -> bool {
    match (a.host_key(), b.host_key()) {
        (Some(HostKey::Public(a)), Some(HostKey::Public(b))) => a == b,
        (Some(HostKey::Secret(a)), Some(HostKey::Secret(b))) => a == b,
        _ => false,
    }
}

#[test]
fn a_host_that_gives_no_answer_is_a_500_not_a_401() {
    // RFC 7515 Appendix A.3's ES256 JWS, with its P-256 key.
    let token = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
    let json =
        policy(EC_JWK, "", r#""signature_verifier":"host","#).replace("https://idp.example", "joe");
    let mut v = Verifier::from_json(&json).unwrap();
    assert_eq!(
        v.offer_host_crypto(Box::new(ProbesOnly::default())),
        Ok("probes-only")
    );
    let now = 1_300_819_000;
    let e = v
        .verify(token, &VerifyOptions { now, path: None })
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::VerifierUnavailable, "{e}");
    assert!(
        e.message()
            .contains("the host crypto (probes-only) gave no answer for this ES256 signature"),
        "{e}"
    );
    let headers = [("authorization".to_string(), format!("Bearer {token}"))];
    let request = Request {
        method: "GET",
        path: "/",
        headers: &headers,
        case_insensitive: false,
    };
    let Decision::Deny(deny) = v.authorize(&request, now, None) else {
        panic!("a signature nobody checked must not pass")
    };
    assert_eq!(deny.status, 500);
    assert!(
        deny.headers
            .iter()
            .all(|(name, _)| name != "www-authenticate"),
        "{:?}",
        deny.headers
    );
    let body: serde_json::Value = serde_json::from_str(&deny.body).unwrap();
    assert_eq!(body["error"], "verifier_unavailable");
    // A forged signature gets the same refusal: a host that cannot answer
    // never turns a forgery into a pass.
    let forged = token.replace(".DtEhU3", ".EtEhU3");
    let e = v
        .verify(&forged, &VerifyOptions { now, path: None })
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::VerifierUnavailable, "{e}");
}
