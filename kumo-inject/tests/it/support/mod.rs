//! Test support shared by the integration tests: a collecting sink, a probing job store,
//! injector helpers, a Python finder, an HTTP client and a quoted-printable decoder.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a part of it"
)]

pub mod qp;

use kumo_inject::{
    BatchId, BatchReport, GeneratedMessage, JobStore, JobStoreError, MemoryJobStore, MessageSink,
    PendingJob, RecipientFailure, RecipientOutcome, SinkError, StoredJob,
};
#[cfg(feature = "tokio")]
use kumo_inject::{Injected, Injector, InjectorConfig, RequestContext};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// A sink that keeps everything it is given.
#[derive(Debug, Default)]
pub struct Collect {
    pub messages: Mutex<Vec<GeneratedMessage>>,
    pub failures: Mutex<Vec<(u32, String)>>,
    pub reports: Mutex<Vec<BatchReport>>,
}

impl MessageSink for Collect {
    fn accept(&self, m: GeneratedMessage) -> Result<(), SinkError> {
        self.messages.lock().unwrap().push(m);
        Ok(())
    }
    fn recipient_failed(&self, f: &RecipientFailure<'_>) {
        self.failures
            .lock()
            .unwrap()
            .push((f.index, f.error.to_string()));
    }
    fn batch_finished(&self, report: &BatchReport) {
        self.reports.lock().unwrap().push(report.clone());
    }
}

/// One call a [`Flushing`] sink received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkEvent {
    /// `accept` of recipient `index`, with its message id.
    Accept {
        batch: BatchId,
        index: u32,
        id: String,
    },
    /// `recipient_failed` of recipient `index`.
    Failed { batch: BatchId, index: u32 },
    /// `flush` (logged whether it succeeds or not).
    Flush { batch: BatchId },
    /// `batch_finished`.
    Finished { batch: BatchId },
}

/// A sink that logs every call in order, counts `flush` calls, and fails `flush` while
/// `fail_flush` is set (dropping the messages of the batch, as the contract asks).
#[derive(Debug, Default)]
pub struct Flushing {
    pub events: Mutex<Vec<SinkEvent>>,
    pub reports: Mutex<Vec<BatchReport>>,
    pub flushes: AtomicUsize,
    pub fail_flush: AtomicBool,
}

impl Flushing {
    /// A sink whose `flush` fails until `fail_flush` is cleared.
    pub fn failing() -> Self {
        let s = Self::default();
        s.fail_flush.store(true, Ordering::SeqCst);
        s
    }

    pub fn events(&self) -> Vec<SinkEvent> {
        self.events.lock().unwrap().clone()
    }

    /// `(index, message id)` of every accepted message of `batch`, in order of acceptance.
    pub fn accepted(&self, batch: &BatchId) -> Vec<(u32, String)> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                SinkEvent::Accept {
                    batch: b,
                    index,
                    id,
                } if &b == batch => Some((index, id)),
                _ => None,
            })
            .collect()
    }
}

/// Why a [`Flushing`] sink's flush failed.
#[derive(Debug, thiserror::Error)]
#[error("spool sync failed")]
pub struct SyncFailed;

impl MessageSink for Flushing {
    fn accept(&self, m: GeneratedMessage) -> Result<(), SinkError> {
        self.events.lock().unwrap().push(SinkEvent::Accept {
            batch: m.batch_id.clone(),
            index: m.index,
            id: m.id.clone(),
        });
        Ok(())
    }
    fn flush(&self, batch_id: &BatchId) -> Result<(), SinkError> {
        self.flushes.fetch_add(1, Ordering::SeqCst);
        self.events.lock().unwrap().push(SinkEvent::Flush {
            batch: batch_id.clone(),
        });
        if self.fail_flush.load(Ordering::SeqCst) {
            return Err(SinkError::new(SyncFailed));
        }
        Ok(())
    }
    fn recipient_failed(&self, f: &RecipientFailure<'_>) {
        self.events.lock().unwrap().push(SinkEvent::Failed {
            batch: f.batch_id.clone(),
            index: f.index,
        });
    }
    fn batch_finished(&self, report: &BatchReport) {
        self.events.lock().unwrap().push(SinkEvent::Finished {
            batch: report.batch_id.clone(),
        });
        self.reports.lock().unwrap().push(report.clone());
    }
}

