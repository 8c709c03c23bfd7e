//! [`Spool`]: store, update, load, remove and enumerate spooled messages.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bytes::Bytes;

use crate::backend::{Backend, LoadError, Op};
use crate::db::DbBackend;
use crate::durability::Durability;
use crate::error::{CorruptEntry, SpoolError};
use crate::file::FileBackend;
use crate::group::GroupCommit;
use crate::id::{SpoolId, SpoolIdGenerator};
use crate::lock::DirLock;
use crate::meta::Metadata;
use crate::stats::{Counters, SpoolStats};

/// Where a spool keeps its entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum BackendKind {
    /// One redb database file (`spool.redb`): each group commit is one transaction. The
    /// default: the faster durable one on the measured workloads (see the crate's README).
    #[default]
    Database,
    /// One file per message and one per metadata (`data/`, `meta/`), like KumoMTA's
    /// local-disk spool.
    Files,
}

/// What an enumeration found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct EnumerateReport {
    /// Entries handed to the callback.
    pub entries: u64,
    /// Entries (or stray files) moved to quarantine instead.
    pub quarantined: u64,
}

/// A durable spool of messages: data written once, metadata updatable, both found again after a
/// restart.
///
/// Every method blocks the calling thread (file and database I/O); call them from threads, or
/// from async code through `spawn_blocking`. The spool is `Sync`: share it in an `Arc`, and let
/// many threads store at once, since that is what makes group commit pay.
///
/// # Examples
///
/// ```
/// use kumo_spool::{Durability, Metadata, Spool};
/// use std::ops::ControlFlow;
/// use std::time::SystemTime;
///
/// let dir = tempfile::tempdir()?;
/// let spool = Spool::open(dir.path())?;
/// let id = spool.new_id(SystemTime::now());
/// let meta = Metadata { queue: "example.net".into(), ..Metadata::default() };
/// spool.store(id, "Subject: hi\r\n\r\nhello\r\n", &meta, Durability::Sync)?;
///
/// // After a restart: every live entry, streamed.
/// drop(spool);
/// let spool = Spool::open(dir.path())?;
/// let mut found = Vec::new();
/// spool.enumerate(|id, meta| {
///     found.push((id, meta.queue));
///     ControlFlow::Continue(())
/// })?;
/// assert_eq!(found, [(id, "example.net".to_string())]);
/// assert_eq!(&spool.load_data(id)?[..], b"Subject: hi\r\n\r\nhello\r\n");
/// spool.remove(id, Durability::Buffered)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    kind: BackendKind,
    group: GroupCommit,
    counters: Counters,
    ids: SpoolIdGenerator,
    _lock: DirLock,
}

impl Spool {
    /// Opens (creating it if needed) the spool in `dir` with the default backend.
    ///
    /// # Errors
    ///
    /// [`SpoolError::Locked`] when another process has it open; [`SpoolError::Io`] or
    /// [`SpoolError::Engine`] when it cannot be created or read.
    pub fn open(dir: impl AsRef<Path>) -> Result<Spool, SpoolError> {
        Self::open_with(dir, BackendKind::default())
    }

    /// Opens (creating it if needed) the spool in `dir` with the given backend. A directory
    /// holds one backend's files; opening it with the other backend sees an empty spool.
    ///
    /// # Errors
    ///
    /// As [`Spool::open`].
    pub fn open_with(dir: impl AsRef<Path>, kind: BackendKind) -> Result<Spool, SpoolError> {
        let dir = dir.as_ref().to_owned();
        std::fs::create_dir_all(&dir).map_err(|e| SpoolError::io("create directory", &dir, e))?;
        let lock = DirLock::acquire(&dir)?;
        let backend: Box<dyn Backend> = match kind {
            BackendKind::Database => Box::new(DbBackend::open(&dir)?),
            BackendKind::Files => Box::new(FileBackend::open(&dir)?),
        };
        tracing::debug!(dir = %dir.display(), ?kind, "spool opened");
        Ok(Spool {
            dir,
            kind,
            group: GroupCommit::new(backend),
            counters: Counters::default(),
            ids: SpoolIdGenerator::new(),
            _lock: lock,
        })
    }

    /// The spool directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The backend in use.
    pub fn backend_kind(&self) -> BackendKind {
        self.kind
    }

