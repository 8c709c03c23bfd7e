//! Persistence of deferred batches: the [`JobStore`] trait and an in-memory implementation.

use crate::batch::BatchId;
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::SystemTime;

/// A deferred batch as persisted: the request's JSON and what is needed to generate it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredJob {
    /// The batch id (message ids derive from it).
    pub id: BatchId,
    /// The request body (uncompressed JSON) exactly as received.
    pub request: Bytes,
    /// The HTTP peer, for the `Received:` header.
    pub peer: Option<IpAddr>,
    /// When the batch was accepted (the `Date` of its messages).
    pub accepted_at: SystemTime,
}

/// The recorded outcome of one recipient of a deferred batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientOutcome {
    /// The host accepted the message with this id.
    Accepted {
        /// The message id (without angle brackets).
        message_id: String,
    },
    /// No message; the error chain as text.
    Failed {
        /// `"<error>: <cause>"`.
        error: String,
    },
}

/// A batch found in the store at startup: its job and the outcomes already recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingJob {
    /// The persisted job.
    pub job: StoredJob,
    /// `(recipient index, outcome)` for every recipient already done.
    pub done: Vec<(u32, RecipientOutcome)>,
}

/// A job store failed (I/O, database). Transient from the client's point of view.
#[derive(Debug, thiserror::Error)]
#[error("job store failed")]
pub struct JobStoreError {
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl JobStoreError {
    /// Wraps the store's error.
    pub fn new(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            source: source.into(),
        }
    }
}

/// Where deferred batches live until every recipient has an outcome.
///
/// The [`Injector`](crate::Injector) calls [`persist`](Self::persist) before it answers the
/// client (skipped when the request set `deferred_spool`), [`record`](Self::record) after each
/// recipient (the checkpoint that makes a resumed batch skip it), and
/// [`complete`](Self::complete) at the end. At startup, [`pending`](Self::pending) lists what
/// to resume. Called from blocking threads.
pub trait JobStore: Send + Sync + 'static {
    /// Stores a new job durably.
    ///
    /// # Errors
    ///
    /// The request is answered with 503 and nothing is generated.
    fn persist(&self, job: &StoredJob) -> Result<(), JobStoreError>;

    /// Records one recipient's outcome.
    ///
    /// # Errors
    ///
    /// Generation of the batch stops; it stays pending and resumes from the last record.
    fn record(
        &self,
        id: &BatchId,
        index: u32,
        outcome: &RecipientOutcome,
    ) -> Result<(), JobStoreError>;

    /// Removes a finished job.
    ///
    /// # Errors
    ///
    /// The job stays pending; resuming it finds every recipient done and only completes it.
    fn complete(&self, id: &BatchId) -> Result<(), JobStoreError>;

    /// Every job not yet completed, with its recorded outcomes.
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    fn pending(&self) -> Result<Vec<PendingJob>, JobStoreError>;
}

impl<T: JobStore + ?Sized> JobStore for std::sync::Arc<T> {
    fn persist(&self, job: &StoredJob) -> Result<(), JobStoreError> {
        (**self).persist(job)
    }
    fn record(
        &self,
        id: &BatchId,
        index: u32,
        outcome: &RecipientOutcome,
    ) -> Result<(), JobStoreError> {
        (**self).record(id, index, outcome)
    }
    fn complete(&self, id: &BatchId) -> Result<(), JobStoreError> {
        (**self).complete(id)
    }
    fn pending(&self) -> Result<Vec<PendingJob>, JobStoreError> {
        (**self).pending()
    }
}

/// A [`JobStore`] in memory: jobs survive a restart of the [`Injector`](crate::Injector) within
/// one process (share it through an `Arc`), not a crash of the process. For tests, benchmarks
/// and hosts that accept that loss.
///
/// # Examples
///
/// ```
/// use kumo_inject::{BatchId, JobStore, MemoryJobStore, StoredJob};
///
/// let store = MemoryJobStore::new();
/// let id = BatchId::new("b1")?;
/// store.persist(&StoredJob {
///     id: id.clone(),
///     request: "{}".into(),
///     peer: None,
///     accepted_at: std::time::UNIX_EPOCH,
/// })?;
/// assert_eq!(store.pending()?.len(), 1);
/// store.complete(&id)?;
/// assert!(store.pending()?.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct MemoryJobStore {
    jobs: Mutex<HashMap<BatchId, PendingJob>>,
}

impl MemoryJobStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many jobs are stored.
    pub fn len(&self) -> usize {
        self.jobs.lock().len()
    }

    /// Whether no job is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown batch {0}")]
struct UnknownBatch(BatchId);

impl JobStore for MemoryJobStore {
    fn persist(&self, job: &StoredJob) -> Result<(), JobStoreError> {
        self.jobs.lock().insert(
            job.id.clone(),
            PendingJob {
                job: job.clone(),
                done: Vec::new(),
            },
        );
        Ok(())
    }

    fn record(
        &self,
        id: &BatchId,
        index: u32,
        outcome: &RecipientOutcome,
    ) -> Result<(), JobStoreError> {
        match self.jobs.lock().get_mut(id) {
            Some(p) => {
                p.done.push((index, outcome.clone()));
                Ok(())
            }
            None => Err(JobStoreError::new(UnknownBatch(id.clone()))),
        }
    }

    fn complete(&self, id: &BatchId) -> Result<(), JobStoreError> {
        self.jobs.lock().remove(id);
        Ok(())
    }

    fn pending(&self) -> Result<Vec<PendingJob>, JobStoreError> {
        Ok(self.jobs.lock().values().cloned().collect())
    }
}
