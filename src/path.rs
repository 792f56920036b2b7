//! The request path: one canonical form, what is refused, and how rules
//! match it. Every front end hands the request target here as it arrived
//! (Envoy's `:path`, Node's `req.url`), and forwards the canonical target
//! this module returns, so the rule is chosen on exactly the path the
//! upstream receives.
//!
//! The canonical form (RFC 3986 §6.2.2 and §5.2.4):
//! - an absolute-form target (`http://host/a?b`, RFC 9112 §3.2.2) becomes its
//!   origin-form (`/a?b`); any other form (`*`, empty, no leading `/`, another
//!   scheme, userinfo) is refused;
//! - percent-encoded unreserved characters are decoded (`%61` → `a`,
//!   `%2e` → `.`), other percent-encodings keep their meaning with upper-case
//!   hex digits (`%3b` → `%3B`);
//! - dot segments are removed (`/a/./b/../c` → `/a/c`);
//! - empty segments are merged (`//a///b` → `/a/b`), unless the policy sets
//!   `paths.merge_slashes: false`, which refuses them instead;
//! - the query is kept as it arrived; it is not part of the path.
//!
//! Refused, because an upstream may read them in more than one way (a
//! decoding proxy, a Windows server, Tomcat): an encoded `/` or `\`, an
//! encoded `%` (double encoding), a raw `\`, a `;` parameter on a dot segment
//! (`/..;/`), a segment ending in `.` (`/admin.`), encoded control
//! characters, encoded bytes that are not UTF-8, raw bytes outside printable
//! ASCII, a fragment, and invalid percent-encoding. Honest clients do not
//! send these, so refusing them (HTTP 400, code `invalid_path`) is safe.
//!
//! Rules match a *match key* of the canonical path: `;` parameters of
//! segments are ignored (`/admin;jsessionid=1/users` matches rules for
//! `/admin/users`, as Tomcat and Spring route it), and with
//! `paths.case_sensitive: false` ASCII letters are compared without case.
//!
//! ```
//! use jwtgate::path::RequestTarget;
//! let t = RequestTarget::parse("http://api.example.com/x/%2e%2e//%61dmin/users?page=2", true).unwrap();
//! assert_eq!(t.path(), "/admin/users");
//! assert_eq!(t.query(), Some("page=2"));
//! assert_eq!(t.origin_form(), "/admin/users?page=2");
//! let e = RequestTarget::parse("/x%2F..%2Fadmin/users", true).unwrap_err();
//! assert_eq!(e.code().as_str(), "invalid_path");
//! ```

use alloc::string::String;
use alloc::vec::Vec;

use crate::error::{err, Error};

/// A request target, split and canonicalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestTarget<'a> {
    path: String,
    query: Option<&'a str>,
}

impl<'a> RequestTarget<'a> {
    /// Parses a request target as it arrived (origin-form or absolute-form)
    /// into its canonical path and its query. `merge_slashes` merges empty
    /// segments (`//`); without it they are refused.
    pub fn parse(target: &'a str, merge_slashes: bool) -> Result<RequestTarget<'a>, Error> {
        let origin = origin_form(target)?;
        let (raw_path, query) = match origin.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (origin, None),
        };
        if origin.contains('#') {
            return Err(err!(
                InvalidPath,
                "the request target has a fragment ('#'), which clients never send"
            ));
        }
        let path = canonical_path(raw_path, merge_slashes)?;
        Ok(RequestTarget { path, query })
    }

    /// The canonical path, without the query.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The query (after `?`), as it arrived.
    pub fn query(&self) -> Option<&'a str> {
        self.query
    }

    /// The canonical origin-form target: the canonical path and the query.
    pub fn origin_form(&self) -> String {
        with_query(&self.path, self.query)
    }
}

/// `path` followed by `?query` when there is a query.
pub(crate) fn with_query(path: &str, query: Option<&str>) -> String {
    match query {
        Some(q) => alloc::format!("{path}?{q}"),
        None => String::from(path),
    }
}

/// The key rules are matched on: each segment without its `;` parameters,
/// and ASCII-lower-cased unless `case_sensitive`.
///
/// ```
/// use jwtgate::path::match_key;
/// assert_eq!(match_key("/Admin;v=1/users;x", true), "/Admin/users");
/// assert_eq!(match_key("/Admin;v=1/users", false), "/admin/users");
/// ```
pub fn match_key(canonical_path: &str, case_sensitive: bool) -> String {
    let mut key = String::with_capacity(canonical_path.len());
    for (i, segment) in canonical_path.split('/').enumerate() {
        if i > 0 {
            key.push('/');
        }
        key.push_str(segment.split(';').next().unwrap_or_default());
    }
    if !case_sensitive {
        key.make_ascii_lowercase();
    }
    key
}

