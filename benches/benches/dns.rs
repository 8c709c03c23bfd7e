//! Criterion benchmarks of the `dns` area: planning 16 addresses over 3 preference levels (host
//! and address-weighted shuffles), and a cache hit in `kumo_dns::MxCache` beside a cached lookup
//! through hickory-resolver, both against the in-process loopback DNS server.
//!
//! ```text
//! cargo bench -p kumo-benches --no-default-features --features dns --bench dns
//! ```
#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use kumo_benches::dns::{resolver, sixteen_over_three, start_server};
use kumo_dns::hickory_resolver::proto::rr::RecordType;
use kumo_dns::{CacheConfig, MxCache, PlanPolicy, ShuffleMode, plan};
use rand::SeedableRng;
use rand::rngs::SmallRng;

fn planning(c: &mut Criterion) {
    let mx = sixteen_over_three();
    let mut g = c.benchmark_group("dns/plan_16x3");
    for (name, policy) in [
        ("host", PlanPolicy::default()),
        (
            "address_weighted",
            PlanPolicy::default().shuffle(ShuffleMode::AddressWeighted),
        ),
    ] {
        let mut rng = SmallRng::seed_from_u64(1);
        g.bench_function(name, |b| b.iter(|| plan(black_box(&mx), &policy, &mut rng)));
    }
    g.finish();
}

fn cache_hit(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt.block_on(start_server());
    let cache = MxCache::new(resolver(&server), CacheConfig::default());
    let hickory = resolver(&server);
    rt.block_on(async {
        cache.resolve("example.test").await.expect("resolves");
        hickory
            .inner()
            .lookup("example.test.", RecordType::MX)
            .await
            .expect("resolves");
    });
    let mut g = c.benchmark_group("dns/cache_hit");
    g.bench_function("kumo", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let t = Instant::now();
                for _ in 0..iters {
                    black_box(cache.resolve(black_box("example.test")).await.ok());
                }
                t.elapsed()
            })
        })
    });
    g.bench_function("hickory-resolver", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let t = Instant::now();
                for _ in 0..iters {
                    black_box(
                        hickory
                            .inner()
                            .lookup(black_box("example.test."), RecordType::MX)
                            .await
                            .ok(),
                    );
                }
                t.elapsed()
            })
        })
    });
    g.finish();
    drop(server);
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = planning, cache_hit
}
criterion_main!(benches);
