//! The HTTP decision, shared by every front end that guards requests (the
//! Envoy filter, the Node middleware, the worker): pick the rule, find the
//! token, verify it, and say which headers to remove and set, or what to
//! answer (401/403 with RFC 6750 `WWW-Authenticate` and a JSON body).
//!
//! ```
//! use jwtgate::{Verifier, http::{Request, Decision}};
//! let verifier = Verifier::from_json(r#"{
//!   "providers": {"idp": {"issuer": "https://idp.example.com",
//!     "jwks": {"keys": [{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]},
//!     "claim_to_headers": [{"claim": "sub", "header": "x-jwt-sub"}]}},
//!   "rules": [{"prefix": "/login", "bypass": true}, {"prefix": "/", "requires": "idp"}]
//! }"#).unwrap();
//! let headers = vec![("x-jwt-sub".to_string(), "spoofed".to_string())];
//! let login = verifier.authorize(&Request { method: "GET", path: "/login", headers: &headers }, 0, None);
//! match login {
//!     Decision::Allow(allow) => assert_eq!(allow.remove_headers, ["x-jwt-sub"]),
//!     Decision::Deny(_) => unreachable!(),
//! }
//! let orders = verifier.authorize(&Request { method: "GET", path: "/orders", headers: &headers }, 0, None);
//! match orders {
//!     Decision::Deny(deny) => {
//!         assert_eq!(deny.status, 401);
//!         assert_eq!(deny.error.code().as_str(), "missing");
//!     }
//!     Decision::Allow(_) => unreachable!(),
//! }
//! ```

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use serde_json::Value;

use crate::base64url;
use crate::cache::VerifiedCache;
use crate::claims::lookup;
use crate::error::{Error, ErrorCode};
use crate::explain::Trace;
use crate::policy::Rule;
use crate::verify::{Verified, Verifier};

/// The parts of an HTTP request the decision needs.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The method, e.g. `"GET"`.
    pub method: &'a str,
    /// The path with its query string (Envoy's `:path`).
    pub path: &'a str,
    /// The request headers (names are matched case-insensitively).
    pub headers: &'a [(String, String)],
}

/// What to do with a request.
#[derive(Debug, Clone)]
pub enum Decision {
    /// Send it upstream, after the header edits in [`Allow`].
    Allow(Allow),
    /// Answer it with [`Denial`] and do not send it upstream.
    Deny(Denial),
}

/// A request to pass on, with the edits to make first, in this order:
/// remove `remove_headers`, set `set_headers`, replace the path with `set_path`.
#[derive(Debug, Clone)]
pub struct Allow {
    /// The verified token, when one was checked.
    pub verified: Option<Verified>,
    /// Headers to remove: every header jwtgate sets (so clients cannot spoof
    /// them), and the token's header when `forward` is false.
    pub remove_headers: Vec<String>,
    /// Headers to set (replacing any value): claim headers, the payload
    /// header, a `cookie` header without the token.
    pub set_headers: Vec<(String, String)>,
    /// A new path, when the token was removed from the query string.
    pub set_path: Option<String>,
    /// Why it is allowed: `"verified"`, `"bypass"`, `"no_rule"`,
    /// `"missing_allowed"` or `"cors_preflight"`.
    pub reason: &'static str,
}

/// A request to refuse, and the response to send.
#[derive(Debug, Clone)]
pub struct Denial {
    /// 401 (missing or invalid token) or 403 (claim rules not met).
    pub status: u16,
    /// Response headers: `www-authenticate` and `content-type`.
    pub headers: Vec<(String, String)>,
    /// The JSON body: `{"error": code, "message": sentence}`.
    pub body: String,
    /// The full reason, for logs (even when `hide_details` is set).
    pub error: Error,
}

