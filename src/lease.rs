//! Fetch leases: how instances that share a store agree that one of them
//! fetches a provider's keys while the others wait and adopt its result.
//!
//! Envoy's worker VMs share proxy-wasm shared data (with compare-and-swap);
//! edge isolates share the Cache API (without it). Both keep one lease text
//! per provider, and this module is the whole protocol: the front ends only
//! read and write the text.
//!
//! 1. For each fetch [`Verifier::due_fetches`] gives, read the stored text and
//!    call [`Verifier::claim_fetch_lease`]. `Some(lease)`: write
//!    [`Lease::text`] (with compare-and-swap where the store has it; without,
//!    write it and read it back, and claim again with what was read: whoever
//!    wrote last holds it), then fetch. `None`: another instance holds the
//!    lease; the core has deferred this fetch to it, or, while this instance
//!    waits for its first keys and the holder's fetch failed, ended the first
//!    fetch as failed too, so that requests held for it stop waiting.
//! 2. After the fetch, write what [`Lease::after`] says.
//!
//! The text is `"<until> <holder>"`, or `"<until> <holder> failed:<kind>"`
//! after the holder's fetch failed: the lease is then kept until its retry,
//! so the backoff holds for every instance. Text that does not read as a
//! lease is an expired lease.
//!
//! ```
//! use jwtgate::Verifier;
//! use jwtgate::lease::{Lease, LeaseUpdate};
//! let config = r#"{"providers": {"idp": {"issuer": "https://idp.example.com",
//!     "remote_jwks": {"uri": "https://idp.example.com/jwks", "timeout_seconds": 3}}}}"#;
//! let (mut a, mut b) = (Verifier::from_json(config).unwrap(), Verifier::from_json(config).unwrap());
//! // Both instances find the first fetch due; `a` claims the lease first.
//! a.due_fetches(10);
//! b.due_fetches(10);
//! let lease = a.claim_fetch_lease("idp", None, "a", 10).unwrap().unwrap();
//! assert_eq!(lease.text(), "14 a");
//! // `b` reads a's lease and leaves the fetch to it; waiting for its first
//! // keys, it looks at the lease again a second later.
//! assert_eq!(b.claim_fetch_lease("idp", Some("14 a"), "b", 10).unwrap(), None);
//! assert!(b.due_fetches(10).is_empty());
//! assert_eq!(b.due_fetches(11).len(), 1);
//! // a's fetch fails: the lease says so until a's retry.
//! let event = a.key_fetch_failed("idp", 11, jwtgate::keys::FailureKind::Network, "refused").unwrap();
//! let LeaseUpdate::Write(failed) = Lease::after(&event, "a") else { panic!() };
//! assert!(failed.text().ends_with(" a failed:network"));
//! ```
//!
//! [`Verifier::due_fetches`]: crate::Verifier::due_fetches
//! [`Verifier::claim_fetch_lease`]: crate::Verifier::claim_fetch_lease

use alloc::format;
use alloc::string::{String, ToString};

use crate::keys::{Event, FailureKind};

/// The right to fetch one provider's keys, held by one instance until a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Until when the holder may fetch (Unix seconds); 0 when released.
    pub until: i64,
    /// Who holds it: an instance's name (no spaces).
    pub holder: String,
    /// How the holder's last fetch failed; `None` while it is in flight.
    pub failed: Option<FailureKind>,
}

/// What to store after a fetch ([`Lease::after`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseUpdate {
    /// Release the lease (delete it, or store a lease that has ended).
    Release,
    /// Store this lease.
    Write(Lease),
    /// Leave the stored lease as it is: the next fetch follows under it.
    Keep,
}

impl Lease {
    /// Reads a stored lease; `None` for text that is not one (an expired lease).
    ///
    /// ```
    /// use jwtgate::lease::Lease;
    /// use jwtgate::keys::FailureKind;
    /// let lease = Lease::parse("17 w1 failed:timeout").unwrap();
    /// assert_eq!((lease.until, lease.holder.as_str(), lease.failed), (17, "w1", Some(FailureKind::Timeout)));
    /// assert_eq!(Lease::parse("17 w1").unwrap().failed, None);
    /// assert_eq!(Lease::parse("x y"), None);
    /// ```
    pub fn parse(text: &str) -> Option<Lease> {
        let mut parts = text.split(' ');
        let until = parts.next()?.parse().ok()?;
        let holder = parts.next().filter(|h| !h.is_empty())?.to_string();
        let failed = match parts.next() {
            None => None,
            Some(part) => Some(FailureKind::from_name(part.strip_prefix("failed:")?)?),
        };
        if parts.next().is_some() {
            return None;
        }
        Some(Lease {
            until,
            holder,
            failed,
        })
    }

    /// The text to store; [`Lease::parse`] reads it back.
    pub fn text(&self) -> String {
        match self.failed {
            Some(kind) => format!("{} {} failed:{}", self.until, self.holder, kind.as_str()),
            None => format!("{} {}", self.until, self.holder),
        }
    }

    /// Whether another instance than `holder` holds this lease at `now`.
    pub fn held_by_other(&self, holder: &str, now: i64) -> bool {
        self.until > now && self.holder != holder
    }

    /// What `holder` stores after its fetch gave `event`: a good fetch (new
    /// or unchanged keys) or an ignored result releases the lease; a failure
    /// keeps it until the retry, saying how the fetch failed; a discovery
    /// document keeps it for the JWKS fetch that follows.
    pub fn after(event: &Event, holder: &str) -> LeaseUpdate {
        match event {
            Event::KeysChanged(_) | Event::KeysUnchanged | Event::Ignored => LeaseUpdate::Release,
            Event::Failed(failure) => LeaseUpdate::Write(Lease {
                until: failure.retry_at,
                holder: holder.to_string(),
                failed: Some(failure.kind),
            }),
            Event::Discovered { .. } => LeaseUpdate::Keep,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_read_back_what_they_wrote() {
        for lease in [
            Lease {
                until: 0,
                holder: "w1".into(),
                failed: None,
            },
            Lease {
                until: 1_700_000_000,
                holder: "a-b".into(),
                failed: Some(FailureKind::InvalidDiscovery),
            },
        ] {
            assert_eq!(Lease::parse(&lease.text()), Some(lease));
        }
    }

    #[test]
    fn text_that_is_not_a_lease_reads_as_none() {
        for text in [
            "",
            "17",
            "17 ",
            " w1",
            "x w1",
            "17 w1 failed:nonsense",
            "17 w1 broken",
            "17 w1 failed:timeout extra",
        ] {
            assert_eq!(Lease::parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn only_another_holders_unexpired_lease_is_held() {
        let lease = Lease::parse("20 w1").unwrap();
        assert!(lease.held_by_other("w2", 19));
        assert!(!lease.held_by_other("w2", 20));
        assert!(!lease.held_by_other("w1", 19));
    }
}
