//! [`RecipientRateLimit`]: the limiter the router holds.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::config::{KeyBy, LimitMode, RateKeyContext, RateLimitConfig, RateLimitConfigError};
use super::gcra::{Gcra, GcraDecision};
use super::key::KeyRef;
use super::local::{DEFAULT_MAX_KEYS, LocalLimiter};
use super::outcome::{Admitted, RateLimited};
use super::stats::{Counters, RateLimitStats, bump};

/// The recipient rate limit the router holds: cheap to clone (an `Arc` inside), `Send + Sync +
/// 'static`.
///
/// It admits recipients per request under a GCRA limit ([`RateLimitConfig`]), keyed globally, per
/// tenant or per peer ([`KeyBy`]), and either waits for room or refuses at once ([`LimitMode`]).
/// A request with more recipients than the burst is always refused with
/// [`RateLimited::BatchTooLarge`], in every mode and with every backend.
///
/// The state lives in this process ([`RecipientRateLimit::local`]) or, with the `redis` feature,
/// in Redis, shared by every process that uses the same Redis and key prefix
/// ([`RecipientRateLimit::redis`]).
///
/// # Examples
///
/// ```
/// use kumo_inject::{KeyBy, LimitMode, RateKeyContext, RateLimitConfig, RateLimited, RecipientRateLimit};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let limit = RecipientRateLimit::local(
///     RateLimitConfig::new(1_000, Duration::from_secs(1), 100),
///     LimitMode::Reject,
///     KeyBy::Tenant,
/// )?;
/// let ctx = RateKeyContext { tenant: Some("acme"), peer: None };
/// let ok = limit.admit(&ctx, 60).await?;
/// assert_eq!(ok.remaining, 40);
/// // The burst is 100: 60 more do not fit now, and 101 never fit.
/// assert!(matches!(limit.admit(&ctx, 60).await, Err(RateLimited::Limited { .. })));
/// assert!(matches!(limit.admit(&ctx, 101).await, Err(RateLimited::BatchTooLarge { .. })));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RecipientRateLimit {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: RateLimitConfig,
    pub(crate) mode: LimitMode,
    pub(crate) key_by: KeyBy,
    pub(crate) gcra: Gcra,
    /// The epoch of the local clock: `now` is nanoseconds since this instant.
    pub(crate) epoch: Instant,
    pub(crate) counters: Counters,
    pub(crate) backend: Backend,
}

#[derive(Debug)]
pub(crate) enum Backend {
    Local(LocalLimiter),
    #[cfg(feature = "redis")]
    Redis(Box<super::redis::RedisBackend>),
}

/// What a backend decided, and how long it already waited (a backend that cannot reserve, such as
/// redis-cell, waits itself and then reports the total here).
#[derive(Debug)]
pub(crate) struct BackendAnswer {
    pub(crate) decision: GcraDecision,
    pub(crate) waited: Duration,
}

impl RecipientRateLimit {
    /// A limiter whose state lives in this process, tracking at most 100,000 keys.
    ///
    /// # Errors
    ///
    /// [`RateLimitConfigError`] when `config` is unusable (zero limit, period or burst, ...).
    pub fn local(
        config: RateLimitConfig,
        mode: LimitMode,
        key_by: KeyBy,
    ) -> Result<Self, RateLimitConfigError> {
        Self::local_with_max_keys(config, mode, key_by, DEFAULT_MAX_KEYS)
    }

    /// A local limiter that tracks at most about `max_keys` keys (rounded up to a multiple of
    /// 16). Idle keys are dropped first; see [`RecipientRateLimit::stats`] `evicted_keys` for the
    /// busy keys dropped when more keys than that are in use at once.
    ///
    /// # Errors
    ///
    /// [`RateLimitConfigError`] when `config` is unusable or `max_keys` is zero.
    pub fn local_with_max_keys(
        config: RateLimitConfig,
        mode: LimitMode,
        key_by: KeyBy,
        max_keys: usize,
    ) -> Result<Self, RateLimitConfigError> {
        if max_keys == 0 {
            return Err(RateLimitConfigError::ZeroKeyCapacity);
        }
        let gcra = Gcra::new(&config)?;
        Ok(Self::from_backend(
            config,
            mode,
            key_by,
            gcra,
            Backend::Local(LocalLimiter::new(gcra, max_keys)),
        ))
    }

