//! The policy a process serves, and each worker thread's verifier.
//!
//! A [`Verifier`] with a host signature verifier is not `Sync` (the host is
//! a `Box<dyn SignatureVerifier>`), and its [`VerifiedCache`] wants `&mut`:
//! so each tokio worker thread builds its own verifier and cache from the
//! policy text, lazily, on its first request after a (re)load. Nothing is
//! locked on the request path but one atomic load, and no request ever waits
//! for another thread's verification. The cost is one build per thread per
//! reload (parsing the policy and preparing its keys: milliseconds), and one
//! cache per thread (a token is verified at most once per thread).
//!
//! A new policy is built and self-tested once, on the reloading task, before
//! it is published: a policy that fails there is refused with the core's
//! message (which names the field) and the old one keeps serving.
//!
//! Remote keys are the process's, not a thread's ([`super::keys`]): the key
//! sources live here behind a mutex that the fetcher task, reloads, the
//! admin endpoints and only the requests denied with `jwks_unavailable` or
//! `unknown_kid` take; each fetch result is published as snapshots, and a
//! worker thread adopts them into its verifier on its next request (one
//! more atomic load per request when nothing changed).

extern crate std;

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::sync::atomic::{AtomicU64, Ordering};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use log::{error, info, warn};

use super::crypto::{self, AwsLcCrypto};
use super::keys::{self, Due, Outcome, Published, Sources};
use super::metrics::Metrics;
use crate::keys::Event;
use crate::{Error, ErrorCode, VerifiedCache, Verifier};

/// Builds a verifier from policy JSON, offering AWS-LC for signature checks
/// (after the core's self-test, as the policy's `signature_verifier` allows).
pub fn build(policy_json: &str) -> Result<Verifier, Error> {
    let mut verifier = Verifier::from_json(policy_json)?;
    verifier.offer_host_crypto(Box::new(AwsLcCrypto::new()))?;
    Ok(verifier)
}

/// One accepted policy.
#[derive(Debug)]
struct Loaded {
    generation: u64,
    text: String,
}

/// What every thread of the service shares.
#[derive(Debug)]
pub struct Shared {
    path: PathBuf,
    current: RwLock<Arc<Loaded>>,
    generation: AtomicU64,
    /// The counters behind `/metrics`.
    pub metrics: Metrics,
    /// Every provider's key source (the fetcher's state).
    sources: Mutex<Sources>,
    /// The last good fetches, for the worker threads.
    published: RwLock<Arc<Published>>,
    /// Bumped with every publication.
    keys_generation: AtomicU64,
    /// Bumped with every fetch result, and when the fetcher took a kid-miss
    /// wish (waiters for a first fetch or a refetch look again).
    keys_changed: tokio::sync::watch::Sender<u64>,
    /// Wakes the fetcher task (a reload, an early fetch wished for).
    pub fetcher_wake: tokio::sync::Notify,
    /// Seeds the key sources' jitter (distinct per process).
    seed: u64,
}

/// A worker thread's verifier and cache, for one policy generation.
struct Worker {
    generation: u64,
    /// The key publication adopted last (0: none yet).
    keys_seen: u64,
    verifier: Verifier,
    cache: Option<VerifiedCache>,
}

std::thread_local! {
    static WORKER: RefCell<Option<Worker>> = const { RefCell::new(None) };
}

/// The current time in Unix seconds.
pub fn now() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => 0i64.saturating_sub_unsigned(e.duration().as_secs()),
    }
}

/// A seed for the key sources' jitter: the process id and the start time.
fn process_seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    nanos ^ (u64::from(std::process::id()) << 32)
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| std::format!("cannot read {}: {e}", path.display()))
}

/// Reads, builds and self-tests a policy; the error names the file and the field.
fn check(path: &Path) -> Result<(String, Verifier), String> {
    let text = read(path)?;
    match build(&text) {
        Ok(verifier) => Ok((text, verifier)),
        Err(e) => Err(std::format!("{}: {}", path.display(), e.message())),
    }
}

fn describe(verifier: &Verifier) -> String {
    let cache = &verifier.policy().cache;
    std::format!(
        "signatures by {}, cache {}",
        match verifier.signature_checker() {
            crypto::NAME => "aws-lc (RS*, PS*, ES256, ES384, ES512; pure Rust for EdDSA and HS*)",
            other => other,
        },
        if cache.enabled {
            "on (per worker thread)"
        } else {
            "off"
        }
    )
}

