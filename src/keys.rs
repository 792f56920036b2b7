//! Key sources: keys fetched from the identity provider (a remote JWKS, found
//! directly or through OIDC discovery), as a state machine with no I/O.
//!
//! A [`KeySource`] is one provider's refresh brain. It owns no clock, no
//! timer, no HTTP client and no randomness: the front end (the Envoy filter,
//! the npm package, a worker) feeds it the time and the results of the
//! requests it asked for, and performs the requests it is told to:
//!
//! 1. [`KeySource::next_fetch`]`(now)` says what to fetch now, if anything
//!    ([`Fetch`]: the URL, its timeout, its size limit);
//! 2. the front end fetches it and reports [`KeySource::fetched`] (status,
//!    headers, body) or [`KeySource::failed`] (timeout, connection error);
//! 3. the returned [`Event`] says what changed: new keys ([`KeySource::key_set`]),
//!    a failure (log it), nothing;
//! 4. [`KeySource::wake_at`] says when to call `next_fetch` again.
//!
//! The [`crate::Verifier`] owns one source per provider with remote keys and
//! puts new keys in use itself; front ends drive it through
//! [`crate::Verifier::due_fetches`] and [`crate::Verifier::key_fetched`]
//! ([`crate::keyring`]).
//!
//! A token whose `kid` is in no key is reported with
//! [`KeySource::unknown_kid`], which may ask for one early fetch.
//!
//! ## Behaviour (every number is a [`RemoteJwks`] field)
//! - **Refresh** every `refresh_seconds` (600). A `Cache-Control: max-age`
//!   (or `no-cache`/`no-store`, read as 0) on the JWKS response replaces it,
//!   clamped to `min_refresh_seconds` (60) ..= `max_refresh_seconds` (3600).
//!   Every delay is shortened by up to `jitter_percent` (10) percent, drawn
//!   from the seed given to [`KeySource::new`], so that many instances started
//!   together do not fetch together.
//! - **Rotation**: an unknown `kid` asks for one early fetch, at most once per
//!   `cooldown_seconds` (30) after the previous fetch started; an unknown kid
//!   is remembered for the cooldown, so a flood of random kids costs at most
//!   one fetch per cooldown.
//! - **Failures** (no answer within `timeout_seconds` (5), a connection error,
//!   a redirect, a status other than 200, a body over `max_bytes` (65536), a
//!   body that is not a usable JWKS, a discovery document that does not match)
//!   keep the last good keys and retry after `retry_seconds` (5), doubling up
//!   to `max_retry_seconds` (60).
//! - **Bounded staleness**: keys are served for at most `max_stale_seconds`
//!   (86400) after the last good fetch ([`KeySource::valid_until`]); then the
//!   provider answers `jwks_unavailable`, as before its first fetch.
//! - **OIDC discovery**: `<issuer>/.well-known/openid-configuration` is fetched
//!   first (OpenID Connect Discovery 1.0 §4); its `issuer` must equal the
//!   configured issuer exactly (§4.3) and its `jwks_uri` is used. It is
//!   refetched before every scheduled JWKS refresh (not before kid-triggered
//!   ones); if it fails while a `jwks_uri` is known, that one is used.
//! - Remote key sets never supply HMAC secrets: `oct` keys in them are skipped.
//!
//! ```
//! use jwtgate::keys::{Event, KeySource, RemoteJwks};
//! use jwtgate::KeySetOptions;
//!
//! let config = RemoteJwks::with_uri("https://idp.example.com/jwks");
//! let mut source = KeySource::new(&config, None, KeySetOptions::default(), 7).unwrap();
//! let fetch = source.next_fetch(1000).expect("the first fetch is due at once");
//! assert_eq!(fetch.url, "https://idp.example.com/jwks");
//! assert!(source.next_fetch(1000).is_none(), "one fetch at a time");
//! let jwks = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
//! match source.fetched(1001, 200, &[], jwks.as_bytes()) {
//!     Event::KeysChanged(change) => assert_eq!(change.to_string(), "kids added [\"k1\"], removed []; 1 key in use"),
//!     other => panic!("{other:?}"),
//! }
//! // The next refresh: 600 s, minus up to 10 % jitter.
//! assert!((1001 + 540..=1001 + 600).contains(&source.wake_at()));
//! assert_eq!(source.valid_until(), Some(1001 + 86400));
//! ```

use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{err, Error};
use crate::json::{parse_strict, type_name};
use crate::jwk::{KeySet, KeySetOptions};

/// The path OIDC Discovery appends to the issuer (OpenID Connect Discovery 1.0 §4).
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// Most unknown kids remembered per provider (a flood beyond this forgets the oldest;
/// the cooldown still bounds the fetches).
const MAX_REMEMBERED_KIDS: usize = 256;

/// JSON nesting accepted in a discovery document (`{"claims_supported":[...]}` is 2;
/// some providers nest a little deeper in extensions).
const DISCOVERY_DEPTH: usize = 16;

/// Where and how a provider's keys are fetched: the policy's `remote_jwks`.
///
/// Every field but `uri` and `cluster` has a default (the numbers in the
/// [module docs](self)); `uri` is required unless the provider sets
/// `discovery: true`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteJwks {
    /// The JWKS URL (`https://`; `http://` only with `allow_http` on a
    /// loopback host). Absent with `discovery: true`.
    #[serde(default)]
    pub uri: Option<String>,
    /// The Envoy cluster the filter fetches through (required by the Envoy
    /// filter, ignored elsewhere).
    #[serde(default)]
    pub cluster: Option<String>,
    /// Seconds between refreshes when the response has no `max-age` (600).
    #[serde(default = "default_refresh")]
    pub refresh_seconds: u32,
    /// The floor for a response's `max-age` (60).
    #[serde(default = "default_min_refresh")]
    pub min_refresh_seconds: u32,
    /// The ceiling for a response's `max-age` (3600).
    #[serde(default = "default_max_refresh")]
    pub max_refresh_seconds: u32,
    /// Every delay is shortened by up to this many percent (10; 0 to 50).
    #[serde(default = "default_jitter")]
    pub jitter_percent: u32,
    /// An unknown `kid` triggers at most one fetch per this many seconds (30).
    #[serde(default = "default_cooldown")]
    pub cooldown_seconds: u32,
    /// A fetch with no answer after this many seconds has failed (5).
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u32,
    /// The first retry after a failure, in seconds; doubles per failure (5).
    #[serde(default = "default_retry")]
    pub retry_seconds: u32,
    /// The longest delay between retries (60).
    #[serde(default = "default_max_retry")]
    pub max_retry_seconds: u32,
    /// Keys are used for at most this long after the last good fetch (86400).
    #[serde(default = "default_max_stale")]
    pub max_stale_seconds: u32,
    /// The largest response body accepted, in bytes (65536).
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u32,
    /// Accept `http://` URLs on loopback hosts (`127.0.0.0/8`, `[::1]`,
    /// `localhost`): for tests and sidecar IdPs. Off by default.
    #[serde(default)]
    pub allow_http: bool,
}

fn default_refresh() -> u32 {
    600
}
fn default_min_refresh() -> u32 {
    60
}
fn default_max_refresh() -> u32 {
    3600
}
fn default_jitter() -> u32 {
    10
}
fn default_cooldown() -> u32 {
    30
}
fn default_timeout() -> u32 {
    5
}
fn default_retry() -> u32 {
    5
}
fn default_max_retry() -> u32 {
    60
}
fn default_max_stale() -> u32 {
    86400
}
fn default_max_bytes() -> u32 {
    65536
}

