//! The Redis backend refuses a batch larger than the burst too, in both modes, and spends nothing
//! on it; within the burst, the answers carry the header values.
#![cfg(feature = "redis")]

use crate::ratelimit_support;

use std::time::Duration;

use kumo_inject::ratelimit::RedisOptions;
use kumo_inject::{
    KeyBy, LimitMode, RateKeyContext, RateLimitConfig, RateLimited, RecipientRateLimit,
};

#[tokio::test]
async fn redis_backend_refuses_a_batch_over_the_burst() {
    let Some(url) = ratelimit_support::redis_url() else {
        return;
    };
    for mode in [
        LimitMode::Reject,
        LimitMode::Wait {
            max_wait: Duration::from_secs(1),
        },
    ] {
        let mut options = RedisOptions::new(url.clone());
        options.key_prefix = ratelimit_support::unique_prefix("too-large");
        let limit = RecipientRateLimit::redis(
            RateLimitConfig::new(10, Duration::from_secs(60), 20),
            mode,
            KeyBy::Peer,
            options,
        )
        .await
        .unwrap();
        let ctx = RateKeyContext {
            tenant: None,
            peer: Some("198.51.100.7".parse().unwrap()),
        };
        match limit.admit(&ctx, 21).await {
            Err(RateLimited::BatchTooLarge { requested, burst }) => {
                assert_eq!((requested, burst), (21, 20))
            }
            other => panic!("{mode:?}: {other:?}"),
        }
        let a = limit.admit(&ctx, 15).await.unwrap();
        assert_eq!((a.limit, a.remaining), (20, 5));
        assert!(
            a.reset_after > Duration::from_secs(89) && a.reset_after <= Duration::from_secs(90)
        );
        match limit.admit(&ctx, 6).await {
            Err(RateLimited::Limited {
                remaining,
                retry_after,
                ..
            }) => {
                assert_eq!(remaining, 5);
                // One recipient short: T = 6 s (less the time passed).
                assert!(
                    retry_after > Duration::from_secs(5) && retry_after <= Duration::from_secs(6)
                );
            }
            other => panic!("{mode:?}: {other:?}"),
        }
        let s = limit.stats();
        assert_eq!(
            (s.batch_too_large, s.admitted, s.limited, s.backend_ok),
            (1, 1, 1, 2)
        );
    }
}
