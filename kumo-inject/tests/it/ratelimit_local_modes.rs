//! The local limiter through the public API: reject mode answers with a retry time and header
//! values, wait mode waits within its maximum, keys have separate budgets, and a batch over the
//! burst is refused in every mode.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use kumo_inject::{
    Admitted, KeyBy, LimitMode, RateKeyContext, RateLimitConfig, RateLimited, RecipientRateLimit,
};

fn ctx(tenant: Option<&str>, peer: Option<&str>) -> RateKeyContext<'static> {
    RateKeyContext {
        tenant: tenant.map(|t| &*Box::leak(t.to_owned().into_boxed_str())),
        peer: peer.map(|p| p.parse::<IpAddr>().unwrap()),
    }
}

#[tokio::test]
async fn reject_mode_refuses_with_retry_after_and_header_values() {
    // 10 per minute, burst 5: T = 6 s (long, so that a stalled test machine changes nothing).
    let limit = RecipientRateLimit::local(
        RateLimitConfig::new(10, Duration::from_secs(60), 5),
        LimitMode::Reject,
        KeyBy::Global,
    )
    .unwrap();
    let c = RateKeyContext::default();
    let first = limit.admit(&c, 3).await.unwrap();
    assert_eq!(first.limit, 5);
    assert_eq!(first.remaining, 2);
    assert_eq!(first.waited, Duration::ZERO);
    assert_eq!(first.reset_after, Duration::from_secs(18));
    let err = limit.admit(&c, 4).await.unwrap_err();
    match &err {
        RateLimited::Limited {
            retry_after,
            limit,
            remaining,
            reset_after,
        } => {
            // 2 fit now; the other 2 need 12 s (less what has already passed).
            assert!(
                *retry_after > Duration::from_secs(6) && *retry_after <= Duration::from_secs(12)
            );
            assert_eq!(*limit, 5);
            assert_eq!(*remaining, 2);
            assert!(
                *reset_after > Duration::from_secs(12) && *reset_after <= Duration::from_secs(18)
            );
        }
        other => panic!("{other:?}"),
    }
    assert!((7..=12).contains(&err.retry_after_secs().unwrap()));
    let s = limit.stats();
    assert_eq!((s.admitted, s.admitted_recipients, s.limited), (1, 3, 1));
}

#[tokio::test]
async fn wait_mode_waits_then_admits_and_refuses_beyond_max_wait() {
    // 100 per second, burst 10: T = 10 ms.
    let limit = RecipientRateLimit::local(
        RateLimitConfig::new(100, Duration::from_secs(1), 10),
        LimitMode::Wait {
            max_wait: Duration::from_millis(200),
        },
        KeyBy::Global,
    )
    .unwrap();
    let c = RateKeyContext::default();
    assert_eq!(limit.admit(&c, 10).await.unwrap().waited, Duration::ZERO);
    let started = Instant::now();
    let Admitted { waited, .. } = limit.admit(&c, 5).await.unwrap();
    assert!(
        waited > Duration::ZERO && waited <= Duration::from_millis(50),
        "{waited:?}"
    );
    assert!(started.elapsed() >= waited);
    // 150 ms of recipients were admitted from t=0 and it is now t≈50 ms: 10 more wait ~100 ms.
    let w = limit.admit(&c, 10).await.unwrap().waited;
    assert!(
        w > Duration::ZERO && w <= Duration::from_millis(100),
        "{w:?}"
    );
    let s = limit.stats();
    assert_eq!((s.admitted, s.waited, s.limited), (3, 2, 0));

    // A wait over the maximum is refused at once, without waiting.
    let short = RecipientRateLimit::local(
        RateLimitConfig::new(10, Duration::from_secs(1), 10),
        LimitMode::Wait {
            max_wait: Duration::from_millis(30),
        },
        KeyBy::Global,
    )
    .unwrap();
    short.admit(&c, 10).await.unwrap();
    match short.admit(&c, 5).await {
        Err(RateLimited::Limited { retry_after, .. }) => {
            assert!(retry_after > Duration::from_millis(30), "{retry_after:?}")
        }
        other => panic!("{other:?}"),
    }
    let s = short.stats();
    assert_eq!((s.admitted, s.waited, s.limited), (1, 0, 1));
}

