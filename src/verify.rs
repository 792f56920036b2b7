//! JWT verification: parse, select the key, check the signature, and only
//! then read and check the claims. One code path for `verify`, `explain` and
//! the HTTP front ends.
//!
//! ```
//! use jwtgate::{Verifier, verify::VerifyOptions};
//! // RFC 7515 appendix A.1 token and key, as an HMAC provider.
//! let policy = r#"{"providers": {"joe": {
//!     "issuer": "joe", "allow_hmac": true, "clock_skew_seconds": 0,
//!     "jwks": {"keys": [{"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}]}}}}"#;
//! let verifier = Verifier::from_json(policy).unwrap();
//! let token = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9\
//!     .eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ\
//!     .dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
//! let ok = verifier.verify(token, &VerifyOptions { now: 1_300_819_379, path: None }).unwrap();
//! assert_eq!(ok.claims["http://example.com/is_root"], true);
//! let late = verifier.verify(token, &VerifyOptions { now: 1_300_819_380, path: None }).unwrap_err();
//! assert_eq!(late.code().as_str(), "expired");
//! let report = verifier.explain(token, &VerifyOptions { now: 1_300_819_380, path: None });
//! assert!(!report.ok);
//! assert!(report.checks.iter().any(|c| c.check == "signature" && c.ok));
//! ```

use alloc::boxed::Box;
use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::alg::sha256;
use crate::alg::Alg;
use crate::cache::VerifiedCache;
use crate::claims::{self, Claims};
use crate::error::{err, Error, ErrorCode};
use crate::explain::{Check, Trace};
use crate::host::{self, SignatureVerifier, VerifierChoice};
use crate::json;
use crate::jwk::KeySet;
use crate::jws::{self, printable, UntrustedJws};
use crate::path::{match_key, RequestTarget, RuleMatcher};
use crate::policy::{ClaimRule, Policy, Provider, Rule};

/// A token that passed every check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verified {
    /// The name of the provider that accepted the token.
    pub provider: String,
    /// The protected header.
    pub header: Map<String, Value>,
    /// The verified claims.
    pub claims: Claims,
}

impl Verified {
    /// A rough size in bytes, for cache accounting.
    pub(crate) fn approximate_size(&self) -> usize {
        fn size(v: &Value) -> usize {
            match v {
                Value::String(s) => s.len() + 24,
                Value::Array(a) => a.iter().map(size).sum::<usize>() + 24,
                Value::Object(m) => {
                    m.iter().map(|(k, v)| k.len() + size(v) + 32).sum::<usize>() + 24
                }
                _ => 16,
            }
        }
        let map =
            |m: &Map<String, Value>| m.iter().map(|(k, v)| k.len() + size(v) + 32).sum::<usize>();
        self.provider.len() + map(&self.header) + map(&self.claims)
    }
}

/// What `verify` and `explain` need besides the token.
#[derive(Debug, Clone, Copy)]
pub struct VerifyOptions<'a> {
    /// The current time, in Unix seconds (the caller's clock).
    pub now: i64,
    /// The request path (or target). When a rule with `requires` matches it
    /// (as for a GET request), that rule's providers and claim rules apply;
    /// otherwise every provider is tried. A path that cannot be
    /// canonicalized is an `invalid_path` error.
    pub path: Option<&'a str>,
}

/// Every check performed on a token, in order, and the verdict.
///
/// Serializes as `{"ok", "code"?, "message"?, "provider"?, "checks"}`: the
/// error's code and message sit at the top level, the shape every front end
/// reports (the npm package's `explain`, debug logs, the inspector page).
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// Whether the token was accepted.
    pub ok: bool,
    /// Why not, when it was not.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub error: Option<Error>,
    /// The provider that accepted it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The checks, in the order they ran.
    pub checks: Vec<Check>,
}

