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
//! Named regressions: the crashes found by fuzzing, below. When
//! `scripts/fuzz.sh` finds one, add its (minimized) input here as a `#[test]`
//! named after the bug.

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

/// The `policy` target (2026-12-01): an unknown member last in its object
/// lost its name from the config error's path (serde_json reads the `}` after
/// it before it reports the error).
#[test]
fn an_unknown_last_member_keeps_its_name_in_the_path() {
    fuzz::policy(br#"{"providBLIC KEY-----\n"}, {"pemd": "p384", "alg": "ES384"}"#);
    fuzz::policy(br#"{"providers": {"idp": {"issuer": "i", "jwks": {"keys": []}, "x"}}}"#);
}

/// The `policy` target (2026-12-01): a duplicate member is named in the path,
/// as an unknown one is (serde_path_to_error leaves it out; the core says it).
#[test]
fn a_duplicate_member_is_named_in_the_path() {
    fuzz::policy(br#"{"providers": {"idp": {"issuer": "i", "max_lifetime_seconds": 1, "max_lifetime_seconds": 2}}}"#);
    let e = jwtgate::policy::Policy::from_json(
        r#"{"providers": {"idp": {"issuer": "i", "issuer": "j"}}}"#,
    )
    .unwrap_err();
    assert_eq!(
        e.message(),
        "providers.idp.issuer: duplicate field `issuer` at line 1 column 46"
    );
}

/// The `policy` target (2026-12-02, CI's short pass): an enum member given as
/// an object whose one name is no variant (`"signature_verifier": {"idp": ...}`)
/// is refused at `signature_verifier`, as serde_path_to_error says; the name
/// refused is the variant, not a member.
#[test]
fn an_unknown_variant_given_as_an_object_is_not_a_member() {
    let json = r#"{"providers": {}, "signature_verifier": {"idp": 1}}"#;
    fuzz::policy(json.as_bytes());
    let e = jwtgate::policy::Policy::from_json(json).unwrap_err();
    assert_eq!(
        e.message(),
        "signature_verifier: unknown variant `idp`, expected one of `auto`, `host`, `rust` at line 1 column 46"
    );
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

/// A config error names its field: where the JSON does not fit the types,
/// the path the core takes from serde_json's error position
/// (`json::path_at`) is the one `serde_path_to_error` tracks through the
/// types ([`fuzz::json_stage_error`], as the `policy` target checks); for
/// malformed JSON the error is serde_json's (line and column). Over every
/// truncation and deletion of the policy seeds and insertions of JSON
/// snippets (each snippet at an eighth of the positions).
#[test]
fn config_errors_name_the_field_the_types_give() {
    const SNIPPETS: [&str; 16] = [
        "\"",
        ",",
        "{",
        "}",
        "[",
        "]",
        ":",
        "1",
        "null",
        "\"x\"",
        "{\"a\":1}",
        "[1]",
        "\\",
        "-",
        "\"\\u00\"",
        "\"z\":",
    ];
    let mut differences = Vec::new();
    let (mut inputs, mut refused, mut data) = (0usize, 0usize, 0usize);
    let mut compare = |what: String, json: &str| {
        inputs += 1;
        let Some(want) = fuzz::json_stage_error(json) else {
            return;
        };
        refused += 1;
        data += usize::from(want.data);
        let got = jwtgate::policy::Policy::from_json(json);
        let got = got.as_ref().err().map_or("(loaded)", |e| e.message());
        let same = if want.data {
            got == want.message
        } else {
            got.ends_with(&format!(": {}", want.error))
        };
        if !same {
            differences.push(format!("{what}\n  types: {}\n  core:  {got}", want.message));
        }
    };
    for path in files(&fuzz_dir().join("seeds/policy")) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let seed = std::fs::read_to_string(&path).expect("a text seed");
        assert!(
            fuzz::json_stage_error(&seed).is_none(),
            "the seed {name} must parse"
        );
        let cuts: Vec<usize> = (0..=seed.len())
            .filter(|&i| seed.is_char_boundary(i))
            .collect();
        for w in cuts.windows(2) {
            let (i, next) = (w[0], w[1]);
            compare(format!("{name}, cut at {i}"), &seed[..i]);
            compare(
                format!("{name}, byte {i} deleted"),
                &format!("{}{}", &seed[..i], &seed[next..]),
            );
            for (k, snippet) in SNIPPETS.iter().enumerate() {
                if (i + k) % 8 == 0 {
                    compare(
                        format!("{name}, {snippet} inserted at {i}"),
                        &format!("{}{snippet}{}", &seed[..i], &seed[i..]),
                    );
                }
            }
        }
    }
    assert!(
        refused > inputs / 2 && data > refused / 10,
        "{refused} of {inputs} refused, {data} for their types: the mutations do not reach the errors"
    );
    assert!(
        differences.is_empty(),
        "{} of {refused} refused inputs differ, e.g.:\n{}",
        differences.len(),
        differences[..differences.len().min(15)].join("\n")
    );
}
