//! Project Wycheproof `json_web_signature_test.json` (401 whole-token vectors:
//! `none`, key confusion, embedded `jwk`, base64 forms, RSA/PSS/ECDSA edge
//! cases, RFC 7520 examples) run through jwtgate's own JWS operation, exactly
//! as a caller would use it:
//!
//! 1. `KeySet::from_value` on the group's public JWK (`allow_symmetric` on:
//!    the vectors configure HMAC explicitly). Groups that give only a
//!    `private` JWK (all `oct`) use it with any private member removed; a JWK
//!    *with* private members is checked to be refused as given.
//! 2. `jws::UntrustedJws::parse(token, &Limits::default())`.
//! 3. `jws::verify(&jws, &keys, &[])` (no algorithm allow-list: the key decides).
//!
//! `valid` must be accepted and `invalid` refused; `acceptable` is recorded and
//! pinned. A vector in JSON serialization is "not applicable" to a
//! compact-only verifier: it is counted and listed (and must still be refused).
//! Every `valid` vector we refuse is a deliberate difference, listed in
//! [`DIFFERENCES`] with the error code it must fail with and why; an entry that
//! stops happening fails the test too, so the list cannot go stale.
//!
//! `cargo test --test wycheproof_jws -- --nocapture` prints the per-category
//! table recorded in `docs/CONFORMANCE.md`.

mod common;

use std::collections::BTreeMap;

use jwtgate::jws::{self, UntrustedJws};
use jwtgate::policy::Limits;
use jwtgate::{base64url, Error, ErrorCode, KeySet, KeySetOptions};
use serde_json::Value;

const FILE: &str = "json_web_signature_test.json";

/// `valid` vectors refused on purpose: (tcId, the code they fail with, why).
const DIFFERENCES: &[(u64, ErrorCode, &str)] = &[
    (
        346,
        ErrorCode::KeyMismatch,
        "RFC 7520 Figure 20: a PS384 token, but the JWK says \"alg\":\"PS256\"; a JWK's alg restricts the key to that algorithm (jose's rule, RFC 8725 §3.1)",
    ),
    (
        350,
        ErrorCode::KeyMismatch,
        "same as 346, with key_ops [\"verify\"]",
    ),
    (
        347,
        ErrorCode::InvalidKey,
        "RFC 7520 Figure 27: the P-521 JWK says \"alg\":\"ES521\", which is not a JWS algorithm (ES512 is); a key with an unknown alg is unusable (json_web_key_test.json itself wants ES521 refused)",
    ),
    (
        351,
        ErrorCode::InvalidKey,
        "same as 347, with key_ops [\"verify\"]",
    ),
    (
        372,
        ErrorCode::Malformed,
        "a character outside the base64url alphabet inserted in the header; the MAC covers the literal bytes, but the parser accepts only strict base64url",
    ),
    (
        373,
        ErrorCode::Malformed,
        "same as 372, in the payload",
    ),
];

/// Defective vectors: `invalid`, but byte for byte the same token (and key) as
/// a `valid` vector of their group, so no verifier can satisfy both. Their
/// names say a padded segment was meant; the padding was lost in the file.
/// Each is checked to be such a duplicate, is accepted like its twin, and the
/// intended token (the segment with `=` padding added) must be refused:
/// (tcId, the segment that was meant to be padded: 1 payload, 2 signature).
const DEFECTIVE: &[(u64, usize)] = &[(367, 2), (370, 1)];

/// `acceptable` vectors: (accepted, refused). The file has none today; a new
/// one fails the test until it is pinned here.
const ACCEPTABLE_ACCEPTED: &[u64] = &[];
const ACCEPTABLE_REFUSED: &[u64] = &[];

/// Members only a private key has (RFC 7518 §6.2.2, §6.3.2).
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];

const HMAC_ALLOWED: KeySetOptions = KeySetOptions {
    allow_symmetric: true,
    max_keys: 64,
    max_keys_without_kid: jwtgate::jwk::DEFAULT_MAX_KEYS_WITHOUT_KID,
};

fn load() -> Value {
    common::load_wycheproof(FILE)
}

fn text<'a>(v: &'a Value, name: &str) -> &'a str {
    v[name]
        .as_str()
        .unwrap_or_else(|| panic!("no string {name:?} in {v}"))
}

/// The key a verifier would be configured with: the group's `public` JWK, or
/// its `private` JWK without private members (the `oct` groups, whose secret
/// `k` is what a verifier needs). A JWK with private members must be refused
/// as given.
fn verifier_key(group: &Value, category: &str) -> Value {
    let private = &group["private"];
    let has_private_members = private
        .as_object()
        .is_some_and(|jwk| PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)));
    if has_private_members {
        let e = KeySet::from_value(private, &HMAC_ALLOWED).unwrap_err();
        assert!(
            e.code() == ErrorCode::InvalidKey && e.message().contains("private key material"),
            "{category}: the private JWK as given must be refused for its private members, got: {e}"
        );
    }
    if group["public"].is_object() {
        return group["public"].clone();
    }
    let mut public = private.clone();
    let jwk = public.as_object_mut().expect("a private JWK");
    for member in PRIVATE_MEMBERS {
        jwk.remove(member);
    }
    public
}

