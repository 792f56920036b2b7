//! Counters, defined once per VM at configure time.
//!
//! Envoy prefixes plugin metrics with `wasmcustom.`, so these appear in
//! `/stats` as `wasmcustom.jwtgate.allowed`, `wasmcustom.jwtgate.denied.expired`,
//! `wasmcustom.jwtgate.cache.hits`, ... (asserted by `tests/e2e`). The
//! host-crypto counters live with their user, [`super::crypto`].
//!
//! [`ConfigOutcomes`] counts configurations: Envoy keeps one stat per name
//! for the whole process, so a count made by a VM whose configuration was
//! refused (and which Envoy then drops) stays visible while another VM of
//! the same plugin holds the same counter.

use alloc::format;
use alloc::vec::Vec;

use log::warn;
use proxy_wasm::hostcalls::{define_metric, increment_metric, record_metric};
use proxy_wasm::types::MetricType;

use crate::ErrorCode;

/// Metric ids; `None` where the host refused to define one (then that
/// counter is simply not counted; requests are unaffected).
pub(crate) struct Metrics {
    allowed: Option<u32>,
    /// Indexed like [`ErrorCode::ALL`].
    denied: Vec<Option<u32>>,
    cache_hits: Option<u32>,
    cache_misses: Option<u32>,
    /// Gauge: 1 while Envoy's crypto checks RS*/ES* signatures, 0 for pure Rust.
    crypto_host: Option<u32>,
}

pub(crate) fn counter(name: &str) -> Option<u32> {
    define(MetricType::Counter, name)
}

fn define(kind: MetricType, name: &str) -> Option<u32> {
    match define_metric(kind, name) {
        Ok(id) => Some(id),
        Err(status) => {
            warn!("jwtgate: cannot define metric {name}: {status:?}");
            None
        }
    }
}

pub(crate) fn add(id: Option<u32>, delta: u64) {
    if let (Some(id), true) = (id, delta > 0) {
        let delta = i64::try_from(delta).unwrap_or(i64::MAX);
        if let Err(status) = increment_metric(id, delta) {
            warn!("jwtgate: cannot increment metric {id}: {status:?}");
        }
    }
}

/// `jwtgate.config.accepted` / `jwtgate.config.rejected`: one per
/// `on_configure` (per VM and plugin configuration), defined before the
/// policy is read so that a refused one is counted too.
pub(crate) struct ConfigOutcomes {
    accepted: Option<u32>,
    rejected: Option<u32>,
}

impl ConfigOutcomes {
    pub(crate) fn define() -> Self {
        ConfigOutcomes {
            accepted: counter("jwtgate.config.accepted"),
            rejected: counter("jwtgate.config.rejected"),
        }
    }

    pub(crate) fn accepted(&self) {
        add(self.accepted, 1);
    }

    pub(crate) fn rejected(&self) {
        add(self.rejected, 1);
    }
}

impl Metrics {
    pub(crate) fn define() -> Self {
        Metrics {
            allowed: counter("jwtgate.allowed"),
            denied: ErrorCode::ALL
                .iter()
                .map(|code| counter(&format!("jwtgate.denied.{}", code.as_str())))
                .collect(),
            cache_hits: counter("jwtgate.cache.hits"),
            cache_misses: counter("jwtgate.cache.misses"),
            crypto_host: define(MetricType::Gauge, "jwtgate.crypto.host"),
        }
    }

    pub(crate) fn allowed(&self) {
        add(self.allowed, 1);
    }

    pub(crate) fn denied(&self, code: ErrorCode) {
        let index = ErrorCode::ALL.iter().position(|c| *c == code);
        add(index.and_then(|i| self.denied.get(i).copied().flatten()), 1);
    }

    /// Records who checks signatures (configure time).
    pub(crate) fn crypto_host(&self, host: bool) {
        if let Some(id) = self.crypto_host {
            if let Err(status) = record_metric(id, u64::from(host)) {
                warn!("jwtgate: cannot record metric {id}: {status:?}");
            }
        }
    }

    pub(crate) fn cache(&self, hits: u64, misses: u64) {
        add(self.cache_hits, hits);
        add(self.cache_misses, misses);
    }
}
