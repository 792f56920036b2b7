//! wasm-bindgen glue for the npm package `jwtgate` (`js/`): no logic of its own.
//!
//! Every result crosses the boundary as one JSON string that the package's
//! JavaScript parses with `JSON.parse` (measured faster than building JS objects
//! from Rust field by field; numbers in `js/README.md`). What the token itself
//! holds makes no JSON round trip: `verify` and `decode` splice the token's own
//! header and payload JSON text, which the core has just parsed strictly, into
//! their result ([`with_json_text`]), so the package makes one `JSON.parse`
//! per call and re-serializes nothing. A failure is thrown as
//! a JSON string `{"code","message"}`, which the package turns into a `JwtError`.
//! Times are Unix seconds passed as `f64`, since a JS number is one.
//!
//! In Node the package passes [`HostCrypto`] (backed by `node:crypto`) for the
//! core's host-crypto seam ([`crate::host`]) to policy verifiers: RSA, ECDSA
//! and Ed25519 (HMAC stays pure Rust's, faster in wasm: [`JsHost`]'s
//! `handles`). WebCrypto is
//! asynchronous only, so `verifyAsync` answers the core's checks ahead of time
//! ([`host_probes`] for the self-test, [`JsVerifier::signature_requests`] per
//! token) and then offers ([`JsVerifier::offer_async_host`]) a host that looks
//! the answers up: the verdict still comes from the one synchronous path.
//! [`verify_jws`] (one call, keys parsed per call) is pure Rust everywhere.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use serde::Serialize;
use serde_json::{json, Value};
use wasm_bindgen::prelude::*;

use crate::alg::{Alg, HostKey, VerifyingKey};
use crate::host::{SignatureVerifier, VerifierChoice};
use crate::http::{Decision, Request};
use crate::jws::{self, UntrustedJws};
use crate::policy::Limits;
use crate::verify::VerifyOptions;
use crate::{base64url, Error, ErrorCode, KeySet, KeySetOptions, VerifiedCache, Verifier};