/// A loaded policy, ready to verify tokens. Build it once (keys are parsed
/// and prepared here), then verify many tokens.
#[derive(Debug)]
pub struct Verifier {
    pub(crate) policy: Policy,
    pub(crate) providers: Vec<Compiled>,
    /// Each rule's matcher, in file order.
    rule_matchers: Vec<RuleMatcher>,
    /// Rule indices in the order they are tried: exact paths, then the
    /// longest prefix first (equal lengths keep file order).
    rule_order: Vec<usize>,
    /// For each rule, the indices of the providers it requires (resolved once).
    rule_providers: Vec<Vec<usize>>,
    /// Every provider, in name order: tried when no rule with `requires` applies.
    all_providers: Vec<usize>,
    deny_jti: BTreeSet<String>,
    deny_sub: BTreeSet<String>,
    /// Every header any provider sets: removed from every request first.
    pub(crate) output_headers: Vec<String>,
    warnings: Vec<String>,
    pub(crate) fingerprint: [u8; 32],
    pub(crate) host: HostSlot,
}

/// The host's signature verifier, when one is in use.
#[derive(Default)]
pub(crate) struct HostSlot(pub(crate) Option<Box<dyn SignatureVerifier>>);

impl core::fmt::Debug for HostSlot {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.0.as_ref().map_or("pure Rust", |h| h.name()))
    }
}

/// A provider with its keys prepared.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub(crate) name: String,
    pub(crate) config: Provider,
    pub(crate) keys: crate::keyring::ProviderKeys,
    algorithms: Vec<Alg>,
}

/// A signature check for an asynchronous host ([`Verifier::signature_requests`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignatureRequest {
    /// The algorithm (already matched against the key).
    pub alg: Alg,
    /// The host's handle for the key ([`SignatureVerifier::prepare`]).
    pub handle: u32,
    /// The signed text, `header.payload`.
    pub signing_input: String,
    /// The signature bytes (length and format already checked).
    #[serde(serialize_with = "as_base64url")]
    pub signature: Vec<u8>,
}

fn as_base64url<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::base64url::encode(bytes))
}

/// Records the signature checks a verification asks for, answering "no".
struct Recorder(RefCell<Vec<SignatureRequest>>);

impl SignatureVerifier for Recorder {
    fn prepare(&mut self, _: &crate::alg::VerifyingKey) -> Option<u32> {
        None
    }
    fn verify(
        &self,
        alg: Alg,
        handle: u32,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Option<bool> {
        self.0.borrow_mut().push(SignatureRequest {
            alg,
            handle,
            signing_input: String::from_utf8_lossy(signing_input).into_owned(),
            signature: signature.to_vec(),
        });
        Some(false)
    }
    /// Every request is recorded; the asynchronous host answers what it can.
    fn handles(&self, _: Alg) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "recorder"
    }
}

/// Which providers may accept a token, and the path's extra claim rules.
pub(crate) struct Target<'v> {
    pub(crate) providers: &'v [usize],
    pub(crate) rule_claims: &'v [ClaimRule],
}

impl Verifier {
    /// Loads a policy from JSON. Errors have code `invalid_config` and name
    /// the field; keys that cannot be used are skipped and reported in
    /// [`Verifier::warnings`], but a provider with no usable key is an error.
    // `#[inline(never)]` on this and on the other functions that only run when a
    // policy or key set loads: Envoy's V8 compiles every function of the filter
    // at load, and the largest compilations set the memory Envoy keeps from it
    // (docs/BENCHMARKS.md, "Footprint"): kept apart, each compiles with a smaller peak.
    #[inline(never)]
    pub fn from_json(policy_json: &str) -> Result<Verifier, Error> {
        let policy = Policy::from_json(policy_json)?;
        let mut verifier = Verifier::from_policy(policy)?;
        verifier.fingerprint = sha256(policy_json.as_bytes());
        Ok(verifier)
    }

