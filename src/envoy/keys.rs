//! Remote keys in the filter: the core's key sources ([`crate::keys`]) driven
//! by the root context's timer (`on_tick`) and HTTP calls on the provider's
//! Envoy `cluster` (`dispatch_http_call`, `on_http_call_response`).
//!
//! Envoy runs one VM per worker thread. So that N workers cause about one
//! fetch per refresh, not N, they share through proxy-wasm shared data
//! (`get_shared_data` / `set_shared_data` with compare-and-swap), per provider:
//!
//! - `jwtgate.keys.<id>.lease`: the fetch lease ([`crate::lease`], the
//!   protocol and its text). A worker whose source asks for a fetch claims it
//!   with compare-and-swap, so one worker fetches; the others leave the fetch
//!   to it. It is released after a good fetch and kept until the retry after
//!   a failure (the backoff is Envoy-wide); a worker still waiting for its
//!   first keys learns the failure from the lease within a second, so that
//!   every worker stops holding requests ([`super::held`]) about when the
//!   fetching one does.
//! - `jwtgate.keys.<id>.jwks`: the last good fetch as a [`Snapshot`]; every
//!   worker adopts a new one on its next tick ([`crate::Verifier::adopt_keys`]),
//!   keys and schedule both, so nobody refetches before the next refresh; and
//!   at once, on the request path, before it would refuse a request
//!   `jwks_unavailable` or hold it for a first fetch
//!   ([`KeyFetcher::adopt_published`]).
//!
//! `<id>` is a hash of the provider's name and key URL, so two policies in one
//! VM share only identical sources. Every change of key set and every failure
//! is logged, and counted per provider (`wasmcustom.jwtgate.keys.<provider>.*`:
//! `fetches`, `changes`, `failures.<kind>`, gauges `keys`, `age_seconds`, `ready`).
//!
//! Requests for a provider whose first fetch has not landed are held until
//! it lands or fails, at most its timeout ([`super::held`]).

// proxy-wasm hands us the host's clock as a std `SystemTime`.
extern crate std;

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::RefCell;
use core::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};

use log::{info, warn};
use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, MapType, MetricType};

use super::metrics::{add, counter};
use crate::alg::sha256;
use crate::keys::{Event, FailureKind, Readiness, Snapshot};
use crate::lease::{Lease, LeaseUpdate};
use crate::Verifier;

/// How often the root context looks at the key sources.
pub(crate) const TICK: Duration = Duration::from_millis(500);

/// Unix seconds of the host clock.
pub(crate) fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => 0i64.saturating_sub_unsigned(e.duration().as_secs()),
    }
}