/// A [`MemoryJobStore`] that counts `persist` calls and, with `fail_record_at`, fails `record`
/// once at that index: the process "dies" after the sink accepted that message but before its
/// outcome was recorded.
#[derive(Debug, Default)]
pub struct ProbedStore {
    pub inner: MemoryJobStore,
    pub persisted: AtomicUsize,
    pub fail_record_at: Option<u32>,
    record_failed: AtomicBool,
}

impl ProbedStore {
    /// A store whose `record` fails once, at `index`.
    pub fn failing_record_at(index: u32) -> Self {
        Self {
            fail_record_at: Some(index),
            ..Self::default()
        }
    }
}

impl JobStore for ProbedStore {
    fn persist(&self, job: &StoredJob) -> Result<(), JobStoreError> {
        self.persisted.fetch_add(1, Ordering::SeqCst);
        self.inner.persist(job)
    }
    fn record(&self, id: &BatchId, index: u32, o: &RecipientOutcome) -> Result<(), JobStoreError> {
        if self.fail_record_at == Some(index) && !self.record_failed.swap(true, Ordering::SeqCst) {
            return Err(JobStoreError::new("disk gone"));
        }
        self.inner.record(id, index, o)
    }
    fn complete(&self, id: &BatchId) -> Result<(), JobStoreError> {
        self.inner.complete(id)
    }
    fn pending(&self) -> Result<Vec<PendingJob>, JobStoreError> {
        self.inner.pending()
    }
}

/// An injector on the current runtime that gives messages to `sink` and keeps jobs in `store`.
#[cfg(feature = "tokio")]
pub fn start_injector(
    sink: impl MessageSink,
    store: impl JobStore,
    config: InjectorConfig,
) -> Injector {
    Injector::builder(sink)
        .job_store(store)
        .config(config)
        .build()
        .unwrap()
}

/// Injects `body` (which must be accepted) and waits until the injector is idle.
#[cfg(feature = "tokio")]
pub async fn inject_and_wait(injector: &Injector, body: Vec<u8>) -> Injected {
    let done = injector
        .inject(body.into(), RequestContext::default())
        .await
        .unwrap();
    injector.idle().await;
    done
}

/// The Python to run the independent checks with: `$KUMO_TEST_PYTHON`, else `python3`. `None`
/// (with a note) when there is none and `CI` is unset; a panic when `CI` is set.
pub fn python() -> Option<String> {
    let candidate = std::env::var("KUMO_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = std::process::Command::new(&candidate)
        .args(["-c", "import email.policy"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        return Some(candidate);
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI is set but no Python is available ({candidate}); set KUMO_TEST_PYTHON");
    }
    #[allow(clippy::print_stderr, reason = "the note the common brief asks for")]
    {
        eprintln!("note: no Python ({candidate}); skipping the independent email check");
    }
    None
}

/// A response read by [`post`].
#[derive(Debug)]
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Serves `router` on 127.0.0.1:0 (with connect info) and returns its address.
pub async fn serve(router: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await;
    });
    addr
}

/// POSTs `body` to `/api/inject/v1` over a fresh connection with raw HTTP/1.1.
pub async fn post(addr: std::net::SocketAddr, headers: &[(&str, &str)], body: &[u8]) -> HttpReply {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let mut head = format!(
        "POST /api/inject/v1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let body = body.to_vec();
    let writer = tokio::spawn(async move {
        // The server may answer (413) before it has read everything; ignore write errors.
        let _ = wr.write_all(head.as_bytes()).await;
        let _ = wr.write_all(&body).await;
        wr
    });
    let mut raw = Vec::new();
    let _ = rd.read_to_end(&mut raw).await;
    drop(writer.await);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    HttpReply {
        status,
        headers,
        body: body.to_owned(),
    }
}

pub const JSON: (&str, &str) = ("Content-Type", "application/json");
