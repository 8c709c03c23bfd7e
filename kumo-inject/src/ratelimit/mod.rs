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