/// A number that differs between workers started at the same second: the
/// host clock in nanoseconds (for the jitter and the lease holder's name).
pub(crate) fn instance_seed(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// One provider with remote keys, as this worker sees it.
struct Remote {
    name: String,
    cluster: String,
    lease_key: String,
    jwks_key: String,
    /// The cas of the last snapshot adopted or published.
    seen_cas: Option<u32>,
    metrics: KeyMetrics,
}

struct KeyMetrics {
    fetches: Option<u32>,
    changes: Option<u32>,
    /// Indexed like [`FailureKind::ALL`].
    failures: Vec<Option<u32>>,
    keys: Option<u32>,
    age: Option<u32>,
    ready: Option<u32>,
}

impl KeyMetrics {
    fn define(provider: &str) -> Self {
        let name = |what: &str| format!("jwtgate.keys.{provider}.{what}");
        let gauge = |what: &str| hostcalls::define_metric(MetricType::Gauge, &name(what)).ok();
        KeyMetrics {
            fetches: counter(&name("fetches")),
            changes: counter(&name("changes")),
            failures: FailureKind::ALL
                .iter()
                .map(|k| counter(&name(&format!("failures.{}", k.as_str()))))
                .collect(),
            keys: gauge("keys"),
            age: gauge("age_seconds"),
            ready: gauge("ready"),
        }
    }

    fn failed(&self, kind: FailureKind) {
        let index = FailureKind::ALL.iter().position(|k| *k == kind);
        add(
            index.and_then(|i| self.failures.get(i).copied().flatten()),
            1,
        );
    }
}

fn record(id: Option<u32>, value: u64) {
    if let Some(id) = id {
        if let Err(status) = hostcalls::record_metric(id, value) {
            warn!("jwtgate: cannot record metric {id}: {status:?}");
        }
    }
}

/// A fetch dispatched by this worker.
struct Flight {
    provider: usize,
    started: SystemTime,
    timeout: u32,
}

/// This worker's part in fetching keys.
pub(crate) struct KeyFetcher {
    remotes: Vec<Remote>,
    flights: BTreeMap<u32, Flight>,
    /// Names this worker in leases.
    holder: String,
}

impl KeyFetcher {
    /// The fetcher for `verifier`'s remote providers (`None` if it has none);
    /// seeds their jitter with `instance` (distinct per worker). Fails, with
    /// a message naming the field, if a remote provider has no `cluster`.
    pub(crate) fn new(
        verifier: &mut Verifier,
        instance: u64,
    ) -> Result<Option<KeyFetcher>, String> {
        verifier.reseed_key_sources(instance);
        let mut remotes = Vec::new();
        for (name, source) in verifier.key_sources() {
            let config = source.config();
            let Some(cluster) = &config.cluster else {
                return Err(format!(
                    "providers.{name}.remote_jwks.cluster: required by the Envoy filter (the cluster that serves {})",
                    config.uri.as_deref().unwrap_or("the discovery document and the JWKS")
                ));
            };
            let mut seed = Vec::from(name.as_bytes());
            seed.push(0);
            seed.extend_from_slice(config.uri.as_deref().unwrap_or("discovery").as_bytes());
            seed.extend_from_slice(verifier.policy().providers[name].issuer[0].as_bytes());
            let id: String = sha256(&seed)[..8]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            let lease_key = format!("jwtgate.keys.{id}.lease");
            // An expired lease, so that taking it is always a compare-and-swap.
            if matches!(hostcalls::get_shared_data(&lease_key), Ok((None, _))) {
                let _ =
                    hostcalls::set_shared_data(&lease_key, Some(EXPIRED_LEASE.as_bytes()), None);
            }
            remotes.push(Remote {
                name: name.to_string(),
                cluster: cluster.clone(),
                lease_key,
                jwks_key: format!("jwtgate.keys.{id}.jwks"),
                seen_cas: None,
                metrics: KeyMetrics::define(name),
            });
        }
        if remotes.is_empty() {
            return Ok(None);
        }
        Ok(Some(KeyFetcher {
            remotes,
            flights: BTreeMap::new(),
            holder: format!("{instance:x}"),
        }))
    }

    /// The timer: adopt what other workers fetched, then start the fetches due.
    pub(crate) fn tick(&mut self, verifier: &RefCell<Verifier>, time: SystemTime) {
        let now = unix_seconds(time);
        let Ok(mut verifier) = verifier.try_borrow_mut() else {
            return;
        };
        self.adopt_published(&mut verifier, now);
        self.dispatch_due(&mut verifier, time);
        for remote in &self.remotes {
            let Some((_, source)) = verifier.key_sources().find(|(n, _)| *n == remote.name) else {
                continue;
            };
            let fresh = source.readiness(now) == Readiness::Ready;
            record(remote.metrics.ready, u64::from(fresh));
            record(
                remote.metrics.keys,
                source.key_set().map_or(0, |s| s.keys().len() as u64),
            );
            if let Some(at) = source.fetched_at() {
                record(
                    remote.metrics.age,
                    u64::try_from(now.saturating_sub(at)).unwrap_or(0),
                );
            }
        }
    }

    /// Adopts the snapshots other workers published since this worker last
    /// looked: on every tick, and on the request path before a request would
    /// be refused `jwks_unavailable` or `unknown_kid`, or held for a first fetch
    /// ([`super::http::decide`]), so that no worker refuses or holds a token
    /// for keys another worker already has. `true` when a snapshot was taken.
    pub(crate) fn adopt_published(&mut self, verifier: &mut Verifier, now: i64) -> bool {
        let mut adopted = false;
        for remote in &mut self.remotes {
            adopted |= adopt(remote, verifier, now);
        }
        adopted
    }

    /// Starts every fetch the key sources ask for, for which this worker gets the lease.
    fn dispatch_due(&mut self, verifier: &mut Verifier, time: SystemTime) {
        let now = unix_seconds(time);
        for due in verifier.due_fetches(now) {
            let Some(index) = self.remotes.iter().position(|r| r.name == due.provider) else {
                continue;
            };
            let remote = &self.remotes[index];
            let fetch = &due.fetch;
            if !claim_lease(verifier, &remote.name, &remote.lease_key, &self.holder, now) {
                continue;
            }
            let headers = Vec::from([
                (":method", "GET"),
                (":path", fetch.path.as_str()),
                (":authority", fetch.authority.as_str()),
                ("accept", "application/json"),
            ]);
            let timeout = Duration::from_secs(u64::from(fetch.timeout_seconds));
            match hostcalls::dispatch_http_call(&remote.cluster, headers, None, Vec::new(), timeout)
            {
                Ok(token) => {
                    add(remote.metrics.fetches, 1);
                    self.flights.insert(
                        token,
                        Flight {
                            provider: index,
                            started: time,
                            timeout: fetch.timeout_seconds,
                        },
                    );
                }
                Err(status) => {
                    let detail = format!(
                        "cannot dispatch the call on cluster {:?} ({status:?})",
                        remote.cluster
                    );
                    let event =
                        verifier.key_fetch_failed(&remote.name, now, FailureKind::Network, &detail);
                    let remote = &self.remotes[index];
                    if let Ok(event) = event {
                        report(remote, &event);
                    }
                }
            }
        }
    }

    /// The answer to a fetch this worker dispatched.
    pub(crate) fn response(
        &mut self,
        verifier: &RefCell<Verifier>,
        token: u32,
        num_headers: usize,
        body_size: usize,
        time: SystemTime,
    ) {
        let now = unix_seconds(time);
        let Some(flight) = self.flights.remove(&token) else {
            return;
        };
        let Ok(mut v) = verifier.try_borrow_mut() else {
            return;
        };
        let remote = &self.remotes[flight.provider];
        let name = remote.name.clone();
        let max_bytes = v
            .key_sources()
            .find(|(n, _)| *n == name)
            .map_or(0, |(_, s)| s.config().max_bytes as usize);
        let headers = if num_headers == 0 {
            None
        } else {
            hostcalls::get_map_bytes(MapType::HttpCallResponseHeaders).ok()
        };
        let event = match headers {
            None => {
                // A call Envoy could not make at all comes without headers.
                let elapsed = time.duration_since(flight.started).unwrap_or_default();
                let (kind, detail) = if elapsed >= Duration::from_secs(u64::from(flight.timeout)) {
                    (
                        FailureKind::Timeout,
                        format!("no answer within {} s", flight.timeout),
                    )
                } else {
                    (
                        FailureKind::Network,
                        String::from("no response (connection failed or reset)"),
                    )
                };
                v.key_fetch_failed(&name, now, kind, &detail)
            }
            Some(_) if body_size > max_bytes => v.key_fetch_failed(
                &name,
                now,
                FailureKind::TooLarge,
                &format!("the body is {body_size} bytes; the limit is {max_bytes}"),
            ),
            Some(headers) => {
                let headers: Vec<(String, String)> = headers
                    .into_iter()
                    .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
                    .collect();
                let status = headers
                    .iter()
                    .find(|(k, _)| k == ":status")
                    .and_then(|(_, v)| v.parse::<u16>().ok())
                    .unwrap_or(0);
                let body = match body_size {
                    0 => Vec::new(),
                    n => hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, n)
                        .ok()
                        .flatten()
                        .unwrap_or_default(),
                };
                // Envoy answers a timeout (504) or a failed connection (503)
                // itself; its own replies lack the router's service-time header.
                let local = !headers
                    .iter()
                    .any(|(k, _)| k == "x-envoy-upstream-service-time");
                match (local, status) {
                    (true, 504) => v.key_fetch_failed(
                        &name,
                        now,
                        FailureKind::Timeout,
                        &format!(
                            "no answer within {} s (Envoy: {})",
                            flight.timeout,
                            String::from_utf8_lossy(&body)
                        ),
                    ),
                    (true, 503) => v.key_fetch_failed(
                        &name,
                        now,
                        FailureKind::Network,
                        &format!("Envoy: {}", String::from_utf8_lossy(&body)),
                    ),
                    _ => v.key_fetched(&name, now, status, &headers, &body),
                }
            }
        };
        let Ok(event) = event else {
            return;
        };
        let remote = &mut self.remotes[flight.provider];
        if matches!(event, Event::KeysChanged(_) | Event::KeysUnchanged) {
            publish(remote, &v);
        }
        match Lease::after(&event, &self.holder) {
            LeaseUpdate::Write(lease) => store_lease(&remote.lease_key, &lease.text()),
            LeaseUpdate::Release => store_lease(&remote.lease_key, EXPIRED_LEASE),
            LeaseUpdate::Keep => {}
        }
        report(remote, &event);
        // A discovered jwks_uri is fetched at once.
        self.dispatch_due(&mut v, time);
    }
}

