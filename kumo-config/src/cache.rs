//! `EpochCache`: derived values recomputed only when the epoch moved (or a TTL ran out).

use crate::epoch::EpochHandle;
use crate::flight::{Flight, Outcome};
use hashbrown::HashTable;
use parking_lot::{Mutex, RwLock};
use std::borrow::Borrow;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// When a cached value must be recomputed, chosen per cache (KumoMTA's `refresh_strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshStrategy {
    /// Recompute when the epoch moved since the value was computed. Idle cost: nothing.
    Epoch,
    /// Recompute when the value is older than this, whatever the epoch says (the classic
    /// timer refresh; with N keys it costs N loads per period even when nothing changed). Beware
    /// of layering: an `Epoch` cache that reads a `Ttl` cache may record stale data as current.
    Ttl(Duration),
}

/// Why [`EpochCache::get_with`] could not return a value.
///
/// Only returned when there is no last good value to serve; when there is one, the cache
/// serves it and records the error in [`EpochCache::last_error`] instead.
#[derive(Debug)]
#[non_exhaustive]
pub enum CacheError<E> {
    /// The loader failed (transient or permanent as the loader's error says). The next call
    /// retries.
    Load(Arc<E>),
}

impl<E> Clone for CacheError<E> {
    fn clone(&self) -> Self {
        match self {
            CacheError::Load(e) => CacheError::Load(e.clone()),
        }
    }
}

impl<E> CacheError<E> {
    /// The loader's error.
    pub fn loader_error(&self) -> &E {
        match self {
            CacheError::Load(e) => e,
        }
    }
}

impl<E> fmt::Display for CacheError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheError::Load(_) => f.write_str("loading the value failed"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for CacheError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CacheError::Load(e) => Some(&**e),
        }
    }
}

/// The most recent loader failure of a cache.
#[derive(Debug)]
#[non_exhaustive]
pub struct LastError<K, E> {
    /// The key whose load failed.
    pub key: K,
    /// The epoch the failed load started at.
    pub epoch: u64,
    /// The loader's error.
    pub error: Arc<E>,
}

impl<K: Clone, E> Clone for LastError<K, E> {
    fn clone(&self) -> Self {
        Self {
            key: self.key.clone(),
            epoch: self.epoch,
            error: self.error.clone(),
        }
    }
}

/// Counters of a cache. Hits are not counted, so that a hit stays one map lookup and one atomic
/// load.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Loader calls started.
    pub loads: u64,
    /// Loader calls that returned an error.
    pub load_errors: u64,
    /// Calls answered with the last good value because the reload failed.
    pub stale_served: u64,
    /// Calls that waited for another caller's load of the same key (single-flight).
    pub waits: u64,
    /// Entries removed to stay within capacity.
    pub evictions: u64,
    /// Loads whose leader went away before finishing (panic, dropped future).
    pub abandoned: u64,
}

