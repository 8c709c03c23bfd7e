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

use kumo_examples::cli::{ToolArgs, error_chain};
use kumo_examples::http::Target;
use kumo_examples::snapshot::Snapshot;

const USAGE: &str = "usage: queue-summary [--url http://127.0.0.1:8000] [--gzip]";

fn main() -> ExitCode {
    let args = match ToolArgs::parse(std::env::args().skip(1), &["--gzip"], &[]) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("queue-summary: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let (url, gzip) = (&args.url, args.flag("--gzip"));
    let target = match Target::parse(url) {
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
