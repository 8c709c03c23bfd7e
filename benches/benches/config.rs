//! Criterion benchmarks of the `config` area: a hit in `kumo_config::EpochCache` beside moka's
//! TTL cache holding the same keys, and an unchanged `ConfigEpoch` scan beside a full content
//! hash of the same 200 files of 50 KiB.
//!
//! ```text
//! cargo bench -p kumo-benches --no-default-features --features config --bench config
//! ```
#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use kumo_benches::config::{
    full_hash_passes, keys, kumo_cache, kumo_hits, moka_cache, moka_hits, scan_fixture,
    scan_unchanged,
};

/// Keys in the caches (the `compare` binary uses 1M).
const N: usize = 100_000;

fn hit(c: &mut Criterion) {
    let keys = keys(N);
    let kumo = kumo_cache(&keys);
    let moka = moka_cache(&keys);
    let mut g = c.benchmark_group("config/hit");
    g.bench_function("kumo", |b| {
        b.iter_custom(|iters| {
            let iters = iters.max(1);
            Duration::from_nanos((kumo_hits(&kumo, &keys, iters as usize) * iters as f64) as u64)
        })
    });
    g.bench_function("moka", |b| {
        b.iter_custom(|iters| {
            let iters = iters.max(1);
            Duration::from_nanos((moka_hits(&moka, &keys, iters as usize) * iters as f64) as u64)
        })
    });
    g.finish();
}

fn scan(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (pattern, epoch) = scan_fixture(dir.path());
    let mut g = c.benchmark_group("config/scan_unchanged_200x50KiB");
    g.sample_size(20);
    g.bench_function("kumo", |b| {
        b.iter_custom(|iters| {
            let iters = iters.max(1);
            Duration::from_secs_f64(scan_unchanged(&epoch, iters as usize) * iters as f64 / 1e6)
        })
    });
    g.bench_function("full-hash", |b| {
        b.iter_custom(|iters| {
            let iters = iters.max(1);
            Duration::from_secs_f64(full_hash_passes(&pattern, iters as usize) * iters as f64 / 1e6)
        })
    });
    g.finish();
}

criterion_group!(benches, hit, scan);
criterion_main!(benches);
