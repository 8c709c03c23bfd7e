//! Counters for each outcome of a limiter, readable at any time.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of a limiter's counters (all since it was built; shared by its clones).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimitStats {
    /// Requests admitted (by the backend, by failing open, or by the local fallback).
    pub admitted: u64,
    /// Recipients in the admitted requests.
    pub admitted_recipients: u64,
    /// Admitted requests that waited first ([`LimitMode::Wait`](super::LimitMode::Wait)).
    pub waited: u64,
    /// Requests refused with [`RateLimited::Limited`](super::RateLimited::Limited).
    pub limited: u64,
    /// Requests refused with [`RateLimited::BatchTooLarge`](super::RateLimited::BatchTooLarge).
    pub batch_too_large: u64,
    /// Checks answered by the shared backend (Redis). Always zero for a local limiter.
    pub backend_ok: u64,
    /// Backend checks that failed with an error (connection refused, reset, script error).
    pub backend_errors: u64,
    /// Backend checks that did not answer within the timeout.
    pub backend_timeouts: u64,
    /// Checks not sent to the backend because it failed recently (the policy applied at once).
    pub backend_skipped: u64,
    /// Requests admitted without a check because the backend was unavailable (fail open).
    pub failed_open: u64,
    /// Requests refused with [`RateLimited::Unavailable`](super::RateLimited::Unavailable).
    pub failed_closed: u64,
    /// Checks made by the local fallback limiter because the backend was unavailable.
    pub fell_back: u64,
    /// Idle or least-recently-due keys dropped to keep the local key map within its bound.
    pub evicted_keys: u64,
}

/// The live counters behind [`RateLimitStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) admitted: AtomicU64,
    pub(crate) admitted_recipients: AtomicU64,
    pub(crate) waited: AtomicU64,
    pub(crate) limited: AtomicU64,
    pub(crate) batch_too_large: AtomicU64,
    pub(crate) backend_ok: AtomicU64,
    pub(crate) backend_errors: AtomicU64,
    pub(crate) backend_timeouts: AtomicU64,
    pub(crate) backend_skipped: AtomicU64,
    pub(crate) failed_open: AtomicU64,
    pub(crate) failed_closed: AtomicU64,
    pub(crate) fell_back: AtomicU64,
    pub(crate) evicted_keys: AtomicU64,
}

/// Adds one to a counter.
pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn snapshot(&self) -> RateLimitStats {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RateLimitStats {
            admitted: r(&self.admitted),
            admitted_recipients: r(&self.admitted_recipients),
            waited: r(&self.waited),
            limited: r(&self.limited),
            batch_too_large: r(&self.batch_too_large),
            backend_ok: r(&self.backend_ok),
            backend_errors: r(&self.backend_errors),
            backend_timeouts: r(&self.backend_timeouts),
            backend_skipped: r(&self.backend_skipped),
            failed_open: r(&self.failed_open),
            failed_closed: r(&self.failed_closed),
            fell_back: r(&self.fell_back),
            evicted_keys: r(&self.evicted_keys),
        }
    }
}