    /// Prepares an already parsed policy (checked again here, as a policy
    /// built in code skipped [`Policy::from_json`]'s checks).
    #[inline(never)] // Load time only: see `Verifier::from_json`.
    pub fn from_policy(policy: Policy) -> Result<Verifier, Error> {
        policy.check()?;
        let mut providers = Vec::new();
        let mut warnings = Vec::new();
        let mut output_headers = Vec::new();
        for (name, config) in &policy.providers {
            let options = policy.limits.key_set_options(config.allow_hmac);
            let keys = match &config.jwks {
                None => None,
                Some(Value::String(text)) => Some(KeySet::from_json(text, &options)),
                Some(value @ Value::Object(_)) => Some(KeySet::from_value(value, &options)),
                Some(other) => Some(Err(err!(
                    Malformed,
                    "must be a JWKS object or a string holding JWKS JSON, not {}",
                    json::type_name(other)
                ))),
            }
            .transpose()
            .map_err(|e| err!(InvalidConfig, "providers.{name}.jwks: {}", e.message()))?;
            if let Some(keys) = &keys {
                warnings.extend(key_warnings(name, keys));
            }
            let algorithms: Vec<Alg> = config
                .algorithms
                .iter()
                .filter_map(|a| Alg::from_name(a))
                .collect();
            let mut keys = crate::pem::with_pem_keys(keys, config, &algorithms, name)?;
            if let Some(keys) = keys.as_mut() {
                keys.limit_keys_without_kid(options.max_keys_without_kid);
            }
            let source = crate::keyring::source_for(name, config, options, providers.len() as u64)?;
            let keys = crate::keyring::ProviderKeys::new(keys, source);
            for header in config
                .claim_to_headers
                .iter()
                .map(|c| &c.header)
                .chain(config.forward_payload_header.as_ref())
            {
                if !output_headers.contains(header) {
                    output_headers.push(header.clone());
                }
            }
            providers.push(Compiled {
                name: name.clone(),
                config: config.clone(),
                keys,
                algorithms,
            });
        }
        let rule_matchers: Vec<RuleMatcher> = policy.rules.iter().map(RuleMatcher::new).collect();
        // By precedence, equal precedence in file order (the index breaks
        // ties). Inserted one by one: a `sort` would link a sort routine.
        let mut by_precedence = BTreeSet::new();
        for (i, matcher) in rule_matchers.iter().enumerate() {
            by_precedence.insert((matcher.precedence(), i));
        }
        let rule_order: Vec<usize> = by_precedence.into_iter().map(|(_, i)| i).collect();
        Ok(Verifier {
            rule_matchers,
            rule_order,
            rule_providers: policy
                .rules
                .iter()
                .map(|rule| {
                    let names = rule.requires.iter().flatten();
                    names
                        .filter_map(|n| providers.iter().position(|p| &p.name == n))
                        .collect()
                })
                .collect(),
            all_providers: (0..providers.len()).collect(),
            deny_jti: deny_set(&policy.deny.jti),
            deny_sub: deny_set(&policy.deny.sub),
            providers,
            output_headers,
            warnings,
            fingerprint: [0; 32],
            host: HostSlot::default(),
            policy,
        })
    }

