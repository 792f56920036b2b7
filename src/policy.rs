//! The policy file: providers, rules, deny list, limits. One JSON format for
//! every front end (the Envoy filter's plugin configuration, the npm package's
//! `createVerifier`, the worker).
//!
//! It is modelled on Envoy `jwt_authn` so platform engineers recognise it:
//! providers carry an issuer, audiences, a local JWKS, token locations,
//! `forward`, `claim_to_headers` and a clock skew; rules match a path exactly or
//! by prefix and say what they require. Unknown fields are refused, and every
//! error names the field (`rules[1].requires: ...`).
//!
//! ```
//! let policy = jwtgate::policy::Policy::from_json(r#"{
//!   "providers": {"idp": {"issuer": "https://idp.example.com",
//!                         "jwks": {"keys": []}}},
//!   "rules": [{"prefix": "/", "requires": "idp"}]
//! }"#).unwrap();
//! assert_eq!(policy.providers["idp"].clock_skew_seconds, 60);
//! let err = jwtgate::policy::Policy::from_json(r#"{"providers": {}, "rulez": []}"#).unwrap_err();
//! assert_eq!(err.code().as_str(), "invalid_config");
//! assert!(err.message().contains("rulez"));
//! ```

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use crate::claims::ClaimPath;
use crate::error::{Error, ErrorCode};

/// The whole policy, as loaded from JSON.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Token issuers and how to check their tokens, by name.
    pub providers: BTreeMap<String, Provider>,
    /// Which requests need which provider, matched on the canonical path
    /// ([`crate::path`]). Exact `path` rules win over prefix rules
    /// (`prefix`, `path_separated_prefix`); among prefixes the longest wins;
    /// a rule with `methods` only applies to those methods. A path no rule
    /// matches has no requirement (as in Envoy `jwt_authn`).
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// How request paths are canonicalized and matched.
    #[serde(default)]
    pub paths: PathConfig,
    /// Revoked tokens, by `jti` and by `sub`.
    #[serde(default)]
    pub deny: DenyList,
    /// Size limits for untrusted input.
    #[serde(default)]
    pub limits: Limits,
    /// Let CORS preflight requests (OPTIONS with `Origin` and
    /// `Access-Control-Request-Method`) through without a token.
    #[serde(default)]
    pub allow_cors_preflight: bool,
    /// How denials are reported to clients.
    #[serde(default)]
    pub response: ResponseConfig,
    /// The verified-token cache used by long-running front ends.
    #[serde(default)]
    pub cache: CacheConfig,
    /// Who checks RSA/ECDSA signatures: `"auto"` (the host's native crypto
    /// when it passes a self-test, else pure Rust), `"host"` or `"rust"`.
    #[serde(default)]
    pub signature_verifier: crate::host::VerifierChoice,
}

