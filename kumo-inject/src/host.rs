//! The traits through which the host application receives messages and outcomes, stores
//! deferred batches, and refuses work.

use crate::batch::{BatchId, GeneratedMessage};
use crate::error::RecipientError;
use crate::model::InjectResponse;
use std::time::Duration;

/// How durable the host must make a message before it is considered accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Durability {
    /// Write it to the spool before acknowledging (the default).
    Immediate,
    /// The request set `deferred_spool`: the host may keep it in memory and spool it only on its
    /// first transient failure. A crash before that loses it; the client asked for this.
    Deferred,
}

/// Receives generated messages and per-recipient outcomes.
///
/// Methods are called from generation threads (tokio's blocking pool when the [`Injector`]
/// drives them), never from an async task, so an implementation may block briefly (take a
/// mutex, `blocking_send` into a channel).
///
/// # Idempotency
///
/// Message ids are derived from the batch id and the recipient's index. A deferred batch resumed
/// after a crash skips the recipients whose outcome was recorded in the
/// [`JobStore`](crate::JobStore). An accepted recipient is recorded only after
/// [`flush`](Self::flush) succeeded for it (every 1,000 recipients and at the end of the batch),
/// so the recipients accepted since the last flush are offered again **with the same message
/// ids**: a host that ignores an id it already holds gets every recipient exactly once, and a
/// host that dropped them (a failed flush) gets them again.
///
/// [`Injector`]: crate::Injector
pub trait MessageSink: Send + Sync + 'static {
    /// Takes one generated message (its [`GeneratedMessage::durability`] says how to store it).
    ///
    /// # Errors
    ///
    /// A [`SinkError`] makes this recipient fail (counted in `fail_count`); the batch goes on.
    fn accept(&self, message: GeneratedMessage) -> Result<(), SinkError>;

    /// Called after the last [`accept`](Self::accept) of a batch and before anybody is told
    /// that its messages were accepted: before the HTTP response of a synchronous request,
    /// and before a deferred job is completed in the [`JobStore`](crate::JobStore).
    ///
    /// A host that makes each message durable in `accept` needs nothing here (the default
    /// does nothing). A host that writes in `accept` without waiting for stable storage
    /// (a buffered spool write) syncs here once for the whole batch: one sync per batch
    /// instead of one per message, and the acknowledgement still follows durability.
    ///
    /// # Errors
    ///
    /// The batch's messages are not durable. The host must drop every message of the batch
    /// that it accepted (none of them may be delivered); a synchronous request is answered
    /// 503 ([`InjectError::Flush`](crate::InjectError::Flush)) so that the client retries it
    /// whole, and a deferred job stays pending and is generated again (with the same message
    /// ids) when it is resumed.
    fn flush(&self, batch_id: &BatchId) -> Result<(), SinkError> {
        let _ = batch_id;
        Ok(())
    }

    /// Called for each recipient that produced no message (bad address, template error, a
    /// refusal by [`accept`](Self::accept)). The default does nothing.
    fn recipient_failed(&self, failure: &RecipientFailure<'_>) {
        let _ = failure;
    }

    /// Called once when a batch is finished, with its final counts. For deferred batches this is
    /// the only place the outcome appears (the HTTP response went out before generation). The
    /// default does nothing.
    fn batch_finished(&self, report: &BatchReport) {
        let _ = report;
    }
}

impl<T: MessageSink + ?Sized> MessageSink for std::sync::Arc<T> {
    fn accept(&self, message: GeneratedMessage) -> Result<(), SinkError> {
        (**self).accept(message)
    }
    fn flush(&self, batch_id: &BatchId) -> Result<(), SinkError> {
        (**self).flush(batch_id)
    }
    fn recipient_failed(&self, failure: &RecipientFailure<'_>) {
        (**self).recipient_failed(failure)
    }
    fn batch_finished(&self, report: &BatchReport) {
        (**self).batch_finished(report)
    }
}