    /// A new id from this spool's generator, made at `now`.
    pub fn new_id(&self, now: SystemTime) -> SpoolId {
        self.ids.next(now)
    }

    /// Stores a new message: its data (written once) and its metadata. With
    /// [`Durability::Sync`] it returns only once both are on stable storage.
    ///
    /// # Errors
    ///
    /// The message is not stored: [`SpoolError::Io`] / [`SpoolError::Engine`] (for example a
    /// full disk, see [`SpoolError::is_disk_full`]), [`SpoolError::TooLarge`]. Do not
    /// acknowledge it.
    pub fn store(
        &self,
        id: SpoolId,
        data: impl Into<Bytes>,
        meta: &Metadata,
        durability: Durability,
    ) -> Result<(), SpoolError> {
        let data = data.into();
        check_len("data", data.len())?;
        let meta = encode(meta)?;
        let bytes = data.len() + meta.len();
        self.submit(Op::Store { id, data, meta }, durability)?;
        self.counters.stored(bytes);
        Ok(())
    }

    /// Replaces a stored message's metadata, leaving its data as it is.
    ///
    /// # Errors
    ///
    /// [`SpoolError::NotFound`] when there is no such message; otherwise as
    /// [`Spool::store`]. On error the previous metadata stays.
    pub fn update_meta(
        &self,
        id: SpoolId,
        meta: &Metadata,
        durability: Durability,
    ) -> Result<(), SpoolError> {
        if self.group.backend().load_meta(id)?.is_none() {
            return Err(SpoolError::NotFound(id));
        }
        let meta = encode(meta)?;
        let bytes = meta.len();
        self.submit(Op::Meta { id, meta }, durability)?;
        self.counters.updated(bytes);
        Ok(())
    }

    /// Removes a message (delivered, bounced, expired). Removing an absent id is not an error.
    ///
    /// # Errors
    ///
    /// As [`Spool::store`]; the message stays.
    pub fn remove(&self, id: SpoolId, durability: Durability) -> Result<(), SpoolError> {
        self.submit(Op::Remove { id }, durability)?;
        self.counters.removed();
        Ok(())
    }

    /// Makes every earlier [`Durability::Buffered`] write of this spool durable: one synced
    /// group commit, shared with whatever else is committing.
    ///
    /// # Errors
    ///
    /// As [`Spool::store`].
    pub fn sync(&self) -> Result<(), SpoolError> {
        self.submit(Op::Barrier, Durability::Sync)
    }

    /// Stores many new messages in one group commit: all of them or, on error, none.
    /// With [`Durability::Sync`] they cost one sync together, even from a single thread.
    ///
    /// # Errors
    ///
    /// As [`Spool::store`]; none of the messages is stored.
    pub fn store_many<D: Into<Bytes>>(
        &self,
        entries: impl IntoIterator<Item = (SpoolId, D, Metadata)>,
        durability: Durability,
    ) -> Result<(), SpoolError> {
        let mut ops = Vec::new();
        let mut bytes = Vec::new();
        for (id, data, meta) in entries {
            let data = data.into();
            check_len("data", data.len())?;
            let meta = encode(&meta)?;
            bytes.push(data.len() + meta.len());
            ops.push(Op::Store { id, data, meta });
        }
        self.group
            .submit(ops, durability == Durability::Sync, &self.counters)?;
        for b in bytes {
            self.counters.stored(b);
        }
        Ok(())
    }

    /// Removes many messages in one group commit (all or none); absent ids are not an error.
    ///
    /// # Errors
    ///
    /// As [`Spool::store`]; every message stays.
    pub fn remove_many(
        &self,
        ids: impl IntoIterator<Item = SpoolId>,
        durability: Durability,
    ) -> Result<(), SpoolError> {
        let ops: Vec<Op> = ids.into_iter().map(|id| Op::Remove { id }).collect();
        let n = ops.len();
        self.group
            .submit(ops, durability == Durability::Sync, &self.counters)?;
        for _ in 0..n {
            self.counters.removed();
        }
        Ok(())
    }

    fn submit(&self, op: Op, durability: Durability) -> Result<(), SpoolError> {
        self.group
            .submit([op], durability == Durability::Sync, &self.counters)
    }