/// Checks a path written in the policy (a rule's `path` or prefix): it must
/// already be canonical and carry no query, fragment or `;` parameter, so
/// that what a rule says is what it matches. Returns a sentence saying why
/// not (the caller names the field).
pub(crate) fn check_rule_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(String::from("must start with '/'"));
    }
    if path.contains(['?', '#', ';']) {
        return Err(String::from(
            "must be a path only (no '?', '#' or ';' parameters)",
        ));
    }
    match canonical_path(path, false) {
        Ok(canonical) if canonical == path => Ok(()),
        Ok(canonical) => Err(alloc::format!(
            "is not in canonical form; write \"{canonical}\" (requests are matched on their canonical path)"
        )),
        Err(e) => Err(String::from(e.message())),
    }
}

/// The origin-form part of a request target (RFC 9112 §3.2): the target
/// itself, or the path and query of an `http`/`https` absolute-form target.
fn origin_form(target: &str) -> Result<&str, Error> {
    if target.starts_with('/') {
        return Ok(target);
    }
    let scheme_end = target.find("://").filter(|i| {
        let scheme = &target[..*i];
        scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")
    });
    let Some(scheme_end) = scheme_end else {
        return Err(match target {
            "" => err!(InvalidPath, "the request target is empty"),
            "*" => err!(
                InvalidPath,
                "the asterisk-form request target ('*') names no resource a rule could guard"
            ),
            _ => err!(
                InvalidPath,
                "the request target is neither a path starting with '/' nor an http(s) URL"
            ),
        });
    };
    let rest = &target[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    if authority.is_empty() || authority.contains('@') {
        return Err(err!(
            InvalidPath,
            "the absolute-form request target has an empty authority or userinfo"
        ));
    }
    match &rest[authority_end..] {
        "" => Ok("/"),
        origin if origin.starts_with('/') => Ok(origin),
        _ => Err(err!(
            InvalidPath,
            "the absolute-form request target has a query but no path"
        )),
    }
}

/// RFC 3986 unreserved characters.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Decodes what may be decoded, normalizes the rest, refuses what is
/// ambiguous (see the module docs). Returns the path before dot-segment
/// removal.
fn normalize_encoding(raw: &str) -> Result<String, Error> {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    // Bytes of the current run of encoded non-ASCII bytes, checked as UTF-8.
    let mut utf8_run: Vec<u8> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'%' {
            check_utf8_run(&mut utf8_run)?;
            match b {
                b'\\' => {
                    return Err(err!(
                        InvalidPath,
                        "the path has a backslash, which some servers read as '/'"
                    ))
                }
                0x21..=0x7e => out.push(char::from(b)),
                _ => {
                    return Err(err!(
                    InvalidPath,
                    "the path has a raw byte outside printable ASCII (0x{:02X}); percent-encode it",
                    b
                ))
                }
            }
            i += 1;
            continue;
        }
        let value = match (
            bytes.get(i + 1).copied().and_then(hex_value),
            bytes.get(i + 2).copied().and_then(hex_value),
        ) {
            (Some(h), Some(l)) => h * 16 + l,
            _ => {
                return Err(err!(
                    InvalidPath,
                    "the path has a '%' not followed by two hex digits"
                ))
            }
        };
        i += 3;
        if value >= 0x80 {
            utf8_run.push(value);
        } else {
            check_utf8_run(&mut utf8_run)?;
        }
        match value {
            b'/' | b'\\' => {
                return Err(err!(
                    InvalidPath,
                    "the path has an encoded '/' or '\\' (%2F, %5C), which upstreams decode differently"
                ))
            }
            b'%' => {
                return Err(err!(
                    InvalidPath,
                    "the path has an encoded '%' (%25): double encoding is refused"
                ))
            }
            0x00..=0x1f | 0x7f => {
                return Err(err!(
                    InvalidPath,
                    "the path has an encoded control character (%{:02X})",
                    value
                ))
            }
            v if is_unreserved(v) => out.push(char::from(v)),
            v => {
                out.push('%');
                out.push(char::from(HEX[usize::from(v >> 4)]));
                out.push(char::from(HEX[usize::from(v & 0xf)]));
            }
        }
    }
    check_utf8_run(&mut utf8_run)?;
    Ok(out)
}

