//! Fuzzing regressions, on stable Rust, in every `cargo test`.
//!
//! The fuzz target bodies (`fuzz/src/lib.rs`, the same code the libFuzzer
//! binaries run, with their property checks) are included here and fed:
//!
//! - every seed in `fuzz/seeds/<target>/` (from `fuzz/gen_seeds.py`);
//! - every input libFuzzer left in `fuzz/artifacts/<target>/` (crashes,
//!   timeouts, leaks: local and gitignored, so a crash found by
//!   `scripts/fuzz.sh` fails here until it is fixed);
//! - the named inputs below: crashes found by fuzzing, kept forever.
//!
//! Named regressions: none yet (no crash found so far). When `scripts/fuzz.sh`
//! finds one, add its (minimized) input here as a `#[test]` named after the bug.

#[path = "../fuzz/src/lib.rs"]
mod fuzz;

use std::path::{Path, PathBuf};

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 8] = [
    ("token", fuzz::token),
    ("jwks", fuzz::jwks),
    ("policy", fuzz::policy),
    ("authorize", fuzz::authorize),
    ("path", fuzz::path),
    ("claim_path", fuzz::claim_path),
    ("pem", fuzz::pem),
    ("key_source", fuzz::key_source),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files of a folder, sorted; none if it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs each input through `target`, reporting every input that panics.
fn replay(target: &str, run: Target, inputs: &[PathBuf]) -> Vec<String> {
    let mut failures = Vec::new();
    for path in inputs {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if let Err(panic) = std::panic::catch_unwind(|| run(&data)) {
            let why = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            failures.push(format!("{target}: {}: {why}", path.display()));
        }
    }
    failures
}

#[test]
fn seeds_pass_every_target() {
    let mut failures = Vec::new();
    for (name, run) in TARGETS {
        let seeds = files(&fuzz_dir().join("seeds").join(name));
        assert!(
            seeds.len() >= 5,
            "fuzz/seeds/{name} has {} seeds; regenerate them with python3 fuzz/gen_seeds.py",
            seeds.len()
        );
        failures.extend(replay(name, run, &seeds));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The sidecar's targets (`cargo test --features sidecar --test regressions`).
#[cfg(feature = "sidecar")]
#[test]
fn sidecar_seeds_and_artifacts_pass() {
    let targets: [(&str, Target); 2] = [
        ("sidecar_request", fuzz::sidecar::request),
        ("sidecar_cli", fuzz::sidecar::cli),
    ];
    let mut failures = Vec::new();
    for (name, run) in targets {
        let seeds = files(&fuzz_dir().join("seeds").join(name));
        assert!(
            seeds.len() >= 5,
            "fuzz/seeds/{name} has {} seeds",
            seeds.len()
        );
        failures.extend(replay(name, run, &seeds));
        failures.extend(replay(
            name,
            run,
            &files(&fuzz_dir().join("artifacts").join(name)),
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn fuzz_artifacts_do_not_crash() {
    let mut failures = Vec::new();
    let mut count = 0;
    for (name, run) in TARGETS {
        let artifacts = files(&fuzz_dir().join("artifacts").join(name));
        count += artifacts.len();
        failures.extend(replay(name, run, &artifacts));
    }
    println!("replayed {count} fuzz artifacts");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The seeds reach deep: the valid fixture tokens are accepted by the
/// fixture policy at the fuzzing time, so the fuzzer starts past the
/// signature and claim checks, not only in the parser.
#[test]
fn seeds_reach_a_verified_token() {
    let seeds = files(&fuzz_dir().join("seeds/token"));
    let accepted = fuzz::with_verifier(|verifier| {
        seeds
            .iter()
            .filter(|path| {
                let token = std::fs::read_to_string(path).expect("a text seed");
                let options = jwtgate::verify::VerifyOptions {
                    now: fuzz::NOW,
                    path: None,
                };
                verifier.verify(&token, &options).is_ok()
            })
            .count()
    });
    assert!(
        accepted >= 10,
        "only {accepted} token seeds verify at NOW against the fixture policy: if the \
         fixtures changed, regenerate the seeds with python3 fuzz/gen_seeds.py"
    );
}

/// The sidecar seeds reach the allow path (the canonical-target property).
#[cfg(feature = "sidecar")]
#[test]
fn sidecar_seeds_reach_an_allow() {
    use jwtgate::http::{Decision, Request};
    use jwtgate::sidecar::check::{self, Canonical, Mode};
    let seed =
        std::fs::read_to_string(fuzz_dir().join("seeds/sidecar_request/nginx_valid")).unwrap();
    let headers: Vec<(String, String)> = seed
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let (method, target) = check::original(Mode::Nginx, "GET", "/_jwtgate", &headers).unwrap();
    let request = Request {
        method: &method,
        path: &target,
        headers: &headers,
        case_insensitive: false,
    };
    let decision = fuzz::with_verifier(|v| {
        check::decide_with(v, None, Canonical::Refuse, &request, fuzz::NOW)
    });
    assert!(matches!(decision, Decision::Allow(_)), "{decision:?}");
}
