//! Redis stopped in the middle: each unavailable policy does what it says (fail open admits, fail
//! closed refuses with `Unavailable`, fallback uses the local limit), nothing panics, the outcomes
//! are counted, and service through Redis resumes when the same server comes back on the same
//! port. Uses a private redis-server on a free loopback port (`KUMO_TEST_REDIS_SERVER`).
#![cfg(feature = "redis")]

use crate::ratelimit_support;

use std::time::{Duration, Instant};

use kumo_inject::ratelimit::{RedisOptions, UnavailablePolicy};
use kumo_inject::{
    KeyBy, LimitMode, RateKeyContext, RateLimitConfig, RateLimited, RecipientRateLimit,
};
use ratelimit_support::OwnRedis;

async fn limiter(url: &str, policy: UnavailablePolicy, mode: LimitMode) -> RecipientRateLimit {
    let mut options = RedisOptions::new(url);
    options.key_prefix = ratelimit_support::unique_prefix("outage");
    options.on_unavailable = policy;
    options.timeout = Duration::from_millis(200);
    options.retry_backoff = Duration::from_millis(100);
    RecipientRateLimit::redis(
        RateLimitConfig::new(1_000, Duration::from_secs(1), 100),
        mode,
        KeyBy::Global,
        options,
    )
    .await
    .expect("connect")
}

/// Calls `admit` until the backend answers again (or 15 s pass).
async fn until_redis_answers(limit: &RecipientRateLimit) {
    let deadline = Instant::now() + Duration::from_secs(15);
    let before = limit.stats().backend_ok;
    while limit.stats().backend_ok == before {
        assert!(
            Instant::now() < deadline,
            "no answer from redis after restart: {:?}",
            limit.stats()
        );
        let _ = limit.admit(&RateKeyContext::default(), 1).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_policy_applies_while_redis_is_down_and_service_resumes() {
    let Some(bin) = ratelimit_support::redis_server_bin() else {
        return;
    };
    let mut server = OwnRedis::start(bin);
    let url = server.url();
    let ctx = RateKeyContext::default();
    let reject = LimitMode::Reject;
    let open = limiter(&url, UnavailablePolicy::FailOpen, reject).await;
    let closed = limiter(&url, UnavailablePolicy::FailClosed, reject).await;
    let fallback_config = RateLimitConfig::new(10, Duration::from_secs(3600), 5);
    let fallback = limiter(
        &url,
        UnavailablePolicy::FallbackLocal(fallback_config),
        reject,
    )
    .await;
    let waiting = limiter(
        &url,
        UnavailablePolicy::FailClosed,
        LimitMode::Wait {
            max_wait: Duration::from_millis(100),
        },
    )
    .await;
    for l in [&open, &closed, &fallback, &waiting] {
        l.admit(&ctx, 10).await.expect("redis is up");
        assert_eq!(l.stats().backend_ok, 1);
    }

    server.stop();

    // Fail open: admitted without a check, several times.
    for _ in 0..5 {
        let a = open.admit(&ctx, 10).await.expect("fail open admits");
        assert_eq!(a.limit, 100);
    }
    // Oversized batches are still refused while failing open.
    assert!(matches!(
        open.admit(&ctx, 101).await,
        Err(RateLimited::BatchTooLarge { .. })
    ));
    let s = open.stats();
    assert_eq!(s.failed_open, 5);
    assert!(s.backend_errors + s.backend_timeouts >= 1, "{s:?}");

    // Fail closed: 503 material, with the cause.
    for l in [&closed, &waiting] {
        for _ in 0..3 {
            match l.admit(&ctx, 10).await {
                Err(e @ RateLimited::Unavailable { .. }) => {
                    assert!(std::error::Error::source(&e).is_some());
                    assert_eq!(e.retry_after(), None);
                }
                other => panic!("fail closed: {other:?}"),
            }
        }
        assert_eq!(l.stats().failed_closed, 3);
    }

    // Fallback: the local limit (burst 5) applies.
    assert!(fallback.admit(&ctx, 5).await.is_ok());
    assert!(matches!(
        fallback.admit(&ctx, 1).await,
        Err(RateLimited::Limited { .. })
    ));
    // The fallback's burst is smaller than the shared one: 6 cannot fit it while Redis is down.
    assert!(matches!(
        fallback.admit(&ctx, 6).await,
        Err(RateLimited::BatchTooLarge { .. })
    ));
    let s = fallback.stats();
    assert_eq!(s.fell_back, 3, "{s:?}");

    // Back on the same port: every limiter goes through Redis again.
    server.restart();
    for l in [&open, &closed, &fallback, &waiting] {
        until_redis_answers(l).await;
        let ok_before = l.stats().backend_ok;
        l.admit(&ctx, 1).await.expect("redis is back");
        assert_eq!(l.stats().backend_ok, ok_before + 1);
    }
    // The restarted server lost its state (no persistence): the shared limit starts afresh and
    // still holds.
    let mut admitted = 0;
    while closed.admit(&ctx, 10).await.is_ok() {
        admitted += 10;
        assert!(
            admitted <= 200,
            "the shared limit does not hold after restart"
        );
    }
}

/// A Redis that accepts connections but never answers (a stopped process, SIGSTOP): each check
/// gives up after the timeout and the policy applies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_redis_times_out_into_the_policy() {
    let Some(bin) = ratelimit_support::redis_server_bin() else {
        return;
    };
    let server = OwnRedis::start(bin);
    let url = server.url();
    let mut options = RedisOptions::new(url);
    options.key_prefix = ratelimit_support::unique_prefix("slow");
    options.on_unavailable = UnavailablePolicy::FailClosed;
    options.timeout = Duration::from_millis(100);
    options.retry_backoff = Duration::from_millis(10);
    let limit = RecipientRateLimit::redis(
        RateLimitConfig::per_second(100),
        LimitMode::Reject,
        KeyBy::Global,
        options,
    )
    .await
    .unwrap();
    let ctx = RateKeyContext::default();
    limit.admit(&ctx, 1).await.unwrap();
    let pid = server.pid().expect("running");
    let stop = std::process::Command::new("kill")
        .args(["-STOP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(stop.success());
    let started = Instant::now();
    let r = limit.admit(&ctx, 1).await;
    let took = started.elapsed();
    let cont = std::process::Command::new("kill")
        .args(["-CONT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(cont.success());
    assert!(matches!(r, Err(RateLimited::Unavailable { .. })), "{r:?}");
    assert!(
        took < Duration::from_secs(5),
        "the timeout did not apply: {took:?}"
    );
    assert_eq!(limit.stats().backend_timeouts, 1);
    until_redis_answers(&limit).await;
}
