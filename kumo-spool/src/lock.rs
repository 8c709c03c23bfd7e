//! The exclusive lock that keeps a second process out of a spool directory.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

use crate::error::SpoolError;

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
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(TryLockError::WouldBlock) => Err(SpoolError::Locked {
                dir: dir.to_owned(),
            }),
            Err(TryLockError::Error(e)) => Err(SpoolError::io("lock", &path, e)),
        }
    }
}
