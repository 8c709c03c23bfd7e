//! `MessageSink::flush` for `deferred_generation`: called once per job, after its last recipient
//! and before the job is completed in the `JobStore`; when it fails the job stays pending, is
//! not reported finished, and `resume_pending` generates it again with the same message ids.

use crate::support::{Flushing, SinkEvent, inject_and_wait, start_injector};
use kumo_inject::{
    BatchId, GeneratedMessage, InjectorConfig, JobStore, MemoryJobStore, MessageSink, SinkError,
};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

const N: u32 = 5;

fn request() -> Vec<u8> {
    let rcpts: Vec<_> = (0..N)
        .map(|i| json!({"email": format!("r{i}@example.org")}))
        .collect();
    serde_json::to_vec(&json!({
        "envelope_sender": "s@example.com",
        "recipients": rcpts,
        "deferred_generation": true,
        "content": {"subject": "hi {{ email }}", "text_body": "hello\n"}
    }))
    .unwrap()
}

fn config() -> InjectorConfig {
    InjectorConfig {
        workers: 1,
        ..InjectorConfig::default()
    }
}

fn finished(sink: &Flushing) -> usize {
    sink.events()
        .iter()
        .filter(|e| matches!(e, SinkEvent::Finished { .. }))
        .count()
}

/// Delegates to a [`Flushing`] sink and notes how many jobs the store held when `flush` ran.
struct StoreWatching {
    inner: Arc<Flushing>,
    store: Arc<MemoryJobStore>,
    stored_at_flush: Mutex<Vec<usize>>,
}

impl MessageSink for StoreWatching {
    fn accept(&self, m: GeneratedMessage) -> Result<(), SinkError> {
        self.inner.accept(m)
    }
    fn flush(&self, batch_id: &BatchId) -> Result<(), SinkError> {
        self.stored_at_flush.lock().unwrap().push(self.store.len());
        self.inner.flush(batch_id)
    }
    fn batch_finished(&self, report: &kumo_inject::BatchReport) {
        self.inner.batch_finished(report);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deferred_job_is_flushed_once_before_it_is_completed() {
    let store = Arc::new(MemoryJobStore::new());
    let inner = Arc::new(Flushing::default());
    let sink = Arc::new(StoreWatching {
        inner: inner.clone(),
        store: store.clone(),
        stored_at_flush: Mutex::new(Vec::new()),
    });
    let injector = start_injector(sink.clone(), store.clone(), config());
    let done = inject_and_wait(&injector, request()).await;
    let batch = done.batch_id().clone();

    assert_eq!(inner.flushes.load(Ordering::SeqCst), 1);
    assert_eq!(
        *sink.stored_at_flush.lock().unwrap(),
        [1],
        "flush runs while the job is still in the store"
    );
    assert!(store.is_empty());
    let events = inner.events();
    let n = N as usize;
    assert_eq!(events.len(), n + 2, "{events:?}");
    assert!(
        events[..n]
            .iter()
            .all(|e| matches!(e, SinkEvent::Accept { .. }))
    );
    assert_eq!(events[n], SinkEvent::Flush { batch });
    assert!(matches!(events[n + 1], SinkEvent::Finished { .. }));
    assert_eq!(inner.reports.lock().unwrap()[0].response.success_count, n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_flush_leaves_the_job_pending_until_resumed() {
    let store = Arc::new(MemoryJobStore::new());
    let sink = Arc::new(Flushing::failing());
    let injector = start_injector(sink.clone(), store.clone(), config());
    let done = inject_and_wait(&injector, request()).await;
    let batch = done.batch_id().clone();

    assert_eq!(sink.flushes.load(Ordering::SeqCst), 1);
    assert_eq!(store.len(), 1, "the job stays in the store");
    let pending = store.pending().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].job.id, batch);
    assert_eq!(finished(&sink), 0, "batch_finished was called");
    assert!(sink.reports.lock().unwrap().is_empty());

    sink.fail_flush.store(false, Ordering::SeqCst);
    assert_eq!(injector.resume_pending().await.unwrap(), 1);
    injector.idle().await;
    assert!(store.is_empty(), "the resumed job is completed");
    assert_eq!(sink.flushes.load(Ordering::SeqCst), 2);
    let reports = sink.reports.lock().unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].batch_id, batch);
    assert!(reports[0].deferred);
    assert_eq!(
        (
            reports[0].response.success_count,
            reports[0].response.fail_count
        ),
        (N as usize, 0)
    );
}

/// The host dropped every message of the batch when its flush failed (as `MessageSink::flush`
/// requires), so the resumed job must offer each recipient again, with the message id it had.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_job_offers_the_dropped_messages_again_with_the_same_ids() {
    let store = Arc::new(MemoryJobStore::new());
    let sink = Arc::new(Flushing::failing());
    let injector = start_injector(sink.clone(), store.clone(), config());
    let done = inject_and_wait(&injector, request()).await;
    let batch = done.batch_id().clone();
    let first = sink.accepted(&batch);
    assert_eq!(first.len(), N as usize);
    assert_eq!(store.len(), 1);

    sink.fail_flush.store(false, Ordering::SeqCst);
    sink.events.lock().unwrap().clear();
    assert_eq!(injector.resume_pending().await.unwrap(), 1);
    injector.idle().await;
    let second = sink.accepted(&batch);
    assert_eq!(
        second, first,
        "every dropped message is offered again with the same id"
    );
    assert!(store.is_empty());
    assert_eq!(finished(&sink), 1);
}

