//! The HTTP context: one request, one decision (or a wait for keys, a
//! first fetch or a kid-miss refetch, [`super::held`], then the decision).
//!
//! [`decide`] and [`answer`] act on the effective context through the host
//! calls, so the root context can decide a held request again from its own
//! callbacks (after `set_effective_context`).

// proxy-wasm hands us the host's clock as a std `SystemTime`.
extern crate std;

use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use std::time::SystemTime;

use log::{debug, log, Level};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, MapType};

use super::held::{self, Left};
use super::keys::unix_seconds;
use super::root::Shared;
use crate::error::ErrorCode;
use crate::http::{Allow, Decision, Denial, Request};

pub(crate) struct Http {
    context_id: u32,
    shared: Option<Rc<Shared>>,
}

/// A decision on the effective context's request, with what the log needs.
pub(crate) struct Decided {
    decision: Decision,
    /// The core's [`crate::Verifier::key_wait`]: hold until then.
    pub(crate) wait_until: Option<i64>,
    method: String,
    /// The path without the query (which may carry a token).
    route: String,
}

/// Reads the effective context's request and asks the core.
pub(crate) fn decide(shared: &Shared, now: i64) -> Decided {
    let mut method = String::new();
    let mut path = String::new();
    let mut headers = Vec::new();
    // Bytes, not `get_http_request_headers()`: that one unwraps
    // `String::from_utf8` on every value, so a single header with a
    // non-UTF-8 byte (which Envoy accepts) would panic and kill the VM
    // for every later request. Such bytes become U+FFFD; a token is ASCII,
    // so one containing them still fails (`malformed`). Header names are
    // ASCII tokens (Envoy's codecs enforce it).
    for (name, value) in hostcalls::get_map_bytes(MapType::HttpRequestHeaders).unwrap_or_default() {
        let value = match String::from_utf8(value) {
            Ok(value) => value,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        match name.as_str() {
            ":method" => method = value,
            ":path" => path = value,
            n if n.starts_with(':') => {}
            _ => headers.push((name, value)),
        }
    }
    let request = Request {
        method: &method,
        path: &path,
        headers: &headers,
        // Envoy's routes are case-sensitive unless a route says otherwise;
        // `paths.case_sensitive: false` in the policy covers that case.
        case_insensitive: false,
    };

    let mut cache = shared.cache.as_ref().and_then(|c| c.try_borrow_mut().ok());
    let before = cache.as_ref().map(|c| (c.hits(), c.misses()));
    let ask = |cache: Option<&mut crate::VerifiedCache>| {
        let verifier = shared.verifier.borrow();
        let decision = verifier.authorize(&request, now, cache);
        let wait_until = verifier.key_wait(decision.refusal(), now);
        (decision, wait_until)
    };
    let (mut decision, mut wait_until) = ask(cache.as_deref_mut());
    // Keys another worker fetched since this one's last tick: take them and
    // ask again, rather than refuse or hold a token they may verify (after an
    // outage, or mid-rotation when another worker's kid-miss refetch has the
    // new kid already). Only a snapshot this worker has not seen is parsed.
    let refused_for_keys = decision
        .refusal()
        .is_some_and(ErrorCode::newer_keys_may_answer);
    if (wait_until.is_some() || refused_for_keys) && adopt_published(shared, now) {
        (decision, wait_until) = ask(cache.as_deref_mut());
    }
    if let (Some(c), Some((hits, misses))) = (cache.as_ref(), before) {
        shared.metrics.cache(
            c.hits().saturating_sub(hits),
            c.misses().saturating_sub(misses),
        );
    }
    let route = String::from(path.split('?').next().unwrap_or_default());
    Decided {
        decision,
        wait_until,
        method,
        route,
    }
}

/// [`super::keys::KeyFetcher::adopt_published`] from the request path: `true`
/// when a snapshot another worker published was taken.
fn adopt_published(shared: &Shared, now: i64) -> bool {
    let (Some(keys), Ok(mut verifier)) = (&shared.keys, shared.verifier.try_borrow_mut()) else {
        return false;
    };
    keys.try_borrow_mut()
        .is_ok_and(|mut keys| keys.adopt_published(&mut verifier, now))
}

/// Applies `decided` to the effective context's request: the header edits
/// (then `true`: let it continue), or the local reply (`false`).
pub(crate) fn answer(shared: &Shared, decided: &Decided) -> bool {
    let Decided {
        decision,
        method,
        route,
        ..
    } = decided;
    match decision {
        Decision::Allow(allow) => {
            debug!(
                "jwtgate: allow {} {}: {} (provider {})",
                method,
                route,
                allow.reason,
                allow.verified.as_ref().map_or("-", |v| v.provider.as_str())
            );
            apply_allow(allow);
            shared.metrics.allowed();
            true
        }
        Decision::Deny(denial) => {
            log!(
                denial_log_level(denial.error.code()),
                "jwtgate: deny {} {} with {}: {}",
                method,
                route,
                denial.status,
                denial.error
            );
            shared.metrics.denied(denial.error.code());
            send_denial(denial);
            false
        }
    }
}

/// The level a denial is logged at: `verifier_unavailable` (a 500) is a
/// fault of the deployment (no verifier answered), not of the token, and
/// operators need to see it; every other denial is about the request, at debug.
fn denial_log_level(code: ErrorCode) -> Level {
    if code == ErrorCode::VerifierUnavailable {
        Level::Warn
    } else {
        Level::Debug
    }
}

fn apply_allow(allow: &Allow) {
    let set = |name: &str, value: Option<&str>| {
        let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, name, value);
    };
    for name in &allow.remove_headers {
        set(name, None);
    }
    for (name, value) in &allow.set_headers {
        set(name, Some(value));
    }
    if let Some(path) = &allow.set_path {
        set(":path", Some(path));
    }
}

