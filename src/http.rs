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
//! let request = |path| Request { method: "GET", path, headers: &headers, case_insensitive: false };
//! match verifier.authorize(&request("/login"), 0, None) {
//!     Decision::Allow(allow) => assert_eq!(allow.remove_headers, ["x-jwt-sub"]),
//!     Decision::Deny(_) => unreachable!(),
//! }
//! // The rule is chosen on the canonical path, and that path is forwarded.
//! match verifier.authorize(&request("/login/../orders"), 0, None) {
//!     Decision::Deny(deny) => assert_eq!(deny.error.code().as_str(), "missing"),
//!     Decision::Allow(_) => unreachable!(),
//! }
//! match verifier.authorize(&request("/%6cogin/x?a=1"), 0, None) {
//!     Decision::Allow(allow) => assert_eq!(allow.set_path.as_deref(), Some("/login/x?a=1")),
//!     Decision::Deny(_) => unreachable!(),
//! }
//! let orders = verifier.authorize(&request("/orders"), 0, None);
//! match orders {
//!     Decision::Deny(deny) => {
//!         assert_eq!(deny.status, 401);
//!         assert_eq!(deny.error.code().as_str(), "missing");
//!     }
//!     Decision::Allow(_) => unreachable!(),
//! }
//! ```

use alloc::borrow::Cow;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::cache::VerifiedCache;
use crate::claims::{header_value, lookup};
use crate::error::{err, Error, ErrorCode};
use crate::explain::Trace;
use crate::path::{self, RequestTarget};
use crate::policy::Rule;
use crate::verify::{SignatureRequest, Target, Verified, Verifier};

/// The parts of an HTTP request the decision needs.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The method, e.g. `"GET"`.
    pub method: &'a str,
    /// The request target as it arrived, with its query: origin-form
    /// (`/a?b`, Envoy's `:path`) or absolute-form (`http://h/a?b`, which
    /// Node hands to applications as is). It is canonicalized
    /// ([`crate::path`]) before any rule is chosen.
    pub path: &'a str,
    /// The request headers, repeated names included (names are matched
    /// case-insensitively; repeated headers are read joined by `,`, as a
    /// proxy forwards them).
    pub headers: &'a [(String, String)],
    /// The application behind routes paths without regard to case
    /// (Express's default): rules are then matched without case as well,
    /// whatever the policy's `paths.case_sensitive` says.
    pub case_insensitive: bool,
}

/// What to do with a request.
#[derive(Debug, Clone)]
pub enum Decision {
    /// Send it upstream, after the edits in [`Allow`].
    Allow(Allow),
    /// Answer it with [`Denial`] and do not send it upstream.
    Deny(Denial),
}

impl Decision {
    /// The refusal's code, or `None` for an allow.
    ///
    /// ```
    /// use jwtgate::{ErrorCode, Verifier};
    /// use jwtgate::http::Request;
    /// let verifier = Verifier::from_json(r#"{"providers": {"idp": {
    ///     "issuer": "https://idp.example.com",
    ///     "remote_jwks": {"uri": "https://idp.example.com/jwks"}}},
    ///     "rules": [{"prefix": "/", "requires": "idp"}]}"#).unwrap();
    /// let request = Request { method: "GET", path: "/", headers: &[], case_insensitive: false };
    /// assert_eq!(verifier.authorize(&request, 0, None).refusal(), Some(ErrorCode::Missing));
    /// ```
    pub fn refusal(&self) -> Option<ErrorCode> {
        match self {
            Decision::Allow(_) => None,
            Decision::Deny(denial) => Some(denial.error.code()),
        }
    }
}