impl Default for RemoteJwks {
    fn default() -> Self {
        RemoteJwks {
            uri: None,
            cluster: None,
            refresh_seconds: default_refresh(),
            min_refresh_seconds: default_min_refresh(),
            max_refresh_seconds: default_max_refresh(),
            jitter_percent: default_jitter(),
            cooldown_seconds: default_cooldown(),
            timeout_seconds: default_timeout(),
            retry_seconds: default_retry(),
            max_retry_seconds: default_max_retry(),
            max_stale_seconds: default_max_stale(),
            max_bytes: default_max_bytes(),
            allow_http: false,
        }
    }
}

impl RemoteJwks {
    /// The defaults, with this JWKS URL.
    pub fn with_uri(uri: &str) -> Self {
        RemoteJwks {
            uri: Some(uri.to_string()),
            ..RemoteJwks::default()
        }
    }

    /// Checks the numbers and the URL; errors start with `at` (the field
    /// path, e.g. `providers.idp.remote_jwks`) and name the field.
    pub fn check(&self, at: &str, discovery: bool) -> Result<(), Error> {
        match (&self.uri, discovery) {
            (Some(_), true) => {
                return Err(err!(
                    InvalidConfig,
                    "{at}.uri: set either uri or discovery: true, not both (discovery finds the jwks_uri)"
                ))
            }
            (None, false) => {
                return Err(err!(
                    InvalidConfig,
                    "{at}.uri: required (or set discovery: true on the provider)"
                ))
            }
            (Some(uri), false) => {
                Url::parse(uri, self.allow_http).map_err(|e| err!(InvalidConfig, "{at}.uri: {e}"))?;
            }
            (None, true) => {}
        }
        if let Some(cluster) = &self.cluster {
            if cluster.is_empty() || cluster.chars().any(|c| c.is_control() || c == ' ') {
                return Err(err!(
                    InvalidConfig,
                    "{at}.cluster: must be a non-empty Envoy cluster name"
                ));
            }
        }
        for (value, field) in [
            (self.refresh_seconds, "refresh_seconds"),
            (self.min_refresh_seconds, "min_refresh_seconds"),
            (self.max_refresh_seconds, "max_refresh_seconds"),
            (self.cooldown_seconds, "cooldown_seconds"),
            (self.timeout_seconds, "timeout_seconds"),
            (self.retry_seconds, "retry_seconds"),
            (self.max_retry_seconds, "max_retry_seconds"),
            (self.max_stale_seconds, "max_stale_seconds"),
            (self.max_bytes, "max_bytes"),
        ] {
            if value == 0 {
                return Err(err!(InvalidConfig, "{at}.{field}: must be greater than 0"));
            }
        }
        let order = [
            (
                self.min_refresh_seconds <= self.max_refresh_seconds,
                "min_refresh_seconds: must not exceed max_refresh_seconds",
            ),
            (
                self.retry_seconds <= self.max_retry_seconds,
                "retry_seconds: must not exceed max_retry_seconds",
            ),
            (
                self.jitter_percent <= 50,
                "jitter_percent: must be at most 50",
            ),
            (
                self.max_bytes <= 16 << 20,
                "max_bytes: must be at most 16777216 (16 MiB)",
            ),
        ];
        if let Some((_, message)) = order.iter().find(|(ok, _)| !ok) {
            return Err(err!(InvalidConfig, "{at}.{message}"));
        }
        Ok(())
    }
}

/// A URL the key source may fetch: `https://host[:port]/path[?query]`.
///
/// Refuses user information (`user@`), fragments, spaces and control
/// characters, non-ASCII, and `http://` unless allowed on a loopback host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// The whole URL, as given.
    pub url: String,
    /// `https` or `http`.
    pub scheme: &'static str,
    /// `host[:port]`, for the HTTP/2 `:authority` (or HTTP/1.1 `Host`).
    pub authority: String,
    /// The path and query, for `:path` (at least `/`).
    pub path: String,
}

impl Url {
    /// Parses and checks `url`; the error is a sentence for a config or fetch error.
    ///
    /// ```
    /// use jwtgate::keys::Url;
    /// let u = Url::parse("https://idp.example.com:8443/keys?v=2", false).unwrap();
    /// assert_eq!((u.authority.as_str(), u.path.as_str()), ("idp.example.com:8443", "/keys?v=2"));
    /// assert!(Url::parse("http://idp.example.com/keys", true).is_err());
    /// assert!(Url::parse("http://127.0.0.1:8080/keys", true).is_ok());
    /// assert!(Url::parse("https://user@idp.example.com/", false).is_err());
    /// ```
    pub fn parse(url: &str, allow_http: bool) -> Result<Url, String> {
        if !url.is_ascii() || url.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(format!(
                "{:?} must be ASCII without spaces or control characters",
                crate::jws::printable(url)
            ));
        }
        let (scheme, rest) = if let Some(rest) = url.strip_prefix("https://") {
            ("https", rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            ("http", rest)
        } else {
            return Err(format!("{url:?} must start with https://"));
        };
        if url.contains('#') {
            return Err(format!("{url:?} must not have a fragment"));
        }
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        if authority.contains('@') {
            return Err(format!("{url:?} must not carry user information (user@)"));
        }
        let host = host_of(authority).ok_or_else(|| format!("{url:?} has no valid host"))?;
        if scheme == "http" && !(allow_http && is_loopback(host)) {
            return Err(format!(
                "{url:?} must use https (http:// is accepted only on a loopback host with allow_http: true)"
            ));
        }
        let path = match path {
            "" => "/".to_string(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_string(),
        };
        Ok(Url {
            url: url.to_string(),
            scheme,
            authority: authority.to_ascii_lowercase(),
            path,
        })
    }
}

/// The host of `host[:port]` (brackets kept for IPv6), if both parts are well formed.
fn host_of(authority: &str) -> Option<&str> {
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']')?;
        let (host, rest) = authority.split_at(end + 1);
        (host, rest.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let host_ok = !host.is_empty()
        && host.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'[' | b']' | b':')
        });
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.parse::<u16>().is_ok());
    (host_ok && port_ok).then_some(host)
}

fn is_loopback(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    host == "localhost"
        || host == "[::1]"
        || host.strip_prefix("127.").is_some_and(|rest| {
            rest.split('.').count() == 3 && rest.split('.').all(|n| n.parse::<u8>().is_ok())
        })
}

/// Which document a [`Fetch`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Document {
    /// The OIDC discovery document (`openid-configuration`).
    Discovery,
    /// The JWK set.
    Jwks,
}

/// A request the front end must perform: `GET url`, at most `timeout_seconds`,
/// refusing redirects and bodies over `max_bytes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fetch {
    /// What is fetched.
    pub document: Document,
    /// The full URL.
    pub url: String,
    /// `host[:port]` of the URL (Envoy's `:authority`).
    pub authority: String,
    /// Path and query of the URL (Envoy's `:path`).
    pub path: String,
    /// Give up after this many seconds (and report [`FailureKind::Timeout`]).
    pub timeout_seconds: u32,
    /// The largest body to accept.
    pub max_bytes: u32,
    /// Why: `"first"`, `"refresh"`, `"retry"` or `"unknown_kid"`.
    pub reason: &'static str,
}

/// Why a fetch failed; its [`FailureKind::as_str`] names the metric
/// (`jwtgate.keys.<provider>.failures.<kind>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// No answer within the timeout.
    Timeout,
    /// The connection failed (refused, reset, DNS, TLS).
    Network,
    /// The answer was a redirect (3xx); redirects are never followed.
    Redirect,
    /// A status other than 200 (and not a redirect).
    Status,
    /// The body is larger than `max_bytes`.
    TooLarge,
    /// The body is not a usable JWK set.
    InvalidJwks,
    /// The discovery document is not JSON, has no usable `jwks_uri`, or
    /// names another issuer.
    InvalidDiscovery,
}

