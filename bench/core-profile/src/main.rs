//! Times (and lets perf/callgrind see) the core's per-request work natively:
//! `Verifier::authorize` on a GET with `Authorization: Bearer <token>`, the
//! call the Envoy filter makes, without the wasm VM and the proxy-wasm ABI.
//!
//! ```text
//! core-profile <input-dir> [seconds-per-case] [alg ...]
//! ```
//! Each case runs for about `seconds-per-case` (default 0.3) after a warm-up
//! of a tenth of that; `CORE_PROFILE_ONLY=hot|cold|cached|cached_cold|missing` runs one
//! case only (for `perf record` / `valgrind --tool=callgrind`).
//! `<input-dir>` holds `policy-<ALG>.json` (cache off) and `tokens-<ALG>.txt`
//! (one token per line), written by bench/envoy_bench.py. For each algorithm it
//! prints one JSON line with nanoseconds per call for: the same token, cache
//! off ("hot"); a different token each call, cache off ("cold"); the same
//! token, cache on ("cached"); a different token each call with a cache half
//! as large as the token set ("cached_cold": every call misses and inserts); and the parts: `Verifier::from_json` once, and
//! a decision for a request without a token (rule lookup and response only).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use jwtgate::http::{Decision, Request};
use jwtgate::{VerifiedCache, Verifier};

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().expect("usage: core-profile <input-dir> [seconds-per-case] [alg ...]");
    let budget: f64 = args.next().map_or(0.3, |n| n.parse().expect("seconds-per-case"));
    let mut algs: Vec<String> = args.collect();
    if algs.is_empty() {
        algs = ["RS256", "ES256", "EdDSA", "HS256"].map(String::from).to_vec();
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    for alg in algs {
        let policy = std::fs::read_to_string(format!("{dir}/policy-{alg}.json")).expect("policy");
        let tokens: Vec<String> = std::fs::read_to_string(format!("{dir}/tokens-{alg}.txt"))
            .expect("tokens")
            .lines()
            .map(|t| format!("Bearer {t}"))
            .collect();
        let t = Instant::now();
        let verifier = Verifier::from_json(&policy).expect("policy loads");
        let setup_ns = t.elapsed().as_nanos();
        let headers_for = |auth: &str| {
            vec![
                ("host".to_string(), "api.example.com".to_string()),
                ("user-agent".to_string(), "wrk".to_string()),
                ("authorization".to_string(), auth.to_string()),
            ]
        };
        let hot = headers_for(&tokens[0]);
        let cold: Vec<_> = tokens.iter().map(|t| headers_for(t)).collect();
        let none = vec![("host".to_string(), "api.example.com".to_string())];
        let run = |headers: &[(String, String)], cache: Option<&mut VerifiedCache>, want_allow: bool| {
            let r = Request { method: "GET", path: "/orders", headers, case_insensitive: false };
            let d = verifier.authorize(&r, now, cache);
            match (&d, want_allow) {
                (Decision::Allow(_), true) | (Decision::Deny(_), false) => {}
                _ => panic!("{alg}: unexpected decision {d:?}"),
            }
            std::hint::black_box(d);
        };
        // Runs `f` in chunks until the budget is spent; returns ns per call.
        let time = |f: &mut dyn FnMut(usize)| {
            let run_for = |secs: f64, f: &mut dyn FnMut(usize)| {
                let t = Instant::now();
                let mut n = 0usize;
                while t.elapsed().as_secs_f64() < secs {
                    for _ in 0..16 {
                        f(n);
                        n += 1;
                    }
                }
                t.elapsed().as_nanos() as f64 / n as f64
            };
            run_for(budget / 10.0, f);
            run_for(budget, f)
        };
        let mode = std::env::var("CORE_PROFILE_ONLY").unwrap_or_default();
        let mut out = format!("{{\"alg\":\"{alg}\",\"from_json_ns\":{setup_ns}");
        if mode.is_empty() || mode == "hot" {
            let ns = time(&mut |_| run(&hot, None, true));
            out += &format!(",\"hot_ns\":{ns:.0}");
        }
        if mode.is_empty() || mode == "cold" {
            let ns = time(&mut |i| run(&cold[i % cold.len()], None, true));
            out += &format!(",\"cold_ns\":{ns:.0}");
        }
        if mode.is_empty() || mode == "cached" {
            let mut cache = VerifiedCache::new(1024, 1 << 20);
            let ns = time(&mut |_| run(&hot, Some(&mut cache), true));
            out += &format!(",\"cached_ns\":{ns:.0}");
        }
        if mode.is_empty() || mode == "cached_cold" {
            // More distinct tokens than entries: every lookup misses, verifies,
            // inserts and evicts (the worst case of the cache).
            let mut cache = VerifiedCache::new(cold.len() / 2, 1 << 20);
            let ns = time(&mut |i| run(&cold[i % cold.len()], Some(&mut cache), true));
            out += &format!(",\"cached_cold_ns\":{ns:.0}");
        }
        if mode.is_empty() || mode == "missing" {
            let ns = time(&mut |_| run(&none, None, false));
            out += &format!(",\"no_token_ns\":{ns:.0}");
        }
        println!("{out}}}");
    }
}
