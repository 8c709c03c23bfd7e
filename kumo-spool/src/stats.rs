//! [`SpoolStats`]: what a spool has done since it was opened.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counts since the spool was opened (a snapshot; see [`Spool::stats`](crate::Spool::stats)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SpoolStats {
    /// Messages stored.
    pub stored: u64,
    /// Metadata updates.
    pub updated: u64,
    /// Messages removed.
    pub removed: u64,
    /// Group commits (each one commit of the backend).
    pub groups: u64,
    /// Group commits that synced to stable storage.
    pub syncs: u64,
    /// Ops in all group commits (`ops / groups` is the mean group size).
    pub ops: u64,
    /// Group commits that failed (every op in them failed).
    pub failed_groups: u64,
    /// Entries moved to quarantine (torn, corrupt, stray files).
    pub quarantined: u64,
    /// Bytes of data and encoded metadata handed to the backend.
    pub bytes_written: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    stored: AtomicU64,
    updated: AtomicU64,
    removed: AtomicU64,
    groups: AtomicU64,
    syncs: AtomicU64,
    ops: AtomicU64,
    failed_groups: AtomicU64,
    quarantined: AtomicU64,
    bytes_written: AtomicU64,
}

impl Counters {
    pub(crate) fn group(&self, ops: u64, synced: bool, ok: bool) {
        self.groups.fetch_add(1, Relaxed);
        self.ops.fetch_add(ops, Relaxed);
        if synced {
            self.syncs.fetch_add(1, Relaxed);
        }
        if !ok {
            self.failed_groups.fetch_add(1, Relaxed);
        }
    }

    pub(crate) fn stored(&self, bytes: usize) {
        self.stored.fetch_add(1, Relaxed);
        self.bytes_written.fetch_add(bytes as u64, Relaxed);
    }

    pub(crate) fn updated(&self, bytes: usize) {
        self.updated.fetch_add(1, Relaxed);
        self.bytes_written.fetch_add(bytes as u64, Relaxed);
    }

    pub(crate) fn removed(&self) {
        self.removed.fetch_add(1, Relaxed);
    }

    pub(crate) fn quarantined(&self) {
        self.quarantined.fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> SpoolStats {
        SpoolStats {
            stored: self.stored.load(Relaxed),
            updated: self.updated.load(Relaxed),
            removed: self.removed.load(Relaxed),
            groups: self.groups.load(Relaxed),
            syncs: self.syncs.load(Relaxed),
            ops: self.ops.load(Relaxed),
            failed_groups: self.failed_groups.load(Relaxed),
            quarantined: self.quarantined.load(Relaxed),
            bytes_written: self.bytes_written.load(Relaxed),
        }
    }
}
