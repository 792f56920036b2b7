//! One auth sub-request: where the original method and target come from
//! ([`Mode`]), the core's decision, and the answer the proxy acts on.
//!
//! ## The trust contract
//! The service trusts exactly one source for the original request, fixed
//! per process by `--mode`, so a client can never choose which header wins:
//!
//! | mode | method | target | set by |
//! |---|---|---|---|
//! | `nginx` | `X-Original-Method` | `X-Original-URI` | `proxy_set_header` in the auth location (replaces the client's) |
//! | `traefik` | `X-Forwarded-Method` | `X-Forwarded-Uri` | Traefik ForwardAuth (`trustForwardHeader: false` replaces the client's) |
//! | `envoy` | the request's own | the request's own | Envoy `ext_authz` (HTTP service) sends the original `:path` |
//!
//! A sub-request without its mode's headers, or with one of them repeated,
//! is a misconfigured proxy: it gets 500 (fail closed), never a verdict.
//! Every other header is the original request's, as the proxy forwards it.
//!
//! ## The canonical target
//! The core chooses the rule on the canonical target ([`crate::path`]) and
//! says to forward that one ([`crate::http::Allow::set_path`]). A sub-request
//! service cannot change what the proxy forwards, so with
//! [`Canonical::Refuse`] (the default) a target that is not already what the
//! core would forward is refused with 400 `invalid_path`: the upstream only
//! ever receives targets the rule was chosen on. With
//! [`Canonical::Forward`], the proxy is configured to forward the target in
//! the `x-jwtgate-target` response header instead (nginx:
//! `auth_request_set` + `proxy_pass http://upstream$jwtgate_target`), and
//! non-canonical targets get the filter's verdicts.
//!
//! ## What a 200 carries
//! `x-jwtgate-target` (the target to forward), and headers for the
//! forwarded request:
//! - `envoy` mode: the headers the core sets (claim headers, the payload
//!   header, a `cookie` without the token), for `allowed_upstream_headers`,
//!   and `x-envoy-auth-headers-to-remove` listing the ones to remove, which
//!   Envoy applies.
//! - `nginx` and `traefik` modes: these proxies can only copy response
//!   headers onto the forwarded request, replacing the client's (and, with
//!   `proxy_set_header` from an empty variable or `authResponseHeaders`,
//!   removing it when absent). So the answer carries the value the forwarded
//!   request must have for every header jwtgate manages: each header the
//!   core sets or removes, plus `authorization` and `cookie`; set headers
//!   have their new value, removed ones are absent, the others keep the
//!   request's own value. The proxy must copy each of them (deploy/ lists
//!   them for its example policy); a header it does not copy goes upstream
//!   as the client sent it.
//!
//! ## What a denial carries
//! The core's status, `WWW-Authenticate` and JSON body. nginx passes 401 and
//! 403 with `WWW-Authenticate` but answers anything else with 500 and never
//! the body, so the answer also carries `x-jwtgate-status` and
//! `x-jwtgate-body` for nginx's `error_page` to rebuild the core's answer.

extern crate std;

use alloc::borrow::Cow;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::time::Duration;

use log::{debug, warn};

use super::state::{now, Shared};
use crate::error::{Error, ErrorCode};
use crate::http::{Decision, Request};
use crate::{VerifiedCache, Verifier};

/// Where the original method and target come from (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// nginx `auth_request`: `X-Original-Method` and `X-Original-URI`.
    Nginx,
    /// Traefik ForwardAuth: `X-Forwarded-Method` and `X-Forwarded-Uri`.
    Traefik,
    /// Envoy `ext_authz` HTTP service: the sub-request's own method and path.
    Envoy,
}

impl Mode {
    /// Parses `nginx`, `traefik` or `envoy`.
    pub fn from_name(name: &str) -> Option<Mode> {
        match name {
            "nginx" => Some(Mode::Nginx),
            "traefik" => Some(Mode::Traefik),
            "envoy" => Some(Mode::Envoy),
            _ => None,
        }
    }

    /// The headers holding the original method and target, if any.
    pub fn headers(self) -> Option<(&'static str, &'static str)> {
        match self {
            Mode::Nginx => Some(("x-original-method", "x-original-uri")),
            Mode::Traefik => Some(("x-forwarded-method", "x-forwarded-uri")),
            Mode::Envoy => None,
        }
    }
}