/// An admission that lets a deferred job past `wait_for_room` only while it has rooms left
/// (each call takes one), and stops the job once `stop` is set.
#[derive(Debug, Default)]
struct Rooms {
    rooms: std::sync::atomic::AtomicUsize,
    stop: std::sync::atomic::AtomicBool,
    waits: std::sync::atomic::AtomicUsize,
}

/// The admission handed to the injector, sharing its [`Rooms`] with the test.
struct Gate(Arc<Rooms>);

impl kumo_inject::Admission for Gate {
    fn check(&self) -> Result<(), kumo_inject::Refusal> {
        Ok(())
    }
    fn wait_for_room(&self) -> bool {
        let rooms = &self.0;
        rooms.waits.fetch_add(1, Ordering::SeqCst);
        // Bounded: a test that never gives room fails on its own assertions, not by hanging.
        for _ in 0..20_000 {
            if rooms.stop.load(Ordering::SeqCst) {
                return false;
            }
            let taken = rooms
                .rooms
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |r| r.checked_sub(1));
            if taken.is_ok() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        false
    }
}

fn big_request(n: u32) -> Vec<u8> {
    let rcpts: Vec<_> = (0..n)
        .map(|i| json!({"email": format!("r{i}@example.org")}))
        .collect();
    serde_json::to_vec(&json!({
        "envelope_sender": "s@example.com",
        "recipients": rcpts,
        "deferred_generation": true,
        "content": {"subject": "hi", "text_body": "hello\n"}
    }))
    .unwrap()
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..2_000 {
        if done() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("timed out waiting for {what}");
}

/// A job answered `200` is never refused midway: it waits in `wait_for_room` (before its
/// first recipient and after each checkpoint of 1,000) and then goes on, every recipient once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deferred_job_waits_for_room_after_each_checkpoint() {
    let rooms = Arc::new(Rooms::default());
    rooms.rooms.store(2, Ordering::SeqCst);
    let sink = Arc::new(Flushing::default());
    let store = Arc::new(MemoryJobStore::new());
    let injector = kumo_inject::Injector::builder(sink.clone())
        .job_store(store.clone())
        .admission(Gate(rooms.clone()))
        .config(config())
        .build()
        .unwrap();
    let done = injector
        .inject(
            big_request(2_500).into(),
            kumo_inject::RequestContext::default(),
        )
        .await
        .unwrap();
    let batch = done.batch_id().clone();
    wait_until("two checkpoints", || sink.accepted(&batch).len() == 2_000).await;
    wait_until("the third wait", || rooms.waits.load(Ordering::SeqCst) == 3).await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(sink.accepted(&batch).len(), 2_000, "the job waits for room");
    assert_eq!(sink.flushes.load(Ordering::SeqCst), 2);
    assert_eq!(injector.outstanding(), 1);
    assert_eq!(store.len(), 1, "a waiting job is still pending");

    rooms.rooms.store(1, Ordering::SeqCst);
    injector.idle().await;
    let accepted = sink.accepted(&batch);
    let indices: std::collections::BTreeSet<u32> = accepted.iter().map(|(i, _)| *i).collect();
    assert_eq!(accepted.len(), 2_500, "no recipient twice");
    assert_eq!(indices, (0..2_500).collect(), "no recipient missing");
    assert!(store.is_empty());
    assert_eq!(
        sink.reports.lock().unwrap()[0].response.success_count,
        2_500
    );
}

/// `wait_for_room` returning `false` stops the job as `interrupt` would: it stays pending with
/// what it accepted recorded, and a resumed job offers only the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deferred_job_stopped_while_waiting_resumes_after_its_last_checkpoint() {
    let rooms = Arc::new(Rooms::default());
    rooms.rooms.store(1, Ordering::SeqCst);
    let sink = Arc::new(Flushing::default());
    let store = Arc::new(MemoryJobStore::new());
    let injector = kumo_inject::Injector::builder(sink.clone())
        .job_store(store.clone())
        .admission(Gate(rooms.clone()))
        .config(config())
        .build()
        .unwrap();
    let done = injector
        .inject(
            big_request(1_500).into(),
            kumo_inject::RequestContext::default(),
        )
        .await
        .unwrap();
    let batch = done.batch_id().clone();
    wait_until("the second wait", || {
        rooms.waits.load(Ordering::SeqCst) == 2
    })
    .await;
    rooms.stop.store(true, Ordering::SeqCst);
    injector.idle().await;
    assert_eq!(sink.accepted(&batch).len(), 1_000);
    assert_eq!(finished(&sink), 0, "a stopped job is not finished");
    let pending = store.pending().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].done.len(), 1_000, "the checkpoint was recorded");

    rooms.stop.store(false, Ordering::SeqCst);
    rooms.rooms.store(1, Ordering::SeqCst);
    sink.events.lock().unwrap().clear();
    assert_eq!(injector.resume_pending().await.unwrap(), 1);
    injector.idle().await;
    let rest: std::collections::BTreeSet<u32> =
        sink.accepted(&batch).iter().map(|(i, _)| *i).collect();
    assert_eq!(rest, (1_000..1_500).collect());
    assert!(store.is_empty());
    assert_eq!(finished(&sink), 1);
}