/// Where a token was found.
enum Found<'r> {
    Header { name: String, token: &'r str },
    Param { name: String, token: &'r str },
    Cookie { name: String, token: &'r str },
}

impl Found<'_> {
    fn token(&self) -> &str {
        match self {
            Found::Header { token, .. }
            | Found::Param { token, .. }
            | Found::Cookie { token, .. } => token,
        }
    }
}

impl Verifier {
    /// Decides what to do with an HTTP request at time `now` (Unix seconds),
    /// using `cache` for tokens seen before.
    pub fn authorize(
        &self,
        request: &Request<'_>,
        now: i64,
        cache: Option<&mut VerifiedCache>,
    ) -> Decision {
        let allow = |reason| {
            Decision::Allow(Allow {
                verified: None,
                remove_headers: self.output_headers.clone(),
                set_headers: Vec::new(),
                set_path: None,
                reason,
            })
        };
        let rule_index = self.rule_index(request.path);
        let rule = match rule_index.map(|i| &self.policy.rules[i]) {
            None => return allow("no_rule"),
            Some(Rule { bypass: true, .. }) if !is_ambiguous(request.path) => {
                return allow("bypass")
            }
            Some(rule) => rule,
        };
        if self.policy.allow_cors_preflight
            && request.method.eq_ignore_ascii_case("OPTIONS")
            && header(request, "origin").is_some()
            && header(request, "access-control-request-method").is_some()
        {
            return allow("cors_preflight");
        }
        if rule.bypass {
            return self.deny(Error::new(
                ErrorCode::Malformed,
                "the path has dot-segments or encoded separators, so bypass rules do not apply to it",
            ));
        }
        let target = self.target_of(rule_index);
        let found = target
            .providers
            .iter()
            .find_map(|i| self.find_token(*i, request));
        let found = match found {
            Some(found) => found,
            None if rule.allow_missing && !is_ambiguous(request.path) => {
                return allow("missing_allowed")
            }
            None => {
                return self.deny(Error::new(
                    ErrorCode::Missing,
                    "no token was found in the request",
                ))
            }
        };
        if found.token().contains(',') {
            // Proxies join repeated headers with commas; a token has none.
            return self.deny(Error::new(
                ErrorCode::Malformed,
                "the token header holds several values (is the header repeated?)",
            ));
        }
        match self.run(found.token(), &target, now, cache, &mut Trace::off()) {
            Ok(verified) => Decision::Allow(self.allow_verified(request, found, verified)),
            Err(e) => self.deny(e),
        }
    }

    fn find_token<'r>(&self, provider: usize, request: &Request<'r>) -> Option<Found<'r>> {
        let p = &self.providers[provider].config;
        let default_locations =
            p.from_headers.is_empty() && p.from_params.is_empty() && p.from_cookies.is_empty();
        let from_header = |name: &str, prefix: &str| {
            let value = header(request, name)?;
            let token = strip_prefix_ignore_case(value, prefix)?.trim();
            (!token.is_empty()).then(|| Found::Header {
                name: name.to_string(),
                token,
            })
        };
        let from_param = |name: &str| {
            let token = query_params(request.path).find(|(k, _)| *k == name)?.1;
            (!token.is_empty()).then(|| Found::Param {
                name: name.to_string(),
                token,
            })
        };
        if default_locations {
            return from_header("authorization", "Bearer ").or_else(|| from_param("access_token"));
        }
        p.from_headers
            .iter()
            .find_map(|h| from_header(&h.name, &h.value_prefix))
            .or_else(|| p.from_params.iter().find_map(|name| from_param(name)))
            .or_else(|| {
                p.from_cookies.iter().find_map(|name| {
                    let token = cookies(request).find(|(k, _)| k == name)?.1;
                    (!token.is_empty()).then(|| Found::Cookie {
                        name: name.clone(),
                        token,
                    })
                })
            })
    }

    fn allow_verified(&self, request: &Request<'_>, found: Found<'_>, verified: Verified) -> Allow {
        let mut remove_headers = self.output_headers.clone();
        let mut set_headers = Vec::new();
        let mut set_path = None;
        let provider = self
            .provider_index(&verified.provider)
            .map(|i| &self.providers[i].config);
        if let Some(p) = provider {
            for c in &p.claim_to_headers {
                if let Some(value) = lookup(&verified.claims, &c.claim).and_then(header_value) {
                    set_headers.push((c.header.clone(), value));
                }
            }
            if let Some(name) = &p.forward_payload_header {
                let json = serde_json::to_string(&verified.claims).unwrap_or_default();
                set_headers.push((name.clone(), base64url::encode(json.as_bytes())));
            }
            if !p.forward {
                match &found {
                    Found::Header { name, .. } => remove_headers.push(name.clone()),
                    Found::Param { name, .. } => set_path = Some(without_param(request.path, name)),
                    Found::Cookie { name, .. } => {
                        let rest: Vec<String> = cookies(request)
                            .filter(|(k, _)| k != name)
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect();
                        if rest.is_empty() {
                            remove_headers.push("cookie".to_string());
                        } else {
                            set_headers.push(("cookie".to_string(), rest.join("; ")));
                        }
                    }
                }
            }
        }
        Allow {
            verified: Some(verified),
            remove_headers,
            set_headers,
            set_path,
            reason: "verified",
        }
    }

    /// The response for a refused request (RFC 6750 §3).
    pub fn deny(&self, error: Error) -> Decision {
        let realm = &self.policy.response.realm;
        let hide = self.policy.response.hide_details;
        let code = error.code();
        let (status, rfc_error) = if code.is_authorization_failure() {
            (403, Some("insufficient_scope"))
        } else if code == ErrorCode::Missing {
            (401, None)
        } else if code == ErrorCode::JwksUnavailable {
            (503, None)
        } else {
            (401, Some("invalid_token"))
        };
        let mut challenge = format!("Bearer realm=\"{realm}\"");
        if let Some(e) = rfc_error {
            challenge += &format!(", error=\"{e}\"");
            if !hide {
                challenge += &format!(
                    ", error_description=\"{}\"",
                    quoted_text(&error.to_string())
                );
            }
        }
        let (body_code, body_message) = if hide {
            match status {
                403 => (
                    "forbidden",
                    "the token does not grant access to this resource",
                ),
                503 => (
                    "unavailable",
                    "the token cannot be checked now; retry later",
                ),
                _ => ("unauthorized", "a valid bearer token is required"),
            }
        } else {
            (code.as_str(), error.message())
        };
        let body = Value::Object(
            [
                ("error".to_string(), Value::from(body_code)),
                ("message".to_string(), Value::from(body_message)),
            ]
            .into_iter()
            .collect(),
        )
        .to_string();
        let mut headers = alloc::vec![
            ("www-authenticate".to_string(), challenge),
            ("content-type".to_string(), "application/json".to_string()),
        ];
        if status == 503 {
            headers.push((
                "retry-after".to_string(),
                self.retry_after_seconds().to_string(),
            ));
        }
        Decision::Deny(Denial {
            status,
            headers,
            body,
            error,
        })
    }
}

