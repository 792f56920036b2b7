//! A provider's keys as the verifier sees them: the configured ones (`jwks`,
//! [`crate::Verifier::set_jwks`]) and the fetched ones ([`crate::keys`]),
//! with the staleness bound applied at verification time.
//!
//! The [`Verifier`] owns one [`KeySource`] per provider with `remote_jwks` or
//! `discovery`, and front ends drive them through the methods here:
//! [`Verifier::due_fetches`] (what to fetch now), [`Verifier::key_fetched`] /
//! [`Verifier::key_fetch_failed`] (the results), [`Verifier::next_key_wake`]
//! (when to look again). Verification itself never waits and never fetches:
//!
//! - fetched keys are used until `max_stale_seconds` after their last good
//!   fetch; the configured keys always (embedded keys keep working if the
//!   remote never answers);
//! - a provider with no usable key answers `jwks_unavailable` (HTTP 503 with
//!   `Retry-After`), never a pass;
//! - a token whose `kid` is in no key, or whose key would be among the
//!   fetched keys that are not available, is `jwks_unavailable` too when the
//!   fetched keys are missing; when they are present, the kid is noted and the
//!   next [`Verifier::due_fetches`] asks the source for one early fetch (at
//!   most one per cooldown).
//!
//! A front end may hold a request refused for want of keys until they can
//! answer it ([`Verifier::key_wait`]): a first fetch, or the kid-miss
//! refetch a token with a new kid started.
//!
//! ```
//! use jwtgate::{Verifier, keys::Event};
//! let mut verifier = Verifier::from_json(r#"{"providers": {"idp": {
//!     "issuer": "https://idp.example.com",
//!     "remote_jwks": {"uri": "https://idp.example.com/jwks"}}}}"#).unwrap();
//! // Before the first fetch every token of "idp" gets 503 jwks_unavailable.
//! assert_eq!(verifier.first_fetch_pending(10), Some(15));
//! let fetches = verifier.due_fetches(10);
//! assert_eq!(fetches[0].provider, "idp");
//! assert_eq!(fetches[0].fetch.url, "https://idp.example.com/jwks");
//! let jwks = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
//! let event = verifier.key_fetched("idp", 11, 200, &[], jwks.as_bytes()).unwrap();
//! assert!(matches!(event, Event::KeysChanged(_)));
//! assert!(verifier.due_fetches(12).is_empty());
//! ```

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::RefCell;

use crate::alg::sha256;
use crate::error::{err, Error, ErrorCode};
use crate::host::SignatureVerifier;
use crate::jwk::KeySet;
use crate::keys::{Event, FailureKind, Fetch, KeySource, Readiness, Snapshot};
use crate::lease::Lease;
use crate::verify::Verifier;

/// Most unknown kids noted between two [`Verifier::due_fetches`] calls.
const MAX_NOTED_KIDS: usize = 16;

/// A fetch for a named provider ([`Verifier::due_fetches`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFetch {
    /// The provider whose keys are fetched.
    pub provider: String,
    /// What to fetch.
    pub fetch: Fetch,
}

/// One provider's keys.
#[derive(Debug)]
pub(crate) struct ProviderKeys {
    /// The configured keys (`jwks`, or `set_jwks`).
    configured: Option<KeySet>,
    /// The fetched keys, when the provider has a key source.
    remote: Option<Remote>,
}

#[derive(Debug)]
struct Remote {
    source: KeySource,
    /// The configured keys and the fetched ones, once fetched.
    combined: Option<KeySet>,
    /// Kids no key had, noted during verification.
    noted: RefCell<Vec<String>>,
}

/// What the verifier reports when it has no key to check a token with.
fn unavailable(provider: &str, source: &KeySource, now: i64) -> Error {
    match (source.readiness(now), source.fetched_at()) {
        (Readiness::Pending { .. }, _) => err!(
            JwksUnavailable,
            "the keys of provider \"{provider}\" are being fetched for the first time"
        ),
        (_, Some(at)) => err!(
            JwksUnavailable,
            "the keys of provider \"{provider}\" were last fetched {} s ago, longer than max_stale_seconds ({}) allows",
            now.saturating_sub(at),
            source.config().max_stale_seconds
        ),
        (_, None) => err!(
            JwksUnavailable,
            "the keys of provider \"{provider}\" could not be fetched yet"
        ),
    }
}

