//! The in-process keyed limiter: GCRA states in a bounded, sharded map. No clock: `now` is passed
//! in by [`RecipientRateLimit`](super::RecipientRateLimit).

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};

use hashbrown::{DefaultHashBuilder, Equivalent, HashTable};
use parking_lot::Mutex;

use super::gcra::{Gcra, GcraDecision, GcraState};
use super::key::{KeyRef, OwnedKey};

/// Shards of the key map; a power of two so the shard is a mask of the hash.
const SHARDS: usize = 16;

/// The default bound on tracked keys.
pub(crate) const DEFAULT_MAX_KEYS: usize = 100_000;

/// A keyed GCRA limiter.
///
/// # Implementation
///
/// The global key is one atomic TAT updated with a compare-and-swap loop (no lock, no map).
/// Other keys live in [`SHARDS`] maps, each behind its own `parking_lot` mutex, chosen by the key's hash,
/// so requests for different keys rarely contend. A key is only stored once something was admitted
/// for it, and a stored key whose TAT is at or before `now` is *idle*: it is equivalent to an
/// absent one, so dropping it changes no decision. When a shard is full and a new key arrives, the
/// shard first drops its idle keys; if none is idle (more keys in flight than the bound), it drops
/// the key that would become idle soonest (the least debt), counted in `evicted`. The bound is
/// `max_keys` rounded up to a multiple of the shard count.
#[derive(Debug)]
pub(crate) struct LocalLimiter {
    gcra: Gcra,
    /// The TAT of [`KeyRef::Global`].
    global: AtomicU64,
    hasher: DefaultHashBuilder,
    shards: Box<[Mutex<HashTable<Entry>>]>,
    shard_cap: usize,
}

/// One stored key, with its hash (computed once, reused for the shard, lookups and growth).
#[derive(Debug)]
struct Entry {
    hash: u64,
    key: OwnedKey,
    state: GcraState,
}

/// What [`LocalLimiter::check`] did besides deciding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Checked {
    pub(crate) decision: GcraDecision,
    /// Keys dropped to make room (idle ones are not counted).
    pub(crate) evicted_busy: u64,
}

impl LocalLimiter {
    pub(crate) fn new(gcra: Gcra, max_keys: usize) -> Self {
        let shard_cap = max_keys.div_ceil(SHARDS).max(1);
        let shards = (0..SHARDS)
            .map(|_| Mutex::new(HashTable::with_capacity(shard_cap.min(1024))))
            .collect();
        Self {
            gcra,
            global: AtomicU64::new(0),
            hasher: DefaultHashBuilder::default(),
            shards,
            shard_cap,
        }
    }

    /// Checks `n` recipients for `key` at `now_ns` (see [`Gcra::check`]).
    pub(crate) fn check(&self, key: KeyRef<'_>, n: u64, now_ns: u64, max_wait_ns: u64) -> Checked {
        if key == KeyRef::Global {
            return Checked {
                decision: self.check_global(n, now_ns, max_wait_ns),
                evicted_busy: 0,
            };
        }
        let hash = self.hasher.hash_one(key);
        // hashbrown uses the low bits (bucket) and the top 7 bits (tag) of the hash; the shard
        // comes from bits in between so that the three stay independent.
        let mut shard = self.shards[(hash >> 32) as usize & (SHARDS - 1)].lock();
        if let Some(e) = shard.find_mut(hash, |e| e.hash == hash && key.equivalent(&e.key)) {
            return Checked {
                decision: self.gcra.check(&mut e.state, now_ns, n, max_wait_ns),
                evicted_busy: 0,
            };
        }
        let mut state = GcraState::default();
        let decision = self.gcra.check(&mut state, now_ns, n, max_wait_ns);
        let mut evicted_busy = 0;
        if matches!(decision, GcraDecision::Admit { .. }) && !state.is_idle(now_ns) {
            if shard.len() >= self.shard_cap {
                shard.retain(|e| !e.state.is_idle(now_ns));
                if shard.len() >= self.shard_cap {
                    let soonest = shard
                        .iter()
                        .min_by_key(|e| e.state.tat_ns)
                        .map(|e| (e.hash, e.state.tat_ns));
                    if let Some((h, tat)) = soonest
                        && let Ok(entry) =
                            shard.find_entry(h, |e| e.hash == h && e.state.tat_ns == tat)
                    {
                        entry.remove();
                        evicted_busy = 1;
                    }
                }
            }
            shard.insert_unique(
                hash,
                Entry {
                    hash,
                    key: key.to_owned_key(),
                    state,
                },
                |e| e.hash,
            );
        }
        Checked {
            decision,
            evicted_busy,
        }
    }

