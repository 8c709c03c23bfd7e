//! The real `mta` binary with a config folder whose files are required: deleting
//! `delivery.toml`, making it unreadable, or deleting the whole folder is a reload error that
//! keeps the last good configuration in force, shows in `/api/status` as `config_error`, and
//! bumps `total_config_reload_errors`; it never applies the embedded defaults silently.
//!
//! Unreadable: `chmod 000` where that stops reads; as root (where it does not) the file is
//! replaced by a symlink to itself, so that opening it fails with `ELOOP`.

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kumo_examples::http::{self, Target};

/// The demo process, killed when the test ends (passed or not).
struct Demo {
    child: Child,
    base: String,
    lines: mpsc::Receiver<String>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Demo {
    fn start(bin: &Path, config: &Path, spool: &Path) -> Demo {
        let mut child = Command::new(bin)
            .args(["--listen", "127.0.0.1:0", "--config"])
            .arg(config)
            .arg("--spool")
            .arg(spool)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut demo = Demo {
            child,
            base: String::new(),
            lines,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while demo.base.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = demo.lines.recv_timeout(left) else {
                let _ = demo.child.kill();
                let mut err = String::new();
                if let Some(mut e) = demo.child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                panic!("the demo did not print its banner: {err}");
            };
            if let Some(url) = line.split_whitespace().find(|w| w.ends_with("/api/status")) {
                demo.base = url.trim_end_matches("/api/status").to_owned();
            }
        }
        demo
    }

    fn get(&self, path: &str) -> http::Response {
        let target = Target::parse(&format!("{}{path}", self.base)).unwrap();
        http::get(&target, &[]).unwrap()
    }

    fn status(&self) -> serde_json::Value {
        serde_json::from_slice(&self.get("/api/status").body).unwrap()
    }

    fn reload_errors(&self) -> f64 {
        let text = String::from_utf8(self.get("/metrics").decoded_body().unwrap()).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("total_config_reload_errors "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no total_config_reload_errors in {text}"))
    }

    /// Waits until `done` holds for the status, for at most 20 s.
    fn wait_status(
        &self,
        what: &str,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = self.status();
            if done(&s) {
                return s;
            }
            assert!(Instant::now() < deadline, "{what}: {s:#}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the reload-error counter is above `before`, for at most 20 s.
    fn wait_errors_above(&self, before: f64) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let n = self.reload_errors();
            if n > before {
                return n;
            }
            assert!(
                Instant::now() < deadline,
                "total_config_reload_errors stays {n}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The lines the demo printed so far.
    fn printed(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }
}

fn delivery(transient: f64) -> String {
    format!(
        "[delivery]\nsuccess = 1.0\ntransient = {transient:?}\npermanent = 0.0\nconnect_failure = 0.0\nlatency_ms = 0\n"
    )
}

/// Makes `path` exist but fail to read with another error than `NotFound`; returns how.
#[cfg(unix)]
fn make_unreadable(path: &Path) -> &'static str {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o000)).unwrap();
    let how = if std::fs::read(path).is_err() {
        "chmod 000"
    } else {
        // Root reads anything: a symlink to itself fails with ELOOP instead.
        std::fs::remove_file(path).unwrap();
        std::os::unix::fs::symlink(path.file_name().unwrap(), path).unwrap();
        "symlink loop (running as root)"
    };
    let e = std::fs::read(path).expect_err("unreadable now");
    assert_ne!(e.kind(), std::io::ErrorKind::NotFound, "{how}");
    how
}

#[cfg(unix)]
#[test]
fn deleting_or_unreadable_config_files_keep_the_last_good_config_and_are_reported() {
    let Some(bin) = super::mta() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let config = root.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    // The binary writes its own embedded defaults into the empty folder (those of this test's
    // build of the library may be newer than the binary's).
    let demo = Demo::start(&bin, &config, &root.path().join("spool"));
    let file = config.join("delivery.toml");
    assert!(file.is_file(), "the demo wrote its default files");
    std::fs::write(&file, delivery(0.125)).unwrap();
    let s = demo.wait_status("the edit is applied", |s| {
        s["config"]["delivery"]["transient"] == 0.125
    });
    assert!(s["config_error"].is_null(), "{s:#}");
    let errors = demo.reload_errors();

    // Deleted: an error naming the file; the last good delivery section stays (not the
    // embedded defaults).
    std::fs::remove_file(&file).unwrap();
    let s = demo.wait_status("the deletion is reported", |s| {
        s["config_error"]
            .as_str()
            .is_some_and(|e| e.contains("delivery.toml") && e.contains("does not exist"))
    });
    assert_eq!(s["config"]["delivery"]["transient"], 0.125, "{s:#}");
    let errors = demo.wait_errors_above(errors);

    // Back, with a new value: applied, the error gone.
    std::fs::write(&file, delivery(0.25)).unwrap();
    demo.wait_status("the file loads again", |s| {
        s["config_error"].is_null() && s["config"]["delivery"]["transient"] == 0.25
    });

    // Unreadable: an error naming the file, never "absent".
    let how = make_unreadable(&file);
    let s = demo.wait_status(how, |s| {
        s["config_error"]
            .as_str()
            .is_some_and(|e| e.contains("delivery.toml") && e.contains("cannot read"))
    });
    assert_eq!(s["config"]["delivery"]["transient"], 0.25, "{how}: {s:#}");
    let errors = demo.wait_errors_above(errors);
    std::fs::remove_file(&file).unwrap(); // the file (chmod 000) or the loop
    std::fs::write(&file, delivery(0.25)).unwrap();
    demo.wait_status("readable again", |s| s["config_error"].is_null());

    // The whole folder: every file is missing, the last good configuration stays.
    std::fs::remove_dir_all(&config).unwrap();
    let s = demo.wait_status("the folder's deletion is reported", |s| {
        s["config_error"]
            .as_str()
            .is_some_and(|e| e.contains("does not exist"))
    });
    assert_eq!(s["config"]["delivery"]["transient"], 0.25, "{s:#}");
    demo.wait_errors_above(errors);

    // The demo prints what changed when it next looks (every 250 ms): wait for the line.
    let mut printed = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !printed
        .iter()
        .any(|l: &String| l.contains("the last good configuration stays in force"))
    {
        assert!(Instant::now() < deadline, "{printed:#?}");
        std::thread::sleep(Duration::from_millis(50));
        printed.extend(demo.printed());
    }
}
