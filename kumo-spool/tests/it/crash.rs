//! `kill -9` in the middle of synced stores loses nothing that was acknowledged.
//!
//! The test re-runs this test binary as a child process (only the test [`child_process`]),
//! which stores messages with [`Durability::Sync`] from 8 threads, forever, and prints each id
//! on stdout once its store has returned: that line is the acknowledgement a client would get.
//! The parent kills the child with `SIGKILL` after about 300 acknowledgements, opens the spool
//! and checks that every acknowledged message is there with exactly the data and metadata the
//! child stored (both are derived from the id: [`support::data_for`], [`support::meta_for`]).
//! While the child runs, the parent's own open is refused with [`SpoolError::Locked`]; once the
//! child is dead, the open succeeds.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use kumo_spool::{BackendKind, Durability, Spool, SpoolError, SpoolId};

use crate::support::{self, on_both_backends};

/// Set (to the spool directory) only in the child process.
const CHILD_DIR: &str = "KUMO_SPOOL_CRASH_CHILD_DIR";
/// The child's backend, by [`support::backend_name`].
const CHILD_BACKEND: &str = "KUMO_SPOOL_CRASH_CHILD_BACKEND";
/// The child's test, by its full name in this binary.
const CHILD_TEST: &str = "crash::child_process";
/// What starts an acknowledgement line.
const ACK: &str = "KUMO-SPOOL-ACK ";
const WRITERS: usize = 8;
/// Acknowledgements to wait for before the kill.
const KILL_AFTER: usize = 300;
/// How long the parent waits for them before it gives up.
const PATIENCE: Duration = Duration::from_secs(120);

/// The child process's body. In an ordinary test run [`CHILD_DIR`] is not set and this test
/// does nothing and passes: it is not a test of its own but the code the crash tests run in
/// their child process (`<this binary> --exact crash::child_process`), which they start with
/// [`CHILD_DIR`] set. There it never returns: it stores until it is killed.
#[test]
fn child_process() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let kind = support::backend_named(&std::env::var(CHILD_BACKEND).expect(CHILD_BACKEND));
    let spool = Spool::open_with(PathBuf::from(dir), kind).expect("child: open the spool");
    std::thread::scope(|s| {
        for _ in 0..WRITERS {
            s.spawn(|| {
                loop {
                    let id = spool.new_id(SystemTime::now());
                    let meta = support::meta_for(id);
                    spool
                        .store(id, support::data_for(id), &meta, Durability::Sync)
                        .expect("child: store");
                    // Only now is the message acknowledged. One line, flushed at once.
                    let mut out = std::io::stdout().lock();
                    if writeln!(out, "{ACK}{id}")
                        .and_then(|()| out.flush())
                        .is_err()
                    {
                        // The parent is gone: nobody is left to acknowledge to.
                        std::process::exit(1);
                    }
                }
            });
        }
    });
}

/// Kills the child if the test fails before it does.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

on_both_backends!(acknowledged_stores_survive_kill_9);

fn acknowledged_stores_survive_kill_9(kind: BackendKind) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("spool");
    let stderr_path = tmp.path().join("child.stderr");
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, &dir)
        .env(CHILD_BACKEND, support::backend_name(kind))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .expect("spawn the child");
    let mut child = Reaper(child);
    let child_stderr = || std::fs::read_to_string(&stderr_path).unwrap_or_default();

    // A thread reads the child's stdout, so that the wait for acknowledgements can time out.
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<SpoolId>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // libtest may print `test crash::child_process ... ` in front of the first line.
            if let Some(at) = line.find(ACK) {
                let text = &line[at + ACK.len()..];
                let id = text
                    .parse()
                    .unwrap_or_else(|e| panic!("acknowledgement {text:?}: {e}"));
                if tx.send(id).is_err() {
                    break;
                }
            }
        }
    });

    let deadline = Instant::now() + PATIENCE;
    let mut acked: Vec<SpoolId> = Vec::new();
    while acked.len() < KILL_AFTER {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(id) => acked.push(id),
            Err(e) => panic!(
                "the child acknowledged {} stores, then {e:?}; its stderr:\n{}",
                acked.len(),
                child_stderr()
            ),
        }
        if acked.len() == 1 {
            // The child has the spool open: a second owner is refused.
            match Spool::open_with(&dir, kind) {
                Err(e @ SpoolError::Locked { .. }) => {
                    assert!(e.to_string().contains("locked"), "{e}");
                }
                Err(e) => panic!("open while the child runs: expected Locked, got {e:?}"),
                Ok(_) => panic!("open while the child runs: expected Locked, it opened"),
            }
        }
    }
    child.0.kill().unwrap(); // SIGKILL
    let status = child.0.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "{status:?}; stderr:\n{}",
        child_stderr()
    );
    // Acknowledgements still in the pipe were printed before the kill: they count too.
    reader.join().unwrap();
    let before_kill = acked.len();
    acked.extend(rx.try_iter());
    assert!(acked.len() >= before_kill);

    let spool = Spool::open_with(&dir, kind).expect("open after the kill");
    for &id in &acked {
        let data = spool
            .load_data(id)
            .unwrap_or_else(|e| panic!("acknowledged {id} lost its data: {e:?}"));
        assert_eq!(data, support::data_for(id), "data of acknowledged {id}");
        let meta = spool
            .load_meta(id)
            .unwrap_or_else(|e| panic!("acknowledged {id} lost its metadata: {e:?}"));
        assert_eq!(meta, support::meta_for(id), "metadata of acknowledged {id}");
    }
    // A killed process tears nothing: whatever it had stored, acknowledged or not yet, is
    // whole.
    let (found, report) = support::enumerate_all(&spool);
    assert_eq!(report.quarantined, 0, "{report:?}");
    assert!(
        found.len() >= acked.len(),
        "{} < {}",
        found.len(),
        acked.len()
    );
    for id in &acked {
        assert!(found.contains_key(id), "acknowledged {id} not enumerated");
    }
    for (&id, meta) in &found {
        assert_eq!(meta, &support::meta_for(id), "metadata of {id}");
        assert_eq!(
            spool.load_data(id).unwrap(),
            support::data_for(id),
            "data of {id}"
        );
    }
    if kind == BackendKind::Files {
        // Temporary files of unfinished commits are cleared when the spool opens.
        let leftovers = std::fs::read_dir(dir.join("tmp")).unwrap().count();
        assert_eq!(leftovers, 0, "temporary files left after open");
    }
}
