//! Criterion benchmarks of the `trace` area: publishing a session event into
//! `kumo_trace::TraceHub` beside `tokio::sync::broadcast`, with no subscriber and with one.
//!
//! ```text
//! cargo bench -p kumo-benches --no-default-features --features trace --bench trace
//! ```
#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use kumo_benches::trace::{
    BATCH, Session, kumo_no_subscriber, kumo_one_subscriber, tokio_no_subscriber,
    tokio_one_subscriber,
};

fn no_subscriber(c: &mut Criterion) {
    let s = Session::new();
    let mut g = c.benchmark_group("trace/publish_no_subscriber");
    g.bench_function("kumo", |b| {
        b.iter_custom(|iters| {
            Duration::from_nanos((kumo_no_subscriber(&s, iters) * iters as f64) as u64)
        })
    });
    g.bench_function("tokio_broadcast", |b| {
        b.iter_custom(|iters| {
            Duration::from_nanos((tokio_no_subscriber(&s, iters) * iters as f64) as u64)
        })
    });
    g.finish();
}

fn one_subscriber(c: &mut Criterion) {
    let s = Session::new();
    let mut g = c.benchmark_group("trace/publish_one_subscriber");
    // One criterion iteration = one publish; batches are drained untimed.
    let batches = |iters: u64| iters.div_ceil(BATCH as u64).max(1);
    let per = |total: u128, iters: u64| {
        let published = batches(iters) * BATCH as u64;
        Duration::from_nanos((total * u128::from(iters) / u128::from(published)) as u64)
    };
    g.bench_function("kumo", |b| {
        b.iter_custom(|iters| per(kumo_one_subscriber(black_box(&s), batches(iters)), iters))
    });
    g.bench_function("tokio_broadcast", |b| {
        b.iter_custom(|iters| per(tokio_one_subscriber(black_box(&s), batches(iters)), iters))
    });
    g.finish();
}

criterion_group!(benches, no_subscriber, one_subscriber);
criterion_main!(benches);