/// One token issuer: who it is, its keys, where its tokens travel, and what
/// its tokens must satisfy.
///
/// Read by a hand-written [`Deserialize`] (below) that refuses what serde's
/// derive with `deny_unknown_fields` refuses, with the same errors (held to
/// such a derive by `tests/provider_serde.rs` and the `policy` fuzz target),
/// except that a provider must be a JSON object (the derive also took an
/// array of its members in order).
#[derive(Debug, Clone)]
pub struct Provider {
    /// Accepted `iss` values (a string or an array of strings).
    pub issuer: Vec<String>,
    /// Accepted `aud` values; when not empty, the token's `aud` must contain one.
    pub audiences: Vec<String>,
    /// Accepted `sub` values; when not empty, the token's `sub` must be one.
    pub subjects: Vec<String>,
    /// The configured key set: a JWKS object, or a string holding JWKS JSON.
    /// Optional with `remote_jwks` or `discovery` (then both are used).
    pub jwks: Option<Value>,
    /// Keys in PEM form: SPKI public keys or X.509 certificates ([`crate::pem`]).
    pub pem_keys: Vec<crate::pem::PemKey>,
    /// Keys fetched from the identity provider ([`crate::keys`]).
    pub remote_jwks: Option<crate::keys::RemoteJwks>,
    /// Find the JWKS through OpenID Connect discovery of the (single) `issuer`.
    pub discovery: bool,
    /// Accept symmetric (`oct`, HS256/384/512) keys from `jwks`. Off by default.
    pub allow_hmac: bool,
    /// When not empty, only these `alg` values are accepted.
    pub algorithms: Vec<String>,
    /// Headers that may carry the token. When no location is configured, the
    /// token is read from `Authorization: Bearer` and the `access_token` query
    /// parameter (Envoy `jwt_authn`'s default).
    pub from_headers: Vec<HeaderLocation>,
    /// Query parameters that may carry the token.
    pub from_params: Vec<String>,
    /// Cookies that may carry the token.
    pub from_cookies: Vec<String>,
    /// Keep the token in the request sent upstream. Off by default, as in
    /// Envoy `jwt_authn`: the token is removed after it is verified.
    pub forward: bool,
    /// Send the verified payload upstream in this header (base64url JSON).
    pub forward_payload_header: Option<String>,
    /// Copy claims into request headers for the upstream.
    pub claim_to_headers: Vec<ClaimToHeader>,
    /// Tolerance for `exp`, `nbf`, `iat` and `max_age_seconds`, in seconds.
    pub clock_skew_seconds: u32,
    /// Refuse tokens without `exp`. On by default.
    pub require_exp: bool,
    /// Refuse tokens whose whole lifetime, `exp - iat`, is longer than this
    /// (needs `iat`). Not Envoy `jwt_authn`'s `max_lifetime`: that one is
    /// [`Provider::max_remaining_lifetime_seconds`].
    pub max_lifetime_seconds: Option<u64>,
    /// Refuse tokens whose remaining lifetime, `exp - now`, is this long or
    /// longer, and tokens without `exp`: Envoy `jwt_authn`'s `max_lifetime`
    /// (no clock skew, `iat` not needed).
    pub max_remaining_lifetime_seconds: Option<u64>,
    /// Refuse tokens issued (`iat`) longer ago than this.
    pub max_age_seconds: Option<u64>,
    /// Claims that must be present.
    pub required_claims: Vec<ClaimPath>,
    /// Authorization rules every token of this provider must pass (403 if not).
    pub claim_rules: Vec<ClaimRule>,
}

/// [`Provider`]'s members, in the order an unknown member's error lists them.
const PROVIDER_FIELDS: &[&str] = &[
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

/// The provider's members read one at a time, each type by a function of its
/// own (`ProviderMember`, `apart`): serde's derive writes one function
/// that reads all 22 members (13.5 KB of the Envoy filter's wasm, V8's
/// largest compilation when it loaded) and a second one for the array form;
/// this reader makes the filter 11.7 KB smaller (docs/BENCHMARKS.md,
/// "Footprint").
impl<'de> Deserialize<'de> for Provider {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ProviderVisitor)
    }
}

struct ProviderVisitor;

impl<'de> Visitor<'de> for ProviderVisitor {
    type Value = Provider;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("struct Provider")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Provider, A::Error> {
        let mut provider = Provider {
            issuer: Vec::new(),
            audiences: Vec::new(),
            subjects: Vec::new(),
            jwks: None,
            pem_keys: Vec::new(),
            remote_jwks: None,
            discovery: false,
            allow_hmac: false,
            algorithms: Vec::new(),
            from_headers: Vec::new(),
            from_params: Vec::new(),
            from_cookies: Vec::new(),
            forward: false,
            forward_payload_header: None,
            claim_to_headers: Vec::new(),
            clock_skew_seconds: default_skew(),
            require_exp: true,
            max_lifetime_seconds: None,
            max_remaining_lifetime_seconds: None,
            max_age_seconds: None,
            required_claims: Vec::new(),
            claim_rules: Vec::new(),
        };
        let mut seen = 0u32;
        while let Some(member) = map.next_key_seed(MemberIndex(PROVIDER_FIELDS))? {
            if seen & (1 << member) != 0 {
                return Err(de::Error::duplicate_field(PROVIDER_FIELDS[member]));
            }
            seen |= 1 << member;
            map.next_value_seed(ProviderMember {
                member,
                provider: &mut provider,
            })?;
        }
        if seen & 1 == 0 {
            return Err(de::Error::missing_field("issuer"));
        }
        Ok(provider)
    }
}

