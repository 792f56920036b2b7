//! Property tests: no input makes the core panic (in proxy-wasm a panic
//! kills the VM and every request on that worker with it).

use jwtgate::base64url::encode;
use jwtgate::http::Request;
use jwtgate::verify::VerifyOptions;
use jwtgate::{VerifiedCache, Verifier};
use proptest::prelude::*;

fn verifier() -> Verifier {
    let policy = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tokens/policy.json"
    ))
    .unwrap();
    Verifier::from_json(&policy).unwrap()
}

/// Arbitrary JSON-ish text: real JSON values and near-misses.
fn json_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| format!("{n:?}")),
        "[a-z\"\\\\]{0,8}".prop_map(|s| format!("\"{s}\"")),
        Just("\"none\"".to_string()),
        Just("1e999".to_string()),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("alg"),
                        Just("kid"),
                        Just("crit"),
                        Just("exp"),
                        Just("iss"),
                        Just("aud"),
                        Just("b64"),
                        Just("x")
                    ],
                    inner
                ),
                0..5
            )
            .prop_map(|kv| format!(
                "{{{}}}",
                kv.iter()
                    .map(|(k, v)| format!("\"{k}\":{v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            )),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings(token in ".{0,300}") {
        let v = verifier();
        let _ = v.verify(&token, &VerifyOptions { now: 1_700_000_000, path: Some("/") });
        let _ = v.explain(&token, &VerifyOptions { now: 1_700_000_000, path: None });
        let _ = jwtgate::decode::decode(&token, Some(0));
    }

    #[test]
    fn structured_tokens(header in json_text(), payload in json_text(), sig in prop::collection::vec(any::<u8>(), 0..600), now in any::<i64>()) {
        let token = format!("{}.{}.{}", encode(header.as_bytes()), encode(payload.as_bytes()), encode(&sig));
        let v = verifier();
        let _ = v.verify(&token, &VerifyOptions { now, path: None });
        let _ = jwtgate::decode::decode(&token, Some(now));
        let headers = vec![("authorization".to_string(), format!("Bearer {token}"))];
        let mut cache = VerifiedCache::new(4, 4096);
        let _ = v.authorize(&Request { method: "GET", path: "/admin?access_token=x", headers: &headers, case_insensitive: false }, now, Some(&mut cache));
    }

    #[test]
    fn arbitrary_policies(policy in json_text()) {
        let _ = Verifier::from_json(&policy);
        let _ = Verifier::from_json(&format!("{{\"providers\":{{\"p\":{{\"issuer\":\"i\",\"jwks\":{policy}}}}}}}"));
    }
}
