//! "One core, one answer": the vectors the npm package's tests also check
//! (`tests/vectors/verdicts.json`, minted by `jose` in `tests/vectors/gen.mjs`,
//! verdicts written by hand) give the same verdicts through the Rust API.

use jwtgate::verify::VerifyOptions;
use jwtgate::Verifier;
use serde_json::Value;

#[test]
fn jose_minted_vectors_get_the_same_verdicts_as_in_js() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/verdicts.json");
    let file: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let verifier =
        Verifier::from_json(&file["policy"].to_string()).expect("the shared policy loads");
    let now = file["now"].as_i64().unwrap();
    let cases = file["cases"].as_array().unwrap();
    assert!(cases.len() >= 20, "the shared vector file lost its cases");
    let mut failures = Vec::new();
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let options = VerifyOptions {
            now,
            path: c["path"].as_str(),
        };
        let got = match verifier.verify(c["token"].as_str().unwrap(), &options) {
            Ok(v) => {
                if let Some(want) = c["provider"].as_str() {
                    if v.provider != want {
                        failures.push(format!("{name}: provider {} instead of {want}", v.provider));
                    }
                }
                "ok".to_string()
            }
            Err(e) => e.code().as_str().to_string(),
        };
        if got != c["expect"].as_str().unwrap() {
            failures.push(format!("{name}: expected {}, got {got}", c["expect"]));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
