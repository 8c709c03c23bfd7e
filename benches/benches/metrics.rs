//! Criterion benchmarks of the `metrics` area: kumo-metrics against prometheus-client on the same
//! series (100k by default; `KUMO_BENCH_N` to change).
#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kumo_benches::metrics::{Discard, build_kumo, build_pc, parse, render, render_pc_into};
use kumo_metrics::{ContentEncoding, ScrapeOptions};
use std::hint::black_box;

fn n() -> usize {
    std::env::var("KUMO_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

fn benches(c: &mut Criterion) {
    let n = n();
    let (registry, _family) = build_kumo(n);
    let pc = build_pc(n);
    let text: Vec<u8> = registry.scrape(&ScrapeOptions::text()).flatten().collect();

    let mut g = c.benchmark_group("render_text");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("kumo-metrics", |b| {
        b.iter(|| render(&registry, &ScrapeOptions::text()))
    });
    g.bench_function("prometheus-client", |b| {
        // The same 64 KiB chunked sink as kumo's render.
        b.iter(|| black_box(render_pc_into(&pc, Discard::default()).bytes))
    });
    g.finish();

    let mut g = c.benchmark_group("render_json");
    g.sample_size(10);
    g.bench_function("kumo-metrics", |b| {
        b.iter(|| render(&registry, &ScrapeOptions::json()))
    });
    g.finish();

    let mut g = c.benchmark_group("parse");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("kumo-metrics", |b| b.iter(|| parse(&text)));
    g.finish();

    let mut g = c.benchmark_group("gzip_fastest");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("kumo-metrics_stream", |b| {
        b.iter(|| {
            ContentEncoding::Gzip
                .compress(registry.scrape(&ScrapeOptions::text()), 64 * 1024)
                .map(|c| c.unwrap().len())
                .sum::<usize>()
        })
    });
    g.finish();
}

criterion_group!(metrics, benches);
criterion_main!(metrics);