/// A request to pass on, with the edits to make first, in this order:
/// remove `remove_headers`, set `set_headers`, replace the target with
/// `set_path`.
#[derive(Debug, Clone)]
pub struct Allow {
    /// The verified token, when one was checked.
    pub verified: Option<Verified>,
    /// Headers to remove: every header jwtgate sets (so clients cannot spoof
    /// them), and every header holding the token when `forward` is false.
    pub remove_headers: Vec<String>,
    /// Headers to set (replacing any value): claim headers, the payload
    /// header, a `cookie` header without the token.
    pub set_headers: Vec<(String, String)>,
    /// The target to forward instead of the one that arrived: the canonical
    /// origin-form the rule was chosen on (and without the token's query
    /// parameter when `forward` is false). `None` when it is unchanged.
    pub set_path: Option<String>,
    /// Why it is allowed: `"verified"`, `"bypass"`, `"no_rule"`,
    /// `"missing_allowed"` or `"cors_preflight"`.
    pub reason: &'static str,
}

/// A request to refuse, and the response to send.
#[derive(Debug, Clone)]
pub struct Denial {
    /// 400 (`invalid_path`), 401 (missing or invalid token) or 403 (claim
    /// rules not met).
    pub status: u16,
    /// Response headers: `content-type`, and `www-authenticate` for 401/403.
    pub headers: Vec<(String, String)>,
    /// The JSON body: `{"error": code, "message": sentence}`.
    pub body: String,
    /// The full reason, for logs (even when `hide_details` is set).
    pub error: Error,
}

/// A place a provider reads its token from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Location<'p> {
    Header { name: &'p str, prefix: &'p str },
    Param(&'p str),
    Cookie(&'p str),
}

/// `Authorization: Bearer` and `access_token`: jwt_authn's defaults.
const DEFAULT_LOCATIONS: [Location<'static>; 2] = [
    Location::Header {
        name: "authorization",
        prefix: "Bearer ",
    },
    Location::Param("access_token"),
];

impl Location<'_> {
    fn describe(&self) -> String {
        match self {
            Location::Header { name, .. } => format!("the {name} header"),
            Location::Param(name) => format!("the {name} query parameter"),
            Location::Cookie(name) => format!("the {name} cookie"),
        }
    }
}

/// What [`Verifier::authorize`] found before verifying.
enum Selection<'r> {
    /// A token to verify.
    Verify(Selected<'r>),
    /// The request is decided without verifying a token.
    Decided(Decision),
}

/// What [`Verifier::authorize`] verifies: the request's one token, the
/// providers that may accept it, and where the request goes.
struct Selected<'r> {
    target: RequestTarget<'r>,
    rule: Option<usize>,
    token: Cow<'r, str>,
    providers: Vec<usize>,
}

/// A token found at a location (owned only when read from a repeated header).
struct Found<'p, 'r> {
    location: Location<'p>,
    token: Cow<'r, str>,
}

impl Verifier {
    /// Decides what to do with an HTTP request at time `now` (Unix seconds),
    /// using `cache` for tokens seen before.
    ///
    /// The target is canonicalized first (or refused with `invalid_path`);
    /// the rule is chosen on the canonical path, and [`Allow::set_path`]
    /// says to forward that path whenever it differs from what arrived.
    /// Every location of the rule's providers is read: a request carries at
    /// most one token (copies of the same token are fine), and the token is
    /// only checked by providers that read it where it was found.
    pub fn authorize(
        &self,
        request: &Request<'_>,
        now: i64,
        cache: Option<&mut VerifiedCache>,
    ) -> Decision {
        let selected = match self.select(request) {
            Selection::Verify(selected) => selected,
            Selection::Decided(decision) => return decision,
        };
        let candidate_target = Target {
            providers: &selected.providers,
            rule_claims: self.target_of(selected.rule).rule_claims,
        };
        match self.run(
            &selected.token,
            &candidate_target,
            now,
            cache,
            &mut Trace::off(),
        ) {
            Ok(verified) => Decision::Allow(self.allow_verified(
                request,
                &selected.target,
                &selected.token,
                verified,
            )),
            Err(e) => self.deny(e),
        }
    }