fn send_denial(denial: &Denial) {
    let headers = denial
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let _ = hostcalls::send_http_response(
        u32::from(denial.status),
        headers,
        Some(denial.body.as_bytes()),
    );
}

impl Http {
    pub(crate) fn new(context_id: u32, shared: Option<Rc<Shared>>) -> Self {
        Http { context_id, shared }
    }

    fn held(&self) -> bool {
        self.shared
            .as_ref()
            .is_some_and(|s| s.held.holds(self.context_id))
    }

    /// Pauses the body and trailers of a held request (a `Continue` there
    /// would let the request go on before it is decided).
    fn pause_if_held(&self) -> Action {
        if self.held() {
            Action::Pause
        } else {
            Action::Continue
        }
    }

    /// The downstream went away: a held request leaves the held set.
    fn leave(&self) {
        if let Some(shared) = &self.shared {
            shared.held.release(self.context_id, Left::Gone);
        }
    }
}

impl Context for Http {
    fn on_done(&mut self) -> bool {
        self.leave();
        true
    }
}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(shared) = self.shared.clone() else {
            // Unreachable with Envoy (a refused configuration fails the
            // plugin), but if it happens: fail closed.
            self.send_http_response(
                500,
                Vec::from([("content-type", "application/json")]),
                Some(br#"{"error":"invalid_config","message":"jwtgate has no configuration"}"#),
            );
            return Action::Pause;
        };
        let time: SystemTime = self.get_current_time();
        let decided = decide(&shared, unix_seconds(time));
        if let Some(until) = decided.wait_until {
            if shared.held.hold(self.context_id, held::deadline(until)) {
                // The fetch this request waits for starts within the fast tick.
                shared.held.pace_tick();
                debug!(
                    "jwtgate: hold {} {} until keys land (a first fetch, or a kid-miss refetch; at most until {until})",
                    decided.method, decided.route
                );
                return Action::Pause;
            }
        }
        if answer(&shared, &decided) {
            Action::Continue
        } else {
            Action::Pause
        }
    }

    fn on_http_request_body(&mut self, _body_size: usize, _end_of_stream: bool) -> Action {
        self.pause_if_held()
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        self.pause_if_held()
    }

    fn on_log(&mut self) {
        self.leave();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_verifier_unavailable_is_logged_as_a_warning() {
        for &code in ErrorCode::ALL {
            let want = if code == ErrorCode::VerifierUnavailable {
                Level::Warn
            } else {
                Level::Debug
            };
            assert_eq!(denial_log_level(code), want, "{code:?}");
        }
    }
}
