//! [`SpoolError`]: why a spool operation failed.

use std::path::PathBuf;
use std::sync::Arc;

use crate::id::SpoolId;
use crate::meta::DecodeError;

/// Why a spool operation failed.
///
/// A failed [`store`](crate::Spool::store) means the message is **not** accepted: the caller
/// must not acknowledge it (answer 4xx / 503, keep it elsewhere). Errors are cheap to clone, so
/// every store of a failed group commit gets the same error.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SpoolError {
    /// Another process (or another [`Spool`](crate::Spool) in this one) has the spool open.
    /// Permanent until that one closes it.
    #[error("spool {dir} is locked by another process")]
    Locked {
        /// The spool directory.
        dir: PathBuf,
    },
    /// A file system call failed. Transient in general; see [`SpoolError::is_disk_full`].
    #[error("spool {op} failed on {path}")]
    Io {
        /// What the spool was doing (`"write"`, `"sync"`, `"rename"`, ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// The storage engine failed (I/O underneath, or a damaged database file).
    #[error("spool database {op} failed")]
    Engine {
        /// What the spool was doing.
        op: &'static str,
        /// The engine's error.
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// No entry with this id (never stored, or removed).
    #[error("no spooled message {0}")]
    NotFound(SpoolId),
    /// The entry is torn or corrupt; it has been moved to quarantine.
    #[error("spooled message {id} is corrupt ({what}); quarantined")]
    Corrupt {
        /// The entry.
        id: SpoolId,
        /// `"data"` or `"metadata"`.
        what: &'static str,
        /// What is wrong with it.
        #[source]
        source: CorruptEntry,
    },
    /// A field is too large to store (each length is a 32-bit number).
    #[error("{what} of {len} bytes is too large to spool")]
    TooLarge {
        /// `"data"` or `"metadata"`.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// A group commit stopped because its leader panicked; nothing of that group is durable.
    #[error("spool commit was interrupted by a panic")]
    Interrupted,
}

impl SpoolError {
    /// Whether the disk (or the user's quota) is full: the store failed for want of space.
    pub fn is_disk_full(&self) -> bool {
        let io = match self {
            SpoolError::Io { source, .. } => Some(&**source),
            SpoolError::Engine { source, .. } => source.downcast_ref::<std::io::Error>(),
            _ => None,
        };
        io.is_some_and(|e| {
            matches!(
                e.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            )
        }) || matches!(self, SpoolError::Engine { source, .. } if engine_out_of_space(&**source))
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, e: std::io::Error) -> Self {
        SpoolError::Io {
            op,
            path: path.into(),
            source: Arc::new(e),
        }
    }

    pub(crate) fn engine(
        op: &'static str,
        e: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        SpoolError::Engine {
            op,
            source: Arc::new(e),
        }
    }
}

/// Whether an engine error's chain holds an out-of-space I/O error.
fn engine_out_of_space(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            )
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// What is wrong with a torn or corrupt entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CorruptEntry {
    /// The metadata does not decode.
    #[error("metadata does not decode")]
    Metadata(#[from] DecodeError),
    /// The data's header is missing or not the spool's.
    #[error("data header is missing or unknown")]
    DataHeader,
    /// The data is shorter or longer than its header says.
    #[error("data is {actual} bytes, its header says {expected}")]
    DataLength {
        /// From the header.
        expected: u64,
        /// On disk.
        actual: u64,
    },
    /// The data's CRC-32 does not match.
    #[error("data checksum mismatch")]
    DataChecksum,
    /// The metadata exists but the data does not.
    #[error("data is missing")]
    DataMissing,
    /// A file in the spool whose name is not a spool id.
    #[error("file name is not a spool id")]
    Name,
}

/// `"error: cause: cause"`, for log events.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
