//! `MessageSink::flush` for synchronous requests: called once per request, after every
//! `accept` of that request and before the response; when it fails the client gets a 503 and
//! the batch is not reported finished.

use crate::support;

use kumo_inject::{
    BatchId, GeneratedMessage, InjectError, Injector, MessageSink, RequestContext, RouterConfig,
    SinkError, router,
};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{Flushing, JSON, SinkEvent, post, serve};

fn body(recipients: &[&str]) -> Vec<u8> {
    let rcpts: Vec<_> = recipients.iter().map(|e| json!({"email": e})).collect();
    serde_json::to_vec(&json!({
        "envelope_sender": "s@example.com",
        "recipients": rcpts,
        "content": {"subject": "hi {{ email }}", "text_body": "hello\n"}
    }))
    .unwrap()
}

async fn start(sink: Arc<Flushing>) -> (std::net::SocketAddr, Injector) {
    let injector = Injector::builder(sink).build().unwrap();
    let addr = serve(router(injector.clone(), RouterConfig::default())).await;
    (addr, injector)
}

/// The events of `batch`, in order.
fn of(events: &[SinkEvent], batch: &str) -> Vec<SinkEvent> {
    events
        .iter()
        .filter(|e| match e {
            SinkEvent::Accept { batch: b, .. }
            | SinkEvent::Failed { batch: b, .. }
            | SinkEvent::Flush { batch: b }
            | SinkEvent::Finished { batch: b } => b.as_str() == batch,
        })
        .cloned()
        .collect()
}

#[tokio::test]
async fn one_flush_per_request_after_its_last_accept() {
    let sink = Arc::new(Flushing::default());
    let (addr, _injector) = start(sink.clone()).await;

    let r1 = post(
        addr,
        &[JSON],
        &body(&["a@example.org", "not-an-address", "c@example.org"]),
    )
    .await;
    assert_eq!(r1.status, 200, "{}", r1.body);
    assert_eq!(sink.flushes.load(Ordering::SeqCst), 1);
    let r2 = post(addr, &[JSON], &body(&["d@example.org"])).await;
    assert_eq!(r2.status, 200, "{}", r2.body);
    assert_eq!(
        sink.flushes.load(Ordering::SeqCst),
        2,
        "one flush per request"
    );

    let events = sink.events();
    for (reply, accepted, failed) in [(&r1, vec![0, 2], vec![1]), (&r2, vec![0], vec![])] {
        let batch = reply.header("kumo-batch-id").unwrap();
        let mine = of(&events, batch);
        // accept/failed per recipient, then exactly one flush, then the report.
        let n = accepted.len() + failed.len();
        assert_eq!(mine.len(), n + 2, "{mine:?}");
        assert_eq!(
            mine[n],
            SinkEvent::Flush {
                batch: BatchId::new(batch).unwrap()
            }
        );
        assert!(
            matches!(mine[n + 1], SinkEvent::Finished { .. }),
            "{mine:?}"
        );
        let got_accepted: Vec<u32> = mine[..n]
            .iter()
            .filter_map(|e| match e {
                SinkEvent::Accept { index, .. } => Some(*index),
                _ => None,
            })
            .collect();
        let got_failed: Vec<u32> = mine[..n]
            .iter()
            .filter_map(|e| match e {
                SinkEvent::Failed { index, .. } => Some(*index),
                _ => None,
            })
            .collect();
        assert_eq!(got_accepted, accepted);
        assert_eq!(got_failed, failed);
    }
}

/// Delegates to a [`Flushing`] sink, but `flush` signals that it started and then blocks until
/// released.
struct Gated {
    inner: Arc<Flushing>,
    entered: SyncSender<()>,
    release: Mutex<Receiver<()>>,
}

impl MessageSink for Gated {
    fn accept(&self, m: GeneratedMessage) -> Result<(), SinkError> {
        self.inner.accept(m)
    }
    fn flush(&self, batch_id: &BatchId) -> Result<(), SinkError> {
        let _ = self.entered.try_send(());
        let _ = self.release.lock().unwrap().recv();
        self.inner.flush(batch_id)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_response_waits_for_flush() {
    let inner = Arc::new(Flushing::default());
    let (entered_tx, entered_rx) = sync_channel(1);
    let (release_tx, release_rx) = std::sync::mpsc::channel();
    let sink = Gated {
        inner: inner.clone(),
        entered: entered_tx,
        release: Mutex::new(release_rx),
    };
    let injector = Injector::builder(sink).build().unwrap();
    let addr = serve(router(injector, RouterConfig::default())).await;

    let reply = tokio::spawn(async move {
        post(addr, &[JSON], &body(&["a@example.org", "b@example.org"])).await
    });
    tokio::task::spawn_blocking(move || entered_rx.recv_timeout(Duration::from_secs(10)))
        .await
        .unwrap()
        .expect("flush was called");
    // Both messages were accepted before flush; no response while flush runs.
    assert_eq!(inner.events().len(), 2, "{:?}", inner.events());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!reply.is_finished(), "answered before flush returned");
    release_tx.send(()).unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(10), reply)
        .await
        .expect("answered once flush returned")
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(inner.flushes.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_failed_flush_is_a_503_and_the_batch_is_not_finished() {
    let sink = Arc::new(Flushing::failing());
    let (addr, injector) = start(sink.clone()).await;

    let r = post(addr, &[JSON], &body(&["a@example.org", "b@example.org"])).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(
        r.body
            .contains("could not make the messages durable: message sink refused the message"),
        "{}",
        r.body
    );
    assert!(r.body.contains("spool sync failed"), "{}", r.body);
    assert_eq!(r.header("kumo-batch-id"), None);
    assert_eq!(sink.flushes.load(Ordering::SeqCst), 1);
    assert!(
        sink.reports.lock().unwrap().is_empty(),
        "batch_finished called"
    );
    assert!(
        !sink
            .events()
            .iter()
            .any(|e| matches!(e, SinkEvent::Finished { .. }))
    );

    // The same through the service API.
    let err = injector
        .inject(body(&["c@example.org"]).into(), RequestContext::default())
        .await
        .unwrap_err();
    assert!(matches!(err, InjectError::Flush(_)), "{err:?}");
    assert_eq!(err.status(), 503);
    assert_eq!(sink.flushes.load(Ordering::SeqCst), 2);
    assert!(
        sink.reports.lock().unwrap().is_empty(),
        "batch_finished called"
    );

    // Once the host can sync again, the retried request succeeds and is reported.
    sink.fail_flush.store(false, Ordering::SeqCst);
    let r = post(addr, &[JSON], &body(&["a@example.org", "b@example.org"])).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let reports = sink.reports.lock().unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(
        reports[0].batch_id.as_str(),
        r.header("kumo-batch-id").unwrap()
    );
    assert_eq!(reports[0].response.success_count, 2);
}
