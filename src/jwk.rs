//! Key sets (RFC 7517) and key selection, with the rules of `panva/jose`.
//!
//! A key set is loaded once, at configuration time. Each key is checked on its
//! own: a bad key is recorded as a [`KeyProblem`] (with its index, its `kid` and
//! why) and skipped, so one bad key never hides the good ones. A key is usable
//! only if:
//!
//! - its `kty` is `RSA` (`n`, `e`), `EC` (`crv`, `x`, `y`), `OKP` (`crv`
//!   `Ed25519`, `x`) or `oct` (`k`, only when [`KeySetOptions::allow_symmetric`]);
//! - every key member is strict base64url (no padding, no `+` or `/`);
//! - `use` is absent or `"sig"`, and `key_ops` is absent or contains `"verify"`;
//! - it has no private members (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`);
//! - its `alg`, if present, is an algorithm we implement that fits the key.
//!
//! An HMAC secret is only ever built from an `oct` key's `k`: there is no path
//! from an RSA, EC or OKP key to an HMAC key (the classic algorithm-confusion
//! attack). [`KeySet::select`] then picks the candidate keys for a token's
//! `alg` and `kid`.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write as _;

use serde_json::{Map, Value};

use crate::alg::{Alg, VerifyingKey};
use crate::error::{err, Error};
use crate::json::{parse_strict, type_name};

/// JSON nesting limit for a key set (`{"keys":[{"key_ops":[...]}]}` is 3).
const MAX_DEPTH: usize = 8;

/// Members that only a private (or secret) key has.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth"];

/// How a key set is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySetOptions {
    /// Accept symmetric (`oct`) keys, i.e. HMAC secrets. Off by default: a
    /// provider must opt in (`allow_hmac`).
    pub allow_symmetric: bool,
    /// The most keys a set may list (default 64); more is [`ErrorCode::TooLarge`].
    ///
    /// [`ErrorCode::TooLarge`]: crate::ErrorCode::TooLarge
    pub max_keys: usize,
    /// The most keys one token is tried against when its `kid` does not
    /// single out the key: the token has no `kid`, or a `kid` no key has
    /// while keys without a `kid` could verify it (default
    /// [`DEFAULT_MAX_KEYS_WITHOUT_KID`]). More candidates than this is
    /// [`ErrorCode::TooManyKeys`], and no signature is checked: each check
    /// costs CPU a forger chooses to spend (64 P-521 keys: ~670 ms per token
    /// in pure Rust). 0 means every token needs a `kid` that names a key.
    ///
    /// [`ErrorCode::TooManyKeys`]: crate::ErrorCode::TooManyKeys
    pub max_keys_without_kid: usize,
}

/// The default of [`KeySetOptions::max_keys_without_kid`] (and of the
/// policy's `limits.max_keys_without_kid`): enough for a key rotation (old,
/// new, next) with one to spare.
pub const DEFAULT_MAX_KEYS_WITHOUT_KID: usize = 4;

impl Default for KeySetOptions {
    fn default() -> Self {
        KeySetOptions {
            allow_symmetric: false,
            max_keys: 64,
            max_keys_without_kid: DEFAULT_MAX_KEYS_WITHOUT_KID,
        }
    }
}

/// One usable key of a key set: its `kid`, its `alg` restriction, and the key.
#[derive(Debug, Clone)]
pub struct Jwk {
    kid: Option<String>,
    alg: Option<Alg>,
    key: VerifyingKey,
    /// The host's handle for this key, when host crypto prepared it.
    host_handle: Option<u32>,
}

impl Jwk {
    /// A key from its parts (a PEM key of the policy, [`crate::pem`]).
    pub(crate) fn from_parts(kid: Option<String>, alg: Option<Alg>, key: VerifyingKey) -> Jwk {
        Jwk {
            kid,
            alg,
            key,
            host_handle: None,
        }
    }

    /// The host's handle for this key ([`crate::host::SignatureVerifier::prepare`]).
    pub fn host_handle(&self) -> Option<u32> {
        self.host_handle
    }

    /// The key's `kid`, if it has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The key's `alg`, if it names one: then the key verifies only that algorithm.
    pub fn alg(&self) -> Option<Alg> {
        self.alg
    }

    /// The verifying key.
    pub fn key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Whether this key may verify `alg`: the key type fits `alg`, and the JWK
    /// has no `alg` or the same one.
    pub fn allows(&self, alg: Alg) -> bool {
        self.key.fits(alg) && (self.alg.is_none() || self.alg == Some(alg))
    }
}

/// A key skipped when the key set was loaded, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyProblem {
    /// The key's position in the `keys` array (0 for a single JWK).
    pub index: usize,
    /// The key's `kid`, if it has a string one.
    pub kid: Option<String>,
    /// Why the key is unusable (usually [`ErrorCode::InvalidKey`]).
    ///
    /// [`ErrorCode::InvalidKey`]: crate::ErrorCode::InvalidKey
    pub error: Error,
}

