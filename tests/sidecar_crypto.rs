//! AWS-LC (the sidecar's native signature checks) against the pure-Rust
//! reference: every Wycheproof RSA PKCS#1, RSA-PSS and ECDSA P-256, P-384
//! and P-521 vector, and the PyJWT-minted attack suite through whole verifiers.
//! The verdicts must be identical, vector by vector.
#![cfg(feature = "sidecar")]

mod common;

use jwtgate::alg::{check_format, verify_signature, Alg, VerifyingKey};
use jwtgate::host::SignatureVerifier;
use jwtgate::sidecar::crypto::AwsLcCrypto;
use jwtgate::sidecar::state;
use jwtgate::verify::VerifyOptions;
use jwtgate::{base64url, Verifier};
use serde_json::Value;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn b64(v: &Value) -> Vec<u8> {
    base64url::decode(v.as_str().expect("a string")).expect("base64url")
}

/// Runs one file through both; returns how many vectors AWS-LC answered.
fn differential(file: &str, alg: Alg, key: impl Fn(&Value) -> Option<VerifyingKey>) -> usize {
    let doc = common::load_wycheproof(file);
    let mut answered = 0;
    let mut disagreements = Vec::new();
    for group in doc["testGroups"].as_array().expect("testGroups") {
        let Some(key) = key(group) else { continue };
        let mut native = AwsLcCrypto::new();
        let handle = native
            .prepare(&key)
            .expect("AWS-LC prepares RSA, P-256, P-384 and P-521 keys");
        for test in group["tests"].as_array().expect("tests") {
            let msg = hex(test["msg"].as_str().unwrap());
            let sig = hex(test["sig"].as_str().unwrap());
            let reference = verify_signature(alg, &key, &msg, &sig).is_ok();
            // The core checks the format before a host is asked (jws::check_signature).
            let host = match check_format(alg, &key, &sig) {
                Err(_) => false,
                Ok(()) => {
                    answered += 1;
                    native
                        .verify(alg, handle, &msg, &sig)
                        .expect("AWS-LC answers")
                }
            };
            if host != reference {
                disagreements.push(format!(
                    "tcId {} ({}): AWS-LC {host}, pure Rust {reference}",
                    test["tcId"], test["result"]
                ));
            }
        }
    }
    assert!(
        disagreements.is_empty(),
        "{file}:\n{}",
        disagreements.join("\n")
    );
    println!("{file}: {answered} vectors answered by AWS-LC, all as pure Rust");
    answered
}

fn rsa(jwk: &Value) -> Option<VerifyingKey> {
    VerifyingKey::rsa(&b64(&jwk["n"]), &b64(&jwk["e"])).ok()
}

fn ec(group: &Value) -> Option<VerifyingKey> {
    let jwk = &group["publicKeyJwk"];
    VerifyingKey::ec(jwk["crv"].as_str()?, &b64(&jwk["x"]), &b64(&jwk["y"])).ok()
}

#[test]
fn wycheproof_rsa_pkcs1() {
    for (file, alg) in [
        ("rsa_signature_2048_sha256_test.json", Alg::RS256),
        ("rsa_signature_2048_sha384_test.json", Alg::RS384),
        ("rsa_signature_2048_sha512_test.json", Alg::RS512),
    ] {
        assert!(
            differential(file, alg, |g| rsa(&g["keyJwk"])) > 100,
            "{file}"
        );
    }
}

#[test]
fn wycheproof_rsa_pss() {
    for (file, alg) in [
        ("rsa_pss_2048_sha256_mgf1_32_test.json", Alg::PS256),
        ("rsa_pss_4096_sha384_mgf1_48_test.json", Alg::PS384),
        ("rsa_pss_4096_sha512_mgf1_64_test.json", Alg::PS512),
    ] {
        assert!(
            differential(file, alg, |g| rsa(&g["publicKeyJwk"])) > 50,
            "{file}"
        );
    }
}

#[test]
fn wycheproof_ecdsa() {
    for (file, alg) in [
        ("ecdsa_secp256r1_sha256_p1363_test.json", Alg::ES256),
        ("ecdsa_secp384r1_sha384_p1363_test.json", Alg::ES384),
        ("ecdsa_secp521r1_sha512_p1363_test.json", Alg::ES512),
    ] {
        assert!(differential(file, alg, ec) > 100, "{file}");
    }
}

#[test]
fn ed25519_and_hmac_stay_in_pure_rust() {
    let mut native = AwsLcCrypto::new();
    let ed = VerifyingKey::ed25519(&b64(&Value::from(
        "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
    )))
    .unwrap();
    assert_eq!(native.prepare(&ed), None, "Ed25519 stays in pure Rust");
    assert_eq!(native.prepare(&VerifyingKey::hmac(&[7; 32]).unwrap()), None);
}

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/tokens/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn pyjwt_attack_suite_same_verdicts() {
    let policy = fixture("policy.json");
    let native = state::build(&policy).unwrap();
    assert_eq!(native.signature_checker(), "aws-lc");
    let mut rust_policy: Value = serde_json::from_str(&policy).unwrap();
    rust_policy["signature_verifier"] = Value::from("rust");
    let reference = Verifier::from_json(&rust_policy.to_string()).unwrap();
    assert_eq!(reference.signature_checker(), "pure Rust");
    let cases: Value = serde_json::from_str(&fixture("cases.json")).unwrap();
    let mut by_host = 0;
    for case in cases["cases"].as_array().unwrap() {
        let options = VerifyOptions {
            now: case["now"].as_i64().unwrap(),
            path: case["path"].as_str(),
        };
        let token = case["token"].as_str().unwrap();
        let code = |v: &Verifier| v.verify(token, &options).map_err(|e| e.code().as_str());
        let (ours, theirs) = (code(&native), code(&reference));
        assert_eq!(
            ours.as_ref().map(|_| ()),
            theirs.as_ref().map(|_| ()),
            "{}",
            case["name"]
        );
        let expect = case["expect"].as_str().unwrap();
        assert_eq!(ours.err().unwrap_or("ok"), expect, "{}", case["name"]);
        let report = native.explain(token, &options);
        if report
            .checks
            .iter()
            .any(|c| c.check == "signature" && c.ok && c.detail.contains("aws-lc"))
        {
            by_host += 1;
        }
    }
    // The valid RS*, PS* and ES* cases at least were decided by AWS-LC.
    assert!(by_host >= 9, "AWS-LC decided {by_host} signatures");
}