/// A member name of a struct with the members `self.0`: its index, or the
/// unknown member's error (serde's derive with `deny_unknown_fields`).
struct MemberIndex(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for MemberIndex {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl<'de> Visitor<'de> for MemberIndex {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field identifier")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<usize, E> {
        self.0
            .iter()
            .position(|known| *known == name)
            .ok_or_else(|| E::unknown_field(name, self.0))
    }
}

/// Reads the value of the provider member [`PROVIDER_FIELDS`]`[member]`.
struct ProviderMember<'a> {
    member: usize,
    provider: &'a mut Provider,
}

impl<'de> DeserializeSeed<'de> for ProviderMember<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let p = self.provider;
        match self.member {
            0 => p.issuer = one_or_many(d)?,
            1 => p.audiences = apart(d)?,
            2 => p.subjects = apart(d)?,
            3 => p.jwks = apart(d)?,
            4 => p.pem_keys = apart(d)?,
            5 => p.remote_jwks = apart(d)?,
            6 => p.discovery = apart(d)?,
            7 => p.allow_hmac = apart(d)?,
            8 => p.algorithms = apart(d)?,
            9 => p.from_headers = apart(d)?,
            10 => p.from_params = apart(d)?,
            11 => p.from_cookies = apart(d)?,
            12 => p.forward = apart(d)?,
            13 => p.forward_payload_header = apart(d)?,
            14 => p.claim_to_headers = apart(d)?,
            15 => p.clock_skew_seconds = apart(d)?,
            16 => p.require_exp = apart(d)?,
            17 => p.max_lifetime_seconds = apart(d)?,
            18 => p.max_remaining_lifetime_seconds = apart(d)?,
            19 => p.max_age_seconds = apart(d)?,
            20 => p.required_claims = apart(d)?,
            _ => p.claim_rules = apart(d)?, // 21: MemberIndex gives no other
        }
        Ok(())
    }
}

/// `T`'s own deserialization, in a function of its own for each `T`: shared
/// by the members of that type, and never inlined into [`ProviderMember`].
#[inline(never)]
fn apart<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    T::deserialize(d)
}

/// A header that may carry the token, with the text before it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderLocation {
    /// Header name (matched case-insensitively).
    pub name: String,
    /// Text before the token, e.g. `"Bearer "` (matched case-insensitively).
    #[serde(default)]
    pub value_prefix: String,
}

/// Copy one claim into one request header.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimToHeader {
    /// The claim: a dotted path of nested members (`"realm.role"`) or an
    /// array of member names (`["https://example.com/role"]`); see
    /// [`ClaimPath`]. Its value is written as [`crate::claims::header_value`] says.
    pub claim: ClaimPath,
    /// The header to set (any client-sent copy is removed first).
    pub header: String,
}

/// A check on the claims of a verified token. Exactly one operator is set.
///
/// `claim` is a [`ClaimPath`]: a dotted path of nested members
/// (`"resource_access.api.roles"`) or an array of member names
/// (`["https://example.com/roles"]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimRule {
    /// The claim.
    pub claim: ClaimPath,
    /// The claim equals this JSON value.
    #[serde(default)]
    pub equals: Option<Value>,
    /// The claim equals one of these JSON values.
    #[serde(default)]
    pub one_of: Option<Vec<Value>>,
    /// The claim (an array, or a space-separated string such as `scope`)
    /// contains this value.
    #[serde(default)]
    pub contains: Option<Value>,
    /// The claim is present (`true`) or absent (`false`).
    #[serde(default)]
    pub exists: Option<bool>,
}

/// Which requests a rule covers and what it requires. Exactly one of
/// `path`, `prefix` and `path_separated_prefix` is set, in canonical form.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Match paths starting with this text (`/api` matches `/api`, `/api/x`
    /// and `/apix`; the query string is not part of the path).
    #[serde(default)]
    pub prefix: Option<String>,
    /// Match this path and the paths below it, segment by segment (`/api`
    /// matches `/api`, `/api/` and `/api/x`, not `/apix`), as `jwt_authn`'s
    /// `path_separated_prefix`.
    #[serde(default)]
    pub path_separated_prefix: Option<String>,
    /// Match exactly this path (also with one trailing `/`: `/admin` matches
    /// `/admin/`, which most frameworks route to the same handler).
    #[serde(default)]
    pub path: Option<String>,
    /// Only requests with one of these methods (compared without case;
    /// `GET` also covers `HEAD`, which frameworks route to GET handlers).
    /// Absent: every method.
    #[serde(default)]
    pub methods: Option<Vec<String>>,
    /// The provider, or any of several providers, that must accept the token.
    #[serde(default, deserialize_with = "one_or_many_opt")]
    pub requires: Option<Vec<String>>,
    /// With `requires`: a request without a token is let through (a present
    /// but invalid token is still refused), as in `jwt_authn`'s `allow_missing`.
    #[serde(default)]
    pub allow_missing: bool,
    /// No token is needed or checked.
    #[serde(default)]
    pub bypass: bool,
    /// Authorization rules for this path, on top of the provider's (403 if not met).
    #[serde(default)]
    pub claim_rules: Vec<ClaimRule>,
}

