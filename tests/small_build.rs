//! The build without the pure-Rust RSA/ECDSA verifiers (`--no-default-features`,
//! the small filter): what needs them and the host does not handle (PS* with
//! Envoy's host) is refused at load with the field named,
//! the key checks are the same, and an RS*/ES* signature no host checked is
//! refused (`unsupported_alg` if no host takes the alg, `verifier_unavailable`,
//! HTTP 500, if the host takes it and gives no answer), never passed. Run by scripts/test.sh:
//! `cargo test --no-default-features --test small_build`.
#![cfg(not(feature = "rust-rsa-ecdsa"))]

use jwtgate::alg::{verify_signature, Alg, VerifyingKey};
use jwtgate::host::SignatureVerifier;
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

/// Loads `json` and offers it a host like Envoy's (RS* and ES*, no PS*), as
/// the small filter does; the refusal's message.
/// An RSA key (the host self-test's probe key) with `"alg":"PS256"`.
const PS_KEY: &str = r#"{"kty":"RSA","kid":"e","alg":"PS256","e":"AQAB","n":"tXcT3vaW_hz_SgXJuo9sqSfpULgDw63ETk-ot2k-FK10e9ThJdQLnOkst8sKQcpqqwXPal8p-_xTCU7p3hWPWWB-W5_4wJmAg6CRy2-8S7nQ-pBYal6fU0vRIrbM72hI-DHx42_zJkwT1m0d9y7rbAVZty-sViSTN3J2tfV_PJr9d8C2K0rsmkf_tze_rVo3rAoPjyKdXMN79q4S-1i_l3coZYv1bN7N8PCvfKSugv_SLlMsvtDP56-JYfQ5zmA-WV8sQbG0zO9fDKW19zPDUityyRYZM35k7Hb_Zxh1wfSsfG03zk_tM2chaRqD-vEnyS9sGpT8c5GtX1jgYF09Gw"}"#;

fn refusal(json: &str) -> String {
    let e = Verifier::from_json(json)
        .and_then(|mut v| {
            v.offer_host_crypto(Box::new(EnvoyLike::default()))
                .map(|_| ())
        })
        .expect_err("the policy must be refused");
    assert_eq!(e.code(), ErrorCode::InvalidConfig, "{}", e.message());
    e.message().to_string()
}

/// A host that handles what Envoy's `verify_signature` does (RS*, ES*) and
/// answers the self-test's probes by their known signatures (this build has
/// no pure-Rust RSA/ECDSA to compute an answer with).
#[derive(Default)]
struct EnvoyLike {
    keys: Vec<VerifyingKey>,
}
impl SignatureVerifier for EnvoyLike {
    fn prepare(&mut self, key: &VerifyingKey) -> Option<u32> {
        key.spki_der()?;
        self.keys.push(key.clone());
        Some(self.keys.len() as u32 - 1)
    }
    fn verify(&self, alg: Alg, handle: u32, input: &[u8], sig: &[u8]) -> Option<bool> {
        let key = self.keys.get(handle as usize)?;
        let probe = jwtgate::host::probes()
            .into_iter()
            .find(|p| p.alg == alg && p.key.spki_der() == key.spki_der() && p.message == input)?;
        Some(probe.good == sig)
    }
    fn handles(&self, alg: Alg) -> bool {
        !matches!(alg, Alg::PS256 | Alg::PS384 | Alg::PS512)
    }
    fn name(&self) -> &'static str {
        "envoy-like"
    }
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
    let m = refusal(&policy(PS_KEY, "", ""));
    assert!(
        m.contains("PS256 (RSASSA-PSS) has no verifier in this build"),
        "{m}"
    );
    // The rest loads, with that host and without one (a PS* policy too:
    // with no host, what it would need is refused per token, as below).
    let mut v = Verifier::from_json(&policy(
        EC_JWK,
        r#""algorithms":["RS256","ES256","EdDSA"],"#,
        "",
    ))
    .unwrap();
    assert_eq!(
        v.offer_host_crypto(Box::new(EnvoyLike::default())).unwrap(),
        "envoy-like"
    );
    Verifier::from_json(&policy(PS_KEY, r#""algorithms":["PS256"],"#, "")).unwrap();
}

/// A host that handles every algorithm (as node:crypto does).
struct Everything(EnvoyLike);
impl SignatureVerifier for Everything {
    fn prepare(&mut self, key: &VerifyingKey) -> Option<u32> {
        self.0.prepare(key)
    }
    fn verify(&self, alg: Alg, handle: u32, input: &[u8], sig: &[u8]) -> Option<bool> {
        self.0.verify(alg, handle, input, sig)
    }
    fn handles(&self, _: Alg) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "everything"
    }
}

#[test]
fn ps_loads_when_the_host_handles_it() {
    for json in [
        policy(EC_JWK, r#""algorithms":["RS256","PS384"],"#, ""),
        policy(PS_KEY, "", ""),
    ] {
        let mut v = Verifier::from_json(&json).unwrap();
        let host = Everything(EnvoyLike::default());
        assert_eq!(v.offer_host_crypto(Box::new(host)).unwrap(), "everything");
    }
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
    fn handles(&self, _: Alg) -> bool {
        true
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

#[test]
fn a_host_that_gives_no_answer_is_a_500_not_a_401() {
    // EnvoyLike answers only the probes: for any other key it gives no
    // answer, as Envoy's crypto does when it cannot use a key.
    // RFC 7515 Appendix A.3's ES256 JWS, with its P-256 key.
    let token = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
    let json =
        policy(EC_JWK, "", r#""signature_verifier":"host","#).replace("https://idp.example", "joe");
    let mut v = Verifier::from_json(&json).unwrap();
    assert_eq!(
        v.offer_host_crypto(Box::new(EnvoyLike::default())),
        Ok("envoy-like")
    );
    let now = 1_300_819_000;
    let e = v
        .verify(token, &VerifyOptions { now, path: None })
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::VerifierUnavailable, "{e}");
    assert!(
        e.message()
            .contains("the host crypto (envoy-like) gave no answer for this ES256 signature"),
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