/// A loaded key set: the usable keys in their original order, and the keys
/// that were skipped.
#[derive(Debug, Clone)]
pub struct KeySet {
    keys: Vec<Jwk>,
    problems: Vec<KeyProblem>,
    max_keys_without_kid: usize,
}

impl KeySet {
    /// Asks `host` to prepare every key it can use (one that fits an
    /// algorithm the host handles: no HMAC secret goes to a host that does
    /// not check HMAC); remembers the handles it returns.
    pub(crate) fn prepare_for(&mut self, host: &mut dyn crate::host::SignatureVerifier) {
        for jwk in &mut self.keys {
            let usable = Alg::ALL
                .iter()
                .any(|&alg| jwk.key.fits(alg) && host.handles(alg));
            jwk.host_handle = if usable { host.prepare(&jwk.key) } else { None };
        }
    }

    /// Loads the text of a JWK set (`{"keys":[...]}`) or of a single JWK.
    ///
    /// The JSON must be strict (no duplicate member names, nesting of at most 8).
    /// Fails if the set lists more than `opts.max_keys` keys, or if no key is
    /// usable (the message then lists every key's problem). Keys that are not
    /// usable while others are, are listed by [`KeySet::problems`].
    ///
    /// ```
    /// use jwtgate::alg::Alg;
    /// use jwtgate::jwk::{KeySet, KeySetOptions};
    ///
    /// let jwks = r#"{"keys":[
    ///   {"kty":"EC","crv":"P-256","kid":"a","use":"sig","alg":"ES256",
    ///    "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    ///    "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
    ///   {"kty":"oct","kid":"b","k":"c2VjcmV0"}
    /// ]}"#;
    /// let set = KeySet::from_json(jwks, &KeySetOptions::default()).unwrap();
    /// assert_eq!(set.keys().len(), 1);
    /// // The oct key is skipped (HMAC is off by default), and the reason is kept.
    /// assert_eq!(set.problems()[0].kid.as_deref(), Some("b"));
    ///
    /// let candidates = set.select(Alg::ES256, Some("a")).unwrap();
    /// assert_eq!(candidates[0].kid(), Some("a"));
    /// let e = set.select(Alg::ES256, Some("zzz")).unwrap_err();
    /// assert_eq!(e.code().as_str(), "unknown_kid");
    /// let e = set.select(Alg::RS256, Some("a")).unwrap_err();
    /// assert_eq!(e.code().as_str(), "key_mismatch");
    /// ```
    #[inline(never)] // Load time only: see `Verifier::from_json`.
    pub fn from_json(json: &str, opts: &KeySetOptions) -> Result<KeySet, Error> {
        let value = parse_strict(json.as_bytes(), MAX_DEPTH, "key set")?;
        KeySet::from_value(&value, opts)
    }