impl FailureKind {
    /// Every kind, in declaration order.
    pub const ALL: &'static [FailureKind] = &[
        FailureKind::Timeout,
        FailureKind::Network,
        FailureKind::Redirect,
        FailureKind::Status,
        FailureKind::TooLarge,
        FailureKind::InvalidJwks,
        FailureKind::InvalidDiscovery,
    ];

    /// The stable snake_case name, e.g. `"invalid_jwks"`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Timeout => "timeout",
            FailureKind::Network => "network",
            FailureKind::Redirect => "redirect",
            FailureKind::Status => "status",
            FailureKind::TooLarge => "too_large",
            FailureKind::InvalidJwks => "invalid_jwks",
            FailureKind::InvalidDiscovery => "invalid_discovery",
        }
    }

    /// The kind with this name (the front ends' spelling is the same).
    pub fn from_name(name: &str) -> Option<FailureKind> {
        FailureKind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == name)
    }

    fn index(self) -> usize {
        FailureKind::ALL
            .iter()
            .position(|k| *k == self)
            .unwrap_or_default()
    }
}

/// Serializes as [`FailureKind::as_str`].
impl Serialize for FailureKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed fetch: its kind and a sentence for the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// What failed.
    pub kind: FailureKind,
    /// Which document.
    pub document: Document,
    /// What happened, e.g. `"status 500"`.
    pub detail: String,
    /// When the next attempt is due (Unix seconds).
    pub retry_at: i64,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.document {
            Document::Discovery => "discovery document",
            Document::Jwks => "JWKS",
        };
        write!(
            f,
            "{what} fetch failed ({}): {}; last good keys kept, next attempt at {}",
            self.kind, self.detail, self.retry_at
        )
    }
}

/// How the key set changed with a fetch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyChange {
    /// Kids in the new set that were not in the old one (`"-"` for keys without a kid).
    pub added: Vec<String>,
    /// Kids of the old set that are gone.
    pub removed: Vec<String>,
    /// Usable keys in the new set.
    pub keys: usize,
}

impl fmt::Display for KeyChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "kids added {:?}, removed {:?}; {} key{} in use",
            self.added,
            self.removed,
            self.keys,
            if self.keys == 1 { "" } else { "s" }
        )
    }
}

/// What a fetch result changed. Serializes as `{"event": "keys_changed",
/// "added", "removed", "keys"}`, `{"event": "failed", "kind", "document",
/// "detail", "retry_at"}`, `{"event": "discovered", "jwks_uri"}`,
/// `{"event": "keys_unchanged"}` or `{"event": "ignored"}` (the npm package's
/// key events).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A new key set is in use: give [`KeySource::key_set`] to the verifier.
    KeysChanged(KeyChange),
    /// The same key set as before (byte for byte); it is fresh again.
    KeysUnchanged,
    /// The discovery document named this `jwks_uri`; the JWKS fetch is due now.
    Discovered {
        /// The JWKS URL from the discovery document.
        jwks_uri: String,
    },
    /// The fetch failed; the last good keys stay.
    Failed(Failure),
    /// The result was not for the fetch in flight (late, or none asked): ignored.
    Ignored,
}

/// Whether a provider's fetched keys can be used at `now` ([`KeySource::readiness`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// Fresh enough keys are in use.
    Ready,
    /// No keys yet, and the first fetch is in flight (or due): a request may
    /// wait for it until `until` (Unix seconds).
    Pending {
        /// When the first fetch times out.
        until: i64,
    },
    /// No usable keys: never fetched, or older than `max_stale_seconds`.
    Unavailable {
        /// When the next fetch is due.
        retry_at: i64,
    },
}

/// Counters for metrics, since the source was created.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KeyStats {
    /// Fetches started (both documents).
    pub fetches: u64,
    /// Fetches that gave a usable document.
    pub successes: u64,
    /// Key-set changes.
    pub changes: u64,
    /// Fetches started because of an unknown kid.
    pub kid_fetches: u64,
    /// Failures, indexed like [`FailureKind::ALL`] (serialized as an object by kind).
    #[serde(serialize_with = "failures_by_name")]
    pub failures: [u64; 7],
}

fn failures_by_name<S: serde::Serializer>(failures: &[u64; 7], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(failures.len()))?;
    for (kind, count) in FailureKind::ALL.iter().zip(failures) {
        map.serialize_entry(kind.as_str(), count)?;
    }
    map.end()
}

impl KeyStats {
    /// `(kind, count)` for every failure kind.
    pub fn failures_by_kind(&self) -> impl Iterator<Item = (FailureKind, u64)> + '_ {
        FailureKind::ALL
            .iter()
            .map(|k| (*k, self.failures[k.index()]))
    }
}

/// The fetch in flight.
#[derive(Debug, Clone)]
struct InFlight {
    document: Document,
    started: i64,
}

/// The last good key set.
#[derive(Debug, Clone)]
struct Current {
    text: String,
    set: KeySet,
    kids: Vec<String>,
    fetched_at: i64,
}

/// What a front end shares between instances (Envoy's worker VMs): the last
/// good fetch, so that one instance fetches and the others adopt it
/// ([`KeySource::snapshot`], [`KeySource::adopt`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// When the keys were fetched (Unix seconds).
    pub fetched_at: i64,
    /// When the next scheduled refresh is due.
    pub next_at: i64,
    /// The JWK set, as fetched.
    pub jwks: String,
    /// The `jwks_uri` found by discovery, if any.
    #[serde(default)]
    pub jwks_uri: Option<String>,
}

/// One provider's remote keys: what to fetch and when, and the last good
/// key set. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct KeySource {
    config: RemoteJwks,
    options: KeySetOptions,
    /// The configured issuer, with discovery.
    issuer: Option<String>,
    /// The JWKS URL: configured, or found by discovery.
    jwks_uri: Option<Url>,
    /// With discovery: fetch the discovery document next.
    discovery_due: bool,
    seed: u64,
    /// Delays drawn so far (the jitter's sequence number).
    draws: u64,
    next_at: i64,
    /// Why the next fetch is due.
    next_reason: &'static str,
    in_flight: Option<InFlight>,
    /// When the last fetch started (for the cooldown).
    last_start: Option<i64>,
    /// Consecutive failures (for the backoff).
    failures: u32,
    /// The first fetch finished (well or not).
    first_done: bool,
    current: Option<Current>,
    /// Unknown kids and when they were first seen.
    unknown: Vec<(String, i64)>,
    /// The latest end of the kid-miss refetch asked for or in flight (here,
    /// or left to another instance): until then a request refused
    /// `unknown_kid` may wait for it ([`KeySource::kid_refetch_until`]).
    kid_wait: Option<i64>,
    stats: KeyStats,
}

