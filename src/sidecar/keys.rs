//! Remote key sets (`remote_jwks`, `discovery`) for the whole process: one
//! fetcher task drives the core's key sources ([`crate::keys::KeySource`])
//! and publishes each provider's last good fetch; every worker thread's
//! verifier adopts it ([`Verifier::adopt_keys`]).
//!
//! What to fetch and when, retries and backoff, the staleness bound, what a
//! response means (status, `Cache-Control`, size, parsing): all the core's.
//! This module only performs the requests it is told to, with a native
//! HTTP/1.1 client (hyper-util's, rustls on aws-lc-rs with Mozilla's roots):
//! `GET`, `accept: application/json`, redirects never followed (the core
//! reports a 3xx as `redirect`), the body read up to the fetch's `max_bytes`
//! and no further (`too_large`), the whole exchange (connect, TLS, headers,
//! body) bounded by its `timeout_seconds` (`timeout`).
//!
//! - **One fetcher per process**, whatever `--threads` says: the sources live
//!   in [`Sources`] (in [`super::state::Shared`]), and the worker threads'
//!   verifiers never fetch. A worker that denies a token with `unknown_kid`
//!   asks its own verifier whether an early fetch is due (the core's
//!   per-kid memory and cooldown) and passes that wish to the fetcher, whose
//!   source applies the cooldown once more for the process. The request
//!   waits for that refetch while it is wished for or in flight (at most its
//!   timeout) and is decided again ([`super::check`]).
//! - **First fetch**: until a provider has keys, its requests get the core's
//!   `jwks_unavailable` (503, `Retry-After`); the service holds such requests
//!   until the first fetch lands or its timeout passes ([`super::check`]).
//! - **Reload**: a provider whose `remote_jwks` settings (and, with
//!   discovery, issuer) did not change keeps its source: its keys, schedule,
//!   backoff and counters. A changed or new one starts over with a first
//!   fetch; one that went away is dropped.

extern crate std;

use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt::Write as _;
use core::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use log::{info, warn};

use crate::keys::{Event, FailureKind, Fetch, KeySource, Readiness, RemoteJwks, Snapshot};
use crate::Verifier;

/// What makes a source "the same" across a reload.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Identity {
    config: RemoteJwks,
    /// The issuer, when the provider uses discovery.
    discovery_issuer: Option<String>,
}

/// One provider's source.
#[derive(Debug)]
struct Entry {
    provider: String,
    /// Distinguishes this source from an earlier one of the same provider
    /// (a result for a replaced source is dropped).
    id: u64,
    identity: Identity,
    source: KeySource,
    /// A worker thread saw an unknown kid for this provider.
    kid_hint: bool,
}

/// Every provider's key source, for one policy generation.
#[derive(Debug, Default)]
pub struct Sources {
    policy_generation: u64,
    entries: Vec<Entry>,
    next_id: u64,
}

/// A fetch the fetcher task performs, tagged with the source it is for.
#[derive(Debug)]
pub struct Due {
    provider: String,
    id: u64,
    fetch: Fetch,
}

/// What a fetch gave.
#[derive(Debug)]
pub(super) enum Outcome {
    /// An HTTP answer (any status), its headers and its whole body.
    Answer {
        status: u16,
        headers: Vec<(String, String)>,
        body: Bytes,
    },
    /// No usable answer.
    Failed(FailureKind, String),
}

/// The snapshots the worker threads adopt.
#[derive(Debug, Default)]
pub struct Published {
    /// The policy generation these keys belong to.
    pub policy_generation: u64,
    /// Each provider's last good fetch.
    pub snapshots: Vec<(String, Snapshot)>,
}

fn identity(verifier: &Verifier, provider: &str, source: &KeySource) -> Identity {
    let config = &verifier.policy().providers[provider];
    Identity {
        config: source.config().clone(),
        discovery_issuer: config.discovery.then(|| config.issuer[0].clone()),
    }
}

impl Sources {
    /// The sources of `verifier`'s policy (generation `generation`), keeping
    /// those of `self` whose settings did not change. Seeds new sources'
    /// jitter from `seed`.
    pub fn renewed(&mut self, verifier: &Verifier, generation: u64, seed: u64) -> Sources {
        let mut old = core::mem::take(&mut self.entries);
        let mut next_id = self.next_id;
        let mut entries = Vec::new();
        for (provider, source) in verifier.key_sources() {
            let identity = identity(verifier, provider, source);
            if let Some(at) = old
                .iter()
                .position(|e| e.provider == provider && e.identity == identity)
            {
                entries.push(old.swap_remove(at));
                continue;
            }
            next_id += 1;
            let mut source = source.clone();
            source.reseed(seed.wrapping_add(next_id));
            entries.push(Entry {
                provider: provider.to_string(),
                id: next_id,
                identity,
                source,
                kid_hint: false,
            });
        }
        Sources {
            policy_generation: generation,
            entries,
            next_id,
        }
    }

