//! Project Wycheproof vectors (C2SP/wycheproof, `testvectors_v1/`) run through
//! `jwtgate::alg::verify_signature`, with keys built only through the public
//! `VerifyingKey` constructors, and the JWK vectors through `KeySet`.
//!
//! `valid` must verify, `invalid` must not; `acceptable` is recorded (and the
//! expected outcome is pinned below, so a change of behaviour is noticed).
//! Run `cargo test --test wycheproof -- --nocapture` for the per-file table;
//! `docs/CONFORMANCE.md` records it with every deliberate difference.

mod common;

use std::collections::BTreeSet;
use std::fmt::Write as _;

use jwtgate::alg::{verify_signature, Alg, VerifyingKey};
use jwtgate::{base64url, Error, KeySet, KeySetOptions};
use serde_json::Value;

fn load(name: &str) -> Value {
    common::load_wycheproof(name)
}

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd-length hex {s:?}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn b64(v: &Value) -> Vec<u8> {
    base64url::decode(v.as_str().expect("a string")).expect("base64url")
}

fn text<'a>(v: &'a Value, name: &str) -> &'a str {
    v[name]
        .as_str()
        .unwrap_or_else(|| panic!("no string {name:?} in {v}"))
}

/// Per-file counts.
#[derive(Default)]
struct Tally {
    total: usize,
    passed: usize,
    not_applicable: usize,
    acceptable_accepted: BTreeSet<u64>,
    acceptable_refused: BTreeSet<u64>,
    unexpected: Vec<String>,
}

impl Tally {
    /// Records one vector: `accepted` is what we did, `result` what Wycheproof expects.
    fn record(&mut self, test: &Value, accepted: bool, why: Option<&Error>) {
        self.total += 1;
        let id = test["tcId"].as_u64().expect("tcId");
        match (text(test, "result"), accepted) {
            ("valid", true) | ("invalid", false) => self.passed += 1,
            ("acceptable", true) => {
                self.acceptable_accepted.insert(id);
            }
            ("acceptable", false) => {
                self.acceptable_refused.insert(id);
            }
            (result, _) => self.unexpected.push(format!(
                "tcId {id} ({result}, {:?}, flags {}): {}",
                test["comment"].as_str().unwrap_or(""),
                test["flags"],
                why.map_or("accepted".to_owned(), |e| format!("refused: {e}"))
            )),
        }
    }

    fn skip(&mut self, count: usize) {
        self.total += count;
        self.not_applicable += count;
    }

    /// Prints the row and checks there is nothing unexpected, and that the
    /// `acceptable` vectors went the pinned way.
    fn finish(self, file: &str, accepted: &[u64], refused: &[u64]) {
        let acceptable = self.acceptable_accepted.len() + self.acceptable_refused.len();
        println!(
            "| {file} | {} | {} | {} | {} / {} | {} |",
            self.passed,
            self.total,
            self.not_applicable,
            self.acceptable_accepted.len(),
            self.acceptable_refused.len(),
            self.unexpected.len()
        );
        assert!(self.total > 0, "{file}: no vectors");
        assert!(
            self.unexpected.is_empty(),
            "{file}: {} unexpected results:\n{}",
            self.unexpected.len(),
            self.unexpected.join("\n")
        );
        assert_eq!(
            self.passed + self.not_applicable + acceptable,
            self.total,
            "{file}: counts do not add up"
        );
        let pinned = |set: &BTreeSet<u64>| set.iter().copied().collect::<Vec<_>>();
        assert_eq!(
            pinned(&self.acceptable_accepted),
            accepted,
            "{file}: acceptable, accepted"
        );
        assert_eq!(
            pinned(&self.acceptable_refused),
            refused,
            "{file}: acceptable, refused"
        );
    }
}

/// Runs one signature file: `key` builds the group's key (or says why it cannot).
fn run_signature_file(
    file: &str,
    alg: Alg,
    key: impl Fn(&Value) -> Result<VerifyingKey, Error>,
) -> Tally {
    let doc = load(file);
    let mut tally = Tally::default();
    for group in doc["testGroups"].as_array().expect("testGroups") {
        let tests = group["tests"].as_array().expect("tests");
        let key = match key(group) {
            Ok(key) => key,
            Err(e) => {
                // A key we refuse: every vector of the group must then be refused.
                for test in tests {
                    tally.record(test, false, Some(&e));
                }
                continue;
            }
        };
        for test in tests {
            let result =
                verify_signature(alg, &key, &hex(text(test, "msg")), &hex(text(test, "sig")));
            tally.record(test, result.is_ok(), result.as_ref().err());
        }
    }
    tally
}

fn header() {
    println!(
        "| file | passed | total | not applicable | acceptable accepted / refused | unexpected |"
    );
    println!("|---|---|---|---|---|---|");
}

