//! Building a Redis limiter when nothing listens, or with a bad URL or configuration, is a typed
//! error (no panic, no hang past the connect timeout). Needs no Redis.
#![cfg(feature = "redis")]

use crate::ratelimit_support;

use std::time::{Duration, Instant};

use kumo_inject::ratelimit::{
    RateLimitConfigError, RedisLimitError, RedisOptions, UnavailablePolicy,
};
use kumo_inject::{KeyBy, LimitMode, RateLimitConfig, RecipientRateLimit};

/// The error of building a Redis limiter with `options` and `config`.
async fn build_error(options: RedisOptions, config: RateLimitConfig) -> RedisLimitError {
    RecipientRateLimit::redis(config, LimitMode::Reject, KeyBy::Global, options)
        .await
        .unwrap_err()
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error() {
    let port = ratelimit_support::free_port();
    let mut options = RedisOptions::new(format!("redis://127.0.0.1:{port}/"));
    options.connect_timeout = Duration::from_secs(3);
    let started = Instant::now();
    let err = build_error(options, RateLimitConfig::per_second(10)).await;
    assert!(
        matches!(
            err,
            RedisLimitError::Connect(_) | RedisLimitError::ConnectTimeout(_)
        ),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(err.to_string().starts_with("cannot connect") || err.to_string().contains("timed out"));
}

#[tokio::test]
async fn bad_url_and_configs_are_errors() {
    let err = build_error(
        RedisOptions::new("not a url"),
        RateLimitConfig::per_second(10),
    )
    .await;
    assert!(matches!(err, RedisLimitError::Url(_)), "{err:?}");

    let err = build_error(
        RedisOptions::new("redis://127.0.0.1:1/"),
        RateLimitConfig::per_second(0),
    )
    .await;
    assert!(
        matches!(
            err,
            RedisLimitError::Config(RateLimitConfigError::ZeroLimit)
        ),
        "{err:?}"
    );

    let mut options = RedisOptions::new("redis://127.0.0.1:1/");
    options.on_unavailable =
        UnavailablePolicy::FallbackLocal(RateLimitConfig::new(1, Duration::ZERO, 1));
    let err = build_error(options, RateLimitConfig::per_second(10)).await;
    assert!(
        matches!(
            err,
            RedisLimitError::FallbackConfig(RateLimitConfigError::ZeroPeriod)
        ),
        "{err:?}"
    );
    assert!(std::error::Error::source(&err).is_some());
}
