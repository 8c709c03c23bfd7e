//! A summary of the demo MTA's queues, per provider and per queue (like `kcli queue-summary`),
//! read from `/metrics` with kumo-metrics' streaming parser into compact rows (queue names
//! interned); `--limit N` keeps only the N busiest queues, in memory independent of the number
//! of queues.
//!
//! ```sh
//! cargo run --example queue-summary -- [--url http://127.0.0.1:8000] [--gzip] [--limit N] [--timeout SECS] [--idle-timeout SECS]
//! ```
//!
//! The scrape must be over within `--timeout` seconds (default 30) and may not stall for more
//! than `--idle-timeout` (default 10); a corrupt, truncated or padded compressed body is an
//! error. Errors name the URL and exit with status 1.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line program prints"
)]

use std::io::Write as _;
use std::process::ExitCode;

use kumo_examples::cli::{ToolArgs, error_about};
use kumo_examples::http::Target;
use kumo_examples::tools::QueueSummary;

const USAGE: &str = "usage: queue-summary [--url http://127.0.0.1:8000] [--gzip] [--limit N] [--timeout SECS] [--idle-timeout SECS]

  --limit N              list only the N busiest queues (most messages scheduled); default: every queue
  --timeout SECS         the longest the scrape may take, default 30
  --idle-timeout SECS    the longest wait for the next bytes, default 10 (at most --timeout)";

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
    let summary = match QueueSummary::fetch_with(&target, gzip, limit, args.request()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("queue-summary: {}", error_about(&target.url(), &e));
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
