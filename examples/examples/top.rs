//! `top` for the demo MTA: the busiest queues, refreshed live. Each refresh streams `/metrics`
//! through kumo-metrics' streaming parser as the bytes arrive.
//!
//! ```sh
//! cargo run --release --example mta            # in one terminal
//! cargo run --release --example top            # in another
//! cargo run --example top -- --url http://127.0.0.1:8000 --interval 2 --limit 10 --once
//! ```
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line program prints"
)]

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use kumo_examples::http::Target;
use kumo_examples::snapshot::Snapshot;

const USAGE: &str =
    "usage: top [--url http://127.0.0.1:8000] [--interval SECS] [--limit N] [--once] [--gzip]";

fn main() -> ExitCode {
    let mut url = "http://127.0.0.1:8000".to_owned();
    let (mut interval, mut limit, mut once, mut gzip) = (1.0f64, 20usize, false, false);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let ok = match a.as_str() {
            "--url" => args.next().map(|v| url = v).is_some(),
            "--interval" => args
                .next()
                .and_then(|v| v.parse().ok())
                .map(|v| interval = v)
                .is_some(),
            "--limit" => args
                .next()
                .and_then(|v| v.parse().ok())
                .map(|v| limit = v)
                .is_some(),
            "--once" => {
                once = true;
                true
            }
            "--gzip" => {
                gzip = true;
                true
            }
            _ => false,
        };
        if !ok || interval.is_nan() || interval <= 0.0 {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    }
    let target = match Target::parse(&url) {
        Ok(t) => t.with_path("/metrics"),
        Err(e) => {
            eprintln!("top: {e}");
            return ExitCode::from(2);
        }
    };
    let mut previous: Option<(Instant, HashMap<String, f64>)> = None;
    loop {
        let t0 = Instant::now();
        let snap = match Snapshot::fetch(&target, gzip) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("top: {e} ({url})");
                return ExitCode::FAILURE;
            }
        };
        let fetched = t0.elapsed();
        let done: HashMap<String, f64> = snap
            .queues
            .iter()
            .map(|(q, r)| (q.clone(), r.delivered + r.fail))
            .collect();
        let rates: HashMap<&str, f64> = match &previous {
            Some((at, before)) => {
                let secs = at.elapsed().as_secs_f64().max(1e-3);
                done.iter()
                    .map(|(q, d)| {
                        (
                            q.as_str(),
                            (d - before.get(q).copied().unwrap_or(0.0)) / secs,
                        )
                    })
                    .collect()
            }
            None => HashMap::new(),
        };
        let mut rows: Vec<_> = snap.queues.iter().collect();
        rows.sort_by(|a, b| {
            b.1.queued()
                .total_cmp(&a.1.queued())
                .then(
                    rates
                        .get(b.0.as_str())
                        .unwrap_or(&0.0)
                        .total_cmp(rates.get(a.0.as_str()).unwrap_or(&0.0)),
                )
                .then(a.0.cmp(b.0))
        });
        if !once {
            print!("\x1b[2J\x1b[H");
        }
        let total = snap.total();
        println!(
            "kumo top  {url}  {} queues  scheduled {}  ready {}  delivered {}  bounced {}  (scrape {} series in {:.1} ms)",
            snap.queues.len(),
            total.scheduled,
            total.ready,
            total.delivered,
            total.fail,
            snap.samples,
            fetched.as_secs_f64() * 1000.0
        );
        if let Some(h) = &snap.tardiness {
            println!(
                "pop tardiness p50 {:.2}s  p99 {:.2}s  ({} pops)",
                h.quantile(0.5),
                h.quantile(0.99),
                h.count.unwrap_or(0.0)
            );
        }
        println!();
        println!(
            "{:<28} {:>10} {:>8} {:>11} {:>10} {:>9} {:>9}",
            "QUEUE", "SCHEDULED", "READY", "DELIVERED", "TRANSFAIL", "BOUNCED", "DONE/s"
        );
        for (q, r) in rows.into_iter().take(limit) {
            let rate = rates
                .get(q.as_str())
                .map_or("-".to_owned(), |r| format!("{r:.1}"));
            println!(
                "{:<28} {:>10} {:>8} {:>11} {:>10} {:>9} {:>9}",
                q, r.scheduled, r.ready, r.delivered, r.transfail, r.fail, rate
            );
        }
        if once {
            return ExitCode::SUCCESS;
        }
        previous = Some((t0, done));
        std::thread::sleep(Duration::from_secs_f64(interval).saturating_sub(t0.elapsed()));
    }
}