    /// Whether the policy has remote keys at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The providers kept from before a reload and those fetched anew, for the log.
    pub fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.provider.as_str()).collect()
    }

    /// Every source's last good fetch, for the worker threads.
    pub fn published(&self) -> Published {
        Published {
            policy_generation: self.policy_generation,
            snapshots: self
                .entries
                .iter()
                .filter_map(|e| Some((e.provider.clone(), e.source.snapshot()?)))
                .collect(),
        }
    }

    /// A worker thread's wish for an early fetch of `provider`'s keys.
    pub fn kid_hint(&mut self, provider: &str) {
        if let Some(entry) = self.entries.iter_mut().find(|e| e.provider == provider) {
            entry.kid_hint = true;
        }
    }

    /// Whether a worker's wish for an early fetch waits to be taken by [`Sources::due`].
    pub(super) fn kid_hinted(&self) -> bool {
        self.entries.iter().any(|e| e.kid_hint)
    }

    /// Until when (Unix seconds) a request denied `unknown_kid` may wait for
    /// a kid-miss refetch at `now`: one wished for by a worker and not yet
    /// taken (then its timeout from now), or asked for and in flight (the
    /// core's [`crate::keys::KeySource::kid_refetch_until`]). The latest over providers.
    pub fn kid_refetch_until(&self, now: i64) -> Option<i64> {
        self.entries
            .iter()
            .filter_map(|e| {
                let timeout = i64::from(e.source.config().timeout_seconds);
                e.kid_hint
                    .then(|| now.saturating_add(timeout))
                    .or_else(|| e.source.kid_refetch_until(now))
            })
            .max()
    }

    /// The fetches due at `now`, and when to look again (Unix seconds).
    pub(super) fn due(&mut self, now: i64) -> (Vec<Due>, Option<i64>) {
        let mut out = Vec::new();
        for entry in &mut self.entries {
            if core::mem::take(&mut entry.kid_hint) {
                // The worker's source remembered the kid itself; here one
                // marker stands for "some worker saw one", so the cooldown
                // counts once for the process.
                entry
                    .source
                    .unknown_kid(now, "(an unknown kid a worker saw)");
            }
            if let Some(fetch) = entry.source.next_fetch(now) {
                out.push(Due {
                    provider: entry.provider.clone(),
                    id: entry.id,
                    fetch,
                });
            }
        }
        let wake = self.entries.iter().map(|e| e.source.wake_at()).min();
        (out, wake)
    }

    /// Gives a fetch's result to its source; logs what changed. `None` when
    /// the source is gone (replaced by a reload).
    pub(super) fn land(&mut self, due: &Due, now: i64, outcome: Outcome) -> Option<Event> {
        let entry = self
            .entries
            .iter_mut()
            .find(|e| e.provider == due.provider && e.id == due.id)?;
        let event = match outcome {
            Outcome::Answer {
                status,
                headers,
                body,
            } => entry.source.fetched(now, status, &headers, &body),
            Outcome::Failed(kind, detail) => entry.source.failed(now, kind, &detail),
        };
        let provider = &entry.provider;
        match &event {
            Event::KeysChanged(change) => {
                info!(
                    "jwtgate: provider {provider}: keys changed ({} {}): {change}",
                    due.fetch.reason, due.fetch.url
                );
            }
            Event::Failed(failure) => warn!("jwtgate: provider {provider}: {failure}"),
            Event::Discovered { jwks_uri } => {
                info!("jwtgate: provider {provider}: discovery gives jwks_uri {jwks_uri}")
            }
            Event::KeysUnchanged | Event::Ignored => {}
        }
        Some(event)
    }

    /// Whether every provider has fresh keys at `now`, and each one's state.
    pub fn readiness(&self, now: i64) -> (bool, Vec<(&str, &'static str)>) {
        let states: Vec<(&str, &'static str)> = self
            .entries
            .iter()
            .map(|e| {
                let state = match e.source.readiness(now) {
                    Readiness::Ready => "ready",
                    Readiness::Pending { .. } => "pending",
                    Readiness::Unavailable { .. } => "unavailable",
                };
                (e.provider.as_str(), state)
            })
            .collect();
        (states.iter().all(|(_, s)| *s == "ready"), states)
    }

    /// The latest end of a pending first fetch at `now`, if any is pending.
    pub fn first_fetch_until(&self, now: i64) -> Option<i64> {
        self.entries
            .iter()
            .filter_map(|e| match e.source.readiness(now) {
                Readiness::Pending { until } => Some(until),
                _ => None,
            })
            .max()
    }

    /// The per-provider metrics, in the Prometheus text format: the Envoy
    /// filter's `jwtgate.keys.<provider>.*` as `jwtgate_keys_*{provider=..}`.
    pub fn render_metrics(&self, now: i64, out: &mut String) {
        if self.entries.is_empty() {
            return;
        }
        let label = |e: &Entry| std::format!("provider=\"{}\"", escape_label(&e.provider));
        let mut metric = |name: &str, kind: &str, help: &str, samples: Vec<(String, u64)>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{{{labels}}} {value}");
            }
        };
        let each = |f: &dyn Fn(&Entry) -> u64| -> Vec<(String, u64)> {
            self.entries.iter().map(|e| (label(e), f(e))).collect()
        };
        metric(
            "jwtgate_keys_fetches_total",
            "counter",
            "Key fetches started (JWKS and discovery documents).",
            each(&|e| e.source.stats().fetches),
        );
        metric(
            "jwtgate_keys_changes_total",
            "counter",
            "Key-set changes.",
            each(&|e| e.source.stats().changes),
        );
        let failures = self
            .entries
            .iter()
            .flat_map(|e| {
                e.source.stats().failures_by_kind().map(move |(kind, n)| {
                    (std::format!("{},kind=\"{}\"", label(e), kind.as_str()), n)
                })
            })
            .collect();
        metric(
            "jwtgate_keys_failures_total",
            "counter",
            "Failed key fetches, by kind.",
            failures,
        );
        metric(
            "jwtgate_keys",
            "gauge",
            "Keys in the last good fetched set.",
            each(&|e| e.source.key_set().map_or(0, |s| s.keys().len() as u64)),
        );
        metric(
            "jwtgate_keys_age_seconds",
            "gauge",
            "Seconds since the last good fetch (0 before the first).",
            each(&|e| {
                e.source
                    .fetched_at()
                    .map_or(0, |at| u64::try_from(now.saturating_sub(at)).unwrap_or(0))
            }),
        );
        metric(
            "jwtgate_keys_ready",
            "gauge",
            "1 while the provider has keys within max_stale_seconds.",
            each(&|e| u64::from(e.source.readiness(now) == Readiness::Ready)),
        );
    }
}

