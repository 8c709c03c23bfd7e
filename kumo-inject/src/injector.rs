//! The async service: synchronous injection on tokio's blocking pool, and deferred generation
//! in a bounded worker pool with persisted, resumable jobs.

use crate::batch::{Batch, BatchId, GenerateContext, GenerateOptions, RunControl};
use crate::error::RequestError;
use crate::host::{Admission, AlwaysAdmit, BatchReport, MessageSink, Refusal};
use crate::job_store::{JobStore, JobStoreError, MemoryJobStore, RecipientOutcome, StoredJob};
use crate::model::{InjectRequest, InjectResponse, ParseError};
use bytes::Bytes;
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{Mutex, Notify, mpsc};

/// How the [`Injector`] answers when its deferred queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overload {
    /// 429 Too Many Requests.
    TooManyRequests,
    /// 503 Service Unavailable (the default).
    #[default]
    ServiceUnavailable,
}

/// Configuration of an [`Injector`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectorConfig {
    /// Generation limits and names.
    pub generate: GenerateOptions,
    /// Deferred batches generated at the same time (default: 3/8 of the cores, at least 1,
    /// KumoMTA's `httpinject` pool size).
    pub workers: usize,
    /// Deferred batches that may wait for a worker before requests are refused (default 1024).
    pub queue_capacity: usize,
    /// The `Retry-After` sent when the queue is full (default 1 s).
    pub retry_after: Duration,
    /// The status sent when the queue is full.
    pub overload: Overload,
}

impl Default for InjectorConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            generate: GenerateOptions::default(),
            workers: (cores * 3 / 8).max(1),
            queue_capacity: 1024,
            retry_after: Duration::from_secs(1),
            overload: Overload::default(),
        }
    }
}

/// What the service knows about a request besides its body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// The HTTP client's address (for `Received:`).
    pub peer: Option<IpAddr>,
}

/// The outcome of an accepted request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Injected {
    /// Generated synchronously: the counts and per-recipient errors.
    Done {
        /// The batch id of the generated messages.
        batch_id: BatchId,
        /// The response body.
        response: InjectResponse,
    },
    /// `deferred_generation`: validated, persisted and queued; generation reports through the
    /// host's [`MessageSink`]. KumoMTA answers this with zero counts.
    Deferred {
        /// The batch id (message ids derive from it).
        batch_id: BatchId,
    },
}

impl Injected {
    /// The batch id.
    pub fn batch_id(&self) -> &BatchId {
        match self {
            Injected::Done { batch_id, .. } | Injected::Deferred { batch_id } => batch_id,
        }
    }

    /// The response body (zero counts for a deferred batch, as KumoMTA answers).
    pub fn response(&self) -> InjectResponse {
        match self {
            Injected::Done { response, .. } => response.clone(),
            Injected::Deferred { .. } => InjectResponse::default(),
        }
    }
}