/// What to do with targets that are not canonical (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Canonical {
    /// Refuse them with 400 `invalid_path` (the proxy forwards targets as they arrived).
    Refuse,
    /// Answer with `x-jwtgate-target`; the proxy forwards that target.
    Forward,
}

/// The answer to a sub-request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// Response headers (lower-case names).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

/// The header naming the target to forward on a 200.
pub const TARGET_HEADER: &str = "x-jwtgate-target";

/// Answers one sub-request: `method`, `target` and `headers` as it arrived
/// at the service.
///
/// A request denied with `jwks_unavailable` while a provider's first key
/// fetch is pending waits for that fetch's result (at most until its
/// timeout) and is decided again; after that the core's 503 stands. A
/// request denied with `unknown_kid` asks the fetcher for a kid-miss
/// refetch (at most one per cooldown for the process) and, while one is
/// asked for or in flight, waits for its result (at most its timeout) and
/// is decided again; after that the core's 401 stands.
pub async fn answer(
    shared: &Shared,
    mode: Mode,
    canonical: Canonical,
    method: &str,
    target: &str,
    headers: &[(String, String)],
) -> Answer {
    let (method, target) = match original(mode, method, target, headers) {
        Ok(original) => original,
        Err(message) => {
            shared.metrics.bad_subrequest();
            warn!("jwtgate: refused a sub-request (500): {message}");
            return json_answer(500, "invalid_config", &message);
        }
    };
    let request = Request {
        method: &method,
        path: &target,
        headers,
        case_insensitive: false,
    };
    // Subscribed before deciding, so that no result is missed in between.
    let mut results = shared.key_results();
    let decided = decide(shared, canonical, &request);
    let decided = wait_for_keys(
        shared,
        canonical,
        &request,
        ErrorCode::JwksUnavailable,
        Shared::first_fetch_until,
        &mut results,
        decided,
    )
    .await;
    let decided = if denied_with(&decided, ErrorCode::UnknownKid) {
        shared.unknown_kid_seen();
        wait_for_keys(
            shared,
            canonical,
            &request,
            ErrorCode::UnknownKid,
            Shared::kid_refetch_until,
            &mut results,
            decided,
        )
        .await
    } else {
        decided
    };
    respond(shared, mode, &method, &target, &request, decided)
}

/// While `decided` refuses `request` with `code` and `pending` (the
/// fetcher's state: the latest Unix second of a fetch that may answer it,
/// or `None`) says keys are coming, waits for the next fetch result and
/// decides the request again; no longer than the bound `pending` gave first
/// (plus a second: the core's times are whole seconds).
async fn wait_for_keys(
    shared: &Shared,
    canonical: Canonical,
    request: &Request<'_>,
    code: ErrorCode,
    pending: fn(&Shared, i64) -> Option<i64>,
    results: &mut tokio::sync::watch::Receiver<u64>,
    mut decided: Result<Decision, Error>,
) -> Result<Decision, Error> {
    if !denied_with(&decided, code) {
        return decided;
    }
    let Some(at) = pending(shared, now()) else {
        return decided;
    };
    let left = u64::try_from(at.saturating_sub(now())).unwrap_or(0) + 1;
    let until = tokio::time::Instant::now() + Duration::from_secs(left);
    while denied_with(&decided, code) {
        let landed = tokio::time::timeout_at(until, results.changed()).await;
        decided = decide(shared, canonical, request);
        if !matches!(landed, Ok(Ok(()))) || pending(shared, now()).is_none() {
            break;
        }
    }
    decided
}

fn denied_with(decided: &Result<Decision, Error>, code: ErrorCode) -> bool {
    matches!(decided, Ok(Decision::Deny(d)) if d.error.code() == code)
}

/// The core's decision on this thread's verifier (and cache).
fn decide(shared: &Shared, canonical: Canonical, request: &Request<'_>) -> Result<Decision, Error> {
    shared.with_verifier(|verifier, mut cache| {
        let before = cache.as_ref().map(|c| (c.hits(), c.misses()));
        let decision = decide_with(verifier, cache.as_deref_mut(), canonical, request, now());
        if let (Some(c), Some((hits, misses))) = (cache.as_ref(), before) {
            shared.metrics.cache(
                c.hits().saturating_sub(hits),
                c.misses().saturating_sub(misses),
            );
        }
        decision
    })
}