    /// The signature checks [`Verifier::authorize`] would ask the host for
    /// on this request, without doing any: the request's one token, checked
    /// by the providers that read it where it was found (see
    /// [`Verifier::signature_requests`], its counterpart for a token). Empty
    /// when the request is decided without a signature check (bypass, no
    /// token, refused target, several tokens) or no host prepared the keys.
    pub fn authorize_signature_requests(
        &self,
        request: &Request<'_>,
        now: i64,
    ) -> Vec<SignatureRequest> {
        match self.select(request) {
            Selection::Verify(selected) => {
                self.record_signature_requests(&selected.token, &selected.providers, now)
            }
            Selection::Decided(_) => Vec::new(),
        }
    }

    /// Everything [`Verifier::authorize`] decides before verifying: the
    /// canonical target, the rule, and the one token with the providers that
    /// may accept it; or the decision, when no token needs verifying.
    // `#[inline(never)]` here, on `allow_verified` and on `deny`: each is
    // compiled on its own instead of inside one large `authorize`, which
    // lowers the peak of V8 compiling the filter at load, and that peak sets
    // the memory Envoy keeps (docs/BENCHMARKS.md, "Footprint"). One call each.
    #[inline(never)]
    fn select<'r>(&self, request: &Request<'r>) -> Selection<'r> {
        let paths = &self.policy.paths;
        let target = match RequestTarget::parse(request.path, paths.merge_slashes) {
            Ok(target) => target,
            Err(e) => return Selection::Decided(self.deny(e)),
        };
        let case_sensitive = paths.case_sensitive && !request.case_insensitive;
        let rule_index = self.rule_index(request.method, target.path(), case_sensitive);
        let changed = |forward: String| (forward != request.path).then_some(forward);
        let pass = |reason| {
            Selection::Decided(Decision::Allow(Allow {
                verified: None,
                remove_headers: self.output_headers.clone(),
                set_headers: Vec::new(),
                set_path: changed(target.origin_form()),
                reason,
            }))
        };
        let rule = match rule_index.map(|i| &self.policy.rules[i]) {
            None => return pass("no_rule"),
            Some(Rule { bypass: true, .. }) => return pass("bypass"),
            Some(rule) => rule,
        };
        if self.policy.allow_cors_preflight
            && request.method.eq_ignore_ascii_case("OPTIONS")
            && header(request, "origin").is_some()
            && header(request, "access-control-request-method").is_some()
        {
            return pass("cors_preflight");
        }
        let query = target.query();
        let mut found: Vec<(usize, Found)> = Vec::new();
        for &p in self.target_of(rule_index).providers {
            for location in self.locations(p) {
                found.extend(find(request, query, location).into_iter().map(|f| (p, f)));
            }
        }
        let Some((_, first)) = found.first() else {
            if rule.allow_missing {
                return pass("missing_allowed");
            }
            return Selection::Decided(
                self.deny(err!(Missing, "no token was found in the request")),
            );
        };
        if let Some((_, f)) = found.iter().find(|(_, f)| f.token.contains(',')) {
            // Proxies join repeated headers with commas; a token has none.
            return Selection::Decided(self.deny(err!(
                Malformed,
                "{} holds several values (is it repeated?)",
                f.location.describe()
            )));
        }
        if let Some((_, other)) = found.iter().find(|(_, f)| f.token != first.token) {
            return Selection::Decided(self.deny(err!(
                Malformed,
                "the request carries more than one token (in {} and in {}); send one",
                first.location.describe(),
                other.location.describe()
            )));
        }
        let mut providers: Vec<usize> = found.iter().map(|(p, _)| *p).collect();
        providers.dedup();
        let token = found.swap_remove(0).1.token;
        Selection::Verify(Selected {
            target,
            rule: rule_index,
            token,
            providers,
        })
    }

    /// Where a provider reads its token (jwt_authn's defaults when it names no place).
    fn locations(&self, provider: usize) -> impl Iterator<Item = Location<'_>> {
        let p = &self.providers[provider].config;
        let defaults: &[Location<'static>] =
            if p.from_headers.is_empty() && p.from_params.is_empty() && p.from_cookies.is_empty() {
                &DEFAULT_LOCATIONS
            } else {
                &[]
            };
        let headers = p.from_headers.iter().map(|h| Location::Header {
            name: &h.name,
            prefix: &h.value_prefix,
        });
        let params = p.from_params.iter().map(|n| Location::Param(n));
        let cookies = p.from_cookies.iter().map(|n| Location::Cookie(n));
        defaults
            .iter()
            .copied()
            .chain(headers)
            .chain(params)
            .chain(cookies)
    }

    #[inline(never)] // See `select`.
    fn allow_verified(
        &self,
        request: &Request<'_>,
        target: &RequestTarget<'_>,
        token: &str,
        verified: Verified,
    ) -> Allow {
        let mut remove_headers = self.output_headers.clone();
        let mut set_headers = Vec::new();
        let mut query = target.query().map(String::from);
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
                // The payload segment as signed, byte for byte (as jwt_authn).
                let payload = token.split('.').nth(1).unwrap_or_default();
                set_headers.push((name.clone(), payload.to_string()));
            }
            if !p.forward {
                // Every copy, in any provider's location, not only the one used.
                let mut cookie_names = Vec::new();
                for location in (0..self.providers.len()).flat_map(|i| self.locations(i)) {
                    let holds = find(request, target.query(), location)
                        .iter()
                        .any(|f| f.token == token);
                    match location {
                        _ if !holds => {}
                        Location::Header { name, .. } => {
                            if !remove_headers.iter().any(|h| h.eq_ignore_ascii_case(name)) {
                                remove_headers.push(name.to_string());
                            }
                        }
                        Location::Param(name) => {
                            query = query.map(|q| without_param(&q, name, token));
                        }
                        Location::Cookie(name) => cookie_names.push(name),
                    }
                }
                if !cookie_names.is_empty() {
                    let rest: Vec<String> = cookies(request)
                        .filter(|(k, v)| !(cookie_names.contains(k) && *v == token))
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
        let query = query.filter(|q| !q.is_empty());
        let forward = path::with_query(target.path(), query.as_deref());
        Allow {
            verified: Some(verified),
            remove_headers,
            set_headers,
            set_path: (forward != request.path).then_some(forward),
            reason: "verified",
        }
    }

    /// The response for a refused request (RFC 6750 §3).
    #[inline(never)] // See `select`.
    pub fn deny(&self, error: Error) -> Decision {
        let realm = &self.policy.response.realm;
        let hide = self.policy.response.hide_details;
        let code = error.code();
        let (status, rfc_error) = if code == ErrorCode::InvalidPath {
            (400, None)
        } else if code.is_authorization_failure() {
            (403, Some("insufficient_scope"))
        } else if code == ErrorCode::Missing {
            (401, None)
        } else if code == ErrorCode::JwksUnavailable {
            (503, None)
        } else if code == ErrorCode::VerifierUnavailable {
            (500, None)
        } else {
            (401, Some("invalid_token"))
        };
        let mut headers = Vec::new();
        if status != 400 && status != 500 {
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
            headers.push(("www-authenticate".to_string(), challenge));
        }
        headers.push(("content-type".to_string(), "application/json".to_string()));
        let (body_code, body_message) = if hide {
            match status {
                400 => ("bad_request", "the request target is not accepted"),
                403 => (
                    "forbidden",
                    "the token does not grant access to this resource",
                ),
                503 => (
                    "unavailable",
                    "the token cannot be checked now; retry later",
                ),
                500 => ("internal_error", "the token cannot be checked here"),
                _ => ("unauthorized", "a valid bearer token is required"),
            }
        } else {
            (code.as_str(), error.message())
        };
        // `json!` inserts member by member (`collect` would link a sort routine).
        let body = serde_json::json!({"error": body_code, "message": body_message}).to_string();
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

/// Every value of a header, joined by `,` as a proxy joins repeated
/// headers, so every front end reads a request the same way.
fn header<'r>(request: &Request<'r>, name: &str) -> Option<Cow<'r, str>> {
    let mut values = request
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str());
    let first = values.next()?;
    match values.next() {
        None => Some(Cow::Borrowed(first)),
        Some(second) => {
            let mut joined = format!("{first},{second}");
            for v in values {
                joined.push(',');
                joined.push_str(v);
            }
            Some(Cow::Owned(joined))
        }
    }
}

