//! The root context: configuration, once per VM.
//!
//! A configuration is all or nothing. [`configure`] builds the verifier, the
//! cache and the metric ids into a new [`Shared`] without touching the root;
//! only when every step succeeded does the root take it. A refused
//! configuration (at any step, early or late) therefore leaves the root as
//! it was: with no configuration it denies every request, and a root that
//! already had one keeps it. Envoy gives each new plugin configuration (an
//! xDS update) a new root context, so the previous policy lives on in the
//! previous root for as long as Envoy keeps that one (envoy/README.md, "A bad
//! policy over xDS": what Envoy 1.40 does, measured).
//!
//! Every outcome is counted (`jwtgate.config.accepted` / `.rejected`) and
//! logged with the first 12 hex digits of the policy's SHA-256, so an
//! operator can alert on a refused update and see which policy is in force.

// proxy-wasm hands us the host's clock as a std `SystemTime`.
extern crate std;

use alloc::boxed::Box;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use core::cell::RefCell;
use std::time::SystemTime;

use alloc::vec::Vec;
use log::{error, info, warn};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;

use super::crypto::{self, EnvoyCrypto};
use super::held::{Held, Left};
use super::http::{self, Http};
use super::keys::{self, unix_seconds, KeyFetcher};
use super::metrics::{ConfigOutcomes, Metrics};
use crate::alg::sha256;
use crate::host::VerifierChoice;
use crate::keys::Readiness;
use crate::{VerifiedCache, Verifier};

/// What every HTTP context of this VM shares (the VM is single-threaded).
pub(crate) struct Shared {
    /// Mutable for the key sources (the root's timer and fetch results).
    pub(crate) verifier: RefCell<Verifier>,
    /// `None` when the policy turns the cache off.
    pub(crate) cache: Option<RefCell<VerifiedCache>>,
    pub(crate) metrics: Metrics,
    /// Requests waiting for a first key fetch ([`super::held`]).
    pub(crate) held: Held,
    /// This worker's part in fetching keys; `None` when no provider has
    /// remote keys. Driven by the root's timer and fetch results; the request
    /// path only adopts what other workers published.
    pub(crate) keys: Option<RefCell<KeyFetcher>>,
}

/// [`Readiness`] without its times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ready {
    Yes,
    Pending,
    No,
}

impl Ready {
    fn of(readiness: Readiness) -> Self {
        match readiness {
            Readiness::Ready => Ready::Yes,
            Readiness::Pending { .. } => Ready::Pending,
            Readiness::Unavailable { .. } => Ready::No,
        }
    }
}

pub(crate) struct Root {
    context_id: u32,
    /// `None` until a configuration was accepted.
    shared: Option<Rc<Shared>>,
    /// Each key source's readiness (without times), last good fetch and
    /// whether a kid-miss refetch is under way, at the last look at the held
    /// requests: they are decided again when it changes.
    key_state: Vec<(Ready, Option<i64>, bool)>,
}

impl Root {
    pub(crate) fn new(context_id: u32) -> Self {
        Root {
            context_id,
            shared: None,
            key_state: Vec::new(),
        }
    }

