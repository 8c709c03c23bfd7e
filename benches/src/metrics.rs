//! The `metrics` area: kumo-metrics against prometheus-client 0.23 on 1M counter series with 3
//! labels like `queue="t7:campaign-12@domain-42.example.com",provider="p-3",pool="pool-5"`.
//!
//! Metrics: `registry_bytes_per_series`, `render_text_ms` (kumo streams 64 KiB chunks into a
//! sink; prometheus-client encodes into a `String`), `peak_extra_bytes`, `first_chunk_us`,
//! `writer_stall_max_us` (a thread creating new series during a full scrape), `render_json_ms`
//! (against our own text render), `parse_mb_s`, `gzip_mb_s` and `gzip_ratio`.

use crate::{Better, CountingAlloc, Options, Reporter};
use kumo_metrics::{
    ContentEncoding, Counter, Family, Item, Parser, Registry, ScrapeOptions, bytes::Bytes,
};
use prometheus_client::encoding::EncodeLabelSet;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

kumo_metrics::label_set! {
    /// The three labels of the workload.
    pub struct QueueLabels { queue, provider, pool }
}

/// The same label set for prometheus-client.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PcLabels {
    /// The queue name.
    pub queue: String,
    /// The provider.
    pub provider: String,
    /// The pool.
    pub pool: String,
}

/// The labels of series `i`.
pub fn labels(i: usize) -> (String, String, String) {
    (
        format!("t{}:campaign-{}@domain-{i}.example.com", i % 1000, i % 7919),
        format!("p-{}", i % 97),
        format!("pool-{}", i % 13),
    )
}

/// A kumo registry with `n` counter series.
pub fn build_kumo(n: usize) -> (Registry, Family<QueueLabels<'static>, Counter>) {
    let registry = Registry::new();
    let family = registry
        .family("queued_messages_total", "messages queued per queue")
        .counter::<QueueLabels<'static>>()
        .expect("valid names");
    for i in 0..n {
        let (queue, provider, pool) = labels(i);
        family
            .get_or_create(&QueueLabels {
                queue: &queue,
                provider: &provider,
                pool: &pool,
            })
            .inc_by((i % 100_000) as u64);
    }
    (registry, family)
}

/// A prometheus-client registry with the same `n` series.
pub fn build_pc(n: usize) -> prometheus_client::registry::Registry {
    use prometheus_client::metrics::{counter::Counter as PcCounter, family::Family as PcFamily};
    let mut registry = prometheus_client::registry::Registry::default();
    let family = PcFamily::<PcLabels, PcCounter>::default();
    registry.register(
        "queued_messages",
        "messages queued per queue",
        family.clone(),
    );
    for i in 0..n {
        let (queue, provider, pool) = labels(i);
        family
            .get_or_create(&PcLabels {
                queue,
                provider,
                pool,
            })
            .inc_by((i % 100_000) as u64);
    }
    registry
}

/// Streams a whole scrape into a sink; returns the output length.
pub fn render(registry: &Registry, options: &ScrapeOptions) -> usize {
    registry.scrape(options).map(|c| black_box(c).len()).sum()
}

/// Parses a text input in 64 KiB chunks; returns the number of samples.
pub fn parse(text: &[u8]) -> usize {
    let mut n = 0usize;
    let mut sink = |item: Item<'_>| {
        if let Item::Sample(s) = item {
            n += 1;
            black_box(s.value);
        }
    };
    let mut p = Parser::new();
    for chunk in text.chunks(64 * 1024) {
        p.push(chunk, &mut sink).expect("our own output parses");
    }
    p.finish(&mut sink).expect("our own output parses");
    n
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn min_time(reps: usize, mut f: impl FnMut()) -> Duration {
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// The worst `get_or_create` latency of a thread that creates new series (from index `first`
/// on, about 50k per second) while `work` runs on this thread.
fn writer_stall(
    family: &Family<QueueLabels<'static>, Counter>,
    first: usize,
    work: impl FnOnce(),
) -> Duration {
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let family = family.clone();
        std::thread::spawn(move || {
            let mut worst = Duration::ZERO;
            let mut i = first;
            while !stop.load(Ordering::Relaxed) {
                let (queue, provider, pool) = labels(i);
                let t = Instant::now();
                let c = family.get_or_create(&QueueLabels {
                    queue: &queue,
                    provider: &provider,
                    pool: &pool,
                });
                worst = worst.max(t.elapsed());
                black_box(c);
                i += 1;
                std::thread::sleep(Duration::from_micros(20));
            }
            worst
        })
    };
    std::thread::sleep(Duration::from_millis(20));
    work();
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer thread")
}

