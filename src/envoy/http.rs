//! The HTTP context: one request, one decision.

// proxy-wasm hands us the host's clock as a std `SystemTime`.
extern crate std;

use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use std::time::UNIX_EPOCH;

use log::debug;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;

use super::root::Shared;
use crate::http::{Allow, Decision, Denial, Request};

pub(crate) struct Http {
    shared: Option<Rc<Shared>>,
}

impl Http {
    pub(crate) fn new(shared: Option<Rc<Shared>>) -> Self {
        Http { shared }
    }

    fn now_unix_seconds(&self) -> i64 {
        match self.get_current_time().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(e) => 0i64.saturating_sub_unsigned(e.duration().as_secs()),
        }
    }

    fn apply_allow(&self, allow: &Allow) {
        for name in &allow.remove_headers {
            self.set_http_request_header(name, None);
        }
        for (name, value) in &allow.set_headers {
            self.set_http_request_header(name, Some(value));
        }
        if let Some(path) = &allow.set_path {
            self.set_http_request_header(":path", Some(path));
        }
    }

    fn send_denial(&self, denial: &Denial) {
        let headers = denial
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.send_http_response(
            u32::from(denial.status),
            headers,
            Some(denial.body.as_bytes()),
        );
    }
}

impl Context for Http {}

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

        let mut method = String::new();
        let mut path = String::new();
        let mut headers = Vec::new();
        // Bytes, not `get_http_request_headers()`: that one unwraps
        // `String::from_utf8` on every value, so a single header with a
        // non-UTF-8 byte (which Envoy accepts) would panic and kill the VM
        // for every later request. Such bytes become U+FFFD; a token is ASCII,
        // so one containing them still fails (`malformed`). Header names are
        // ASCII tokens (Envoy's codecs enforce it).
        for (name, value) in self.get_http_request_headers_bytes() {
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
        let now = self.now_unix_seconds();
        // For logs: the query may carry a token (from_params).
        let route = path.split('?').next().unwrap_or_default();

        let mut cache = shared.cache.as_ref().and_then(|c| c.try_borrow_mut().ok());
        let before = cache.as_ref().map(|c| (c.hits(), c.misses()));
        let decision = shared
            .verifier
            .borrow()
            .authorize(&request, now, cache.as_deref_mut());
        if let (Some(c), Some((hits, misses))) = (cache.as_ref(), before) {
            shared.metrics.cache(
                c.hits().saturating_sub(hits),
                c.misses().saturating_sub(misses),
            );
        }
        drop(cache);

        match decision {
            Decision::Allow(allow) => {
                debug!(
                    "jwtgate: allow {} {}: {} (provider {})",
                    method,
                    route,
                    allow.reason,
                    allow.verified.as_ref().map_or("-", |v| v.provider.as_str())
                );
                self.apply_allow(&allow);
                shared.metrics.allowed();
                Action::Continue
            }
            Decision::Deny(denial) => {
                debug!(
                    "jwtgate: deny {} {} with {}: {}",
                    method, route, denial.status, denial.error
                );
                shared.metrics.denied(denial.error.code());
                self.send_denial(&denial);
                Action::Pause
            }
        }
    }
}