/// Revoked tokens, by `jti` and by `sub`.
///
/// Entries are non-empty strings or numbers. A claim and an entry match when
/// their [`crate::claims::identifier_text`] is the same: a string as it is,
/// a number as its decimal digits (`123`, `123.0` and `"123"` all match each
/// other). Over-matching is the safe side of a deny list: an entry never
/// misses a token because it was written as a number.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenyList {
    /// Refuse tokens with one of these `jti` values.
    #[serde(default)]
    pub jti: Vec<Value>,
    /// Refuse tokens with one of these `sub` values.
    #[serde(default)]
    pub sub: Vec<Value>,
}

/// Bounds on untrusted input; oversize input fails fast with `too_large`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Longest accepted token, in bytes (default 8192).
    #[serde(default = "default_max_token_bytes")]
    pub max_token_bytes: usize,
    /// Deepest accepted JSON nesting in a header or payload (default 16).
    #[serde(default = "default_max_json_depth")]
    pub max_json_depth: usize,
    /// Most keys accepted in one provider's JWKS (default 64).
    #[serde(default = "default_max_jwks_keys")]
    pub max_jwks_keys: usize,
    /// Most keys one token is tried against when its `kid` does not name its
    /// key (default 4; 0: every token needs a `kid` that names a key). More
    /// candidates is `too_many_keys`; see [`crate::jwk::KeySetOptions::max_keys_without_kid`].
    #[serde(default = "default_max_keys_without_kid")]
    pub max_keys_without_kid: usize,
    /// Most requests the Envoy filter holds at once, per worker thread, while
    /// a provider's first key fetch or a kid-miss refetch is under way
    /// (default 1024; 0: none). One more gets its refusal at once (503
    /// `jwks_unavailable`, 401 `unknown_kid`; [`crate::Verifier::key_wait`]).
    #[serde(default = "default_max_waiting_requests")]
    pub max_waiting_requests: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_token_bytes: default_max_token_bytes(),
            max_json_depth: default_max_json_depth(),
            max_jwks_keys: default_max_jwks_keys(),
            max_keys_without_kid: default_max_keys_without_kid(),
            max_waiting_requests: default_max_waiting_requests(),
        }
    }
}

impl Limits {
    /// How a provider's key set is loaded under these limits.
    pub fn key_set_options(&self, allow_symmetric: bool) -> crate::jwk::KeySetOptions {
        crate::jwk::KeySetOptions {
            allow_symmetric,
            max_keys: self.max_jwks_keys,
            max_keys_without_kid: self.max_keys_without_kid,
        }
    }
}

/// How request paths are read ([`crate::path`] describes the canonical form).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathConfig {
    /// Compare paths with rules case by case (default true). Set it to false
    /// when the upstream routes without case (Express's default, IIS), so
    /// `/ADMIN` meets the `/admin` rule.
    #[serde(default = "default_true")]
    pub case_sensitive: bool,
    /// Merge empty segments (`//a` is `/a`, default true), as most upstreams
    /// do. With false, such paths are refused with `invalid_path` instead.
    #[serde(default = "default_true")]
    pub merge_slashes: bool,
}

impl Default for PathConfig {
    fn default() -> Self {
        PathConfig {
            case_sensitive: true,
            merge_slashes: true,
        }
    }
}

/// How denials look to clients.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseConfig {
    /// The `realm` in `WWW-Authenticate` (default `"jwtgate"`).
    #[serde(default = "default_realm")]
    pub realm: String,
    /// Do not tell clients why a token was refused (the logs still say).
    #[serde(default)]
    pub hide_details: bool,
}