/// The tokens at one location (several for a repeated query parameter or
/// cookie; a repeated header is one joined value).
fn find<'p, 'r>(
    request: &Request<'r>,
    query: Option<&'r str>,
    location: Location<'p>,
) -> Vec<Found<'p, 'r>> {
    let found = |token: Cow<'r, str>| Found { location, token };
    match location {
        Location::Header { name, prefix } => {
            let Some(value) = header(request, name) else {
                return Vec::new();
            };
            let token = match value {
                Cow::Borrowed(v) => {
                    strip_prefix_ignore_case(v, prefix).map(|t| Cow::Borrowed(t.trim()))
                }
                Cow::Owned(joined) => strip_prefix_ignore_case(&joined, prefix)
                    .map(|t| Cow::Owned(t.trim().to_string())),
            };
            token
                .filter(|t| !t.is_empty())
                .map(found)
                .into_iter()
                .collect()
        }
        Location::Param(name) => query_params(query)
            .filter(|(k, v)| decoded_name(k) == name && !v.is_empty())
            .map(|(_, v)| found(Cow::Borrowed(v)))
            .collect(),
        Location::Cookie(name) => cookies(request)
            .filter(|(k, v)| *k == name && !v.is_empty())
            .map(|(_, v)| found(Cow::Borrowed(v)))
            .collect(),
    }
}