impl KeySource {
    /// A source that fetches `config.uri`, or with `discovery_issuer` the
    /// issuer's discovery document first. Key sets are loaded with `options`
    /// (symmetric keys are always refused). `seed` drives the jitter (give
    /// each instance its own, e.g. from its start time and id). The first
    /// fetch is due at once.
    ///
    /// Fails (`invalid_config`) if [`RemoteJwks::check`] does, or if the
    /// issuer is not a URL discovery can fetch.
    pub fn new(
        config: &RemoteJwks,
        discovery_issuer: Option<&str>,
        options: KeySetOptions,
        seed: u64,
    ) -> Result<KeySource, Error> {
        config.check("remote_jwks", discovery_issuer.is_some())?;
        let jwks_uri = match &config.uri {
            Some(uri) => Some(
                Url::parse(uri, config.allow_http)
                    .map_err(|e| err!(InvalidConfig, "remote_jwks.uri: {e}"))?,
            ),
            None => None,
        };
        if let Some(issuer) = discovery_issuer {
            Url::parse(&discovery_url(issuer), config.allow_http)
                .map_err(|e| err!(InvalidConfig, "issuer: discovery needs a URL issuer: {e}"))?;
        }
        Ok(KeySource {
            config: config.clone(),
            options: KeySetOptions {
                allow_symmetric: false,
                ..options
            },
            issuer: discovery_issuer.map(str::to_string),
            jwks_uri,
            discovery_due: discovery_issuer.is_some(),
            seed,
            draws: 0,
            next_at: i64::MIN,
            next_reason: "first",
            in_flight: None,
            last_start: None,
            failures: 0,
            first_done: false,
            current: None,
            unknown: Vec::new(),
            kid_wait: None,
            stats: KeyStats::default(),
        })
    }

    /// Draws the jitter from `seed` from now on (give each instance its own).
    pub fn reseed(&mut self, seed: u64) {
        self.seed = seed;
    }

    /// The configuration.
    pub fn config(&self) -> &RemoteJwks {
        &self.config
    }

    /// What to fetch now, if anything; the fetch is then in flight until
    /// [`KeySource::fetched`] or [`KeySource::failed`] (or its timeout, which
    /// this method notices) ends it.
    pub fn next_fetch(&mut self, now: i64) -> Option<Fetch> {
        // A lost answer: counted as a timeout (the front end will never report it).
        let _ = self.expire_in_flight(now);
        if self.in_flight.is_some() || now < self.next_at {
            return None;
        }
        // Kid-triggered fetches go straight to the JWKS.
        let scheduled = self.next_reason != "unknown_kid";
        let discovery = (self.discovery_due && scheduled || self.jwks_uri.is_none())
            .then_some(self.issuer.as_ref())
            .flatten();
        let (document, url) = if let Some(issuer) = discovery {
            // Checked in `new`.
            let url = Url::parse(&discovery_url(issuer), self.config.allow_http).ok()?;
            (Document::Discovery, url)
        } else {
            (Document::Jwks, self.jwks_uri.clone()?)
        };
        self.in_flight = Some(InFlight {
            document,
            started: now,
        });
        self.last_start = Some(now);
        self.stats.fetches += 1;
        if self.next_reason == "unknown_kid" {
            self.stats.kid_fetches += 1;
            self.kid_wait = Some(now.saturating_add(i64::from(self.config.timeout_seconds)));
        }
        Some(Fetch {
            document,
            url: url.url,
            authority: url.authority,
            path: url.path,
            timeout_seconds: self.config.timeout_seconds,
            max_bytes: self.config.max_bytes,
            reason: self.next_reason,
        })
    }

    /// When [`KeySource::next_fetch`] has something to do next (a due fetch,
    /// or the timeout of the one in flight), in Unix seconds.
    pub fn wake_at(&self) -> i64 {
        match &self.in_flight {
            Some(f) => f
                .started
                .saturating_add(i64::from(self.config.timeout_seconds) + 1),
            None => self.next_at,
        }
    }

