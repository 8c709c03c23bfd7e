//! Watch the demo MTA's SMTP sessions as they happen: its deliveries (like
//! `kcli trace-smtp-client`) or, with `--server`, the sessions of its ESMTP listener (like
//! `kcli trace-smtp-server`). Reads the JSON-lines trace stream and prints each event with
//! kumo-trace's formatter, timed from the session's first observed record.
//!
//! ```sh
//! cargo run --example trace -- [--url http://127.0.0.1:8000] [--server] [--terse] [--only-new] [--only-one] [--json]
//! ```
//!
//! `--terse` abbreviates message data to its first line and a byte count; `--only-new` shows only
//! sessions that start after you connect (on the server side: whose connection was seen);
//! `--only-one` follows one session and exits when it ends.
//!
//! `--timeout SECS` (default 30) bounds connecting and the response head; the stream itself
//! runs until it ends, unless `--idle-timeout SECS` is given (the longest wait for the next
//! event). Errors name the URL and exit with status 1.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line program prints"
)]

use std::io::Write;
use std::process::ExitCode;

use kumo_examples::cli::{ToolArgs, error_about};
use kumo_examples::http::{self, Request, Target};
use kumo_trace::{Formatter, from_json_line};

const USAGE: &str = "usage: trace [--url http://127.0.0.1:8000] [--server] [--terse] [--only-new] [--only-one] [--json]
             [--timeout SECS] [--idle-timeout SECS]

  --timeout SECS         the longest connecting and the response head may take, default 30
  --idle-timeout SECS    the longest wait for the next event, default none (a quiet stream is fine)";

fn main() -> ExitCode {
    let flags = ["--terse", "--only-new", "--only-one", "--json", "--server"];
    let args = match ToolArgs::parse(std::env::args().skip(1), &flags, &[]) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("trace: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let url = &args.url;
    let [terse, only_new, only_one, json, server] = flags.map(|f| args.flag(f));
    let side = if server { "server" } else { "client" };
    let target = match Target::parse(url) {
        Ok(t) => t.with_path(&format!(
            "/api/trace/v1?terse={terse}&only_new={only_new}&only_one={only_one}&side={side}"
        )),
        Err(e) => {
            eprintln!("trace: {e}");
            return ExitCode::from(2);
        }
    };
    let mut formatter = Formatter::new();
    let mut line = Vec::new();
    let mut out = std::io::stdout().lock();
    let mut failed = None;
    let result = http::stream(
        &target,
        Request {
            timeout: args.idle_timeout,
            deadline: None,
            head_deadline: Some(args.timeout),
            ..Request::default()
        },
        |chunk| {
            for &b in chunk {
                line.push(b);
                if b != b'\n' {
                    continue;
                }
                let text = if json {
                    String::from_utf8_lossy(&line).into_owned()
                } else {
                    match from_json_line(&line) {
                        Ok(ev) => formatter.format(&ev),
                        Err(e) => {
                            failed = Some(format!("bad trace line: {e}"));
                            return false;
                        }
                    }
                };
                line.clear();
                if out
                    .write_all(text.as_bytes())
                    .and_then(|()| out.flush())
                    .is_err()
                {
                    return false; // stdout closed (for example `| head`)
                }
            }
            true
        },
    );
    match (result, failed) {
        (Err(e), _) => {
            eprintln!("trace: {}", error_about(&target.url(), &e));
            ExitCode::FAILURE
        }
        (Ok(head), _) if head.status != 200 => {
            eprintln!("trace: {}: answered HTTP {}", target.url(), head.status);
            ExitCode::FAILURE
        }
        (Ok(_), Some(e)) => {
            eprintln!("trace: {e}");
            ExitCode::FAILURE
        }
        (Ok(_), None) => ExitCode::SUCCESS,
    }
}
