//! The storage backends' common interface, used by the group committer and [`Spool`](crate::Spool).

use std::ops::ControlFlow;
use std::path::PathBuf;

use bytes::Bytes;

use crate::error::{CorruptEntry, SpoolError};
use crate::id::SpoolId;

/// One write, as submitted to a group commit.
#[derive(Debug)]
pub(crate) enum Op {
    /// A new message: data and encoded metadata.
    Store {
        id: SpoolId,
        data: Bytes,
        meta: Vec<u8>,
    },
    /// New encoded metadata for a stored message.
    Meta { id: SpoolId, meta: Vec<u8> },
    /// Forget a message.
    Remove { id: SpoolId },
    /// Nothing: a commit that only makes earlier buffered ops durable.
    Barrier,
}

/// An [`Op`] after the submitting thread's own share of the work (the file backend writes its
/// temporary files there, in parallel with other writers).
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) op: Op,
    /// Temporary files written for the op, to be renamed into place on commit.
    pub(crate) staged: Vec<(PathBuf, PathBuf)>,
}

/// An entry met while enumerating: its id and encoded metadata.
pub(crate) type Visit<'a> = &'a mut dyn FnMut(SpoolId, &[u8]) -> ControlFlow<()>;

/// A storage engine for data and metadata.
///
/// # Implementation
///
/// [`prepare`](Backend::prepare) runs on the caller's thread, concurrently with other callers;
/// [`commit`](Backend::commit) runs on one thread at a time (the group's leader) with every op
/// that was waiting, and makes all of them durable with one sync when `sync` is set. A commit
/// either applies the whole group or fails it whole.
pub(crate) trait Backend: Send + Sync + std::fmt::Debug + 'static {
    /// The caller's share of the work for `op`.
    fn prepare(&self, op: Op) -> Result<Prepared, SpoolError>;

    /// Applies a group of prepared ops, in order; syncs once when `sync`.
    fn commit(&self, group: &mut Vec<Prepared>, sync: bool) -> Result<(), SpoolError>;

    /// Undoes what [`prepare`](Backend::prepare) left behind for ops of a failed group.
    fn discard(&self, group: Vec<Prepared>);

    /// The stored data of a message, checked.
    fn load_data(&self, id: SpoolId) -> Result<Option<Bytes>, LoadError>;

    /// The stored encoded metadata of a message.
    fn load_meta(&self, id: SpoolId) -> Result<Option<Vec<u8>>, SpoolError>;

    /// Calls `visit` for every entry's metadata, in no promised order, without collecting them
    /// first. Names that are not ids are reported through `bad_name`.
    fn for_each_meta(
        &self,
        visit: Visit<'_>,
        bad_name: &mut dyn FnMut(PathBuf),
    ) -> Result<(), SpoolError>;

    /// Moves an entry out of the live spool (torn, corrupt), keeping its bytes for inspection.
    fn quarantine(&self, id: SpoolId) -> Result<(), SpoolError>;

    /// Moves a stray file out of the live spool.
    fn quarantine_path(&self, path: PathBuf) -> Result<(), SpoolError>;

    /// Bytes on disk used by the backend's files.
    fn disk_bytes(&self) -> Result<u64, SpoolError>;
}

/// Loading data failed: an I/O error, or corrupt bytes (which the spool quarantines).
#[derive(Debug)]
pub(crate) enum LoadError {
    Spool(SpoolError),
    Corrupt(CorruptEntry),
}

impl From<SpoolError> for LoadError {
    fn from(e: SpoolError) -> Self {
        LoadError::Spool(e)
    }
}
