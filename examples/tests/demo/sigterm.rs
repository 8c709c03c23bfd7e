//! `SIGTERM` (what `kill`, systemd and container runtimes send) stops the real `mta` program as
//! Ctrl-C does (issue #20, part 6): a graceful shutdown, exit status 0, and the temporary
//! folders it made (the config folder written from the embedded defaults, the `--fast`
//! profile's spool) removed.
//!
//! The program is `target/<profile>/examples/mta`, which `cargo test` builds; when this test
//! binary is run alone it may be missing, and the test then says so (and fails under `CI`).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The folder a banner line names: `  config    /tmp/kumo-demo-config-XYZ  (queues.toml, ...`.
fn folder(line: &str, label: &str) -> Option<PathBuf> {
    let rest = line.trim_start().strip_prefix(label)?;
    let path = rest.trim_start().split("  (").next()?.trim();
    (!path.is_empty()).then(|| PathBuf::from(path))
}

/// Starts the demo with its embedded defaults and `--fast` (a temporary spool), sends it
/// `signal`, and checks a clean exit that leaves neither temporary folder behind.
fn stops_cleanly_on(signal: &str, exe: &PathBuf) {
    let mut child = Command::new(exe)
        .args(["--fast", "--listen", "127.0.0.1:0", "--seed", "3"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let (tx, lines) = mpsc::channel::<String>();
    let out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (mut config, mut spool) = (None, None);
    let start = Instant::now();
    while config.is_none() || spool.is_none() {
        let left = Duration::from_secs(60).saturating_sub(start.elapsed());
        let Ok(line) = lines.recv_timeout(left) else {
            let _ = child.kill();
            panic!("{signal}: the banner never named both folders");
        };
        config = config.or_else(|| folder(&line, "config"));
        spool = spool.or_else(|| folder(&line, "spool"));
    }
    let (config, spool) = (config.unwrap(), spool.unwrap());
    assert!(config.join("queues.toml").is_file(), "{}", config.display());
    assert!(spool.is_dir(), "{}", spool.display());

    let pid = child.id().to_string();
    let sent = Command::new("kill").args([signal, &pid]).status().unwrap();
    assert!(sent.success(), "kill {signal} {pid}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{signal}: the demo did not exit within 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    reader.join().unwrap();
    let rest: Vec<String> = lines.try_iter().collect();
    assert!(
        status.success(),
        "{signal}: exit {status:?}; output {rest:?}"
    );
    let name = signal.trim_start_matches('-');
    assert!(
        rest.iter()
            .any(|l| l == &format!("SIG{name}: shutting down")),
        "{rest:?}"
    );
    for dir in [&config, &spool] {
        assert!(!dir.exists(), "{signal}: {} is still there", dir.display());
        let removed = format!("removed {}", dir.display());
        assert!(rest.contains(&removed), "{removed:?} not in {rest:?}");
    }
}

#[test]
fn sigterm_shuts_down_gracefully_and_removes_the_temporary_folders() {
    let Some(exe) = super::mta() else { return };
    stops_cleanly_on("-TERM", &exe);
    // Ctrl-C takes the same path.
    stops_cleanly_on("-INT", &exe);
}