fn ec_key(group: &Value) -> Result<VerifyingKey, Error> {
    let jwk = &group["publicKeyJwk"];
    if jwk.is_object() {
        return VerifyingKey::ec(text(jwk, "crv"), &b64(&jwk["x"]), &b64(&jwk["y"]));
    }
    // Groups with an edge-case key have no JWK: use the hex coordinates (ASN.1
    // integers, so possibly with a leading zero or shorter) at the field size.
    let key = &group["publicKey"];
    let (crv, size) = match text(key, "curve") {
        "secp256r1" => ("P-256", 32_usize),
        "secp384r1" => ("P-384", 48),
        "secp521r1" => ("P-521", 66),
        other => panic!("unexpected curve {other}"),
    };
    let coordinate = |name: &str| {
        let bytes = hex(text(key, name));
        let digits: Vec<u8> = bytes.into_iter().skip_while(|b| *b == 0).collect();
        let mut fixed = vec![0; size.saturating_sub(digits.len())];
        fixed.extend(digits);
        fixed
    };
    VerifyingKey::ec(crv, &coordinate("wx"), &coordinate("wy"))
}

#[test]
fn ecdsa_p1363() {
    header();
    for (file, alg) in [
        ("ecdsa_secp256r1_sha256_p1363_test.json", Alg::ES256),
        ("ecdsa_secp384r1_sha384_p1363_test.json", Alg::ES384),
        ("ecdsa_secp521r1_sha512_p1363_test.json", Alg::ES512),
    ] {
        run_signature_file(file, alg, ec_key).finish(file, &[], &[]);
    }
}

#[test]
fn ed25519() {
    header();
    let file = "ed25519_test.json";
    run_signature_file(file, Alg::EdDSA, |group| {
        VerifyingKey::ed25519(&b64(&group["publicKeyJwk"]["x"]))
    })
    .finish(file, &[], &[]);
}

fn rsa_key(jwk: &Value) -> Result<VerifyingKey, Error> {
    VerifyingKey::rsa(&b64(&jwk["n"]), &b64(&jwk["e"]))
}

#[test]
fn rsa_pkcs1() {
    header();
    // tcId 8 (acceptable, MissingNull): a DigestInfo without the NULL parameter.
    // Refused: RFC 8017 §9.2 requires the NULL, and the rsa crate compares the
    // whole encoded prefix.
    for (file, alg, acceptable_refused) in [
        ("rsa_signature_2048_sha256_test.json", Alg::RS256, [8]),
        ("rsa_signature_2048_sha384_test.json", Alg::RS384, [8]),
        ("rsa_signature_2048_sha512_test.json", Alg::RS512, [8]),
    ] {
        run_signature_file(file, alg, |group| rsa_key(&group["keyJwk"])).finish(
            file,
            &[],
            &acceptable_refused,
        );
    }
}

#[test]
fn rsa_pss() {
    header();
    for (file, alg, hash, salt) in [
        (
            "rsa_pss_2048_sha256_mgf1_32_test.json",
            Alg::PS256,
            "SHA-256",
            32,
        ),
        (
            "rsa_pss_4096_sha384_mgf1_48_test.json",
            Alg::PS384,
            "SHA-384",
            48,
        ),
        (
            "rsa_pss_4096_sha512_mgf1_64_test.json",
            Alg::PS512,
            "SHA-512",
            64,
        ),
    ] {
        // JWS PS* (RFC 7518 §3.5): MGF1 with the same hash, salt length = hash length.
        let doc = load(file);
        let groups = doc["testGroups"].as_array().expect("testGroups");
        let jws_params = |g: &Value| {
            g["sha"] == hash && g["mgf"] == "MGF1" && g["mgfSha"] == hash && g["sLen"] == salt
        };
        if let Some(other) = groups.iter().find(|g| !jws_params(g)) {
            println!(
                "| {file} | skipped: sha {} mgf {} mgfSha {} sLen {} is not {alg}'s parameters | | | | |",
                other["sha"], other["mgf"], other["mgfSha"], other["sLen"]
            );
            continue;
        }
        run_signature_file(file, alg, |group| rsa_key(&group["publicKeyJwk"])).finish(
            file,
            &[],
            &[],
        );
    }
}