    fn check_global(&self, n: u64, now_ns: u64, max_wait_ns: u64) -> GcraDecision {
        let mut current = self.global.load(Ordering::Acquire);
        loop {
            let mut state = GcraState { tat_ns: current };
            let decision = self.gcra.check(&mut state, now_ns, n, max_wait_ns);
            if !matches!(decision, GcraDecision::Admit { .. }) || state.tat_ns == current {
                return decision;
            }
            match self.global.compare_exchange_weak(
                current,
                state.tat_ns,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return decision,
                Err(actual) => current = actual,
            }
        }
    }

    /// Drops every idle key; returns how many keys remain.
    pub(crate) fn evict_idle(&self, now_ns: u64) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let mut s = s.lock();
                s.retain(|e| !e.state.is_idle(now_ns));
                s.len()
            })
            .sum()
    }

    /// Keys currently stored (idle ones included until they are dropped; the global key is not
    /// counted).
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::RateLimitConfig;
    use std::time::Duration;

    fn limiter(max_keys: usize) -> LocalLimiter {
        let g = Gcra::new(&RateLimitConfig::new(10, Duration::from_secs(1), 2)).unwrap();
        LocalLimiter::new(g, max_keys)
    }

    #[test]
    fn keys_have_separate_budgets() {
        let l = limiter(100);
        let a = KeyRef::Tenant(Some("a"));
        let b = KeyRef::Tenant(Some("b"));
        assert!(matches!(
            l.check(a, 2, 0, 0).decision,
            GcraDecision::Admit { .. }
        ));
        assert!(matches!(
            l.check(a, 1, 0, 0).decision,
            GcraDecision::Deny { .. }
        ));
        assert!(matches!(
            l.check(b, 2, 0, 0).decision,
            GcraDecision::Admit { .. }
        ));
        assert!(matches!(
            l.check(KeyRef::Tenant(None), 2, 0, 0).decision,
            GcraDecision::Admit { .. }
        ));
        assert_eq!(l.len(), 3);
    }

    #[test]
    fn the_map_stays_bounded_and_idle_keys_go_first() {
        let l = limiter(16); // one key per shard
        let mut busy = 0;
        for i in 0..1000u32 {
            let ip = std::net::IpAddr::from(i.to_be_bytes());
            busy += l.check(KeyRef::Peer(Some(ip)), 1, 0, 0).evicted_busy;
        }
        assert!(l.len() <= 16, "{}", l.len());
        assert!(busy > 0);
        // A second later every key is idle: they all go, and nothing busy is evicted.
        let later = 1_000_000_000;
        let mut busy_later = 0;
        for i in 0..1000u32 {
            let ip = std::net::IpAddr::from((i + 5000).to_be_bytes());
            busy_later += l
                .check(KeyRef::Peer(Some(ip)), 1, later + u64::from(i), 0)
                .evicted_busy;
        }
        assert!(l.len() <= 16);
        assert!(busy_later < 1000);
        assert_eq!(l.evict_idle(10 * later), 0);
    }

    #[test]
    fn denied_and_too_large_requests_store_nothing() {
        let l = limiter(100);
        let k = KeyRef::Tenant(Some("x"));
        assert!(matches!(
            l.check(k, 3, 0, 0).decision,
            GcraDecision::TooLarge { .. }
        ));
        assert_eq!(l.len(), 0);
    }
}
