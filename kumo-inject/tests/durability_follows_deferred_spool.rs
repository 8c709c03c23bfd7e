//! `deferred_spool` reaches the host as `Durability::Deferred`; with `deferred_generation` too,
//! the job itself is not persisted (KumoMTA skips that spool write as well).

mod support;

use kumo_inject::{
    BatchId, Durability, Injector, JobStore, JobStoreError, MemoryJobStore, PendingJob,
    RecipientOutcome, RequestContext, StoredJob,
};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use support::Collect;

fn body(deferred_spool: bool, deferred_generation: bool) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "envelope_sender": "s@example.com",
        "recipients": [{"email": "a@example.org"}],
        "deferred_spool": deferred_spool,
        "deferred_generation": deferred_generation,
        "content": {"text_body": "x"}
    }))
    .unwrap()
}

#[tokio::test]
async fn durability_and_persistence_follow_the_flags() {
    let store = Arc::new(MemoryJobStore::new());
    let sink = Arc::new(Collect::default());
    let injector = Injector::builder(sink.clone())
        .job_store(store.clone())
        .build()
        .unwrap();
    for (spool, generation) in [(false, false), (true, false), (true, true), (false, true)] {
        injector
            .inject(body(spool, generation).into(), RequestContext::default())
            .await
            .unwrap();
        injector.idle().await;
    }
    let got: Vec<Durability> = sink
        .messages
        .lock()
        .unwrap()
        .iter()
        .map(|m| m.durability)
        .collect();
    assert_eq!(
        got,
        [
            Durability::Immediate,
            Durability::Deferred,
            Durability::Deferred,
            Durability::Immediate
        ]
    );
    assert!(store.is_empty());
}

/// Counts `persist` calls.
#[derive(Default)]
struct Counting {
    inner: MemoryJobStore,
    persisted: AtomicUsize,
}

impl JobStore for Counting {
    fn persist(&self, job: &StoredJob) -> Result<(), JobStoreError> {
        self.persisted.fetch_add(1, Ordering::SeqCst);
        self.inner.persist(job)
    }
    fn record(&self, id: &BatchId, i: u32, o: &RecipientOutcome) -> Result<(), JobStoreError> {
        self.inner.record(id, i, o)
    }
    fn complete(&self, id: &BatchId) -> Result<(), JobStoreError> {
        self.inner.complete(id)
    }
    fn pending(&self) -> Result<Vec<PendingJob>, JobStoreError> {
        self.inner.pending()
    }
}

#[tokio::test]
async fn a_deferred_spool_job_is_not_persisted() {
    let store = Arc::new(Counting::default());
    let sink = Arc::new(Collect::default());
    let injector = Injector::builder(sink.clone())
        .job_store(store.clone())
        .build()
        .unwrap();
    for spool in [true, false] {
        injector
            .inject(body(spool, true).into(), RequestContext::default())
            .await
            .unwrap();
        injector.idle().await;
    }
    assert_eq!(store.persisted.load(Ordering::SeqCst), 1);
    assert_eq!(sink.messages.lock().unwrap().len(), 2);
    assert!(store.pending().unwrap().is_empty());
}
