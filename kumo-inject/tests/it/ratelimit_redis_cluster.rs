//! Three independent clients (separate limiters, separate connections, separate tasks) share one
//! limit of 1,000 recipients per second through a real Redis: over 5 seconds the aggregate
//! admitted stays within the GCRA bound (5,000 plus the burst), and each client is refused (reject
//! mode) or waits (wait mode) once the limit is reached. Runs the Lua-script path (the test server
//! has no redis-cell module).
#![cfg(feature = "redis")]

use crate::ratelimit_support;

use std::time::{Duration, Instant};

use kumo_inject::ratelimit::{RedisOptions, UnavailablePolicy};
use kumo_inject::{
    KeyBy, LimitMode, RateKeyContext, RateLimitConfig, RateLimited, RecipientRateLimit,
};

const LIMIT: u64 = 1_000;
const BURST: u64 = 100;

async fn client(url: &str, prefix: &str, mode: LimitMode) -> RecipientRateLimit {
    let mut options = RedisOptions::new(url);
    options.key_prefix = prefix.to_owned();
    options.on_unavailable = UnavailablePolicy::FailClosed;
    options.timeout = Duration::from_secs(1);
    let limit = RecipientRateLimit::redis(
        RateLimitConfig::new(LIMIT, Duration::from_secs(1), BURST),
        mode,
        KeyBy::Tenant,
        options,
    )
    .await
    .expect("connect to the test redis");
    assert!(limit.is_shared());
    assert!(
        !limit.uses_redis_cell(),
        "the test server has no redis-cell: the Lua path is tested"
    );
    limit
}

/// Runs three clients for `run_for`, each offering about 3x the limit; returns (total admitted,
/// the span of the run, each client's (admitted, refusals, waits)).
async fn run_three(
    mode: LimitMode,
    run_for: Duration,
    test: &str,
) -> Option<(u64, Duration, Vec<(u64, u64, u64)>)> {
    let url = ratelimit_support::redis_url()?;
    let prefix = ratelimit_support::unique_prefix(test);
    let mut limits = Vec::new();
    for _ in 0..3 {
        limits.push(client(&url, &prefix, mode).await);
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for limit in limits {
        tasks.push(tokio::spawn(async move {
            let ctx = RateKeyContext {
                tenant: Some("acme"),
                peer: None,
            };
            let (mut admitted, mut refused, mut waits) = (0u64, 0u64, 0u64);
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            while started.elapsed() < run_for {
                tick.tick().await;
                // 30 recipients per 10 ms per client: 3,000/s each, 9,000/s offered in total.
                match limit.admit(&ctx, 30).await {
                    Ok(a) => {
                        admitted += 30;
                        if !a.waited.is_zero() {
                            waits += 1;
                        }
                    }
                    Err(RateLimited::Limited { retry_after, .. }) => {
                        assert!(!retry_after.is_zero());
                        refused += 1;
                    }
                    Err(e) => panic!("unexpected refusal: {e:?}"),
                }
            }
            let s = limit.stats();
            assert_eq!(s.admitted_recipients, admitted);
            assert_eq!(s.backend_errors + s.backend_timeouts, 0);
            (admitted, refused, waits)
        }));
    }
    let mut per_client = Vec::new();
    for t in tasks {
        per_client.push(t.await.unwrap());
    }
    let span = started.elapsed();
    let total = per_client.iter().map(|c| c.0).sum();
    Some((total, span, per_client))
}

/// The admitted count must stay within burst + span * rate, where span covers every admission
/// (the Redis clock's window is inside the client's measured span).
fn assert_bound(total: u64, span: Duration, run_for: Duration) {
    #[allow(clippy::print_stderr, reason = "the figures, for --nocapture")]
    {
        eprintln!("admitted {total} recipients over {span:?} (limit {LIMIT}/s, burst {BURST})");
    }
    let span_bound = BURST + (span.as_micros() as u64 * LIMIT) / 1_000_000;
    assert!(
        total <= span_bound,
        "admitted {total} > {span_bound} over {span:?}"
    );
    // The figure: 5,000 + burst for 5 seconds (the run ends within a few ms of 5 s).
    let nominal = BURST + run_for.as_secs() * LIMIT;
    let slack = ((span.saturating_sub(run_for)).as_micros() as u64 * LIMIT).div_ceil(1_000_000);
    assert!(
        total <= nominal + slack,
        "admitted {total} > {nominal} (+{slack} for {span:?})"
    );
    // And the limit is not simply refusing everything: most of the rate was used.
    assert!(
        total >= nominal * 8 / 10,
        "admitted only {total} of {nominal}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_clients_reject_mode_share_one_limit() {
    let run_for = Duration::from_secs(5);
    let Some((total, span, per_client)) =
        run_three(LimitMode::Reject, run_for, "cluster-reject").await
    else {
        return;
    };
    assert_bound(total, span, run_for);
    for (admitted, refused, _) in &per_client {
        assert!(*admitted > 0, "{per_client:?}");
        assert!(
            *refused > 0,
            "each client sees 429s once the limit is reached: {per_client:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_clients_wait_mode_share_one_limit() {
    let run_for = Duration::from_secs(2);
    let mode = LimitMode::Wait {
        max_wait: Duration::from_millis(50),
    };
    let Some((total, span, per_client)) = run_three(mode, run_for, "cluster-wait").await else {
        return;
    };
    assert_bound(total, span, run_for);
    for (admitted, _, waits) in &per_client {
        assert!(*admitted > 0, "{per_client:?}");
        assert!(
            *waits > 0,
            "each client waits once the limit is reached: {per_client:?}"
        );
    }
}