    /// The answer to the fetch in flight: its HTTP status, response headers
    /// (names case-insensitive; only `cache-control` and `location` are
    /// read) and body.
    pub fn fetched(
        &mut self,
        now: i64,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Event {
        if let Some(expired) = self.expire_in_flight(now) {
            return expired;
        }
        let Some(flight) = self.in_flight.take() else {
            return Event::Ignored;
        };
        self.kid_wait = None;
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let failure = if (300..400).contains(&status) {
            Some((
                FailureKind::Redirect,
                format!(
                    "status {status} to {:?} (redirects are not followed)",
                    crate::jws::printable(header("location").unwrap_or("?"))
                ),
            ))
        } else if status != 200 {
            Some((FailureKind::Status, format!("status {status}")))
        } else if body.len() > self.config.max_bytes as usize {
            Some((
                FailureKind::TooLarge,
                format!(
                    "the body is {} bytes; the limit is {}",
                    body.len(),
                    self.config.max_bytes
                ),
            ))
        } else {
            None
        };
        if let Some((kind, detail)) = failure {
            return self.fail(now, flight.document, kind, detail);
        }
        match flight.document {
            Document::Discovery => self.discovered(now, body),
            Document::Jwks => self.jwks_fetched(now, header("cache-control"), body),
        }
    }

    /// The fetch in flight failed without an HTTP answer (timeout, connection
    /// error), or the front end refused the answer itself (a redirect or an
    /// oversize body it did not read). `detail` is for the log.
    pub fn failed(&mut self, now: i64, kind: FailureKind, detail: &str) -> Event {
        if let Some(expired) = self.expire_in_flight(now) {
            return expired;
        }
        match self.in_flight.take() {
            Some(flight) => {
                self.kid_wait = None;
                self.fail(now, flight.document, kind, detail.to_string())
            }
            None => Event::Ignored,
        }
    }

    /// The fetch in flight will not be performed here: another instance
    /// holds the right to fetch (Envoy's workers share one fetch) until
    /// `until`. Not a failure; the next attempt is due at `until`, by when
    /// that instance's result should have been [adopted](KeySource::adopt).
    /// A kid-miss refetch's wait ([`KeySource::kid_refetch_until`]) goes on
    /// until that result is adopted (or its timeout).
    pub fn defer(&mut self, until: i64) {
        if let Some(flight) = self.in_flight.take() {
            self.stats.fetches = self.stats.fetches.saturating_sub(1);
            if self.next_reason == "unknown_kid" {
                self.stats.kid_fetches = self.stats.kid_fetches.saturating_sub(1);
            }
            self.next_at = until.max(flight.started.saturating_add(1));
        }
    }

    /// A token named `kid`, which no key has: returns `true` when this asks
    /// for an early fetch (then call [`KeySource::next_fetch`] now). At most
    /// once per `cooldown_seconds` after the previous fetch started; the kid is
    /// remembered for the cooldown and asks for nothing meanwhile.
    pub fn unknown_kid(&mut self, now: i64, kid: &str) -> bool {
        let asks = !self.remembers(now, kid)
            && self.cooled(now)
            && self.in_flight.is_none()
            && self.next_at > now;
        let cooldown = i64::from(self.config.cooldown_seconds);
        self.unknown
            .retain(|(_, seen)| now < seen.saturating_add(cooldown));
        if self.unknown.iter().any(|(k, _)| k == kid) {
            return false;
        }
        if self.unknown.len() >= MAX_REMEMBERED_KIDS {
            self.unknown.remove(0);
        }
        self.unknown.push((kid.to_string(), now));
        if !asks {
            return false;
        }
        self.next_at = now;
        self.next_reason = "unknown_kid";
        self.kid_wait = Some(now.saturating_add(i64::from(self.config.timeout_seconds)));
        true
    }

    /// Whether `kid` was seen unknown within the cooldown.
    fn remembers(&self, now: i64, kid: &str) -> bool {
        let cooldown = i64::from(self.config.cooldown_seconds);
        self.unknown
            .iter()
            .any(|(k, seen)| k == kid && now < seen.saturating_add(cooldown))
    }

    /// Whether the cooldown since the previous fetch started is over.
    fn cooled(&self, now: i64) -> bool {
        let cooldown = i64::from(self.config.cooldown_seconds);
        self.last_start
            .is_none_or(|last| now >= last.saturating_add(cooldown))
    }

    /// Whether a fetch that may bring `kid`, a kid no key has, is under way
    /// or starts at the next [`KeySource::next_fetch`] once
    /// [`KeySource::unknown_kid`] has seen it: the kid was not seen within
    /// the cooldown, and a fetch is in flight or due, or the cooldown allows
    /// an early one. (A kid seen within the cooldown has had its fetch.)
    pub fn kid_fetch_coming(&self, now: i64, kid: &str) -> bool {
        !self.remembers(now, kid)
            && (self.in_flight.is_some() || self.next_at <= now || self.cooled(now))
    }

    /// Until when (Unix seconds, inclusive) a request refused `unknown_kid`
    /// may wait for a fetch that may bring its kid: a JWKS fetch in flight
    /// (a kid-miss refetch or a refresh), or the kid-miss refetch
    /// [`KeySource::unknown_kid`] asked for, from the ask until its answer,
    /// its failure or keys adopted from the instance it was left to
    /// ([`KeySource::defer`]); at most `timeout_seconds` after the fetch
    /// started. `None`: no such fetch.
    pub fn kid_refetch_until(&self, now: i64) -> Option<i64> {
        let timeout = i64::from(self.config.timeout_seconds);
        let in_flight = self
            .in_flight
            .as_ref()
            .filter(|f| f.document == Document::Jwks)
            .map(|f| f.started.saturating_add(timeout));
        self.kid_wait.max(in_flight).filter(|until| now <= *until)
    }

    /// Whether the fetched keys can be used at `now`.
    pub fn readiness(&self, now: i64) -> Readiness {
        if self.valid_until().is_some_and(|until| now <= until) {
            return Readiness::Ready;
        }
        if !self.first_done {
            let until = match &self.in_flight {
                Some(f) => f.started,
                None => now.max(self.next_at),
            };
            // With discovery the first keys need two fetches.
            let fetches = if self.issuer.is_some() { 2 } else { 1 };
            return Readiness::Pending {
                until: until.saturating_add(fetches * i64::from(self.config.timeout_seconds)),
            };
        }
        Readiness::Unavailable {
            retry_at: self.wake_at(),
        }
    }

    /// The last good key set, if any (even a stale one: check
    /// [`KeySource::valid_until`]).
    pub fn key_set(&self) -> Option<&KeySet> {
        self.current.as_ref().map(|c| &c.set)
    }

    /// The last good JWK set's text, as fetched.
    pub fn jwks_text(&self) -> Option<&str> {
        self.current.as_ref().map(|c| c.text.as_str())
    }

    /// When the last good keys were fetched.
    pub fn fetched_at(&self) -> Option<i64> {
        self.current.as_ref().map(|c| c.fetched_at)
    }

    /// Until when the last good keys may be used: the last good fetch plus
    /// `max_stale_seconds`.
    pub fn valid_until(&self) -> Option<i64> {
        self.fetched_at()
            .map(|at| at.saturating_add(i64::from(self.config.max_stale_seconds)))
    }

    /// The `jwks_uri` in use (configured or discovered).
    pub fn jwks_uri(&self) -> Option<&str> {
        self.jwks_uri.as_ref().map(|u| u.url.as_str())
    }

    /// Counters, for metrics.
    pub fn stats(&self) -> &KeyStats {
        &self.stats
    }

    /// The last good fetch, for other instances to [`adopt`](KeySource::adopt).
    pub fn snapshot(&self) -> Option<Snapshot> {
        self.current.as_ref().map(|c| Snapshot {
            fetched_at: c.fetched_at,
            next_at: self.next_at,
            jwks: c.text.clone(),
            jwks_uri: self.jwks_uri().map(str::to_string),
        })
    }

    /// Takes another instance's fetch as this one's: the keys (if newer than
    /// ours) and the schedule, so this instance does not fetch until the
    /// snapshot's next refresh. An unusable snapshot is ignored
    /// ([`Event::Ignored`]); a fetch in flight here is left to finish.
    pub fn adopt(&mut self, now: i64, snapshot: &Snapshot) -> Event {
        let older = self.current.as_ref().is_some_and(|c| {
            c.fetched_at > snapshot.fetched_at
                || (c.fetched_at == snapshot.fetched_at && c.text == snapshot.jwks)
        });
        if older || snapshot.fetched_at > now {
            return Event::Ignored;
        }
        let Ok(set) = KeySet::from_json(&snapshot.jwks, &self.options) else {
            return Event::Ignored;
        };
        // Newer keys than those the kid missed in: nothing more to wait for.
        self.kid_wait = None;
        if let Some(uri) = &snapshot.jwks_uri {
            match Url::parse(uri, self.config.allow_http) {
                Ok(url) if self.issuer.is_some() => self.jwks_uri = Some(url),
                _ => {}
            }
        }
        if self.in_flight.is_none() {
            self.next_at = snapshot.next_at;
            self.next_reason = "refresh";
            self.discovery_due = self.issuer.is_some();
        }
        self.failures = 0;
        self.first_done = true;
        // Someone fetched then: the cooldown counts from it.
        self.last_start = Some(
            self.last_start
                .map_or(snapshot.fetched_at, |s| s.max(snapshot.fetched_at)),
        );
        self.install(snapshot.fetched_at, snapshot.jwks.clone(), set)
    }

    /// Ends a fetch in flight whose timeout passed without an answer (a
    /// whole second later, since times are whole seconds), returning that
    /// failure.
    fn expire_in_flight(&mut self, now: i64) -> Option<Event> {
        let flight = self.in_flight.as_ref()?;
        let timeout = i64::from(self.config.timeout_seconds);
        if now <= flight.started.saturating_add(timeout) {
            return None;
        }
        let document = flight.document;
        self.in_flight = None;
        self.kid_wait = None;
        Some(self.fail(
            now,
            document,
            FailureKind::Timeout,
            format!("no answer within {timeout} s"),
        ))
    }

    fn fail(&mut self, now: i64, document: Document, kind: FailureKind, detail: String) -> Event {
        self.stats.failures[kind.index()] += 1;
        if document == Document::Discovery && self.jwks_uri.is_some() {
            // Keep going with the jwks_uri we know; the discovery document is
            // retried at the next scheduled refresh.
            self.discovery_due = false;
            self.next_at = now;
            self.next_reason = "refresh";
        } else {
            self.failures = self.failures.saturating_add(1);
            self.first_done = true;
            let exponent = self.failures.saturating_sub(1).min(20);
            let delay = u64::from(self.config.retry_seconds)
                .saturating_mul(1 << exponent)
                .min(u64::from(self.config.max_retry_seconds));
            self.next_at = now.saturating_add(self.jittered(delay));
            self.next_reason = "retry";
            self.discovery_due = self.issuer.is_some() && self.jwks_uri.is_none();
        }
        Event::Failed(Failure {
            kind,
            document,
            detail,
            retry_at: self.next_at,
        })
    }

    fn discovered(&mut self, now: i64, body: &[u8]) -> Event {
        let issuer = self.issuer.clone().unwrap_or_default();
        let result = parse_discovery(body, &issuer, self.config.allow_http);
        match result {
            Ok(url) => {
                self.stats.successes += 1;
                let uri = url.url.clone();
                self.jwks_uri = Some(url);
                self.discovery_due = false;
                self.next_at = now;
                Event::Discovered { jwks_uri: uri }
            }
            Err(detail) => self.fail(
                now,
                Document::Discovery,
                FailureKind::InvalidDiscovery,
                detail,
            ),
        }
    }

    fn jwks_fetched(&mut self, now: i64, cache_control: Option<&str>, body: &[u8]) -> Event {
        let parsed = core::str::from_utf8(body)
            .map_err(|_| String::from("the body is not UTF-8"))
            .and_then(|text| {
                KeySet::from_json(text, &self.options)
                    .map(|set| (text, set))
                    .map_err(|e| e.to_string())
            });
        let (text, set) = match parsed {
            Ok(ok) => ok,
            Err(detail) => return self.fail(now, Document::Jwks, FailureKind::InvalidJwks, detail),
        };
        self.stats.successes += 1;
        self.failures = 0;
        self.first_done = true;
        let interval = match cache_control.and_then(max_age) {
            Some(age) => age.clamp(
                u64::from(self.config.min_refresh_seconds),
                u64::from(self.config.max_refresh_seconds),
            ),
            None => u64::from(self.config.refresh_seconds),
        };
        self.next_at = now.saturating_add(self.jittered(interval));
        self.next_reason = "refresh";
        self.discovery_due = self.issuer.is_some();
        self.install(now, text.to_string(), set)
    }

    /// Makes `set` the current key set, fetched at `fetched_at`.
    fn install(&mut self, fetched_at: i64, text: String, set: KeySet) -> Event {
        let kids = kids_of(&set);
        let event = match &self.current {
            Some(old) if old.text == text => Event::KeysUnchanged,
            old => {
                let old_kids = old.as_ref().map(|c| c.kids.as_slice()).unwrap_or_default();
                let added = kids
                    .iter()
                    .filter(|k| !old_kids.contains(k))
                    .cloned()
                    .collect();
                let removed = old_kids
                    .iter()
                    .filter(|k| !kids.contains(k))
                    .cloned()
                    .collect();
                self.stats.changes += 1;
                Event::KeysChanged(KeyChange {
                    added,
                    removed,
                    keys: set.keys().len(),
                })
            }
        };
        self.current = Some(Current {
            text,
            set,
            kids,
            fetched_at,
        });
        event
    }

    /// `delay` seconds shortened by up to `jitter_percent` percent, drawn from
    /// the seed and the number of earlier draws (SplitMix64).
    fn jittered(&mut self, delay: u64) -> i64 {
        self.draws += 1;
        let mut z = self
            .seed
            .wrapping_add(self.draws.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let span = delay.saturating_mul(u64::from(self.config.jitter_percent)) / 100;
        let cut = if span == 0 { 0 } else { z % (span + 1) };
        i64::try_from(delay - cut).unwrap_or(i64::MAX).max(1)
    }
}

/// `<issuer>/.well-known/openid-configuration`, a terminating `/` of the
/// issuer removed first (OpenID Connect Discovery 1.0 §4.1).
pub fn discovery_url(issuer: &str) -> String {
    format!(
        "{}{DISCOVERY_PATH}",
        issuer.strip_suffix('/').unwrap_or(issuer)
    )
}

/// The checked `jwks_uri` of a discovery document for `issuer`.
fn parse_discovery(body: &[u8], issuer: &str, allow_http: bool) -> Result<Url, String> {
    let value = parse_strict(body, DISCOVERY_DEPTH, "discovery document")
        .map_err(|e| e.message().to_string())?;
    let Value::Object(doc) = value else {
        return Err(format!(
            "the discovery document is {}, not a JSON object",
            type_name(&value)
        ));
    };
    match doc.get("issuer") {
        Some(Value::String(found)) if found == issuer => {}
        Some(Value::String(found)) => {
            return Err(format!(
                "the discovery document is for issuer {:?}, not {:?} (they must be equal exactly)",
                crate::jws::printable(found),
                issuer
            ))
        }
        _ => {
            return Err(String::from(
                "the discovery document has no \"issuer\" string",
            ))
        }
    }
    match doc.get("jwks_uri") {
        Some(Value::String(uri)) => {
            Url::parse(uri, allow_http).map_err(|e| format!("jwks_uri: {e}"))
        }
        _ => Err(String::from(
            "the discovery document has no \"jwks_uri\" string",
        )),
    }
}

/// The `max-age` of a `Cache-Control` value, in seconds; `no-cache` and
/// `no-store` count as 0. `None` when it says neither.
pub fn max_age(cache_control: &str) -> Option<u64> {
    let mut age = None;
    for directive in cache_control.split(',') {
        let directive = directive.trim();
        let name = directive.split('=').next().unwrap_or_default().trim();
        if name.eq_ignore_ascii_case("no-cache") || name.eq_ignore_ascii_case("no-store") {
            return Some(0);
        }
        if name.eq_ignore_ascii_case("max-age") {
            let value = directive[name.len()..]
                .trim_start()
                .strip_prefix('=')?
                .trim();
            let value = value.trim_matches('"');
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            // RFC 9111 §1.2.2: a delta too large for us is "infinity".
            age = Some(value.parse::<u64>().unwrap_or(u64::MAX));
        }
    }
    age
}

/// The set's kids (`-` for a key without one), sorted, each once. (Inserted
/// one by one: a `sort` would link a sort routine for this one type.)
fn kids_of(set: &KeySet) -> Vec<String> {
    let mut kids = BTreeSet::new();
    for key in set.keys() {
        kids.insert(key.kid().unwrap_or("-"));
    }
    kids.into_iter().map(String::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    const ED_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    fn jwks(kids: &[&str]) -> String {
        let keys: Vec<String> = kids
            .iter()
            .map(|k| format!(r#"{{"kty":"OKP","crv":"Ed25519","kid":"{k}","x":"{ED_X}"}}"#))
            .collect();
        format!(r#"{{"keys":[{}]}}"#, keys.join(","))
    }

    fn no_jitter(uri: &str) -> RemoteJwks {
        RemoteJwks {
            jitter_percent: 0,
            ..RemoteJwks::with_uri(uri)
        }
    }

    fn source(config: &RemoteJwks) -> KeySource {
        KeySource::new(config, None, KeySetOptions::default(), 1).unwrap()
    }

    fn ok(source: &mut KeySource, now: i64, kids: &[&str]) -> Event {
        assert!(source.next_fetch(now).is_some(), "a fetch is due at {now}");
        source.fetched(now, 200, &[], jwks(kids).as_bytes())
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = RemoteJwks::default();
        assert_eq!(
            (
                c.refresh_seconds,
                c.min_refresh_seconds,
                c.max_refresh_seconds,
                c.jitter_percent
            ),
            (600, 60, 3600, 10)
        );
        assert_eq!(
            (
                c.cooldown_seconds,
                c.timeout_seconds,
                c.retry_seconds,
                c.max_retry_seconds
            ),
            (30, 5, 5, 60)
        );
        assert_eq!(
            (c.max_stale_seconds, c.max_bytes, c.allow_http),
            (86400, 65536, false)
        );
    }

    #[test]
    fn refresh_schedule_without_jitter() {
        let mut s = source(&no_jitter("https://idp/jwks"));
        assert_eq!(s.readiness(100), Readiness::Pending { until: 105 });
        let f = s.next_fetch(100).unwrap();
        assert_eq!(
            (f.document, f.reason, f.timeout_seconds, f.max_bytes),
            (Document::Jwks, "first", 5, 65536)
        );
        assert_eq!((f.authority.as_str(), f.path.as_str()), ("idp", "/jwks"));
        assert_eq!(s.wake_at(), 106);
        assert!(matches!(
            s.fetched(101, 200, &[], jwks(&["a"]).as_bytes()),
            Event::KeysChanged(_)
        ));
        assert_eq!(s.readiness(101), Readiness::Ready);
        assert_eq!(s.wake_at(), 701);
        assert!(s.next_fetch(700).is_none());
        let f = s.next_fetch(701).unwrap();
        assert_eq!(f.reason, "refresh");
        assert!(matches!(
            s.fetched(702, 200, &[], jwks(&["a"]).as_bytes()),
            Event::KeysUnchanged
        ));
        assert_eq!(s.fetched_at(), Some(702));
        assert_eq!(s.stats().fetches, 2);
        assert_eq!(s.stats().changes, 1);
    }

    #[test]
    fn max_age_is_clamped() {
        let cc = |v: &str| vec![(String::from("Cache-Control"), String::from(v))];
        for (value, interval) in [
            ("max-age=300", 300),
            ("public, max-age=5", 60),
            ("max-age=999999", 3600),
            ("no-store", 60),
            ("private", 600),
            ("max-age=abc", 600),
        ] {
            let mut s = source(&no_jitter("https://idp/jwks"));
            s.next_fetch(0).unwrap();
            s.fetched(0, 200, &cc(value), jwks(&["a"]).as_bytes());
            assert_eq!(s.wake_at(), interval, "{value}");
        }
        assert_eq!(max_age("max-age=\"7\""), Some(7));
        assert_eq!(max_age("MAX-AGE = 7"), Some(7));
        assert_eq!(max_age("max-age=99999999999999999999999"), Some(u64::MAX));
        assert_eq!(max_age("s-maxage=7"), None);
    }

    #[test]
    fn jitter_shortens_by_at_most_the_percentage_and_depends_on_the_seed() {
        let config = RemoteJwks::with_uri("https://idp/jwks");
        let mut seen = Vec::new();
        for seed in 0..50 {
            let mut s = KeySource::new(&config, None, KeySetOptions::default(), seed).unwrap();
            s.next_fetch(0).unwrap();
            s.fetched(0, 200, &[], jwks(&["a"]).as_bytes());
            assert!((540..=600).contains(&s.wake_at()), "{}", s.wake_at());
            seen.push(s.wake_at());
        }
        seen.sort();
        seen.dedup();
        assert!(seen.len() > 10, "the seed spreads the refreshes: {seen:?}");
    }

    #[test]
    fn failures_keep_the_keys_and_back_off() {
        let mut s = source(&no_jitter("https://idp/jwks"));
        ok(&mut s, 0, &["a"]);
        let mut at = 600;
        let mut expected_delays = vec![5, 10, 20, 40, 60, 60].into_iter();
        for (status, body, kind) in [
            (500, &b""[..], FailureKind::Status),
            (302, b"", FailureKind::Redirect),
            (200, b"garbage", FailureKind::InvalidJwks),
            (200, b"{\"keys\":[]}", FailureKind::InvalidJwks),
            (200, &[b' '; 65537][..], FailureKind::TooLarge),
        ] {
            s.next_fetch(at).unwrap();
            let Event::Failed(f) = s.fetched(at, status, &[], body) else {
                panic!()
            };
            assert_eq!(f.kind, kind);
            let delay = expected_delays.next().unwrap();
            assert_eq!(f.retry_at, at + delay, "{kind}");
            assert_eq!(
                s.jwks_text(),
                Some(jwks(&["a"]).as_str()),
                "the last good keys stay"
            );
            at += delay;
        }
        s.next_fetch(at).unwrap();
        // No answer: the timeout passes.
        assert!(
            s.next_fetch(at + 5).is_none(),
            "in flight until the timeout (5 s) has passed"
        );
        assert_eq!(s.wake_at(), at + 6);
        assert!(
            s.next_fetch(at + 6).is_none(),
            "timed out, and the retry waits"
        );
        assert_eq!(
            s.stats()
                .failures_by_kind()
                .find(|(k, _)| *k == FailureKind::Timeout)
                .unwrap()
                .1,
            1
        );
        assert!(
            matches!(
                s.fetched(at + 7, 200, &[], jwks(&["b"]).as_bytes()),
                Event::Ignored
            ),
            "a late answer is ignored"
        );
        let retry = at + 6 + 60;
        assert!(matches!(ok(&mut s, retry, &["b"]), Event::KeysChanged(_)));
        assert_eq!(s.wake_at(), retry + 600, "a success resets the backoff");
    }

    #[test]
    fn stale_keys_expire_after_max_stale() {
        let mut s = source(&RemoteJwks {
            max_stale_seconds: 1000,
            ..no_jitter("https://idp/jwks")
        });
        ok(&mut s, 0, &["a"]);
        assert_eq!(s.valid_until(), Some(1000));
        assert_eq!(s.readiness(1000), Readiness::Ready);
        assert!(matches!(s.readiness(1001), Readiness::Unavailable { .. }));
    }

    #[test]
    fn the_first_fetch_failing_makes_the_provider_unavailable() {
        let mut s = source(&no_jitter("https://idp/jwks"));
        s.next_fetch(10).unwrap();
        assert_eq!(s.readiness(12), Readiness::Pending { until: 15 });
        let Event::Failed(f) = s.failed(12, FailureKind::Network, "connection refused") else {
            panic!()
        };
        assert_eq!(f.to_string(), "JWKS fetch failed (network): connection refused; last good keys kept, next attempt at 17");
        assert_eq!(s.readiness(12), Readiness::Unavailable { retry_at: 17 });
    }

    #[test]
    fn unknown_kids_ask_for_one_fetch_per_cooldown() {
        let mut s = source(&no_jitter("https://idp/jwks"));
        ok(&mut s, 0, &["a"]);
        assert!(
            !s.unknown_kid(10, "b"),
            "within the cooldown of the last fetch"
        );
        assert!(
            !s.unknown_kid(31, "b"),
            "b is remembered for the cooldown (seen at 10)"
        );
        assert!(s.unknown_kid(31, "c"));
        assert!(!s.unknown_kid(31, "d"), "already due");
        let f = s.next_fetch(31).unwrap();
        assert_eq!(f.reason, "unknown_kid");
        assert!(!s.unknown_kid(32, "e"), "in flight");
        let Event::KeysChanged(change) = s.fetched(32, 200, &[], jwks(&["a", "c"]).as_bytes())
        else {
            panic!()
        };
        assert_eq!(
            (change.added, change.removed),
            (vec![String::from("c")], vec![])
        );
        assert!(
            !s.unknown_kid(60, "f"),
            "within the cooldown of the fetch at 31"
        );
        assert!(!s.unknown_kid(61, "f"), "f is remembered since 60");
        assert!(s.unknown_kid(61, "g"));
        assert_eq!(s.stats().kid_fetches, 1);
    }

    #[test]
    fn discovery_finds_the_jwks_uri() {
        let config = RemoteJwks {
            jitter_percent: 0,
            ..RemoteJwks::default()
        };
        let mut s = KeySource::new(
            &config,
            Some("https://idp.example.com/"),
            KeySetOptions::default(),
            1,
        )
        .unwrap();
        let f = s.next_fetch(0).unwrap();
        assert_eq!(
            (f.document, f.url.as_str()),
            (
                Document::Discovery,
                "https://idp.example.com/.well-known/openid-configuration"
            )
        );
        assert_eq!(s.readiness(0), Readiness::Pending { until: 10 });
        let doc =
            br#"{"issuer":"https://idp.example.com/","jwks_uri":"https://keys.example.com/jwks"}"#;
        assert!(
            matches!(s.fetched(1, 200, &[], doc), Event::Discovered { jwks_uri: u } if u == "https://keys.example.com/jwks")
        );
        let f = s.next_fetch(1).unwrap();
        assert_eq!(
            (f.document, f.authority.as_str()),
            (Document::Jwks, "keys.example.com")
        );
        s.fetched(1, 200, &[], jwks(&["a"]).as_bytes());
        // The next refresh fetches the discovery document again, then the JWKS.
        assert_eq!(s.next_fetch(601).unwrap().document, Document::Discovery);
        // A failing discovery document with a known jwks_uri: the JWKS is still fetched.
        assert!(matches!(s.fetched(601, 500, &[], b""), Event::Failed(_)));
        assert_eq!(s.next_fetch(601).unwrap().document, Document::Jwks);
        // A kid-triggered fetch goes straight to the JWKS.
        s.fetched(601, 200, &[], jwks(&["a"]).as_bytes());
        assert!(s.unknown_kid(640, "z"));
        assert_eq!(s.next_fetch(640).unwrap().document, Document::Jwks);
    }

    #[test]
    fn discovery_documents_are_checked() {
        let issuer = "https://idp.example.com";
        for (doc, why) in [
            (&br#"{"issuer":"https://idp.example.com/","jwks_uri":"https://k/j"}"#[..], "not \"https://idp.example.com\""),
            (br#"{"issuer":"https://evil.example.com","jwks_uri":"https://k/j"}"#, "evil"),
            (br#"{"jwks_uri":"https://k/j"}"#, "no \"issuer\""),
            (br#"{"issuer":"https://idp.example.com"}"#, "no \"jwks_uri\""),
            (br#"{"issuer":"https://idp.example.com","jwks_uri":"http://k/j"}"#, "must use https"),
            (br#"{"issuer":"https://idp.example.com","issuer":"https://idp.example.com","jwks_uri":"https://k/j"}"#, "duplicate"),
            (b"[]", "not a JSON object"),
        ] {
            let e = parse_discovery(doc, issuer, false).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
    }

    #[test]
    fn snapshots_are_adopted_once_and_carry_the_schedule() {
        let mut leader = source(&no_jitter("https://idp/jwks"));
        ok(&mut leader, 0, &["a"]);
        let snap = leader.snapshot().unwrap();
        assert_eq!((snap.fetched_at, snap.next_at), (0, 600));
        let mut follower = source(&no_jitter("https://idp/jwks"));
        assert!(matches!(follower.adopt(1, &snap), Event::KeysChanged(_)));
        assert!(matches!(follower.adopt(2, &snap), Event::Ignored));
        assert!(
            follower.next_fetch(599).is_none(),
            "no own fetch before the snapshot's refresh"
        );
        assert_eq!(follower.readiness(2), Readiness::Ready);
        let bad = Snapshot {
            fetched_at: 5,
            jwks: String::from("x"),
            ..snap.clone()
        };
        assert!(matches!(follower.adopt(6, &bad), Event::Ignored));
    }

    #[test]
    fn a_deferred_fetch_is_not_a_failure_and_an_adopted_one_starts_the_cooldown() {
        let mut s = source(&no_jitter("https://idp/jwks"));
        s.next_fetch(0).unwrap();
        s.defer(5);
        assert_eq!(
            (
                s.stats().fetches,
                s.stats().failures_by_kind().map(|(_, n)| n).sum::<u64>()
            ),
            (0, 0)
        );
        assert!(s.next_fetch(4).is_none());
        let mut leader = source(&no_jitter("https://idp/jwks"));
        ok(&mut leader, 3, &["a"]);
        s.adopt(4, &leader.snapshot().unwrap());
        assert!(
            s.next_fetch(5).is_none(),
            "the snapshot's schedule replaces the deferral"
        );
        assert!(
            !s.unknown_kid(20, "b"),
            "the adopted fetch at 3 started the cooldown"
        );
        assert!(s.unknown_kid(33, "c"));
    }

    #[test]
    fn events_serialize_in_the_documented_shape() {
        let mut s = source(&no_jitter("https://idp/jwks"));
        let changed = ok(&mut s, 0, &["a"]);
        assert_eq!(
            serde_json::to_value(&changed).unwrap(),
            serde_json::json!({"event": "keys_changed", "added": ["a"], "removed": [], "keys": 1})
        );
        s.next_fetch(600).unwrap();
        let failed = s.fetched(600, 500, &[], b"");
        assert_eq!(
            serde_json::to_value(&failed).unwrap(),
            serde_json::json!({"event": "failed", "kind": "status", "document": "jwks", "detail": "status 500", "retry_at": 605})
        );
        assert_eq!(
            serde_json::to_value(Event::Ignored).unwrap(),
            serde_json::json!({"event": "ignored"})
        );
    }

    #[test]
    fn remote_sets_never_supply_hmac_secrets() {
        let opts = KeySetOptions {
            allow_symmetric: true,
            ..KeySetOptions::default()
        };
        let mut s = KeySource::new(&no_jitter("https://idp/jwks"), None, opts, 1).unwrap();
        s.next_fetch(0).unwrap();
        let body = br#"{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}]}"#;
        let Event::Failed(f) = s.fetched(0, 200, &[], body) else {
            panic!()
        };
        assert!(f.detail.contains("allow_hmac"), "{}", f.detail);
    }

    #[test]
    fn config_checks_name_the_field() {
        let check = |c: RemoteJwks, discovery| {
            c.check("providers.idp.remote_jwks", discovery)
                .unwrap_err()
                .to_string()
        };
        assert!(
            check(RemoteJwks::default(), false).contains("providers.idp.remote_jwks.uri: required")
        );
        assert!(check(RemoteJwks::with_uri("https://x/"), true).contains("not both"));
        assert!(
            check(RemoteJwks::with_uri("http://idp.example.com/"), false)
                .contains("must use https")
        );
        assert!(check(
            RemoteJwks {
                allow_http: true,
                ..RemoteJwks::with_uri("http://10.0.0.1/")
            },
            false
        )
        .contains("loopback"));
        assert!(check(
            RemoteJwks {
                cooldown_seconds: 0,
                ..RemoteJwks::with_uri("https://x/")
            },
            false
        )
        .contains("remote_jwks.cooldown_seconds: must be greater than 0"));
        assert!(check(
            RemoteJwks {
                min_refresh_seconds: 7200,
                ..RemoteJwks::with_uri("https://x/")
            },
            false
        )
        .contains("remote_jwks.min_refresh_seconds"));
        assert!(check(
            RemoteJwks {
                jitter_percent: 51,
                ..RemoteJwks::with_uri("https://x/")
            },
            false
        )
        .contains("jitter_percent"));
        assert!(check(
            RemoteJwks {
                cluster: Some(String::new()),
                ..RemoteJwks::with_uri("https://x/")
            },
            false
        )
        .contains("cluster"));
        for good in [
            "http://127.0.0.1:1/j",
            "http://localhost/j",
            "http://[::1]:80/j",
        ] {
            assert!(
                RemoteJwks {
                    allow_http: true,
                    ..RemoteJwks::with_uri(good)
                }
                .check("x", false)
                .is_ok(),
                "{good}"
            );
        }
        for bad in [
            "https://",
            "https://a:99999/",
            "https://a b/",
            "https://a/#f",
            "ftp://a/",
            "https://é/",
            "https://a:/",
        ] {
            assert!(Url::parse(bad, true).is_err(), "{bad}");
        }
        assert_eq!(
            Url::parse("https://A.example?x=1", false).unwrap().path,
            "/?x=1"
        );
        assert_eq!(
            Url::parse("https://A.example?x=1", false)
                .unwrap()
                .authority,
            "a.example"
        );
    }
}
