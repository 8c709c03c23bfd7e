//! The recipient rate limit: GCRA, keyed globally, per tenant or per peer, in wait or reject mode,
//! local or shared through Redis.
//!
//! - [`RecipientRateLimit`] is what a router holds: `admit(ctx, recipients)` once per request.
//! - [`RateLimitConfig`] (`limit` per `period`, `burst`), [`LimitMode`] (wait up to a maximum, or
//!   reject with a retry time) and [`KeyBy`] configure it; [`RateKeyContext`] describes a request.
//! - [`Admitted`] carries the `RateLimit-*` header values; [`RateLimited`] says why not (oversized
//!   batch: 422; over the limit: 429; backend down and failing closed: 503).
//! - [`Gcra`] is the pure core, with time passed in, usable on its own.
//! - With the `redis` feature, [`RedisOptions`] and [`UnavailablePolicy`] configure the shared
//!   backend (a Lua script computing GCRA atomically with the server's clock, or redis-cell's
//!   `CL.THROTTLE` where the server has it).
//!
//! Every outcome is counted: [`RecipientRateLimit::stats`].
//!
//! # Guarantee
//!
//! Over any window `W`, one key admits at most `burst + W / T` recipients, where
//! `T = period / limit` rounded up to a nanosecond; a request with more recipients than the burst
//! is never admitted, in any mode, with any backend or unavailable policy.
//!
//! # Examples
//!
//! ```
//! use kumo_inject::{KeyBy, LimitMode, RateKeyContext, RateLimitConfig, RateLimited, RecipientRateLimit};
//! use std::time::Duration;
//!
//! async fn example() -> Result<(), Box<dyn std::error::Error>> {
//!     let limit = RecipientRateLimit::local(
//!         RateLimitConfig::new(10_000, Duration::from_secs(1), 2_000),
//!         LimitMode::Wait { max_wait: Duration::from_secs(2) },
//!         KeyBy::Tenant,
//!     )?;
//!     let ctx = RateKeyContext { tenant: Some("acme"), peer: None };
//!     let admitted = limit.admit(&ctx, 500).await?;
//!     assert_eq!(admitted.remaining, 1_500);
//!     let too_big = limit.admit(&ctx, 2_001).await;
//!     assert!(matches!(too_big, Err(RateLimited::BatchTooLarge { .. })));
//!     Ok(())
//! }
//! # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(example())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
pub mod gcra;
mod key;
mod limiter;
mod local;
mod outcome;
#[cfg(feature = "redis")]
mod redis;
mod stats;

pub use config::{KeyBy, LimitMode, RateKeyContext, RateLimitConfig, RateLimitConfigError};
pub use gcra::{Gcra, GcraDecision, GcraState};
pub use limiter::RecipientRateLimit;
pub use outcome::{Admitted, RateLimited};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::{RedisBackendError, RedisLimitError, RedisOptions, UnavailablePolicy};
pub use stats::RateLimitStats;
