//! A bounded cache of verified tokens, for front ends that live long enough
//! to see the same token twice (the Envoy filter, a Node server).
//!
//! Entries are keyed by the token itself, compared byte for byte: no hash can
//! collide into someone else's entry, and no hash is computed per request
//! (the byte budget counts the token). Entries are bounded by count and bytes,
//! expire at the token's `exp` (plus skew) or `max_age`, and are evicted
//! oldest first. An entry is only used from the time it was verified on: a
//! clock that goes back (or a caller's earlier `now`) never reuses a verdict
//! reached later, which could be before the token's `nbf`. Failures are never cached. A cache remembers which policy
//! filled it and empties itself when used with another one.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::rc::Rc;

use crate::verify::Verified;

/// Cached verification results.
///
/// ```
/// let cache = jwtgate::VerifiedCache::new(100, 1 << 20);
/// assert_eq!((cache.len(), cache.hits(), cache.misses()), (0, 0, 0));
/// ```
#[derive(Debug)]
pub struct VerifiedCache {
    entries: BTreeMap<Rc<str>, Entry>,
    order: VecDeque<Rc<str>>,
    max_entries: usize,
    max_bytes: usize,
    bytes: usize,
    owner: Option<[u8; 32]>,
    hits: u64,
    misses: u64,
}

#[derive(Debug)]
struct Entry {
    verified: Verified,
    provider: usize,
    /// When the token was verified (Unix seconds): the entry is not used before.
    since: i64,
    valid_until: f64,
    bytes: usize,
}

/// A cached verification: which provider accepted the token, and its claims.
pub(crate) struct Hit<'c> {
    pub(crate) verified: &'c Verified,
    pub(crate) provider: usize,
}

impl VerifiedCache {
    /// An empty cache holding at most `max_entries` tokens and roughly
    /// `max_bytes` of tokens and claims.
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        VerifiedCache {
            entries: BTreeMap::new(),
            order: VecDeque::new(),
            max_entries,
            max_bytes,
            bytes: 0,
            owner: None,
            hits: 0,
            misses: 0,
        }
    }

    /// How many tokens are cached.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many lookups found a valid entry.
    pub fn hits(&self) -> u64 {
        self.hits
    }

    /// How many lookups found nothing usable.
    pub fn misses(&self) -> u64 {
        self.misses
    }

    /// Empties the cache if it was filled under another policy.
    pub(crate) fn bind(&mut self, owner: &[u8; 32]) {
        if self.owner.as_ref() != Some(owner) {
            self.entries.clear();
            self.order.clear();
            self.bytes = 0;
            self.owner = Some(*owner);
        }
    }

    /// Looks a token up; an entry past its validity is dropped.
    pub(crate) fn get(&mut self, token: &str, now: i64) -> Option<Hit<'_>> {
        let valid = match self.entries.get(token) {
            Some(entry) => entry.since <= now && (now as f64) < entry.valid_until,
            None => false,
        };
        if !valid {
            self.misses += 1;
            if let Some(stale) = self.entries.remove(token) {
                self.bytes -= stale.bytes;
                self.order.retain(|k| &**k != token);
            }
            return None;
        }
        self.hits += 1;
        self.entries.get(token).map(|entry| Hit {
            verified: &entry.verified,
            provider: entry.provider,
        })
    }

    /// Remembers a successful verification, reached at `since`, until
    /// `valid_until` (Unix seconds).
    pub(crate) fn insert(
        &mut self,
        token: &str,
        provider: usize,
        verified: &Verified,
        since: i64,
        valid_until: f64,
    ) {
        let bytes = token.len() + verified.approximate_size() + 128;
        if bytes > self.max_bytes || self.max_entries == 0 {
            return;
        }
        if let Some(old) = self.entries.remove(token) {
            self.bytes -= old.bytes;
            self.order.retain(|k| &**k != token);
        }
        while self.entries.len() >= self.max_entries || self.bytes + bytes > self.max_bytes {
            match self.order.pop_front() {
                Some(oldest) => {
                    if let Some(old) = self.entries.remove(&oldest) {
                        self.bytes -= old.bytes;
                    }
                }
                None => break,
            }
        }
        let key: Rc<str> = Rc::from(Box::<str>::from(token));
        self.bytes += bytes;
        self.order.push_back(Rc::clone(&key));
        self.entries.insert(
            key,
            Entry {
                verified: verified.clone(),
                provider,
                since,
                valid_until,
                bytes,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use serde_json::Map;

    fn verified() -> Verified {
        Verified {
            provider: "p".to_string(),
            header: Map::new(),
            claims: Map::new(),
        }
    }

    #[test]
    fn expires_and_counts() {
        let mut c = VerifiedCache::new(10, 1 << 20);
        assert!(c.get("t", 0).is_none());
        c.insert("t", 0, &verified(), 10, 100.0);
        assert!(c.get("t", 99).is_some());
        assert!(c.get("t", 9).is_none(), "before it was verified");
        c.insert("t", 0, &verified(), 10, 100.0);
        assert!(c.get("t", 100).is_none());
        assert_eq!((c.hits(), c.misses(), c.len()), (1, 3, 0));
    }

    #[test]
    fn bounded_by_entries_and_bytes_oldest_out() {
        let mut c = VerifiedCache::new(2, 1 << 20);
        for t in ["a", "b", "c"] {
            c.insert(t, 0, &verified(), 0, 1e9);
        }
        assert_eq!(c.len(), 2);
        assert!(c.get("a", 0).is_none());
        assert!(c.get("c", 0).is_some());
        let mut c = VerifiedCache::new(100, 400);
        c.insert(&"x".repeat(200), 0, &verified(), 0, 1e9);
        c.insert(&"y".repeat(200), 0, &verified(), 0, 1e9);
        assert_eq!(c.len(), 1);
        c.insert(&"z".repeat(500), 0, &verified(), 0, 1e9);
        assert!(
            c.get(&"z".repeat(500), 0).is_none(),
            "larger than the whole cache"
        );
    }

    #[test]
    fn rebinding_empties() {
        let mut c = VerifiedCache::new(10, 1 << 20);
        c.bind(&[1; 32]);
        c.insert("t", 0, &verified(), 0, 1e9);
        c.bind(&[1; 32]);
        assert_eq!(c.len(), 1);
        c.bind(&[2; 32]);
        assert_eq!(c.len(), 0);
    }
}