/// One recipient that got no message.
#[derive(Debug, Clone, Copy)]
pub struct RecipientFailure<'a> {
    /// The batch.
    pub batch_id: &'a BatchId,
    /// The recipient's position in the request.
    pub index: u32,
    /// The recipient's address as given.
    pub recipient: &'a str,
    /// Why.
    pub error: &'a RecipientError,
}

/// The final outcome of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchReport {
    /// The batch.
    pub batch_id: BatchId,
    /// Whether the batch was generated in the background (`deferred_generation`).
    pub deferred: bool,
    /// The counts and errors, as the synchronous response would carry them.
    pub response: InjectResponse,
}

/// The host refused a message (full queue, spool error, policy).
#[derive(Debug, thiserror::Error)]
#[error("message sink refused the message")]
pub struct SinkError {
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl SinkError {
    /// Wraps the host's reason.
    pub fn new(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            source: source.into(),
        }
    }
}

/// Checked before a request is parsed: lets the host refuse work (HTTP 503) when it is shutting
/// down, short of memory or disk, or not ready yet. Closures `Fn() -> Result<(), Refusal>`
/// implement it.
///
/// # Examples
///
/// ```
/// use kumo_inject::{Admission, Refusal};
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
///
/// let disk_full = Arc::new(AtomicBool::new(true));
/// let flag = disk_full.clone();
/// let check = move || if flag.load(Ordering::Relaxed) { Err(Refusal::LowDisk) } else { Ok(()) };
/// assert_eq!(check.check(), Err(Refusal::LowDisk));
/// disk_full.store(false, Ordering::Relaxed);
/// assert_eq!(check.check(), Ok(()));
/// ```
pub trait Admission: Send + Sync + 'static {
    /// `Ok` to take the request.
    ///
    /// # Errors
    ///
    /// The [`Refusal`] the client sees (503, with `Retry-After` when it has one).
    fn check(&self) -> Result<(), Refusal>;

    /// Backpressure for work already accepted: a `deferred_generation` job was answered `200`
    /// before it was generated, so it is never refused midway; its worker calls this instead,
    /// on a blocking thread, before the job's first recipient and after each checkpoint (every
    /// 1,000 accepted recipients, once [`MessageSink::flush`] made them durable). Block until
    /// there is room for more, then return `true`.
    ///
    /// Return `false` to stop the job where it is, as [`Injector::interrupt`] would: what was
    /// accepted so far is flushed and recorded, and the job stays pending in the
    /// [`JobStore`](crate::JobStore) for [`Injector::resume_pending`] (a host that is shutting
    /// down does this rather than wait). The default returns `true` at once.
    ///
    /// [`Injector::interrupt`]: crate::Injector::interrupt
    /// [`Injector::resume_pending`]: crate::Injector::resume_pending
    fn wait_for_room(&self) -> bool {
        true
    }
}

/// An [`Admission`] that takes every request.
#[derive(Debug, Clone, Copy, Default)]
pub struct AlwaysAdmit;

impl Admission for AlwaysAdmit {
    fn check(&self) -> Result<(), Refusal> {
        Ok(())
    }
}

impl<F> Admission for F
where
    F: Fn() -> Result<(), Refusal> + Send + Sync + 'static,
{
    fn check(&self) -> Result<(), Refusal> {
        self()
    }
}

/// Why the host refused a request (HTTP 503). Transient: the client should retry later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The host is shutting down.
    #[error("shutting down")]
    ShuttingDown,
    /// Not enough memory headroom (KumoMTA's "load shedding").
    #[error("load shedding")]
    LowMemory,
    /// The spool's disk is too full.
    #[error("disk is too full")]
    LowDisk,
    /// The host is still starting (e.g. waiting for the spool).
    #[error("waiting for spool startup")]
    NotReady,
    /// Any other transient reason; `retry_after` is sent as `Retry-After`.
    #[error("service unavailable")]
    Busy {
        /// When to try again.
        retry_after: Option<Duration>,
    },
}

impl Refusal {
    /// The delay to put in `Retry-After`, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Refusal::Busy { retry_after } => *retry_after,
            _ => None,
        }
    }
}