#[derive(Debug, Default)]
struct Counters {
    loads: AtomicU64,
    load_errors: AtomicU64,
    stale_served: AtomicU64,
    waits: AtomicU64,
    evictions: AtomicU64,
    abandoned: AtomicU64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failed {
    No,
    /// A reload at this epoch failed: serve the last good value until the epoch moves.
    AtEpoch(u64),
    /// A reload failed: serve the last good value until then.
    Until(Instant),
}

struct Slot<V, E> {
    value: Option<V>,
    epoch: u64,
    expires: Option<Instant>,
    failed: Failed,
    flight: Option<Arc<Flight<V, E>>>,
}

struct Entry<K, V, E> {
    hash: u64,
    key: K,
    slot: Slot<V, E>,
}

struct Shard<K, V, E> {
    table: HashTable<Entry<K, V, E>>,
    /// Entries older than this epoch may exist only if `old_inserted`.
    swept_epoch: u64,
    old_inserted: bool,
    /// No entry expires before this (TTL).
    min_expiry: Option<Instant>,
}

/// `now + d`, saturating at about 30 years from `now` (a huge TTL means "practically never").
pub(crate) fn later(now: Instant, d: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(30 * 365 * 24 * 3600);
    now.checked_add(d.min(FAR))
        .or_else(|| now.checked_add(Duration::from_secs(24 * 3600)))
        .unwrap_or(now)
}

/// A shard on its own cache lines, so that readers of neighbouring shards do not contend.
#[repr(align(128))]
struct Padded<T>(T);

type ShardLock<K, V, E> = Padded<RwLock<Shard<K, V, E>>>;

/// A bounded concurrent cache of derived values that are recomputed only when needed.
///
/// With [`RefreshStrategy::Epoch`] a value is current while the [`EpochHandle`]'s epoch equals
/// the epoch read before the value was computed; a hit costs one atomic load, one shard read
/// lock and one hash-table lookup, and never reads the clock. When the epoch moved,
/// [`EpochCache::get_with`] recomputes the value on demand:
///
/// * **single-flight**: one loader call per key and epoch, however many callers ask; the others
///   wait for its result;
/// * **no stale poisoning**: the epoch is read *before* loading, so a value computed while the
///   epoch moved is stored under the old epoch and recomputed on the next call;
/// * **last good value**: a loader error never replaces a good value; the last good value keeps
///   being served (until the epoch moves again, or the TTL runs out again), and the error is
///   counted in [`CacheStats::load_errors`] and kept in [`EpochCache::last_error`];
/// * **bounded**: at most `capacity` entries (exceeded only while every evictable entry is
///   loading or locked by another caller); when full, entries from old epochs (or expired ones)
///   go first, then arbitrary ones.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use kumo_config::{EpochCache, EpochHandle, RefreshStrategy};
///
/// let epoch = EpochHandle::new();
/// let cache: EpochCache<String, u32, std::io::Error> =
///     EpochCache::new(epoch.clone(), RefreshStrategy::Epoch, 1000);
/// let v = cache.get_with("example.com", |k| Ok(k.len() as u32))?;
/// assert_eq!(v, 11);
/// // Nothing changed: no loader call.
/// cache.get_with("example.com", |_| unreachable!())?;
/// epoch.bump();
/// assert_eq!(cache.get_with("example.com", |_| Ok(5))?, 5);
/// // A failed reload keeps the last good value.
/// epoch.bump();
/// let v = cache.get_with("example.com", |_| Err(std::io::Error::other("bad file")))?;
/// assert_eq!(v, 5);
/// assert_eq!(cache.stats().load_errors, 1);
/// # Ok(()) }
/// ```
///
/// # Implementation
///
/// Up to 64 shards, each a `parking_lot::RwLock` over a `hashbrown::HashTable` whose entries
/// carry their hash. A miss takes the write lock, installs an in-flight marker in the entry and
/// releases the lock before calling the loader; waiters block on the marker (a condvar for
/// [`EpochCache::get_with`], a `tokio::sync::Notify` for [`EpochCache::get_with_async`]). A
/// leader that panics or whose future is dropped marks its flight abandoned, and the waiters
/// elect a new leader.
pub struct EpochCache<K, V, E> {
    epoch: EpochHandle,
    strategy: RefreshStrategy,
    hasher: hashbrown::DefaultHashBuilder,
    shards: Box<[ShardLock<K, V, E>]>,
    mask: usize,
    capacity: usize,
    /// Entries in all shards (changed under a shard's write lock).
    len: AtomicUsize,
    counters: Counters,
    last_error: Mutex<Option<LastError<K, E>>>,
}

impl<K, V, E> fmt::Debug for EpochCache<K, V, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EpochCache")
            .field("strategy", &self.strategy)
            .field("capacity", &self.capacity)
            .field(
                "len",
                &self
                    .shards
                    .iter()
                    .map(|s| s.0.read().table.len())
                    .sum::<usize>(),
            )
            .field("epoch", &self.epoch.current())
            .finish_non_exhaustive()
    }
}

enum Claim<K, V, E> {
    Hit(V),
    Wait(Arc<Flight<V, E>>),
    Lead(Arc<Flight<V, E>>, K),
}

/// Marks the flight abandoned if the leader goes away without publishing.
struct LeaderGuard<'a, K: Hash + Eq + Clone, V: Clone, E> {
    cache: &'a EpochCache<K, V, E>,
    hash: u64,
    key: &'a K,
    flight: &'a Arc<Flight<V, E>>,
    armed: bool,
}

impl<'a, K: Hash + Eq + Clone, V: Clone, E> LeaderGuard<'a, K, V, E> {
    /// An armed guard for the flight `flight` of `key`, led by this caller.
    fn new(
        cache: &'a EpochCache<K, V, E>,
        hash: u64,
        key: &'a K,
        flight: &'a Arc<Flight<V, E>>,
    ) -> Self {
        LeaderGuard {
            cache,
            hash,
            key,
            flight,
            armed: true,
        }
    }

