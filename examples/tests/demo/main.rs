//! The demo MTA end to end, in process, on ephemeral ports: HTTP injection, delivery into a
//! Maildir, `/metrics` with and without gzip, a config edit that changes behaviour, the trace
//! stream, and a 10,000-recipient self test with every message accounted for.
//!
//! Each area that grows its own tests gets a submodule file here; submodules reach the shared
//! helpers below through `super::`.

use std::path::Path;
use std::time::Duration;

use kumo_examples::cli::DeliverTarget;
use kumo_examples::demo::{Demo, DemoOptions, selftest};
use kumo_examples::http::{self, Request, Target};
use kumo_examples::settings::{Profile, write_defaults};
use kumo_examples::snapshot::Snapshot;

mod backpressure;
mod config_files_required;
mod faults_engine;
mod http_hardening;
mod sigterm;
mod smtp_pipelining;
mod trace_and_series_bounds;

/// Sets the delivery weights in `delivery.toml`, keeping the rest of the file.
fn set_weights(dir: &Path, success: f64, transient: f64, permanent: f64) {
    let path = dir.join("delivery.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let out: Vec<String> = text
        .lines()
        .map(|l| {
            let key = l.split('=').next().unwrap_or("").trim();
            match key {
                "success" => format!("success = {success:?}"),
                "transient" => format!("transient = {transient:?}"),
                "permanent" => format!("permanent = {permanent:?}"),
                "connect_failure" => "connect_failure = 0.0".to_owned(),
                _ => l.to_owned(),
            }
        })
        .collect();
    std::fs::write(&path, out.join("\n") + "\n").unwrap();
}

fn batch(recipients: &[String]) -> Vec<u8> {
    let rcpts: Vec<_> = recipients
        .iter()
        .enumerate()
        .map(|(i, r)| serde_json::json!({"email": r, "name": format!("Person {i}")}))
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "envelope_sender": "test@kumo.test",
        "content": {"from": {"email": "test@kumo.test"}, "subject": "Hello {{ name }}",
                    "text_body": "Dear {{ name }},\nthis is a test.\n"},
        "recipients": rcpts,
    }))
    .unwrap()
}

async fn inject(demo: &Demo, recipients: Vec<String>) -> serde_json::Value {
    inject_json(demo, serde_json::from_slice(&batch(&recipients)).unwrap()).await
}

async fn get(
    demo: &Demo,
    path: &str,
    headers: &'static [(&'static str, &'static str)],
) -> http::Response {
    let target = Target::from_addr(demo.http_addr(), path);
    tokio::task::spawn_blocking(move || http::get(&target, headers).unwrap())
        .await
        .unwrap()
}

