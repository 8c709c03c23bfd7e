//! One test per status code of `POST /api/inject/v1`, through a real HTTP socket on loopback.

use crate::support;

use flate2::Compression;
use flate2::write::{GzEncoder, ZlibEncoder};
use kumo_inject::{
    InjectResponse, Injector, InjectorConfig, KeyBy, LimitMode, MessageSink, Overload,
    RateLimitConfig, RecipientRateLimit, Refusal, RouterConfig, SinkError, router,
};
use serde_json::json;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use support::{Collect, JSON, post, serve};

fn body(recipients: &[&str]) -> Vec<u8> {
    let rcpts: Vec<_> = recipients.iter().map(|e| json!({"email": e})).collect();
    serde_json::to_vec(&json!({
        "envelope_sender": "s@example.com",
        "recipients": rcpts,
        "content": {"from": {"email": "s@example.com"}, "subject": "hi {{ email }}", "text_body": "hello\n"}
    }))
    .unwrap()
}

async fn start(config: RouterConfig) -> (std::net::SocketAddr, Arc<Collect>, Injector) {
    let sink = Arc::new(Collect::default());
    let injector = Injector::builder(sink.clone()).build().unwrap();
    let addr = serve(router(injector.clone(), config)).await;
    (addr, sink, injector)
}

fn parse(body: &str) -> InjectResponse {
    serde_json::from_str(body).unwrap()
}

#[tokio::test]
async fn ok_200_with_counts() {
    let (addr, sink, _) = start(RouterConfig::default()).await;
    let r = post(addr, &[JSON], &body(&["a@example.org", "b@example.org"])).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.header("kumo-batch-id").is_some());
    let resp = parse(&r.body);
    assert_eq!((resp.success_count, resp.fail_count), (2, 0));
    let msgs = sink.messages.lock().unwrap();
    assert_eq!(msgs.len(), 2);
    // The peer came through ConnectInfo.
    assert!(msgs.iter().all(|m| m.recipient.ends_with("@example.org")));
}