    /// The loader returned: its result is published, not abandoned.
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl<K: Hash + Eq + Clone, V: Clone, E> Drop for LeaderGuard<'_, K, V, E> {
    fn drop(&mut self) {
        if self.armed {
            self.cache.abandon(self.hash, self.key, self.flight);
        }
    }
}

impl<K, V, E> EpochCache<K, V, E>
where
    K: Hash + Eq + Clone,
    V: Clone,
{
    /// A cache of at most `capacity` entries (at least 1) that follows `epoch` with `strategy`.
    pub fn new(epoch: EpochHandle, strategy: RefreshStrategy, capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let n = (capacity / 64).clamp(1, 64).next_power_of_two().min(64);
        let shards = (0..n)
            .map(|_| {
                Padded(RwLock::new(Shard {
                    table: HashTable::new(),
                    swept_epoch: 0,
                    old_inserted: false,
                    min_expiry: None,
                }))
            })
            .collect();
        Self {
            epoch,
            strategy,
            hasher: hashbrown::DefaultHashBuilder::default(),
            shards,
            mask: n - 1,
            capacity,
            len: AtomicUsize::new(0),
            counters: Counters::default(),
            last_error: Mutex::new(None),
        }
    }

    /// The epoch this cache follows.
    pub fn epoch(&self) -> &EpochHandle {
        &self.epoch
    }

    /// The refresh strategy.
    pub fn strategy(&self) -> RefreshStrategy {
        self.strategy
    }

    /// The most entries this cache holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Entries held now (values and loads in flight).
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The counters.
    pub fn stats(&self) -> CacheStats {
        let c = &self.counters;
        CacheStats {
            loads: c.loads.load(Ordering::Relaxed),
            load_errors: c.load_errors.load(Ordering::Relaxed),
            stale_served: c.stale_served.load(Ordering::Relaxed),
            waits: c.waits.load(Ordering::Relaxed),
            evictions: c.evictions.load(Ordering::Relaxed),
            abandoned: c.abandoned.load(Ordering::Relaxed),
        }
    }

    /// The most recent loader failure, until a later load of the same key succeeds.
    pub fn last_error(&self) -> Option<LastError<K, E>> {
        self.last_error.lock().clone()
    }

    #[inline]
    fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    #[inline]
    fn shard(&self, hash: u64) -> &RwLock<Shard<K, V, E>> {
        // Bits 32.. pick the shard: hashbrown uses the low bits for the bucket and the top 7
        // for the control byte, so these leave both intact within a shard.
        &self.shards[(hash >> 32) as usize & self.mask].0
    }

    #[inline]
    fn serves(&self, slot: &Slot<V, E>, cur: u64, now: Option<Instant>) -> bool {
        if slot.value.is_none() {
            return false;
        }
        match self.strategy {
            RefreshStrategy::Epoch => slot.epoch == cur || slot.failed == Failed::AtEpoch(cur),
            RefreshStrategy::Ttl(_) => match now {
                Some(now) => {
                    slot.expires.is_some_and(|t| now < t)
                        || matches!(slot.failed, Failed::Until(t) if now < t)
                }
                None => false,
            },
        }
    }

    fn now_if_ttl(&self) -> Option<Instant> {
        match self.strategy {
            RefreshStrategy::Epoch => None,
            RefreshStrategy::Ttl(_) => Some(Instant::now()),
        }
    }

    /// The value for `key` if it is current, without loading. Reads the clock only for a
    /// [`RefreshStrategy::Ttl`] cache.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get_at(key, self.now_if_ttl())
    }

    /// The value for `key` if it is current at `now` (ignored by the epoch strategy; `None`
    /// makes a TTL cache treat every value as expired).
    pub fn get_at<Q>(&self, key: &Q, now: Option<Instant>) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let cur = self.epoch.current();
        self.served(self.hash(key), key, cur, now)
    }

    /// Under the read lock: the value for `key` if it is served at epoch `cur` and `now`.
    fn served<Q>(&self, hash: u64, key: &Q, cur: u64, now: Option<Instant>) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.read_slot(hash, key, |slot| {
            if self.serves(slot, cur, now) {
                slot.value.clone()
            } else {
                None
            }
        })
    }

    /// Under the read lock: `read` applied to `key`'s slot, `None` without an entry.
    fn read_slot<Q, R>(
        &self,
        hash: u64,
        key: &Q,
        read: impl FnOnce(&Slot<V, E>) -> Option<R>,
    ) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let g = self.shard(hash).read();
        let e = g
            .table
            .find(hash, |e| e.hash == hash && e.key.borrow() == key)?;
        read(&e.slot)
    }

    /// The last good value for `key`, current or not.
    pub fn peek<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.read_slot(self.hash(key), key, |slot| slot.value.clone())
    }

    /// The epoch at which the stored value for `key` was computed.
    pub fn value_epoch<Q>(&self, key: &Q) -> Option<u64>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.read_slot(self.hash(key), key, |slot| {
            slot.value.as_ref().map(|_| slot.epoch)
        })
    }

    /// Removes `key`'s value (a load in flight still completes for its waiters but is not
    /// stored).
    pub fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        let mut g = self.shard(hash).write();
        let entry = g
            .table
            .find_entry(hash, |e| e.hash == hash && e.key.borrow() == key)
            .ok()?;
        let (e, _) = entry.remove();
        self.len.fetch_sub(1, Ordering::Relaxed);
        e.slot.value
    }

    /// Removes every entry.
    pub fn clear(&self) {
        for s in self.shards.iter() {
            let mut g = s.0.write();
            self.len.fetch_sub(g.table.len(), Ordering::Relaxed);
            g.table.clear();
        }
    }

    /// The value for `key`: the cached one when current, otherwise `loader`'s (called at most
    /// once per key and epoch across all callers; the others block until it returns). Reads the
    /// clock only for a [`RefreshStrategy::Ttl`] cache. From async code prefer
    /// [`EpochCache::get_with_async`], which does not block the thread while waiting.
    ///
    /// # Errors
    ///
    /// [`CacheError::Load`] when the loader failed and there is no last good value.
    ///
    /// # Panics
    ///
    /// A panic of `loader` propagates to this caller; callers waiting on it retry.
    pub fn get_with<Q, F>(&self, key: &Q, loader: F) -> Result<V, CacheError<E>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
        F: FnOnce(&K) -> Result<V, E>,
    {
        self.get_with_at(key, self.now_if_ttl(), loader)
    }

    /// [`EpochCache::get_with`] at `now` (used by the TTL strategy only; `None` treats every
    /// TTL value as expired).
    ///
    /// # Errors
    ///
    /// [`CacheError::Load`] when the loader failed and there is no last good value.
    pub fn get_with_at<Q, F>(
        &self,
        key: &Q,
        now: Option<Instant>,
        loader: F,
    ) -> Result<V, CacheError<E>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
        F: FnOnce(&K) -> Result<V, E>,
    {
        let hash = self.hash(key);
        let (flight, owned, cur) = loop {
            match self.attempt(hash, key, now) {
                (_, Claim::Hit(v)) => return Ok(v),
                (_, Claim::Wait(f)) => {
                    if let Some(r) = f.wait_blocking() {
                        return r.map_err(CacheError::Load);
                    }
                }
                (cur, Claim::Lead(f, k)) => break (f, k, cur),
            }
        };
        let guard = LeaderGuard::new(self, hash, &owned, &flight);
        let result = loader(&owned);
        guard.disarm();
        self.publish(hash, &owned, cur, now, &flight, result)
    }

    /// The async twin of [`EpochCache::get_with`]: waiting for another caller's load does not
    /// block the thread. Reads the clock only for a [`RefreshStrategy::Ttl`] cache. If this
    /// future is dropped while it runs the loader, waiting callers elect a new leader.
    ///
    /// # Errors
    ///
    /// [`CacheError::Load`] when the loader failed and there is no last good value.
    pub async fn get_with_async<Q, F, Fut>(&self, key: &Q, loader: F) -> Result<V, CacheError<E>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
        F: FnOnce(K) -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let now = self.now_if_ttl();
        let hash = self.hash(key);
        let (flight, owned, cur) = loop {
            match self.attempt(hash, key, now) {
                (_, Claim::Hit(v)) => return Ok(v),
                (_, Claim::Wait(f)) => {
                    if let Some(r) = f.wait().await {
                        return r.map_err(CacheError::Load);
                    }
                }
                (cur, Claim::Lead(f, k)) => break (f, k, cur),
            }
        };
        let guard = LeaderGuard::new(self, hash, &owned, &flight);
        let result = loader(owned.clone()).await;
        guard.disarm();
        self.publish(hash, &owned, cur, now, &flight, result)
    }

    /// One round of a get at the current epoch, and that epoch: the value if it is served (read
    /// lock only), else the answer of `claim` (a flight to wait for is counted as a wait).
    fn attempt<Q>(&self, hash: u64, key: &Q, now: Option<Instant>) -> (u64, Claim<K, V, E>)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let cur = self.epoch.current();
        let claim = match self.served(hash, key, cur, now) {
            Some(v) => Claim::Hit(v),
            None => self.claim(hash, key, cur, now),
        };
        if let Claim::Wait(_) = claim {
            self.counters.waits.fetch_add(1, Ordering::Relaxed);
        }
        (cur, claim)
    }

    /// Under the write lock: a hit, a flight to wait for, or a new flight that this caller leads.
    fn claim<Q>(&self, hash: u64, key: &Q, cur: u64, now: Option<Instant>) -> Claim<K, V, E>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let mut g = self.shard(hash).write();
        if let Some(e) = g
            .table
            .find_mut(hash, |e| e.hash == hash && e.key.borrow() == key)
        {
            if self.serves(&e.slot, cur, now)
                && let Some(v) = &e.slot.value
            {
                return Claim::Hit(v.clone());
            }
            if let Some(f) = &e.slot.flight {
                let joinable = match self.strategy {
                    RefreshStrategy::Epoch => f.epoch >= cur,
                    RefreshStrategy::Ttl(_) => true,
                };
                if joinable {
                    return Claim::Wait(f.clone());
                }
            }
            let f = Arc::new(Flight::new(cur));
            e.slot.flight = Some(f.clone());
            self.counters.loads.fetch_add(1, Ordering::Relaxed);
            return Claim::Lead(f, e.key.clone());
        }
        self.make_room(&mut g, hash, cur, now);
        self.len.fetch_add(1, Ordering::Relaxed);
        let owned: K = key.to_owned();
        let f = Arc::new(Flight::new(cur));
        g.table.insert_unique(
            hash,
            Entry {
                hash,
                key: owned.clone(),
                slot: Slot {
                    value: None,
                    epoch: cur,
                    expires: None,
                    failed: Failed::No,
                    flight: Some(f.clone()),
                },
            },
            |e| e.hash,
        );
        self.counters.loads.fetch_add(1, Ordering::Relaxed);
        Claim::Lead(f, owned)
    }

    /// Frees one place when the cache is full: entries of old epochs (or expired ones) first,
    /// in this shard and then in the others that are not busy, then any entry that is not
    /// loading. `own` is the locked shard of the key being inserted.
    fn make_room(&self, own: &mut Shard<K, V, E>, hash: u64, cur: u64, now: Option<Instant>) {
        if self.len() < self.capacity {
            return;
        }
        if self.needs_sweep(own, cur, now) {
            self.sweep(own, cur, now);
        }
        let own_idx = (hash >> 32) as usize & self.mask;
        if self.len() >= self.capacity {
            for (i, s) in self.shards.iter().enumerate() {
                if i == own_idx {
                    continue;
                }
                // Never block on another shard while holding ours.
                if let Some(mut g) = s.0.try_write()
                    && self.needs_sweep(&g, cur, now)
                {
                    self.sweep(&mut g, cur, now);
                }
                if self.len() < self.capacity {
                    return;
                }
            }
        }
        if self.len() < self.capacity || self.evict_one(own) {
            return;
        }
        for (i, s) in self.shards.iter().enumerate() {
            if i == own_idx {
                continue;
            }
            if let Some(mut g) = s.0.try_write()
                && self.evict_one(&mut g)
            {
                return;
            }
        }
        // Everything is loading or busy: exceed the capacity until a load finishes.
    }

    fn needs_sweep(&self, shard: &Shard<K, V, E>, cur: u64, now: Option<Instant>) -> bool {
        match self.strategy {
            RefreshStrategy::Epoch => shard.swept_epoch != cur || shard.old_inserted,
            RefreshStrategy::Ttl(_) => match (shard.min_expiry, now) {
                (Some(m), Some(now)) => now >= m,
                _ => false,
            },
        }
    }

    /// Removes the entries that no longer serve (old epoch, expired) and are not loading.
    fn sweep(&self, shard: &mut Shard<K, V, E>, cur: u64, now: Option<Instant>) {
        let before = shard.table.len();
        let mut min_expiry: Option<Instant> = None;
        shard.table.retain(|e| {
            let keep = e.slot.flight.is_some() || self.serves(&e.slot, cur, now);
            if keep && let Some(t) = e.slot.expires {
                min_expiry = Some(min_expiry.map_or(t, |m| m.min(t)));
            }
            keep
        });
        shard.swept_epoch = cur;
        shard.old_inserted = false;
        shard.min_expiry = min_expiry;
        let freed = before - shard.table.len();
        self.len.fetch_sub(freed, Ordering::Relaxed);
        self.counters
            .evictions
            .fetch_add(freed as u64, Ordering::Relaxed);
    }

    /// Removes one entry that is not loading (the first in table order, which is arbitrary).
    fn evict_one(&self, shard: &mut Shard<K, V, E>) -> bool {
        let Some(h) = shard
            .table
            .iter()
            .find(|e| e.slot.flight.is_none())
            .map(|e| e.hash)
        else {
            return false;
        };
        match shard
            .table
            .find_entry(h, |e| e.hash == h && e.slot.flight.is_none())
        {
            Ok(entry) => {
                entry.remove();
                self.len.fetch_sub(1, Ordering::Relaxed);
                self.counters.evictions.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(_) => false,
        }
    }

    fn abandon(&self, hash: u64, key: &K, flight: &Arc<Flight<V, E>>) {
        {
            let mut g = self.shard(hash).write();
            if let Ok(mut entry) = g
                .table
                .find_entry(hash, |e| e.hash == hash && e.key == *key)
            {
                let slot = &mut entry.get_mut().slot;
                if slot.flight.as_ref().is_some_and(|f| Arc::ptr_eq(f, flight)) {
                    slot.flight = None;
                    if slot.value.is_none() {
                        entry.remove();
                        self.len.fetch_sub(1, Ordering::Relaxed);
                    }
                }
            }
        }
        self.counters.abandoned.fetch_add(1, Ordering::Relaxed);
        flight.complete(Outcome::Abandoned);
    }

    fn publish(
        &self,
        hash: u64,
        key: &K,
        cur: u64,
        now: Option<Instant>,
        flight: &Arc<Flight<V, E>>,
        result: Result<V, E>,
    ) -> Result<V, CacheError<E>> {
        let outcome: Result<V, Arc<E>> = match result {
            Ok(v) => {
                {
                    let mut g = self.shard(hash).write();
                    let stale = cur != self.epoch.current();
                    let mut min_expiry = g.min_expiry;
                    if let Ok(mut entry) = g
                        .table
                        .find_entry(hash, |e| e.hash == hash && e.key == *key)
                    {
                        let slot = &mut entry.get_mut().slot;
                        if slot.flight.as_ref().is_some_and(|f| Arc::ptr_eq(f, flight)) {
                            slot.flight = None;
                        }
                        let newer = self.strategy == RefreshStrategy::Epoch
                            && slot.value.is_some()
                            && slot.epoch > cur;
                        if !newer {
                            slot.value = Some(v.clone());
                            slot.epoch = cur;
                            if let (RefreshStrategy::Ttl(ttl), Some(now)) = (self.strategy, now) {
                                let t = later(now, ttl);
                                slot.expires = Some(t);
                                min_expiry = Some(min_expiry.map_or(t, |m| m.min(t)));
                            }
                            slot.failed = match slot.failed {
                                Failed::AtEpoch(x) if x > cur => Failed::AtEpoch(x),
                                _ => Failed::No,
                            };
                        }
                    }
                    // (An entry removed meanwhile stays removed: the value goes to the callers.)
                    g.min_expiry = min_expiry;
                    if stale {
                        g.old_inserted = true;
                    }
                }
                let mut last = self.last_error.lock();
                if last
                    .as_ref()
                    .is_some_and(|l| l.key == *key && l.epoch <= cur)
                {
                    *last = None;
                }
                Ok(v)
            }
            Err(e) => {
                let e = Arc::new(e);
                self.counters.load_errors.fetch_add(1, Ordering::Relaxed);
                *self.last_error.lock() = Some(LastError {
                    key: key.clone(),
                    epoch: cur,
                    error: e.clone(),
                });
                let mut g = self.shard(hash).write();
                match g
                    .table
                    .find_entry(hash, |e| e.hash == hash && e.key == *key)
                {
                    Ok(mut entry) => {
                        let slot = &mut entry.get_mut().slot;
                        if slot.flight.as_ref().is_some_and(|f| Arc::ptr_eq(f, flight)) {
                            slot.flight = None;
                        }
                        match slot.value.clone() {
                            Some(good) => {
                                slot.failed = match (self.strategy, now) {
                                    (RefreshStrategy::Ttl(ttl), Some(now)) => {
                                        Failed::Until(later(now, ttl))
                                    }
                                    _ => Failed::AtEpoch(cur),
                                };
                                self.counters.stale_served.fetch_add(1, Ordering::Relaxed);
                                Ok(good)
                            }
                            None => {
                                if slot.flight.is_none() {
                                    entry.remove();
                                    self.len.fetch_sub(1, Ordering::Relaxed);
                                }
                                Err(e)
                            }
                        }
                    }
                    Err(_) => Err(e),
                }
            }
        };
        flight.complete(Outcome::Done(outcome.clone()));
        outcome.map_err(CacheError::Load)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Cache = EpochCache<u64, u64, String>;

    #[test]
    fn a_full_cache_holds_exactly_its_capacity() {
        for cap in [1, 7, 64, 1000, 4097] {
            let c = Cache::new(EpochHandle::new(), RefreshStrategy::Epoch, cap);
            for k in 0..(cap as u64 * 3) {
                c.get_with(&k, |k| Ok(*k)).unwrap();
            }
            let counted: usize = c.shards.iter().map(|s| s.0.read().table.len()).sum();
            assert_eq!((c.len(), counted), (cap, cap));
            assert_eq!(c.stats().evictions, cap as u64 * 2);
        }
    }

    #[test]
    fn a_full_shard_evicts_old_epochs_first() {
        let epoch = EpochHandle::new();
        let c = Cache::new(epoch.clone(), RefreshStrategy::Epoch, 4);
        for k in 0..3 {
            c.get_with(&k, |k| Ok(*k)).unwrap();
        }
        epoch.bump();
        c.get_with(&0, |k| Ok(*k + 100)).unwrap(); // current again
        c.get_with(&10, |k| Ok(*k)).unwrap(); // fills the cache
        c.get_with(&11, |k| Ok(*k)).unwrap(); // sweeps keys 1 and 2 (old epoch)
        assert_eq!(c.peek(&0), Some(100));
        assert_eq!(c.peek(&10), Some(10));
        assert_eq!(c.peek(&11), Some(11));
        assert_eq!(c.peek(&1), None);
        assert_eq!(c.peek(&2), None);
        assert_eq!(c.stats().evictions, 2);
    }

    #[test]
    fn huge_durations_saturate_instead_of_panicking() {
        let now = Instant::now();
        assert!(later(now, Duration::MAX) > now + Duration::from_secs(3600));
        let c = Cache::new(EpochHandle::new(), RefreshStrategy::Ttl(Duration::MAX), 4);
        assert_eq!(c.get_with_at(&1, Some(now), |_| Ok(1)).unwrap(), 1);
        assert_eq!(
            c.get_at(&1, Some(now + Duration::from_secs(86_400))),
            Some(1)
        );
    }

    #[test]
    fn ttl_expiry_and_error_retry_follow_now() {
        let c = Cache::new(
            EpochHandle::new(),
            RefreshStrategy::Ttl(Duration::from_secs(60)),
            10,
        );
        let t0 = Instant::now();
        assert_eq!(c.get_with_at(&1, Some(t0), |_| Ok(1)).unwrap(), 1);
        let t1 = t0 + Duration::from_secs(59);
        assert_eq!(c.get_with_at(&1, Some(t1), |_| Ok(2)).unwrap(), 1);
        let t2 = t0 + Duration::from_secs(61);
        assert_eq!(
            c.get_with_at(&1, Some(t2), |_| Err("x".to_owned()))
                .unwrap(),
            1
        );
        let t3 = t2 + Duration::from_secs(30);
        assert_eq!(c.get_with_at(&1, Some(t3), |_| Ok(3)).unwrap(), 1);
        let t4 = t2 + Duration::from_secs(61);
        assert_eq!(c.get_with_at(&1, Some(t4), |_| Ok(4)).unwrap(), 4);
        assert_eq!(c.stats().loads, 3);
    }
}
