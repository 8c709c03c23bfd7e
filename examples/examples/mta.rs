//! The composed demo MTA: HTTP injection, the SingletonTimerWheel scheduler with a retry schedule,
//! MX resolution against an in-process `.test` DNS zone, a simulated delivery stage, metrics,
//! a trace stream and config files that apply as soon as you edit them.
//!
//! ```sh
//! cargo run --release --example mta                       # serve on 127.0.0.1:8000
//! cargo run --release --example mta -- --selftest 10000   # inject, deliver, account, exit
//! cargo run --release --example mta -- --help
//! ```
//!
//! Ctrl-C (`SIGINT`) and `SIGTERM` (what `kill`, systemd and container runtimes send) both shut
//! the demo down gracefully: the listeners stop, what is scheduled stays in the spool for the
//! next start, and the temporary folders the demo made (the config folder written from the
//! embedded defaults, the `--fast` profile's spool) are removed before it exits with status 0.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line program prints"
)]

use std::fmt;
use std::process::ExitCode;
use std::time::Duration;

use kumo_examples::cli::{MtaArgs, USAGE, error_chain};
use kumo_examples::demo::{Demo, DemoError, DemoOptions, crash_selftest, selftest};

/// The program's allocator, chosen by measurement (examples/README.md, "Memory after a
/// drain"): jemalloc gives the pages of a drained queue back to the system within seconds,
/// where glibc's malloc and mimalloc keep most of them. Libraries never set one; this program
/// does.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// An error printed with its whole cause chain.
struct Failure(String);

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<E: std::error::Error> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(error_chain(&e))
    }
}

#[tokio::main]
async fn main() -> Result<ExitCode, Failure> {
    let args = MtaArgs::parse(std::env::args().skip(1))?;
    if args.help {
        print!("{USAGE}");
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(n) = args.selftest_crash {
        let exe = std::env::current_exe()?;
        let backend = match args.spool_backend {
            kumo_spool::BackendKind::Files => "files",
            _ => "database",
        };
        let timeout = Duration::from_secs(120) + Duration::from_millis(n.saturating_mul(10));
        println!(
            "crash selftest: {n} recipients into a child demo ({backend} spool), kill -9 mid-run, restart, finish"
        );
        let report = tokio::task::spawn_blocking(move || crash_selftest(&exe, n, backend, timeout))
            .await
            .map_err(|e| Failure(e.to_string()))??;
        println!("{report}");
        return Ok(if report.ok() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let opts = DemoOptions::from_args(&args);
    if let Some(n) = args.selftest {
        // Simulated time runs 600 times faster in the self test; the limit is generous.
        let timeout = Duration::from_secs(60) + Duration::from_millis(n.saturating_mul(10));
        println!("selftest: injecting {n} recipients over HTTP, then waiting for every outcome");
        let report = selftest(opts, n, timeout).await?;
        println!("{report}");
        return Ok(if report.ok() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }

    let demo = match Demo::start(opts).await {
        Ok(demo) => demo,
        Err(e @ DemoError::Listen(..)) => {
            let Failure(text) = Failure::from(e);
            return Err(Failure(format!(
                "{text} (is another demo running? pick a port with --listen 127.0.0.1:PORT)"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    // One listener per signal for the whole run, registered before the banner tells anyone
    // that the demo runs, so that no signal between two polls is missed.
    let mut stop = StopSignals::new()?;
    println!("{}", demo.banner());
    let mut applied = demo.status().config_applied_epoch;
    let mut error: Option<String> = None;
    loop {
        tokio::select! {
            signal = stop.recv() => {
                println!("{signal}: shutting down");
                break;
            }
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
        let status = demo.status();
        if status.config_error != error {
            match &status.config_error {
                Some(e) => println!("config: {e} (the last good configuration stays in force)"),
                None => println!("config: the files load again"),
            }
            error = status.config_error.clone();
        }
        if status.config_applied_epoch != applied {
            applied = status.config_applied_epoch;
            println!(
                "config: epoch {} applied: retry {}, delivery {}",
                applied.unwrap_or(0),
                status.config["retry"],
                status.config["delivery"],
            );
        }
    }
    let temporary = demo.temporary_dirs();
    demo.shutdown().await;
    for dir in temporary {
        println!("removed {}", dir.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The signals that stop the demo: `SIGINT` (Ctrl-C) and `SIGTERM`.
struct StopSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Registers the handlers now (a signal that arrives before the first `recv` is kept).
    #[cfg(unix)]
    fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Elsewhere only Ctrl-C, through tokio's portable handler.
    #[cfg(not(unix))]
    fn new() -> std::io::Result<Self> {
        Ok(Self {})
    }

    /// Waits for the next stop signal; returns its name.
    #[cfg(unix)]
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }

    #[cfg(not(unix))]
    async fn recv(&mut self) -> &'static str {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}
