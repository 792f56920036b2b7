//! The reference for `Provider`'s hand-written `Deserialize` (src/policy.rs):
//! what serde's derive, with the same members, types and attributes, reads.
//! Used by the `policy` fuzz target and `tests/provider_serde.rs` (which
//! includes this file).

use jwtgate::claims::ClaimPath;
use jwtgate::keys::RemoteJwks;
use jwtgate::pem::PemKey;
use jwtgate::policy::{ClaimRule, ClaimToHeader, HeaderLocation};
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// What `#[derive(Deserialize)]` on `Provider` read until 2026-12-02 (named
/// `Provider` too: serde's messages name the struct).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // read through Debug only
pub struct Provider {
    #[serde(deserialize_with = "one_or_many")]
    issuer: Vec<String>,
    #[serde(default)]
    audiences: Vec<String>,
    #[serde(default)]
    subjects: Vec<String>,
    #[serde(default)]
    jwks: Option<Value>,
    #[serde(default)]
    pem_keys: Vec<PemKey>,
    #[serde(default)]
    remote_jwks: Option<RemoteJwks>,
    #[serde(default)]
    discovery: bool,
    #[serde(default)]
    allow_hmac: bool,
    #[serde(default)]
    algorithms: Vec<String>,
    #[serde(default)]
    from_headers: Vec<HeaderLocation>,
    #[serde(default)]
    from_params: Vec<String>,
    #[serde(default)]
    from_cookies: Vec<String>,
    #[serde(default)]
    forward: bool,
    #[serde(default)]
    forward_payload_header: Option<String>,
    #[serde(default)]
    claim_to_headers: Vec<ClaimToHeader>,
    #[serde(default = "sixty")]
    clock_skew_seconds: u32,
    #[serde(default = "yes")]
    require_exp: bool,
    #[serde(default)]
    max_lifetime_seconds: Option<u64>,
    #[serde(default)]
    max_remaining_lifetime_seconds: Option<u64>,
    #[serde(default)]
    max_age_seconds: Option<u64>,
    #[serde(default)]
    required_claims: Vec<ClaimPath>,
    #[serde(default)]
    claim_rules: Vec<ClaimRule>,
}

fn sixty() -> u32 {
    60
}

fn yes() -> bool {
    true
}

/// A string or an array of strings: a copy of the policy's `issuer` reader
/// (src/policy.rs, `one_or_many`, private there), so that what is compared is
/// how the members are found and dispatched, not this one member's reader.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct OneOrMany;
    impl<'de> Visitor<'de> for OneOrMany {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string or an array of strings")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<String>, E> {
            Ok(vec![v.to_string()])
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            let mut out = Vec::new();
            while let Some(s) = seq.next_element::<String>()? {
                out.push(s);
            }
            Ok(out)
        }
    }
    d.deserialize_any(OneOrMany)
}

/// The outcome of one parse, comparable across the two types.
fn outcome<T: std::fmt::Debug + for<'de> Deserialize<'de>>(json: &str) -> String {
    match serde_json::from_str::<T>(json) {
        Ok(v) => format!("{v:?}"),
        Err(e) => format!("error: {e}"),
    }
}

/// Whether `json` read as a provider gives the same as the derive: the same
/// values (their `Debug` text), or the same error message (serde_json's, with
/// line and column). `Err` tells both. A JSON array is left out: the derive
/// also read a provider as an array of its members, the core refuses it.
pub fn same_provider(json: &str) -> Result<(), String> {
    if json.trim_start().starts_with('[') {
        return Ok(());
    }
    let want = outcome::<Provider>(json);
    let got = outcome::<jwtgate::policy::Provider>(json);
    if want == got {
        Ok(())
    } else {
        Err(format!("{json}\n  derive: {want}\n  core:   {got}"))
    }
}
