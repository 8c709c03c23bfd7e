//! What a recipient rate limit is configured with: the rate, the mode and the key.

use std::net::IpAddr;
use std::time::Duration;

/// GCRA parameters: `limit` recipients per `period`, with a burst capacity of `burst` recipients.
///
/// `burst` is the most recipients one key can have admitted at once, and so also the largest
/// request that can ever be admitted: a request with more recipients is refused with
/// [`RateLimited::BatchTooLarge`](super::RateLimited::BatchTooLarge).
///
/// # Examples
///
/// ```
/// use kumo_inject::RateLimitConfig;
/// use std::time::Duration;
///
/// // KumoMTA's recommended `10,000/s`, with a burst of one full second.
/// let config = RateLimitConfig::new(10_000, Duration::from_secs(1), 10_000);
/// assert_eq!(config.limit, 10_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimitConfig {
    /// Recipients per `period`.
    pub limit: u64,
    /// The period of `limit`.
    pub period: Duration,
    /// The most recipients admitted at once (and the largest admissible request).
    pub burst: u64,
}

impl RateLimitConfig {
    /// `limit` recipients per `period` with a burst of `burst`. Checked when a limiter is built.
    pub fn new(limit: u64, period: Duration, burst: u64) -> Self {
        Self {
            limit,
            period,
            burst,
        }
    }

    /// `limit` recipients per second, with a burst of one second's worth (`limit`).
    pub fn per_second(limit: u64) -> Self {
        Self::new(limit, Duration::from_secs(1), limit)
    }
}

/// What happens when a request is over the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitMode {
    /// Wait until the request fits (KumoMTA's behaviour), but no longer than `max_wait`: a request
    /// that would have to wait longer is refused at once with
    /// [`RateLimited::Limited`](super::RateLimited::Limited), without waiting.
    Wait {
        /// The longest a request may wait.
        max_wait: Duration,
    },
    /// Refuse at once with [`RateLimited::Limited`](super::RateLimited::Limited) (HTTP 429 with
    /// `Retry-After`).
    Reject,
}

impl LimitMode {
    /// The longest wait this mode allows (zero for [`LimitMode::Reject`]).
    pub fn max_wait(&self) -> Duration {
        match *self {
            LimitMode::Wait { max_wait } => max_wait,
            LimitMode::Reject => Duration::ZERO,
        }
    }
}

/// How requests are keyed: which requests share one budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyBy {
    /// One budget for every request (KumoMTA's only choice).
    Global,
    /// One budget per tenant ([`RateKeyContext::tenant`]); requests without a tenant share one
    /// budget of their own.
    Tenant,
    /// One budget per client IP address ([`RateKeyContext::peer`]); requests without a peer share
    /// one budget of their own.
    Peer,
}

/// What the router knows about a request, used to form the key.
#[derive(Debug, Clone, Copy, Default)]
pub struct RateKeyContext<'a> {
    /// The tenant or authenticated identity, if any.
    pub tenant: Option<&'a str>,
    /// The client's IP address, if known.
    pub peer: Option<IpAddr>,
}

/// A [`RateLimitConfig`] that no limiter can be built from. Permanent: fix the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RateLimitConfigError {
    /// `limit` is zero.
    #[error("rate limit must be at least one recipient per period")]
    ZeroLimit,
    /// `period` is zero.
    #[error("rate limit period must not be zero")]
    ZeroPeriod,
    /// `burst` is zero.
    #[error("rate limit burst must be at least one recipient")]
    ZeroBurst,
    /// `period` does not fit in 64-bit nanoseconds (about 584 years).
    #[error("rate limit period is too long")]
    PeriodTooLong,
    /// More than one recipient per nanosecond.
    #[error("rate limit is above one recipient per nanosecond")]
    RateTooHigh,
    /// `burst` times the emission interval does not fit in 64-bit nanoseconds.
    #[error("rate limit burst is too large for the period")]
    BurstTooLarge,
    /// The bound on tracked keys is zero.
    #[error("rate limit key capacity must not be zero")]
    ZeroKeyCapacity,
}
