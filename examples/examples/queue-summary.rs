//! A summary of the demo MTA's queues, per provider and per queue (like `kcli queue-summary`),
//! read from `/metrics` with kumo-metrics' streaming parser into compact rows (queue names
//! interned); `--limit N` keeps only the N busiest queues, in memory independent of the number
//! of queues.
//!
//! ```sh
//! cargo run --example queue-summary -- [--url http://127.0.0.1:8000] [--gzip] [--limit N]
//! ```
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line program prints"
)]

use std::io::Write as _;
use std::process::ExitCode;

use kumo_examples::cli::{ToolArgs, error_chain};
use kumo_examples::http::Target;
use kumo_examples::tools::QueueSummary;

const USAGE: &str = "usage: queue-summary [--url http://127.0.0.1:8000] [--gzip] [--limit N]

  --limit N   list only the N busiest queues (most messages scheduled); default: every queue";

fn main() -> ExitCode {
    let parsed = ToolArgs::parse(
        std::env::args().skip(1),
        &["--gzip", "--help"],
        &["--limit"],
    )
    .and_then(|a| {
        let limit = a.value::<usize>("--limit", "expected a whole number")?;
        Ok((a, limit))
    });
    let (args, limit) = match parsed {
        Ok(v) => v,
        Err(e) => {
            eprintln!("queue-summary: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if args.flag("--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let (url, gzip) = (&args.url, args.flag("--gzip"));
    let target = match Target::parse(url) {
        Ok(t) => t.with_path("/metrics"),
        Err(e) => {
            eprintln!("queue-summary: {e}");
            return ExitCode::from(2);
        }
    };
    let summary = match QueueSummary::fetch(&target, gzip, limit) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("queue-summary: {} ({url})", error_chain(&e));
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    match summary.render(&mut out).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`| head`) is not an error worth a message.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("queue-summary: cannot write the report: {e}");
            ExitCode::FAILURE
        }
    }
}