/// The whole operation: key set, parse, verify.
fn run(key: &Value, token: &str) -> Result<(), Error> {
    let keys = KeySet::from_value(key, &HMAC_ALLOWED)?;
    let jws = UntrustedJws::parse(token, &Limits::default())?;
    let verified = jws::verify(&jws, &keys, &[])?;
    // What is handed back is the payload segment, decoded.
    let segment = token.split('.').nth(1).expect("a payload segment");
    assert_eq!(
        Some(&verified.payload),
        base64url::decode(segment).as_ref(),
        "the verified payload is not the token's payload"
    );
    Ok(())
}

/// The decoded `alg` of a compact token's header, if it has one.
fn header_alg(token: &str) -> Option<String> {
    let header = base64url::decode(token.split('.').next()?)?;
    let header: Value = serde_json::from_slice(&header).ok()?;
    header["alg"].as_str().map(String::from)
}

/// Security vectors must be refused for the right reason, not by accident
/// (an `invalid` vector refused as "malformed" would hide a missing check).
fn required_code(category: &str, test: &Value, token: &str) -> Option<ErrorCode> {
    let comment = text(test, "comment");
    let flags: Vec<&str> = test["flags"]
        .as_array()
        .map(|f| f.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let alg = header_alg(token);
    if flags.contains(&"AlgIsNone") || alg.as_deref() == Some("none") {
        // `none` is refused before any key is looked at.
        return Some(ErrorCode::UnsupportedAlg);
    }
    if comment.contains("SymmetryConfusion") {
        // HS256 with the EC key's kid: the EC key can never verify HS256.
        return Some(ErrorCode::KeyMismatch);
    }
    if comment.contains("EmbeddedJwk") {
        // The header's jwk is ignored; the attacker's signature fails against the configured key.
        return Some(ErrorCode::BadSignature);
    }
    if flags.contains(&"WrongPrimitive") {
        // The PS512 key (JWK alg PS512) with another alg in the header: no key
        // fits; with PS512 in the header over another primitive's signature: bad signature.
        return Some(if alg.as_deref() == Some("PS512") {
            ErrorCode::BadSignature
        } else {
            ErrorCode::KeyMismatch
        });
    }
    if matches!(category, "rsa_encryption" | "ec_key_for_encryption") {
        // `use: enc` / `key_ops` without verify: the key is never loaded.
        return Some(ErrorCode::InvalidKey);
    }
    if flags.contains(&"ModifiedSignature")
        || flags.contains(&"ModifiedPadding")
        || matches!(
            comment,
            "rejectsModifiedSignature" | "rejectsModifiedPayload"
        )
    {
        return Some(ErrorCode::BadSignature);
    }
    if comment == "rejectsModifiedHeader" {
        // The modification is in the kid ("kid-..." -> "Xid-...").
        return Some(ErrorCode::UnknownKid);
    }
    None
}

/// One category's counts (a category is the group's `comment`).
#[derive(Default)]
struct Tally {
    total: usize,
    passed: usize,
    not_applicable: Vec<u64>,
    differences: Vec<u64>,
    defective: Vec<u64>,
    acceptable_accepted: Vec<u64>,
    acceptable_refused: Vec<u64>,
    refusals: BTreeMap<&'static str, usize>,
}

#[test]
fn json_web_signature() {
    let doc = load();
    let mut categories: Vec<(String, Tally)> = Vec::new();
    let mut unexpected: Vec<String> = Vec::new();
    let mut differences_seen: Vec<u64> = Vec::new();
    let mut not_applicable: Vec<String> = Vec::new();

    for group in doc["testGroups"].as_array().expect("testGroups") {
        let category = text(group, "comment").to_owned();
        let key = verifier_key(group, &category);
        let index = match categories.iter().position(|(c, _)| *c == category) {
            Some(i) => i,
            None => {
                categories.push((category.clone(), Tally::default()));
                categories.len() - 1
            }
        };
        let tally = &mut categories[index].1;
        for test in group["tests"].as_array().expect("tests") {
            let id = test["tcId"].as_u64().expect("tcId");
            let token = text(test, "jws");
            let expected = text(test, "result");
            let comment = text(test, "comment");
            let result = run(&key, token);
            tally.total += 1;
            if let Err(e) = &result {
                *tally.refusals.entry(e.code().as_str()).or_default() += 1;
            }
            let mut fail = |why: String| {
                unexpected.push(format!(
                    "tcId {id} ({category}/{comment}, {expected}): {why}"
                ))
            };

            // JSON serialization (flattened or general): not a compact JWS.
            if token.trim_start().starts_with('{') {
                tally.not_applicable.push(id);
                not_applicable.push(format!("tcId {id} ({comment}, {expected})"));
                match &result {
                    Err(e) if e.code() == ErrorCode::Malformed => {}
                    other => fail(format!(
                        "a JSON-serialized JWS must be refused as malformed, got {other:?}"
                    )),
                }
                continue;
            }

            if let Some((_, segment)) = DEFECTIVE.iter().find(|(d, _)| *d == id) {
                tally.defective.push(id);
                let twin = group["tests"]
                    .as_array()
                    .expect("tests")
                    .iter()
                    .find(|t| t["result"] == "valid" && t["jws"] == test["jws"]);
                if twin.is_none() || expected != "invalid" || result.is_err() {
                    fail(format!(
                        "listed as defective (an invalid duplicate of a valid vector, accepted), but twin {:?}, result {result:?}",
                        twin.map(|t| &t["tcId"])
                    ));
                }
                let mut parts: Vec<String> = token.split('.').map(String::from).collect();
                while parts[*segment].len() % 4 != 0 {
                    parts[*segment].push('=');
                }
                let intended = parts.join(".");
                match run(&key, &intended) {
                    Err(e) if e.code() == ErrorCode::Malformed => {}
                    other => fail(format!(
                        "the intended padded token {intended} must be refused as malformed, got {other:?}"
                    )),
                }
                continue;
            }

            if let Some((_, code, _)) = DIFFERENCES.iter().find(|(d, _, _)| *d == id) {
                differences_seen.push(id);
                tally.differences.push(id);
                match &result {
                    Err(e) if e.code() == *code && expected == "valid" => {}
                    other => fail(format!(
                        "listed as a deliberate difference (refused with {code:?}), got {other:?}"
                    )),
                }
                continue;
            }

            match (expected, &result) {
                ("valid", Ok(())) => tally.passed += 1,
                ("invalid", Err(e)) => match required_code(&category, test, token) {
                    Some(code) if code != e.code() => fail(format!(
                        "refused, but with {:?} instead of {code:?}: {e}",
                        e.code()
                    )),
                    _ => tally.passed += 1,
                },
                ("acceptable", Ok(())) => tally.acceptable_accepted.push(id),
                ("acceptable", Err(_)) => tally.acceptable_refused.push(id),
                ("valid", Err(e)) => fail(format!("refused: {e}")),
                ("invalid", Ok(())) => fail("ACCEPTED".to_owned()),
                (other, _) => fail(format!("unknown result {other:?}")),
            }
        }
    }

    println!("| category | passed | total | not applicable | deliberate differences | defective vectors | acceptable accepted / refused | refused with |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut sum = Tally::default();
    for (category, t) in &categories {
        let refusals: Vec<String> = t
            .refusals
            .iter()
            .map(|(code, n)| format!("{code} {n}"))
            .collect();
        println!(
            "| {category} | {} | {} | {} | {} | {} | {} / {} | {} |",
            t.passed,
            t.total,
            t.not_applicable.len(),
            t.differences.len(),
            t.defective.len(),
            t.acceptable_accepted.len(),
            t.acceptable_refused.len(),
            refusals.join(", ")
        );
        sum.total += t.total;
        sum.passed += t.passed;
        sum.not_applicable.extend(&t.not_applicable);
        sum.differences.extend(&t.differences);
        sum.defective.extend(&t.defective);
        sum.acceptable_accepted.extend(&t.acceptable_accepted);
        sum.acceptable_refused.extend(&t.acceptable_refused);
    }
    println!(
        "| **total** | {} | {} | {} | {} | {} | {} / {} | |",
        sum.passed,
        sum.total,
        sum.not_applicable.len(),
        sum.differences.len(),
        sum.defective.len(),
        sum.acceptable_accepted.len(),
        sum.acceptable_refused.len()
    );
    println!("not applicable (JSON serialization): {not_applicable:?}");
    for (id, code, why) in DIFFERENCES {
        println!(
            "deliberate difference: tcId {id} (valid) refused with {}: {why}",
            code.as_str()
        );
    }
    println!("unexpected: {}", unexpected.len());

    assert!(
        unexpected.is_empty(),
        "{} unexpected results:\n{}",
        unexpected.len(),
        unexpected.join("\n")
    );
    let declared = doc["numberOfTests"].as_u64().expect("numberOfTests") as usize;
    assert_eq!(sum.total, declared, "not every vector ran");
    assert_eq!(
        sum.passed
            + sum.not_applicable.len()
            + sum.differences.len()
            + sum.defective.len()
            + sum.acceptable_accepted.len()
            + sum.acceptable_refused.len(),
        sum.total,
        "counts do not add up"
    );
    let mut listed: Vec<u64> = DIFFERENCES.iter().map(|(id, _, _)| *id).collect();
    listed.sort_unstable();
    differences_seen.sort_unstable();
    assert_eq!(
        differences_seen, listed,
        "a deliberate difference names a tcId that is not in the file"
    );
    let defective: Vec<u64> = DEFECTIVE.iter().map(|(id, _)| *id).collect();
    assert_eq!(sum.defective, defective, "a defective vector is missing");
    assert_eq!(sum.acceptable_accepted, ACCEPTABLE_ACCEPTED);
    assert_eq!(sum.acceptable_refused, ACCEPTABLE_REFUSED);
}