/// Runs the area.
pub fn run(opts: &Options, alloc: &CountingAlloc, r: &mut Reporter) {
    let n = opts.n.unwrap_or(1_000_000) as usize;
    let n64 = n as u64;
    let reps = 3;

    // prometheus-client: memory, render time and peak.
    let before = alloc.snapshot().live;
    let pc = build_pc(n);
    let pc_bytes = (alloc.snapshot().live - before) as f64 / n as f64;
    let mut pc_len = 0;
    let pc_render = min_time(reps, || {
        let mut s = String::new();
        prometheus_client::encoding::text::encode(&mut s, &pc).expect("encode");
        pc_len = black_box(s).len();
    });
    let base = alloc.snapshot().live;
    alloc.reset_peak();
    {
        let mut s = String::new();
        prometheus_client::encoding::text::encode(&mut s, &pc).expect("encode");
        black_box(&s);
    }
    let pc_peak = (alloc.snapshot().peak - base) as f64;
    drop(pc);

    // kumo.
    let before = alloc.snapshot().live;
    let (registry, family) = build_kumo(n);
    let kumo_bytes = (alloc.snapshot().live - before) as f64 / n as f64;
    r.peer(
        "registry_bytes_per_series",
        n64,
        kumo_bytes,
        "prometheus-client",
        pc_bytes,
        Better::Lower,
    );

    let text_opts = ScrapeOptions::text();
    let mut text_len = 0;
    // Text and JSON renders interleaved, so that both see the same machine load; the minimum of
    // five each.
    let json_opts = ScrapeOptions::json();
    let (mut text_time, mut json_time) = (Duration::MAX, Duration::MAX);
    for _ in 0..5 {
        text_time = text_time.min(min_time(1, || text_len = render(&registry, &text_opts)));
        json_time = json_time.min(min_time(1, || {
            black_box(render(&registry, &json_opts));
        }));
    }
    r.peer(
        "render_text_ms",
        n64,
        ms(text_time),
        "prometheus-client",
        ms(pc_render),
        Better::Lower,
    );

    let base = alloc.snapshot().live;
    alloc.reset_peak();
    black_box(render(&registry, &text_opts));
    let kumo_peak = (alloc.snapshot().peak - base) as f64;
    r.peer(
        "peak_extra_bytes",
        n64,
        kumo_peak,
        "prometheus-client",
        pc_peak,
        Better::Lower,
    );

    let first = (0..5)
        .map(|_| {
            let t = Instant::now();
            let mut s = registry.scrape(&text_opts);
            black_box(s.next());
            t.elapsed()
        })
        .min()
        .unwrap_or_default();
    r.solo(
        "first_chunk_us",
        n64,
        first.as_secs_f64() * 1e6,
        Better::Lower,
    );

    // A writer thread creates new series during full scrapes. Three trials of three scrapes;
    // `writer_stall_max_us` is the median of the trials' maxima and `writer_stall_worst_us` the
    // worst single call. The same writer with no scrape running gives the machine's own noise:
    // `writer_stall_idle_max_us` (this thread asleep), `writer_stall_busy_max_us` (spinning).
    let mut maxima: Vec<Duration> = (0..3)
        .map(|t| {
            writer_stall(&family, n + 10_000_000 * (t + 1), || {
                for _ in 0..reps {
                    black_box(render(&registry, &text_opts));
                }
            })
        })
        .collect();
    maxima.sort();
    let idle = writer_stall(&family, n + 50_000_000, || {
        std::thread::sleep(Duration::from_millis(300))
    });
    let busy = writer_stall(&family, n + 60_000_000, || {
        let t = Instant::now();
        let mut x = 0u64;
        while t.elapsed() < Duration::from_millis(300) {
            x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    });
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    r.solo("writer_stall_max_us", n64, us(maxima[1]), Better::Lower);
    r.solo("writer_stall_worst_us", n64, us(maxima[2]), Better::Lower);
    r.solo("writer_stall_idle_max_us", n64, us(idle), Better::Lower);
    r.solo("writer_stall_busy_max_us", n64, us(busy), Better::Lower);

    r.peer(
        "render_json_ms",
        n64,
        ms(json_time),
        "kumo-metrics text",
        ms(text_time),
        Better::Lower,
    );

    // Parse our own text output.
    let text: Vec<u8> = registry.scrape(&text_opts).flatten().collect();
    let parse_time = min_time(5, || {
        black_box(parse(&text));
    });
    r.solo(
        "parse_mb_s",
        n64,
        text.len() as f64 / 1e6 / parse_time.as_secs_f64(),
        Better::Higher,
    );
    drop(text);

    // Render and gzip (fastest level) as one stream.
    let mut gz_len = 0;
    let gz_time = min_time(reps, || {
        gz_len = ContentEncoding::Gzip
            .compress(registry.scrape(&text_opts), 64 * 1024)
            .map(|c: std::io::Result<Bytes>| c.expect("in-memory compression").len())
            .sum::<usize>();
    });
    r.solo(
        "gzip_mb_s",
        n64,
        text_len as f64 / 1e6 / gz_time.as_secs_f64(),
        Better::Higher,
    );
    r.solo(
        "gzip_ratio",
        n64,
        text_len as f64 / gz_len.max(1) as f64,
        Better::Higher,
    );
    let _ = pc_len;
}
