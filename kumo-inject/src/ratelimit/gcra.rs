//! The pure GCRA (generic cell rate algorithm) core: no clock, no map, no locking.
//!
//! A key's whole state is one number, its *theoretical arrival time* (TAT), in nanoseconds since an
//! epoch the caller chooses. Every admitted recipient pushes the TAT forward by the emission
//! interval `T = period / limit`; a request for `n` recipients at time `now` is admitted when the
//! pushed TAT stays within `now + burst * T`. The caller passes `now` in, so the core is
//! deterministic and testable with simulated time.
//!
//! # Guarantee
//!
//! Over any window of length `W`, the recipients admitted for one key never exceed
//! `burst + floor(W / T)` (the admission instant of a waiting request is the instant its wait ends).
//! `T` is rounded *up* to whole nanoseconds, so the admitted rate never exceeds `limit / period`.

use std::time::Duration;

use super::config::{RateLimitConfig, RateLimitConfigError};

/// One key's GCRA state: its theoretical arrival time in nanoseconds since the caller's epoch.
///
/// The default (zero) state is a key with its whole burst available. A state whose TAT is at or
/// before `now` is equivalent to the default one, which is what makes idle keys safe to evict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcraState {
    /// The theoretical arrival time, nanoseconds since the epoch.
    pub tat_ns: u64,
}

impl GcraState {
    /// Whether the key is idle at `now_ns`: its whole burst is available again, so forgetting the
    /// state changes nothing.
    pub fn is_idle(&self, now_ns: u64) -> bool {
        self.tat_ns <= now_ns
    }
}

/// The outcome of [`Gcra::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GcraDecision {
    /// Admitted (the state was updated). When `wait_ns` is not zero the recipients were admitted
    /// for the instant `now + wait_ns` and the caller must wait that long before going on.
    Admit {
        /// How long the caller must wait before using the admission (zero: at once).
        wait_ns: u64,
        /// Recipients that could still be admitted at once at the admission instant.
        remaining: u64,
        /// Time from `now` until the key's whole burst is available again.
        reset_after_ns: u64,
    },
    /// Not admitted (the state is unchanged).
    Deny {
        /// Time from `now` after which the same request would be admitted, absent other traffic.
        retry_after_ns: u64,
        /// Recipients that could be admitted at once now.
        remaining: u64,
        /// Time from `now` until the key's whole burst is available again.
        reset_after_ns: u64,
    },
    /// More recipients than the burst: no state and no wait can ever admit them.
    TooLarge {
        /// The recipients asked for.
        requested: u64,
        /// The burst of the limiter.
        burst: u64,
    },
}

/// The GCRA parameters derived from a [`RateLimitConfig`], with the checking arithmetic.
///
/// # Examples
///
/// ```
/// use kumo_inject::ratelimit::{Gcra, GcraDecision, GcraState, RateLimitConfig};
/// use std::time::Duration;
///
/// // 10 recipients per second, 5 at once.
/// let gcra = Gcra::new(&RateLimitConfig::new(10, Duration::from_secs(1), 5))?;
/// let mut key = GcraState::default();
/// assert!(matches!(gcra.check(&mut key, 0, 5, 0), GcraDecision::Admit { .. }));
/// // The burst is spent: one more recipient must wait 100 ms.
/// match gcra.check(&mut key, 0, 1, 0) {
///     GcraDecision::Deny { retry_after_ns, .. } => assert_eq!(retry_after_ns, 100_000_000),
///     other => panic!("{other:?}"),
/// }
/// # Ok::<(), kumo_inject::ratelimit::RateLimitConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    emission_ns: u64,
    tolerance_ns: u64,
    burst: u64,
    limit: u64,
}

impl Gcra {
    /// The parameters for `config`.
    ///
    /// # Errors
    ///
    /// [`RateLimitConfigError`] when the limit, period or burst is zero, the period does not fit
    /// 64-bit nanoseconds, the rate is above one recipient per nanosecond, or `burst * T`
    /// overflows 64-bit nanoseconds.
    pub fn new(config: &RateLimitConfig) -> Result<Self, RateLimitConfigError> {
        if config.limit == 0 {
            return Err(RateLimitConfigError::ZeroLimit);
        }
        if config.burst == 0 {
            return Err(RateLimitConfigError::ZeroBurst);
        }
        let period_ns = u64::try_from(config.period.as_nanos())
            .map_err(|_| RateLimitConfigError::PeriodTooLong)?;
        if period_ns == 0 {
            return Err(RateLimitConfigError::ZeroPeriod);
        }
        if period_ns < config.limit {
            return Err(RateLimitConfigError::RateTooHigh);
        }
        let emission_ns = period_ns.div_ceil(config.limit);
        let tolerance_ns = emission_ns
            .checked_mul(config.burst)
            .ok_or(RateLimitConfigError::BurstTooLarge)?;
        Ok(Self {
            emission_ns,
            tolerance_ns,
            burst: config.burst,
            limit: config.limit,
        })
    }

    /// The emission interval `T`: the time one recipient's share of the rate takes.
    pub fn emission_interval(&self) -> Duration {
        Duration::from_nanos(self.emission_ns)
    }

    /// `T` in nanoseconds.
    pub fn emission_ns(&self) -> u64 {
        self.emission_ns
    }

    /// The most recipients admitted at once (the bucket size).
    pub fn burst(&self) -> u64 {
        self.burst
    }

    /// The configured number of recipients per period.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The most recipients this GCRA admits for one key within any window of `window_ns`
    /// nanoseconds: `burst + floor(window_ns / T)`.
    pub fn bound(&self, window_ns: u64) -> u64 {
        self.burst.saturating_add(window_ns / self.emission_ns)
    }

