//! A small structured logger for the `log` facade: one JSON object per line
//! on standard error (`{"ts":..,"level":"info","msg":".."}`), which
//! journald, container runtimes and log shippers take as they are.

extern crate std;

use alloc::string::{String, ToString};
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use log::{Level, LevelFilter, Log, Metadata, Record};
use serde_json::json;

/// The logger; install it with [`init`].
struct JsonLines {
    level: LevelFilter,
}

impl Log for JsonLines {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        let line = json!({
            "ts": (ts * 1000.0).round() / 1000.0,
            "level": level_name(record.level()),
            "msg": std::format!("{}", record.args()),
        });
        let mut out = line.to_string();
        out.push('\n');
        // A log line that cannot be written is dropped, never a panic.
        let _ = std::io::stderr().lock().write_all(out.as_bytes());
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Error => "error",
        Level::Warn => "warn",
        Level::Info => "info",
        Level::Debug => "debug",
        Level::Trace => "trace",
    }
}

/// The level named `level` (`error`, `warn`, `info`, `debug`, `trace`); an
/// unknown name is an error naming it.
pub fn level(level: &str) -> Result<LevelFilter, String> {
    level.parse().map_err(|_| {
        std::format!("--log-level: unknown level {level:?} (error, warn, info, debug, trace)")
    })
}

/// Installs the logger at `level`.
pub fn init(level: LevelFilter) -> Result<(), String> {
    log::set_boxed_logger(alloc::boxed::Box::new(JsonLines { level }))
        .map_err(|e| std::format!("cannot install the logger: {e}"))?;
    log::set_max_level(level);
    Ok(())
}