/// Adopts the snapshot another worker published, if it is new: `true` when
/// its keys were taken (changed or not).
fn adopt(remote: &mut Remote, verifier: &mut Verifier, now: i64) -> bool {
    let Ok((Some(bytes), cas)) = hostcalls::get_shared_data(&remote.jwks_key) else {
        return false;
    };
    if cas.is_some() && cas == remote.seen_cas {
        return false;
    }
    remote.seen_cas = cas;
    let Ok(snapshot) = serde_json::from_slice::<Snapshot>(&bytes) else {
        warn!(
            "jwtgate: provider {}: the shared key snapshot does not parse; ignored",
            remote.name
        );
        return false;
    };
    match verifier.adopt_keys(&remote.name, now, &snapshot) {
        Ok(Event::KeysChanged(change)) => {
            info!(
                "jwtgate: provider {}: keys changed (fetched by another worker at {}): {change}",
                remote.name, snapshot.fetched_at
            );
            true
        }
        Ok(Event::KeysUnchanged) => true,
        _ => false,
    }
}

/// Shares this worker's good fetch.
fn publish(remote: &mut Remote, verifier: &Verifier) {
    let snapshot = verifier
        .key_sources()
        .find(|(n, _)| *n == remote.name)
        .and_then(|(_, s)| s.snapshot());
    if let Some(snapshot) = snapshot {
        if let Ok(bytes) = serde_json::to_vec(&snapshot) {
            if hostcalls::set_shared_data(&remote.jwks_key, Some(&bytes), None).is_ok() {
                // Our own write: do not adopt it back.
                remote.seen_cas = hostcalls::get_shared_data(&remote.jwks_key)
                    .ok()
                    .and_then(|(_, cas)| cas);
            }
        }
    }
}