    /// Decides the held requests again when keys may have changed, and those
    /// whose deadline passed; see [`super::held`]. Called last in a callback:
    /// it leaves the root as the effective context.
    fn release_held(&mut self, time: SystemTime) {
        let Some(shared) = self.shared.clone() else {
            return;
        };
        let now = unix_seconds(time);
        let state: Vec<(Ready, Option<i64>, bool)> = shared
            .verifier
            .try_borrow()
            .map(|v| {
                v.key_sources()
                    .map(|(_, s)| {
                        let refetching = s.kid_refetch_until(now).is_some();
                        (Ready::of(s.readiness(now)), s.fetched_at(), refetching)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let changed = state != self.key_state;
        self.key_state = state;
        let mut switched = false;
        for (context_id, deadline) in shared.held.snapshot() {
            let timed_out = time >= deadline;
            if !changed && !timed_out {
                continue;
            }
            switched = true;
            if hostcalls::set_effective_context(context_id).is_err() {
                shared.held.release(context_id, Left::Gone);
                continue;
            }
            let decided = http::decide(&shared, now);
            let how = match (decided.wait_until, timed_out) {
                (Some(_), false) => continue,
                (Some(_), true) => Left::TimedOut,
                (None, _) => Left::Released,
            };
            // Out of the held set before the answer, which may end the stream.
            if shared.held.release(context_id, how) && http::answer(&shared, &decided) {
                let _ = hostcalls::resume_http_request();
            }
        }
        if switched {
            let _ = hostcalls::set_effective_context(self.context_id);
        }
        shared.held.pace_tick();
    }
}

impl Context for Root {
    fn on_http_call_response(
        &mut self,
        token: u32,
        num_headers: usize,
        body_size: usize,
        _: usize,
    ) {
        let time = self.get_current_time();
        if let Some(shared) = &self.shared {
            if let Some(mut keys) = shared.keys.as_ref().and_then(|k| k.try_borrow_mut().ok()) {
                keys.response(&shared.verifier, token, num_headers, body_size, time);
            }
        }
        self.release_held(time);
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, _configuration_size: usize) -> bool {
        if let Ok(level) = proxy_wasm::hostcalls::get_log_level() {
            proxy_wasm::set_log_level(level);
        }
        // Defined before anything can fail, so a refused policy is counted.
        let outcomes = ConfigOutcomes::define();
        let bytes = self.get_plugin_configuration().unwrap_or_default();
        let id = policy_id(&bytes);
        let instance = keys::instance_seed(self.get_current_time());
        match configure(&bytes, instance) {
            Ok(shared) => {
                info!(
                    "jwtgate: configured ({} warnings, cache {}, policy sha256 {id})",
                    shared.verifier.borrow().warnings().len(),
                    if shared.cache.is_some() { "on" } else { "off" }
                );
                if shared.keys.is_some() {
                    self.set_tick_period(keys::TICK);
                }
                self.shared = Some(Rc::new(shared));
                outcomes.accepted();
                true
            }
            Err(why) => {
                error!("jwtgate: invalid configuration: {why} (policy sha256 {id}, not applied)");
                outcomes.rejected();
                false
            }
        }
    }

    fn on_tick(&mut self) {
        let time = self.get_current_time();
        if let Some(shared) = &self.shared {
            if let Some(mut keys) = shared.keys.as_ref().and_then(|k| k.try_borrow_mut().ok()) {
                keys.tick(&shared.verifier, time);
            }
        }
        self.release_held(time);
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    // Must not return `None`: the SDK panics on that. Without a configuration
    // (which Envoy prevents: a refused configuration fails the plugin) the
    // context denies every request.
    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Http::new(context_id, self.shared.clone())))
    }
}

/// The first 12 hex digits of the configuration's SHA-256 (enough to tell
/// policies apart in a log; the same digits `sha256sum` prints first).
fn policy_id(bytes: &[u8]) -> String {
    sha256(bytes)[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Everything a configuration needs (with the key fetcher when a provider has
/// remote keys), or the reason (for the log) it is refused. Logs warnings and
/// the signature path; changes no root state. `instance` seeds the key
/// sources' jitter.
fn configure(bytes: &[u8], instance: u64) -> Result<Shared, String> {
    if bytes.is_empty() {
        return Err(String::from(
            "the plugin configuration is empty; it must hold the policy JSON",
        ));
    }
    let policy =
        core::str::from_utf8(bytes).map_err(|e| format!("the policy is not UTF-8 ({e})"))?;
    let mut verifier = Verifier::from_json(policy).map_err(|e| String::from(e.message()))?;
    // Runs the self-test (unless the policy says "rust") and prepares every
    // key once. A failing host under "host" refuses the configuration; under
    // "auto" it is a warning and pure Rust stays.
    let checker = verifier
        .offer_host_crypto(Box::new(EnvoyCrypto::new()))
        .map_err(|e| String::from(e.message()))?;
    let host_crypto = checker == crypto::NAME;
    if host_crypto {
        info!("jwtgate: signature checks by envoy (BoringSSL) for RS*/ES*, pure Rust for others");
    } else {
        let why = match verifier.policy().signature_verifier {
            VerifierChoice::Rust => "signature_verifier is \"rust\"",
            _ => "the host crypto failed its self-test (see the warning)",
        };
        info!("jwtgate: signature checks by pure Rust for every algorithm ({why})");
    }
    for warning in verifier.warnings() {
        warn!("jwtgate: {warning}");
    }
    let settings = &verifier.policy().cache;
    let cache = settings
        .enabled
        .then(|| RefCell::new(VerifiedCache::new(settings.max_entries, settings.max_bytes)));
    let metrics = Metrics::define();
    metrics.crypto_host(host_crypto);
    let fetcher = KeyFetcher::new(&mut verifier, instance)?;
    let held = Held::new(
        verifier.policy().limits.max_waiting_requests,
        fetcher.is_some(),
    );
    let shared = Shared {
        verifier: RefCell::new(verifier),
        cache,
        metrics,
        held,
        keys: fetcher.map(RefCell::new),
    };
    Ok(shared)
}

#[cfg(test)]
mod tests {
    use super::policy_id;

    #[test]
    fn policy_id_is_the_start_of_the_sha256() {
        // sha256("") = e3b0c44298fc1c149afbf4c8996fb924...
        assert_eq!(policy_id(b""), "e3b0c44298fc");
        assert_eq!(policy_id(b"abc"), "ba7816bf8f01");
    }
}
