//! `GenerateOptions::batch_time_limit`: a batch that has spent its time generating stops, and
//! its remaining recipients fail with `RecipientError::BatchTimeLimit` without being rendered;
//! in both dialects, synchronous and deferred.

use crate::support::{Collect, inject_and_wait, start_injector};
use kumo_inject::{
    Batch, BatchId, GenerateContext, GenerateOptions, InjectRequest, InjectorConfig,
    MemoryJobStore, RequestContext,
};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant, UNIX_EPOCH};

fn request(n: usize, dialect: &str, text: &str, deferred: bool) -> Vec<u8> {
    let rcpts: Vec<Value> = (0..n)
        .map(|i| json!({"email": format!("r{i}@example.org")}))
        .collect();
    serde_json::to_vec(&json!({
        "envelope_sender": "s@example.com",
        "recipients": rcpts,
        "content": {"subject": "s", "text_body": text},
        "substitutions": {"big": vec![1; 2000]},
        "template_dialect": dialect,
        "deferred_generation": deferred,
    }))
    .unwrap()
}

/// A clock that advances one second every time it is read.
struct Ticking {
    start: Instant,
    reads: std::sync::atomic::AtomicU32,
}

impl Ticking {
    fn now(&self) -> Instant {
        let n = self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.start + Duration::from_secs(u64::from(n))
    }
}

#[test]
fn the_limit_is_measured_with_the_clock_passed_in() {
    let body = request(10, "Jinja", "hi {{ email }}\n", false);
    let req = InjectRequest::from_json(&body).unwrap();
    let opts = GenerateOptions {
        batch_time_limit: Some(Duration::from_secs(3)),
        ..GenerateOptions::default()
    };
    let batch = Batch::compile(&req, &opts).unwrap();
    let ctx = GenerateContext {
        batch_id: BatchId::new("t").unwrap(),
        now: UNIX_EPOCH,
        peer: None,
    };
    let clock = Ticking {
        start: Instant::now(),
        reads: 0.into(),
    };
    let sink = Collect::default();
    // Every reading of the clock advances it one second, and generating a recipient reads it
    // at least twice: the 3 s are used up after one to three recipients.
    let resp = batch.generate_all_with(&ctx, &sink, &|| clock.now(), &AtomicBool::new(false));
    let ok = resp.success_count;
    assert!((1..=3).contains(&ok), "{resp:?}");
    assert_eq!(resp.fail_count, 10 - ok);
    assert_eq!(resp.failed_recipients[0], format!("r{ok}@example.org"));
    for e in &resp.errors {
        assert!(
            e.ends_with("batch exceeded its generation time limit of 3s"),
            "{e}"
        );
    }
    assert_eq!(sink.messages.lock().unwrap().len(), ok);
    let failed: Vec<u32> = sink.failures.lock().unwrap().iter().map(|f| f.0).collect();
    assert_eq!(failed, (ok as u32..10).collect::<Vec<u32>>());

    // Without a limit, or through `generate_all` (no clock), every recipient is generated.
    let unlimited = Batch::compile(
        &req,
        &GenerateOptions {
            batch_time_limit: None,
            ..GenerateOptions::default()
        },
    )
    .unwrap();
    let resp = unlimited.generate_all_with(
        &ctx,
        &Collect::default(),
        &|| clock.now(),
        &AtomicBool::new(false),
    );
    assert_eq!(resp.success_count, 10);
    assert_eq!(
        batch.generate_all(&ctx, &Collect::default()).success_count,
        10
    );
}

