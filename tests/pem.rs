//! PEM public keys, X.509 certificates and JWKs with `x5c`, against keys,
//! certificates and tokens made by Python `cryptography` and PyJWT
//! (`tests/fixtures/pem/gen_pem.py`), with verdicts written by hand there.

use std::fs;
use std::path::Path;

use jwtgate::verify::VerifyOptions;
use jwtgate::Verifier;
use serde_json::{json, Value};

fn cases() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pem/cases.json");
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

fn provider(keys: Value, algorithms: &Value) -> Value {
    let mut p = json!({"issuer": "https://idp.example.com"});
    let object = p.as_object_mut().unwrap();
    for (k, v) in keys.as_object().unwrap() {
        object.insert(k.clone(), v.clone());
    }
    if !algorithms.is_null() {
        object.insert("algorithms".into(), algorithms.clone());
    }
    json!({"providers": {"idp": p}})
}

fn verdict(policy: &Value, case: &Value) -> String {
    let v = match Verifier::from_json(&policy.to_string()) {
        Ok(v) => v,
        Err(e) => return e.code().as_str().to_string(),
    };
    let options = VerifyOptions {
        now: case["now"].as_i64().unwrap(),
        path: None,
    };
    match v.verify(case["token"].as_str().unwrap(), &options) {
        Ok(_) => "ok".into(),
        Err(e) => e.code().as_str().into(),
    }
}

#[test]
fn pem_keys_verify_pyjwt_tokens() {
    let mut failures = Vec::new();
    let all = cases();
    for case in all["pem_cases"].as_array().unwrap() {
        let policy = provider(
            json!({"pem_keys": [case["pem_key"].clone()]}),
            &case["algorithms"],
        );
        let got = verdict(&policy, case);
        if got != case["expect"] {
            failures.push(format!(
                "{}: expected {}, got {got}",
                case["name"], case["expect"]
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn pem_key_errors_name_the_field() {
    for case in cases()["pem_errors"].as_array().unwrap() {
        let policy = provider(json!({"pem_keys": [case["pem_key"].clone()]}), &Value::Null);
        let e = Verifier::from_json(&policy.to_string()).unwrap_err();
        assert_eq!(e.code().as_str(), "invalid_config");
        let want = case["message"].as_str().unwrap();
        assert!(e.message().starts_with(want), "{}: {e}", case["name"]);
    }
}

#[test]
fn jwks_with_x5c() {
    let mut failures = Vec::new();
    for case in cases()["x5c_cases"].as_array().unwrap() {
        let policy = provider(
            json!({"jwks": {"keys": [case["jwk"].clone()]}}),
            &Value::Null,
        );
        let got = verdict(&policy, case);
        if got != case["expect"] {
            failures.push(format!(
                "{}: expected {}, got {got}",
                case["name"], case["expect"]
            ));
        }
        if let Some(why) = case["why"].as_str() {
            let e = Verifier::from_json(&policy.to_string()).unwrap_err();
            assert!(e.message().contains(why), "{}: {e}", case["name"]);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn pem_and_jwks_keys_combine() {
    let all = cases();
    let pem = &all["pem_cases"][0];
    let x5c = &all["x5c_cases"][1];
    let policy = provider(
        json!({"pem_keys": [pem["pem_key"].clone()], "jwks": {"keys": [x5c["jwk"].clone()]}}),
        &Value::Null,
    );
    assert_eq!(verdict(&policy, pem), "ok");
    assert_eq!(verdict(&policy, x5c), "ok");
}