impl Shared {
    /// Loads the policy at `path`, or says why it cannot serve.
    pub fn load(path: &Path) -> Result<Shared, String> {
        let (text, verifier) = check(path)?;
        for warning in verifier.warnings() {
            warn!("jwtgate: {warning}");
        }
        info!(
            "jwtgate: policy {} loaded (generation 1; {})",
            path.display(),
            describe(&verifier)
        );
        let metrics = Metrics::default();
        metrics.reload(true, 1);
        metrics.crypto_host(verifier.signature_checker() == crypto::NAME);
        let seed = process_seed();
        let sources = Sources::default().renewed(&verifier, 1, seed);
        if !sources.is_empty() {
            info!(
                "jwtgate: remote keys for {:?}: requests wait for the first fetch, /readyz answers 503 until every provider has keys",
                sources.names()
            );
        }
        Ok(Shared {
            path: path.to_path_buf(),
            current: RwLock::new(Arc::new(Loaded {
                generation: 1,
                text,
            })),
            generation: AtomicU64::new(1),
            metrics,
            published: RwLock::new(Arc::new(sources.published())),
            sources: Mutex::new(sources),
            keys_generation: AtomicU64::new(1),
            keys_changed: tokio::sync::watch::Sender::new(1),
            fetcher_wake: tokio::sync::Notify::new(),
            seed,
        })
    }