    /// Offers the host's crypto for RSA and ECDSA signatures, as the policy's
    /// `signature_verifier` allows: with `"rust"` it is not used; otherwise it
    /// must first pass [`host::self_test`], and then prepares every key once.
    /// A host that fails the self-test is an `invalid_config` error under
    /// `"host"`, and a warning (pure Rust stays in use) under `"auto"`, except
    /// in a build without the pure-Rust RSA/ECDSA verifiers (feature
    /// `rust-rsa-ecdsa`), where it is an error too.
    /// Returns who checks signatures from now on (see [`Verifier::signature_checker`]).
    #[inline(never)] // Load time only: see `Verifier::from_json`.
    pub fn offer_host_crypto(
        &mut self,
        mut host: Box<dyn SignatureVerifier>,
    ) -> Result<&'static str, Error> {
        match self.policy.signature_verifier {
            VerifierChoice::Rust => return Ok(self.signature_checker()),
            choice => {
                if let Err(why) = host::self_test(host.as_mut()) {
                    let message = format!(
                        "signature_verifier: the host crypto ({}) failed its self-test: {why}",
                        host.name()
                    );
                    if choice == VerifierChoice::Host {
                        return Err(Error::new(ErrorCode::InvalidConfig, message));
                    }
                    if !crate::alg::PURE_RUST_RSA_ECDSA {
                        return Err(Error::new(
                            ErrorCode::InvalidConfig,
                            format!(
                                "{message}, and this build has no pure-Rust RSA/ECDSA to fall back to; {}",
                                crate::alg::FULL_BUILD
                            ),
                        ));
                    }
                    self.warnings.push(format!("{message}; using pure Rust"));
                    return Ok(self.signature_checker());
                }
            }
        }
        self.refuse_unverifiable(host.as_ref())?;
        for provider in &mut self.providers {
            provider.keys.prepare_for(host.as_mut());
        }
        self.host = HostSlot(Some(host));
        Ok(self.signature_checker())
    }

    /// Refuses (`invalid_config`, naming the field) an algorithm that neither
    /// this build's pure Rust ([`crate::alg::pure_rust_verifies`]) nor `host`
    /// ([`SignatureVerifier::handles`]) verifies, in a provider's `algorithms`
    /// or as a configured key's `alg`: e.g. PS* in the small Envoy filter,
    /// whose host has no RSASSA-PSS. Keys that arrive later (`set_jwks`, a
    /// key source) are not checked here; a token needing such a check is
    /// refused when it comes (`unsupported_alg`), never passed.
    fn refuse_unverifiable(&self, host: &dyn SignatureVerifier) -> Result<(), Error> {
        let unverifiable = |alg: Alg| -> Option<String> {
            (!crate::alg::pure_rust_verifies(alg) && !host.handles(alg)).then(|| {
                format!(
                    "{alg} ({}) has no verifier in this build: not its pure Rust, not the host crypto ({}); {}",
                    crate::alg::family(alg),
                    host.name(),
                    crate::alg::FULL_BUILD
                )
            })
        };
        for provider in &self.providers {
            let name = &provider.name;
            for (i, a) in provider.config.algorithms.iter().enumerate() {
                if let Some(why) = Alg::from_name(a).and_then(unverifiable) {
                    return Err(err!(
                        InvalidConfig,
                        "providers.{name}.algorithms[{i}]: {why}"
                    ));
                }
            }
            let keys = provider.keys.configured().map_or(&[][..], KeySet::keys);
            for key in keys {
                if let Some(why) = key.alg().and_then(unverifiable) {
                    let kid = key.kid().map(|k| format!(" \"{}\"", printable(k)));
                    return Err(err!(
                        InvalidConfig,
                        "providers.{name}.jwks: the key{}'s \"alg\" {why}",
                        kid.unwrap_or_default()
                    ));
                }
            }
        }
        Ok(())
    }

    /// Replaces a provider's key set (remote JWKS, key rotation): the new set
    /// is parsed and checked like the policy's, prepared for the host crypto
    /// in use, and caches filled under the old keys empty themselves. On error
    /// the old keys stay in use. Returns the warnings about skipped keys.
    pub fn set_jwks(&mut self, provider: &str, jwks_json: &str) -> Result<Vec<String>, Error> {
        let index = self.provider_index(provider).ok_or_else(|| {
            err!(
                InvalidConfig,
                "no provider named \"{}\"",
                printable(provider)
            )
        })?;
        let options = self
            .policy
            .limits
            .key_set_options(self.providers[index].config.allow_hmac);
        let mut keys = KeySet::from_json(jwks_json, &options)?;
        if let Some(host) = self.host.0.as_deref_mut() {
            keys.prepare_for(host);
        }
        let warnings = key_warnings(provider, &keys);
        self.providers[index].keys.set_configured(keys);
        let mut seed = self.fingerprint.to_vec();
        seed.extend_from_slice(jwks_json.as_bytes());
        self.fingerprint = sha256(&seed);
        Ok(warnings)
    }

    /// Who checks signatures: the host's name, or `"pure Rust"`.
    pub fn signature_checker(&self) -> &'static str {
        self.host.0.as_ref().map_or("pure Rust", |h| h.name())
    }

    /// The policy this verifier was built from.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Problems found while loading that did not stop it (skipped keys).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The rule for a request: `target` as it arrived (origin-form or
    /// absolute-form, with its query), matched on its canonical path
    /// ([`crate::path`]). An exact `path` rule first, else the longest
    /// matching prefix; rules with `methods` only for those methods.
    /// A target that cannot be canonicalized is an `invalid_path` error.
    pub fn rule_for(&self, method: &str, target: &str) -> Result<Option<&Rule>, Error> {
        Ok(self
            .rule_index_for(method, target)?
            .map(|i| &self.policy.rules[i]))
    }

    fn rule_index_for(&self, method: &str, target: &str) -> Result<Option<usize>, Error> {
        let paths = &self.policy.paths;
        let target = RequestTarget::parse(target, paths.merge_slashes)?;
        Ok(self.rule_index(method, target.path(), paths.case_sensitive))
    }

    /// The index of the rule for a canonical path.
    pub(crate) fn rule_index(
        &self,
        method: &str,
        canonical_path: &str,
        case_sensitive: bool,
    ) -> Option<usize> {
        let key = match_key(canonical_path, case_sensitive);
        self.rule_order
            .iter()
            .copied()
            .find(|i| self.rule_matchers[*i].matches(method, &key, case_sensitive))
    }

    /// Verifies a token. See [`VerifyOptions`] for how the path is used.
    pub fn verify(&self, token: &str, options: &VerifyOptions<'_>) -> Result<Verified, Error> {
        self.verify_with_cache(token, options, None)
    }

    /// Like [`Verifier::verify`], consulting and filling `cache`.
    pub fn verify_with_cache(
        &self,
        token: &str,
        options: &VerifyOptions<'_>,
        cache: Option<&mut VerifiedCache>,
    ) -> Result<Verified, Error> {
        let target = self.target(options.path)?;
        self.run(token, &target, options.now, cache, &mut Trace::off())
    }

    /// Verifies a token and reports every check performed, in order.
    pub fn explain(&self, token: &str, options: &VerifyOptions<'_>) -> Explanation {
        let mut trace = Trace::on();
        let result = self
            .target(options.path)
            .and_then(|target| self.run(token, &target, options.now, None, &mut trace));
        let checks = trace.into_checks();
        match result {
            Ok(v) => Explanation {
                ok: true,
                error: None,
                provider: Some(v.provider),
                checks,
            },
            Err(e) => Explanation {
                ok: false,
                error: Some(e),
                provider: None,
                checks,
            },
        }
    }

    /// The signature checks that verifying `token` would ask the host for,
    /// without doing any: for hosts whose crypto is asynchronous (WebCrypto).
    /// The caller answers them, then calls [`Verifier::verify`] with a host
    /// whose `verify` returns those answers, so the verdict still comes from
    /// the one verification path. Empty when no host prepared the keys, or
    /// when the token fails before its signature would be checked.
    pub fn signature_requests(
        &self,
        token: &str,
        options: &VerifyOptions<'_>,
    ) -> Vec<SignatureRequest> {
        match self.target(options.path) {
            Ok(target) => self.record_signature_requests(token, target.providers, options.now),
            Err(_) => Vec::new(),
        }
    }

    /// The signature checks verifying `token` against `providers` would ask
    /// the host for (a recorder answers "no", so that every candidate key of
    /// every provider is asked for; the outcome does not matter).
    pub(crate) fn record_signature_requests(
        &self,
        token: &str,
        providers: &[usize],
        now: i64,
    ) -> Vec<SignatureRequest> {
        let recorder = Recorder(RefCell::new(Vec::new()));
        let _ = self.authenticate(token, providers, now, Some(&recorder), &mut Trace::off());
        recorder.0.into_inner()
    }

    /// The providers and extra claim rules for a path (matched as a GET).
    pub(crate) fn target(&self, path: Option<&str>) -> Result<Target<'_>, Error> {
        Ok(self.target_of(self.path_rule(path)?))
    }

    /// The index in the policy's `rules` of the rule [`Verifier::verify`]
    /// applies for `options.path` (matched as a GET; `None` without a path or
    /// without a matching rule), or its `invalid_path` error. Rules never
    /// change after loading, so a caller verifying many tokens for one path
    /// may find it once and use [`Verifier::verify_for_rule`].
    pub fn path_rule(&self, path: Option<&str>) -> Result<Option<usize>, Error> {
        match path {
            Some(path) => self.rule_index_for("GET", path),
            None => Ok(None),
        }
    }

    /// [`Verifier::verify`] for the rule [`Verifier::path_rule`] gave for
    /// the path (the same checks and verdict), at `now` (Unix seconds),
    /// without the cache. With the verdict comes the token's own header and
    /// payload JSON text ([`TokenJson`]), for a caller that hands the
    /// claims on as JSON (the npm package): no second decode, no
    /// re-serialization.
    pub fn verify_for_rule(
        &self,
        token: &str,
        rule: Option<usize>,
        now: i64,
    ) -> Result<(Verified, TokenJson), Error> {
        let target = self.target_of(rule);
        let trace = &mut Trace::off();
        let host = self.host.0.as_deref();
        let accepted = self.authenticate(token, target.providers, now, host, trace)?;
        claims::check_rules(&accepted.verified.claims, target.rule_claims, trace)?;
        Ok((accepted.verified, accepted.json))
    }

    /// The providers and extra claim rules of a rule (by index): the rule's
    /// own when it has `requires`, else every provider and no extra rules.
    pub(crate) fn target_of(&self, rule: Option<usize>) -> Target<'_> {
        match rule {
            Some(i) if self.policy.rules[i].requires.is_some() => Target {
                providers: &self.rule_providers[i],
                rule_claims: &self.policy.rules[i].claim_rules,
            },
            _ => Target {
                providers: &self.all_providers,
                rule_claims: &[],
            },
        }
    }

    pub(crate) fn provider_index(&self, name: &str) -> Option<usize> {
        self.providers.iter().position(|p| p.name == name)
    }

    /// The one verification path: cache, then authentication against each
    /// candidate provider, then the path's claim rules.
    pub(crate) fn run(
        &self,
        token: &str,
        target: &Target<'_>,
        now: i64,
        mut cache: Option<&mut VerifiedCache>,
        trace: &mut Trace,
    ) -> Result<Verified, Error> {
        if let Some(cache) = cache.as_deref_mut() {
            cache.bind(&self.fingerprint);
            if let Some(hit) = cache.get(token, now) {
                if target.providers.contains(&hit.provider)
                    && self.providers[hit.provider].keys.still_valid(now)
                {
                    let verified = hit.verified.clone();
                    claims::check_rules(&verified.claims, target.rule_claims, trace)?;
                    return Ok(verified);
                }
            }
        }
        let host = self.host.0.as_deref();
        let Accepted {
            verified,
            provider,
            valid_until,
            ..
        } = self.authenticate(token, target.providers, now, host, trace)?;
        if let Some(cache) = cache {
            cache.insert(token, provider, &verified, now, valid_until);
        }
        claims::check_rules(&verified.claims, target.rule_claims, trace)?;
        Ok(verified)
    }

    /// Parses the token and tries each provider; returns the first that
    /// accepts it, else the error of the provider that got furthest.
    fn authenticate(
        &self,
        token: &str,
        providers: &[usize],
        now: i64,
        host: Option<&dyn SignatureVerifier>,
        trace: &mut Trace,
    ) -> Result<Accepted, Error> {
        let limits = &self.policy.limits;
        let jws = trace.step("token", UntrustedJws::parse(token, limits), |j| {
            format!(
                "{} bytes; header, {}-byte payload, {}-byte signature decoded",
                token.len(),
                j.payload.len(),
                j.signature.len()
            )
        })?;
        let mut best: Option<(u8, Error)> = None;
        for &index in providers {
            let provider = &self.providers[index];
            if providers.len() > 1 {
                trace.pass("provider", || {
                    format!("trying provider \"{}\"", provider.name)
                });
            }
            match self.authenticate_with(&jws, provider, now, host, trace) {
                Ok((claims, valid_until)) => {
                    return Ok(Accepted {
                        verified: Verified {
                            provider: provider.name.clone(),
                            header: jws.header,
                            claims,
                        },
                        provider: index,
                        valid_until,
                        json: TokenJson {
                            header: jws.header_json,
                            payload: jws.payload,
                        },
                    });
                }
                Err((stage, e)) => {
                    if best.as_ref().is_none_or(|(s, _)| stage > *s) {
                        best = Some((stage, e));
                    }
                }
            }
        }
        Err(best
            .map(|(_, e)| e)
            .unwrap_or_else(|| err!(InvalidConfig, "no provider applies to this request")))
    }

    /// One provider's checks; on success, the claims and until when the
    /// verdict holds. Errors carry how far they got (0 = the alg is
    /// not allowed, 1 = no key with that kid, 2 = no key for that alg or a
    /// header rule, 3 = signature, 4 = claims) to pick the most telling one.
    fn authenticate_with(
        &self,
        jws: &UntrustedJws<'_>,
        provider: &Compiled,
        now: i64,
        host: Option<&dyn SignatureVerifier>,
        trace: &mut Trace,
    ) -> Result<(Claims, f64), (u8, Error)> {
        let verified = Self::signature_of(jws, provider, now, host, trace)?;
        self.claims_of(&verified.payload, provider, now, trace)
            .map_err(|e| (4, e))
    }

    /// The header rules, the key and the signature of `jws` for one
    /// provider ([`Self::authenticate_with`]'s stages 0 to 3). Kept out of
    /// its caller (as [`Self::claims_of`]): V8's TurboFan compiles every
    /// function of the filter at load, and one large function needs more
    /// memory than its parts (docs/BENCHMARKS.md, "Footprint").
    #[inline(never)]
    fn signature_of<'k>(
        jws: &UntrustedJws<'_>,
        provider: &'k Compiled,
        now: i64,
        host: Option<&dyn SignatureVerifier>,
        trace: &mut Trace,
    ) -> Result<jws::VerifiedJws<'k>, (u8, Error)> {
        let (keys, fetched_missing) = provider
            .keys
            .usable(&provider.name, now)
            .map_err(|e| (2, e))?;
        jws::verify_traced(jws, keys, &provider.algorithms, host, trace)
            .map_err(|e| match e.code() {
                ErrorCode::UnknownKid | ErrorCode::KeyMismatch => {
                    let kid = jws.header.get("kid").and_then(Value::as_str);
                    provider
                        .keys
                        .key_miss(&provider.name, now, e, fetched_missing, kid)
                }
                _ => e,
            })
            .map_err(|e| {
                let stage = match e.code() {
                    ErrorCode::UnsupportedAlg => 0,
                    ErrorCode::UnknownKid => 1,
                    ErrorCode::BadSignature | ErrorCode::VerifierUnavailable => 3,
                    _ => 2,
                };
                (stage, e)
            })
    }

    /// The claims of a verified payload for one provider: parsed strictly,
    /// then the times, identity, deny list and claim rules; the claims and
    /// until when the verdict holds ([`Self::authenticate_with`]'s stage 4).
    #[inline(never)]
    fn claims_of(
        &self,
        payload: &[u8],
        provider: &Compiled,
        now: i64,
        trace: &mut Trace,
    ) -> Result<(Claims, f64), Error> {
        let limits = &self.policy.limits;
        let claims = trace.step(
            "payload",
            json::parse_object(payload, limits.max_json_depth, "payload"),
            |c| format!("{} claims", c.len()),
        )?;
        let p = &provider.config;
        let valid_until = claims::check_times(&claims, p, now, trace)?;
        claims::check_identity(&claims, p, trace)?;
        self.check_revoked(&claims, trace)?;
        claims::check_rules(&claims, &p.claim_rules, trace)?;
        Ok((claims, valid_until))
    }

    /// The deny list: `jti` and `sub` compared by
    /// [`claims::identifier_text`], whatever their JSON type; a value of
    /// another type (which [`claims::check_identity`] already refuses) is
    /// `invalid_claim` here too, never a pass.
    fn check_revoked(&self, claims: &Claims, trace: &mut Trace) -> Result<(), Error> {
        if self.deny_jti.is_empty() && self.deny_sub.is_empty() {
            return Ok(());
        }
        let listed = |name: &str, set: &BTreeSet<String>| match claims.get(name) {
            None => Ok(()),
            Some(v) => match claims::identifier_text(v) {
                Some(text) if set.contains(&text) => Err(err!(
                    Revoked,
                    "{name} {} is on the deny list",
                    match v {
                        Value::String(s) => format!("\"{}\"", printable(s)),
                        number => format!("{number}"),
                    }
                )),
                Some(_) => Ok(()),
                None => Err(err!(
                    InvalidClaim,
                    "{name} must be a string, not {}",
                    json::type_name(v)
                )),
            },
        };
        let result = listed("jti", &self.deny_jti).and_then(|()| listed("sub", &self.deny_sub));
        trace.step("deny list", result, |()| {
            String::from("jti and sub are not revoked")
        })
    }
}