/// Logs and counts what a fetch result did.
fn report(remote: &Remote, event: &Event) {
    match event {
        Event::KeysChanged(change) => {
            add(remote.metrics.changes, 1);
            info!("jwtgate: provider {}: keys changed: {change}", remote.name);
        }
        Event::Failed(failure) => {
            remote.metrics.failed(failure.kind);
            warn!("jwtgate: provider {}: {failure}", remote.name);
        }
        Event::Discovered { jwks_uri: uri } => info!(
            "jwtgate: provider {}: discovery gives jwks_uri {uri}",
            remote.name
        ),
        Event::KeysUnchanged | Event::Ignored => {}
    }
}

/// A lease that has ended: stored at start, so that taking the lease is
/// always a compare-and-swap, and when a lease is released.
const EXPIRED_LEASE: &str = "0 -";

/// Claims the lease for `provider`'s due fetch ([`Verifier::claim_fetch_lease`]):
/// `true` when this worker took it (with compare-and-swap) and fetches;
/// `false` when another worker holds it, and the core has left the fetch to it.
fn claim_lease(verifier: &mut Verifier, provider: &str, key: &str, holder: &str, now: i64) -> bool {
    let read = || {
        let (value, cas) = hostcalls::get_shared_data(key).unwrap_or((None, None));
        (value.map(|v| String::from_utf8_lossy(&v).into_owned()), cas)
    };
    let (stored, cas) = read();
    let Ok(Some(lease)) = verifier.claim_fetch_lease(provider, stored.as_deref(), holder, now)
    else {
        return false;
    };
    if hostcalls::set_shared_data(key, Some(lease.text().as_bytes()), cas).is_ok() {
        return true;
    }
    // Another worker took it between our read and write: leave the fetch to it.
    let theirs = read()
        .0
        .filter(|text| Lease::parse(text).is_some_and(|l| l.held_by_other(holder, now)))
        .unwrap_or_else(|| {
            let lost = Lease {
                holder: String::from("-"),
                ..lease
            };
            lost.text()
        });
    let _ = verifier.claim_fetch_lease(provider, Some(&theirs), holder, now);
    false
}

/// Stores this worker's lease text.
fn store_lease(key: &str, text: &str) {
    let _ = hostcalls::set_shared_data(key, Some(text.as_bytes()), None);
}
