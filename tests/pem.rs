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

/// Every certificate of the fixtures, as DER: the `CERTIFICATE` PEM keys and
/// the `x5c` chains' certificates.
fn certificates() -> Vec<Vec<u8>> {
    use base64ct::Encoding;
    let all = cases();
    let mut out = Vec::new();
    for case in all["pem_cases"].as_array().unwrap() {
        let text = case["pem_key"]["pem"].as_str().unwrap();
        if text.contains("BEGIN CERTIFICATE") {
            out.push(der::pem::decode_vec(text.trim().as_bytes()).unwrap().1);
        }
    }
    for case in all["x5c_cases"].as_array().unwrap() {
        for cert in case["jwk"]["x5c"].as_array().into_iter().flatten() {
            out.extend(base64ct::Base64::decode_vec(cert.as_str().unwrap()).ok());
        }
    }
    out
}

/// The core reads a certificate only as far as its key (src/pem.rs,
/// `certificate_spki`). Wherever `x509-cert`'s full parse accepts a
/// certificate, the core must give the same outcome as for that parse's
/// `subjectPublicKeyInfo`: the fixtures' certificates, every truncation of
/// them and every one-byte change. (Where it refuses, the core may still
/// read the key: names, dates and extensions are not used.)
#[test]
fn certificates_give_the_key_x509_cert_finds() {
    use der::{Decode, Encode};
    use jwtgate::pem::{key_from_certificate_der, key_from_spki_der};
    let certificates = certificates();
    assert!(
        certificates.len() >= 3,
        "{} certificates",
        certificates.len()
    );
    let (mut compared, mut both_refused) = (0, 0);
    for certificate in &certificates {
        let mut variants: Vec<Vec<u8>> = (0..certificate.len())
            .map(|n| certificate[..n].to_vec())
            .collect();
        for at in 0..certificate.len() {
            for flip in [0x01, 0x80] {
                let mut changed = certificate.clone();
                changed[at] ^= flip;
                variants.push(changed);
            }
        }
        variants.push(certificate.clone());
        for der in variants {
            let ours = key_from_certificate_der(&der);
            match x509_cert::Certificate::from_der(&der) {
                Ok(parsed) => {
                    let spki = parsed
                        .tbs_certificate
                        .subject_public_key_info
                        .to_der()
                        .unwrap();
                    let reference = key_from_spki_der(&spki);
                    match (&ours, &reference) {
                        (Ok(a), Ok(b)) => assert!(a.same_key(b)),
                        (Err(a), Err(b)) => assert_eq!(a.message(), b.message()),
                        _ => panic!("{:?} against {:?}", ours.err(), reference.err()),
                    }
                    compared += 1;
                }
                Err(_) => both_refused += usize::from(ours.is_err()),
            }
        }
    }
    // The whole certificate and the changes inside names and dates parse.
    assert!(compared > certificates.len(), "{compared}");
    assert!(both_refused > 0);
}
