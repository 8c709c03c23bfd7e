//! `deferred_spool` reaches the host as `Durability::Deferred`; with `deferred_generation` too,
//! the job itself is not persisted (KumoMTA skips that spool write as well).

use crate::support;

use kumo_inject::{Durability, InjectorConfig, JobStore, MemoryJobStore};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use support::{Collect, ProbedStore, inject_and_wait, start_injector};

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
    let injector = start_injector(sink.clone(), store.clone(), InjectorConfig::default());
    for (spool, generation) in [(false, false), (true, false), (true, true), (false, true)] {
        inject_and_wait(&injector, body(spool, generation)).await;
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

#[tokio::test]
async fn a_deferred_spool_job_is_not_persisted() {
    let store = Arc::new(ProbedStore::default());
    let sink = Arc::new(Collect::default());
    let injector = start_injector(sink.clone(), store.clone(), InjectorConfig::default());
    for spool in [true, false] {
        inject_and_wait(&injector, body(spool, true)).await;
    }
    assert_eq!(store.persisted.load(Ordering::SeqCst), 1);
    assert_eq!(sink.messages.lock().unwrap().len(), 2);
    assert!(store.pending().unwrap().is_empty());
}
