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

use kumo_examples::cli::error_chain;
use kumo_examples::http::Target;
use kumo_examples::snapshot::Snapshot;

const USAGE: &str = "usage: queue-summary [--url http://127.0.0.1:8000] [--gzip]";

fn main() -> ExitCode {
    let mut url = "http://127.0.0.1:8000".to_owned();
    let mut gzip = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--url" => match args.next() {
                Some(v) => url = v,
                None => {
                    eprintln!("{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "--gzip" => gzip = true,
            _ => {
                eprintln!("{USAGE}");
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
    match Snapshot::fetch(&target, gzip) {
        Ok(snap) => {
            print!("{}", snap.render_summary());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("queue-summary: {} ({url})", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}