#[tokio::test]
async fn a_batch_over_the_burst_is_refused_in_every_mode() {
    for mode in [
        LimitMode::Reject,
        LimitMode::Wait {
            max_wait: Duration::from_secs(3600),
        },
    ] {
        let limit = RecipientRateLimit::local(
            RateLimitConfig::new(1_000, Duration::from_secs(1), 50),
            mode,
            KeyBy::Global,
        )
        .unwrap();
        let c = RateKeyContext::default();
        match limit.admit(&c, 51).await {
            Err(RateLimited::BatchTooLarge { requested, burst }) => {
                assert_eq!((requested, burst), (51, 50))
            }
            other => panic!("{mode:?}: {other:?}"),
        }
        // Nothing was spent: the full burst still fits.
        assert_eq!(limit.admit(&c, 50).await.unwrap().remaining, 0);
        assert_eq!(limit.stats().batch_too_large, 1);
    }
}

#[tokio::test]
async fn keys_have_separate_budgets() {
    let config = RateLimitConfig::new(1, Duration::from_secs(3600), 2);
    let by_tenant = RecipientRateLimit::local(config, LimitMode::Reject, KeyBy::Tenant).unwrap();
    let by_peer = RecipientRateLimit::local(config, LimitMode::Reject, KeyBy::Peer).unwrap();
    let global = RecipientRateLimit::local(config, LimitMode::Reject, KeyBy::Global).unwrap();
    let a = ctx(Some("a"), Some("192.0.2.1"));
    let b = ctx(Some("b"), Some("192.0.2.1"));
    let c = ctx(Some("a"), Some("2001:db8::1"));
    let none = ctx(None, None);
    for l in [&by_tenant, &by_peer, &global] {
        l.admit(&a, 2).await.unwrap();
    }
    // Tenant b has its own budget; same peer as a.
    assert!(by_tenant.admit(&b, 2).await.is_ok());
    assert!(by_peer.admit(&b, 1).await.is_err());
    // Another peer, same tenant as a.
    assert!(by_peer.admit(&c, 2).await.is_ok());
    assert!(by_tenant.admit(&c, 1).await.is_err());
    // Requests without a tenant or peer share one budget of their own.
    assert!(by_tenant.admit(&none, 2).await.is_ok());
    assert!(by_peer.admit(&none, 2).await.is_ok());
    assert!(by_tenant.admit(&none, 1).await.is_err());
    // Global: everyone shares one.
    for x in [&b, &c, &none] {
        assert!(global.admit(x, 1).await.is_err());
    }
    assert_eq!(by_tenant.tracked_keys(), 3);
}

#[tokio::test]
async fn the_key_map_is_bounded() {
    let limit = RecipientRateLimit::local_with_max_keys(
        RateLimitConfig::new(1, Duration::from_secs(3600), 1),
        LimitMode::Reject,
        KeyBy::Peer,
        64,
    )
    .unwrap();
    for i in 0..10_000u32 {
        let c = RateKeyContext {
            tenant: None,
            peer: Some(IpAddr::from(i.to_be_bytes())),
        };
        limit.admit(&c, 1).await.unwrap();
    }
    assert!(limit.tracked_keys() <= 64, "{}", limit.tracked_keys());
    assert!(limit.stats().evicted_keys >= 10_000 - 64);
}

#[test]
fn invalid_configs_are_errors() {
    let bad = [
        RateLimitConfig::new(0, Duration::from_secs(1), 1),
        RateLimitConfig::new(1, Duration::ZERO, 1),
        RateLimitConfig::new(1, Duration::from_secs(1), 0),
    ];
    for c in bad {
        assert!(RecipientRateLimit::local(c, LimitMode::Reject, KeyBy::Global).is_err());
    }
    assert!(
        RecipientRateLimit::local_with_max_keys(
            RateLimitConfig::per_second(1),
            LimitMode::Reject,
            KeyBy::Global,
            0
        )
        .is_err()
    );
}

/// Many tasks on a multi-threaded runtime against one global limit: the total admitted stays
/// within the GCRA bound over the measured span.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_tasks_share_one_budget() {
    let config = RateLimitConfig::new(2_000, Duration::from_secs(1), 100);
    let limit = RecipientRateLimit::local(config, LimitMode::Reject, KeyBy::Global).unwrap();
    let started = Instant::now();
    let run_for = Duration::from_millis(500);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let limit = limit.clone();
        tasks.push(tokio::spawn(async move {
            let mut admitted = 0u64;
            while started.elapsed() < run_for {
                if limit.admit(&RateKeyContext::default(), 7).await.is_ok() {
                    admitted += 7;
                }
                tokio::task::yield_now().await;
            }
            admitted
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    let span = started.elapsed();
    // The limiter's epoch is before `started`, so its window is within this span.
    let bound = 100 + (span.as_nanos() * 2_000 / 1_000_000_000) as u64;
    assert!(total <= bound, "{total} > {bound}");
    assert!(total >= 100, "{total}");
    assert_eq!(limit.stats().admitted_recipients, total);
}
