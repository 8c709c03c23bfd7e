//! One owner per spool directory: a second open is refused with `SpoolError::Locked` until the
//! first spool is dropped. (The crash tests check the same across processes.) A spool dropped
//! and opened again is not refused because another thread is starting processes meanwhile.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};

use kumo_spool::{BackendKind, Durability, Metadata, Spool, SpoolError};

use crate::support::{self, on_both_backends};

on_both_backends!(
    second_open_is_refused_until_the_first_is_dropped,
    reopen_while_processes_start,
);

fn second_open_is_refused_until_the_first_is_dropped(kind: BackendKind) {
    let dir = tempfile::tempdir().unwrap();
    let first = support::open(dir.path(), kind);
    let id = first.new_id(SystemTime::now());
    first
        .store(id, "kept", &Metadata::default(), Durability::Sync)
        .unwrap();

    // Either backend: the lock is the directory's, not the backend's.
    for other in [BackendKind::Database, BackendKind::Files] {
        match Spool::open_with(dir.path(), other) {
            Err(e @ SpoolError::Locked { .. }) => {
                let text = e.to_string();
                assert!(text.contains("locked"), "{text}");
                assert!(text.contains(&dir.path().display().to_string()), "{text}");
                let SpoolError::Locked { dir: locked } = &e else {
                    unreachable!()
                };
                assert_eq!(locked, dir.path());
            }
            Err(e) => panic!("second open ({other:?}): expected Locked, got {e:?}"),
            Ok(_) => panic!("second open ({other:?}): expected Locked, it opened"),
        }
    }
    // The refused opens changed nothing.
    assert_eq!(&first.load_data(id).unwrap()[..], b"kept");
    drop(first);

    let second = Spool::open_with(dir.path(), kind).expect("open after the first was dropped");
    assert_eq!(&second.load_data(id).unwrap()[..], b"kept");
    assert!(matches!(
        Spool::open_with(dir.path(), kind),
        Err(SpoolError::Locked { .. })
    ));
}

/// A child process holds a copy of every descriptor, the lock's included, from its fork until
/// its exec. Another thread of the host starting processes must not make a close-and-open of
/// the spool fail with `Locked`.
fn reopen_while_processes_start(kind: BackendKind) {
    let dir = tempfile::tempdir().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicU32::new(0));
    let spawner = {
        let (stop, started) = (stop.clone(), started.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                Command::new("true").status().expect("run true");
                started.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    // At least 100 opens, and at least 20 processes started meanwhile.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut opens, mut refused) = (0, 0);
    while opens < 100 || started.load(Ordering::Relaxed) < 20 {
        assert!(
            Instant::now() < deadline,
            "{opens} opens, {started:?} processes"
        );
        match Spool::open_with(dir.path(), kind) {
            Ok(spool) => drop(spool),
            Err(SpoolError::Locked { .. }) => refused += 1,
            Err(e) => panic!("open: {e:?}"),
        }
        opens += 1;
    }
    stop.store(true, Ordering::Relaxed);
    spawner.join().unwrap();
    assert_eq!(
        refused, 0,
        "{refused} of {opens} opens refused while {started:?} processes started"
    );
}
