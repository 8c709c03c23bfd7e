//! The `metrics` area: kumo-metrics against prometheus-client 0.23 on 1M counter series with 3
//! labels like `queue="t7:campaign-12@domain-42.example.com",provider="p-3",pool="pool-5"`.
//!
//! Metrics: `registry_bytes_per_series`, `render_text_ms` and `peak_extra_bytes` (both renderers
//! stream into the same [`ChunkSink`], 64 KiB pieces in front of a writer that takes the bytes
//! as a socket would; kumo writes its scrape's chunks into it, prometheus-client `encode`s into
//! it through `fmt::Write`; a check pass counts and sums the sample lines of both outputs, which
//! must agree), `first_chunk_us`, `writer_stall_max_us` (a thread creating new
//! series during a full scrape), `render_json_ms` (against our own text render, a baseline, not a
//! peer crate), `parse_mb_s`, `gzip_mb_s` and `gzip_ratio`. Every timed figure is the best of the
//! same number of repetitions on both sides ([`best_of2`]).

use crate::{Better, CountingAlloc, Options, Reporter, best_of, best_of2};
use kumo_metrics::{
    ContentEncoding, Counter, Family, Item, Parser, Registry, ScrapeOptions, bytes::Bytes,
};
use prometheus_client::encoding::EncodeLabelSet;
use std::hint::black_box;
use std::io::Write;
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

/// The buffer of the sink that both renderers stream into.
pub const SINK_BUFFER: usize = 64 * 1024;

/// The end of the sink: takes every byte, as a socket would, and counts them.
#[derive(Debug, Default)]
pub struct Discard {
    /// Bytes taken.
    pub bytes: usize,
}