impl Default for ResponseConfig {
    fn default() -> Self {
        ResponseConfig {
            realm: default_realm(),
            hide_details: false,
        }
    }
}

/// The verified-token cache (on by default, bounded).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// Use the cache (default true).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Most entries (default 1024).
    #[serde(default = "default_cache_entries")]
    pub max_entries: usize,
    /// Most bytes of cached tokens and claims, approximately (default 1 MiB).
    #[serde(default = "default_cache_bytes")]
    pub max_bytes: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            enabled: true,
            max_entries: default_cache_entries(),
            max_bytes: default_cache_bytes(),
        }
    }
}

fn default_skew() -> u32 {
    60
}
fn default_true() -> bool {
    true
}
fn default_max_token_bytes() -> usize {
    8192
}
fn default_max_json_depth() -> usize {
    16
}
fn default_max_jwks_keys() -> usize {
    64
}
fn default_max_keys_without_kid() -> usize {
    crate::jwk::DEFAULT_MAX_KEYS_WITHOUT_KID
}
fn default_max_waiting_requests() -> usize {
    1024
}
fn default_realm() -> String {
    "jwtgate".to_string()
}
fn default_cache_entries() -> usize {
    1024
}
fn default_cache_bytes() -> usize {
    1 << 20
}

impl Policy {
    /// Parses and checks a policy. Errors have code `invalid_config` and a
    /// message that starts with the field path.
    #[inline(never)] // Load time only: see `Verifier::from_json`.
    pub fn from_json(json: &str) -> Result<Policy, Error> {
        // The field path comes from where serde_json stopped (json::path_at):
        // tracking it through the types (serde_path_to_error, which
        // tests/regressions.rs and the policy fuzz target compare it with)
        // cost the filter 44 KB. from_str also refuses text after the policy.
        let policy: Policy = serde_json::from_str(json).map_err(|e| {
            let path = crate::json::path_at(json, &e);
            if path == "." {
                config_error(format!("policy: {e}"))
            } else {
                config_error(format!("{path}: {e}"))
            }
        })?;
        policy.check()?;
        Ok(policy)
    }

