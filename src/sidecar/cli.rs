//! The `jwtgate` command line: `serve`, and `inspect` / `verify` with the
//! npm CLI's output and exit codes (`js/bin/jwtgate.mjs`; the sidecar tests
//! run both on the same tokens and compare what they print). What they print
//! is the core's [`crate::report`], for both.

extern crate std;

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::time::Duration;
use std::io::Read;

use super::check::{Canonical, Mode};
use super::server::{self, Options};
use super::state;
use crate::report::{self, Format};
use crate::verify::VerifyOptions;

const USAGE: &str = "usage:
  jwtgate inspect [--now T] [--json] [<token>|-]
  jwtgate verify --policy <policy.json> [--path /x] [--now T] [--json] [<token>|-]
  jwtgate serve --policy <policy.json> --listen 127.0.0.1:PORT [--admin 127.0.0.1:PORT]
                [--mode nginx|traefik|envoy] [--canonical refuse|forward] [--threads N]
                [--watch-ms MS] [--grace S] [--log-level info]

The token is read from standard input when it is \"-\" or not given.
--now T   judge times at T (Unix seconds or an ISO 8601 date) instead of the clock
--json    print JSON instead of text

inspect shows the header and claims WITHOUT verifying anything.
verify exits 0 when the token is accepted, 1 when it is refused, 2 on a usage or policy error.
serve answers auth sub-requests (nginx auth_request, Traefik ForwardAuth, Envoy ext_authz)
until SIGTERM; SIGHUP or a change of the policy file reloads it.";

const EXIT_OK: i32 = 0;
const EXIT_REFUSED: i32 = 1;
const EXIT_USAGE: i32 = 2;

/// A usage error: printed with the usage text, exit code 2.
struct Usage(String);

/// Parsed arguments: options by name, and positionals.
#[derive(Default)]
struct Args {
    values: Vec<(String, String)>,
    flags: Vec<String>,
    positionals: Vec<String>,
}

impl Args {
    /// Parses like Node's `util.parseArgs`: `--name value`, `--name=value`,
    /// boolean flags, `--` ends the options; unknown options are errors.
    fn parse(args: &[String], valued: &[&str], boolean: &[&str]) -> Result<Args, Usage> {
        let mut out = Args::default();
        let mut rest = args.iter();
        while let Some(arg) = rest.next() {
            if arg == "--" {
                out.positionals.extend(rest.by_ref().cloned());
                break;
            }
            let Some(option) = arg
                .strip_prefix("--")
                .or_else(|| (arg == "-h").then_some("help"))
            else {
                out.positionals.push(arg.clone());
                continue;
            };
            let (name, inline) = match option.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (option, None),
            };
            if valued.contains(&name) {
                let value = match inline {
                    Some(v) => v,
                    None => rest
                        .next()
                        .filter(|v| !v.starts_with('-') || v.as_str() == "-")
                        .cloned()
                        .ok_or_else(|| {
                            Usage(std::format!("option --{name} <value> needs a value"))
                        })?,
                };
                out.values.push((name.to_string(), value));
            } else if boolean.contains(&name) && inline.is_none() {
                out.flags.push(name.to_string());
            } else {
                return Err(Usage(std::format!("unknown option {arg:?}")));
            }
        }
        Ok(out)
    }

    fn value(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }
}

/// Runs the command line (without the program name); returns the exit code.
pub fn main(argv: &[String]) -> i32 {
    let mut out = Vec::new();
    let result = run(argv, &mut out);
    match result {
        Ok(code) => {
            if !out.is_empty() {
                std::println!("{}", out.join("\n"));
            }
            code
        }
        Err(Usage(message)) => {
            std::eprintln!("jwtgate: {message}\n\n{USAGE}");
            EXIT_USAGE
        }
    }
}

fn run(argv: &[String], out: &mut Vec<String>) -> Result<i32, Usage> {
    let (command, rest) = match argv.split_first() {
        Some((c, rest)) => (c.as_str(), rest),
        None => return Err(Usage("no command given".into())),
    };
    if matches!(command, "help" | "--help" | "-h") {
        out.push(USAGE.into());
        return Ok(EXIT_OK);
    }
    match command {
        "inspect" | "verify" => {
            let args = Args::parse(rest, &["policy", "path", "now"], &["json", "help"])?;
            if args.flag("help") {
                out.push(USAGE.into());
                return Ok(EXIT_OK);
            }
            if command == "inspect" {
                inspect(&args, out)
            } else {
                verify(&args, out)
            }
        }
        "serve" => serve(rest),
        other => Err(Usage(std::format!("unknown command: {other}"))),
    }
}

fn serve(rest: &[String]) -> Result<i32, Usage> {
    let (options, log_level) = serve_options(rest)?;
    super::logger::init(log_level).map_err(Usage)?;
    match server::serve(options) {
        Ok(()) => Ok(EXIT_OK),
        Err(message) => {
            log::error!("jwtgate: cannot serve: {message}");
            Ok(EXIT_USAGE)
        }
    }
}