/// Templates that fail on their work budget, about 100 ms each: without the batch limit, 40
/// recipients take seconds.
const EXPENSIVE: [(&str, &str); 2] = [
    (
        "Jinja",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}\n",
    ),
    (
        "Handlebars",
        "{{#each big}}{{#each ../big}}{{/each}}{{/each}}\n",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synchronous_batch_stops_at_its_time_limit_in_both_dialects() {
    for (dialect, text) in EXPENSIVE {
        let sink = Arc::new(Collect::default());
        let mut config = InjectorConfig::default();
        config.generate.batch_time_limit = Some(Duration::from_millis(300));
        let injector = start_injector(sink.clone(), MemoryJobStore::new(), config);
        let started = Instant::now();
        let done = injector
            .inject(
                request(40, dialect, text, false).into(),
                RequestContext::default(),
            )
            .await
            .unwrap();
        let took = started.elapsed();
        let resp = done.response();
        assert_eq!(resp.fail_count, 40, "{dialect}: {resp:?}");
        let stopped = resp
            .errors
            .iter()
            .filter(|e| e.ends_with("batch exceeded its generation time limit of 300ms"))
            .count();
        // At least one render runs before the limit is checked again; most never run.
        assert!(stopped >= 30, "{dialect}: only {stopped} stopped: {resp:?}");
        assert!(
            resp.errors[0].contains("fuel") || resp.errors[0].contains("work budget"),
            "{dialect}: {}",
            resp.errors[0]
        );
        assert!(took < Duration::from_secs(3), "{dialect}: took {took:?}");
        assert_eq!(sink.reports.lock().unwrap().len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deferred_batch_stops_at_its_time_limit_and_completes() {
    let (dialect, text) = EXPENSIVE[1];
    let sink = Arc::new(Collect::default());
    let mut config = InjectorConfig::default();
    config.generate.batch_time_limit = Some(Duration::from_millis(300));
    let store = Arc::new(MemoryJobStore::new());
    let injector = start_injector(sink.clone(), store.clone(), config);
    let started = Instant::now();
    inject_and_wait(&injector, request(40, dialect, text, true)).await;
    assert!(started.elapsed() < Duration::from_secs(3));
    let reports = sink.reports.lock().unwrap();
    assert_eq!(reports.len(), 1);
    let resp = &reports[0].response;
    assert_eq!(resp.fail_count, 40);
    assert!(
        resp.errors.iter().any(|e| e.contains("time limit")),
        "{resp:?}"
    );
    // Every outcome is recorded and the job is complete, not left pending.
    use kumo_inject::JobStore as _;
    assert!(store.pending().unwrap().is_empty());
}

#[test]
fn a_recipient_with_many_expensive_fields_is_stopped_between_them() {
    // 60 header templates of some 50 ms each (a nested loop within the work budget): seconds
    // for one recipient if the limit were only checked between recipients.
    let headers: serde_json::Map<String, Value> = (0..60)
        .map(|i| {
            (
                format!("X-H{i}"),
                json!("{{#each big}}{{#each ../big}}{{/each}}{{/each}}x"),
            )
        })
        .collect();
    let body = serde_json::to_vec(&json!({
        "envelope_sender": "s@example.com",
        "recipients": [{"email": "a@example.org"}, {"email": "b@example.org"}],
        "content": {"text_body": "hi\n", "headers": headers},
        "substitutions": {"big": vec![1; 800]},
        "template_dialect": "Handlebars",
    }))
    .unwrap();
    let req = InjectRequest::from_json(&body).unwrap();
    let opts = GenerateOptions {
        batch_time_limit: Some(Duration::from_millis(200)),
        ..GenerateOptions::default()
    };
    let batch = Batch::compile(&req, &opts).unwrap();
    let ctx = GenerateContext {
        batch_id: BatchId::new("t").unwrap(),
        now: UNIX_EPOCH,
        peer: None,
    };
    let started = Instant::now();
    let resp = batch.generate_all_with(
        &ctx,
        &Collect::default(),
        &Instant::now,
        &AtomicBool::new(false),
    );
    let took = started.elapsed();
    assert_eq!(resp.fail_count, 2, "{resp:?}");
    assert!(
        resp.errors
            .iter()
            .all(|e| e.ends_with("batch exceeded its generation time limit of 200ms")),
        "{resp:?}"
    );
    assert!(took < Duration::from_millis(1500), "took {took:?}");
}