    /// Checks what the JSON shape alone cannot say (cross references,
    /// one-of-several fields, value ranges).
    #[inline(never)] // Load time only: see `Verifier::from_json`.
    pub(crate) fn check(&self) -> Result<(), Error> {
        if self.providers.is_empty() {
            return Err(config_error("providers: at least one provider is required"));
        }
        if !crate::alg::PURE_RUST_RSA_ECDSA
            && self.signature_verifier == crate::host::VerifierChoice::Rust
        {
            return Err(config_error(format!(
                "signature_verifier: \"rust\" needs the pure-Rust RSA/ECDSA verifiers, which this build does not have; {}",
                crate::alg::FULL_BUILD
            )));
        }
        for (name, p) in &self.providers {
            let at = |field: &str| format!("providers.{name}.{field}");
            if p.issuer.is_empty() || p.issuer.iter().any(|i| i.is_empty()) {
                return Err(config_error(format!(
                    "{}: must name at least one non-empty issuer",
                    at("issuer")
                )));
            }
            check_key_sources(p, &at)?;
            for (i, h) in p.from_headers.iter().enumerate() {
                check_header_name(&h.name, &format!("{}[{i}].name", at("from_headers")))?;
            }
            for (i, c) in p.claim_to_headers.iter().enumerate() {
                check_header_name(
                    &c.header,
                    &format!("{}[{i}].header", at("claim_to_headers")),
                )?;
            }
            if let Some(h) = &p.forward_payload_header {
                check_header_name(h, &at("forward_payload_header"))?;
            }
            for (i, a) in p.algorithms.iter().enumerate() {
                if crate::alg::Alg::from_name(a).is_none() {
                    return Err(config_error(format!(
                        "{}[{i}]: unsupported algorithm \"{a}\" (supported: {})",
                        at("algorithms"),
                        supported_algs()
                    )));
                }
            }
            check_claim_rules(&p.claim_rules, &at("claim_rules"))?;
        }
        for (list, field) in [(&self.deny.jti, "deny.jti"), (&self.deny.sub, "deny.sub")] {
            for (i, entry) in list.iter().enumerate() {
                if crate::claims::identifier_text(entry).is_none_or(|t| t.is_empty()) {
                    return Err(config_error(format!(
                        "{field}[{i}]: must be a non-empty string or a number, not {}",
                        describe_entry(entry)
                    )));
                }
            }
        }
        for (i, r) in self.rules.iter().enumerate() {
            let at = format!("rules[{i}]");
            let matchers = [
                ("path", &r.path),
                ("prefix", &r.prefix),
                ("path_separated_prefix", &r.path_separated_prefix),
            ];
            let mut set = matchers.iter().filter(|(_, v)| v.is_some());
            let (field, text) = match (set.next(), set.next()) {
                (Some((field, Some(text))), None) => (field, text),
                (None, _) => {
                    return Err(config_error(format!(
                        "{at}: needs one of path, prefix, path_separated_prefix"
                    )))
                }
                _ => {
                    return Err(config_error(format!(
                        "{at}: set only one of path, prefix, path_separated_prefix"
                    )))
                }
            };
            crate::path::check_rule_path(text)
                .map_err(|why| config_error(format!("{at}.{field}: \"{text}\" {why}")))?;
            if *field == "path_separated_prefix" && text.ends_with('/') {
                return Err(config_error(format!(
                    "{at}.path_separated_prefix: must not end with '/' (\"{text}\"); use prefix: \"/\" for every path"
                )));
            }
            if let Some(methods) = &r.methods {
                if methods.is_empty() {
                    return Err(config_error(format!("{at}.methods: names no method")));
                }
                for (j, m) in methods.iter().enumerate() {
                    if m.is_empty() || !m.bytes().all(is_token_byte) {
                        return Err(config_error(format!(
                            "{at}.methods[{j}]: \"{m}\" is not an HTTP method"
                        )));
                    }
                }
            }
            match (&r.requires, r.bypass) {
                (Some(_), true) => return Err(config_error(format!("{at}: set either requires or bypass, not both"))),
                (None, false) => return Err(config_error(format!("{at}: needs requires or bypass: true"))),
                (None, true) if r.allow_missing || !r.claim_rules.is_empty() => {
                    return Err(config_error(format!(
                        "{at}: allow_missing and claim_rules need requires (a bypass rule checks nothing)"
                    )))
                }
                _ => {}
            }
            if let Some(req) = &r.requires {
                if req.is_empty() {
                    return Err(config_error(format!("{at}.requires: names no provider")));
                }
                for (j, name) in req.iter().enumerate() {
                    if !self.providers.contains_key(name) {
                        return Err(config_error(format!(
                            "{at}.requires[{j}]: unknown provider \"{name}\" (known: {})",
                            self.providers
                                .keys()
                                .cloned()
                                .collect::<Vec<_>>()
                                .join(", ")
                        )));
                    }
                }
            }
            check_claim_rules(&r.claim_rules, &format!("{at}.claim_rules"))?;
        }
        let l = &self.limits;
        for (value, field) in [
            (l.max_token_bytes, "limits.max_token_bytes"),
            (l.max_json_depth, "limits.max_json_depth"),
            (l.max_jwks_keys, "limits.max_jwks_keys"),
            (self.cache.max_entries, "cache.max_entries"),
            (self.cache.max_bytes, "cache.max_bytes"),
        ] {
            if value == 0 {
                return Err(config_error(format!("{field}: must be greater than 0")));
            }
        }
        if l.max_json_depth > 64 {
            return Err(config_error("limits.max_json_depth: must be at most 64"));
        }
        if self.response.realm.contains(['"', '\\']) || !self.response.realm.is_ascii() {
            return Err(config_error(
                "response.realm: must be ASCII without quotes or backslashes",
            ));
        }
        Ok(())
    }
}

/// A provider needs keys from somewhere; discovery needs one issuer.
fn check_key_sources(p: &Provider, at: &dyn Fn(&str) -> String) -> Result<(), Error> {
    if p.jwks.is_none() && p.pem_keys.is_empty() && p.remote_jwks.is_none() && !p.discovery {
        return Err(config_error(format!(
            "{}: needs keys: jwks, pem_keys, remote_jwks or discovery: true",
            at("jwks")
        )));
    }
    if p.discovery && p.issuer.len() != 1 {
        return Err(config_error(format!(
            "{}: discovery needs exactly one issuer (its discovery document must name it)",
            at("issuer")
        )));
    }
    if let Some(remote) = &p.remote_jwks {
        remote.check(&at("remote_jwks"), p.discovery)?;
    }
    Ok(())
}