/// The core's decision on `request` (the original method and target) at
/// `now`, with [`Canonical::Refuse`] turning an allow that would forward
/// another target into 400 `invalid_path`.
pub fn decide_with(
    verifier: &Verifier,
    cache: Option<&mut VerifiedCache>,
    canonical: Canonical,
    request: &Request<'_>,
    now: i64,
) -> Decision {
    match verifier.authorize(request, now, cache) {
        Decision::Allow(allow) if allow.set_path.is_some() && canonical == Canonical::Refuse => {
            let e = Error::new(
                ErrorCode::InvalidPath,
                std::format!(
                    "the request target is not in canonical form (it would be forwarded as \"{}\"), and this proxy forwards targets unchanged",
                    crate::jws::printable(allow.set_path.as_deref().unwrap_or_default())
                ),
            );
            verifier.deny(e)
        }
        decision => decision,
    }
}

/// The answer the proxy acts on, for a decision; counts it.
fn respond(
    shared: &Shared,
    mode: Mode,
    method: &str,
    target: &str,
    request: &Request<'_>,
    decided: Result<Decision, Error>,
) -> Answer {
    // For logs: the query may carry a token (from_params).
    let route = target.split('?').next().unwrap_or_default();
    match &decided {
        Ok(Decision::Allow(allow)) => {
            shared.metrics.allowed();
            debug!(
                "jwtgate: allow {method} {route}: {} (provider {})",
                allow.reason,
                allow.verified.as_ref().map_or("-", |v| v.provider.as_str())
            );
        }
        Ok(Decision::Deny(denial)) => {
            shared.metrics.denied(denial.error.code());
            debug!(
                "jwtgate: deny {method} {route} with {}: {}",
                denial.status, denial.error
            );
        }
        Err(_) => {}
    }
    answer_for(decided, mode, target, request.headers)
}

/// The answer to a sub-request whose original target is `target` and
/// headers `request_headers`, for the core's decision (see the module docs
/// for what a 200 and a denial carry in each mode).
pub fn answer_for(
    decided: Result<Decision, Error>,
    mode: Mode,
    target: &str,
    request_headers: &[(String, String)],
) -> Answer {
    match decided {
        Err(e) => json_answer(500, e.code().as_str(), e.message()),
        Ok(Decision::Allow(allow)) => {
            let forward = allow.set_path.clone().unwrap_or_else(|| target.to_string());
            let mut headers = if mode == Mode::Envoy {
                let mut headers = allow.set_headers.clone();
                let remove: Vec<&str> = allow
                    .remove_headers
                    .iter()
                    .filter(|r| !headers.iter().any(|(s, _)| s.eq_ignore_ascii_case(r)))
                    .map(String::as_str)
                    .collect();
                if !remove.is_empty() {
                    headers.push(("x-envoy-auth-headers-to-remove".into(), remove.join(",")));
                }
                headers
            } else {
                forwarded_values(&allow, request_headers)
            };
            headers.push((TARGET_HEADER.into(), forward));
            Answer {
                status: 200,
                headers,
                body: String::new(),
            }
        }
        Ok(Decision::Deny(denial)) => {
            let mut headers = denial.headers;
            headers.push(("x-jwtgate-status".into(), denial.status.to_string()));
            headers.push(("x-jwtgate-body".into(), denial.body.clone()));
            Answer {
                status: denial.status,
                headers,
                body: denial.body,
            }
        }
    }
}

/// Request headers the proxy replaces on the forwarded request, besides
/// every header the core sets or removes: the usual token carriers.
const CARRIERS: [&str; 2] = ["authorization", "cookie"];