    /// Loads an already parsed JWK set or single JWK; see [`KeySet::from_json`].
    #[inline(never)] // Load time only: see `Verifier::from_json`.
    pub fn from_value(value: &Value, opts: &KeySetOptions) -> Result<KeySet, Error> {
        let Value::Object(object) = value else {
            return Err(err!(
                Malformed,
                "the key set must be a JSON object ({{\"keys\":[...]}} or a single JWK), not {}",
                type_name(value)
            ));
        };
        let entries = match object.get("keys") {
            Some(Value::Array(keys)) => keys.as_slice(),
            Some(other) => {
                return Err(err!(
                    Malformed,
                    "the key set's \"keys\" member must be an array, not {}",
                    type_name(other)
                ))
            }
            None if object.contains_key("kty") => core::slice::from_ref(value),
            None => {
                return Err(err!(
                    Malformed,
                    "the key set has no \"keys\" array and is not a single JWK (it has no \"kty\")"
                ))
            }
        };
        if entries.len() > opts.max_keys {
            return Err(err!(
                TooLarge,
                "the key set lists {} keys; the limit is {}",
                entries.len(),
                opts.max_keys
            ));
        }
        let mut keys = Vec::new();
        let mut problems = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            match parse_key(entry, opts) {
                Ok(jwk) => keys.push(jwk),
                Err(error) => problems.push(KeyProblem {
                    index,
                    kid: entry.get("kid").and_then(Value::as_str).map(String::from),
                    error,
                }),
            }
        }
        if keys.is_empty() {
            return Err(no_usable_key(&problems));
        }
        Ok(KeySet {
            keys,
            problems,
            max_keys_without_kid: opts.max_keys_without_kid,
        })
    }

    /// The usable keys, in the order of the key set.
    pub fn keys(&self) -> &[Jwk] {
        &self.keys
    }

    /// The keys that were skipped at load time, and why.
    pub fn problems(&self) -> &[KeyProblem] {
        &self.problems
    }

    /// The candidate keys for a token with this `alg` and `kid`, in key-set order.
    ///
    /// - With a `kid` that some keys have: those keys, then only those that
    ///   allow `alg` (none left: [`ErrorCode::KeyMismatch`]).
    /// - With a `kid` no key has: the keys *without* a `kid` that allow `alg`,
    ///   as Envoy `jwt_authn` does (a `kid` is a hint, RFC 7515 §4.1.4, and a
    ///   key without one is trusted for every token of its provider); none:
    ///   [`ErrorCode::UnknownKid`]. A key with another `kid` is never tried.
    /// - Without a `kid`: every key that allows `alg` (none: `KeyMismatch`).
    ///
    /// In the last two cases more than [`KeySetOptions::max_keys_without_kid`]
    /// candidates is [`ErrorCode::TooManyKeys`]: no signature is checked.
    ///
    /// [`ErrorCode::UnknownKid`]: crate::ErrorCode::UnknownKid
    /// [`ErrorCode::KeyMismatch`]: crate::ErrorCode::KeyMismatch
    /// [`ErrorCode::TooManyKeys`]: crate::ErrorCode::TooManyKeys
    pub fn select(&self, alg: Alg, kid: Option<&str>) -> Result<Vec<&Jwk>, Error> {
        let Some(kid) = kid else {
            let candidates: Vec<&Jwk> = self.keys.iter().filter(|k| k.allows(alg)).collect();
            if candidates.is_empty() {
                return Err(err!(
                    KeyMismatch,
                    "the token has no kid and no key in the key set can verify {alg}"
                ));
            }
            return self.bounded(candidates, alg, "the token has no kid");
        };
        let named: Vec<&Jwk> = self.keys.iter().filter(|k| k.kid() == Some(kid)).collect();
        let Some(first) = named.first() else {
            let unnamed: Vec<&Jwk> = self
                .keys
                .iter()
                .filter(|k| k.kid().is_none() && k.allows(alg))
                .collect();
            if unnamed.is_empty() {
                return Err(err!(UnknownKid, "no key in the key set has kid {kid:?}"));
            }
            return self.bounded(
                unnamed,
                alg,
                &alloc::format!("no key has the token's kid {kid:?}"),
            );
        };
        let reason = describe(first);
        let candidates: Vec<&Jwk> = named.into_iter().filter(|k| k.allows(alg)).collect();
        if candidates.is_empty() {
            return Err(err!(
                KeyMismatch,
                "the key with kid {kid:?} cannot verify {alg} (it is {reason})"
            ));
        }
        Ok(candidates)
    }

    /// `candidates` if there are at most `max_keys_without_kid` of them.
    fn bounded<'k>(
        &self,
        candidates: Vec<&'k Jwk>,
        alg: Alg,
        why: &str,
    ) -> Result<Vec<&'k Jwk>, Error> {
        let max = self.max_keys_without_kid;
        if candidates.len() > max {
            return Err(err!(
                TooManyKeys,
                "{why} and {} keys could verify {alg}; at most {max} are tried for a token \
                 whose kid does not name its key (limits.max_keys_without_kid)",
                candidates.len()
            ));
        }
        Ok(candidates)
    }
}

impl KeySet {
    /// A set of already checked keys; `None` when there are none.
    /// The kid-less bound is the default; [`KeySet::limit_keys_without_kid`]
    /// sets the policy's.
    pub(crate) fn from_keys(keys: Vec<Jwk>) -> Option<KeySet> {
        (!keys.is_empty()).then_some(KeySet {
            keys,
            problems: Vec::new(),
            max_keys_without_kid: DEFAULT_MAX_KEYS_WITHOUT_KID,
        })
    }

    /// Sets how many keys a token whose `kid` does not name its key may be
    /// tried against ([`KeySetOptions::max_keys_without_kid`]).
    pub(crate) fn limit_keys_without_kid(&mut self, max: usize) {
        self.max_keys_without_kid = max;
    }

    /// The keys of both sets, `self`'s first (a provider's configured keys
    /// and its fetched ones); the problems of both.
    pub fn union(&self, other: &KeySet) -> KeySet {
        KeySet {
            keys: self.keys.iter().chain(&other.keys).cloned().collect(),
            problems: self
                .problems
                .iter()
                .chain(&other.problems)
                .cloned()
                .collect(),
            max_keys_without_kid: self.max_keys_without_kid,
        }
    }
}

/// "an RSA key for RS256 only", "an EC P-256 key", for mismatch messages.
/// (Every key kind, RSA, EC, OKP and oct, is read with a vowel sound.)
fn describe(jwk: &Jwk) -> String {
    match jwk.alg {
        Some(alg) => alloc::format!("an {} key for {alg} only", jwk.key.kind()),
        None => alloc::format!("an {} key", jwk.key.kind()),
    }
}

