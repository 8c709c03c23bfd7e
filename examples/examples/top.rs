//! `top` for the demo MTA: the busiest queues, refreshed live. Each refresh streams `/metrics`
//! through kumo-metrics' streaming parser as the bytes arrive and keeps only what the screen
//! shows: the totals and the `--limit` busiest queues (memory independent of the number of
//! queues; rates from the previous refresh of those rows).
//!
//! ```sh
//! cargo run --release --example mta            # in one terminal
//! cargo run --release --example top            # in another
//! cargo run --example top -- --url http://127.0.0.1:8000 --interval 2 --limit 10 --once
//! ```
//!
//! Each scrape must be over within `--timeout` seconds (default 30) and may not stall for more
//! than `--idle-timeout` (default 10); a corrupt, truncated or padded compressed body is an
//! error. Errors name the URL and exit with status 1.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line program prints"
)]

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use kumo_examples::cli::{ToolArgs, error_about};
use kumo_examples::http::Target;
use kumo_examples::tools::TopView;

const USAGE: &str =
    "usage: top [--url http://127.0.0.1:8000] [--interval SECS] [--limit N] [--once] [--gzip]
           [--timeout SECS] [--idle-timeout SECS]

  --limit N              the N busiest queues (most messages scheduled), default 20
  --once                 print one table and exit
  --timeout SECS         the longest one scrape may take, default 30
  --idle-timeout SECS    the longest wait for the next bytes, default 10 (at most --timeout)";

fn main() -> ExitCode {
    let parsed = ToolArgs::parse(
        std::env::args().skip(1),
        &["--once", "--gzip", "--help"],
        &["--interval", "--limit"],
    )
    .and_then(|a| {
        let interval = a
            .value::<f64>("--interval", "expected seconds > 0")?
            .unwrap_or(1.0);
        let limit = a
            .value::<usize>("--limit", "expected a whole number")?
            .unwrap_or(20);
        Ok((a, interval, limit))
    });
    let (args, interval, limit) = match parsed {
        Ok((a, i, l)) if i.is_finite() && i > 0.0 => (a, i, l),
        Ok(_) => {
            eprintln!("top: --interval expects seconds > 0\n{USAGE}");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("top: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if args.flag("--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let (url, once, gzip) = (&args.url, args.flag("--once"), args.flag("--gzip"));
    let target = match Target::parse(url) {
        Ok(t) => t.with_path("/metrics"),
        Err(e) => {
            eprintln!("top: {e}");
            return ExitCode::from(2);
        }
    };
    let mut previous: Option<(Instant, HashMap<String, f64>)> = None;
    loop {
        let t0 = Instant::now();
        let view = match TopView::fetch_with(&target, gzip, limit, args.request()) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("top: {}", error_about(&target.url(), &e));
                return ExitCode::FAILURE;
            }
        };
        let fetched = t0.elapsed();
        let ended = view.ended();
        let rates: HashMap<String, f64> = match &previous {
            Some((at, before)) => {
                let secs = t0.duration_since(*at).as_secs_f64().max(1e-3);
                ended
                    .iter()
                    .map(|(q, d)| {
                        (
                            q.clone(),
                            (d - before.get(q).copied().unwrap_or(0.0)) / secs,
                        )
                    })
                    .collect()
            }
            None => HashMap::new(),
        };
        if !once {
            print!("\x1b[2J\x1b[H"); // clear the screen
        }
        println!(
            "kumo top  {url}  (scraped {} series in {:.1} ms)",
            view.samples,
            fetched.as_secs_f64() * 1000.0
        );
        print!("{}", view.render(&rates));
        if once {
            return ExitCode::SUCCESS;
        }
        previous = Some((t0, ended));
        std::thread::sleep(Duration::from_secs_f64(interval).saturating_sub(t0.elapsed()));
    }
}