/// What [`Verifier::authenticate`] accepted: the verdict, the index of the
/// provider that accepted it, until when it holds, and the token's JSON text.
struct Accepted {
    verified: Verified,
    provider: usize,
    valid_until: f64,
    json: TokenJson,
}

/// The header and payload JSON text of a token the core accepted, as
/// decoded from its segments: exactly the bytes its strict parse read
/// (UTF-8, no duplicate member names, bounded depth, nothing after the
/// value), so a second parser of this text sees the values the core checked.
#[derive(Debug, Clone)]
pub struct TokenJson {
    /// The protected header's JSON text.
    pub header: Vec<u8>,
    /// The payload's JSON text (the claims).
    pub payload: Vec<u8>,
}

/// A deny list's entries as the texts claims are compared by (the policy
/// checked that each has one).
#[inline(never)] // Load time only: see `Verifier::from_json`.
fn deny_set(entries: &[Value]) -> BTreeSet<String> {
    // Inserted one by one: `collect` would link a sort routine for this type.
    let mut set = BTreeSet::new();
    for text in entries.iter().filter_map(claims::identifier_text) {
        set.insert(text);
    }
    set
}

/// One warning per key skipped while loading a provider's key set.
#[inline(never)] // Load time only: see `Verifier::from_json`.
fn key_warnings(provider: &str, keys: &KeySet) -> Vec<String> {
    keys.problems()
        .iter()
        .map(|problem| {
            format!(
                "providers.{provider}.jwks.keys[{}]{}: skipped: {}",
                problem.index,
                problem
                    .kid
                    .as_ref()
                    .map(|k| format!(" (kid \"{}\")", printable(k)))
                    .unwrap_or_default(),
                problem.error.message()
            )
        })
        .collect()
}