#[wasm_bindgen]
extern "C" {
    /// Signature checks by the host (`js/src/node-crypto.js`, `js/src/webcrypto.js`):
    /// `prepare(spkiDer, kind)` (a public key, `kind` as
    /// [`VerifyingKey::kind`]) returns a key handle or `undefined` (no HMAC
    /// secret is ever passed: [`JsHost`] does not handle HMAC);
    /// `verify(alg, handle, input, signature)` returns `true`, `false`, or
    /// `undefined` when it cannot answer. The byte arguments are views of the
    /// module's memory, valid during the call only (copy what you keep).
    pub type HostCrypto;

    #[wasm_bindgen(method)]
    fn prepare(this: &HostCrypto, spki_der: &[u8], kind: &str) -> Option<u32>;

    #[wasm_bindgen(method)]
    fn verify(
        this: &HostCrypto,
        alg: &JsValue,
        handle: u32,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Option<bool>;
}

/// [`HostCrypto`] as the core's [`SignatureVerifier`], with the name explain
/// output and `signatureChecker` show.
struct JsHost {
    host: HostCrypto,
    name: &'static str,
    /// Every [`Alg::name`] as a JS string, in [`Alg::ALL`] order, made once:
    /// `verify` passes a reference instead of a new string per signature.
    alg_names: Vec<JsValue>,
}

impl JsHost {
    fn new(host: HostCrypto, name: &'static str) -> Self {
        let alg_names = Alg::ALL
            .iter()
            .map(|alg| JsValue::from_str(alg.name()))
            .collect();
        JsHost {
            host,
            name,
            alg_names,
        }
    }
}

impl SignatureVerifier for JsHost {
    fn prepare(&mut self, key: &VerifyingKey) -> Option<u32> {
        // The core offers only keys of algorithms a host handles, so never
        // an HMAC secret here (`handles`).
        match key.host_key()? {
            HostKey::Public(der) => self.host.prepare(&der, key.kind()),
            HostKey::Secret(_) => None,
        }
    }

    fn verify(
        &self,
        alg: Alg,
        handle: u32,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Option<bool> {
        let index = Alg::ALL.iter().position(|a| *a == alg)?;
        self.host
            .verify(&self.alg_names[index], handle, signing_input, signature)
    }

    /// RSA (RSA-PSS too), ECDSA and Ed25519: node:crypto and WebCrypto both
    /// check them faster than pure Rust in wasm. Not HMAC: with its keyed
    /// state computed once per key ([`crate::alg`]), pure Rust hashes a
    /// token's signing input in wasm faster than a call out to node:crypto's
    /// `createHmac` (measured: docs/BENCHMARKS.md, Node), and WebCrypto is
    /// given no secrets.
    fn handles(&self, alg: Alg) -> bool {
        !alg.is_symmetric()
    }

    fn name(&self) -> &'static str {
        self.name
    }
}

/// Serializes a value the core produced; serializing plain data cannot fail.
fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// The JSON text `[lead,header,payload]`: `lead` serialized, then the
/// token's own header and payload JSON text, as decoded from its segments.
/// Only for a token the core has just decoded or accepted: it parsed exactly
/// these bytes strictly (UTF-8, no duplicate member names, bounded depth,
/// nothing after the value), so one `JSON.parse` of the result gives the
/// values the core checked.
fn with_json_text<T: Serialize>(
    lead: &T,
    header: &[u8],
    payload: &[u8],
) -> Result<String, JsValue> {
    let lead = serde_json::to_vec(lead).unwrap_or_default();
    let mut out = Vec::with_capacity(lead.len() + header.len() + payload.len() + 4);
    out.push(b'[');
    out.extend_from_slice(&lead);
    for part in [header, payload] {
        out.push(b',');
        out.extend_from_slice(part);
    }
    out.push(b']');
    json_text(out)
}

/// Bytes the core produced or parsed as UTF-8 JSON, as a string.
fn json_text(out: Vec<u8>) -> Result<String, JsValue> {
    String::from_utf8(out).map_err(|_| {
        thrown(&Error::new(
            ErrorCode::Malformed,
            "the token's header or payload is not UTF-8",
        ))
    })
}

/// An [`Error`] as the value thrown to JavaScript.
fn thrown(error: &Error) -> JsValue {
    JsValue::from_str(&to_json(&json!({
        "code": error.code().as_str(),
        "message": error.message(),
    })))
}

/// JS seconds (already checked to be finite by the package) as the core's clock.
fn seconds(now: f64) -> i64 {
    now as i64
}

/// A flat `[name, value, name, value, ...]` header list (Node's
/// `req.rawHeaders`) as pairs; a trailing name without a value is dropped.
fn pairs(flat: Vec<String>) -> Vec<(String, String)> {
    let mut flat = flat.into_iter();
    let mut headers = Vec::new();
    while let (Some(name), Some(value)) = (flat.next(), flat.next()) {
        headers.push((name, value));
    }
    headers
}

/// A buffer in the module's memory that the package writes a token's UTF-8
/// into (`TextEncoder.encodeInto`, the bytes wasm-bindgen would pass for the
/// string), so a token crosses the boundary as one native copy, with no
/// allocation per call; [`decode_input`] and [`JsVerifier::verify_input`]
/// read it.
#[wasm_bindgen]
pub struct TokenInput {
    bytes: Vec<u8>,
}

#[wasm_bindgen]
impl TokenInput {
    /// An empty buffer.
    #[wasm_bindgen(constructor)]
    pub fn new() -> TokenInput {
        TokenInput { bytes: Vec::new() }
    }

    /// Makes the buffer `capacity` bytes long (zeroed) and returns where it
    /// starts in the module's memory.
    pub fn reserve(&mut self, capacity: usize) -> usize {
        self.bytes = alloc::vec![0; capacity];
        self.bytes.as_ptr() as usize
    }

    /// The token in the buffer's first `len` bytes.
    fn token(&self, len: usize) -> Result<&str, JsValue> {
        self.bytes
            .get(..len)
            .and_then(|bytes| core::str::from_utf8(bytes).ok())
            .ok_or_else(|| {
                thrown(&Error::new(
                    ErrorCode::Malformed,
                    "the token is not UTF-8 text",
                ))
            })
    }
}

impl Default for TokenInput {
    fn default() -> Self {
        Self::new()
    }
}

/// The module's `WebAssembly.Memory`, for the package to write into a
/// [`TokenInput`].
#[wasm_bindgen(js_name = wasmMemory)]
pub fn wasm_memory() -> JsValue {
    wasm_bindgen::memory()
}

/// Every stable error code, as a JSON array of strings in documentation order.
#[wasm_bindgen(js_name = errorCodes)]
pub fn error_codes() -> String {
    let codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    to_json(&codes)
}

/// Whether a refusal with the stable code `code` may pass with newer keys of
/// its provider ([`ErrorCode::newer_keys_may_answer`]); `false` for a code
/// that is not one.
#[wasm_bindgen(js_name = newerKeysMayAnswer)]
pub fn newer_keys_may_answer(code: &str) -> bool {
    ErrorCode::ALL
        .iter()
        .any(|c| c.as_str() == code && c.newer_keys_may_answer())
}

/// Decodes a token without verifying it ([`crate::decode::decode`]: strict
/// base64url and JSON, or throws) and returns `[warnings,header,payload]`
/// as JSON text, the header and payload the token's own JSON, which the
/// core just parsed strictly ([`with_json_text`]). `now` (Unix seconds)
/// only words the time warnings.
#[wasm_bindgen]
pub fn decode(token: &str, now: f64) -> Result<String, JsValue> {
    let parts =
        crate::decode::warnings_and_text(token, Some(seconds(now))).map_err(|e| thrown(&e))?;
    with_json_text(&parts.warnings, &parts.header, &parts.payload)
}

/// [`decode`] of the token in `input`'s first `len` bytes.
#[wasm_bindgen(js_name = decodeInput)]
pub fn decode_input(input: &TokenInput, len: usize, now: f64) -> Result<String, JsValue> {
    decode(input.token(len)?, now)
}

/// Internal, for the npm CLI (`js/bin/jwtgate.mjs`; not in the package's
/// API): what `jwtgate inspect` prints (without `policy_json`) or
/// `jwtgate verify` prints (with it: the verifier [`JsVerifier::new`] builds,
/// `host` offered), in [`crate::report`]'s words, the native binary's.
/// `now` is Unix seconds, `json` asks for JSON. Returns `{"ok","text"}`, `ok`
/// false when the token does not decode (inspect) or is refused (verify);
/// throws the policy's error. Only in the `jwtgate/full` module (feature
/// `js-cli`), the one the CLI loads.
#[cfg(feature = "js-cli")]
#[wasm_bindgen(js_name = cliReport)]
pub fn cli_report(
    token: &str,
    now: f64,
    json: bool,
    policy_json: Option<String>,
    path: Option<String>,
    host: Option<HostCrypto>,
) -> Result<String, JsValue> {
    use crate::report::{self, Format};
    let format = if json { Format::Json } else { Format::Text };
    let (ok, text) = match policy_json {
        None => match crate::decode::decode(token, Some(seconds(now))) {
            Ok(decoded) => (true, report::decoded(&decoded, now, format)),
            Err(e) => (false, report::undecodable(&e)),
        },
        Some(policy_json) => {
            let options = VerifyOptions {
                now: seconds(now),
                path: path.as_deref(),
            };
            let verifier = JsVerifier::new(&policy_json, host)?.verifier;
            let explanation = verifier.explain(token, &options);
            (explanation.ok, report::explanation(&explanation, format))
        }
    };
    Ok(to_json(&json!({ "ok": ok, "text": text })))
}

/// Verifies a compact JWS with any payload: the core's JWS operation, the one
/// JWT verification is built on (same parsing, header rules, key selection and
/// algorithm rules). `jwk_json` is a single JWK or a JWK set, parsed on every
/// call (a policy [`JsVerifier`] parses its keys once: use it on hot paths).
/// `oct` (HMAC) keys are accepted: the caller passes the keys explicitly, which
/// is the opt-in that a policy's `allow_hmac` is. `host` (node:crypto, in
/// Node) checks the signatures once it passed the self-test, run on the
/// first call only ([`JWS_HOST_TESTED`]); else pure Rust does. Returns
/// `{"header","payload"}` with the protected header as JSON and the payload
/// bytes as unpadded base64url, or throws the error (`invalid_key` when the
/// set has no usable key).
#[wasm_bindgen(js_name = verifyJws)]
pub fn verify_jws(
    token: &str,
    jwk_json: &str,
    host: Option<HostCrypto>,
) -> Result<String, JsValue> {
    let options = KeySetOptions {
        allow_symmetric: true,
        ..KeySetOptions::default()
    };
    let mut keys = KeySet::from_json(jwk_json, &options).map_err(|e| thrown(&e))?;
    let jws = UntrustedJws::parse(token, &Limits::default()).map_err(|e| thrown(&e))?;
    let mut host = host.map(|host| JsHost::new(host, "node:crypto"));
    if let Some(h) = host.as_mut() {
        use core::sync::atomic::Ordering::Relaxed;
        if JWS_HOST_TESTED.load(Relaxed) == 0 {
            let passed = crate::host::self_test(h).is_ok();
            JWS_HOST_TESTED.store(if passed { 1 } else { 2 }, Relaxed);
        }
        if JWS_HOST_TESTED.load(Relaxed) == 1 {
            keys.prepare_for(h);
        } else {
            host = None;
        }
    }
    let host = host.as_ref().map(|h| h as &dyn SignatureVerifier);
    let verified = jws::verify_traced(&jws, &keys, &[], host, &mut crate::explain::Trace::off())
        .map_err(|e| thrown(&e))?;
    Ok(to_json(&json!({
        "header": jws.header,
        "payload": base64url::encode(&verified.payload),
    })))
}

/// Whether [`verify_jws`]'s host passed the self-test in this instance: 0 not
/// run yet, 1 passed, 2 failed (then pure Rust checks every signature).
static JWS_HOST_TESTED: core::sync::atomic::AtomicU8 = core::sync::atomic::AtomicU8::new(0);

/// The host self-test's probes ([`crate::host::probes`]), for hosts that must
/// answer them ahead of time: a JSON array of
/// `{"alg","kind","spki","message","good","bad"}`, the bytes as unpadded
/// base64url (`spki` is the DER `SubjectPublicKeyInfo` the self-test will
/// `prepare`, `kind` its [`VerifyingKey::kind`]). The HMAC probes are left
/// out: asynchronous hosts take no secrets (pure Rust checks HMAC there).
#[wasm_bindgen(js_name = hostProbes)]
pub fn host_probes() -> String {
    let probes: Vec<Value> = crate::host::probes()
        .iter()
        .filter_map(|p| {
            let HostKey::Public(spki) = p.key.host_key()? else {
                return None;
            };
            Some(json!({
                "alg": p.alg.name(),
                "kind": p.key.kind(),
                "spki": base64url::encode(&spki),
                "message": base64url::encode(p.message),
                "good": base64url::encode(&p.good),
                "bad": base64url::encode(&p.bad),
            }))
        })
        .collect();
    to_json(&probes)
}

/// Test hook (not part of the package's API; `js/test/host-differential.test.mjs`):
/// the pure-Rust reference on one signature, with the key parsed from one JWK
/// as a policy's keys are (`oct` keys allowed, as under `allow_hmac`).
/// Returns `{"spki","secret","format","valid"}`: the DER
/// `SubjectPublicKeyInfo` a host gets for a public key (base64url, else
/// `null`), whether the host gets an HMAC secret instead, whether
/// [`crate::alg::check_format`] passed (only then is a host asked), and the
/// reference verdict. Throws when the key is refused or `alg` unknown.
#[wasm_bindgen(js_name = referenceSignatureCheck)]
pub fn reference_signature_check(
    alg: &str,
    jwk_json: &str,
    message: &[u8],
    signature: &[u8],
) -> Result<String, JsValue> {
    let alg = Alg::from_name(alg)
        .ok_or_else(|| thrown(&Error::new(ErrorCode::UnsupportedAlg, "unknown alg")))?;
    let options = KeySetOptions {
        allow_symmetric: true,
        ..KeySetOptions::default()
    };
    let keys = KeySet::from_json(jwk_json, &options).map_err(|e| thrown(&e))?;
    let key = keys
        .keys()
        .first()
        .ok_or_else(|| thrown(&Error::new(ErrorCode::InvalidKey, "no usable key")))?
        .key();
    Ok(to_json(&json!({
        "spki": match key.host_key() {
            Some(HostKey::Public(der)) => Some(base64url::encode(&der)),
            _ => None,
        },
        "secret": matches!(key.host_key(), Some(HostKey::Secret(_))),
        "format": crate::alg::check_format(alg, key, signature).is_ok(),
        "valid": crate::alg::verify_signature(alg, key, message, signature).is_ok(),
    })))
}

/// A verifier built once from a policy, with the response cache the policy asks for.
#[wasm_bindgen]
pub struct JsVerifier {
    verifier: Verifier,
    cache: Option<VerifiedCache>,
    /// Bumped whenever a provider's keys may have changed (a key fetch's
    /// answer or failure): verdicts the package reuses in JavaScript are
    /// only reused under the generation they were reached in.
    generation: u32,
    /// [`JsVerifier::reuse_until`]: of the last successful `verify`.
    last_reuse_until: Option<f64>,
    /// Each provider's last key event, for [`JsVerifier::fetch_lease_after`].
    last_key_events: Vec<(String, crate::keys::Event)>,
    /// The last path `verify` was given and its rule ([`Verifier::path_rule`]):
    /// calls for the same path skip canonicalizing and matching it again.
    last_path: Option<(Option<String>, Option<usize>)>,
}

#[wasm_bindgen]
impl JsVerifier {
    /// Parses the policy (and its key sets) once; throws `invalid_config` naming
    /// the field. `host`, when given, is offered for RSA and ECDSA signatures as
    /// the policy's `signature_verifier` allows.
    #[wasm_bindgen(constructor)]
    pub fn new(policy_json: &str, host: Option<HostCrypto>) -> Result<JsVerifier, JsValue> {
        let mut verifier = Verifier::from_json(policy_json).map_err(|e| thrown(&e))?;
        if let Some(host) = host {
            verifier
                .offer_host_crypto(Box::new(JsHost::new(host, "node:crypto")))
                .map_err(|e| thrown(&e))?;
        }
        let config = &verifier.policy().cache;
        let cache = config
            .enabled
            .then(|| VerifiedCache::new(config.max_entries, config.max_bytes));
        Ok(JsVerifier {
            verifier,
            cache,
            generation: 0,
            last_reuse_until: None,
            last_key_events: Vec::new(),
            last_path: None,
        })
    }

    /// Offers a WebCrypto host later (the first `verifyAsync`), as the
    /// policy's `signature_verifier` allows. Its `verify` only looks up answers
    /// computed ahead of time, so the self-test's probes ([`host_probes`]) must
    /// be answered during this call. Returns who checks signatures from now on
    /// (`"WebCrypto"` or `"pure Rust"`), or throws `invalid_config` when the
    /// policy says `"host"` and the self-test failed.
    #[wasm_bindgen(js_name = offerAsyncHost)]
    pub fn offer_async_host(&mut self, host: HostCrypto) -> Result<String, JsValue> {
        let checker = self
            .verifier
            .offer_host_crypto(Box::new(JsHost::new(host, "WebCrypto")))
            .map_err(|e| thrown(&e))?;
        Ok(checker.into())
    }

    /// Whether the policy lets a host check signatures (its `signature_verifier`
    /// is not `"rust"`), so `verifyAsync` need not ask WebCrypto anything otherwise.
    #[wasm_bindgen(getter, js_name = hostCryptoAllowed)]
    pub fn host_crypto_allowed(&self) -> bool {
        self.verifier.policy().signature_verifier != VerifierChoice::Rust
    }

    /// The signature checks verifying `token` would ask the host for
    /// ([`Verifier::signature_requests`]): a JSON array of
    /// `{"alg","handle","signing_input","signature"}` (signature as base64url).
    #[wasm_bindgen(js_name = signatureRequests)]
    pub fn signature_requests(&self, token: &str, now: f64, path: Option<String>) -> String {
        let options = VerifyOptions {
            now: seconds(now),
            path: path.as_deref(),
        };
        to_json(&self.verifier.signature_requests(token, &options))
    }

    /// The signature checks [`JsVerifier::authorize`] would ask the host for
    /// on this request ([`Verifier::authorize_signature_requests`]), in the
    /// shape of [`JsVerifier::signature_requests`]; the arguments are
    /// `authorize`'s.
    #[wasm_bindgen(js_name = authorizeSignatureRequests)]
    pub fn authorize_signature_requests(
        &self,
        method: &str,
        path: &str,
        headers: Vec<String>,
        case_insensitive: bool,
        now: f64,
    ) -> String {
        let headers = pairs(headers);
        let request = Request {
            method,
            path,
            headers: &headers,
            case_insensitive,
        };
        to_json(
            &self
                .verifier
                .authorize_signature_requests(&request, seconds(now)),
        )
    }

    /// Who checks RSA and ECDSA signatures: `"node:crypto"`, `"WebCrypto"` or `"pure Rust"`.
    #[wasm_bindgen(getter, js_name = signatureChecker)]
    pub fn signature_checker(&self) -> String {
        self.verifier.signature_checker().into()
    }

    /// Problems found while loading that did not stop it (skipped keys), as a JSON array.
    pub fn warnings(&self) -> String {
        to_json(&self.verifier.warnings())
    }

    /// The policy's cache limits as `[max_entries, max_bytes]`, or
    /// `undefined` when its cache is off.
    #[wasm_bindgen(getter, js_name = cacheLimits)]
    pub fn cache_limits(&self) -> Option<Vec<f64>> {
        let config = &self.verifier.policy().cache;
        config
            .enabled
            .then(|| alloc::vec![config.max_entries as f64, config.max_bytes as f64])
    }

    /// How many verdicts the module's cache holds (only
    /// [`JsVerifier::authorize`] fills it); 0 when the policy's cache is off.
    /// For tests and diagnostics.
    #[wasm_bindgen(getter, js_name = cacheLength)]
    pub fn cache_length(&self) -> usize {
        self.cache.as_ref().map_or(0, VerifiedCache::len)
    }

    /// Changes whenever a provider's keys may have changed: a verdict reused
    /// in JavaScript ([`JsVerifier::reuse_until`]) only holds in the
    /// generation it was reached in.
    #[wasm_bindgen(getter)]
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// With the policy's cache on, until when (Unix seconds, exclusive) the
    /// verdict of the last successful [`JsVerifier::verify`] may be reused
    /// (the window the module's cache would keep it for)
    /// for the same token and path, in the same [`JsVerifier::generation`]
    /// and from the `now` it was reached at; `undefined` when it may not be.
    #[wasm_bindgen(getter, js_name = reuseUntil)]
    pub fn reuse_until(&self) -> Option<f64> {
        self.last_reuse_until
    }

    /// The reuse window of `verified`, reached at `now`: the time the core's
    /// own cache keeps it ([`crate::claims::check_times`]: `exp` plus skew,
    /// `max_age`), and no later than the freshness bound of the provider's
    /// fetched keys (the core's cache drops a verdict once they go stale).
    fn reuse_window(&self, verified: &crate::verify::Verified, now: i64) -> Option<f64> {
        let provider = self.verifier.policy().providers.get(&verified.provider)?;
        let mut trace = crate::explain::Trace::off();
        let until = crate::claims::check_times(&verified.claims, provider, now, &mut trace).ok()?;
        let keys_until = match self
            .verifier
            .key_sources()
            .find(|(name, _)| *name == verified.provider)
        {
            Some((_, source)) if source.key_set().is_some() => source
                .valid_until()
                .map_or(f64::NEG_INFINITY, |t| t as f64 + 1.0),
            _ => f64::INFINITY,
        };
        let until = until.min(keys_until);
        (until > now as f64).then_some(until)
    }

    /// Verifies a token and returns `[provider,header,claims]` as JSON text:
    /// the name of the provider that accepted it, then the token's own header
    /// and claims JSON ([`with_json_text`]); or throws the error. This never
    /// reads or fills the module's cache: with the policy's cache on, the
    /// package keeps `verify`'s verdicts itself ([`JsVerifier::reuse_until`])
    /// within the policy's `cache` limits, so they are not held twice; the
    /// module's cache serves [`JsVerifier::authorize`].
    pub fn verify(
        &mut self,
        token: &str,
        now: f64,
        path: Option<String>,
    ) -> Result<String, JsValue> {
        self.verify_token(token, now, path)
    }

    /// [`JsVerifier::verify`] of the token in `input`'s first `len` bytes.
    #[wasm_bindgen(js_name = verifyInput)]
    pub fn verify_input(
        &mut self,
        input: &TokenInput,
        len: usize,
        now: f64,
        path: Option<String>,
    ) -> Result<String, JsValue> {
        self.verify_token(input.token(len)?, now, path)
    }
}

impl JsVerifier {
    /// [`JsVerifier::verify`]'s work.
    fn verify_token(
        &mut self,
        token: &str,
        now: f64,
        path: Option<String>,
    ) -> Result<String, JsValue> {
        self.last_reuse_until = None;
        let rule = match &self.last_path {
            Some((last, rule)) if *last == path => *rule,
            _ => {
                let rule = self
                    .verifier
                    .path_rule(path.as_deref())
                    .map_err(|e| thrown(&e))?;
                self.last_path = Some((path, rule));
                rule
            }
        };
        let now = seconds(now);
        let (verified, json) = self
            .verifier
            .verify_for_rule(token, rule, now)
            .map_err(|e| thrown(&e))?;
        self.last_reuse_until = match self.cache {
            Some(_) => self.reuse_window(&verified, now),
            None => None,
        };
        with_json_text(&verified.provider, &json.header, &json.payload)
    }
}

#[wasm_bindgen]
impl JsVerifier {
    /// The index in the policy's `rules` of the rule a request gets
    /// ([`Verifier::rule_for`]): `target` as it arrived (matched on its
    /// canonical path), `undefined` when no rule matches; throws
    /// `invalid_path` for a target that cannot be canonicalized.
    #[wasm_bindgen(js_name = ruleFor)]
    pub fn rule_for(&self, method: &str, target: &str) -> Result<Option<u32>, JsValue> {
        let rule = self
            .verifier
            .rule_for(method, target)
            .map_err(|e| thrown(&e))?;
        let rules = &self.verifier.policy().rules;
        Ok(rule
            .and_then(|rule| rules.iter().position(|r| core::ptr::eq(r, rule)))
            .and_then(|i| u32::try_from(i).ok()))
    }

    /// The trace of every check: `{"ok","code"?,"message"?,"provider"?,"checks"}`.
    pub fn explain(&self, token: &str, now: f64, path: Option<String>) -> String {
        let options = VerifyOptions {
            now: seconds(now),
            path: path.as_deref(),
        };
        to_json(&self.verifier.explain(token, &options))
    }

    /// Whether a provider fetches its keys (`remote_jwks` or `discovery`).
    #[wasm_bindgen(getter, js_name = hasRemoteKeys)]
    pub fn has_remote_keys(&self) -> bool {
        self.verifier.key_sources().next().is_some()
    }

    /// The key fetches due at `now` ([`Verifier::due_fetches`]): a JSON array
    /// of `{"provider","document","url","authority","path","timeout_seconds","max_bytes","reason"}`.
    #[wasm_bindgen(js_name = dueFetches)]
    pub fn due_fetches(&mut self, now: f64) -> String {
        let fetches: Vec<Value> = self
            .verifier
            .due_fetches(seconds(now))
            .into_iter()
            .map(|due| {
                let mut fetch = serde_json::to_value(&due.fetch).unwrap_or_default();
                if let Some(object) = fetch.as_object_mut() {
                    object.insert("provider".into(), due.provider.into());
                }
                fetch
            })
            .collect();
        to_json(&fetches)
    }

    /// The answer to `provider`'s fetch: status, flat `[name, value, ...]`
    /// response headers, body. Returns the event as JSON ([`crate::keys::Event`]).
    #[wasm_bindgen(js_name = keyFetched)]
    pub fn key_fetched(
        &mut self,
        provider: &str,
        now: f64,
        status: u16,
        headers: Vec<String>,
        body: &[u8],
    ) -> Result<String, JsValue> {
        let mut flat = headers.into_iter();
        let mut pairs = Vec::new();
        while let (Some(name), Some(value)) = (flat.next(), flat.next()) {
            pairs.push((name, value));
        }
        self.generation = self.generation.wrapping_add(1);
        let event = self
            .verifier
            .key_fetched(provider, seconds(now), status, &pairs, body)
            .map_err(|e| thrown(&e))?;
        Ok(self.note_key_event(provider, event))
    }

    /// `provider`'s fetch failed without an answer: `kind` is a failure kind
    /// (`"timeout"`, `"network"`, `"too_large"`, `"redirect"`). Returns the event as JSON.
    #[wasm_bindgen(js_name = keyFetchFailed)]
    pub fn key_fetch_failed(
        &mut self,
        provider: &str,
        now: f64,
        kind: &str,
        detail: &str,
    ) -> Result<String, JsValue> {
        let kind = crate::keys::FailureKind::from_name(kind).ok_or_else(|| {
            thrown(&Error::new(
                ErrorCode::InvalidConfig,
                "unknown failure kind",
            ))
        })?;
        self.generation = self.generation.wrapping_add(1);
        let event = self
            .verifier
            .key_fetch_failed(provider, seconds(now), kind, detail)
            .map_err(|e| thrown(&e))?;
        Ok(self.note_key_event(provider, event))
    }

    /// Claims `provider`'s fetch lease for its fetch in flight
    /// ([`Verifier::claim_fetch_lease`], the protocol in [`crate::lease`]):
    /// `stored` is the lease text the shared store holds. Returns
    /// `{"text","until"}` to store before fetching, or `undefined` when
    /// another instance holds the lease (the fetch is then left to it).
    #[wasm_bindgen(js_name = claimFetchLease)]
    pub fn claim_fetch_lease(
        &mut self,
        provider: &str,
        stored: Option<String>,
        holder: &str,
        now: f64,
    ) -> Result<Option<String>, JsValue> {
        let lease = self
            .verifier
            .claim_fetch_lease(provider, stored.as_deref(), holder, seconds(now))
            .map_err(|e| thrown(&e))?;
        Ok(lease.map(|lease| to_json(&json!({"text": lease.text(), "until": lease.until}))))
    }

    /// What `holder` stores after `provider`'s last reported fetch
    /// ([`crate::lease::Lease::after`]): `{"text","until"}`, `{"release": true}`,
    /// or `undefined` to leave the stored lease as it is.
    #[wasm_bindgen(js_name = fetchLeaseAfter)]
    pub fn fetch_lease_after(&self, provider: &str, holder: &str) -> Option<String> {
        use crate::lease::{Lease, LeaseUpdate};
        let (_, event) = self.last_key_events.iter().find(|(p, _)| p == provider)?;
        match Lease::after(event, holder) {
            LeaseUpdate::Write(lease) => Some(to_json(
                &json!({"text": lease.text(), "until": lease.until}),
            )),
            LeaseUpdate::Release => Some(to_json(&json!({"release": true}))),
            LeaseUpdate::Keep => None,
        }
    }

    /// `provider`'s last good fetch as the JSON of a [`crate::keys::Snapshot`]
    /// ([`crate::keys::KeySource::snapshot`]), for other instances to adopt;
    /// `undefined` before the first good fetch.
    #[wasm_bindgen(js_name = keySnapshot)]
    pub fn key_snapshot(&self, provider: &str) -> Option<String> {
        self.verifier
            .key_sources()
            .find(|(name, _)| *name == provider)
            .and_then(|(_, source)| source.snapshot())
            .map(|snapshot| to_json(&snapshot))
    }

    /// Takes the keys another instance fetched for `provider`
    /// ([`Verifier::adopt_keys`]): `snapshot` is the JSON that instance's
    /// [`JsVerifier::key_snapshot`] gave. Returns the event as JSON; throws
    /// `invalid_config` when the snapshot does not parse.
    #[wasm_bindgen(js_name = adoptKeys)]
    pub fn adopt_keys(
        &mut self,
        provider: &str,
        now: f64,
        snapshot: &str,
    ) -> Result<String, JsValue> {
        let snapshot: crate::keys::Snapshot = serde_json::from_str(snapshot).map_err(|e| {
            thrown(&Error::new(
                ErrorCode::InvalidConfig,
                alloc::format!("the key snapshot does not parse: {e}"),
            ))
        })?;
        let event = self
            .verifier
            .adopt_keys(provider, seconds(now), &snapshot)
            .map_err(|e| thrown(&e))?;
        // Taken (keys, or their age): verdicts reused in JavaScript end here,
        // as after a fetch; an ignored snapshot changes nothing.
        if !matches!(event, crate::keys::Event::Ignored) {
            self.generation = self.generation.wrapping_add(1);
        }
        Ok(to_json(&event))
    }

    /// When a key fetch is next due (Unix seconds), if any provider fetches keys.
    #[wasm_bindgen(js_name = nextKeyWake)]
    pub fn next_key_wake(&self) -> Option<f64> {
        self.verifier.next_key_wake().map(|t| t as f64)
    }

    /// Until when a request may wait for a first fetch at `now`, if one is pending.
    #[wasm_bindgen(js_name = firstFetchPending)]
    pub fn first_fetch_pending(&self, now: f64) -> Option<f64> {
        self.verifier
            .first_fetch_pending(seconds(now))
            .map(|t| t as f64)
    }

    /// Until when (Unix seconds) a request refused with the stable code
    /// `code` at `now` may wait for keys that may answer it (a first fetch,
    /// or a kid-miss refetch: [`Verifier::key_wait`]); undefined: answer now.
    #[wasm_bindgen(js_name = keyWait)]
    pub fn key_wait(&self, code: &str, now: f64) -> Option<f64> {
        let refusal = ErrorCode::ALL.iter().copied().find(|c| c.as_str() == code);
        self.verifier
            .key_wait(refusal, seconds(now))
            .map(|t| t as f64)
    }

    /// Every key source as JSON: `[{"provider","state","fetched_at","valid_until","jwks_uri","uri","discovery","keys","stats"}]`
    /// with `state` one of `"ready"`, `"pending"`, `"unavailable"`, `uri` the configured
    /// `remote_jwks.uri` and `discovery` the issuer whose discovery document is read (or `null`).
    #[wasm_bindgen(js_name = keySources)]
    pub fn key_sources(&self, now: f64) -> String {
        use crate::keys::Readiness;
        let sources: Vec<Value> = self
            .verifier
            .key_sources()
            .map(|(name, source)| {
                let state = match source.readiness(seconds(now)) {
                    Readiness::Ready => "ready",
                    Readiness::Pending { .. } => "pending",
                    Readiness::Unavailable { .. } => "unavailable",
                };
                json!({
                    "provider": name,
                    "state": state,
                    "fetched_at": source.fetched_at(),
                    "valid_until": source.valid_until(),
                    "jwks_uri": source.jwks_uri(),
                    "uri": source.config().uri,
                    "discovery": self.verifier.policy().providers.get(name).filter(|p| p.discovery).map(|p| &p.issuer[0]),
                    "keys": source.key_set().map_or(0, |s| s.keys().len()),
                    "stats": source.stats(),
                })
            })
            .collect();
        to_json(&sources)
    }

    /// Decides an HTTP request exactly as the Envoy filter does. `headers` is a
    /// flat `[name, value, name, value, ...]` list (Node's `req.rawHeaders`);
    /// `case_insensitive` says the application routes without case.
    /// Returns either
    /// `{"allow":true,"provider"?,"claims"?,"remove_headers","set_headers","set_path","reason"}`
    /// or `{"allow":false,"status","headers","body","code","message"}`.
    pub fn authorize(
        &mut self,
        method: &str,
        path: &str,
        headers: Vec<String>,
        case_insensitive: bool,
        now: f64,
    ) -> String {
        let headers = pairs(headers);
        let request = Request {
            method,
            path,
            headers: &headers,
            case_insensitive,
        };
        let decision = self
            .verifier
            .authorize(&request, seconds(now), self.cache.as_mut());
        let out = match decision {
            Decision::Allow(allow) => {
                // Claim headers are UTF-8 text; Node and Fetch send a string's
                // Latin-1 code units as bytes, so they get claims::byte_string.
                let set_headers: Vec<(String, String)> = allow
                    .set_headers
                    .into_iter()
                    .map(|(name, value)| {
                        let value = if self.verifier.output_headers.contains(&name) {
                            crate::claims::byte_string(&value)
                        } else {
                            value
                        };
                        (name, value)
                    })
                    .collect();
                let (provider, claims) = match allow.verified {
                    Some(v) => (Some(v.provider), Some(v.claims)),
                    None => (None, None),
                };
                json!({
                    "allow": true,
                    "provider": provider,
                    "claims": claims,
                    "remove_headers": allow.remove_headers,
                    "set_headers": set_headers,
                    "set_path": allow.set_path,
                    "reason": allow.reason,
                })
            }
            Decision::Deny(denial) => json!({
                "allow": false,
                "status": denial.status,
                "headers": denial.headers,
                "body": denial.body,
                "code": denial.error.code().as_str(),
                "message": denial.error.message(),
            }),
        };
        to_json(&out)
    }
}

impl JsVerifier {
    /// Keeps `provider`'s key event for [`JsVerifier::fetch_lease_after`];
    /// returns it as JSON.
    fn note_key_event(&mut self, provider: &str, event: crate::keys::Event) -> String {
        let json = to_json(&event);
        self.last_key_events.retain(|(p, _)| p != provider);
        self.last_key_events.push((String::from(provider), event));
        json
    }
}
