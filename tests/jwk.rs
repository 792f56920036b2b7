//! Key sets and signatures made by an independent implementation.
//!
//! The fixtures in `tests/fixtures/keys/` were generated once by `gen_keys.py`
//! with pyca/cryptography (OpenSSL): RSA-2048, P-256, P-384, P-521 and Ed25519
//! keys, an HMAC secret, and one signature per algorithm. Here jwtgate loads
//! the key sets, selects keys the way a token would, and verifies.

use std::path::PathBuf;

use jwtgate::alg::{verify_signature, Alg};
use jwtgate::base64url;
use jwtgate::{ErrorCode, KeySet, KeySetOptions};
use serde_json::Value;

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keys")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// One signature from `signatures.json`.
struct Signed {
    alg: Alg,
    kid: String,
    input: String,
    signature: Vec<u8>,
    spki: Option<Vec<u8>>,
}

fn signatures() -> Vec<Signed> {
    let doc: Value = serde_json::from_str(&fixture("signatures.json")).unwrap();
    let list = doc["signatures"].as_array().unwrap();
    list.iter()
        .map(|s| Signed {
            alg: Alg::from_name(s["alg"].as_str().unwrap()).unwrap(),
            kid: s["kid"].as_str().unwrap().to_owned(),
            input: s["input"].as_str().unwrap().to_owned(),
            signature: base64url::decode(s["signature"].as_str().unwrap()).unwrap(),
            spki: s["spki"].as_str().map(|d| base64url::decode(d).unwrap()),
        })
        .collect()
}

/// Both fixture key sets merged: what a provider with `allow_hmac` would load.
fn key_set() -> KeySet {
    let mut all: Value = serde_json::from_str(&fixture("jwks.json")).unwrap();
    let hmac: Value = serde_json::from_str(&fixture("hmac_jwks.json")).unwrap();
    let keys = all["keys"].as_array_mut().unwrap();
    keys.extend(hmac["keys"].as_array().unwrap().iter().cloned());
    let opts = KeySetOptions {
        allow_symmetric: true,
        ..KeySetOptions::default()
    };
    let set = KeySet::from_value(&all, &opts).unwrap();
    assert!(set.problems().is_empty(), "{:?}", set.problems());
    set
}

#[test]
fn fixtures_cover_every_algorithm() {
    let mut algs: Vec<Alg> = signatures().iter().map(|s| s.alg).collect();
    algs.sort_by_key(|a| a.name());
    let mut all = Alg::ALL.to_vec();
    all.sort_by_key(|a| a.name());
    assert_eq!(algs, all);
}

#[test]
fn the_public_key_set_loads_from_text_with_its_kinds() {
    let set = KeySet::from_json(&fixture("jwks.json"), &KeySetOptions::default()).unwrap();
    let kinds: Vec<(Option<&str>, &str, Option<Alg>)> = set
        .keys()
        .iter()
        .map(|k| (k.kid(), k.key().kind(), k.alg()))
        .collect();
    assert_eq!(
        kinds,
        [
            (Some("rsa-2048"), "RSA", None),
            (Some("ec-p-256"), "EC P-256", Some(Alg::ES256)),
            (Some("ec-p-384"), "EC P-384", Some(Alg::ES384)),
            (Some("ec-p-521"), "EC P-521", Some(Alg::ES512)),
            (Some("ed25519"), "OKP Ed25519", None),
        ]
    );
    // The HMAC set alone is refused without allow_symmetric, and says why.
    let e = KeySet::from_json(&fixture("hmac_jwks.json"), &KeySetOptions::default()).unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidKey);
    assert!(e.message().contains("key 0 (kid \"hmac-512\")"), "{e}");
    assert!(e.message().contains("allow_hmac"), "{e}");
}

#[test]
fn every_fixture_signature_verifies_through_key_selection() {
    let set = key_set();
    for s in signatures() {
        let candidates = set.select(s.alg, Some(&s.kid)).unwrap();
        assert_eq!(candidates.len(), 1, "{}", s.alg);
        let key = candidates[0].key();
        assert_eq!(
            verify_signature(s.alg, key, s.input.as_bytes(), &s.signature),
            Ok(()),
            "{}",
            s.alg
        );
        // Without a kid, the right key is among the candidates.
        let any = set.select(s.alg, None).unwrap();
        assert!(
            any.iter().any(|k| k.kid() == Some(s.kid.as_str())),
            "{}",
            s.alg
        );
    }
}

#[test]
fn a_flipped_bit_anywhere_fails() {
    let set = key_set();
    for s in signatures() {
        let key = set.select(s.alg, Some(&s.kid)).unwrap()[0].key();
        for position in [0, s.signature.len() / 2, s.signature.len() - 1] {
            let mut bad = s.signature.clone();
            bad[position] ^= 0x80;
            let e = verify_signature(s.alg, key, s.input.as_bytes(), &bad).unwrap_err();
            assert_eq!(
                e.code(),
                ErrorCode::BadSignature,
                "{} byte {position}",
                s.alg
            );
        }
        let mut input = s.input.clone().into_bytes();
        input[7] ^= 0x01;
        let e = verify_signature(s.alg, key, &input, &s.signature).unwrap_err();
        assert_eq!(e.code(), ErrorCode::BadSignature, "{} input", s.alg);
    }
}

#[test]
fn cross_algorithm_use_fails() {
    let set = key_set();
    for s in signatures() {
        let key = set.select(s.alg, Some(&s.kid)).unwrap()[0];
        for other in Alg::ALL.iter().copied().filter(|a| *a != s.alg) {
            let same_family = key.key().fits(other);
            let result = verify_signature(other, key.key(), s.input.as_bytes(), &s.signature);
            let code = result.unwrap_err().code();
            if same_family {
                // RS256 vs PS256, HS256 vs HS512 ...: the key fits, the signature does not.
                assert_eq!(code, ErrorCode::BadSignature, "{} as {other}", s.alg);
            } else {
                assert_eq!(code, ErrorCode::KeyMismatch, "{} as {other}", s.alg);
                let e = set.select(other, Some(&s.kid)).unwrap_err();
                assert_eq!(e.code(), ErrorCode::KeyMismatch, "{} as {other}", s.alg);
                assert!(e.message().contains(&format!("{:?}", s.kid)), "{e}");
                assert!(e.message().contains(other.name()), "{e}");
            }
        }
    }
}

#[test]
fn a_public_key_is_never_an_hmac_secret() {
    // The classic confusion: an HS256 token "signed" with the public key's bytes.
    let set = key_set();
    for s in signatures().iter().filter(|s| !s.alg.is_symmetric()) {
        let key = set.select(s.alg, Some(&s.kid)).unwrap()[0];
        for alg in [Alg::HS256, Alg::HS384, Alg::HS512] {
            assert!(!key.allows(alg));
            let e = set.select(alg, Some(&s.kid)).unwrap_err();
            assert_eq!(e.code(), ErrorCode::KeyMismatch);
        }
    }
}

#[test]
fn spki_der_matches_what_openssl_exports() {
    let set = key_set();
    for s in signatures() {
        let key = set.select(s.alg, Some(&s.kid)).unwrap()[0].key();
        assert_eq!(key.spki_der(), s.spki, "{}", s.alg);
    }
}