    pub(crate) fn from_backend(
        config: RateLimitConfig,
        mode: LimitMode,
        key_by: KeyBy,
        gcra: Gcra,
        backend: Backend,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                mode,
                key_by,
                gcra,
                epoch: Instant::now(),
                counters: Counters::default(),
                backend,
            }),
        }
    }

    /// Admits `recipients` recipients for the request described by `ctx`.
    ///
    /// In [`LimitMode::Wait`] it sleeps (tokio) until the recipients fit, up to `max_wait`; a
    /// request that would wait longer is refused at once. It never lets a batch larger than the
    /// burst through. Zero recipients are always admitted.
    ///
    /// A waiting request holds a reservation: if its future is dropped while it sleeps (the client
    /// went away), the reserved recipients stay counted, which errs on the safe side.
    ///
    /// # Errors
    ///
    /// - [`RateLimited::BatchTooLarge`] when `recipients` exceeds the burst;
    /// - [`RateLimited::Limited`] when over the limit;
    /// - [`RateLimited::Unavailable`] when the shared backend cannot be reached and the policy is
    ///   to fail closed.
    ///
    /// # Panics
    ///
    /// In [`LimitMode::Wait`], when a wait is needed outside a tokio runtime with the time driver
    /// enabled (tokio's own panic).
    pub async fn admit(
        &self,
        ctx: &RateKeyContext<'_>,
        recipients: u64,
    ) -> Result<Admitted, RateLimited> {
        let inner = &*self.inner;
        let c = &inner.counters;
        let burst = inner.gcra.burst();
        if recipients > burst {
            bump(&c.batch_too_large);
            return Err(RateLimited::BatchTooLarge {
                requested: recipients,
                burst,
            });
        }
        let key = KeyRef::new(inner.key_by, ctx);
        let max_wait_ns = duration_ns(inner.mode.max_wait());
        let answer = match &inner.backend {
            Backend::Local(local) => BackendAnswer {
                decision: self.local_check(local, key, recipients, max_wait_ns),
                waited: Duration::ZERO,
            },
            #[cfg(feature = "redis")]
            // Boxed: keeps the local path's future small.
            Backend::Redis(redis) => {
                Box::pin(redis.check(self, key, recipients, max_wait_ns)).await?
            }
        };
        match answer.decision {
            GcraDecision::Admit {
                wait_ns,
                remaining,
                reset_after_ns,
            } => {
                let mut waited = answer.waited;
                if wait_ns > 0 {
                    let wait = Duration::from_nanos(wait_ns);
                    tokio::time::sleep(wait).await;
                    waited += wait;
                }
                if !waited.is_zero() {
                    bump(&c.waited);
                }
                bump(&c.admitted);
                c.admitted_recipients
                    .fetch_add(recipients, Ordering::Relaxed);
                Ok(Admitted {
                    limit: burst,
                    remaining,
                    reset_after: Duration::from_nanos(reset_after_ns),
                    waited,
                })
            }
            GcraDecision::Deny {
                retry_after_ns,
                remaining,
                reset_after_ns,
            } => {
                bump(&c.limited);
                Err(RateLimited::Limited {
                    retry_after: Duration::from_nanos(retry_after_ns),
                    limit: burst,
                    remaining,
                    reset_after: Duration::from_nanos(reset_after_ns),
                })
            }
            GcraDecision::TooLarge { requested, burst } => {
                bump(&c.batch_too_large);
                Err(RateLimited::BatchTooLarge { requested, burst })
            }
        }
    }

    /// One check against a local limiter at the current time (also the Redis fallback).
    pub(crate) fn local_check(
        &self,
        local: &LocalLimiter,
        key: KeyRef<'_>,
        recipients: u64,
        max_wait_ns: u64,
    ) -> GcraDecision {
        let checked = local.check(key, recipients, self.now_ns(), max_wait_ns);
        if checked.evicted_busy > 0 {
            self.inner
                .counters
                .evicted_keys
                .fetch_add(checked.evicted_busy, Ordering::Relaxed);
        }
        checked.decision
    }

    /// Nanoseconds since this limiter was built (the local clock).
    pub(crate) fn now_ns(&self) -> u64 {
        duration_ns(self.inner.epoch.elapsed())
    }

    #[cfg(feature = "redis")]
    pub(crate) fn backend(&self) -> &Backend {
        &self.inner.backend
    }

    #[cfg(feature = "redis")]
    pub(crate) fn counters(&self) -> &Counters {
        &self.inner.counters
    }

    /// The counters of every outcome so far (shared by all clones of this limiter).
    pub fn stats(&self) -> RateLimitStats {
        self.inner.counters.snapshot()
    }

    /// The configuration.
    pub fn config(&self) -> RateLimitConfig {
        self.inner.config
    }

    /// The mode.
    pub fn mode(&self) -> LimitMode {
        self.inner.mode
    }

    /// How requests are keyed.
    pub fn key_by(&self) -> KeyBy {
        self.inner.key_by
    }

    /// Whether the state is shared through Redis (`false` for a local limiter).
    pub fn is_shared(&self) -> bool {
        !matches!(self.inner.backend, Backend::Local(_))
    }

    /// Drops the local keys that are idle (their whole burst available again), which changes no
    /// decision, and returns how many keys remain tracked. Keys are also dropped on demand when the
    /// map is full, so calling this is only needed to give memory back early. Returns 0 for a
    /// Redis limiter without a local fallback (Redis expires idle keys itself).
    pub fn evict_idle(&self) -> usize {
        let now = self.now_ns();
        match &self.inner.backend {
            Backend::Local(l) => l.evict_idle(now),
            #[cfg(feature = "redis")]
            Backend::Redis(r) => r.fallback().map_or(0, |l| l.evict_idle(now)),
        }
    }

    /// Keys tracked in this process (the local limiter, or the Redis limiter's local fallback).
    pub fn tracked_keys(&self) -> usize {
        match &self.inner.backend {
            Backend::Local(l) => l.len(),
            #[cfg(feature = "redis")]
            Backend::Redis(r) => r.fallback().map_or(0, LocalLimiter::len),
        }
    }
}

/// A duration in whole nanoseconds, saturating at `u64::MAX` (about 584 years).
pub(crate) fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