/// A Prometheus label value: `\`, `"` and line feeds escaped.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// After a worker thread denied a token with `unknown_kid`: the providers
/// whose verifier (its per-kid memory and cooldown) asks for an early
/// fetch. The worker never fetches: every fetch its verifier starts is
/// deferred at once (the fetcher's snapshot resets its schedule).
pub fn early_fetches_wanted(verifier: &mut Verifier, now: i64) -> Vec<String> {
    let mut wanted = Vec::new();
    for due in verifier.due_fetches(now) {
        let _ = verifier.key_fetch_handed_off(&due.provider, now);
        if due.fetch.reason == "unknown_kid" {
            wanted.push(due.provider);
        }
    }
    wanted
}

/// The fetcher's HTTP client.
type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

fn client() -> HttpClient {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::aws_lc_rs::default_provider())
        // Only a TLS setup error; the aws-lc-rs provider has every default suite.
        .expect("rustls with aws-lc-rs's default cipher suites")
        // Plain http only where the policy allows it (`allow_http`, checked by the core).
        .https_or_http()
        .enable_http1()
        .build();
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .build(https)
}

/// Performs one fetch: `GET`, no redirects, the body up to `max_bytes`,
/// everything within `timeout_seconds`.
async fn perform(client: &HttpClient, fetch: &Fetch) -> Outcome {
    let timeout = Duration::from_secs(u64::from(fetch.timeout_seconds));
    match tokio::time::timeout(timeout, exchange(client, fetch)).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::Failed(
            FailureKind::Timeout,
            std::format!("no answer within {} s", fetch.timeout_seconds),
        ),
    }
}