fn config_error(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::InvalidConfig, message)
}

fn supported_algs() -> String {
    crate::alg::Alg::ALL
        .iter()
        .map(|a| a.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// RFC 9110 token characters.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 9110 token characters; lower case only, as HTTP/2 and Envoy require.
fn check_header_name(name: &str, at: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| is_token_byte(b) && !b.is_ascii_uppercase());
    if ok {
        Ok(())
    } else {
        Err(config_error(format!(
            "{at}: \"{name}\" is not a valid header name (use lower case letters, digits and -)"
        )))
    }
}

/// "an empty string", "an object", for deny-list messages.
fn describe_entry(entry: &Value) -> &'static str {
    match entry {
        Value::String(_) => "an empty string",
        other => crate::json::type_name(other),
    }
}

fn check_claim_rules(rules: &[ClaimRule], at: &str) -> Result<(), Error> {
    for (i, r) in rules.iter().enumerate() {
        let at = format!("{at}[{i}]");
        let ops = [
            r.equals.is_some(),
            r.one_of.is_some(),
            r.contains.is_some(),
            r.exists.is_some(),
        ];
        if ops.iter().filter(|set| **set).count() != 1 {
            return Err(config_error(format!(
                "{at}: set exactly one of equals, one_of, contains, exists"
            )));
        }
    }
    Ok(())
}