#[tokio::test]
async fn ok_200_with_per_recipient_errors_for_partial_failure() {
    let (addr, sink, _) = start(RouterConfig::default()).await;
    let r = post(
        addr,
        &[JSON],
        &body(&["a@example.org", "not-an-address", "c@example.org"]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let resp = parse(&r.body);
    assert_eq!((resp.success_count, resp.fail_count), (2, 1));
    assert_eq!(resp.failed_recipients, vec!["not-an-address"]);
    assert_eq!(
        resp.errors,
        vec!["not-an-address: invalid address in email: missing @"]
    );
    assert_eq!(sink.messages.lock().unwrap().len(), 2);
    assert_eq!(sink.failures.lock().unwrap()[0].0, 1);
}

#[tokio::test]
async fn bad_request_400_for_malformed_json() {
    let (addr, _, _) = start(RouterConfig::default()).await;
    let r = post(addr, &[JSON], b"{\"envelope_sender\": ").await;
    assert_eq!(r.status, 400, "{}", r.body);
}

#[tokio::test]
async fn unsupported_media_type_415() {
    let (addr, _, _) = start(RouterConfig::default()).await;
    let r = post(
        addr,
        &[("Content-Type", "text/plain")],
        &body(&["a@example.org"]),
    )
    .await;
    assert_eq!(r.status, 415, "{}", r.body);
    let r = post(addr, &[], &body(&["a@example.org"])).await;
    assert_eq!(r.status, 415);
    let r = post(
        addr,
        &[JSON, ("Content-Encoding", "br")],
        &body(&["a@example.org"]),
    )
    .await;
    assert_eq!(r.status, 415);
    // Parameters and case are fine.
    let r = post(
        addr,
        &[("Content-Type", "Application/JSON; charset=utf-8")],
        &body(&["a@example.org"]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn unprocessable_422_for_schema_and_template_errors() {
    let (addr, _, _) = start(RouterConfig::default()).await;
    let unknown = br#"{"envelope_sender":"s@example.com","recipients":[],"content":"x","bogus":1}"#;
    assert_eq!(post(addr, &[JSON], unknown).await.status, 422);
    let missing = br#"{"recipients":[{"email":"a@example.org"}],"content":"Subject: x\n\nhi"}"#;
    assert_eq!(post(addr, &[JSON], missing).await.status, 422);
    let template = serde_json::to_vec(&json!({
        "envelope_sender": "s@example.com",
        "recipients": [{"email": "a@example.org"}],
        "content": {"text_body": "{% if %}"}
    }))
    .unwrap();
    let r = post(addr, &[JSON], &template).await;
    assert_eq!(r.status, 422);
    assert!(
        r.body
            .contains("failed parsing field 'content.text_body' as template"),
        "{}",
        r.body
    );
    let handlebars = serde_json::to_vec(&json!({
        "envelope_sender": "s@example.com",
        "recipients": [{"email": "a@example.org"}],
        "template_dialect": "Handlebars",
        "content": {"text_body": "x", "html_body": "{{#each items}}unclosed"}
    }))
    .unwrap();
    let r = post(addr, &[JSON], &handlebars).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body
            .contains("failed parsing field 'content.html_body' as template"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn payload_too_large_413_plain_and_after_decompression() {
    let config = RouterConfig {
        body_limit: 64 * 1024,
        ..RouterConfig::default()
    };
    let (addr, _, _) = start(config).await;
    let mut big = body(&["a@example.org"]);
    big.truncate(big.len() - 1);
    big.extend_from_slice(b",\"substitutions\":{\"pad\":\"");
    big.extend(std::iter::repeat_n(b'x', 66 * 1024));
    big.extend_from_slice(b"\"}}");
    let r = post(addr, &[JSON], &big).await;
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(r.body.contains("length limit exceeded"));

    // A gzip bomb: 20 MB of spaces in a few kB.
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    gz.write_all(b"{\"envelope_sender\":\"s@example.com\",")
        .unwrap();
    for _ in 0..20 {
        gz.write_all(&[b' '; 1 << 20]).unwrap();
    }
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 64 * 1024);
    let r = post(addr, &[JSON, ("Content-Encoding", "gzip")], &bomb).await;
    assert_eq!(r.status, 413, "{}", r.body);
}

#[tokio::test]
async fn gzip_and_deflate_bodies_are_accepted() {
    let (addr, sink, _) = start(RouterConfig::default()).await;
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(&body(&["a@example.org"])).unwrap();
    let r = post(
        addr,
        &[JSON, ("Content-Encoding", "gzip")],
        &gz.finish().unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut z = ZlibEncoder::new(Vec::new(), Compression::fast());
    z.write_all(&body(&["b@example.org"])).unwrap();
    let r = post(
        addr,
        &[JSON, ("Content-Encoding", "deflate")],
        &z.finish().unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = post(addr, &[JSON, ("Content-Encoding", "gzip")], b"not gzip").await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(sink.messages.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn service_unavailable_503_when_admission_refuses() {
    let full = Arc::new(AtomicBool::new(true));
    let f = full.clone();
    let sink = Arc::new(Collect::default());
    let injector = Injector::builder(sink.clone())
        .admission(move || {
            if f.load(Ordering::Relaxed) {
                Err(Refusal::LowDisk)
            } else {
                Ok(())
            }
        })
        .build()
        .unwrap();
    let addr = serve(router(injector.clone(), RouterConfig::default())).await;
    let r = post(addr, &[JSON], &body(&["a@example.org"])).await;
    assert_eq!(r.status, 503);
    assert!(r.body.contains("disk is too full"), "{}", r.body);
    full.store(false, Ordering::Relaxed);
    assert_eq!(
        post(addr, &[JSON], &body(&["a@example.org"])).await.status,
        200
    );
    injector.close();
    let r = post(addr, &[JSON], &body(&["a@example.org"])).await;
    assert_eq!(r.status, 503);
    assert!(r.body.contains("shutting down"));
}

#[tokio::test]
async fn rate_limit_429_with_headers_and_422_for_a_batch_over_the_burst() {
    let limit = RecipientRateLimit::local(
        RateLimitConfig {
            limit: 2,
            period: Duration::from_secs(3600),
            burst: 2,
        },
        LimitMode::Reject,
        KeyBy::Global,
    )
    .unwrap();
    let config = RouterConfig {
        rate_limit: Some(limit),
        ..RouterConfig::default()
    };
    let (addr, sink, _) = start(config).await;
    let r = post(addr, &[JSON], &body(&["a@example.org", "b@example.org"])).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("ratelimit-limit"), Some("2"));
    assert_eq!(r.header("ratelimit-remaining"), Some("0"));
    let r = post(addr, &[JSON], &body(&["c@example.org"])).await;
    assert_eq!(r.status, 429, "{}", r.body);
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=1800).contains(&retry), "{retry}");
    assert!(r.header("ratelimit-reset").is_some());
    let r = post(addr, &[JSON], &body(&["a@x.org", "b@x.org", "c@x.org"])).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(sink.messages.lock().unwrap().len(), 2);
}

/// A sink that blocks until released, to hold a deferred worker busy.
struct Gate {
    started: std::sync::mpsc::SyncSender<()>,
    release: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
}

impl MessageSink for Gate {
    fn accept(&self, _: kumo_inject::GeneratedMessage) -> Result<(), SinkError> {
        let _ = self.started.try_send(());
        let _ = self.release.lock().unwrap().recv();
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_deferred_queue_answers_429_or_503_with_retry_after() {
    for (overload, status) in [
        (Overload::TooManyRequests, 429),
        (Overload::ServiceUnavailable, 503),
    ] {
        let (started_tx, started_rx) = std::sync::mpsc::sync_channel(8);
        let (release_tx, release_rx) = std::sync::mpsc::channel();
        let gate = Gate {
            started: started_tx,
            release: std::sync::Mutex::new(release_rx),
        };
        let injector = Injector::builder(gate)
            .config(InjectorConfig {
                workers: 1,
                queue_capacity: 1,
                retry_after: Duration::from_secs(7),
                overload,
                ..InjectorConfig::default()
            })
            .build()
            .unwrap();
        let addr = serve(router(injector.clone(), RouterConfig::default())).await;
        let deferred = |e: &str| {
            serde_json::to_vec(&json!({
                "envelope_sender": "s@example.com",
                "recipients": [{"email": e}],
                "deferred_generation": true,
                "content": {"text_body": "x"}
            }))
            .unwrap()
        };
        assert_eq!(
            post(addr, &[JSON], &deferred("a@example.org")).await.status,
            200
        );
        tokio::task::spawn_blocking(move || started_rx.recv().unwrap())
            .await
            .unwrap();
        // The worker is busy; one job fits in the queue, the next does not.
        assert_eq!(
            post(addr, &[JSON], &deferred("b@example.org")).await.status,
            200
        );
        let r = post(addr, &[JSON], &deferred("c@example.org")).await;
        assert_eq!(r.status, status, "{}", r.body);
        assert_eq!(r.header("retry-after"), Some("7"));
        drop(release_tx);
        injector.idle().await;
    }
}

#[tokio::test]
async fn deferred_generation_answers_at_once_and_reports_through_the_host() {
    let (addr, sink, injector) = start(RouterConfig::default()).await;
    let req = serde_json::to_vec(&json!({
        "envelope_sender": "s@example.com",
        "recipients": [{"email": "a@example.org"}, {"email": "bad"}],
        "deferred_generation": true,
        "content": {"text_body": "x {{ email }}"}
    }))
    .unwrap();
    let r = post(addr, &[JSON], &req).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(parse(&r.body), InjectResponse::default());
    let id = r.header("kumo-batch-id").unwrap().to_owned();
    injector.idle().await;
    let reports = sink.reports.lock().unwrap().clone();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].batch_id.as_str(), id);
    assert!(reports[0].deferred);
    assert_eq!(
        (
            reports[0].response.success_count,
            reports[0].response.fail_count
        ),
        (1, 1)
    );
    // Template errors are still a 422 in deferred mode.
    let bad = serde_json::to_vec(&json!({
        "envelope_sender": "s@example.com",
        "recipients": [{"email": "a@example.org"}],
        "deferred_generation": true,
        "content": {"text_body": "{{ oops"}
    }))
    .unwrap();
    assert_eq!(post(addr, &[JSON], &bad).await.status, 422);
}
