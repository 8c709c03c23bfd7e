//! Runs kumo and its peer crates on the same workloads, side by side in one process, and prints one
//! JSON object per line.
//!
//! ```text
//! cargo run --release -p kumo-benches --bin compare -- AREA [--n N]
//! ```
//!
//! AREA is one of the areas listed by `--help`, or `all`.
//!
//! A small `--n` (below 100k) also cuts the repetitions to 2: the quick run for CI, which checks
//! the harness's own consistency assertions (every side pops the same entries, both metrics
//! renders hold the same samples, ...) and fails with a panic naming the mismatch:
//!
//! ```text
//! cargo run -p kumo-benches --bin compare -- all --n 1000
//! ```
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line program"
)]

use kumo_benches::{CountingAlloc, Options, Reporter};
use std::process::ExitCode;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

/// An area's entry point: runs its workloads and reports through the reporter.
type AreaFn = fn(&Options, &CountingAlloc, &mut Reporter);

/// Every area, in the order `all` runs them. Each area adds its own line here.
const AREAS: &[(&str, AreaFn)] = &[
    #[cfg(feature = "queue")]
    ("queue", kumo_benches::queue::run),
    #[cfg(feature = "dns")]
    ("dns", kumo_benches::dns::run),
    #[cfg(feature = "metrics")]
    ("metrics", kumo_benches::metrics::run),
    #[cfg(feature = "inject")]
    ("inject", kumo_benches::inject::run),
    #[cfg(feature = "trace")]
    ("trace", kumo_benches::trace::run),
    #[cfg(feature = "config")]
    ("config", kumo_benches::config::run),
    #[cfg(feature = "spool")]
    ("spool", kumo_benches::spool::run),
    #[cfg(feature = "smtp")]
    ("smtp", kumo_benches::smtp::run),
    #[cfg(feature = "http")]
    ("http", kumo_benches::http::run),
    #[cfg(feature = "tools")]
    ("tools", kumo_benches::tools::run),
];

fn usage() -> String {
    let names: Vec<&str> = AREAS.iter().map(|(n, _)| *n).collect();
    format!(
        "usage: compare AREA [--n N]\n  AREA: {} | all\n  --n below 100000 also takes 2 repetitions instead of the full count (the quick CI check)",
        names.join(" | ")
    )
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut area = None;
    let mut opts = Options { n: None };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--n" => match args.next().and_then(|v| v.replace('_', "").parse().ok()) {
                Some(n) => opts.n = Some(n),
                None => {
                    eprintln!("--n takes a whole number\n{}", usage());
                    return ExitCode::from(2);
                }
            },
            "-h" | "--help" => {
                println!("{}", usage());
                return ExitCode::SUCCESS;
            }
            other if area.is_none() => area = Some(other.to_owned()),
            other => {
                eprintln!("unexpected argument {other:?}\n{}", usage());
                return ExitCode::from(2);
            }
        }
    }
    let Some(area) = area else {
        eprintln!("{}", usage());
        return ExitCode::from(2);
    };
    let selected: Vec<&(&str, AreaFn)> = AREAS
        .iter()
        .filter(|(name, _)| area == "all" || *name == area)
        .collect();
    if selected.is_empty() {
        eprintln!("unknown area {area:?}\n{}", usage());
        return ExitCode::from(2);
    }
    for (name, run) in selected {
        let mut reporter = Reporter::new(name, true);
        run(&opts, &ALLOC, &mut reporter);
    }
    ExitCode::SUCCESS
}
