//! Criterion benchmarks of kumo-inject against lettre + minijinja on the `compare inject`
//! workload: a 1,000-recipient builder batch with templated subject, text and HTML bodies and a
//! 10 KB attachment; and the deferred accept path through the axum router.
#![allow(
    missing_docs,
    reason = "criterion_group! generates an undocumented function"
)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kumo_benches::inject::{deferred_accept, kumo_generate, lettre_generate, request_json};
use kumo_inject::InjectRequest;

fn generate(c: &mut Criterion) {
    let body = request_json(1000, false);
    let req = InjectRequest::from_json(&body).expect("request");
    let mut g = c.benchmark_group("generate_1000_recipients");
    g.sample_size(10);
    g.throughput(Throughput::Elements(1000));
    g.bench_function("kumo", |b| b.iter(|| kumo_generate(&req)));
    g.bench_function("lettre", |b| b.iter(|| lettre_generate(&req)));
    g.finish();
}

fn accept(c: &mut Criterion) {
    let body = request_json(1000, true);
    let mut g = c.benchmark_group("deferred_accept_1000_recipients");
    g.sample_size(10);
    g.bench_function("kumo_median_of_10", |b| {
        b.iter(|| deferred_accept(&body, 10))
    });
    g.finish();
}

criterion_group!(benches, generate, accept);
criterion_main!(benches);