/// The `InvalidKey` error for a set without a usable key, listing every problem.
fn no_usable_key(problems: &[KeyProblem]) -> Error {
    if problems.is_empty() {
        return err!(InvalidKey, "the key set has no keys");
    }
    let mut message = String::from("the key set has no usable key:");
    for (n, problem) in problems.iter().enumerate() {
        let separator = if n == 0 { " " } else { "; " };
        // Writing to a String cannot fail.
        let _ = write!(message, "{separator}key {}", problem.index);
        if let Some(kid) = &problem.kid {
            let _ = write!(message, " (kid {kid:?})");
        }
        let _ = write!(message, ": {}", problem.error.message());
    }
    err!(InvalidKey, "{message}")
}

/// Checks and builds one key.
fn parse_key(entry: &Value, opts: &KeySetOptions) -> Result<Jwk, Error> {
    let Value::Object(jwk) = entry else {
        return Err(err!(
            InvalidKey,
            "a key must be a JSON object, not {}",
            type_name(entry)
        ));
    };
    let kid = optional_string(jwk, "kid")?.map(ToString::to_string);
    if let Some(member) = PRIVATE_MEMBERS.iter().find(|m| jwk.contains_key(**m)) {
        return Err(err!(
            InvalidKey,
            "the key has the private member {member:?}: private key material must not be configured"
        ));
    }
    match optional_string(jwk, "use")? {
        None | Some("sig") => {}
        Some(other) => {
            return Err(err!(
                InvalidKey,
                "the key's \"use\" is {other:?}; only \"sig\" keys verify signatures"
            ))
        }
    }
    match jwk.get("key_ops") {
        None => {}
        Some(Value::Array(ops)) if ops.iter().any(|op| op.as_str() == Some("verify")) => {}
        Some(Value::Array(_)) => {
            return Err(err!(
                InvalidKey,
                "the key's \"key_ops\" does not include \"verify\""
            ))
        }
        Some(other) => {
            return Err(err!(
                InvalidKey,
                "the key's \"key_ops\" must be an array, not {}",
                type_name(other)
            ))
        }
    }
    let alg = match optional_string(jwk, "alg")? {
        None => None,
        Some(name) => Some(Alg::from_name(name).ok_or_else(|| {
            err!(
                InvalidKey,
                "the key's \"alg\" {name:?} is not a signature algorithm we implement"
            )
        })?),
    };
    let key = match required_string(jwk, "kty")? {
        "RSA" => VerifyingKey::rsa(&bytes(jwk, "n")?, &bytes(jwk, "e")?)?,
        "EC" => VerifyingKey::ec(
            required_string(jwk, "crv")?,
            &bytes(jwk, "x")?,
            &bytes(jwk, "y")?,
        )?,
        "OKP" => match required_string(jwk, "crv")? {
            "Ed25519" => VerifyingKey::ed25519(&bytes(jwk, "x")?)?,
            other => {
                return Err(err!(
                    InvalidKey,
                    "the OKP curve {other:?} is not supported (only Ed25519)"
                ))
            }
        },
        "oct" if !opts.allow_symmetric => {
            return Err(err!(
                InvalidKey,
                "symmetric (oct) keys are only accepted when the provider sets allow_hmac"
            ))
        }
        "oct" => VerifyingKey::hmac(&bytes(jwk, "k")?)?,
        other => {
            return Err(err!(
                InvalidKey,
                "the key type (kty) {other:?} is not supported (RSA, EC, OKP or oct)"
            ))
        }
    };
    if let Some(x5c) = jwk.get("x5c") {
        crate::pem::check_x5c(x5c, &key)?;
    }
    if let Some(alg) = alg {
        if !key.fits(alg) {
            return Err(err!(
                InvalidKey,
                "the key's \"alg\" {alg} does not fit its key type ({})",
                key.kind()
            ));
        }
    }
    Ok(Jwk {
        kid,
        alg,
        key,
        host_handle: None,
    })
}

fn optional_string<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, Error> {
    match jwk.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(err!(
            InvalidKey,
            "the key's {name:?} must be a string, not {}",
            type_name(other)
        )),
    }
}

fn required_string<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<&'a str, Error> {
    optional_string(jwk, name)?.ok_or_else(|| err!(InvalidKey, "the key has no {name:?} member"))
}