#[test]
fn hmac() {
    header();
    for (file, alg, bits) in [
        ("hmac_sha256_test.json", Alg::HS256, 256),
        ("hmac_sha384_test.json", Alg::HS384, 384),
        ("hmac_sha512_test.json", Alg::HS512, 512),
    ] {
        let doc = load(file);
        let mut tally = Tally::default();
        let mut skipped = Vec::new();
        for group in doc["testGroups"].as_array().expect("testGroups") {
            let tests = group["tests"].as_array().expect("tests");
            let (key_size, tag_size) = (group["keySize"].as_u64(), group["tagSize"].as_u64());
            // JWS HS* uses the full tag, with a key at least as long as the hash.
            if tag_size != Some(bits) || key_size < Some(bits) {
                skipped.push(format!(
                    "keySize {key_size:?} tagSize {tag_size:?}: {}",
                    tests.len()
                ));
                tally.skip(tests.len());
                continue;
            }
            for test in tests {
                let result = VerifyingKey::hmac(&hex(text(test, "key"))).and_then(|key| {
                    verify_signature(alg, &key, &hex(text(test, "msg")), &hex(text(test, "tag")))
                });
                tally.record(test, result.is_ok(), result.as_ref().err());
            }
        }
        println!("  {file}: not applicable (bits): {}", skipped.join(", "));
        tally.finish(file, &[], &[]);
    }
}

/// The JWK vectors: Wycheproof gives each group's key set with its private
/// members (the same set signs and verifies). A verifier is configured with
/// the public part, so the private members are removed first (that the full
/// set is refused is checked separately). The set then goes through `KeySet`
/// (HMAC allowed, as some sets mix kinds), each token through a split, `select`
/// and `verify_signature` (the token parser proper is tested elsewhere). A token
/// is accepted if the set loads and one candidate key verifies it.
fn jwk_vector_accepted(keys: &Value, jws: &str) -> Result<(), Error> {
    let opts = KeySetOptions {
        allow_symmetric: true,
        ..KeySetOptions::default()
    };
    let set = KeySet::from_value(keys, &opts)?;
    let parts: Vec<&str> = jws.split('.').collect();
    let [header, _payload, signature] = parts[..] else {
        panic!("not a compact JWS: {jws}");
    };
    let header: Value =
        serde_json::from_slice(&base64url::decode(header).expect("header")).unwrap();
    let alg = Alg::from_name(text(&header, "alg")).expect("a known alg");
    let signature = base64url::decode(signature).expect("signature");
    let signing_input = &jws[..jws.rfind('.').expect("dots")];
    let mut last = None;
    for candidate in set.select(alg, header["kid"].as_str())? {
        match verify_signature(alg, candidate.key(), signing_input.as_bytes(), &signature) {
            Ok(()) => return Ok(()),
            Err(e) => last = Some(e),
        }
    }
    Err(last.expect("select returns at least one key"))
}

const HMAC_ALLOWED: KeySetOptions = KeySetOptions {
    allow_symmetric: true,
    max_keys: 64,
    max_keys_without_kid: jwtgate::jwk::DEFAULT_MAX_KEYS_WITHOUT_KID,
};
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];

/// The key set without private members; `None` if it had none.
fn public_part(keys: &Value) -> Option<Value> {
    let mut public = keys.clone();
    let mut removed = false;
    for key in public["keys"].as_array_mut().expect("keys") {
        for member in PRIVATE_MEMBERS {
            removed |= key.as_object_mut().expect("a JWK").remove(member).is_some();
        }
    }
    removed.then_some(public)
}

#[test]
fn json_web_key() {
    header();
    let file = "json_web_key_test.json";
    // Deliberate differences (docs/CONFORMANCE.md): Wycheproof wants these
    // `invalid` token/key-set pairs refused; we accept them on purpose.
    //  1: a set mixing an oct key and an EC key (MixedKeySet, "Ambiguous").
    //  4: two oct keys with the same kid (DuplicateKid, "Ambiguous").
    //  7: an RSA key with the ROCA weakness (CVE-2017-15361): not fingerprinted.
    let differences: &[u64] = &[1, 4, 7];
    let doc = load(file);
    let mut tally = Tally::default();
    let mut reasons = String::new();
    for group in doc["testGroups"].as_array().expect("testGroups") {
        for test in group["tests"].as_array().expect("tests") {
            let id = test["tcId"].as_u64().expect("tcId");
            let keys = &group["private"];
            let result = match public_part(keys) {
                Some(public) => {
                    // The set as given (with private members) is never loaded.
                    let e = KeySet::from_value(keys, &HMAC_ALLOWED).unwrap_err();
                    assert!(
                        e.message().contains("private key material"),
                        "tcId {id}: {e}"
                    );
                    jwk_vector_accepted(&public, text(test, "jws"))
                }
                None => jwk_vector_accepted(keys, text(test, "jws")),
            };
            if let Err(e) = &result {
                let _ = writeln!(reasons, "  tcId {id}: refused: {e}");
            }
            if differences.contains(&id) {
                assert_eq!(text(test, "result"), "invalid", "tcId {id}");
                assert!(
                    result.is_ok(),
                    "tcId {id} is listed as a deliberate difference: {result:?}"
                );
                tally.skip(1);
                continue;
            }
            tally.record(test, result.is_ok(), result.as_ref().err());
        }
    }
    print!("{reasons}");
    println!("  {file}: deliberate differences (counted as not applicable): tcId {differences:?}");
    tally.finish(file, &[], &[]);
}