fn check_utf8_run(run: &mut Vec<u8>) -> Result<(), Error> {
    if run.is_empty() {
        return Ok(());
    }
    let ok = core::str::from_utf8(run).is_ok();
    run.clear();
    if ok {
        Ok(())
    } else {
        Err(err!(
            InvalidPath,
            "the path has percent-encoded bytes that are not UTF-8"
        ))
    }
}

/// The canonical form of an origin-form path (without query).
fn canonical_path(raw: &str, merge_slashes: bool) -> Result<String, Error> {
    let decoded = normalize_encoding(raw)?;
    let mut segments: Vec<&str> = Vec::new();
    let mut parts = decoded.split('/').skip(1).peekable();
    while let Some(segment) = parts.next() {
        let last = parts.peek().is_none();
        let name = segment.split(';').next().unwrap_or_default();
        if segment != name && (name == "." || name == "..") {
            return Err(err!(
                InvalidPath,
                "the path has a ';' parameter on a dot segment (\"{}\")",
                segment
            ));
        }
        match segment {
            "." | ".." => {
                if segment == ".." {
                    segments.pop();
                }
                if last {
                    segments.push("");
                }
            }
            "" if !last => {
                if !merge_slashes {
                    return Err(err!(
                        InvalidPath,
                        "the path has an empty segment ('//') and paths.merge_slashes is false"
                    ));
                }
            }
            s if s.ends_with('.') => {
                return Err(err!(
                    InvalidPath,
                    "the path has a segment ending in '.' (\"{}\"), which some servers drop",
                    s
                ))
            }
            s => segments.push(s),
        }
    }
    let mut path = String::with_capacity(decoded.len());
    path.push('/');
    path.push_str(&segments.join("/"));
    Ok(path)
}

/// How a rule's text is compared with a path's match key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `path`: the key equals the text, or the text plus one `/`.
    Exact,
    /// `prefix`: the key starts with the text.
    Prefix,
    /// `path_separated_prefix`: the key is the text or starts with text + `/`.
    Separated,
}

/// A policy rule's matching part, prepared once at load.
#[derive(Debug, Clone)]
pub(crate) struct RuleMatcher {
    kind: Kind,
    /// The rule's path as written (canonical, checked at load).
    text: String,
    /// The same, ASCII-lower-cased, for case-insensitive matching.
    lower: String,
    /// Upper-cased methods, with `HEAD` added when `GET` is there.
    methods: Option<Vec<String>>,
}

impl RuleMatcher {
    /// Prepares a rule's matcher; the policy was checked, so exactly one of
    /// its path fields is set.
    pub(crate) fn new(rule: &crate::policy::Rule) -> RuleMatcher {
        // `Policy::check` (run by `Verifier::from_policy`) refuses a rule
        // without one of the three, so the empty prefix is never used.
        let (kind, text) = match (&rule.path, &rule.path_separated_prefix) {
            (Some(p), _) => (Kind::Exact, p.clone()),
            (None, Some(p)) => (Kind::Separated, p.clone()),
            (None, None) => (Kind::Prefix, rule.prefix.clone().unwrap_or_default()),
        };
        let methods = rule.methods.as_ref().map(|methods| {
            let mut upper: Vec<String> = methods.iter().map(|m| m.to_ascii_uppercase()).collect();
            if upper.iter().any(|m| m == "GET") && !upper.iter().any(|m| m == "HEAD") {
                upper.push(String::from("HEAD"));
            }
            upper
        });
        RuleMatcher {
            kind,
            lower: text.to_ascii_lowercase(),
            text,
            methods,
        }
    }

    /// Exact rules first (`0`), then prefixes, longest first.
    pub(crate) fn precedence(&self) -> (u8, core::cmp::Reverse<usize>) {
        match self.kind {
            Kind::Exact => (0, core::cmp::Reverse(0)),
            Kind::Prefix | Kind::Separated => (1, core::cmp::Reverse(self.text.len())),
        }
    }