/// For nginx and Traefik, which can only copy response headers onto the
/// forwarded request (replacing, and removing when absent): the value the
/// forwarded request must have for every header jwtgate manages (each
/// header the core sets or removes, plus `authorization` and `cookie`).
/// Set headers carry their new value, removed ones are absent, and the
/// others carry the request's own value (repeated headers joined by `,`,
/// cookies by `; `).
fn forwarded_values(
    allow: &crate::http::Allow,
    request: &[(String, String)],
) -> Vec<(String, String)> {
    let mut names: Vec<String> = Vec::new();
    let managed = allow
        .set_headers
        .iter()
        .map(|(k, _)| k.as_str())
        .chain(allow.remove_headers.iter().map(String::as_str))
        .chain(CARRIERS);
    for name in managed {
        if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            names.push(name.to_ascii_lowercase());
        }
    }
    let mut out = Vec::new();
    for name in names {
        if let Some((_, v)) = allow
            .set_headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&name))
        {
            out.push((name, v.clone()));
            continue;
        }
        if allow
            .remove_headers
            .iter()
            .any(|r| r.eq_ignore_ascii_case(&name))
        {
            continue;
        }
        let values: Vec<&str> = request
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(&name))
            .map(|(_, v)| v.as_str())
            .collect();
        if !values.is_empty() {
            let joined = values.join(if name == "cookie" { "; " } else { "," });
            out.push((name, joined));
        }
    }
    out
}

/// The original method and target, from where `mode` says: the
/// sub-request's own, or its mode's two headers, each present exactly once
/// and not empty (else the error says which, for the log and the 500).
pub fn original<'r>(
    mode: Mode,
    method: &'r str,
    target: &'r str,
    headers: &'r [(String, String)],
) -> Result<(Cow<'r, str>, Cow<'r, str>), String> {
    let Some((method_header, target_header)) = mode.headers() else {
        return Ok((Cow::Borrowed(method), Cow::Borrowed(target)));
    };
    let one = |name: &str| {
        let mut values = headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name));
        match (values.next(), values.next()) {
            (Some((_, v)), None) if !v.is_empty() => Ok(Cow::Borrowed(v.as_str())),
            (None, _) => Err(std::format!(
                "the sub-request has no {name} header; the proxy must set it (--mode {})",
                mode.name()
            )),
            _ => Err(std::format!(
                "the sub-request's {name} header is empty or repeated; the proxy must set it once (--mode {})",
                mode.name()
            )),
        }
    };
    Ok((one(method_header)?, one(target_header)?))
}

impl Mode {
    /// The name `--mode` takes.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Nginx => "nginx",
            Mode::Traefik => "traefik",
            Mode::Envoy => "envoy",
        }
    }
}

fn json_answer(status: u16, code: &str, message: &str) -> Answer {
    let body = serde_json::json!({"error": code, "message": message}).to_string();
    Answer {
        status,
        headers: Vec::from([("content-type".to_string(), "application/json".to_string())]),
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn each_mode_reads_only_its_own_headers() {
        let headers = h(&[
            ("X-Original-Method", "POST"),
            ("X-Original-URI", "/admin"),
            ("x-forwarded-method", "GET"),
            ("x-forwarded-uri", "/public"),
        ]);
        let (m, t) = original(Mode::Nginx, "GET", "/auth", &headers).unwrap();
        assert_eq!((&*m, &*t), ("POST", "/admin"));
        let (m, t) = original(Mode::Traefik, "GET", "/auth", &headers).unwrap();
        assert_eq!((&*m, &*t), ("GET", "/public"));
        let (m, t) = original(Mode::Envoy, "DELETE", "/orders/1", &headers).unwrap();
        assert_eq!((&*m, &*t), ("DELETE", "/orders/1"));
    }

    #[test]
    fn missing_or_repeated_headers_are_refused() {
        let only_method = h(&[("x-original-method", "GET")]);
        let missing = original(Mode::Nginx, "GET", "/", &only_method);
        assert!(missing.unwrap_err().contains("no x-original-uri header"));
        let repeated = h(&[
            ("x-forwarded-method", "GET"),
            ("x-forwarded-uri", "/a"),
            ("X-Forwarded-Uri", "/b"),
        ]);
        assert!(original(Mode::Traefik, "GET", "/", &repeated)
            .unwrap_err()
            .contains("repeated"));
        let empty = h(&[("x-original-method", "GET"), ("x-original-uri", "")]);
        assert!(original(Mode::Nginx, "GET", "/", &empty).is_err());
    }
}