impl ProviderKeys {
    pub(crate) fn new(configured: Option<KeySet>, source: Option<KeySource>) -> Self {
        ProviderKeys {
            configured,
            remote: source.map(|source| Remote {
                source,
                combined: None,
                noted: RefCell::new(Vec::new()),
            }),
        }
    }

    /// The keys to verify with at `now`, or `jwks_unavailable`. The second
    /// value says whether fetched keys are missing (not yet, or too stale).
    pub(crate) fn usable(&self, provider: &str, now: i64) -> Result<(&KeySet, bool), Error> {
        let Some(remote) = &self.remote else {
            return self
                .configured
                .as_ref()
                .map(|set| (set, false))
                .ok_or_else(|| err!(JwksUnavailable, "provider \"{provider}\" has no keys"));
        };
        let fresh = remote
            .source
            .valid_until()
            .is_some_and(|until| now <= until);
        match (&remote.combined, &self.configured) {
            (Some(set), _) if fresh => Ok((set, false)),
            (_, Some(set)) => Ok((set, true)),
            _ => Err(unavailable(provider, &remote.source, now)),
        }
    }

    /// Whether a verdict reached under these keys may still be reused at `now`
    /// (a cached one): not when the fetched keys went stale since.
    pub(crate) fn still_valid(&self, now: i64) -> bool {
        self.remote.as_ref().is_none_or(|r| {
            r.combined.is_none() || r.source.valid_until().is_some_and(|until| now <= until)
        })
    }

    /// Why a token with an unknown kid or no fitting key failed, given
    /// whether fetched keys were missing: `jwks_unavailable` if they were,
    /// else the original error (and an unknown kid is noted for a refetch).
    pub(crate) fn key_miss(
        &self,
        provider: &str,
        now: i64,
        error: Error,
        remote_missing: bool,
        kid: Option<&str>,
    ) -> Error {
        let Some(remote) = &self.remote else {
            return error;
        };
        if remote_missing {
            let why = unavailable(provider, &remote.source, now);
            return err!(JwksUnavailable, "{} ({})", why.message(), error.message());
        }
        if let (ErrorCode::UnknownKid, Some(kid)) = (error.code(), kid) {
            if let Ok(mut noted) = remote.noted.try_borrow_mut() {
                if noted.len() < MAX_NOTED_KIDS && !noted.iter().any(|k| k == kid) {
                    noted.push(kid.to_string());
                }
            }
        }
        error
    }

    /// The configured keys (`jwks`, PEM keys, or `set_jwks`), if any.
    pub(crate) fn configured(&self) -> Option<&KeySet> {
        self.configured.as_ref()
    }

    pub(crate) fn set_configured(&mut self, set: KeySet) {
        if let Some(remote) = &mut self.remote {
            remote.combined = remote.source.key_set().map(|fetched| set.union(fetched));
        }
        self.configured = Some(set);
    }

    pub(crate) fn prepare_for(&mut self, host: &mut dyn SignatureVerifier) {
        if let Some(set) = &mut self.configured {
            set.prepare_for(host);
        }
        if let Some(set) = self.remote.as_mut().and_then(|r| r.combined.as_mut()) {
            set.prepare_for(host);
        }
    }
}

impl Verifier {
    /// The fetches due at `now`, for every provider with remote keys: perform
    /// each (`GET`, no redirects, at most `timeout_seconds` and `max_bytes`)
    /// and report it with [`Verifier::key_fetched`] or
    /// [`Verifier::key_fetch_failed`]. Unknown kids seen since the last call
    /// may add one early fetch per provider (at most one per cooldown).
    ///
    /// Call it on a timer ([`Verifier::next_key_wake`]) and after a request
    /// was denied with `unknown_kid`.
    pub fn due_fetches(&mut self, now: i64) -> Vec<KeyFetch> {
        let mut out = Vec::new();
        for provider in &mut self.providers {
            let Some(remote) = provider.keys.remote.as_mut() else {
                continue;
            };
            for kid in remote.noted.get_mut().drain(..) {
                // Keys adopted or fetched since the kid was noted may have it.
                let known = remote
                    .combined
                    .as_ref()
                    .is_some_and(|set| set.keys().iter().any(|k| k.kid() == Some(kid.as_str())));
                if !known {
                    remote.source.unknown_kid(now, &kid);
                }
            }
            if let Some(fetch) = remote.source.next_fetch(now) {
                out.push(KeyFetch {
                    provider: provider.name.clone(),
                    fetch,
                });
            }
        }
        out
    }