/// Parses a command line as [`main`] would, without running it: no file or
/// standard input is read, no logger installed, nothing served. `Ok` when
/// the command would start, else the usage error [`main`] prints. (For the
/// fuzz target of the argument parsers.)
pub fn parse_only(argv: &[String]) -> Result<(), String> {
    let parsed = match argv.split_first() {
        None => Err(Usage("no command given".into())),
        Some((c, _)) if matches!(c.as_str(), "help" | "--help" | "-h") => Ok(()),
        Some((c, rest)) if c == "inspect" || c == "verify" => {
            Args::parse(rest, &["policy", "path", "now"], &["json", "help"]).and_then(|args| {
                if args.value("now").is_some() {
                    parse_now(args.value("now"))?;
                }
                if c == "verify" && args.value("policy").is_none() && !args.flag("help") {
                    return Err(Usage("verify needs --policy <policy.json>".into()));
                }
                if args.positionals.len() > 1 {
                    return Err(Usage("give one token".into()));
                }
                Ok(())
            })
        }
        Some((c, rest)) if c == "serve" => serve_options(rest).map(|_| ()),
        Some((other, _)) => Err(Usage(std::format!("unknown command: {other}"))),
    };
    parsed.map_err(|Usage(message)| message)
}

/// `serve`'s options and log level, from its arguments.
fn serve_options(rest: &[String]) -> Result<(Options, log::LevelFilter), Usage> {
    let args = Args::parse(
        rest,
        &[
            "policy",
            "listen",
            "admin",
            "mode",
            "canonical",
            "threads",
            "watch-ms",
            "grace",
            "log-level",
        ],
        &["help"],
    )?;
    if !args.positionals.is_empty() {
        return Err(Usage(std::format!(
            "serve takes no argument {:?}",
            args.positionals[0]
        )));
    }
    let policy = args
        .value("policy")
        .ok_or_else(|| Usage("serve needs --policy <policy.json>".into()))?;
    let address = |name: &str, value: &str| {
        value.parse().map_err(|_| {
            Usage(std::format!(
                "--{name}: not an address like 127.0.0.1:8080: {value}"
            ))
        })
    };
    let listen = address(
        "listen",
        args.value("listen")
            .ok_or_else(|| Usage("serve needs --listen <address:port>".into()))?,
    )?;
    let admin = args
        .value("admin")
        .map(|a| address("admin", a))
        .transpose()?;
    let mode = args.value("mode").unwrap_or("nginx");
    let mode = Mode::from_name(mode).ok_or_else(|| {
        Usage(std::format!(
            "--mode: nginx, traefik or envoy, not {mode:?}"
        ))
    })?;
    let canonical = match args.value("canonical").unwrap_or("refuse") {
        "refuse" => Canonical::Refuse,
        "forward" => Canonical::Forward,
        other => {
            return Err(Usage(std::format!(
                "--canonical: refuse or forward, not {other:?}"
            )))
        }
    };
    let number = |name: &str, default: u64| -> Result<u64, Usage> {
        args.value(name).map_or(Ok(default), |v| {
            v.parse()
                .map_err(|_| Usage(std::format!("--{name}: not a whole number: {v}")))
        })
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let threads = number("threads", cores)?;
    let watch = Duration::from_millis(number("watch-ms", 1000)?);
    let grace = Duration::from_secs(number("grace", 10)?);
    let options = Options {
        policy: policy.into(),
        listen,
        admin,
        mode,
        canonical,
        threads: usize::try_from(threads).unwrap_or(1),
        watch,
        grace,
    };
    let level = super::logger::level(args.value("log-level").unwrap_or("info")).map_err(Usage)?;
    Ok((options, level))
}

/// `--now`: Unix seconds, or an ISO 8601 date (UTC unless it has an offset).
fn parse_now(value: Option<&str>) -> Result<f64, Usage> {
    let Some(value) = value else {
        return Ok(state::now() as f64);
    };
    let digits = value.strip_prefix('-').unwrap_or(value);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return value
            .parse()
            .map_err(|_| Usage("--now: out of range".into()));
    }
    iso_seconds(value).map(|s| s.floor()).ok_or_else(|| {
        Usage(std::format!(
            "--now: not Unix seconds or an ISO 8601 date: {value}"
        ))
    })
}

