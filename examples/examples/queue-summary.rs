//! A summary of the demo MTA's queues, per provider and per queue (like `kcli queue-summary`),
//! read from `/metrics` with kumo-metrics' streaming parser.
//!
//! ```sh
//! cargo run --example queue-summary -- [--url http://127.0.0.1:8000] [--gzip]
//! ```
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line program prints"
)]

use std::process::ExitCode;

use kumo_examples::http::Target;
use kumo_examples::snapshot::{Row, Snapshot};

fn print_rows<'a>(title: &str, rows: impl Iterator<Item = (&'a String, &'a Row)>, ready: bool) {
    let mut rows: Vec<_> = rows.collect();
    rows.sort_by(|a, b| {
        b.1.queued()
            .total_cmp(&a.1.queued())
            .then(b.1.delivered.total_cmp(&a.1.delivered))
    });
    if ready {
        println!(
            "{title:<28} {:>10} {:>8} {:>11} {:>10} {:>9}",
            "SCHEDULED", "READY", "DELIVERED", "TRANSFAIL", "BOUNCED"
        );
    } else {
        println!(
            "{title:<28} {:>10} {:>11} {:>10} {:>9}",
            "SCHEDULED", "DELIVERED", "TRANSFAIL", "BOUNCED"
        );
    }
    for (name, r) in rows {
        if ready {
            println!(
                "{name:<28} {:>10} {:>8} {:>11} {:>10} {:>9}",
                r.scheduled, r.ready, r.delivered, r.transfail, r.fail
            );
        } else {
            println!(
                "{name:<28} {:>10} {:>11} {:>10} {:>9}",
                r.scheduled, r.delivered, r.transfail, r.fail
            );
        }
    }
    println!();
}

fn main() -> ExitCode {
    let mut url = "http://127.0.0.1:8000".to_owned();
    let mut gzip = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), a.as_str() == "--url") {
            ("--url", _) => match args.next() {
                Some(v) => url = v,
                None => {
                    eprintln!("--url needs a value");
                    return ExitCode::from(2);
                }
            },
            ("--gzip", _) => gzip = true,
            _ => {
                eprintln!("usage: queue-summary [--url http://127.0.0.1:8000] [--gzip]");
                return ExitCode::from(2);
            }
        }
    }
    let target = match Target::parse(&url) {
        Ok(t) => t.with_path("/metrics"),
        Err(e) => {
            eprintln!("queue-summary: {e}");
            return ExitCode::from(2);
        }
    };
    let snap = match Snapshot::fetch(&target, gzip) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("queue-summary: {e} ({url})");
            return ExitCode::FAILURE;
        }
    };
    print_rows("PROVIDER", snap.providers.iter(), false);
    print_rows("QUEUE", snap.queues.iter(), true);
    let t = snap.total();
    println!(
        "total: injected {}  delivered {}  bounced {}  waiting {} (scheduled {}, ready {})",
        snap.injected,
        t.delivered,
        t.fail,
        t.queued(),
        t.scheduled,
        t.ready
    );
    let mut conns: Vec<_> = snap.connections.iter().collect();
    conns.sort_by(|a, b| b.1.attempts.total_cmp(&a.1.attempts));
    if !conns.is_empty() {
        println!();
        println!(
            "{:<40} {:<22} {:>9} {:>9}",
            "MX HOST", "ADDRESS", "ATTEMPTS", "FAILED"
        );
        for ((host, addr), c) in conns.into_iter().take(12) {
            println!("{host:<40} {addr:<22} {:>9} {:>9}", c.attempts, c.failures);
        }
    }
    ExitCode::SUCCESS
}