    /// Seeds every key source's jitter (give each instance its own seed, so
    /// that instances started together do not refresh together).
    pub fn reseed_key_sources(&mut self, seed: u64) {
        for (i, provider) in self.providers.iter_mut().enumerate() {
            if let Some(remote) = provider.keys.remote.as_mut() {
                remote.source.reseed(seed.wrapping_add(i as u64));
            }
        }
    }

    /// When [`Verifier::due_fetches`] has something to do next (Unix
    /// seconds); `None` when no provider has remote keys.
    pub fn next_key_wake(&self) -> Option<i64> {
        self.providers
            .iter()
            .filter_map(|p| p.keys.remote.as_ref())
            .map(|r| {
                if r.noted.borrow().is_empty() {
                    r.source.wake_at()
                } else {
                    i64::MIN
                }
            })
            .min()
    }

    /// The answer to `provider`'s fetch in flight (status, response headers,
    /// body). New keys are checked like the policy's, prepared for the host
    /// crypto in use, and take effect at once (cached verdicts under the old
    /// keys are dropped). The event says what changed, for the log.
    pub fn key_fetched(
        &mut self,
        provider: &str,
        now: i64,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Event, Error> {
        let index = self.remote_index(provider)?;
        let event = self
            .remote_mut(index)
            .source
            .fetched(now, status, headers, body);
        self.apply(index, &event);
        Ok(event)
    }

    /// `provider`'s fetch in flight failed without an HTTP answer (timeout,
    /// connection error) or the front end refused the answer (`kind`); the
    /// last good keys stay.
    pub fn key_fetch_failed(
        &mut self,
        provider: &str,
        now: i64,
        kind: FailureKind,
        detail: &str,
    ) -> Result<Event, Error> {
        let index = self.remote_index(provider)?;
        Ok(self.remote_mut(index).source.failed(now, kind, detail))
    }

    /// Whether this instance (`holder`) performs `provider`'s fetch in flight
    /// (from [`Verifier::due_fetches`]), given the lease text its store holds
    /// (`None`: none). `Some(lease)`: store [`Lease::text`], then fetch.
    /// `None`: another instance holds the lease, and the fetch is left to it:
    /// deferred until its lease ends or, while this source waits for its
    /// first keys, by a second at a time; and if the holder's fetch failed
    /// meanwhile, this source's first fetch fails too (so that requests held
    /// for it stop waiting). The protocol is in [`crate::lease`].
    pub fn claim_fetch_lease(
        &mut self,
        provider: &str,
        stored: Option<&str>,
        holder: &str,
        now: i64,
    ) -> Result<Option<Lease>, Error> {
        let index = self.remote_index(provider)?;
        let source = &mut self.remote_mut(index).source;
        let Some(held) = stored
            .and_then(Lease::parse)
            .filter(|lease| lease.held_by_other(holder, now))
        else {
            let timeout = i64::from(source.config().timeout_seconds);
            return Ok(Some(Lease {
                until: now.saturating_add(timeout).saturating_add(1),
                holder: holder.to_string(),
                failed: None,
            }));
        };
        let first = matches!(source.readiness(now), Readiness::Pending { .. });
        match (first, held.failed) {
            (true, Some(kind)) => {
                let detail = format!("the fetch by {} failed ({kind})", held.holder);
                source.failed(now, kind, &detail);
            }
            // Look again soon: the holder's result ends the wait.
            (true, None) => source.defer(held.until.min(now.saturating_add(1))),
            (false, _) => source.defer(held.until),
        }
        Ok(None)
    }

    /// `provider`'s fetch in flight is performed elsewhere, by a fetcher that
    /// shares its result with this verifier ([`Verifier::adopt_keys`]; the
    /// sidecar's one fetcher per process): this source asks again no sooner
    /// than its `cooldown_seconds`.
    pub fn key_fetch_handed_off(&mut self, provider: &str, now: i64) -> Result<(), Error> {
        let index = self.remote_index(provider)?;
        let source = &mut self.remote_mut(index).source;
        let cooldown = i64::from(source.config().cooldown_seconds.max(1));
        source.defer(now.saturating_add(cooldown));
        Ok(())
    }

    /// Takes keys another instance fetched for `provider` (a snapshot it
    /// shared, e.g. through Envoy's shared data); see [`KeySource::adopt`].
    pub fn adopt_keys(
        &mut self,
        provider: &str,
        now: i64,
        snapshot: &Snapshot,
    ) -> Result<Event, Error> {
        let index = self.remote_index(provider)?;
        let event = self.remote_mut(index).source.adopt(now, snapshot);
        self.apply(index, &event);
        Ok(event)
    }

    /// Every provider with remote keys and its key source (readiness,
    /// counters, snapshots), in name order.
    pub fn key_sources(&self) -> impl Iterator<Item = (&str, &KeySource)> {
        self.providers
            .iter()
            .filter_map(|p| Some((p.name.as_str(), &p.keys.remote.as_ref()?.source)))
    }

    /// The latest time until which a request may wait for a provider's first
    /// fetch at `now` (the front end may hold requests until then, or answer
    /// `jwks_unavailable` at once); `None` when no first fetch is pending.
    pub fn first_fetch_pending(&self, now: i64) -> Option<i64> {
        self.key_sources()
            .filter_map(|(_, s)| match s.readiness(now) {
                Readiness::Pending { until } => Some(until),
                _ => None,
            })
            .max()
    }

    /// Whether a request refused with `refusal` (the decision's code,
    /// [`crate::http::Decision::refusal`]) at `now` may wait for keys instead of getting
    /// the refusal: the latest time (Unix seconds, inclusive) to hold it until.
    ///
    /// - `jwks_unavailable` while a provider's first fetch is pending: at
    ///   most the timeout of the fetches still needed (two with discovery)
    ///   from `now`;
    /// - `unknown_kid` while a kid-miss refetch is asked for or in flight
    ///   ([`Verifier::kid_refetch_pending`]): at most `timeout_seconds` after
    ///   it started, as jose's `createRemoteJWKSet` waits for its refetch.
    ///
    /// The front end then decides the request again ([`Verifier::authorize`])
    /// when keys land or the fetch fails, and answers that decision (which
    /// may wait again only while the same fetch is still under way); at this
    /// time at the latest it answers the decision it then gets (503
    /// `jwks_unavailable` if still no keys, 401 `unknown_kid` if the kid is
    /// still unknown, never a pass). `None`: answer the refusal now.
    ///
    /// Any provider counts: a request for another provider whose keys are
    /// unavailable (or whose kid is unknown) may wait as well, for no longer.
    ///
    /// ```
    /// use jwtgate::Verifier;
    /// use jwtgate::http::{Decision, Request};
    /// let mut verifier = Verifier::from_json(r#"{"providers": {"idp": {
    ///     "issuer": "https://idp.example.com",
    ///     "remote_jwks": {"uri": "https://idp.example.com/jwks", "timeout_seconds": 3}}},
    ///     "rules": [{"prefix": "/", "requires": "idp"}]}"#).unwrap();
    /// let headers = [("authorization".to_string(), "Bearer a.b.c".to_string())];
    /// let request = Request { method: "GET", path: "/", headers: &headers, case_insensitive: false };
    /// let decision = verifier.authorize(&request, 10, None);
    /// // A malformed token needs no keys: answer at once.
    /// assert_eq!(verifier.key_wait(decision.refusal(), 10), None);
    /// # let token = "eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIn0.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlLmNvbSJ9.c2ln";
    /// let headers = [("authorization".to_string(), format!("Bearer {token}"))];
    /// let request = Request { method: "GET", path: "/", headers: &headers, case_insensitive: false };
    /// let decision = verifier.authorize(&request, 10, None);
    /// assert!(matches!(&decision, Decision::Deny(d) if d.status == 503));
    /// assert_eq!(verifier.key_wait(decision.refusal(), 10), Some(13));
    /// // The first fetch fails: nothing to wait for any more.
    /// verifier.due_fetches(10);
    /// verifier.key_fetch_failed("idp", 11, jwtgate::keys::FailureKind::Network, "refused").unwrap();
    /// assert_eq!(verifier.key_wait(verifier.authorize(&request, 11, None).refusal(), 11), None);
    /// ```
    pub fn key_wait(&self, refusal: Option<ErrorCode>, now: i64) -> Option<i64> {
        let until = match refusal? {
            ErrorCode::JwksUnavailable => self
                .key_sources()
                .filter_map(|(_, source)| match source.readiness(now) {
                    Readiness::Pending { until } => {
                        // Discovery's document first, then the JWKS.
                        let fetches = if source.jwks_uri().is_none() { 2 } else { 1 };
                        let timeout = i64::from(source.config().timeout_seconds);
                        Some(until.min(now.saturating_add(fetches * timeout)))
                    }
                    _ => None,
                })
                .max(),
            ErrorCode::UnknownKid => self.kid_refetch_pending(now),
            _ => None,
        };
        until.filter(|until| *until >= now)
    }

    /// The latest time (Unix seconds) until which a fetch that may bring an
    /// unknown kid is under way at `now`: a kid-miss refetch asked for, or a
    /// JWKS fetch in flight ([`KeySource::kid_refetch_until`]), or one that
    /// [`Verifier::due_fetches`] will start for a kid noted during
    /// verification ([`KeySource::kid_fetch_coming`]), then at most
    /// `timeout_seconds` from `now`. `None` when no provider has one: a
    /// token whose kid is still unknown is refused at once. A kid is waited
    /// for once per cooldown, and a flood of random kids waits only while a
    /// fetch is under way (at most one kid-miss refetch per cooldown).
    pub fn kid_refetch_pending(&self, now: i64) -> Option<i64> {
        self.providers
            .iter()
            .filter_map(|p| p.keys.remote.as_ref())
            .filter_map(|remote| {
                let source = &remote.source;
                source.kid_refetch_until(now).or_else(|| {
                    let noted = remote.noted.try_borrow().ok()?;
                    noted
                        .iter()
                        .any(|kid| source.kid_fetch_coming(now, kid))
                        .then(|| now.saturating_add(i64::from(source.config().timeout_seconds)))
                })
            })
            .max()
    }

    /// The `Retry-After` of a `jwks_unavailable` answer, in seconds: the
    /// shortest `retry_seconds` of the providers with remote keys.
    pub(crate) fn retry_after_seconds(&self) -> u32 {
        self.key_sources()
            .map(|(_, s)| s.config().retry_seconds)
            .min()
            .unwrap_or(5)
            .max(1)
    }

    fn remote_index(&self, provider: &str) -> Result<usize, Error> {
        self.providers
            .iter()
            .position(|p| p.name == provider && p.keys.remote.is_some())
            .ok_or_else(|| {
                err!(
                    InvalidConfig,
                    "no provider named \"{}\" has remote keys",
                    crate::jws::printable(provider)
                )
            })
    }

    fn remote_mut(&mut self, index: usize) -> &mut Remote {
        // `remote_index` found it.
        self.providers[index]
            .keys
            .remote
            .as_mut()
            .expect("a provider with remote keys")
    }

    /// Puts newly fetched keys in use.
    fn apply(&mut self, index: usize, event: &Event) {
        if !matches!(event, Event::KeysChanged(_)) {
            return;
        }
        let provider = &mut self.providers[index];
        let keys = &mut provider.keys;
        let Some(remote) = keys.remote.as_mut() else {
            return;
        };
        let Some(fetched) = remote.source.key_set() else {
            return;
        };
        let mut combined = match &keys.configured {
            Some(configured) => configured.union(fetched),
            None => fetched.clone(),
        };
        if let Some(host) = self.host.0.as_deref_mut() {
            combined.prepare_for(host);
        }
        let mut seed = self.fingerprint.to_vec();
        seed.extend_from_slice(provider.name.as_bytes());
        seed.extend_from_slice(remote.source.jwks_text().unwrap_or_default().as_bytes());
        self.fingerprint = sha256(&seed);
        remote.combined = Some(combined);
    }
}

/// The `remote_jwks` settings of a provider, with discovery's issuer: a key source.
pub(crate) fn source_for(
    name: &str,
    config: &crate::policy::Provider,
    options: crate::jwk::KeySetOptions,
    seed: u64,
) -> Result<Option<KeySource>, Error> {
    if config.remote_jwks.is_none() && !config.discovery {
        return Ok(None);
    }
    let remote = config.remote_jwks.clone().unwrap_or_default();
    let issuer = config.discovery.then(|| config.issuer[0].as_str());
    KeySource::new(&remote, issuer, options, seed)
        .map(Some)
        .map_err(|e| {
            let message =
                e.message()
                    .replacen("remote_jwks", &format!("providers.{name}.remote_jwks"), 1);
            let message = if message.starts_with("issuer") {
                format!("providers.{name}.{message}")
            } else {
                message
            };
            Error::new(ErrorCode::InvalidConfig, message)
        })
}
