//! `compare tools`: the operator tools (`top`, `queue-summary`) on a `/metrics` body of N
//! per-queue `scheduled_count` series (default 1,000,000, about 75 MB) plus per-provider
//! counters, served by axum on loopback from memory, scraped through the tools' own HTTP
//! client and kumo-metrics' streaming parser, in this process.
//!
//! Each metric is the best of [`ROUNDS`] runs (time) and the worst peak of heap bytes above
//! what was live before the run (the counting allocator; the in-process server's own buffers
//! for the one connection are counted too, a few KB). The tools' views:
//! * `top_once`: [`TopView`] with the 20 busiest queues (`top --once`);
//! * `queue_summary_limit20`: [`QueueSummary`] keeping the 20 busiest (`queue-summary --limit 20`);
//! * `queue_summary_all`: [`QueueSummary`] of every queue, before printing;
//!   `queue_summary_all_render_s` is the printing of its report to `io::sink()`.
//!
//! There is no peer crate: KumoMTA's `kcli` is a program, measured by hand in the README. The
//! `baseline` of each line is `Snapshot` (labelled as a baseline, not a crate): the demo's
//! earlier full snapshot of every series into `BTreeMap`s, which the tools used before.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use kumo_examples::http::Target;
use kumo_examples::snapshot::Snapshot;
use kumo_examples::tools::{QueueSummary, TopView};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::alloc::CountingAlloc;
use crate::report::{Better, Options, Reporter};

/// Queues in the default body.
pub const DEFAULT_QUEUES: u64 = 1_000_000;
/// Rows the `top` and `--limit` views keep.
pub const ROWS: usize = 20;
/// Runs per metric; the best time and the worst peak count.
pub const ROUNDS: usize = 3;
/// The baseline's label: not a crate.
const BASELINE: &str = "baseline: Snapshot, every series in BTreeMaps (not a crate)";

/// A `/metrics` body: `queues` per-queue `scheduled_count` series with campaign and tenant
/// prefixes, then three per-provider counter families over 50 providers.
pub fn body(queues: u64) -> Vec<u8> {
    use std::fmt::Write as _;
    let mut rng = StdRng::seed_from_u64(1);
    let mut s = String::with_capacity(queues as usize * 75 + 16 * 1024);
    s.push_str("# HELP scheduled_count number of messages in the scheduled queue\n");
    s.push_str("# TYPE scheduled_count gauge\n");
    for i in 0..queues {
        let _ = writeln!(
            s,
            "scheduled_count{{queue=\"campaign{}:tenant{}@domain{i}.example.com\"}} {}",
            i % 97,
            i % 13,
            rng.random_range(0..5000u32)
        );
    }
    for family in [
        "total_messages_delivered_by_provider",
        "total_messages_transfail_by_provider",
        "total_messages_fail_by_provider",
    ] {
        let _ = writeln!(s, "# HELP {family} per provider\n# TYPE {family} counter");
        for p in 0..50 {
            let _ = writeln!(
                s,
                "{family}{{provider=\"provider{p}.test\"}} {}",
                rng.random_range(0..10_000_000u32)
            );
        }
    }
    s.into_bytes()
}

/// Serves `body` at `GET /metrics` on a loopback port, on its own thread and runtime.
fn serve(body: Bytes) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let addr = listener.local_addr().expect("its address");
    listener.set_nonblocking(true).expect("non-blocking");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("the server runtime");
        rt.block_on(async move {
            let app = Router::new().route("/metrics", get(move || async move { body.clone() }));
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            axum::serve(listener, app).await.expect("serve");
        });
    });
    addr
}

/// The best time and the worst peak heap bytes of `rounds` runs of `f`.
fn measure<T>(
    alloc: &CountingAlloc,
    rounds: usize,
    mut f: impl FnMut() -> T,
) -> (Duration, i64, T) {
    let mut best = Duration::MAX;
    let mut worst_peak = 0;
    let mut last = None;
    for _ in 0..rounds {
        let before = alloc.snapshot().live;
        alloc.reset_peak();
        let t0 = Instant::now();
        let v = f();
        best = best.min(t0.elapsed());
        worst_peak = worst_peak.max(alloc.snapshot().peak - before);
        last = Some(v);
    }
    (best, worst_peak, last.expect("at least one round"))
}

/// Runs the area.
pub fn run(opts: &Options, alloc: &CountingAlloc, r: &mut Reporter) {
    let n = opts.n.unwrap_or(DEFAULT_QUEUES).max(ROWS as u64);
    let body = Bytes::from(body(n));
    let body_len = body.len() as u64;
    let addr = serve(body);
    let target = Target::from_addr(addr, "/metrics");
    let secs = |d: Duration| d.as_secs_f64();

    let (base_t, base_peak, snap) = measure(alloc, ROUNDS, || {
        Snapshot::fetch(&target, false).expect("the baseline scrape")
    });
    assert_eq!(snap.queues.len() as u64, n, "the baseline saw every queue");
    drop(snap);

    let (t, peak, view) = measure(alloc, ROUNDS, || {
        TopView::fetch(&target, false, ROWS).expect("the top scrape")
    });
    assert_eq!(
        (view.queues, view.rows.len()),
        (n, ROWS),
        "top saw every queue"
    );
    r.peer(
        "top_once_s",
        n,
        secs(t),
        BASELINE,
        secs(base_t),
        Better::Lower,
    );
    r.peer(
        "top_once_peak_bytes",
        n,
        peak as f64,
        BASELINE,
        base_peak as f64,
        Better::Lower,
    );

    let (t, peak, limited) = measure(alloc, ROUNDS, || {
        QueueSummary::fetch(&target, false, Some(ROWS)).expect("the limited summary")
    });
    assert_eq!(limited.queues().count(), ROWS);
    let top: Vec<&str> = view.rows.iter().map(|(q, _)| q.as_str()).collect();
    let limited_names: Vec<&str> = limited.queues().map(|(q, _)| q).collect();
    assert_eq!(top, limited_names, "top and --limit keep the same queues");
    r.peer(
        "queue_summary_limit20_s",
        n,
        secs(t),
        BASELINE,
        secs(base_t),
        Better::Lower,
    );
    r.peer(
        "queue_summary_limit20_peak_bytes",
        n,
        peak as f64,
        BASELINE,
        base_peak as f64,
        Better::Lower,
    );

    let (t, peak, all) = measure(alloc, ROUNDS, || {
        QueueSummary::fetch(&target, false, None).expect("the full summary")
    });
    assert_eq!(all.queues().count() as u64, n, "every queue listed");
    let first: Vec<&str> = all.queues().take(ROWS).map(|(q, _)| q).collect();
    assert_eq!(
        first, limited_names,
        "--limit keeps the first rows of the listing"
    );
    r.peer(
        "queue_summary_all_s",
        n,
        secs(t),
        BASELINE,
        secs(base_t),
        Better::Lower,
    );
    r.peer(
        "queue_summary_all_peak_bytes",
        n,
        peak as f64,
        BASELINE,
        base_peak as f64,
        Better::Lower,
    );
    let (t, _, ()) = measure(alloc, ROUNDS, || {
        all.render(&mut std::io::sink()).expect("render to a sink");
    });
    r.solo("queue_summary_all_render_s", n, secs(t), Better::Lower);
    r.solo("body_bytes", n, body_len as f64, Better::Lower);
}
