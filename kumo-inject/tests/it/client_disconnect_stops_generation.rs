//! A synchronous batch whose HTTP client disconnects stops generating: over a real socket, a
//! client posts an expensive batch and closes the connection once generation has started; the
//! server stops before the next recipient (the rest fail as cancelled, and the batch is still
//! flushed and reported), and it keeps answering other requests.

use crate::support::{JSON, post, serve};
use kumo_inject::{
    BatchReport, GeneratedMessage, Injector, InjectorConfig, MessageSink, RouterConfig, SinkError,
    router,
};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// Counts accepted messages and flushes, and keeps the batch reports.
#[derive(Debug, Default)]
struct Counting {
    accepted: AtomicUsize,
    flushes: AtomicUsize,
    reports: Mutex<Vec<BatchReport>>,
}

impl MessageSink for Counting {
    fn accept(&self, _: GeneratedMessage) -> Result<(), SinkError> {
        self.accepted.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    fn flush(&self, _: &kumo_inject::BatchId) -> Result<(), SinkError> {
        self.flushes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    fn batch_finished(&self, report: &BatchReport) {
        self.reports.lock().unwrap().push(report.clone());
    }
}

const RECIPIENTS: usize = 400;

/// 400 recipients of some 10 to 50 ms each (a nested loop within the work budget): many
/// seconds of generation.
fn expensive() -> Vec<u8> {
    let rcpts: Vec<Value> = (0..RECIPIENTS)
        .map(|i| json!({"email": format!("r{i}@example.org")}))
        .collect();
    serde_json::to_vec(&json!({
        "envelope_sender": "s@example.com",
        "recipients": rcpts,
        "content": {"subject": "s", "text_body": "{{#each big}}{{#each ../big}}{{/each}}{{/each}}ok\n"},
        "substitutions": {"big": vec![1; 500]},
        "template_dialect": "Handlebars",
    }))
    .unwrap()
}

async fn wait_until(what: &str, deadline: Duration, mut f: impl FnMut() -> bool) {
    let started = Instant::now();
    while !f() {
        assert!(
            started.elapsed() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disconnected_client_stops_its_batch_and_the_server_stays_responsive() {
    let sink = Arc::new(Counting::default());
    let mut config = InjectorConfig::default();
    // Only the disconnect may stop this batch.
    config.generate.batch_time_limit = None;
    let injector = Injector::builder(sink.clone())
        .config(config)
        .build()
        .unwrap();
    let addr = serve(router(injector, RouterConfig::default())).await;

    let body = expensive();
    let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/inject/v1 HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    client.write_all(head.as_bytes()).await.unwrap();
    client.write_all(&body).await.unwrap();
    wait_until("generation has started", Duration::from_secs(10), || {
        sink.accepted.load(Ordering::SeqCst) >= 2
    })
    .await;

    // The client goes away.
    drop(client);
    let at_close = sink.accepted.load(Ordering::SeqCst);

    // The batch stops, reports, and is flushed once.
    wait_until(
        "the cancelled batch is reported",
        Duration::from_secs(5),
        || !sink.reports.lock().unwrap().is_empty(),
    )
    .await;
    let stopped_at = sink.accepted.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let later = sink.accepted.load(Ordering::SeqCst);
    assert_eq!(later, stopped_at, "generation goes on after the report");
    assert!(
        stopped_at < RECIPIENTS / 2,
        "{stopped_at} of {RECIPIENTS} generated, {at_close} when the client closed"
    );
    {
        let reports = sink.reports.lock().unwrap();
        let resp = &reports[0].response;
        assert_eq!(resp.success_count, stopped_at);
        assert_eq!(resp.success_count + resp.fail_count, RECIPIENTS);
        assert!(
            resp.errors
                .iter()
                .all(|e| e.ends_with("batch cancelled before this recipient was generated")),
            "{:?}",
            &resp.errors[..3]
        );
    }
    assert_eq!(sink.flushes.load(Ordering::SeqCst), 1);

    // A second request is served as usual.
    let small = serde_json::to_vec(&json!({
        "envelope_sender": "s@example.com",
        "recipients": [{"email": "x@example.org"}],
        "content": {"text_body": "hi\n"},
    }))
    .unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(5), post(addr, &[JSON], &small))
        .await
        .expect("the server answers after the cancelled batch");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        reply.body.contains(r#""success_count":1"#),
        "{}",
        reply.body
    );
}