    fn sources(&self) -> MutexGuard<'_, Sources> {
        self.sources.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes `sources`' last good fetches for the worker threads.
    fn publish(&self, sources: &Sources) {
        *self.published.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(sources.published());
        self.keys_generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The fetches due at `now` and when to look again (the fetcher task).
    /// Requests waiting for a kid-miss refetch look again once the fetcher
    /// took their wish (it may have started no fetch: the cooldown).
    pub fn keys_due(&self, now: i64) -> (Vec<Due>, Option<i64>) {
        let mut sources = self.sources();
        let hinted = sources.kid_hinted();
        let due = sources.due(now);
        drop(sources);
        if hinted {
            self.keys_changed.send_modify(|n| *n = n.wrapping_add(1));
        }
        due
    }

    /// A fetch's result (the fetcher task): new keys are published, and
    /// requests waiting for a first fetch look again.
    pub(super) fn key_landed(&self, due: &Due, now: i64, outcome: Outcome) {
        let mut sources = self.sources();
        let event = sources.land(due, now, outcome);
        if matches!(event, Some(Event::KeysChanged(_) | Event::KeysUnchanged)) {
            self.publish(&sources);
        }
        drop(sources);
        self.keys_changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// After this thread denied a token with `unknown_kid`: tells the
    /// fetcher when this thread's verifier asks for an early fetch.
    pub fn unknown_kid_seen(&self) {
        let wanted = WORKER.with(|slot| {
            let mut slot = slot.borrow_mut();
            slot.as_mut()
                .map(|w| keys::early_fetches_wanted(&mut w.verifier, now()))
                .unwrap_or_default()
        });
        if wanted.is_empty() {
            return;
        }
        let mut sources = self.sources();
        for provider in &wanted {
            sources.kid_hint(provider);
        }
        drop(sources);
        self.fetcher_wake.notify_one();
    }

    /// A receiver that sees every fetch result from now on.
    pub fn key_results(&self) -> tokio::sync::watch::Receiver<u64> {
        self.keys_changed.subscribe()
    }

    /// Until when (Unix seconds) a request denied `unknown_kid` may wait for
    /// the fetcher's kid-miss refetch, if one is wished for or in flight.
    pub fn kid_refetch_until(&self, now: i64) -> Option<i64> {
        self.sources().kid_refetch_until(now)
    }

    /// When a pending first fetch ends at the latest (Unix seconds), if one is pending.
    pub fn first_fetch_until(&self, now: i64) -> Option<i64> {
        self.sources().first_fetch_until(now)
    }

    /// `/readyz`: whether every remote provider has keys, and each one's state.
    pub fn readiness(&self) -> (bool, Vec<(String, &'static str)>) {
        let sources = self.sources();
        let (ready, states) = sources.readiness(now());
        (
            ready,
            states
                .into_iter()
                .map(|(p, s)| (p.to_string(), s))
                .collect(),
        )
    }

    /// `/metrics`: the counters, and each provider's key metrics.
    pub fn render_metrics(&self) -> String {
        let mut out = self.metrics.render();
        self.sources().render_metrics(now(), &mut out);
        out
    }

    /// The generation serving now (1 for the policy loaded at start).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Re-reads the policy file. A policy that does not load is refused with
    /// a log line naming the field, and the old one keeps serving. Returns
    /// whether the new one was accepted.
    pub fn reload(&self, why: &str) -> bool {
        let serving = self.generation();
        match check(&self.path) {
            Ok((text, verifier)) => {
                let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
                if current.text == text {
                    info!("jwtgate: policy reload ({why}): unchanged, generation {serving} keeps serving");
                    return true;
                }
                let generation = serving + 1;
                for warning in verifier.warnings() {
                    warn!("jwtgate: {warning}");
                }
                {
                    // Publish the keys kept for this generation before it serves.
                    let mut sources = self.sources();
                    let renewed = sources.renewed(&verifier, generation, self.seed);
                    *sources = renewed;
                    self.publish(&sources);
                }
                self.fetcher_wake.notify_one();
                *current = Arc::new(Loaded { generation, text });
                self.generation.store(generation, Ordering::Release);
                self.metrics.reload(true, generation);
                self.metrics
                    .crypto_host(verifier.signature_checker() == crypto::NAME);
                info!(
                    "jwtgate: policy reloaded ({why}): generation {generation} ({})",
                    describe(&verifier)
                );
                true
            }
            Err(message) => {
                self.metrics.reload(false, serving);
                error!("jwtgate: policy reload ({why}) refused, generation {serving} keeps serving: {message}");
                false
            }
        }
    }

    /// Runs `f` with this thread's verifier and cache for the current
    /// policy, building them first when the policy changed.
    pub fn with_verifier<T>(
        &self,
        f: impl FnOnce(&Verifier, Option<&mut VerifiedCache>) -> T,
    ) -> Result<T, Error> {
        let generation = self.generation();
        WORKER.with(|slot| {
            let mut slot = slot.borrow_mut();
            if slot.as_ref().is_none_or(|w| w.generation != generation) {
                let loaded = Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()));
                // The policy was built once already; a failure here would be
                // the host self-test failing on this thread only.
                let verifier = build(&loaded.text).map_err(|e| {
                    error!(
                        "jwtgate: a worker thread cannot build the policy: {}",
                        e.message()
                    );
                    Error::new(ErrorCode::InvalidConfig, e.message())
                })?;
                let settings = &verifier.policy().cache;
                let cache = settings
                    .enabled
                    .then(|| VerifiedCache::new(settings.max_entries, settings.max_bytes));
                *slot = Some(Worker {
                    generation: loaded.generation,
                    keys_seen: 0,
                    verifier,
                    cache,
                });
            }
            let worker = slot
                .as_mut()
                .ok_or_else(|| Error::new(ErrorCode::InvalidConfig, "no policy"))?;
            let keys = self.keys_generation.load(Ordering::Acquire);
            if worker.keys_seen != keys {
                self.adopt(worker, keys);
            }
            Ok(f(&worker.verifier, worker.cache.as_mut()))
        })
    }

    /// Puts the published keys in `worker`'s verifier.
    fn adopt(&self, worker: &mut Worker, keys: u64) {
        let published = Arc::clone(&self.published.read().unwrap_or_else(|p| p.into_inner()));
        if published.policy_generation != worker.generation {
            // A reload is being published; the next request looks again.
            return;
        }
        let now = now();
        for (provider, snapshot) in &published.snapshots {
            if let Err(e) = worker.verifier.adopt_keys(provider, now, snapshot) {
                error!("jwtgate: provider {provider}: a worker thread cannot take the fetched keys: {}", e.message());
            }
        }
        worker.keys_seen = keys;
    }

    /// The policy file's modification time and length, to notice changes.
    pub fn file_stamp(&self) -> Option<(SystemTime, u64)> {
        let meta = std::fs::metadata(&self.path).ok()?;
        Some((meta.modified().ok()?, meta.len()))
    }
}
