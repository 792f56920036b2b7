//! The sidecar's parsers (feature `sidecar`): the sub-request contract and
//! the command line.
//!
//! - `sidecar_request`: the original method and target
//!   ([`check::original`]: `X-Original-*` for nginx, `X-Forwarded-*` for
//!   Traefik, the request's own for Envoy), the decision on them and the
//!   answer ([`check::answer_for`]), in every mode and canonical setting.
//!   Properties: the original comes only from the mode's headers, each
//!   present once and not empty; a 200 names the target to forward, and with
//!   `--canonical refuse` that is the original target unchanged; every
//!   answer header is a valid HTTP field (lower-case token name, no CR, LF
//!   or NUL in the value), so nothing a client sends can split the answer.
//! - `sidecar_cli`: `jwtgate` arguments (NUL-separated) through
//!   [`cli::parse_only`] (`serve`'s options, `inspect`/`verify`'s, `--now`
//!   dates): never a panic, and a refusal always says why.

use jwtgate::http::{Decision, Request};
use jwtgate::sidecar::check::{self, Canonical, Mode};
use jwtgate::sidecar::cli;

use super::{with_verifier, NOW};

/// `sidecar_request`: the first line is `METHOD TARGET` (what reached the
/// service), the next ones `name: value` headers.
pub fn request(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let first = lines.next().unwrap_or_default();
    let (method, target) = first.split_once(' ').unwrap_or(("GET", first));
    // What hyper hands the service: no CR, LF or NUL in a header value.
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap_or((line, ""));
            (name.to_owned(), value.trim_start().to_owned())
        })
        .filter(|(_, v)| !v.contains(['\r', '\0']))
        .collect();
    for mode in [Mode::Nginx, Mode::Traefik, Mode::Envoy] {
        let Ok((original_method, original_target)) =
            check::original(mode, method, target, &headers)
        else {
            if let Some((m, t)) = mode.headers() {
                assert!(
                    count(&headers, m) != 1 || count(&headers, t) != 1 || empty(&headers, m, t),
                    "{mode:?}: refused although both headers are there once"
                );
            } else {
                panic!("envoy mode refused a sub-request");
            }
            continue;
        };
        match mode.headers() {
            None => assert_eq!((&*original_method, &*original_target), (method, target)),
            Some((m, t)) => {
                assert_eq!(Some(&*original_method), single(&headers, m));
                assert_eq!(Some(&*original_target), single(&headers, t));
            }
        }
        let request = Request {
            method: &original_method,
            path: &original_target,
            headers: &headers,
            case_insensitive: false,
        };
        for canonical in [Canonical::Refuse, Canonical::Forward] {
            let decision = with_verifier(|verifier| {
                check::decide_with(verifier, None, canonical, &request, NOW)
            });
            let allowed = matches!(decision, Decision::Allow(_));
            let answer = check::answer_for(Ok(decision), mode, &original_target, &headers);
            for (name, value) in &answer.headers {
                assert!(
                    !name.is_empty()
                        && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
                        && name.to_ascii_lowercase() == *name,
                    "{mode:?}: answer header name {name:?}"
                );
                assert!(
                    !value.contains(['\r', '\n', '\0']),
                    "{mode:?}: answer header {name} = {value:?}"
                );
            }
            let forward = single(&answer.headers, check::TARGET_HEADER);
            assert_eq!(allowed, answer.status == 200);
            if allowed {
                let forward = forward.expect("a 200 names the target to forward");
                if canonical == Canonical::Refuse {
                    assert_eq!(
                        forward, &*original_target,
                        "refuse mode forwards the target unchanged"
                    );
                }
            } else {
                assert_eq!(forward, None, "a denial names no target");
            }
        }
    }
}

fn count(headers: &[(String, String)], name: &str) -> usize {
    headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .count()
}

fn single<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    let mut values = headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name));
    match (values.next(), values.next()) {
        (Some((_, v)), None) => Some(v),
        _ => None,
    }
}

fn empty(headers: &[(String, String)], m: &str, t: &str) -> bool {
    single(headers, m).is_some_and(str::is_empty) || single(headers, t).is_some_and(str::is_empty)
}

/// `sidecar_cli`: NUL-separated arguments (without the program name).
pub fn cli(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let argv: Vec<String> = text.split('\0').map(str::to_owned).collect();
    let parsed = cli::parse_only(&argv);
    if let Err(message) = &parsed {
        assert!(!message.is_empty(), "a usage error says what is wrong");
    }
}
