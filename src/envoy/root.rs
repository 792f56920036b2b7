//! The root context: configuration, once per VM.

use alloc::boxed::Box;
use alloc::rc::Rc;
use core::cell::RefCell;

use log::{error, info, warn};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;

use super::crypto::{self, EnvoyCrypto};
use super::http::Http;
use super::keys::{self, KeyFetcher};
use super::metrics::Metrics;
use crate::host::VerifierChoice;
use crate::{VerifiedCache, Verifier};

/// What every HTTP context of this VM shares (the VM is single-threaded).
pub(crate) struct Shared {
    /// Mutable for the key sources (the root's timer and fetch results).
    pub(crate) verifier: RefCell<Verifier>,
    /// `None` when the policy turns the cache off.
    pub(crate) cache: Option<RefCell<VerifiedCache>>,
    pub(crate) metrics: Metrics,
}

#[derive(Default)]
pub(crate) struct Root {
    /// `None` until a configuration was accepted.
    shared: Option<Rc<Shared>>,
    /// `None` when no provider has remote keys.
    keys: Option<KeyFetcher>,
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
        if let (Some(keys), Some(shared)) = (self.keys.as_mut(), self.shared.as_ref()) {
            keys.response(&shared.verifier, token, num_headers, body_size, time);
        }
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, _configuration_size: usize) -> bool {
        if let Ok(level) = proxy_wasm::hostcalls::get_log_level() {
            proxy_wasm::set_log_level(level);
        }
        let policy = match self.get_plugin_configuration() {
            Some(bytes) => bytes,
            None => {
                error!("jwtgate: invalid configuration: the plugin configuration is empty; it must hold the policy JSON");
                return false;
            }
        };
        let policy = match core::str::from_utf8(&policy) {
            Ok(text) => text,
            Err(e) => {
                error!("jwtgate: invalid configuration: the policy is not UTF-8 ({e})");
                return false;
            }
        };
        let mut verifier = match Verifier::from_json(policy) {
            Ok(verifier) => verifier,
            Err(e) => {
                error!("jwtgate: invalid configuration: {}", e.message());
                return false;
            }
        };
        // Runs the self-test (unless the policy says "rust") and prepares
        // every key once. A failing host under "host" refuses the
        // configuration; under "auto" it is a warning and pure Rust stays.
        let checker = match verifier.offer_host_crypto(Box::new(EnvoyCrypto::new())) {
            Ok(checker) => checker,
            Err(e) => {
                error!("jwtgate: invalid configuration: {}", e.message());
                return false;
            }
        };
        let host_crypto = checker == crypto::NAME;
        if host_crypto {
            info!(
                "jwtgate: signature checks by envoy (BoringSSL) for RS*/ES*, pure Rust for others"
            );
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
        info!(
            "jwtgate: configured ({} warnings, cache {})",
            verifier.warnings().len(),
            if cache.is_some() { "on" } else { "off" }
        );
        let metrics = Metrics::define();
        metrics.crypto_host(host_crypto);
        let instance = keys::instance_seed(self.get_current_time());
        self.keys = match KeyFetcher::new(&mut verifier, instance) {
            Ok(keys) => keys,
            Err(message) => {
                error!("jwtgate: invalid configuration: {message}");
                return false;
            }
        };
        if self.keys.is_some() {
            self.set_tick_period(keys::TICK);
        }
        self.shared = Some(Rc::new(Shared {
            verifier: RefCell::new(verifier),
            cache,
            metrics,
        }));
        true
    }

    fn on_tick(&mut self) {
        let time = self.get_current_time();
        if let (Some(keys), Some(shared)) = (self.keys.as_mut(), self.shared.as_ref()) {
            keys.tick(&shared.verifier, time);
        }
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    // Must not return `None`: the SDK panics on that. Without a configuration
    // (which Envoy prevents: a refused configuration fails the plugin) the
    // context denies every request.
    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Http::new(self.shared.clone())))
    }
}