impl Write for Discard {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        black_box(buf);
        self.bytes += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The end of the sink for the check pass: counts the sample lines (neither empty nor
/// comments) and sums their values, across chunk boundaries.
#[derive(Debug, Default)]
pub struct SampleCount {
    partial: Vec<u8>,
    /// Sample lines seen.
    pub samples: usize,
    /// The sum of their values.
    pub sum: f64,
}

impl SampleCount {
    fn line(&mut self, line: &[u8]) {
        if line.is_empty() || line[0] == b'#' {
            return;
        }
        self.samples += 1;
        let value = line.rsplit(|&b| b == b' ').next().unwrap_or_default();
        self.sum += std::str::from_utf8(value)
            .ok()
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(f64::NAN);
    }
}

impl Write for SampleCount {
    fn write(&mut self, mut buf: &[u8]) -> std::io::Result<usize> {
        let len = buf.len();
        while let Some(i) = buf.iter().position(|&b| b == b'\n') {
            if self.partial.is_empty() {
                self.line(&buf[..i]);
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(&buf[..i]);
                self.line(&line);
            }
            buf = &buf[i + 1..];
        }
        self.partial.extend_from_slice(buf);
        Ok(len)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The sink both renderers stream into, with the rule of std's `BufWriter` and a
/// [`SINK_BUFFER`] buffer: a write that does not fit behind what is buffered flushes it first; a
/// write at least as large as the buffer goes straight to `end`; smaller writes are gathered into
/// the buffer, so that `end` only sees pieces of at least 64 KiB but the last. Unlike
/// `BufWriter`, the buffer is allocated on the first write that needs it.
#[derive(Debug)]
pub struct ChunkSink<W: Write> {
    buf: Vec<u8>,
    end: W,
}

impl<W: Write> ChunkSink<W> {
    /// A sink in front of `end`.
    pub fn new(end: W) -> Self {
        Self {
            buf: Vec::new(),
            end,
        }
    }

    /// Flushes what is buffered and returns `end`.
    pub fn finish(mut self) -> W {
        self.flush_buf();
        self.end
    }

    fn flush_buf(&mut self) {
        if !self.buf.is_empty() {
            self.end
                .write_all(&self.buf)
                .expect("the end takes everything");
            self.buf.clear();
        }
    }

    /// Takes `data`.
    pub fn push(&mut self, data: &[u8]) {
        if self.buf.len() + data.len() > SINK_BUFFER {
            self.flush_buf();
        }
        if data.len() >= SINK_BUFFER {
            self.end.write_all(data).expect("the end takes everything");
        } else {
            if self.buf.capacity() == 0 {
                self.buf.reserve_exact(SINK_BUFFER);
            }
            self.buf.extend_from_slice(data);
        }
    }
}

/// `fmt::Write` over the sink, for prometheus-client's `encode`.
struct FmtSink<'a, W: Write>(&'a mut ChunkSink<W>);

impl<W: Write> std::fmt::Write for FmtSink<'_, W> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.push(s.as_bytes());
        Ok(())
    }
}

/// Streams a whole kumo scrape into the sink in front of `end`; returns `end`.
pub fn render_into<W: Write>(registry: &Registry, options: &ScrapeOptions, end: W) -> W {
    let mut sink = ChunkSink::new(end);
    for chunk in registry.scrape(options) {
        sink.push(&chunk);
    }
    sink.finish()
}

/// Encodes a whole prometheus-client registry into the same sink in front of `end`; returns
/// `end`.
pub fn render_pc_into<W: Write>(registry: &prometheus_client::registry::Registry, end: W) -> W {
    let mut sink = ChunkSink::new(end);
    prometheus_client::encoding::text::encode(&mut FmtSink(&mut sink), registry).expect("encode");
    sink.finish()
}

/// Streams a whole scrape into the sink; returns the output length.
pub fn render(registry: &Registry, options: &ScrapeOptions) -> usize {
    render_into(registry, options, Discard::default()).bytes
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

/// Milliseconds that `f` takes.
fn time_ms(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    ms(t.elapsed())
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
    let reps = opts.reps(5);
    let text_opts = ScrapeOptions::text();
    let json_opts = ScrapeOptions::json();

    // Memory of each registry.
    let before = alloc.snapshot().live;
    let pc = build_pc(n);
    let pc_bytes = (alloc.snapshot().live - before) as f64 / n as f64;
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

    // Both renders hold the same samples: the check pass through the same sink.
    let k = render_into(&registry, &text_opts, SampleCount::default());
    let p = render_pc_into(&pc, SampleCount::default());
    assert!(
        k.samples == n && p.samples == n && k.sum == p.sum && k.partial.is_empty(),
        "the renders differ: kumo {} samples summing to {}, prometheus-client {} summing to {}; \
         want {n} each",
        k.samples,
        k.sum,
        p.samples,
        p.sum
    );

    // Render time into the same sink, the same repetitions and statistic, interleaved.
    let mut text_len = 0;
    let mut pc_len = 0;
    let (text_time, pc_render) = best_of2(
        reps,
        Better::Lower,
        || time_ms(|| text_len = render(&registry, &text_opts)),
        || time_ms(|| pc_len = render_pc_into(&pc, Discard::default()).bytes),
    );
    assert!(text_len > 0 && pc_len > 0, "both renders wrote");
    r.peer(
        "render_text_ms",
        n64,
        text_time,
        "prometheus-client",
        pc_render,
        Better::Lower,
    );

    // Peak extra memory of one render into the same sink (its 64 KiB buffer counts on both
    // sides).
    let peak = |f: &mut dyn FnMut()| {
        let base = alloc.snapshot().live;
        alloc.reset_peak();
        f();
        (alloc.snapshot().peak - base) as f64
    };
    let kumo_peak = peak(&mut || {
        black_box(render(&registry, &text_opts));
    });
    let pc_peak = peak(&mut || {
        black_box(render_pc_into(&pc, Discard::default()));
    });
    r.peer(
        "peak_extra_bytes",
        n64,
        kumo_peak,
        "prometheus-client",
        pc_peak,
        Better::Lower,
    );
    drop(pc);

    let (json_time, text_again) = best_of2(
        reps,
        Better::Lower,
        || {
            time_ms(|| {
                black_box(render(&registry, &json_opts));
            })
        },
        || {
            time_ms(|| {
                black_box(render(&registry, &text_opts));
            })
        },
    );

    let first = best_of(reps, Better::Lower, || {
        let t = Instant::now();
        let mut s = registry.scrape(&text_opts);
        black_box(s.next());
        t.elapsed().as_secs_f64() * 1e6
    });
    r.solo("first_chunk_us", n64, first, Better::Lower);

    // A writer thread creates new series during full scrapes. Three trials of three scrapes;
    // `writer_stall_max_us` is the median of the trials' maxima and `writer_stall_worst_us` the
    // worst single call. The same writer with no scrape running gives the machine's own noise:
    // `writer_stall_idle_max_us` (this thread asleep), `writer_stall_busy_max_us` (spinning).
    let mut maxima: Vec<Duration> = (0..3)
        .map(|t| {
            writer_stall(&family, n + 10_000_000 * (t + 1), || {
                for _ in 0..3 {
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
        json_time,
        "kumo-metrics text (baseline, not a crate)",
        text_again,
        Better::Lower,
    );

    // Parse our own text output.
    let text: Vec<u8> = registry.scrape(&text_opts).flatten().collect();
    let mut lines = SampleCount::default();
    lines.write_all(&text).expect("counts");
    assert_eq!(
        parse(&text),
        lines.samples,
        "kumo-metrics' parser reads every sample line back"
    );
    let parse_ms = best_of(reps, Better::Lower, || {
        time_ms(|| {
            black_box(parse(&text));
        })
    });
    r.solo(
        "parse_mb_s",
        n64,
        text.len() as f64 / 1e3 / parse_ms,
        Better::Higher,
    );
    drop(text);

    // Render and gzip (fastest level) as one stream.
    let mut gz_len = 0;
    let gz_ms = best_of(reps, Better::Lower, || {
        time_ms(|| {
            gz_len = ContentEncoding::Gzip
                .compress(registry.scrape(&text_opts), 64 * 1024)
                .map(|c: std::io::Result<Bytes>| c.expect("in-memory compression").len())
                .sum::<usize>();
        })
    });
    r.solo(
        "gzip_mb_s",
        n64,
        text_len as f64 / 1e3 / gz_ms,
        Better::Higher,
    );
    r.solo(
        "gzip_ratio",
        n64,
        text_len as f64 / gz_len.max(1) as f64,
        Better::Higher,
    );
}