fn header<'r>(request: &Request<'r>, name: &str) -> Option<&'r str> {
    request
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn strip_prefix_ignore_case<'v>(value: &'v str, prefix: &str) -> Option<&'v str> {
    let head = value.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &value[prefix.len()..])
}

fn query_params(path: &str) -> impl Iterator<Item = (&str, &str)> {
    let query = path.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let query = query.split('#').next().unwrap_or_default();
    query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
}

fn without_param(path: &str, name: &str) -> String {
    let Some((base, query)) = path.split_once('?') else {
        return path.to_string();
    };
    let query = query.split('#').next().unwrap_or_default();
    let rest: Vec<&str> = query
        .split('&')
        .filter(|kv| !kv.is_empty() && kv.split('=').next() != Some(name))
        .collect();
    if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", rest.join("&"))
    }
}

fn cookies<'r>(request: &Request<'r>) -> impl Iterator<Item = (&'r str, &'r str)> {
    request
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("cookie"))
        .flat_map(|(_, v)| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
}

/// A claim as a header value: strings as they are, numbers and booleans as
/// JSON, arrays of those joined by commas. Values with control characters
/// are not copied (no header injection).
fn header_value(v: &Value) -> Option<String> {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(_) | Value::Bool(_) => v.to_string(),
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Some(s.clone()),
                Value::Number(_) | Value::Bool(_) => Some(i.to_string()),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?
            .join(","),
        _ => return None,
    };
    (!text.chars().any(char::is_control)).then_some(text)
}

/// Text allowed inside an RFC 6750 quoted `error_description`
/// (printable ASCII without `"` and `\`).
fn quoted_text(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '"' | '\\' => '\'',
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
}

/// `true` for paths whose meaning an upstream might normalise differently
/// (dot-segments, encoded separators, backslashes): rules that skip checks
/// never apply to them.
fn is_ambiguous(path: &str) -> bool {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let lower = path.to_ascii_lowercase();
    path.contains('\\')
        || ["%2e", "%2f", "%5c"].iter().any(|e| lower.contains(e))
        || path
            .split('/')
            .any(|segment| segment == "." || segment == "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_cookie_parsing() {
        let params: Vec<_> = query_params("/a?x=1&access_token=abc&y#frag").collect();
        assert_eq!(params, [("x", "1"), ("access_token", "abc"), ("y", "")]);
        assert_eq!(
            without_param("/a?x=1&access_token=abc&y=2", "access_token"),
            "/a?x=1&y=2"
        );
        assert_eq!(without_param("/a?access_token=abc", "access_token"), "/a");
        let headers = [("Cookie".to_string(), "a=1; jwt=tok;b=2".to_string())];
        let req = Request {
            method: "GET",
            path: "/",
            headers: &headers,
        };
        let all: Vec<_> = cookies(&req).collect();
        assert_eq!(all, [("a", "1"), ("jwt", "tok"), ("b", "2")]);
    }

    #[test]
    fn header_values_are_safe() {
        assert_eq!(
            header_value(&Value::from("alice")).as_deref(),
            Some("alice")
        );
        assert_eq!(
            header_value(&serde_json::json!(["a", 1, true])).as_deref(),
            Some("a,1,true")
        );
        assert_eq!(header_value(&Value::from("a\r\nx-admin: 1")), None);
        assert_eq!(header_value(&serde_json::json!({"a": 1})), None);
        assert_eq!(quoted_text("a \"b\" \\ é"), "a 'b' ' ?");
    }

    #[test]
    fn ambiguous_paths() {
        for p in [
            "/login/../admin",
            "/login/%2e%2e/admin",
            "/login%2Fadmin",
            "/login\\admin",
            "/./x",
        ] {
            assert!(is_ambiguous(p), "{p}");
        }
        for p in ["/login", "/login/x.y", "/a?b=../c", "/..x"] {
            assert!(!is_ambiguous(p), "{p}");
        }
    }
}