/// Deserializes a string or an array of strings into a list.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct OneOrMany;
    impl<'de> Visitor<'de> for OneOrMany {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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

fn one_or_many_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    one_or_many(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(json: &str) -> Result<Policy, Error> {
        Policy::from_json(json)
    }

    const MIN: &str = r#"{"providers":{"idp":{"issuer":"i","jwks":{"keys":[]}}},"rules":[{"prefix":"/","requires":"idp"}]}"#;

    #[test]
    fn text_after_the_policy_is_refused() {
        assert!(load(MIN).is_ok());
        let e = load(&format!("{MIN} {{}}")).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidConfig);
        assert!(
            e.message()
                .starts_with("policy: trailing characters at line 1"),
            "{e}"
        );
    }

    #[test]
    fn defaults_follow_jwt_authn_and_the_docs() {
        let p = load(MIN).unwrap();
        let idp = &p.providers["idp"];
        assert_eq!(idp.issuer, ["i"]);
        assert!(!idp.forward);
        assert!(idp.require_exp);
        assert_eq!(idp.clock_skew_seconds, 60);
        assert_eq!(p.limits.max_token_bytes, 8192);
        assert!(p.cache.enabled);
        assert_eq!(p.response.realm, "jwtgate");
        assert_eq!(
            p.rules[0].requires.as_deref(),
            Some(&["idp".to_string()][..])
        );
    }

    fn message(json: &str) -> String {
        let e = load(json).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidConfig);
        e.message().to_string()
    }

    #[test]
    fn errors_name_the_field() {
        let m = message(r#"{"providers":{"idp":{"issuer":"i","jwks":{},"audiences":"x"}}}"#);
        assert!(
            m.starts_with("providers.idp.audiences: invalid type"),
            "{m}"
        );
        let m = message(r#"{"providers":{"idp":{"issuer":"i","jwks":{},"audience":["x"]}}}"#);
        assert!(
            m.starts_with("providers.idp.audience: unknown field `audience`"),
            "{m}"
        );
        let m = message(r#"{"providers":{"idp":{"issuer":5,"jwks":{}}}}"#);
        assert!(
            m.contains("providers.idp.issuer") && m.contains("a string or an array"),
            "{m}"
        );
        let m = message(&MIN.replace(r#""requires":"idp""#, r#""requires":["idp","nope"]"#));
        assert!(
            m.starts_with("rules[0].requires[1]: unknown provider \"nope\""),
            "{m}"
        );
    }

    #[test]
    fn semantic_checks() {
        assert!(message(r#"{"providers":{}}"#).starts_with("providers:"));
        let m = message(&MIN.replace(r#""prefix":"/","#, ""));
        assert!(m.starts_with("rules[0]: needs one of path, prefix"), "{m}");
        let m = message(&MIN.replace(r#""prefix":"/","#, r#""prefix":"/a/../b","#));
        assert!(
            m.starts_with("rules[0].prefix: \"/a/../b\" is not in canonical form; write \"/b\""),
            "{m}"
        );
        let m = message(&MIN.replace(r#""prefix":"/","#, r#""path_separated_prefix":"/api/","#));
        assert!(
            m.starts_with("rules[0].path_separated_prefix: must not end"),
            "{m}"
        );
        let m = message(&MIN.replace(r#""prefix":"/","#, r#""prefix":"/","path":"/x","#));
        assert!(m.starts_with("rules[0]: set only one of"), "{m}");
        let m = message(&MIN.replace(
            r#""prefix":"/","#,
            r#""prefix":"/","methods":["GET","PO ST"],"#,
        ));
        assert!(
            m.starts_with("rules[0].methods[1]: \"PO ST\" is not an HTTP method"),
            "{m}"
        );
        let m = message(&MIN.replace(r#""requires":"idp""#, r#""requires":"idp","bypass":true"#));
        assert!(m.contains("either requires or bypass"), "{m}");
        let m = message(&MIN.replace(r#""issuer":"i""#, r#""issuer":"i","algorithms":["none"]"#));
        assert!(
            m.starts_with("providers.idp.algorithms[0]: unsupported algorithm \"none\""),
            "{m}"
        );
        let m = message(&MIN.replace(
            r#""issuer":"i""#,
            r#""issuer":"i","claim_to_headers":[{"claim":"sub","header":"X-Sub"}]"#,
        ));
        assert!(
            m.starts_with("providers.idp.claim_to_headers[0].header"),
            "{m}"
        );
        let m = message(&MIN.replace(
            r#""requires":"idp""#,
            r#""requires":"idp","claim_rules":[{"claim":"a","equals":1,"exists":true}]"#,
        ));
        assert!(
            m.starts_with("rules[0].claim_rules[0]: set exactly one"),
            "{m}"
        );
        let m = message(&MIN.replace(r#""rules""#, r#""limits":{"max_token_bytes":0},"rules""#));
        assert!(m.starts_with("limits.max_token_bytes"), "{m}");
        assert!(message("not json").starts_with("policy: expected"));
    }

    #[test]
    fn claim_paths_and_deny_entries_are_checked_at_load() {
        let m = message(&MIN.replace(
            r#""requires":"idp""#,
            r#""requires":"idp","claim_rules":[{"claim":"https://x.example/roles","exists":true}]"#,
        ));
        assert!(
            m.starts_with(
                "rules[0].claim_rules[0].claim: \"https://x.example/roles\" is ambiguous"
            ),
            "{m}"
        );
        let m = message(&MIN.replace(
            r#""issuer":"i""#,
            r#""issuer":"i","claim_to_headers":[{"claim":[],"header":"x-a"}]"#,
        ));
        assert!(
            m.starts_with("providers.idp.claim_to_headers[0].claim: an empty array"),
            "{m}"
        );
        let m = message(&MIN.replace(
            r#""issuer":"i""#,
            r#""issuer":"i","required_claims":["a..b"]"#,
        ));
        assert!(
            m.starts_with("providers.idp.required_claims[0]: \"a..b\" has an empty"),
            "{m}"
        );
        let with_deny =
            |deny: &str| MIN.replace(r#""rules""#, &format!(r#""deny":{deny},"rules""#));
        let m = message(&with_deny(r#"{"jti":["a",{"x":1}]}"#));
        assert_eq!(
            m,
            "deny.jti[1]: must be a non-empty string or a number, not an object"
        );
        let m = message(&with_deny(r#"{"sub":[""]}"#));
        assert!(
            m.starts_with("deny.sub[0]: must be a non-empty string"),
            "{m}"
        );
        let p = load(&with_deny(r#"{"jti":["a",123,1.5],"sub":[7]}"#)).unwrap();
        assert_eq!(p.deny.jti.len(), 3);
        let p = load(&MIN.replace(
            r#""rules""#,
            r#""limits":{"max_keys_without_kid":0},"rules""#,
        ))
        .unwrap();
        assert_eq!(p.limits.max_keys_without_kid, 0);
        assert_eq!(load(MIN).unwrap().limits.max_keys_without_kid, 4);
    }
}
