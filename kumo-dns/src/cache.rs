//! [`MxCache`]: resolved [`MailExchanger`]s by destination, with TTL expiry, negative caching
//! and single-flight.

use crate::clock::{Clock, SystemClock};
use crate::error::MxError;
use crate::mx::{MailExchanger, ResolveOptions};
use crate::name::{Destination, is_canonical_ascii};
use crate::resolver::Resolver;
use crate::ttl_map::{Probe, TtlMap};
use parking_lot::Mutex;
use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

type Cached = Result<Arc<MailExchanger>, MxError>;

/// Settings of an [`MxCache`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheConfig {
    /// Most entries kept (KumoMTA's MX cache: 64Ki). Lookups in flight are not counted against it.
    pub capacity: usize,
    /// How long a failure (NXDOMAIN, null MX, SERVFAIL, timeout, ...) is cached. Also the cap
    /// for a result in which a host lookup failed transiently. Default 5 minutes (KumoMTA's).
    pub negative_ttl: Duration,
    /// Lower bound for positive TTLs (a 0 s TTL would defeat the cache). Default 1 s.
    pub min_ttl: Duration,
    /// Upper bound for positive TTLs, and the TTL of literals. Default 1 day.
    pub max_ttl: Duration,
    /// Options for the lookups the cache makes.
    pub resolve: ResolveOptions,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            capacity: 64 * 1024,
            negative_ttl: Duration::from_secs(300),
            min_ttl: Duration::from_secs(1),
            max_ttl: Duration::from_secs(86_400),
            resolve: ResolveOptions::default(),
        }
    }
}

impl CacheConfig {
    /// Sets the capacity.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Sets the negative TTL.
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = ttl;
        self
    }

    /// Sets the bounds for positive TTLs.
    pub fn ttl_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.min_ttl = min;
        self.max_ttl = max.max(min);
        self
    }

    /// Sets the resolve options.
    pub fn resolve_options(mut self, options: ResolveOptions) -> Self {
        self.resolve = options;
        self
    }
}

/// Counters of an [`MxCache`], read with [`MxCache::stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CacheStats {
    /// Answered from a live entry (positive or negative).
    pub hits: u64,
    /// Upstream resolutions started (one per single-flight group).
    pub misses: u64,
    /// Callers that joined a resolution already in flight instead of starting one.
    pub coalesced: u64,
    /// Upstream resolutions that ended in an [`MxError`].
    pub errors: u64,
    /// Entries dropped to respect the capacity.
    pub evictions: u64,
    /// Entries currently held (including lookups in flight).
    pub entries: usize,
}

/// A cache of [`MailExchanger`] results keyed by destination.
///
/// - Positive entries live for the result's TTL (smallest TTL of the MX and address answers,
///   within [`CacheConfig::min_ttl`]..=[`CacheConfig::max_ttl`]).
/// - Failures live for [`CacheConfig::negative_ttl`].
/// - Concurrent misses for one destination cause one upstream resolution (single-flight); if the
///   caller running it is cancelled, a waiting caller takes over.
/// - At most [`CacheConfig::capacity`] entries: expired entries go first, then those expiring
///   soonest.
///
/// Keys are canonical destinations: `Example.TEST.` and `example.test` share one entry.
///
/// # Implementation
///
/// One mutex around a hash map of `Arc<OnceCell>` slots; the mutex is never held across an
/// await. The clock is read here (the async layer); the map itself takes `now` as an argument.
///
/// # Examples
///
/// ```
/// use kumo_dns::{MxCache, CacheConfig, ZoneResolver};
/// # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
/// let zone = ZoneResolver::from_zone_text("$ORIGIN example.test.\n@ MX 10 mx\nmx A 192.0.2.1\n")?;
/// let cache = MxCache::new(zone, CacheConfig::default());
/// let a = cache.resolve("example.test").await?;
/// let b = cache.resolve("EXAMPLE.test.").await?;
/// assert!(std::sync::Arc::ptr_eq(&a, &b));
/// assert_eq!((cache.stats().misses, cache.stats().hits), (1, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(()) })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct MxCache<R, C = SystemClock> {
    resolver: R,
    clock: C,
    config: CacheConfig,
    map: Mutex<TtlMap<Cached>>,
    hits: AtomicU64,
    misses: AtomicU64,
    coalesced: AtomicU64,
    errors: AtomicU64,
}

impl<R: Resolver> MxCache<R, SystemClock> {
    /// A cache in front of `resolver`, on the system clock.
    pub fn new(resolver: R, config: CacheConfig) -> Self {
        MxCache::with_clock(resolver, config, SystemClock)
    }
}

impl<R: Resolver, C: Clock> MxCache<R, C> {
    /// A cache in front of `resolver` that reads time from `clock` (e.g. a
    /// [`ManualClock`](crate::ManualClock) in tests).
    pub fn with_clock(resolver: R, config: CacheConfig, clock: C) -> Self {
        MxCache {
            map: Mutex::new(TtlMap::new(config.capacity)),
            resolver,
            clock,
            config,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            coalesced: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        }
    }

    /// The resolver behind the cache.
    pub fn resolver(&self) -> &R {
        &self.resolver
    }

    /// Resolves `domain` (see [`MailExchanger::resolve`]) through the cache.
    ///
    /// # Errors
    ///
    /// [`MxError`] as [`MailExchanger::resolve`]; cached failures are returned until their
    /// negative TTL passes. An invalid destination is reported without touching the cache.
    pub async fn resolve(&self, domain: &str) -> Result<Arc<MailExchanger>, MxError> {
        let key: Cow<'_, str> = if is_canonical_ascii(domain) {
            Cow::Borrowed(domain)
        } else {
            let d = Destination::parse(domain).map_err(MxError::InvalidDomain)?;
            Cow::Owned(d.to_string())
        };
        let now = self.clock.now();
        let probe = self.map.lock().probe(&key, now);
        let slot = match probe {
            Probe::Hit(v) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                return v;
            }
            Probe::Pending(slot) => {
                self.coalesced.fetch_add(1, Ordering::Relaxed);
                slot
            }
            Probe::Miss(slot) => slot,
        };
        let (value, _) = slot
            .get_or_init(|| async {
                self.misses.fetch_add(1, Ordering::Relaxed);
                let result =
                    MailExchanger::resolve_with(&self.resolver, &key, &self.config.resolve).await;
                let ttl = match &result {
                    Ok(mx) => {
                        let ttl = mx
                            .ttl()
                            .unwrap_or(self.config.max_ttl)
                            .clamp(self.config.min_ttl, self.config.max_ttl);
                        if mx.has_temporary_failures() {
                            ttl.min(self.config.negative_ttl)
                        } else {
                            ttl
                        }
                    }
                    Err(_) => {
                        self.errors.fetch_add(1, Ordering::Relaxed);
                        self.config.negative_ttl
                    }
                };
                (result.map(Arc::new), self.clock.now() + ttl)
            })
            .await;
        value.clone()
    }

    /// Drops the entry for `domain`; returns whether there was one.
    pub fn invalidate(&self, domain: &str) -> bool {
        let key = match Destination::parse(domain) {
            Ok(d) => d.to_string(),
            Err(_) => return false,
        };
        self.map.lock().remove(&key)
    }

    /// Drops every entry (counters are kept).
    pub fn clear(&self) {
        self.map.lock().clear();
    }

    /// The counters.
    pub fn stats(&self) -> CacheStats {
        let (entries, evictions) = {
            let m = self.map.lock();
            (m.len(), m.evictions())
        };
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            coalesced: self.coalesced.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            evictions,
            entries,
        }
    }
}
