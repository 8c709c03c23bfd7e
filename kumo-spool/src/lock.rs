//! The exclusive lock that keeps a second process out of a spool directory.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::SpoolError;

/// How long [`DirLock::acquire`] waits for a lock that may be about to go. A child process
/// forked by any thread of this process holds a copy of the lock until it execs or exits: a
/// spool dropped and opened again at that moment would otherwise be refused.
const LOCK_WAIT: Duration = Duration::from_millis(250);

/// Holds `<dir>/lock` locked (an advisory `flock` on Unix) for as long as it lives. The
/// operating system releases the lock when the process dies, however it dies.
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    pub(crate) fn acquire(dir: &Path) -> Result<Self, SpoolError> {
        let path = dir.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| SpoolError::io("open lock file", &path, e))?;
        let deadline = Instant::now() + LOCK_WAIT;
        loop {
            return match file.try_lock() {
                Ok(()) => Ok(Self { _file: file }),
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2));
                    continue;
                }
                Err(TryLockError::WouldBlock) => Err(SpoolError::Locked {
                    dir: dir.to_owned(),
                }),
                Err(TryLockError::Error(e)) => Err(SpoolError::io("lock", &path, e)),
            };
        }
    }
}