    /// Checks `n` recipients against `state` at `now_ns` and, when they are admitted, updates
    /// `state`.
    ///
    /// With `max_wait_ns == 0` this is a plain check (reject mode). Otherwise a request that would
    /// be admitted within `max_wait_ns` is admitted *for that future instant*: the state is
    /// updated at once (a reservation, so waiting requests are served in order and never race each
    /// other), and [`GcraDecision::Admit::wait_ns`] tells the caller how long to wait.
    ///
    /// A request for more than the burst is [`GcraDecision::TooLarge`] whatever the state.
    pub fn check(
        &self,
        state: &mut GcraState,
        now_ns: u64,
        n: u64,
        max_wait_ns: u64,
    ) -> GcraDecision {
        if n > self.burst {
            return GcraDecision::TooLarge {
                requested: n,
                burst: self.burst,
            };
        }
        let base = state.tat_ns.max(now_ns);
        // n <= burst, so n * T <= burst * T, which fits (checked in `new`).
        let new_tat = base.saturating_add(n * self.emission_ns);
        let allow_at = new_tat.saturating_sub(self.tolerance_ns);
        let wait_ns = allow_at.saturating_sub(now_ns);
        if wait_ns <= max_wait_ns {
            state.tat_ns = new_tat;
            let admitted_at = now_ns + wait_ns;
            // new_tat - tolerance <= admitted_at, so this does not underflow.
            let slack = (admitted_at + self.tolerance_ns).saturating_sub(new_tat);
            GcraDecision::Admit {
                wait_ns,
                remaining: slack / self.emission_ns,
                reset_after_ns: new_tat - now_ns,
            }
        } else {
            let slack = (now_ns.saturating_add(self.tolerance_ns)).saturating_sub(base);
            GcraDecision::Deny {
                retry_after_ns: wait_ns,
                remaining: slack / self.emission_ns,
                reset_after_ns: state.tat_ns.saturating_sub(now_ns),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gcra(limit: u64, period: Duration, burst: u64) -> Gcra {
        Gcra::new(&RateLimitConfig::new(limit, period, burst)).unwrap()
    }

    #[test]
    fn emission_interval_rounds_up() {
        let g = gcra(3, Duration::from_secs(1), 1);
        assert_eq!(g.emission_ns(), 333_333_334);
        let g = gcra(1000, Duration::from_secs(1), 10);
        assert_eq!(g.emission_ns(), 1_000_000);
    }

    #[test]
    fn burst_then_steady_rate() {
        let g = gcra(1000, Duration::from_secs(1), 10);
        let mut s = GcraState::default();
        let now = 5_000_000_000;
        assert_eq!(
            g.check(&mut s, now, 10, 0),
            GcraDecision::Admit {
                wait_ns: 0,
                remaining: 0,
                reset_after_ns: 10_000_000
            }
        );
        assert_eq!(
            g.check(&mut s, now, 1, 0),
            GcraDecision::Deny {
                retry_after_ns: 1_000_000,
                remaining: 0,
                reset_after_ns: 10_000_000
            }
        );
        assert!(matches!(
            g.check(&mut s, now + 1_000_000, 1, 0),
            GcraDecision::Admit { wait_ns: 0, .. }
        ));
    }

    #[test]
    fn too_large_is_refused_whatever_the_state() {
        let g = gcra(1000, Duration::from_secs(1), 10);
        let mut s = GcraState::default();
        assert_eq!(
            g.check(&mut s, u64::MAX / 2, 11, u64::MAX),
            GcraDecision::TooLarge {
                requested: 11,
                burst: 10
            }
        );
        assert_eq!(s, GcraState::default());
    }

    #[test]
    fn waiting_reserves_in_order() {
        let g = gcra(10, Duration::from_secs(1), 1);
        let mut s = GcraState::default();
        let now = 1_000_000_000;
        assert!(matches!(
            g.check(&mut s, now, 1, 0),
            GcraDecision::Admit { wait_ns: 0, .. }
        ));
        let second = g.check(&mut s, now, 1, 1_000_000_000);
        let third = g.check(&mut s, now, 1, 1_000_000_000);
        assert!(matches!(
            second,
            GcraDecision::Admit {
                wait_ns: 100_000_000,
                ..
            }
        ));
        assert!(matches!(
            third,
            GcraDecision::Admit {
                wait_ns: 200_000_000,
                ..
            }
        ));
        // A wait beyond max_wait is refused and changes nothing.
        let before = s;
        assert!(matches!(
            g.check(&mut s, now, 1, 250_000_000),
            GcraDecision::Deny {
                retry_after_ns: 300_000_000,
                ..
            }
        ));
        assert_eq!(s, before);
    }

    #[test]
    fn bad_configs_are_typed_errors() {
        let e = |l, p, b| Gcra::new(&RateLimitConfig::new(l, p, b)).unwrap_err();
        assert_eq!(
            e(0, Duration::from_secs(1), 1),
            RateLimitConfigError::ZeroLimit
        );
        assert_eq!(e(1, Duration::ZERO, 1), RateLimitConfigError::ZeroPeriod);
        assert_eq!(
            e(1, Duration::from_secs(1), 0),
            RateLimitConfigError::ZeroBurst
        );
        assert_eq!(
            e(10, Duration::from_nanos(5), 1),
            RateLimitConfigError::RateTooHigh
        );
        assert_eq!(
            e(1, Duration::from_secs(1), u64::MAX),
            RateLimitConfigError::BurstTooLarge
        );
        assert_eq!(e(1, Duration::MAX, 1), RateLimitConfigError::PeriodTooLong);
    }
}
