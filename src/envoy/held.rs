//! Requests held while keys that may answer them are being fetched.
//!
//! A request whose decision is `jwks_unavailable` while a first fetch is
//! pending, or `unknown_kid` while a kid-miss refetch (the one its own kid
//! asked for, or another's) is under way ([`crate::Verifier::key_wait`]), is
//! not answered at once: its HTTP context pauses it (headers, body and
//! trailers) and registers it here. The root context (same VM, same thread)
//! looks at the held requests whenever keys may have changed: after its own
//! fetch's answer, and on every tick (which starts a kid-miss refetch, and
//! adopts another worker's fetch), ticking faster while requests are held
//! ([`FAST_TICK`], from the moment the first one is held: [`Held::pace_tick`]).
//! It makes each held request's context the effective one
//! (`set_effective_context`), decides it again and applies that decision
//! (`resume_http_request`, or the local reply), or holds it on while the
//! fetch it waits for is still under way and its deadline has not passed.
//! At the deadline (the end of the second [`crate::Verifier::key_wait`]
//! named) the request gets the decision it then has: 503
//! `jwks_unavailable` with `Retry-After` if there are still no keys, 401
//! `unknown_kid` if its kid is still unknown, never a pass.
//!
//! At most `limits.max_waiting_requests` requests are held per worker VM;
//! one more is answered at once. A held request whose downstream goes away
//! leaves in its context's `on_done` / `on_log`.
//!
//! Counted as `wasmcustom.jwtgate.hold.held`, `.released` (answered after
//! keys landed or the fetch failed), `.timed_out` (answered at the
//! deadline), `.gone` (the downstream went away), `.over_limit` (answered at
//! once: too many held), and the gauge `.waiting` (held now, all workers).

// proxy-wasm hands us the host's clock as a std `SystemTime`.
extern crate std;

use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};

use log::warn;
use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;

use super::keys::TICK;
use super::metrics::{add, counter};

/// The root context's tick while requests are held.
pub(crate) const FAST_TICK: Duration = Duration::from_millis(100);

/// One held request.
struct Entry {
    context_id: u32,
    deadline: SystemTime,
}

/// The held requests of one worker VM.
pub(crate) struct Held {
    entries: RefCell<Vec<Entry>>,
    limit: usize,
    /// The root context's timer runs at [`FAST_TICK`] ([`Held::pace_tick`]).
    fast_tick: Cell<bool>,
    metrics: HoldMetrics,
}

struct HoldMetrics {
    held: Option<u32>,
    released: Option<u32>,
    timed_out: Option<u32>,
    gone: Option<u32>,
    over_limit: Option<u32>,
    /// A gauge every worker moves by +1/-1, so it sums them.
    waiting: Option<u32>,
}

/// How a held request left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Left {
    /// Decided again after keys landed or the first fetch failed.
    Released,
    /// Decided at its deadline.
    TimedOut,
    /// The downstream went away first.
    Gone,
}

/// The end of the second `until` (the core's times are whole seconds).
pub(crate) fn deadline(until: i64) -> SystemTime {
    let seconds = u64::try_from(until.saturating_add(1)).unwrap_or(0);
    UNIX_EPOCH + Duration::from_secs(seconds)
}

impl Held {
    /// At most `limit` held requests; the metrics are defined only when
    /// `remote` (a policy without remote keys holds nothing).
    pub(crate) fn new(limit: usize, remote: bool) -> Self {
        let name = |what: &str| alloc::format!("jwtgate.hold.{what}");
        let count = |what: &str| if remote { counter(&name(what)) } else { None };
        Held {
            entries: RefCell::new(Vec::new()),
            limit,
            fast_tick: Cell::new(false),
            metrics: HoldMetrics {
                held: count("held"),
                released: count("released"),
                timed_out: count("timed_out"),
                gone: count("gone"),
                over_limit: count("over_limit"),
                waiting: remote
                    .then(|| hostcalls::define_metric(MetricType::Gauge, &name("waiting")).ok())
                    .flatten(),
            },
        }
    }

    /// Holds the request of `context_id` until `deadline`; `false` (and
    /// counted) when as many are held as the limit allows.
    pub(crate) fn hold(&self, context_id: u32, deadline: SystemTime) -> bool {
        let Ok(mut entries) = self.entries.try_borrow_mut() else {
            return false;
        };
        if entries.len() >= self.limit {
            drop(entries);
            add(self.metrics.over_limit, 1);
            return false;
        }
        entries.push(Entry {
            context_id,
            deadline,
        });
        drop(entries);
        add(self.metrics.held, 1);
        self.move_waiting(1);
        true
    }

    /// Sets the root context's timer to [`FAST_TICK`] while requests are
    /// held, to the slow [`TICK`] once none is. Called by the root after each
    /// look at the held requests, and by an HTTP context that just held one
    /// (the host sets the root context's timer from there too), so that the
    /// fetch it waits for starts within [`FAST_TICK`]. One flag for both, so
    /// the root slows the timer down again whoever sped it up.
    pub(crate) fn pace_tick(&self) {
        let fast = !self.is_empty();
        if self.fast_tick.replace(fast) != fast {
            let _ = hostcalls::set_tick_period(if fast { FAST_TICK } else { TICK });
        }
    }

    /// Whether the request of `context_id` is held.
    pub(crate) fn holds(&self, context_id: u32) -> bool {
        self.entries
            .try_borrow()
            .is_ok_and(|e| e.iter().any(|e| e.context_id == context_id))
    }

    /// Whether any request is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.try_borrow().is_ok_and(|e| e.is_empty())
    }

    /// The held requests' contexts and deadlines, oldest first.
    pub(crate) fn snapshot(&self) -> Vec<(u32, SystemTime)> {
        self.entries.try_borrow().map_or_else(
            |_| Vec::new(),
            |e| e.iter().map(|e| (e.context_id, e.deadline)).collect(),
        )
    }

    /// Ends the hold of `context_id` (if held), counted as `how`; `true` when
    /// it was held.
    pub(crate) fn release(&self, context_id: u32, how: Left) -> bool {
        let Ok(mut entries) = self.entries.try_borrow_mut() else {
            return false;
        };
        let Some(index) = entries.iter().position(|e| e.context_id == context_id) else {
            return false;
        };
        entries.remove(index);
        drop(entries);
        let metric = match how {
            Left::Released => self.metrics.released,
            Left::TimedOut => self.metrics.timed_out,
            Left::Gone => self.metrics.gone,
        };
        add(metric, 1);
        self.move_waiting(-1);
        true
    }

    fn move_waiting(&self, delta: i64) {
        if let Some(id) = self.metrics.waiting {
            if let Err(status) = hostcalls::increment_metric(id, delta) {
                warn!("jwtgate: cannot move metric {id}: {status:?}");
            }
        }
    }
}
