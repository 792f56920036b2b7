//! The service's counters, shared by every worker thread (atomics), in the
//! Prometheus text format on the admin listener's `/metrics`. The names
//! mirror the Envoy filter's (`wasmcustom.jwtgate.allowed`,
//! `wasmcustom.jwtgate.denied.<code>`, `wasmcustom.jwtgate.cache.hits`, ...).

extern crate std;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::ErrorCode;

/// Every counter of one process.
#[derive(Debug)]
pub struct Metrics {
    allowed: AtomicU64,
    /// Indexed like [`ErrorCode::ALL`].
    denied: Vec<AtomicU64>,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    /// Sub-requests without the original method or target (proxy misconfigured).
    bad_subrequests: AtomicU64,
    reloads_ok: AtomicU64,
    reloads_refused: AtomicU64,
    generation: AtomicU64,
    /// 1 while AWS-LC checks RS*/PS*/ES* signatures, 0 for pure Rust.
    crypto_host: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            allowed: AtomicU64::new(0),
            denied: ErrorCode::ALL.iter().map(|_| AtomicU64::new(0)).collect(),
            cache_hits: AtomicU64::new(0),
            cache_misses: AtomicU64::new(0),
            bad_subrequests: AtomicU64::new(0),
            reloads_ok: AtomicU64::new(0),
            reloads_refused: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            crypto_host: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// One request allowed.
    pub fn allowed(&self) {
        self.allowed.fetch_add(1, Relaxed);
    }

    /// One request denied with `code`.
    pub fn denied(&self, code: ErrorCode) {
        if let Some(i) = ErrorCode::ALL.iter().position(|c| *c == code) {
            self.denied[i].fetch_add(1, Relaxed);
        }
    }

    /// Cache lookups of one request.
    pub fn cache(&self, hits: u64, misses: u64) {
        self.cache_hits.fetch_add(hits, Relaxed);
        self.cache_misses.fetch_add(misses, Relaxed);
    }

    /// One sub-request that lacked the original method or target.
    pub fn bad_subrequest(&self) {
        self.bad_subrequests.fetch_add(1, Relaxed);
    }

    /// A reload: accepted (now serving `generation`) or refused.
    pub fn reload(&self, accepted: bool, generation: u64) {
        if accepted {
            self.reloads_ok.fetch_add(1, Relaxed);
        } else {
            self.reloads_refused.fetch_add(1, Relaxed);
        }
        self.generation.store(generation, Relaxed);
    }

    /// Who checks signatures now.
    pub fn crypto_host(&self, host: bool) {
        self.crypto_host.store(u64::from(host), Relaxed);
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let one = |v: &AtomicU64| [(String::new(), v.load(Relaxed))];
        metric(
            "jwtgate_allowed_total",
            "counter",
            "Requests allowed.",
            &one(&self.allowed),
        );
        let denied: Vec<(String, u64)> = ErrorCode::ALL
            .iter()
            .zip(&self.denied)
            .map(|(code, v)| {
                (
                    std::format!("{{code=\"{}\"}}", code.as_str()),
                    v.load(Relaxed),
                )
            })
            .collect();
        metric(
            "jwtgate_denied_total",
            "counter",
            "Requests denied, by error code.",
            &denied,
        );
        metric(
            "jwtgate_cache_hits_total",
            "counter",
            "Verified-token cache hits.",
            &one(&self.cache_hits),
        );
        metric(
            "jwtgate_cache_misses_total",
            "counter",
            "Verified-token cache misses.",
            &one(&self.cache_misses),
        );
        metric(
            "jwtgate_bad_subrequests_total",
            "counter",
            "Sub-requests without the original method or target (answered 500).",
            &one(&self.bad_subrequests),
        );
        let reloads = [
            (
                String::from("{result=\"accepted\"}"),
                self.reloads_ok.load(Relaxed),
            ),
            (
                String::from("{result=\"refused\"}"),
                self.reloads_refused.load(Relaxed),
            ),
        ];
        metric(
            "jwtgate_policy_reloads_total",
            "counter",
            "Policy reloads.",
            &reloads,
        );
        metric(
            "jwtgate_policy_generation",
            "gauge",
            "The policy generation serving (1 = the first).",
            &one(&self.generation),
        );
        metric(
            "jwtgate_crypto_host",
            "gauge",
            "1 when AWS-LC checks RS*/PS*/ES* signatures, 0 when pure Rust does.",
            &one(&self.crypto_host),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_code_and_counts() {
        let m = Metrics::default();
        m.allowed();
        m.denied(ErrorCode::Expired);
        m.denied(ErrorCode::Expired);
        m.cache(3, 1);
        let text = m.render();
        assert!(text.contains("\njwtgate_allowed_total 1\n"), "{text}");
        assert!(text.contains("jwtgate_denied_total{code=\"expired\"} 2\n"));
        assert!(text.contains("jwtgate_denied_total{code=\"missing\"} 0\n"));
        assert!(text.contains("jwtgate_cache_hits_total 3\n"));
        assert!(text.contains("jwtgate_cache_misses_total 1\n"));
        assert_eq!(
            text.matches("jwtgate_denied_total{").count(),
            ErrorCode::ALL.len()
        );
    }
}