async fn exchange(client: &HttpClient, fetch: &Fetch) -> Outcome {
    let request = hyper::Request::get(fetch.url.as_str())
        .header("accept", "application/json")
        .header("user-agent", concat!("jwtgate/", env!("CARGO_PKG_VERSION")))
        .body(Empty::new());
    let request = match request {
        Ok(r) => r,
        Err(e) => return Outcome::Failed(FailureKind::Network, std::format!("bad request: {e}")),
    };
    let response = match client.request(request).await {
        Ok(r) => r,
        Err(e) => return Outcome::Failed(FailureKind::Network, error_chain(&e)),
    };
    let status = response.status().as_u16();
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let limit = fetch.max_bytes as usize;
    let too_large = |what: String| {
        Outcome::Failed(
            FailureKind::TooLarge,
            std::format!("{what}; the limit is {limit}"),
        )
    };
    let declared = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.trim().parse::<u64>().ok());
    if let Some(length) = declared.filter(|l| *l > limit as u64) {
        return too_large(std::format!("the body is {length} bytes (content-length)"));
    }
    match Limited::new(response.into_body(), limit).collect().await {
        Ok(body) => Outcome::Answer {
            status,
            headers,
            body: body.to_bytes(),
        },
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            too_large(std::format!("the body is over {limit} bytes"))
        }
        Err(e) => Outcome::Failed(
            FailureKind::Network,
            std::format!("the body did not arrive: {e}"),
        ),
    }
}

/// An error and its causes, for the log ("client error (Connect): tcp connect error: ...").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}

/// The fetcher task: performs the fetches the sources ask for, one task for
/// the process, until the runtime stops.
pub async fn run(shared: Arc<super::state::Shared>) {
    let client = client();
    let mut flights = tokio::task::JoinSet::new();
    loop {
        let now = super::state::now();
        let (due, wake) = shared.keys_due(now);
        for due in due {
            info!(
                "jwtgate: provider {}: fetching {} ({})",
                due.provider, due.fetch.url, due.fetch.reason
            );
            let client = client.clone();
            flights.spawn(async move {
                let outcome = perform(&client, &due.fetch).await;
                (due, outcome)
            });
        }
        let sleep = match wake {
            Some(at) => seconds_until(at),
            None => Duration::from_secs(3600),
        };
        tokio::select! {
            Some(landed) = flights.join_next(), if !flights.is_empty() => {
                if let Ok((due, outcome)) = landed {
                    shared.key_landed(&due, super::state::now(), outcome);
                }
            }
            () = shared.fetcher_wake.notified() => {}
            () = tokio::time::sleep(sleep) => {}
        }
    }
}

/// How long until Unix second `at` begins (at least a little, so that a
/// wake in the current second does not spin).
fn seconds_until(at: i64) -> Duration {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    let wait = (at as f64 - now).clamp(0.05, 3600.0);
    Duration::from_secs_f64(wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier(uri: &str, discovery: bool) -> Verifier {
        let policy = if discovery {
            std::format!(r#"{{"providers": {{"idp": {{"issuer": "{uri}", "discovery": true}}}}}}"#)
        } else {
            std::format!(
                r#"{{"providers": {{"idp": {{"issuer": "https://idp.example.com", "remote_jwks": {{"uri": "{uri}"}}}}}}}}"#
            )
        };
        Verifier::from_json(&policy).unwrap()
    }

    #[test]
    fn a_reload_keeps_unchanged_sources_and_replaces_changed_ones() {
        let mut sources =
            Sources::default().renewed(&verifier("https://a.example/jwks", false), 1, 7);
        let (due, _) = sources.due(100);
        assert_eq!(due.len(), 1);
        let first_id = due[0].id;
        // Same settings: the same source (its fetch in flight stays valid).
        let mut kept = sources.renewed(&verifier("https://a.example/jwks", false), 2, 7);
        assert_eq!(kept.entries[0].id, first_id);
        assert!(
            kept.due(100).0.is_empty(),
            "the first fetch is still in flight"
        );
        // Another URI: a new source, and the old fetch's result is dropped.
        let mut changed = kept.renewed(&verifier("https://b.example/jwks", false), 3, 7);
        assert_ne!(changed.entries[0].id, first_id);
        let late = Outcome::Failed(FailureKind::Network, "late".into());
        assert!(changed.land(&due[0], 101, late).is_none());
        let (due, _) = changed.due(101);
        assert_eq!(due[0].fetch.url, "https://b.example/jwks");
        // Discovery with the same URL as issuer is another identity.
        let changed_id = changed.entries[0].id;
        let discovery = changed.renewed(&verifier("https://b.example", true), 4, 7);
        assert_eq!(discovery.names(), ["idp"]);
        assert_ne!(discovery.entries[0].id, changed_id);
    }

    #[test]
    fn metric_labels_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
