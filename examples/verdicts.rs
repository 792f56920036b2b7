//! Prints jwtgate's verdict for each token on stdin, one JSON object a line:
//! `{"token": "...", "now": 1700000000, "path": "/x"}` in,
//! `{"ok": true, "provider": "idp"}` or `{"ok": false, "code": "expired"}` out.
//!
//! Used by the differential test (`tests/differential/`) to compare jwtgate
//! with an independent library on thousands of tokens.
//!
//! Usage: `cargo run --release --example verdicts -- policy.json < tokens.jsonl`

use std::io::{BufRead, Write};

use jwtgate::verify::VerifyOptions;
use jwtgate::Verifier;
use serde_json::{json, Value};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let policy_path = std::env::args()
        .nth(1)
        .ok_or("usage: verdicts POLICY.json < tokens.jsonl")?;
    let verifier = Verifier::from_json(&std::fs::read_to_string(policy_path)?)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for line in std::io::stdin().lock().lines() {
        let input: Value = serde_json::from_str(&line?)?;
        let token = input["token"].as_str().ok_or("each line needs a token")?;
        let options = VerifyOptions {
            now: input["now"].as_i64().ok_or("each line needs now")?,
            path: input["path"].as_str(),
        };
        let verdict = match verifier.verify(token, &options) {
            Ok(v) => json!({"ok": true, "provider": v.provider}),
            Err(e) => json!({"ok": false, "code": e.code().as_str()}),
        };
        writeln!(out, "{verdict}")?;
    }
    Ok(())
}