    /// Whether the rule covers a request with this method and match key
    /// ([`match_key`], lower-cased when `case_sensitive` is false).
    pub(crate) fn matches(&self, method: &str, key: &str, case_sensitive: bool) -> bool {
        if let Some(methods) = &self.methods {
            if !methods.iter().any(|m| m.eq_ignore_ascii_case(method)) {
                return false;
            }
        }
        let text = if case_sensitive {
            &self.text
        } else {
            &self.lower
        };
        match self.kind {
            Kind::Exact => key == text || key.strip_suffix('/') == Some(text.as_str()),
            Kind::Prefix => key.starts_with(text.as_str()),
            Kind::Separated => key
                .strip_prefix(text.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/')),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(target: &str) -> Result<String, String> {
        RequestTarget::parse(target, true)
            .map(|t| t.origin_form())
            .map_err(|e| String::from(e.code().as_str()))
    }

    #[test]
    fn rfc3986_examples_of_dot_segment_removal() {
        // RFC 3986 §5.2.4 and §5.4.2 (abnormal examples), as paths.
        for (input, want) in [
            ("/a/b/c/./../../g", "/a/g"),
            ("/mid/content=5/../6", "/mid/6"),
            ("/../g", "/g"),
            ("/../../g", "/g"),
            ("/./g", "/g"),
            ("/g.h", "/g.h"),
            ("/.g", "/.g"),
            ("/..g", "/..g"),
            ("/a/b/..", "/a/"),
            ("/a/b/.", "/a/b/"),
            ("/a/..", "/"),
            ("/", "/"),
        ] {
            assert_eq!(canon(input).as_deref(), Ok(want), "{input}");
        }
    }

    #[test]
    fn the_reported_walkarounds_become_the_guarded_path() {
        for input in [
            "/orders/../admin/users",
            "/x/%2e%2e/admin/users",
            "/x/%2E%2E/admin/users",
            "/./admin/users",
            "/%61dmin/users",
            "//admin/users",
            "/admin//users",
            "http://x/admin/users",
            "HTTPS://x:8443/admin/users",
        ] {
            assert_eq!(canon(input).as_deref(), Ok("/admin/users"), "{input}");
        }
    }

    #[test]
    fn ambiguous_targets_are_refused() {
        for input in [
            "/x%2F..%2Fadmin/users",
            "/x%2f..%2fadmin",
            "/a%5Cb",
            "/a\\b",
            "/a%252e%252e/b",
            "/..;/admin",
            "/a/.;x/b",
            "/admin.",
            "/admin./users",
            "/a/.../b",
            "/a%00b",
            "/a%0Ab",
            "/a%7Fb",
            "/a%C3",
            "/a%C3%28",
            "/a%FF",
            "/a%",
            "/a%4",
            "/a%G1",
            "/a b",
            "/a\u{e9}",
            "/a#frag",
            "*",
            "",
            "admin/users",
            "ftp://x/admin",
            "http://user@x/admin",
            "http:///admin",
            "http://x?a=1",
        ] {
            assert_eq!(canon(input), Err(String::from("invalid_path")), "{input:?}");
        }
    }

    #[test]
    fn encodings_are_normalized_not_decoded() {
        assert_eq!(canon("/a%3bb").as_deref(), Ok("/a%3Bb"));
        assert_eq!(canon("/caf%c3%a9").as_deref(), Ok("/caf%C3%A9"));
        assert_eq!(canon("/%7euser").as_deref(), Ok("/~user"));
        assert_eq!(canon("/a%20b").as_deref(), Ok("/a%20b"));
        assert_eq!(canon("/a?x=%2F..%2F&y").as_deref(), Ok("/a?x=%2F..%2F&y"));
        assert_eq!(canon("http://h").as_deref(), Ok("/"));
        assert_eq!(canon("/a;v=1/b").as_deref(), Ok("/a;v=1/b"));
        assert_eq!(canon("/a/").as_deref(), Ok("/a/"));
    }

    #[test]
    fn merge_slashes_off_refuses_empty_segments() {
        assert!(RequestTarget::parse("//admin", false).is_err());
        assert!(RequestTarget::parse("/a//b", false).is_err());
        assert_eq!(RequestTarget::parse("/a/", false).unwrap().path(), "/a/");
    }

    #[test]
    fn rule_paths_must_be_canonical() {
        assert!(check_rule_path("/api").is_ok());
        assert!(check_rule_path("/api/").is_ok());
        assert!(check_rule_path("/").is_ok());
        assert!(check_rule_path("/a/../b").unwrap_err().contains("\"/b\""));
        assert!(check_rule_path("/%61pi").unwrap_err().contains("\"/api\""));
        assert!(check_rule_path("//api").is_err());
        assert!(check_rule_path("/api;x").is_err());
        assert!(check_rule_path("/api?x").is_err());
        assert!(check_rule_path("api").is_err());
    }
}