/// A required member holding strict, unpadded base64url.
fn bytes(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, Error> {
    crate::base64url::decode(required_string(jwk, name)?).ok_or_else(|| {
        err!(
            InvalidKey,
            "the key's {name:?} is not strict base64url (no padding, '-' and '_' instead of '+' and '/')"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;
    use alloc::format;
    use serde_json::json;

    // RFC 7515 Appendix A.3 (P-256) and RFC 8037 Appendix A (Ed25519) public keys.
    const X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
    const ED_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    fn ec(kid: &str) -> Value {
        json!({"kty": "EC", "crv": "P-256", "kid": kid, "x": X, "y": Y})
    }

    fn ed(kid: &str) -> Value {
        json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": ED_X})
    }

    fn oct(kid: &str) -> Value {
        json!({"kty": "oct", "kid": kid, "k": crate::base64url::encode(&[7; 32])})
    }

    /// A 2048-bit odd modulus: enough for the key checks (no signature needed).
    fn rsa(kid: &str, alg: &str) -> Value {
        let mut n = alloc::vec![0xc5_u8; 256];
        n[255] = 0x01;
        json!({"kty": "RSA", "kid": kid, "alg": alg, "n": crate::base64url::encode(&n), "e": "AQAB"})
    }

    fn set(keys: &[Value]) -> Value {
        json!({ "keys": keys })
    }

    fn load(value: &Value) -> Result<KeySet, Error> {
        KeySet::from_value(value, &KeySetOptions::default())
    }

    /// Loads `bad` next to a good key and returns the problem recorded for it.
    fn problem_of(bad: Value, opts: &KeySetOptions) -> KeyProblem {
        let value = set(&[ec("good"), bad]);
        let keys = KeySet::from_value(&value, opts).expect("the good key loads");
        assert_eq!(keys.keys().len(), 1, "the bad key must be skipped");
        assert_eq!(keys.keys()[0].kid(), Some("good"));
        assert_eq!(keys.problems().len(), 1);
        let problem = keys.problems()[0].clone();
        assert_eq!(problem.index, 1);
        assert_eq!(
            problem.error.code(),
            ErrorCode::InvalidKey,
            "{}",
            problem.error
        );
        problem
    }

    fn message_of(bad: Value) -> String {
        problem_of(bad, &KeySetOptions::default())
            .error
            .message()
            .to_string()
    }

    fn with(mut jwk: Value, name: &str, value: Value) -> Value {
        jwk.as_object_mut().unwrap().insert(name.into(), value);
        jwk
    }

    #[test]
    fn options_default_to_no_hmac_and_64_keys() {
        let opts = KeySetOptions::default();
        assert!(!opts.allow_symmetric);
        assert_eq!(opts.max_keys, 64);
    }

    #[test]
    fn loads_a_set_and_a_single_jwk() {
        let keys = load(&set(&[ec("a"), ed("b"), rsa("c", "PS256")])).unwrap();
        let kids: Vec<_> = keys.keys().iter().map(|k| k.kid()).collect();
        assert_eq!(kids, [Some("a"), Some("b"), Some("c")]);
        assert!(keys.problems().is_empty());
        assert_eq!(keys.keys()[2].alg(), Some(Alg::PS256));
        assert_eq!(keys.keys()[2].key().kind(), "RSA");
        let single = KeySet::from_json(&ed("solo").to_string(), &KeySetOptions::default()).unwrap();
        assert_eq!(single.keys()[0].kid(), Some("solo"));
        assert_eq!(single.keys()[0].alg(), None);
    }

    #[test]
    fn key_members_are_checked() {
        let m = message_of(with(ec("x"), "y", json!("AAAA")));
        assert_eq!(
            m,
            "the y coordinate of a P-256 key is 3 bytes; it must be exactly 32"
        );
        let m = message_of(with(ec("x"), "y", json!(format!("{}=", &Y[..42]))));
        assert!(m.contains("not strict base64url"), "{m}");
        let mut y = crate::base64url::decode(Y).unwrap();
        y[0] ^= 1;
        let m = message_of(with(ec("x"), "y", json!(crate::base64url::encode(&y))));
        assert_eq!(m, "the point (x, y) is not on the P-256 curve");
        let mut short = alloc::vec![0xc5_u8; 128];
        short[127] = 1;
        let m = message_of(with(
            rsa("r", "RS256"),
            "n",
            json!(crate::base64url::encode(&short)),
        ));
        assert!(m.contains("1024 bits"), "{m}");
        let m = message_of(json!({"kty": "RSA", "n": "AQAB"}));
        assert!(m.contains("\"e\""), "{m}");
        assert!(message_of(json!({"kty": "OKP", "crv": "X25519", "x": ED_X})).contains("X25519"));
        assert!(message_of(json!({"x": ED_X})).contains("\"kty\""));
        assert!(message_of(json!({"kty": 1})).contains("must be a string"));
        assert!(message_of(json!({"kty": "EC2"})).contains("not supported"));
        assert!(message_of(json!("a string")).contains("JSON object"));
        assert!(message_of(with(ed("e"), "kid", json!(7))).contains("\"kid\""));
    }

    #[test]
    fn oct_keys_need_allow_symmetric() {
        let problem = problem_of(oct("h"), &KeySetOptions::default());
        assert_eq!(problem.kid.as_deref(), Some("h"));
        assert_eq!(
            problem.error.message(),
            "symmetric (oct) keys are only accepted when the provider sets allow_hmac"
        );
        let opts = KeySetOptions {
            allow_symmetric: true,
            ..KeySetOptions::default()
        };
        let keys = KeySet::from_value(&set(&[oct("h")]), &opts).unwrap();
        assert_eq!(keys.keys()[0].key().kind(), "oct");
        assert!(keys.keys()[0].allows(Alg::HS256));
        let empty = with(oct("h"), "k", json!(""));
        assert!(problem_of(empty, &opts).error.message().contains("empty"));
    }

    /// A host that handles only ES256 and records the kind of every key it
    /// is asked to prepare.
    struct Es256Only(alloc::vec::Vec<&'static str>);

    impl crate::host::SignatureVerifier for Es256Only {
        fn prepare(&mut self, key: &VerifyingKey) -> Option<u32> {
            self.0.push(key.kind());
            Some(self.0.len() as u32 - 1)
        }
        fn verify(&self, _: Alg, _: u32, _: &[u8], _: &[u8]) -> Option<bool> {
            None
        }
        fn handles(&self, alg: Alg) -> bool {
            alg == Alg::ES256
        }
        fn name(&self) -> &'static str {
            "es256-only"
        }
    }

    #[test]
    fn a_host_is_given_only_keys_of_algorithms_it_handles() {
        let opts = KeySetOptions {
            allow_symmetric: true,
            ..KeySetOptions::default()
        };
        let mut keys = KeySet::from_value(&set(&[oct("h"), ec("e"), ed("d")]), &opts).unwrap();
        let mut host = Es256Only(alloc::vec::Vec::new());
        keys.prepare_for(&mut host);
        // No HMAC secret (nor the Ed25519 key) goes to a host that does not check them.
        assert_eq!(host.0, ["EC P-256"]);
        let handles: alloc::vec::Vec<_> = keys.keys().iter().map(Jwk::host_handle).collect();
        assert_eq!(handles, [None, Some(0), None]);
    }

    #[test]
    fn private_keys_are_refused() {
        for member in PRIVATE_MEMBERS {
            let m = message_of(with(ec("p"), member, json!("AAAA")));
            assert_eq!(
                m,
                format!("the key has the private member {member:?}: private key material must not be configured")
            );
        }
        // Even an oct key's secret is not "private" in this sense, but a `d` is.
        let opts = KeySetOptions {
            allow_symmetric: true,
            ..KeySetOptions::default()
        };
        assert!(problem_of(with(oct("h"), "d", json!("AAAA")), &opts)
            .error
            .message()
            .contains("private"));
    }

    #[test]
    fn use_and_key_ops_must_allow_verification() {
        let m = message_of(with(ec("u"), "use", json!("enc")));
        assert_eq!(
            m,
            "the key's \"use\" is \"enc\"; only \"sig\" keys verify signatures"
        );
        assert!(message_of(with(ec("u"), "use", json!(["sig"]))).contains("must be a string"));
        let m = message_of(with(ec("o"), "key_ops", json!(["sign", "encrypt"])));
        assert_eq!(m, "the key's \"key_ops\" does not include \"verify\"");
        assert!(message_of(with(ec("o"), "key_ops", json!("verify"))).contains("must be an array"));
        assert!(message_of(with(ec("o"), "key_ops", json!([]))).contains("verify"));
        let good = with(
            with(ec("ok"), "use", json!("sig")),
            "key_ops",
            json!(["verify"]),
        );
        assert!(load(&set(&[good])).unwrap().problems().is_empty());
    }

    #[test]
    fn a_jwk_alg_must_be_known_and_fit_the_key() {
        let m = message_of(with(ec("a"), "alg", json!("ES384")));
        assert_eq!(
            m,
            "the key's \"alg\" ES384 does not fit its key type (EC P-256)"
        );
        assert!(message_of(with(ec("a"), "alg", json!("ES521"))).contains("\"ES521\" is not"));
        assert!(message_of(with(ec("a"), "alg", json!("none"))).contains("\"none\" is not"));
        assert!(message_of(with(ec("a"), "alg", json!("A256GCM"))).contains("is not"));
        assert!(message_of(rsa("r", "HS256")).contains("does not fit"));
        assert!(message_of(with(ed("e"), "alg", json!("Ed25519"))).contains("is not"));
        let keys = load(&set(&[with(ed("e"), "alg", json!("EdDSA"))])).unwrap();
        assert_eq!(keys.keys()[0].alg(), Some(Alg::EdDSA));
    }

    #[test]
    fn set_level_errors() {
        let e = KeySet::from_json("[1]", &KeySetOptions::default()).unwrap_err();
        assert_eq!(e.code(), ErrorCode::Malformed);
        assert_eq!(
            e.message(),
            "the key set must be a JSON object ({\"keys\":[...]} or a single JWK), not an array"
        );
        let e = load(&json!({"keys": {"kty": "EC"}})).unwrap_err();
        assert_eq!(
            e.message(),
            "the key set's \"keys\" member must be an array, not an object"
        );
        let e = load(&json!({"key": []})).unwrap_err();
        assert_eq!(e.code(), ErrorCode::Malformed);
        assert!(e.message().contains("no \"keys\" array"));
        let e = KeySet::from_json("{\"keys\":[]", &KeySetOptions::default()).unwrap_err();
        assert_eq!(e.code(), ErrorCode::Malformed);
        let e = load(&set(&[])).unwrap_err();
        assert_eq!(
            (e.code(), e.message()),
            (ErrorCode::InvalidKey, "the key set has no keys")
        );
    }

    #[test]
    fn duplicate_members_are_refused() {
        let text =
            format!(r#"{{"keys":[{{"kty":"EC","crv":"P-256","x":"{X}","y":"{Y}","y":"{X}"}}]}}"#);
        let e = KeySet::from_json(&text, &KeySetOptions::default()).unwrap_err();
        assert_eq!(e.code(), ErrorCode::Malformed);
        assert!(e.message().contains("duplicate"), "{e}");
    }

    #[test]
    fn too_many_keys_is_too_large() {
        let opts = KeySetOptions {
            max_keys: 2,
            ..KeySetOptions::default()
        };
        assert!(KeySet::from_value(&set(&[ec("1"), ec("2")]), &opts).is_ok());
        let e = KeySet::from_value(&set(&[ec("1"), ec("2"), ec("3")]), &opts).unwrap_err();
        assert_eq!(e.code(), ErrorCode::TooLarge);
        assert_eq!(e.message(), "the key set lists 3 keys; the limit is 2");
    }

    #[test]
    fn no_usable_key_lists_every_problem() {
        let e = load(&set(&[
            oct("h"),
            with(ed("e"), "use", json!("enc")),
            json!({"kty": "EC"}),
        ]))
        .unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidKey);
        assert_eq!(
            e.message(),
            "the key set has no usable key: key 0 (kid \"h\"): symmetric (oct) keys are only \
             accepted when the provider sets allow_hmac; key 1 (kid \"e\"): the key's \"use\" is \
             \"enc\"; only \"sig\" keys verify signatures; key 2: the key has no \"crv\" member"
        );
    }

    #[test]
    fn select_by_kid_then_alg() {
        let opts = KeySetOptions {
            allow_symmetric: true,
            ..KeySetOptions::default()
        };
        let value = set(&[
            ec("ec"),
            rsa("rsa", "RS256"),
            ed("ed"),
            oct("ec"),
            rsa("r2", "PS384"),
        ]);
        let keys = KeySet::from_value(&value, &opts).unwrap();

        let picked = keys.select(Alg::ES256, Some("ec")).unwrap();
        assert_eq!(picked.len(), 1);
        assert_eq!(picked[0].key().kind(), "EC P-256");
        // Same kid, other key type: the oct key is picked for HS256.
        assert_eq!(
            keys.select(Alg::HS256, Some("ec")).unwrap()[0].key().kind(),
            "oct"
        );

        let e = keys.select(Alg::ES256, Some("nope")).unwrap_err();
        assert_eq!(e.code(), ErrorCode::UnknownKid);
        assert_eq!(e.message(), "no key in the key set has kid \"nope\"");

        let e = keys.select(Alg::PS256, Some("rsa")).unwrap_err();
        assert_eq!(e.code(), ErrorCode::KeyMismatch);
        assert_eq!(
            e.message(),
            "the key with kid \"rsa\" cannot verify PS256 (it is an RSA key for RS256 only)"
        );
        let e = keys.select(Alg::ES384, Some("ed")).unwrap_err();
        assert_eq!(
            e.message(),
            "the key with kid \"ed\" cannot verify ES384 (it is an OKP Ed25519 key)"
        );

        // Without a kid: every key that allows the alg, in order.
        let rs: Vec<_> = keys
            .select(Alg::RS256, None)
            .unwrap()
            .iter()
            .map(|k| k.kid())
            .collect();
        assert_eq!(rs, [Some("rsa")]);
        let ps: Vec<_> = keys
            .select(Alg::PS384, None)
            .unwrap()
            .iter()
            .map(|k| k.kid())
            .collect();
        assert_eq!(ps, [Some("r2")]);
        let e = keys.select(Alg::ES512, None).unwrap_err();
        assert_eq!(e.code(), ErrorCode::KeyMismatch);
        assert_eq!(
            e.message(),
            "the token has no kid and no key in the key set can verify ES512"
        );
    }

    #[test]
    fn select_keeps_every_key_with_the_kid_in_order() {
        let keys = load(&set(&[ec("k"), ed("k"), ec("k"), ec("other")])).unwrap();
        let picked = keys.select(Alg::ES256, Some("k")).unwrap();
        assert_eq!(picked.len(), 2);
        assert!(core::ptr::eq(picked[0], &keys.keys()[0]));
        assert!(core::ptr::eq(picked[1], &keys.keys()[2]));
        let all = keys.select(Alg::ES256, None).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(
            keys.select(Alg::ES256, Some("zz")).unwrap_err().code(),
            ErrorCode::UnknownKid
        );
    }

    fn kidless(mut key: Value) -> Value {
        key.as_object_mut().unwrap().remove("kid");
        key
    }

    #[test]
    fn a_kid_no_key_has_falls_back_to_the_keys_without_kid() {
        let value = set(&[ec("k"), kidless(ec("")), kidless(ed("")), kidless(ec(""))]);
        let keys = load(&value).unwrap();
        let at = |picked: &[&Jwk]| -> Vec<usize> {
            picked
                .iter()
                .map(|p| {
                    keys.keys()
                        .iter()
                        .position(|k| core::ptr::eq(k, *p))
                        .unwrap()
                })
                .collect()
        };
        // A kid some key has picks only those keys, never the kid-less ones.
        assert_eq!(at(&keys.select(Alg::ES256, Some("k")).unwrap()), [0]);
        // A kid no key has: the kid-less keys that allow the alg (as jwt_authn).
        assert_eq!(at(&keys.select(Alg::ES256, Some("zz")).unwrap()), [1, 3]);
        assert_eq!(at(&keys.select(Alg::EdDSA, Some("zz")).unwrap()), [2]);
        let e = keys.select(Alg::ES384, Some("zz")).unwrap_err();
        assert_eq!(e.code(), ErrorCode::UnknownKid);
        assert_eq!(e.message(), "no key in the key set has kid \"zz\"");
        // No kid: every key that allows the alg, with a kid or not.
        assert_eq!(at(&keys.select(Alg::ES256, None).unwrap()), [0, 1, 3]);
    }

    #[test]
    fn keys_tried_without_a_naming_kid_are_bounded() {
        let value = set(&[ec("k"), kidless(ec("")), kidless(ec(""))]);
        let bounded = |max| {
            let opts = KeySetOptions {
                max_keys_without_kid: max,
                ..KeySetOptions::default()
            };
            KeySet::from_value(&value, &opts).unwrap()
        };
        assert_eq!(KeySetOptions::default().max_keys_without_kid, 4);
        let keys = bounded(2);
        let e = keys.select(Alg::ES256, None).unwrap_err();
        assert_eq!(e.code(), ErrorCode::TooManyKeys);
        assert_eq!(
            e.message(),
            "the token has no kid and 3 keys could verify ES256; at most 2 are tried for a token \
             whose kid does not name its key (limits.max_keys_without_kid)"
        );
        assert_eq!(keys.select(Alg::ES256, Some("zz")).unwrap().len(), 2);
        let keys = bounded(1);
        let e = keys.select(Alg::ES256, Some("zz")).unwrap_err();
        assert_eq!(e.code(), ErrorCode::TooManyKeys);
        assert!(
            e.message()
                .starts_with("no key has the token's kid \"zz\" and 2 keys"),
            "{e}"
        );
        // A kid that names its key is never bounded; 0 makes such a kid mandatory.
        assert_eq!(keys.select(Alg::ES256, Some("k")).unwrap().len(), 1);
        let keys = bounded(0);
        assert_eq!(
            keys.select(Alg::ES256, None).unwrap_err().code(),
            ErrorCode::TooManyKeys
        );
        assert_eq!(keys.select(Alg::ES256, Some("k")).unwrap().len(), 1);
    }

    #[test]
    fn public_keys_never_become_hmac_keys() {
        // An RSA/EC/OKP key without `alg` allows no HS* algorithm, even with HMAC on.
        let opts = KeySetOptions {
            allow_symmetric: true,
            ..KeySetOptions::default()
        };
        let keys = KeySet::from_value(&set(&[ec("a"), ed("b"), rsa("c", "RS512")]), &opts).unwrap();
        for alg in [Alg::HS256, Alg::HS384, Alg::HS512] {
            assert_eq!(
                keys.select(alg, None).unwrap_err().code(),
                ErrorCode::KeyMismatch
            );
            assert!(keys.keys().iter().all(|k| !k.allows(alg)));
        }
        assert!(message_of(with(ec("e"), "alg", json!("HS256"))).contains("does not fit"));
    }
}