/// `YYYY-MM-DD[THH:MM[:SS[.fff]]][Z|±HH:MM]` as Unix seconds.
fn iso_seconds(s: &str) -> Option<f64> {
    let num = |t: &str| -> Option<i64> {
        (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())).then(|| t.parse().ok())?
    };
    let (date, time) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let mut parts = date.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d) = (num(y)?, num(m)?, num(d)?);
    if !(1..=12).contains(&m) || !(1..=days_in_month(y, m)).contains(&d) {
        return None;
    }
    let mut seconds = (days_from_civil(y, m, d) * 86_400) as f64;
    if let Some(time) = time {
        let (clock, offset) = if let Some(c) = time.strip_suffix('Z') {
            (c, 0)
        } else if let Some(i) = time.rfind(['+', '-']) {
            let (c, o) = time.split_at(i);
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let (oh, om) = o[1..].split_once(':')?;
            if oh.len() != 2 || om.len() != 2 || num(oh)? > 23 || num(om)? > 59 {
                return None;
            }
            (c, sign * (num(oh)? * 3600 + num(om)? * 60))
        } else {
            (time, 0)
        };
        let mut fields = clock.split(':');
        let (h, mi) = (fields.next()?, fields.next()?);
        let sec = fields.next();
        if fields.next().is_some() || h.len() != 2 || mi.len() != 2 {
            return None;
        }
        let (h, mi) = (num(h)?, num(mi)?);
        let sec = match sec {
            None => 0.0,
            Some(sec) => {
                let (whole, frac) = sec.split_once('.').unwrap_or((sec, ""));
                if whole.len() != 2
                    || num(whole)? > 59
                    || (sec.contains('.') && num(frac).is_none())
                {
                    return None;
                }
                sec.parse::<f64>().ok()?
            }
        };
        if h > 24 || mi > 59 || (h == 24 && (mi != 0 || sec != 0.0)) {
            return None;
        }
        seconds += (h * 3600 + mi * 60 - offset) as f64 + sec;
    }
    Some(seconds)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn read_token(positionals: &[String]) -> Result<String, Usage> {
    if positionals.len() > 1 {
        return Err(Usage("give one token".into()));
    }
    let token = match positionals.first().map(String::as_str) {
        None | Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Usage(std::format!("cannot read standard input: {e}")))?;
            text
        }
        Some(arg) => arg.to_string(),
    };
    let token = token.trim();
    if token.is_empty() {
        return Err(Usage("no token given (argument or standard input)".into()));
    }
    Ok(token.to_string())
}

/// `--json` as the report's format.
fn format(args: &Args) -> Format {
    if args.flag("json") {
        Format::Json
    } else {
        Format::Text
    }
}

fn inspect(args: &Args, out: &mut Vec<String>) -> Result<i32, Usage> {
    let now = parse_now(args.value("now"))?;
    let token = read_token(&args.positionals)?;
    match crate::decode::decode(&token, Some(now as i64)) {
        Ok(decoded) => {
            out.push(report::decoded(&decoded, now, format(args)));
            Ok(EXIT_OK)
        }
        Err(e) => {
            out.push(report::undecodable(&e));
            Ok(EXIT_REFUSED)
        }
    }
}

fn verify(args: &Args, out: &mut Vec<String>) -> Result<i32, Usage> {
    let policy_path = args
        .value("policy")
        .ok_or_else(|| Usage("verify needs --policy <policy.json>".into()))?;
    let now = parse_now(args.value("now"))?;
    let policy = std::fs::read_to_string(policy_path)
        .map_err(|e| Usage(std::format!("cannot read the policy: {e}")))?;
    let token = read_token(&args.positionals)?;
    let verifier = state::build(&policy).map_err(|e| {
        Usage(std::format!(
            "invalid policy {policy_path}: {}: {}",
            e.code().as_str(),
            e.message()
        ))
    })?;
    let explanation = verifier.explain(
        &token,
        &VerifyOptions {
            now: now as i64,
            path: args.value("path"),
        },
    );
    out.push(report::explanation(&explanation, format(args)));
    Ok(if explanation.ok {
        EXIT_OK
    } else {
        EXIT_REFUSED
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates_parse_as_javascript_does() {
        assert_eq!(iso_seconds("2026-01-02T00:00:00Z"), Some(1_767_312_000.0));
        assert_eq!(iso_seconds("2026-01-02"), Some(1_767_312_000.0));
        assert_eq!(
            iso_seconds("2026-01-02T01:00:00+01:00"),
            Some(1_767_312_000.0)
        );
        assert_eq!(iso_seconds("2026-01-02T00:00Z"), Some(1_767_312_000.0));
        assert_eq!(iso_seconds("1970-01-01T00:00:00.500Z"), Some(0.5));
        for bad in [
            "someday",
            "2026-02-30",
            "2026-13-01",
            "2026-1-01",
            "2026-01-01T25:00Z",
            "2026-01-01T00:00:00+1:00",
        ] {
            assert_eq!(iso_seconds(bad), None, "{bad}");
        }
    }

    proptest::proptest! {
        /// `--now` and the argument parser take anything a shell passes.
        #[test]
        fn parsers_never_panic(text in "\\PC{0,40}", args in proptest::collection::vec("\\PC{0,12}", 0..6)) {
            let _ = iso_seconds(&text);
            let _ = parse_now(Some(&text));
            let args: Vec<String> = args;
            let _ = Args::parse(&args, &["policy", "now"], &["json"]);
        }
    }
}
