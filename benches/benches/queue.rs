//! Criterion benchmarks for the queue area: kumo-queue's `TimerWheel` against
//! `hierarchical_hash_wheel_timer` and tokio-util's `DelayQueue` on the same `(id, due)`
//! workloads (see `kumo_benches::queue` for the conventions).
//!
//! `cargo bench -p kumo-benches --no-default-features --features queue --bench queue`
//! (set `KUMO_QUEUE_BENCH_LARGE=1` to add 1M-entry runs).
#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kumo_benches::queue::{
    Workload, dq_drain, dq_fill, hhwt_advance, hhwt_drain, hhwt_fill, horizon_secs, kumo_drain,
    kumo_fill, paused_runtime,
};
use std::hint::black_box;
use std::time::{Duration, Instant};

fn sizes() -> Vec<usize> {
    let mut v = vec![100_000];
    if std::env::var_os("KUMO_QUEUE_BENCH_LARGE").is_some() {
        v.push(1_000_000);
    }
    v
}

fn insert(c: &mut Criterion) {
    let mut g = c.benchmark_group("insert");
    g.sample_size(10);
    for wl in Workload::ALL {
        for n in sizes() {
            let delays = wl.delays_ms(n);
            g.throughput(Throughput::Elements(n as u64));
            let id = format!("{}/{n}", wl.name());
            g.bench_with_input(BenchmarkId::new("kumo", &id), &delays, |b, d| {
                b.iter(|| black_box(kumo_fill(d)))
            });
            g.bench_with_input(BenchmarkId::new("hhwt", &id), &delays, |b, d| {
                b.iter(|| black_box(hhwt_fill(d)))
            });
            let rt = paused_runtime();
            g.bench_with_input(BenchmarkId::new("delayqueue", &id), &delays, |b, d| {
                b.iter(|| rt.block_on(async { black_box(dq_fill(d, tokio::time::Instant::now())) }))
            });
        }
    }
    g.finish();
}

fn drain(c: &mut Criterion) {
    let mut g = c.benchmark_group("drain_24h");
    g.sample_size(10);
    for wl in Workload::ALL {
        for n in sizes() {
            let delays = wl.delays_ms(n);
            let secs = horizon_secs(&delays);
            g.throughput(Throughput::Elements(n as u64));
            let id = format!("{}/{n}", wl.name());
            g.bench_with_input(BenchmarkId::new("kumo", &id), &delays, |b, d| {
                b.iter_batched(
                    || kumo_fill(d),
                    |mut w| black_box(kumo_drain(&mut w, secs)),
                    BatchSize::LargeInput,
                )
            });
            g.bench_with_input(BenchmarkId::new("hhwt", &id), &delays, |b, d| {
                b.iter_batched(
                    || hhwt_fill(d),
                    |mut w| black_box(hhwt_drain(&mut w, secs)),
                    BatchSize::LargeInput,
                )
            });
            let rt = paused_runtime();
            g.bench_with_input(BenchmarkId::new("delayqueue", &id), &delays, |b, d| {
                b.iter_batched(
                    || rt.block_on(async { dq_fill(d, tokio::time::Instant::now()).0 }),
                    |mut q| rt.block_on(async { black_box(dq_drain(&mut q, secs).await) }),
                    BatchSize::LargeInput,
                )
            });
        }
    }
    g.finish();
}

fn cancel(c: &mut Criterion) {
    let mut g = c.benchmark_group("cancel_half");
    g.sample_size(10);
    for n in sizes() {
        let delays = Workload::Uniform.delays_ms(n);
        g.throughput(Throughput::Elements(n as u64 / 2));
        g.bench_with_input(BenchmarkId::new("kumo", n), &delays, |b, d| {
            b.iter_batched(
                || kumo_fill(d),
                |mut w| {
                    for id in (0..d.len() as u32).step_by(2) {
                        black_box(w.cancel(id));
                    }
                    w
                },
                BatchSize::LargeInput,
            )
        });
        let rt = paused_runtime();
        g.bench_with_input(BenchmarkId::new("delayqueue", n), &delays, |b, d| {
            b.iter_batched(
                || rt.block_on(async { dq_fill(d, tokio::time::Instant::now()) }),
                |(mut q, keys)| {
                    for k in keys.iter().step_by(2) {
                        black_box(q.remove(k));
                    }
                    q
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

fn idle_advance(c: &mut Criterion) {
    let mut g = c.benchmark_group("idle_advance");
    let n = 100_000;
    // Due in 4-5 days; each measured step advances one second, and a fresh wheel is built
    // (untimed) every 300k steps, so that nothing ever becomes due.
    let far: Vec<u64> = Workload::Uniform
        .delays_ms(n)
        .iter()
        .map(|d| 4 * 86_400_000 + d)
        .collect();
    const ROUND: u64 = 300_000;
    g.bench_function("kumo", |b| {
        b.iter_custom(|iters| {
            let mut out = Vec::new();
            let total = in_rounds(iters, ROUND, |steps| {
                let mut w = kumo_fill(&far);
                let t = Instant::now();
                for s in 1..=steps {
                    w.advance(Duration::from_secs(s), &mut out);
                }
                t.elapsed()
            });
            assert!(out.is_empty());
            total
        })
    });
    g.bench_function("hhwt", |b| {
        b.iter_custom(|iters| {
            let mut out = Vec::new();
            let total = in_rounds(iters, ROUND, |steps| {
                let mut w = hhwt_fill(&far);
                let t = Instant::now();
                for _ in 0..steps {
                    hhwt_advance(&mut w, 1, &mut out);
                }
                t.elapsed()
            });
            assert!(out.is_empty());
            total
        })
    });
    g.finish();
}

/// Runs `iters` timed steps in rounds of at most `round`: `run(steps)` builds its state untimed
/// and returns how long its `steps` took.
fn in_rounds(iters: u64, round: u64, mut run: impl FnMut(u64) -> Duration) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let steps = left.min(round);
        total += run(steps);
        left -= steps;
    }
    total
}

criterion_group!(benches, insert, drain, cancel, idle_advance);
criterion_main!(benches);
