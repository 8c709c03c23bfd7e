//! The two outcomes of a rate-limit check: admitted, or why not.

use std::time::Duration;

/// A successful admission, with the values for the `RateLimit-*` response headers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Admitted {
    /// The most recipients the key admits at once (the burst): `RateLimit-Limit`.
    pub limit: u64,
    /// Recipients that could still be admitted at once after this request: `RateLimit-Remaining`.
    pub remaining: u64,
    /// Time until the key's whole burst is available again: `RateLimit-Reset`.
    pub reset_after: Duration,
    /// How long the request waited before it was admitted (zero unless in
    /// [`LimitMode::Wait`](super::LimitMode::Wait)).
    pub waited: Duration,
}

/// Why a request was not admitted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RateLimited {
    /// More recipients in one request than the burst: can never be admitted. Permanent for this
    /// request (split the batch). Router: 422.
    #[error("batch of {requested} recipients is larger than the rate limit burst of {burst}")]
    BatchTooLarge {
        /// The recipients in the request.
        requested: u64,
        /// The limiter's burst.
        burst: u64,
    },
    /// Over the limit (reject mode, or wait mode when the wait would exceed `max_wait`).
    /// Transient: retry after `retry_after`. Router: 429 with `Retry-After` (seconds, rounded up)
    /// and `RateLimit-Limit` / `RateLimit-Remaining` / `RateLimit-Reset` headers.
    #[error("recipient rate limit exceeded")]
    Limited {
        /// When the same request would be admitted, absent other traffic.
        retry_after: Duration,
        /// The most recipients the key admits at once (the burst).
        limit: u64,
        /// Recipients that could be admitted at once now.
        remaining: u64,
        /// Time until the key's whole burst is available again.
        reset_after: Duration,
    },
    /// The shared backend (Redis) is unavailable and the policy is fail-closed. Transient.
    /// Router: 503.
    #[error("rate limit backend unavailable")]
    Unavailable {
        /// What went wrong with the backend.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

impl RateLimited {
    /// When to retry: `Some` for [`RateLimited::Limited`], `None` otherwise (an oversized batch
    /// never fits; an unavailable backend gives no estimate).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            RateLimited::Limited { retry_after, .. } => Some(*retry_after),
            RateLimited::BatchTooLarge { .. } | RateLimited::Unavailable { .. } => None,
        }
    }

    /// `Retry-After` in whole seconds, rounded up (at least 1), for [`RateLimited::Limited`].
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after().map(|d| {
            let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
            secs.max(1)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let l = |ms| RateLimited::Limited {
            retry_after: Duration::from_millis(ms),
            limit: 1,
            remaining: 0,
            reset_after: Duration::ZERO,
        };
        assert_eq!(l(1).retry_after_secs(), Some(1));
        assert_eq!(l(1000).retry_after_secs(), Some(1));
        assert_eq!(l(1001).retry_after_secs(), Some(2));
        assert_eq!(l(0).retry_after_secs(), Some(1));
        let big = RateLimited::BatchTooLarge {
            requested: 2,
            burst: 1,
        };
        assert_eq!(big.retry_after(), None);
        assert_eq!(
            big.to_string(),
            "batch of 2 recipients is larger than the rate limit burst of 1"
        );
    }
}