fn strip_prefix_ignore_case<'v>(value: &'v str, prefix: &str) -> Option<&'v str> {
    let head = value.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &value[prefix.len()..])
}

fn query_params(query: Option<&str>) -> impl Iterator<Item = (&str, &str)> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
}

/// A query parameter's name percent-decoded, as the upstream will read it
/// (`access%5Ftoken` is `access_token`).
fn decoded_name(name: &str) -> Cow<'_, str> {
    if !name.contains('%') {
        return Cow::Borrowed(name);
    }
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| core::str::from_utf8(h).ok());
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(b) if bytes[i] == b'%' => {
                out.push(b);
                i += 3;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// The query without the parameters `name` that hold `token`.
fn without_param(query: &str, name: &str, token: &str) -> String {
    query
        .split('&')
        .filter(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let is_copy = decoded_name(k) == name && v == token;
            !kv.is_empty() && !is_copy
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn cookies<'r>(request: &Request<'r>) -> impl Iterator<Item = (&'r str, &'r str)> {
    request
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("cookie"))
        .flat_map(|(_, v)| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_cookie_parsing() {
        let params: Vec<_> = query_params(Some("x=1&access_token=abc&y")).collect();
        assert_eq!(params, [("x", "1"), ("access_token", "abc"), ("y", "")]);
        assert_eq!(
            without_param(
                "x=1&access_token=abc&y=2&access%5Ftoken=abc",
                "access_token",
                "abc"
            ),
            "x=1&y=2"
        );
        assert_eq!(without_param("access_token=abc", "access_token", "abc"), "");
        assert_eq!(
            without_param("access_token=other", "access_token", "abc"),
            "access_token=other"
        );
        assert_eq!(decoded_name("access%5ftoken"), "access_token");
        assert_eq!(decoded_name("a%zz%4"), "a%zz%4");
        let headers = [("Cookie".to_string(), "a=1; jwt=tok;b=2".to_string())];
        let req = Request {
            method: "GET",
            path: "/",
            headers: &headers,
            case_insensitive: false,
        };
        let all: Vec<_> = cookies(&req).collect();
        assert_eq!(all, [("a", "1"), ("jwt", "tok"), ("b", "2")]);
    }

    #[test]
    fn challenge_text_is_quotable() {
        assert_eq!(quoted_text("a \"b\" \\ é"), "a 'b' ' ?");
    }
}