/// Why a request was not taken. [`status`](Self::status) gives the HTTP status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InjectError {
    /// The body is not JSON (400) or not a request (422).
    #[error("invalid request body")]
    Parse(#[source] ParseError),
    /// The request cannot be generated (422).
    #[error("invalid request")]
    Request(#[source] RequestError),
    /// The host refused work (503).
    #[error("request refused")]
    Refused(#[source] Refusal),
    /// The deferred queue is full (429 or 503, per [`Overload`]), transient.
    #[error("deferred generation queue is full")]
    QueueFull {
        /// When to retry.
        retry_after: Duration,
        /// The status to answer with.
        overload: Overload,
    },
    /// The job store failed (503), transient.
    #[error("could not persist the batch")]
    Store(#[source] JobStoreError),
    /// The generation task failed (500).
    #[error("generation task failed")]
    Task(#[source] tokio::task::JoinError),
    /// The host could not make the batch's messages durable
    /// ([`MessageSink::flush`] failed) and dropped them (503), transient: nothing of the
    /// request was accepted.
    #[error("could not make the messages durable")]
    Flush(#[source] crate::host::SinkError),
}

impl InjectError {
    /// The HTTP status code for this error.
    pub fn status(&self) -> u16 {
        match self {
            InjectError::Parse(e) if e.is_syntax() => 400,
            InjectError::Parse(_) | InjectError::Request(_) => 422,
            InjectError::Refused(_) | InjectError::Store(_) | InjectError::Flush(_) => 503,
            InjectError::QueueFull {
                overload: Overload::TooManyRequests,
                ..
            } => 429,
            InjectError::QueueFull { .. } => 503,
            InjectError::Task(_) => 500,
        }
    }

    /// The `Retry-After` delay, for the transient errors that have one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            InjectError::QueueFull { retry_after, .. } => Some(*retry_after),
            InjectError::Refused(r) => r.retry_after(),
            _ => None,
        }
    }
}

struct Job {
    id: BatchId,
    request: Arc<InjectRequest>,
    peer: Option<IpAddr>,
    accepted_at: SystemTime,
    persisted: bool,
    done: Vec<(u32, RecipientOutcome)>,
}

struct Shared {
    sink: Arc<dyn MessageSink>,
    store: Arc<dyn JobStore>,
    admission: Arc<dyn Admission>,
    config: InjectorConfig,
    /// Set by [`Injector::interrupt`]: workers stop between recipients.
    stop: AtomicBool,
    /// Set by [`Injector::close`]: new requests are refused.
    closed: AtomicBool,
    /// Deferred jobs queued or running.
    outstanding: AtomicUsize,
    idle: Notify,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("config", &self.config)
            .field("outstanding", &self.outstanding)
            .finish_non_exhaustive()
    }
}

/// The injection service a host embeds: parses, validates and generates requests, hands messages
/// to its [`MessageSink`], and runs deferred batches in a bounded worker pool.
///
/// Cheap to clone (an `Arc` inside). Dropping the last clone stops the workers after their
/// current batch.
///
/// # Examples
///
/// ```
/// use kumo_inject::{GeneratedMessage, Injected, Injector, MessageSink, RequestContext, SinkError};
/// use std::sync::Mutex;
///
/// #[derive(Default)]
/// struct Collect(Mutex<Vec<GeneratedMessage>>);
/// impl MessageSink for Collect {
///     fn accept(&self, m: GeneratedMessage) -> Result<(), SinkError> {
///         self.0.lock().unwrap().push(m);
///         Ok(())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let sink = std::sync::Arc::new(Collect::default());
/// let injector = Injector::builder(sink.clone()).build()?;
/// let body = br#"{"envelope_sender": "a@example.com",
///                 "recipients": [{"email": "b@example.org"}],
///                 "content": {"text_body": "hi"}}"#;
/// let done = injector.inject(body.as_slice().into(), RequestContext::default()).await?;
/// assert_eq!(done.response().success_count, 1);
/// assert_eq!(sink.0.lock().unwrap().len(), 1);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Injector {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Job>,
}

/// Builds an [`Injector`].
#[must_use]
pub struct InjectorBuilder {
    sink: Arc<dyn MessageSink>,
    store: Arc<dyn JobStore>,
    admission: Arc<dyn Admission>,
    config: InjectorConfig,
}

impl std::fmt::Debug for InjectorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InjectorBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// [`InjectorBuilder::build`] was called outside a tokio runtime.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the injector must be built inside a tokio runtime")]
pub struct NoRuntime;

impl InjectorBuilder {
    /// Where deferred batches are persisted (default: a fresh [`MemoryJobStore`]).
    pub fn job_store(mut self, store: impl JobStore) -> Self {
        self.store = Arc::new(store);
        self
    }

    /// The host's admission check (default: [`AlwaysAdmit`]).
    pub fn admission(mut self, admission: impl Admission) -> Self {
        self.admission = Arc::new(admission);
        self
    }

    /// Limits, pool size and overload behaviour.
    pub fn config(mut self, config: InjectorConfig) -> Self {
        self.config = config;
        self
    }

    /// Starts the worker pool.
    ///
    /// # Errors
    ///
    /// [`NoRuntime`] when called outside a tokio runtime.
    pub fn build(self) -> Result<Injector, NoRuntime> {
        let handle = tokio::runtime::Handle::try_current().map_err(|_| NoRuntime)?;
        let (tx, rx) = mpsc::channel(self.config.queue_capacity.max(1));
        let shared = Arc::new(Shared {
            sink: self.sink,
            store: self.store,
            admission: self.admission,
            stop: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            outstanding: AtomicUsize::new(0),
            idle: Notify::new(),
            config: self.config,
        });
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..shared.config.workers.max(1) {
            handle.spawn(worker(shared.clone(), rx.clone()));
        }
        Ok(Injector { shared, tx })
    }
}

async fn worker(shared: Arc<Shared>, rx: Arc<Mutex<mpsc::Receiver<Job>>>) {
    loop {
        let job = { rx.lock().await.recv().await };
        let Some(job) = job else { return };
        let s = shared.clone();
        // A panic in generation is contained to this job, which stays pending in the store.
        let _ = tokio::task::spawn_blocking(move || run_job(&s, job)).await;
        if shared.outstanding.fetch_sub(1, Ordering::AcqRel) == 1 {
            shared.idle.notify_waiters();
        }
    }
}

/// Recipients accepted between two checkpoints of a deferred job: the host's
/// [`MessageSink::flush`] runs, then their outcomes are recorded.
const CHECKPOINT: usize = 1000;

/// Makes the accepted messages durable (the host's flush), then records their outcomes. False
/// when either fails: the job stops and stays pending, and the unrecorded recipients are
/// offered again, with the same message ids, when it is resumed.
fn checkpoint(shared: &Shared, job: &Job, accepted: &mut Vec<(u32, RecipientOutcome)>) -> bool {
    if shared.sink.flush(&job.id).is_err() {
        return false;
    }
    for (i, outcome) in accepted.drain(..) {
        if job.persisted && shared.store.record(&job.id, i, &outcome).is_err() {
            return false;
        }
    }
    true
}

/// Generates a deferred job, skipping recipients already done. A failed recipient's outcome is
/// recorded at once; an accepted one only after the host has flushed it (every
/// [`CHECKPOINT`] recipients and at the end), so that a record never claims a message the host
/// could still lose.
///
/// The host's [`Admission::wait_for_room`] runs before the first recipient and after each
/// checkpoint: an accepted job waits for room (backpressure) instead of being refused midway.
fn run_job(shared: &Shared, job: Job) {
    if shared.stop.load(Ordering::Acquire) || !shared.admission.wait_for_room() {
        return;
    }
    let ctx = GenerateContext {
        batch_id: job.id.clone(),
        now: job.accepted_at,
        peer: job.peer,
    };
    let mut response = InjectResponse::default();
    let done: HashSet<u32> = job.done.iter().map(|(i, _)| *i).collect();
    for (i, outcome) in &job.done {
        let email = job
            .request
            .recipients
            .get(*i as usize)
            .map_or("", |r| r.email.as_str());
        match outcome {
            RecipientOutcome::Accepted { .. } => response.success_count += 1,
            RecipientOutcome::Failed { error } => {
                response.fail_count += 1;
                response.failed_recipients.push(email.to_owned());
                response.errors.push(format!("{email}: {error}"));
            }
        }
    }
    let mut accepted = Vec::new();
    let mut healthy = true;
    let (part, finished) = match Batch::compile(&job.request, &shared.config.generate) {
        Ok(batch) => batch.run(
            &ctx,
            &*shared.sink,
            RunControl {
                clock: Some(&Instant::now),
                cancel: None,
            },
            |i| done.contains(&(i as u32)),
            |i, outcome| {
                match outcome {
                    RecipientOutcome::Accepted { .. } => {
                        accepted.push((i as u32, outcome.clone()));
                        if accepted.len() >= CHECKPOINT {
                            if !checkpoint(shared, &job, &mut accepted) {
                                healthy = false;
                                return false;
                            }
                            // Stopped here, the job stays pending (everything so far is
                            // recorded) and is resumed after this recipient.
                            if !shared.admission.wait_for_room() {
                                return false;
                            }
                        }
                    }
                    RecipientOutcome::Failed { .. } => {
                        if job.persisted && shared.store.record(&job.id, i as u32, outcome).is_err()
                        {
                            healthy = false;
                            return false;
                        }
                    }
                }
                !shared.stop.load(Ordering::Acquire)
            },
        ),
        // It compiled when it was accepted; a stored job that no longer does (a changed limit)
        // fails every recipient rather than staying pending forever.
        Err(e) => {
            let error = crate::error::error_chain(&e);
            let mut r = InjectResponse::default();
            for (i, rcpt) in job.request.recipients.iter().enumerate() {
                if !done.contains(&(i as u32)) {
                    r.fail_count += 1;
                    r.failed_recipients.push(rcpt.email.clone());
                    r.errors.push(format!("{}: {error}", rcpt.email));
                }
            }
            (r, true)
        }
    };
    // Also when stopped early: what was accepted is flushed and recorded, so a resumed job
    // starts after it.
    if !healthy || !checkpoint(shared, &job, &mut accepted) || !finished {
        return;
    }
    response.success_count += part.success_count;
    response.fail_count += part.fail_count;
    response.failed_recipients.extend(part.failed_recipients);
    response.errors.extend(part.errors);
    if job.persisted && shared.store.complete(&job.id).is_err() {
        return;
    }
    shared.sink.batch_finished(&BatchReport {
        batch_id: job.id,
        deferred: true,
        response,
    });
}

/// Sets its flag when dropped: the synchronous request it belongs to was abandoned (or is
/// done, when the flag no longer matters).
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

impl Injector {
    /// Starts building an injector that hands messages to `sink`.
    pub fn builder(sink: impl MessageSink) -> InjectorBuilder {
        InjectorBuilder {
            sink: Arc::new(sink),
            store: Arc::new(MemoryJobStore::new()),
            admission: Arc::new(AlwaysAdmit),
            config: InjectorConfig::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &InjectorConfig {
        &self.shared.config
    }

    /// Runs the host's admission check (and refuses once [`close`](Self::close) was called).
    ///
    /// # Errors
    ///
    /// The [`Refusal`].
    pub fn admit(&self) -> Result<(), Refusal> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(Refusal::ShuttingDown);
        }
        self.shared.admission.check()
    }

    /// Parses a JSON body and injects it (see [`inject_request`](Self::inject_request)).
    ///
    /// # Errors
    ///
    /// As [`inject_request`](Self::inject_request), plus [`InjectError::Parse`].
    pub async fn inject(&self, body: Bytes, ctx: RequestContext) -> Result<Injected, InjectError> {
        self.admit().map_err(InjectError::Refused)?;
        let req = InjectRequest::from_json(&body).map_err(InjectError::Parse)?;
        self.inject_request(req, body, ctx).await
    }

    /// Injects a parsed request. `body` is its JSON, kept as the persisted form of a deferred
    /// batch (pass the bytes the request was parsed from).
    ///
    /// Synchronous requests are generated on tokio's blocking pool and answered with their
    /// counts. Dropping the returned future (the HTTP server does when the client disconnects)
    /// stops generation before the next recipient: the rest fail with
    /// [`RecipientError::Cancelled`](crate::RecipientError::Cancelled), the accepted messages
    /// are flushed, and [`MessageSink::batch_finished`] reports the batch.
    ///
    /// Deferred ones are validated and compiled here (so a template error is still a 422),
    /// persisted unless `deferred_spool` is set, queued, and answered at once.
    ///
    /// A batch of either kind stops once it has spent [`GenerateOptions::batch_time_limit`]
    /// generating; its remaining recipients fail with
    /// [`RecipientError::BatchTimeLimit`](crate::RecipientError::BatchTimeLimit).
    ///
    /// # Errors
    ///
    /// [`InjectError::Refused`] (admission, closed), [`InjectError::Request`] (validation or
    /// template compilation), [`InjectError::QueueFull`], [`InjectError::Store`],
    /// [`InjectError::Task`], and for a synchronous request [`InjectError::Flush`]
    /// ([`MessageSink::flush`] failed; [`MessageSink::batch_finished`] is not called).
    pub async fn inject_request(
        &self,
        req: InjectRequest,
        body: Bytes,
        ctx: RequestContext,
    ) -> Result<Injected, InjectError> {
        self.admit().map_err(InjectError::Refused)?;
        let batch_id = BatchId::random();
        let now = SystemTime::now();
        if req.deferred_generation {
            return self.accept_deferred(req, body, ctx, batch_id, now);
        }
        let shared = self.shared.clone();
        let id = batch_id.clone();
        // Generation runs on a blocking thread, which dropping this future does not stop: the
        // guard sets the flag when the future is dropped (the HTTP client went away and the
        // server dropped the handler), and the batch stops before its next recipient.
        let cancel = Arc::new(AtomicBool::new(false));
        let _cancel_on_drop = CancelOnDrop(cancel.clone());
        tokio::task::spawn_blocking(move || {
            let batch =
                Batch::compile(&req, &shared.config.generate).map_err(InjectError::Request)?;
            let gctx = GenerateContext {
                batch_id: id,
                now,
                peer: ctx.peer,
            };
            let response = batch.generate_all_with(&gctx, &*shared.sink, &Instant::now, &cancel);
            shared
                .sink
                .flush(&gctx.batch_id)
                .map_err(InjectError::Flush)?;
            shared.sink.batch_finished(&BatchReport {
                batch_id: gctx.batch_id,
                deferred: false,
                response: response.clone(),
            });
            Ok(response)
        })
        .await
        .map_err(InjectError::Task)?
        .map(|response| Injected::Done { batch_id, response })
    }

    fn accept_deferred(
        &self,
        req: InjectRequest,
        body: Bytes,
        ctx: RequestContext,
        batch_id: BatchId,
        now: SystemTime,
    ) -> Result<Injected, InjectError> {
        Batch::compile(&req, &self.shared.config.generate).map_err(InjectError::Request)?;
        let permit = self.tx.try_reserve().map_err(|_| InjectError::QueueFull {
            retry_after: self.shared.config.retry_after,
            overload: self.shared.config.overload,
        })?;
        let persisted = !req.deferred_spool;
        if persisted {
            self.shared
                .store
                .persist(&StoredJob {
                    id: batch_id.clone(),
                    request: body,
                    peer: ctx.peer,
                    accepted_at: now,
                })
                .map_err(InjectError::Store)?;
        }
        self.shared.outstanding.fetch_add(1, Ordering::AcqRel);
        permit.send(Job {
            id: batch_id.clone(),
            request: Arc::new(req),
            peer: ctx.peer,
            accepted_at: now,
            persisted,
            done: Vec::new(),
        });
        Ok(Injected::Deferred { batch_id })
    }

    /// Queues every job left in the [`JobStore`] (call once at startup). Recipients with a
    /// recorded outcome are skipped; the others get the same message ids as before.
    /// Returns how many jobs were queued.
    ///
    /// # Errors
    ///
    /// When the store cannot be read. A stored job whose JSON no longer parses is completed
    /// (dropped) rather than retried forever.
    pub async fn resume_pending(&self) -> Result<usize, JobStoreError> {
        let pending = self.shared.store.pending()?;
        let mut n = 0;
        for p in pending {
            let req = match InjectRequest::from_json(&p.job.request) {
                Ok(r) => r,
                Err(_) => {
                    self.shared.store.complete(&p.job.id)?;
                    continue;
                }
            };
            self.shared.outstanding.fetch_add(1, Ordering::AcqRel);
            let job = Job {
                id: p.job.id,
                request: Arc::new(req),
                peer: p.job.peer,
                accepted_at: p.job.accepted_at,
                persisted: true,
                done: p.done,
            };
            if self.tx.send(job).await.is_err() {
                self.shared.outstanding.fetch_sub(1, Ordering::AcqRel);
                break;
            }
            n += 1;
        }
        Ok(n)
    }

    /// Refuses new requests from now on (503 "shutting down"); queued batches still run.
    pub fn close(&self) {
        self.shared.closed.store(true, Ordering::Release);
    }

    /// Stops deferred generation between two recipients, as a crash would, but cleanly: the
    /// running and queued batches stay pending in the [`JobStore`] with every finished
    /// recipient recorded, for [`resume_pending`](Self::resume_pending) in the next process.
    /// Also closes the injector.
    pub fn interrupt(&self) {
        self.close();
        self.shared.stop.store(true, Ordering::Release);
    }

    /// Waits until no deferred batch is queued or running.
    pub async fn idle(&self) {
        loop {
            let mut notified = std::pin::pin!(self.shared.idle.notified());
            notified.as_mut().enable();
            if self.shared.outstanding.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Deferred batches queued or running.
    pub fn outstanding(&self) -> usize {
        self.shared.outstanding.load(Ordering::Acquire)
    }
}
