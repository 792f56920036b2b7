//! The explain trace: every check performed, in order, with its outcome.
//!
//! Verification and explanation run the same code; the trace is simply off
//! (no allocation) when nobody asked for it.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use serde::Serialize;

use crate::error::Error;

/// One check that was performed while verifying a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked, e.g. `"signature"` or `"exp"`.
    pub check: String,
    /// Whether it passed.
    pub ok: bool,
    /// What was found, in a human sentence.
    pub detail: String,
}

/// Formats a check's detail only when `trace` records it, so the verify path
/// builds no strings for checks that pass.
macro_rules! detail {
    ($trace:expr, $($arg:tt)+) => {
        if $trace.is_on() {
            alloc::format!($($arg)+)
        } else {
            alloc::string::String::new()
        }
    };
}
pub(crate) use detail;

/// Collects [`Check`]s when switched on; does nothing otherwise.
pub(crate) struct Trace {
    checks: Option<Vec<Check>>,
}

impl Trace {
    /// A trace that records nothing (the verify path).
    pub(crate) fn off() -> Self {
        Trace { checks: None }
    }

    /// A trace that records every check (the explain path).
    pub(crate) fn on() -> Self {
        Trace {
            checks: Some(Vec::new()),
        }
    }

    /// Whether checks are being recorded (the explain path).
    pub(crate) fn is_on(&self) -> bool {
        self.checks.is_some()
    }

    /// Records a passed check; `detail` is only evaluated when recording.
    pub(crate) fn pass(&mut self, check: &str, detail: impl FnOnce() -> String) {
        if let Some(checks) = &mut self.checks {
            checks.push(Check {
                check: check.to_string(),
                ok: true,
                detail: detail(),
            });
        }
    }

    /// Records a failed check with the error's message.
    pub(crate) fn fail(&mut self, check: &str, error: &Error) {
        if let Some(checks) = &mut self.checks {
            checks.push(Check {
                check: check.to_string(),
                ok: false,
                detail: error.to_string(),
            });
        }
    }

    /// Records the outcome of `result` under `check` and passes it on.
    pub(crate) fn step<T>(
        &mut self,
        check: &str,
        result: Result<T, Error>,
        detail: impl FnOnce(&T) -> String,
    ) -> Result<T, Error> {
        match &result {
            Ok(value) => self.pass(check, || detail(value)),
            Err(e) => self.fail(check, e),
        }
        result
    }

    /// The recorded checks (empty when the trace was off).
    pub(crate) fn into_checks(self) -> Vec<Check> {
        self.checks.unwrap_or_default()
    }
}
