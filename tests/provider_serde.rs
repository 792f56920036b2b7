//! `Provider`'s hand-written `Deserialize` (src/policy.rs) against the one
//! serde's derive writes for the same members, types and attributes (the
//! reference, `derived::Provider` below): over the providers of the policy
//! fuzz seeds, every truncation, every one-character deletion and insertions
//! of JSON snippets (at every fourth position), both must accept the same
//! text with the same values or refuse it with the same message (serde_json's,
//! with its line and column). The one difference, a provider given as an
//! array, is its own test.

#[path = "../fuzz/src/derived.rs"]
mod derived;

use jwtgate::policy::Provider;
use serde_json::Value;

fn providers_of_the_seeds() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/policy");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("fuzz/seeds/policy") {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let Ok(Value::Object(policy)) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        if let Some(Value::Object(providers)) = policy.get("providers") {
            out.extend(
                providers
                    .values()
                    .map(|p| serde_json::to_string_pretty(p).unwrap()),
            );
        }
    }
    assert!(
        out.len() >= 5,
        "the policy seeds hold {} providers",
        out.len()
    );
    out
}

#[test]
fn the_hand_written_reader_matches_the_derive() {
    const SNIPPETS: [&str; 12] = [
        "\"",
        ",",
        "{",
        "}",
        "[",
        "]",
        ":",
        "1",
        "null",
        "\"x\"",
        "\"issuer\":\"j\",",
        "\"z\":1,",
    ];
    let mut providers = providers_of_the_seeds();
    // Duplicates (a derive refuses the second), every member's wrong type, nulls.
    providers.push(r#"{"issuer": "i", "issuer": "j"}"#.into());
    providers.push(r#"{"issuer": "i", "forward": true, "forward": false}"#.into());
    providers.push(r#"{"audiences": ["a"]}"#.into());
    providers.push(
        r#"{"issuer": ["a", "b"], "jwks": null, "remote_jwks": null, "max_age_seconds": null}"#
            .into(),
    );
    // Every member with values of every JSON type: each member's own reader.
    let members = [
        "issuer",
        "audiences",
        "subjects",
        "jwks",
        "pem_keys",
        "remote_jwks",
        "discovery",
        "allow_hmac",
        "algorithms",
        "from_headers",
        "from_params",
        "from_cookies",
        "forward",
        "forward_payload_header",
        "claim_to_headers",
        "clock_skew_seconds",
        "require_exp",
        "max_lifetime_seconds",
        "max_remaining_lifetime_seconds",
        "max_age_seconds",
        "required_claims",
        "claim_rules",
    ];
    for member in members {
        for value in [
            "1",
            "0",
            "7",
            "-1",
            "4294967296",
            "\"s\"",
            "true",
            "false",
            "[1]",
            "[\"a\"]",
            "[]",
            "{}",
            "null",
        ] {
            providers.push(format!(r#"{{"issuer": "i", "{member}": {value}}}"#));
        }
    }
    let (mut inputs, mut accepted) = (0usize, 0usize);
    let mut differences = Vec::new();
    let mut compare = |json: &str| {
        inputs += 1;
        accepted += usize::from(serde_json::from_str::<Provider>(json).is_ok());
        if let Err(difference) = derived::same_provider(json) {
            if differences.len() < 10 {
                differences.push(difference);
            }
        }
    };
    for p in &providers {
        compare(p);
        let cuts: Vec<usize> = (0..=p.len()).filter(|&i| p.is_char_boundary(i)).collect();
        for &i in &cuts {
            compare(&p[..i]);
            if let Some(&next) = cuts.iter().find(|&&j| j > i) {
                compare(&format!("{}{}", &p[..i], &p[next..]));
            }
            if i % 4 == 0 {
                for s in SNIPPETS {
                    compare(&format!("{}{s}{}", &p[..i], &p[i..]));
                }
            }
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    assert!(
        inputs > 10_000 && accepted > 500,
        "{inputs} inputs, {accepted} accepted"
    );
}

#[test]
fn a_provider_must_be_an_object() {
    // serde's derive also read a provider as an array of its members in order.
    assert!(serde_json::from_str::<derived::Provider>(r#"["i"]"#).is_ok());
    let e = serde_json::from_str::<Provider>(r#"["i"]"#).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid type: sequence, expected struct Provider at line 1 column 0"
    );
}