async fn start(config: &Path, maildir: Option<&Path>) -> Demo {
    write_defaults(config, Profile::Selftest).unwrap();
    set_weights(config, 1.0, 0.0, 0.0);
    Demo::start(DemoOptions {
        config: Some(config.to_owned()),
        profile: Profile::Selftest,
        deliver: maildir.map(|m| DeliverTarget::Maildir(m.to_owned())),
        config_scan: Duration::from_millis(100),
        ..DemoOptions::default()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_batch_is_delivered_into_the_maildir_and_counted_in_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let (config, maildir) = (dir.path().join("config"), dir.path().join("mail"));
    std::fs::create_dir_all(&config).unwrap();
    let demo = start(&config, Some(&maildir)).await;

    let mut rcpts: Vec<String> = (0..30).map(|i| format!("user{i}@example.test")).collect();
    rcpts.extend((0..10).map(|i| format!("user{i}@gmail.test")));
    rcpts.push("anna@bücher.test".into());
    rcpts.push("nobody@nullmx.test".into());
    rcpts.push("nobody@nxdomain.test".into());
    let resp = inject(&demo, rcpts).await;
    assert_eq!(resp["success_count"], 43);
    assert_eq!(resp["fail_count"], 0);
    assert!(demo.wait_idle(Duration::from_secs(30)).await);
    let s = demo.ledger().summary(Some(43), demo.uptime());
    assert!(s.balanced(), "{s}");
    assert_eq!((s.delivered, s.bounced), (41, 2), "{s}");

    // Every delivered message is in new/, exactly as generated (CRLF, templated per recipient).
    let files: Vec<_> = std::fs::read_dir(maildir.join("new"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 41);
    let bodies: Vec<String> = files
        .iter()
        .map(|f| String::from_utf8(std::fs::read(f).unwrap()).unwrap())
        .collect();
    assert!(
        bodies
            .iter()
            .all(|b| b.contains("\r\n") && !b.replace("\r\n", "").contains('\n'))
    );
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("Subject: Hello Person 0\r\n"))
    );
    assert_eq!(std::fs::read_dir(maildir.join("tmp")).unwrap().count(), 0);

    // /metrics, plain.
    let plain = get(&demo, "/metrics", &[]).await;
    assert_eq!(plain.head.status, 200);
    assert!(
        plain
            .head
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(plain.head.header("content-encoding"), None);
    let snap = Snapshot::parse(&plain.body).unwrap();
    assert_eq!(snap.queues["example.test"].delivered, 30.0);
    assert_eq!(snap.queues["gmail.test"].delivered, 10.0);
    assert_eq!(snap.queues["xn--bcher-kva.test"].delivered, 1.0);
    assert_eq!(snap.queues["nullmx.test"].fail, 1.0);
    assert_eq!(snap.providers["google.test"].delivered, 10.0);
    assert_eq!(snap.injected, 43.0);
    let attempts: f64 = snap.connections.values().map(|c| c.attempts).sum();
    assert_eq!(attempts, 41.0, "one connection per delivered message");

    // /metrics, gzip: the same numbers.
    let gz = get(&demo, "/metrics", &[("accept-encoding", "gzip")]).await;
    assert_eq!(gz.head.header("content-encoding"), Some("gzip"));
    assert_ne!(gz.body, plain.body);
    let decoded = gz.decoded_body().unwrap();
    let snap_gz = Snapshot::parse(&decoded).unwrap();
    assert_eq!(snap_gz.queues, snap.queues);
    // The streaming fetch used by `top` and `queue-summary` agrees.
    let target = Target::from_addr(demo.http_addr(), "/metrics");
    let fetched = tokio::task::spawn_blocking(move || Snapshot::fetch(&target, true))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fetched.queues, snap.queues);

    // /metrics.json is valid JSON with the same counts.
    let json = get(&demo, "/metrics.json", &[("accept-encoding", "deflate")]).await;
    assert_eq!(json.head.header("content-encoding"), Some("deflate"));
    let v: serde_json::Value = serde_json::from_slice(&json.decoded_body().unwrap()).unwrap();
    assert_eq!(
        v["total_messages_delivered"]["value"]["queue"]["example.test"],
        30
    );

    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_a_config_file_changes_behaviour_and_a_broken_file_keeps_the_last_good() {
    let dir = tempfile::tempdir().unwrap();
    let demo = start(dir.path(), None).await;
    let applied = demo.status().config_applied_epoch;

    let first = inject(
        &demo,
        (0..20).map(|i| format!("a{i}@example.test")).collect(),
    )
    .await;
    assert_eq!(first["success_count"], 20);
    assert!(demo.wait_idle(Duration::from_secs(30)).await);
    assert_eq!(demo.ledger().summary(None, demo.uptime()).delivered, 20);

    // Every answer is now a permanent failure.
    set_weights(dir.path(), 0.0, 0.0, 1.0);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while demo.status().config_applied_epoch == applied {
        assert!(
            std::time::Instant::now() < deadline,
            "the edit was never applied"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(demo.status().config["delivery"]["permanent"], 1.0);
    inject(
        &demo,
        (0..20).map(|i| format!("b{i}@example.test")).collect(),
    )
    .await;
    assert!(demo.wait_idle(Duration::from_secs(30)).await);
    let s = demo.ledger().summary(Some(40), demo.uptime());
    assert_eq!((s.delivered, s.bounced), (20, 20), "{s}");

    // A broken file is reported and the last good configuration stays in force.
    let applied = demo.status().config_applied_epoch;
    std::fs::write(
        dir.path().join("delivery.toml"),
        "[delivery]\nsuccess = \"lots\"\n",
    )
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while demo.status().config_error.is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the broken file was never noticed"
        );
        demo.rescan_config();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = demo.status();
    assert!(
        status
            .config_error
            .as_deref()
            .unwrap()
            .contains("delivery.toml"),
        "{status:?}"
    );
    assert_eq!(status.config_applied_epoch, applied);
    assert_eq!(status.config["delivery"]["permanent"], 1.0);
    inject(&demo, vec!["c@example.test".into()]).await;
    assert!(demo.wait_idle(Duration::from_secs(30)).await);
    assert_eq!(demo.ledger().summary(None, demo.uptime()).bounced, 21);
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_file_added_later_is_merged_after_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let demo = start(dir.path(), None).await;
    std::fs::write(
        dir.path().join("zz-site.toml"),
        "[delivery]\nsuccess = 0.0\npermanent = 1.0\n",
    )
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while demo.status().config["delivery"]["permanent"] != 1.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the new file was never merged"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Only the keys the new file sets change.
    assert_eq!(demo.status().config["delivery"]["transient"], 0.0);
    assert_eq!(demo.status().config["clock"]["speedup"], 600.0);
    inject(&demo, vec!["a@example.test".into()]).await;
    assert!(demo.wait_idle(Duration::from_secs(30)).await);
    assert_eq!(demo.ledger().summary(None, demo.uptime()).bounced, 1);
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_interval_edit_is_used_for_the_next_deferral() {
    let dir = tempfile::tempdir().unwrap();
    let demo = start(dir.path(), None).await;
    // Every answer is temporary; retries come after ~100 simulated hours, so messages stay put.
    let queues = std::fs::read_to_string(dir.path().join("queues.toml")).unwrap();
    let edited = queues
        .lines()
        .map(|l| match l.split('=').next().unwrap_or("").trim() {
            "interval" | "max_interval" => {
                format!("{} = 360000.0", l.split('=').next().unwrap().trim())
            }
            "max_age" => "max_age = 3600000.0".to_owned(),
            _ => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(dir.path().join("queues.toml"), edited).unwrap();
    set_weights(dir.path(), 0.0, 1.0, 0.0);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while demo.status().config["retry"]["interval"] != 360000.0
        || demo.status().config["delivery"]["transient"] != 1.0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the edits were never applied"
        );
        demo.rescan_config();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    inject(
        &demo,
        (0..10).map(|i| format!("r{i}@outlook.test")).collect(),
    )
    .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while demo.status().scheduled < 10 {
        assert!(
            std::time::Instant::now() < deadline,
            "messages never reached the scheduled queue"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = demo.status();
    assert_eq!(
        (status.scheduled, status.pending),
        (10, 10),
        "nobody retried early"
    );
    let snap = Snapshot::parse(&get(&demo, "/metrics", &[]).await.body).unwrap();
    assert_eq!(snap.queues["outlook.test"].scheduled, 10.0);
    assert_eq!(snap.queues["outlook.test"].transfail, 10.0);
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_stream_follows_one_session_until_it_closes() {
    let dir = tempfile::tempdir().unwrap();
    let demo = start(dir.path(), None).await;
    // only_one: the stream ends by itself when the session closes.
    let reader = watch_trace(&demo, "terse=true&only_new=true&only_one=true", |_| false);
    // Inject until the subscriber has seen a whole session (it may connect late under load).
    for _ in 0..200 {
        if reader.is_finished() {
            break;
        }
        inject(&demo, vec!["t@example.test".into(), "u@gmail.test".into()]).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let events = reader.await.unwrap();
    assert!(events.len() >= 3, "{events:?}");
    let key = &events[0].session;
    assert!(
        events.iter().all(|e| &e.session == key),
        "only one session: {events:?}"
    );
    assert!(events.first().unwrap().is_opening());
    assert!(events.last().unwrap().is_closing());
    // The session tells what happened to its message.
    assert!(
        events.iter().any(|e| matches!(
            &e.payload,
            kumo_trace::Payload::MessageDisposition(m)
                if m.disposition == kumo_trace::Disposition::Delivered && m.detail.as_deref().is_some_and(|d| d.starts_with("250"))
        )),
        "{events:?}"
    );
    // terse: the message data is abbreviated to its first line.
    assert!(
        events
            .iter()
            .any(|e| matches!(e.payload, kumo_trace::Payload::AbbreviatedWrite { .. }))
    );
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_option_resolves_through_the_given_server_and_servfail_is_temporary() {
    let dns = kumo_dns::server::LoopbackDnsServer::start(kumo_examples::zones::ZONE_TEXT)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_defaults(dir.path(), Profile::Selftest).unwrap();
    set_weights(dir.path(), 1.0, 0.0, 0.0);
    let demo = Demo::start(DemoOptions {
        dns: Some(dns.addr()),
        config: Some(dir.path().to_owned()),
        profile: Profile::Selftest,
        ..DemoOptions::default()
    })
    .await
    .unwrap();
    assert_eq!(demo.dns_addr(), None, "no in-process server with --dns");
    inject(&demo, vec!["a@example.test".into(), "b@nullmx.test".into()]).await;
    assert!(demo.wait_idle(Duration::from_secs(30)).await);
    let s = demo.ledger().summary(Some(2), demo.uptime());
    assert_eq!((s.delivered, s.bounced, s.retries), (1, 1, 0), "{s}");
    assert!(dns.queries_for("example.test") >= 1);

    // SERVFAIL is temporary: the message is retried (never sent to an implicit MX), and bounces
    // only when it expires (max_age, 1.5 s of real time in the self-test profile).
    dns.set_fault("outlook.test", Some(kumo_dns::Fault::ServFail));
    inject(&demo, vec!["c@outlook.test".into()]).await;
    assert!(demo.wait_idle(Duration::from_secs(30)).await);
    let s = demo.ledger().summary(Some(3), demo.uptime());
    assert_eq!((s.delivered, s.bounced), (1, 2), "{s}");
    assert!(s.retries >= 1, "{s}");
    let snap = Snapshot::parse(&get(&demo, "/metrics", &[]).await.body).unwrap();
    assert!(
        snap.queues["outlook.test"].transfail >= 2.0,
        "{:?}",
        snap.queues
    );
    assert!(
        !snap.connections.keys().any(|(h, _)| h.contains("outlook")),
        "no connection attempted"
    );
    demo.shutdown().await;
    dns.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selftest_of_10000_recipients_accounts_for_every_message() {
    let report = selftest(
        DemoOptions {
            profile: Profile::Selftest,
            seed: 7,
            ..DemoOptions::default()
        },
        10_000,
        Duration::from_secs(120),
    )
    .await
    .unwrap();
    assert!(report.ok(), "{report}");
    let s = &report.summary;
    assert_eq!(s.injected, 10_000);
    assert_eq!(s.delivered + s.bounced, 10_000);
    assert!(s.retries > 0 && s.scheduled_peak > 0, "{report}");
    assert_eq!(report.requests, 10);
}

/// Sets the retry schedule in `queues.toml` (simulated seconds).
fn set_retry(dir: &Path, interval: f64, max_age: f64) {
    let path = dir.join("queues.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let out: Vec<String> = text
        .lines()
        .map(|l| match l.split('=').next().unwrap_or("").trim() {
            "interval" => format!("interval = {interval:?}"),
            "max_interval" => format!("max_interval = {interval:?}"),
            "max_age" => format!("max_age = {max_age:?}"),
            _ => l.to_owned(),
        })
        .collect();
    std::fs::write(&path, out.join("\n") + "\n").unwrap();
}

async fn inject_json(demo: &Demo, json: serde_json::Value) -> serde_json::Value {
    let target = Target::from_addr(demo.http_addr(), "/api/inject/v1");
    tokio::task::spawn_blocking(move || {
        let resp = http::post_json(&target, &serde_json::to_vec(&json).unwrap()).unwrap();
        assert_eq!(
            resp.head.status,
            200,
            "{}",
            String::from_utf8_lossy(&resp.body)
        );
        serde_json::from_slice(&resp.body).unwrap()
    })
    .await
    .unwrap()
}

fn request(recipients: &[String], deferred_spool: bool) -> serde_json::Value {
    let mut json: serde_json::Value = serde_json::from_slice(&batch(recipients)).unwrap();
    json["deferred_spool"] = serde_json::Value::Bool(deferred_spool);
    json
}

async fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + timeout;
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferred_spool_delivered_on_the_first_attempt_writes_nothing_to_the_spool() {
    let dir = tempfile::tempdir().unwrap();
    let demo = start(dir.path(), None).await;
    let rcpts: Vec<String> = (0..50).map(|i| format!("d{i}@example.test")).collect();
    let answer = inject_json(&demo, request(&rcpts, true)).await;
    assert_eq!(answer["success_count"], 50);
    wait_for("delivery", Duration::from_secs(30), || {
        demo.ledger().pending() == 0
    })
    .await;
    let stats = demo.spool_stats();
    assert_eq!(
        (stats.stored, stats.bytes_written),
        (0, 0),
        "deferred_spool_first_attempt_bytes must be 0"
    );
    let metrics = String::from_utf8(get(&demo, "/metrics", &[]).await.body).unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l == "total_deferred_spool_unspooled 50"),
        "{metrics}"
    );

    // Without deferred_spool the same messages are written before the 200, and removed once
    // delivered.
    let answer = inject_json(&demo, request(&rcpts, false)).await;
    assert_eq!(answer["success_count"], 50);
    assert!(demo.spool_stats().stored >= 50, "stored before the answer");
    wait_for("delivery and removal", Duration::from_secs(30), || {
        let s = demo.status();
        s.pending == 0 && s.spooled == 0
    })
    .await;
    assert_eq!(demo.spool_stats().removed, 50);
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_puts_spooled_messages_back_with_their_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let (config, spool) = (dir.path().join("config"), dir.path().join("spool"));
    std::fs::create_dir_all(&config).unwrap();
    write_defaults(&config, Profile::Selftest).unwrap();
    // Every answer is temporary and the next attempt is ~10 real seconds away.
    set_weights(&config, 0.0, 1.0, 0.0);
    set_retry(&config, 6000.0, 3_600_000.0);
    let opts = DemoOptions {
        config: Some(config.clone()),
        profile: Profile::Selftest,
        spool: Some(spool.clone()),
        config_scan: Duration::from_millis(100),
        ..DemoOptions::default()
    };
    let demo = Demo::start(opts.clone()).await.unwrap();
    let rcpts: Vec<String> = (0..40).map(|i| format!("r{i}@outlook.test")).collect();
    inject_json(&demo, request(&rcpts, false)).await;
    wait_for("deferral", Duration::from_secs(30), || {
        demo.status().scheduled == 40
    })
    .await;
    demo.shutdown().await;

    // A second open while the spool is held is refused with a clear error.
    let again = Demo::start(opts.clone()).await.unwrap();
    let held = Demo::start(opts.clone()).await.unwrap_err();
    assert!(
        kumo_examples::cli::error_chain(&held).contains("locked"),
        "{}",
        kumo_examples::cli::error_chain(&held)
    );
    let rec = again.recovery();
    assert_eq!((rec.messages, rec.quarantined), (40, 0));
    let status = again.status();
    assert_eq!(
        (status.scheduled, status.spooled, status.recovered),
        (40, 40, 40),
        "not due yet: back in the scheduled queue"
    );
    again.shutdown().await;

    // Now deliveries succeed and the retries are due at once: every message ends once.
    set_weights(&config, 1.0, 0.0, 0.0);
    set_retry(&config, 1.0, 3_600_000.0);
    let last = Demo::start(opts).await.unwrap();
    assert_eq!(last.recovery().messages, 40);
    wait_for("delivery", Duration::from_secs(60), || {
        let s = last.status();
        s.pending == 0 && s.spooled == 0
    })
    .await;
    let s = last.ledger().summary(Some(40), last.uptime());
    assert!(s.balanced(), "{s}");
    assert_eq!(s.delivered, 40);
    last.shutdown().await;
}

/// `restart_to_ready_s`: a demo with many scheduled messages (1,000,000 with `KUMO_DEMO_1M=1`;
/// `KUMO_DEMO_RESTART_N` sets another count) is shut down and started again on its spool; the
/// time from `Demo::start` until every message is back in the scheduled queue is printed.
/// Skipped without the variable: the injection alone takes a minute or more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::print_stderr, reason = "the measurement is this test's output")]
async fn restart_with_many_scheduled_messages() {
    let n: u64 = match std::env::var("KUMO_DEMO_RESTART_N") {
        Ok(v) => v.parse().unwrap(),
        Err(_) if std::env::var_os("KUMO_DEMO_1M").is_some() => 1_000_000,
        Err(_) => return,
    };
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let (config, spool) = (dir.path().join("config"), dir.path().join("spool"));
    std::fs::create_dir_all(&config).unwrap();
    write_defaults(&config, Profile::Selftest).unwrap();
    set_weights(&config, 0.0, 1.0, 0.0);
    // Retries a simulated week away: nothing becomes due during the test.
    set_retry(&config, 604_800.0, 6_048_000.0);
    let opts = DemoOptions {
        config: Some(config),
        profile: Profile::Selftest,
        spool: Some(spool),
        ..DemoOptions::default()
    };
    let demo = Demo::start(opts.clone()).await.unwrap();
    let target = Target::from_addr(demo.http_addr(), "/api/inject/v1");
    let t = std::time::Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for k in 0..n.div_ceil(1000) {
        let target = target.clone();
        set.spawn_blocking(move || {
            let rcpts: Vec<String> = (k * 1000..((k + 1) * 1000).min(n))
                .map(|i| format!("u{i}@outlook.test"))
                .collect();
            let resp = http::post_json(&target, &batch(&rcpts)).unwrap();
            assert_eq!(resp.head.status, 200);
        });
        while set.len() >= 4 {
            set.join_next().await.unwrap().unwrap();
        }
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
    let injected = t.elapsed();
    wait_for("deferral", Duration::from_secs(600), || {
        demo.status().scheduled == n
    })
    .await;
    demo.shutdown().await;
    let t = std::time::Instant::now();
    let again = Demo::start(opts).await.unwrap();
    let started = t.elapsed();
    assert_eq!(again.recovery().messages, n);
    assert_eq!(again.status().scheduled, n);
    eprintln!(
        "restart_to_ready_s {:.3} (n={n}; enumeration {:.3} s; injection took {:.1} s)",
        started.as_secs_f64(),
        again.recovery().elapsed.as_secs_f64(),
        injected.as_secs_f64()
    );
    again.shutdown().await;
}

/// Streams `/api/trace/v1?{query}` (answered 200) on a blocking thread until `stop` says an
/// event ends the watch, the stream ends, or 20 s pass; the events seen, `stop`'s one included.
fn watch_trace(
    demo: &Demo,
    query: &str,
    stop: impl Fn(&kumo_trace::TraceEvent) -> bool + Send + 'static,
) -> tokio::task::JoinHandle<Vec<kumo_trace::TraceEvent>> {
    let target = Target::from_addr(demo.http_addr(), &format!("/api/trace/v1?{query}"));
    tokio::task::spawn_blocking(move || {
        let mut events = Vec::new();
        let mut buf = Vec::new();
        let head = http::stream(
            &target,
            Request {
                timeout: Some(Duration::from_secs(20)),
                ..Request::default()
            },
            |chunk| {
                buf.extend_from_slice(chunk);
                while let Some(i) = buf.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=i).collect();
                    let ev = kumo_trace::from_json_line(&line).unwrap();
                    let done = stop(&ev);
                    events.push(ev);
                    if done {
                        return false;
                    }
                }
                true
            },
        )
        .unwrap();
        assert_eq!(head.status, 200);
        events
    })
}

// --- Real SMTP delivery (`--deliver smtp`) to Python's aiosmtpd ---------------------------------

/// kumo-smtp's test peer (`kumo-smtp/tests/peer/smtp_peer.py`, on aiosmtpd) on a loopback port;
/// killed when dropped. `None` without `KUMO_TEST_PYTHON` outside CI.
struct SmtpPeer {
    _child: tokio::process::Child,
    port: u16,
    maildir: std::path::PathBuf,
}

impl SmtpPeer {
    async fn start(role: &str, dir: &Path) -> Option<SmtpPeer> {
        use tokio::io::AsyncBufReadExt;
        let python = match std::env::var("KUMO_TEST_PYTHON") {
            Ok(p) if !p.is_empty() => p,
            _ if std::env::var_os("CI").is_some() => {
                panic!("KUMO_TEST_PYTHON is required when CI is set (scripts/test sets it)")
            }
            _ => return None,
        };
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../kumo-smtp/tests/peer/smtp_peer.py");
        let maildir = dir.join("received");
        let mut child = tokio::process::Command::new(python)
            .arg(script)
            .args(["--port", "0", "--exit-on-eof", "--role", role, "--maildir"])
            .arg(&maildir)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut line = String::new();
        let stdout = child.stdout.take().unwrap();
        tokio::time::timeout(
            Duration::from_secs(20),
            tokio::io::BufReader::new(stdout).read_line(&mut line),
        )
        .await
        .expect("the peer prints its port")
        .unwrap();
        let port = line.trim().parse().expect("a port number");
        Some(SmtpPeer {
            _child: child,
            port,
            maildir,
        })
    }

    fn received(&self) -> Vec<Vec<u8>> {
        let mut files: Vec<_> = std::fs::read_dir(self.maildir.join("new"))
            .map(|r| r.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|x| x == "eml"));
        files.sort();
        files.iter().map(|f| std::fs::read(f).unwrap()).collect()
    }
}

async fn start_smtp(config: &Path, port: u16) -> Demo {
    write_defaults(config, Profile::SelftestSmtp).unwrap();
    Demo::start(DemoOptions {
        config: Some(config.to_owned()),
        profile: Profile::SelftestSmtp,
        deliver: Some(DeliverTarget::Smtp),
        smtp_port: port,
        config_scan: Duration::from_millis(100),
        ..DemoOptions::default()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_smtp_delivery_is_traced_on_the_wire_and_counted_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let Some(peer) = SmtpPeer::start("accept", dir.path()).await else {
        return;
    };
    let config = dir.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    let demo = start_smtp(&config, peer.port).await;

    // A terse watcher of new sessions, until it has seen a delivery.
    let reader = watch_trace(&demo, "terse=true&only_new=true", |ev| {
        matches!(&ev.payload, kumo_trace::Payload::MessageDisposition(m)
            if m.disposition == kumo_trace::Disposition::Delivered)
    });
    for _ in 0..200 {
        if reader.is_finished() {
            break;
        }
        inject(&demo, vec!["watched@nomx.test".into()]).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let events = reader.await.unwrap();
    let delivered = events.last().unwrap();
    let session: Vec<_> = events
        .iter()
        .filter(|e| e.session == delivered.session)
        .map(|e| e.payload.clone())
        .collect();
    use kumo_trace::Payload as P;
    assert!(session.contains(&P::Connected), "{session:?}");
    assert!(
        session
            .iter()
            .any(|p| matches!(p, P::Read { data } if data.starts_with("220 "))),
        "the real greeting: {session:?}"
    );
    assert!(session.contains(&P::write("EHLO demo.kumo.test\r\n")));
    assert!(
        session
            .iter()
            .any(|p| matches!(p, P::AbbreviatedWrite { len, .. } if *len > 100)),
        "terse cuts the body: {session:?}"
    );
    assert!(
        !session
            .iter()
            .any(|p| matches!(p, P::Write { data } if data.contains("Subject:"))),
        "no body line reaches a terse watcher"
    );
    assert!(
        session
            .iter()
            .any(|p| matches!(p, P::Read { data } if data.starts_with("250 2.0.0 OK queued"))),
        "{session:?}"
    );
    assert!(demo.wait_idle(Duration::from_secs(30)).await);

    // Two batches to example.test: the second one rides the first one's idle connections.
    let before = Snapshot::parse(&get(&demo, "/metrics", &[]).await.body).unwrap();
    for round in 0..2 {
        let rcpts = (0..20)
            .map(|i| format!("r{round}u{i}@example.test"))
            .collect();
        assert_eq!(inject(&demo, rcpts).await["success_count"], 20);
        assert!(demo.wait_idle(Duration::from_secs(30)).await);
    }
    let snap = Snapshot::parse(&get(&demo, "/metrics", &[]).await.body).unwrap();
    assert_eq!(snap.queues["example.test"].delivered, 40.0);
    let connected = |s: &Snapshot| -> f64 {
        s.connections
            .values()
            .map(|c| c.attempts - c.failures)
            .sum()
    };
    let new_connections = connected(&snap) - connected(&before);
    assert!(
        (1.0..=20.0).contains(&new_connections),
        "40 messages over at most 20 connections, got {new_connections}"
    );
    // Only 127.0.0.1 has a listener: every other address of the plan is counted as a failure.
    for ((host, addr), c) in &snap.connections {
        if addr == "127.0.0.1" {
            assert_eq!(c.failures, 0.0, "{host} {addr}");
        } else {
            assert_eq!(c.failures, c.attempts, "{host} {addr}");
        }
    }
    assert!(
        snap.connections
            .contains_key(&("mx1.example.test".into(), "127.0.0.1".into()))
    );

    // What aiosmtpd stored: every delivered message, CRLF throughout, templated per recipient.
    let received = peer.received();
    assert_eq!(
        received.len() as u64,
        demo.ledger().summary(None, demo.uptime()).delivered
    );
    assert!(received.iter().all(|m| {
        let t = String::from_utf8_lossy(m);
        t.contains("Subject: Hello Person ") && !t.replace("\r\n", "").contains('\n')
    }));
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_lost_after_the_final_dot_is_retried_and_counted_as_a_possible_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let Some(peer) = SmtpPeer::start("drop-after-dot", dir.path()).await else {
        return;
    };
    let config = dir.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    let demo = start_smtp(&config, peer.port).await;
    inject(&demo, vec!["once@nomx.test".into()]).await;
    let mut snap = None;
    for _ in 0..300 {
        let body = get(&demo, "/metrics", &[]).await.body;
        let text = String::from_utf8_lossy(&body).into_owned();
        let dupes = text
            .lines()
            .find_map(|l| l.strip_prefix("total_smtp_possible_duplicates "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        if dupes >= 2.0 {
            snap = Some(Snapshot::parse(&body).unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let snap = snap.expect("two possible duplicates counted");
    // The server stored the message each time, the demo never heard the answer: it retries.
    assert!(peer.received().len() >= 2);
    assert!(snap.queues["nomx.test"].transfail >= 2.0);
    assert_eq!(snap.queues["nomx.test"].delivered, 0.0);
    demo.shutdown().await;
}

// --- The ESMTP listener (`--smtp-listen`) against clients nobody here wrote -------------------

fn python() -> Option<String> {
    match std::env::var("KUMO_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ if std::env::var_os("CI").is_some() => {
            panic!("KUMO_TEST_PYTHON is required when CI is set (scripts/test sets it)")
        }
        _ => None,
    }
}

/// Runs a Python script with arguments; its standard output (panics on failure).
async fn run(program: String, args: Vec<String>) -> String {
    let out = tokio::process::Command::new(&program)
        .args(&args)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Sends one message made by Python's `email` package with `smtplib` (`SMTPUTF8`, `8BITMIME`;
/// first `STARTTLS` when the mode is `starttls`): writes the bytes it sent to `sent`, prints
/// the refused recipients as JSON.
const SMTPLIB_SEND: &str = r#"
import json, smtplib, ssl, sys
from email.message import EmailMessage
from email import policy
mode, port, sent, sender, *rcpts = sys.argv[1:]
m = EmailMessage(policy=policy.SMTP)
m["From"] = sender
m["To"] = ", ".join(rcpts)
m["Subject"] = "Grüße from smtplib"
m.set_content("first line\n.a line that starts with a dot\n..two dots\nZoë\n")
data = m.as_bytes()
open(sent, "wb").write(data)
with smtplib.SMTP("127.0.0.1", int(port), local_hostname="client.example") as s:
    if mode == "starttls":
        s.starttls(context=ssl._create_unverified_context())
    try:
        refused = s.sendmail(sender, rcpts, data, mail_options=["BODY=8BITMIME", "SMTPUTF8"])
    except smtplib.SMTPRecipientsRefused as e:
        refused = e.recipients
print(json.dumps({r: [c, m.decode()] for r, (c, m) in refused.items()}))
"#;

async fn start_listening(config: &Path, maildir: &Path) -> Demo {
    write_defaults(config, Profile::Selftest).unwrap();
    set_weights(config, 1.0, 0.0, 0.0);
    Demo::start(DemoOptions {
        config: Some(config.to_owned()),
        profile: Profile::Selftest,
        deliver: Some(DeliverTarget::Maildir(maildir.to_owned())),
        smtp_listen: Some("127.0.0.1:0".parse().unwrap()),
        config_scan: Duration::from_millis(100),
        ..DemoOptions::default()
    })
    .await
    .unwrap()
}

fn maildir_files(maildir: &Path) -> Vec<Vec<u8>> {
    std::fs::read_dir(maildir.join("new"))
        .map(|r| {
            r.map(|e| std::fs::read(e.unwrap().path()).unwrap())
                .collect()
        })
        .unwrap_or_default()
}

/// Splits a delivered message into its `Received:` header and the rest.
fn split_received(m: &[u8]) -> (String, &[u8]) {
    assert!(
        m.starts_with(b"Received: from "),
        "{}",
        String::from_utf8_lossy(m)
    );
    // The header's continuation lines start with a tab; the next header does not.
    let mut end = 0;
    while let Some(i) = m[end..].windows(2).position(|w| w == b"\r\n") {
        end += i + 2;
        if m.get(end) != Some(&b'\t') {
            break;
        }
    }
    (String::from_utf8_lossy(&m[..end]).into_owned(), &m[end..])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtplib_and_swaks_mail_is_received_traced_and_delivered_byte_identical() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (config, maildir) = (dir.path().join("config"), dir.path().join("mail"));
    std::fs::create_dir_all(&config).unwrap();
    let demo = start_listening(&config, &maildir).await;
    let port = demo.smtp_addr().unwrap().port();

    // A watcher of the listener's sessions (server side only), until one closes.
    let reader = watch_trace(&demo, "side=server&only_new=true", |ev| ev.is_closing());
    tokio::time::sleep(Duration::from_millis(200)).await;

    // smtplib, a message from Python's email package (8-bit, dot lines, UTF-8 subject).
    let sent = dir.path().join("sent.eml");
    let refused = run(
        py.clone(),
        vec![
            "-c".into(),
            SMTPLIB_SEND.into(),
            "starttls".into(),
            port.to_string(),
            sent.display().to_string(),
            "py@kumo.test".into(),
            "anna@example.test".into(),
            "bert@gmail.test".into(),
            "zoë@bücher.test".into(),
        ],
    )
    .await;
    assert_eq!(refused.trim(), "{}");
    let sent = std::fs::read(&sent).unwrap();
    assert!(demo.wait_idle(Duration::from_secs(30)).await);
    let files = maildir_files(&maildir);
    assert_eq!(files.len(), 3, "one copy per recipient (one with SMTPUTF8)");
    for f in &files {
        let (received, rest) = split_received(f);
        assert!(
            received.contains("from client.example (127.0.0.1)"),
            "{received}"
        );
        assert!(received.contains("by demo.kumo.test (kumo demo) with ESMTPS id "));
        assert_eq!(rest, sent.as_slice(), "byte-identical apart from Received:");
    }

    // The server-side trace saw the session on the wire.
    let events = reader.await.unwrap();
    use kumo_trace::Payload as P;
    assert!(events.iter().all(|e| e.side == kumo_trace::Side::Server));
    assert_eq!(events[0].payload, P::Connected);
    assert!(
        events
            .iter()
            .any(|e| e.payload == P::read("ehlo client.example\r\n"))
    );
    assert!(events.iter().any(
        |e| matches!(&e.payload, P::Write { data } if data.starts_with("250 2.0.0 OK queued as"))
    ));

    // swaks, if installed (scripts/test installs it; CI requires it).
    let swaks = std::process::Command::new("swaks")
        .arg("--version")
        .output();
    match swaks {
        Ok(o) if o.status.success() => {
            run(
                "swaks".into(),
                [
                    "--server",
                    &format!("127.0.0.1:{port}"),
                    "--from",
                    "sw@kumo.test",
                    "--to",
                    "carl@xn--bcher-kva.test",
                    "--header",
                    "Subject: from swaks",
                    "--body",
                    "hello from swaks\n.dot\n",
                    "--helo",
                    "swaks.example",
                ]
                .map(String::from)
                .to_vec(),
            )
            .await;
            assert!(demo.wait_idle(Duration::from_secs(30)).await);
            let files = maildir_files(&maildir);
            assert_eq!(files.len(), 4);
            let swaked = files
                .iter()
                .find(|f| String::from_utf8_lossy(f).contains("Subject: from swaks"))
                .expect("the swaks message was delivered");
            let (received, rest) = split_received(swaked);
            assert!(received.contains("from swaks.example"), "{received}");
            let rest = String::from_utf8_lossy(rest);
            assert!(rest.contains("\r\nhello from swaks\r\n.dot\r\n"), "{rest}");
        }
        _ if std::env::var_os("CI").is_some() => panic!("swaks is required when CI is set"),
        _ => {}
    }
    let snap = get(&demo, "/metrics", &[]).await;
    let text = String::from_utf8_lossy(&snap.body).into_owned();
    let received = format!("\ntotal_smtp_messages_received{{listener=\"127.0.0.1:{port}\"}} 2\n");
    assert!(text.contains(&received), "{text}");
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_peer_may_only_send_to_relay_domains() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (config, maildir) = (dir.path().join("config"), dir.path().join("mail"));
    std::fs::create_dir_all(&config).unwrap();
    let demo = start_listening(&config, &maildir).await;
    // Loopback is not trusted any more; example.test accepts mail from anyone.
    std::fs::write(
        config.join("listener.toml"),
        "[listener]\nrelay_hosts = [\"192.0.2.0/24\"]\nrelay_domains = [\"example.test\"]\n",
    )
    .unwrap();
    demo.rescan_config();
    let port = demo.smtp_addr().unwrap().port();
    let sent = dir.path().join("sent.eml");
    let refused = run(
        py,
        vec![
            "-c".into(),
            SMTPLIB_SEND.into(),
            "plain".into(),
            port.to_string(),
            sent.display().to_string(),
            "py@kumo.test".into(),
            "local@example.test".into(),
            "far@gmail.test".into(),
        ],
    )
    .await;
    let refused: serde_json::Value = serde_json::from_str(&refused).unwrap();
    assert_eq!(refused["far@gmail.test"][0], 550);
    assert!(
        refused["far@gmail.test"][1]
            .as_str()
            .unwrap()
            .contains("5.7.1"),
        "{refused}"
    );
    assert!(refused.get("local@example.test").is_none(), "{refused}");
    assert!(demo.wait_idle(Duration::from_secs(30)).await);
    assert_eq!(maildir_files(&maildir).len(), 1);
    let text = String::from_utf8_lossy(&get(&demo, "/metrics", &[]).await.body).into_owned();
    assert!(
        text.contains("total_smtp_refusals{reason=\"relay_denied\"} 1"),
        "{text}"
    );
    demo.shutdown().await;
}

/// `target/<profile>/examples/mta`, next to this test's `deps/` folder, for the tests that
/// run the real binary; `None` (with a note) when it is not built, a failure under `CI`.
#[allow(
    clippy::print_stderr,
    reason = "tells a developer why the test did nothing"
)]
fn mta() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.parent()?.join("examples").join("mta");
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "example binary {} missing (cargo test builds it; or cargo build -p kumo-examples --example mta)",
        path.display()
    );
    eprintln!(
        "note: {} not built; run `cargo build -p kumo-examples --example mta`",
        path.display()
    );
    None
}