    /// A stored message's data, checked against its checksum.
    ///
    /// # Errors
    ///
    /// [`SpoolError::NotFound`]; [`SpoolError::Corrupt`] when the data is torn or damaged
    /// (the entry is quarantined); I/O errors.
    pub fn load_data(&self, id: SpoolId) -> Result<Bytes, SpoolError> {
        match self.group.backend().load_data(id) {
            Ok(Some(d)) => Ok(d),
            Ok(None) => {
                if self.group.backend().load_meta(id)?.is_some() {
                    return Err(self.quarantine(id, "data", CorruptEntry::DataMissing));
                }
                Err(SpoolError::NotFound(id))
            }
            Err(LoadError::Spool(e)) => Err(e),
            Err(LoadError::Corrupt(c)) => Err(self.quarantine(id, "data", c)),
        }
    }

    /// A stored message's metadata.
    ///
    /// # Errors
    ///
    /// [`SpoolError::NotFound`]; [`SpoolError::Corrupt`] (the entry is quarantined); I/O
    /// errors.
    pub fn load_meta(&self, id: SpoolId) -> Result<Metadata, SpoolError> {
        let bytes = self
            .group
            .backend()
            .load_meta(id)?
            .ok_or(SpoolError::NotFound(id))?;
        Metadata::decode(&bytes).map_err(|e| self.quarantine(id, "metadata", e.into()))
    }

    fn quarantine(&self, id: SpoolId, what: &'static str, source: CorruptEntry) -> SpoolError {
        tracing::warn!(%id, what, error = %source, "spool entry is corrupt; quarantined");
        match self.group.backend().quarantine(id) {
            Ok(()) => {
                self.counters.quarantined();
                SpoolError::Corrupt { id, what, source }
            }
            Err(e) => e,
        }
    }

    /// Calls `visit` with the id and metadata of every live entry, streaming (nothing is
    /// collected first); `ControlFlow::Break` stops early. Entries whose metadata does not
    /// decode, and stray files, are quarantined and counted, and the enumeration goes on.
    /// Meant for startup: entries stored meanwhile may or may not be visited.
    ///
    /// # Errors
    ///
    /// When the spool cannot be read at all (I/O, database). A corrupt entry is not an error.
    pub fn enumerate(
        &self,
        mut visit: impl FnMut(SpoolId, Metadata) -> ControlFlow<()>,
    ) -> Result<EnumerateReport, SpoolError> {
        let mut report = EnumerateReport::default();
        let mut corrupt = Vec::new();
        let mut strays = Vec::new();
        self.group.backend().for_each_meta(
            &mut |id, bytes| match Metadata::decode(bytes) {
                Ok(meta) => {
                    report.entries += 1;
                    visit(id, meta)
                }
                Err(e) => {
                    corrupt.push((id, e));
                    ControlFlow::Continue(())
                }
            },
            &mut |path| strays.push(path),
        )?;
        for (id, e) in corrupt {
            if let SpoolError::Corrupt { .. } = self.quarantine(id, "metadata", e.into()) {
                report.quarantined += 1;
            }
        }
        for path in strays {
            tracing::warn!(path = %path.display(), "stray file in the spool; quarantined");
            if self.group.backend().quarantine_path(path).is_ok() {
                self.counters.quarantined();
                report.quarantined += 1;
            }
        }
        Ok(report)
    }

    /// Counts since the spool was opened.
    pub fn stats(&self) -> SpoolStats {
        self.counters.snapshot()
    }

    /// Bytes the backend's live files take (file lengths, not blocks).
    ///
    /// # Errors
    ///
    /// When the files cannot be listed.
    pub fn disk_bytes(&self) -> Result<u64, SpoolError> {
        self.group.backend().disk_bytes()
    }
}

fn check_len(what: &'static str, len: usize) -> Result<(), SpoolError> {
    if len > u32::MAX as usize {
        return Err(SpoolError::TooLarge { what, len });
    }
    Ok(())
}

fn encode(meta: &Metadata) -> Result<Vec<u8>, SpoolError> {
    let fields = [meta.sender.len(), meta.queue.len(), meta.host.len()];
    for len in fields
        .into_iter()
        .chain(meta.recipients.iter().map(String::len))
    {
        check_len("metadata", len)?;
    }
    check_len("metadata", meta.recipients.len())?;
    Ok(meta.encode())
}
