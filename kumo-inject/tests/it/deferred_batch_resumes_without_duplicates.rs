//! A deferred batch interrupted half way and resumed by a new injector (a new process, sharing
//! the job store) gives every recipient exactly once, with the same message ids.

use crate::support;

use kumo_inject::{
    GeneratedMessage, Injector, InjectorConfig, JobStore, MemoryJobStore, MessageSink, SinkError,
};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use support::{Collect, ProbedStore, inject_and_wait, start_injector};

const N: usize = 1000;

fn request() -> Vec<u8> {
    let rcpts: Vec<_> = (0..N)
        .map(|i| json!({"email": format!("r{i}@example.org"), "name": format!("R {i}")}))
        .collect();
    serde_json::to_vec(&json!({
        "envelope_sender": "s@example.com",
        "recipients": rcpts,
        "deferred_generation": true,
        "content": {"subject": "hi {{ name }}", "text_body": "hello {{ email }}\n"}
    }))
    .unwrap()
}

/// Interrupts its injector after `stop_after` messages, as a crash would.
struct Interrupting {
    seen: Mutex<Vec<GeneratedMessage>>,
    stop_after: usize,
    injector: OnceLock<Injector>,
}

impl MessageSink for Interrupting {
    fn accept(&self, m: GeneratedMessage) -> Result<(), SinkError> {
        let mut seen = self.seen.lock().unwrap();
        seen.push(m);
        if seen.len() == self.stop_after {
            self.injector.get().unwrap().interrupt();
        }
        Ok(())
    }
}

fn config() -> InjectorConfig {
    InjectorConfig {
        workers: 1,
        ..InjectorConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_batch_resumes_and_every_recipient_gets_exactly_one_message() {
    let store = Arc::new(MemoryJobStore::new());
    let first = Arc::new(Interrupting {
        seen: Mutex::new(Vec::new()),
        stop_after: N / 2,
        injector: OnceLock::new(),
    });
    let injector = start_injector(first.clone(), store.clone(), config());
    first.injector.set(injector.clone()).unwrap();
    let done = inject_and_wait(&injector, request()).await;
    let batch_id = done.batch_id().clone();
    drop(injector);

    // Half done, half pending, all recorded.
    let pending = store.pending().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].done.len(), N / 2);

    // "Restart": a new injector on the same store.
    let second = Arc::new(Collect::default());
    let injector = start_injector(second.clone(), store.clone(), config());
    assert_eq!(injector.resume_pending().await.unwrap(), 1);
    injector.idle().await;
    assert!(store.is_empty());

    let mut by_index: HashMap<u32, String> = HashMap::new();
    let firsts = first.seen.lock().unwrap();
    let seconds = second.messages.lock().unwrap();
    assert_eq!(firsts.len() + seconds.len(), N);
    for m in firsts.iter().chain(seconds.iter()) {
        assert_eq!(m.id, format!("{batch_id}.{}@example.com", m.index));
        assert_eq!(m.recipient, format!("r{}@example.org", m.index));
        assert!(
            by_index.insert(m.index, m.id.clone()).is_none(),
            "duplicate {}",
            m.index
        );
    }
    assert_eq!(by_index.len(), N);
    // The final report covers the whole batch.
    let reports = second.reports.lock().unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].response.success_count, N);
}

/// A host that ignores a message id it already holds.
#[derive(Default)]
struct Dedup {
    ids: Mutex<HashMap<String, usize>>,
}

impl MessageSink for Dedup {
    fn accept(&self, m: GeneratedMessage) -> Result<(), SinkError> {
        *self.ids.lock().unwrap().entry(m.id).or_default() += 1;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_accept_and_record_reoffers_the_same_message_ids() {
    // Accepted outcomes are recorded after the host's flush (every 1,000 recipients and at the
    // end); the process "dies" while recording the one of message 300: 0..300 are recorded,
    // the others were accepted but not recorded.
    let store = Arc::new(ProbedStore::failing_record_at(300));
    let sink = Arc::new(Dedup::default());
    let injector = start_injector(sink.clone(), store.clone(), config());
    inject_and_wait(&injector, request()).await;
    assert_eq!(sink.ids.lock().unwrap().len(), N);
    assert_eq!(store.pending().unwrap()[0].done.len(), 300);
    drop(injector);

    let injector = start_injector(sink.clone(), store.clone(), config());
    assert_eq!(injector.resume_pending().await.unwrap(), 1);
    injector.idle().await;
    let ids = sink.ids.lock().unwrap();
    assert_eq!(ids.len(), N, "every recipient has exactly one message id");
    for (id, n) in ids.iter() {
        let index: usize = id
            .split('.')
            .nth(1)
            .and_then(|s| s.split('@').next())
            .and_then(|s| s.parse().ok())
            .unwrap();
        let expected = if index < 300 { 1 } else { 2 };
        assert_eq!(
            *n, expected,
            "{id}: only the unrecorded ones are offered again"
        );
    }
    assert!(store.pending().unwrap().is_empty());
}
