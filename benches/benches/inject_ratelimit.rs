//! Criterion cases for kumo-inject's recipient rate limit against governor: one uncontended
//! check of one recipient, a global key and a per-peer key over 1,000 peers.
//!
//! `cargo bench -p kumo-benches --no-default-features --features inject --bench inject_ratelimit`
#![allow(missing_docs, reason = "criterion generates the entry point")]

use std::hint::black_box;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use governor::{Quota, RateLimiter};
use kumo_inject::{KeyBy, LimitMode, RateKeyContext, RateLimitConfig, RecipientRateLimit};

/// A rate no benchmark loop reaches, so every check admits (the common, fast path).
const RATE: u32 = 1_000_000_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
}

fn peers() -> Vec<IpAddr> {
    (0..1000u32)
        .map(|i| IpAddr::from((0x0a00_0000 + i).to_be_bytes()))
        .collect()
}

fn ratelimit(c: &mut Criterion) {
    let rt = runtime();
    let config = RateLimitConfig::new(u64::from(RATE), Duration::from_secs(1), u64::from(RATE));
    let quota = Quota::per_second(NonZeroU32::new(RATE).unwrap());
    let one = NonZeroU32::new(1).unwrap();
    let mut g = c.benchmark_group("ratelimit_check");

    let global = RecipientRateLimit::local(config, LimitMode::Reject, KeyBy::Global).unwrap();
    let ctx = RateKeyContext::default();
    g.bench_function("kumo/global", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let started = Instant::now();
                for _ in 0..iters {
                    let _ = black_box(global.admit(&ctx, 1).await);
                }
                started.elapsed()
            })
        })
    });
    let direct = RateLimiter::direct(quota);
    g.bench_function("governor/direct", |b| {
        b.iter(|| black_box(direct.check_n(one)).is_ok())
    });

    let peers = peers();
    let by_peer = RecipientRateLimit::local(config, LimitMode::Reject, KeyBy::Peer).unwrap();
    g.bench_function("kumo/per_peer_1000", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let started = Instant::now();
                for i in 0..iters {
                    let ctx = RateKeyContext {
                        tenant: None,
                        peer: Some(peers[i as usize % peers.len()]),
                    };
                    let _ = black_box(by_peer.admit(&ctx, 1).await);
                }
                started.elapsed()
            })
        })
    });
    let keyed = RateLimiter::keyed(quota);
    let mut j = 0;
    g.bench_function("governor/keyed_1000", |b| {
        b.iter(|| {
            j = (j + 1) % peers.len();
            black_box(keyed.check_key_n(&peers[j], one)).is_ok()
        })
    });
    g.finish();
}

criterion_group!(benches, ratelimit);
criterion_main!(benches);
