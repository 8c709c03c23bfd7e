//! Backpressure: beyond the `[admission]` limits the injection API answers `503` with
//! `Retry-After` and the ESMTP listener `452 4.3.1`, memory stays bounded, an accepted
//! `deferred_generation` job waits for room instead of failing, and once delivery resumes every
//! accepted message is delivered or bounced and new mail is taken again.
//!
//! Delivery is stalled by making every simulated answer a temporary failure with a retry two
//! real seconds away (the self-test profile runs simulated time 600 times faster), so accepted
//! messages stay pending; setting the weights back to success drains them at the next retry.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use kumo_examples::cli::DeliverTarget;
use kumo_examples::demo::{Demo, DemoOptions};
use kumo_examples::http::{self, Target};
use kumo_examples::settings::{Profile, write_defaults};

/// The retry interval while delivery is stalled, in simulated seconds (2 real seconds).
const STALLED_RETRY: f64 = 1200.0;

/// Starts a demo whose deliveries all fail temporarily, with `admission` as its
/// `admission.toml`.
async fn start_stalled(
    config: &Path,
    admission: &str,
    maildir: Option<&Path>,
    smtp_listen: bool,
) -> Demo {
    std::fs::create_dir_all(config).unwrap();
    write_defaults(config, Profile::Selftest).unwrap();
    super::set_weights(config, 0.0, 1.0, 0.0);
    super::set_retry(config, STALLED_RETRY, 1e9);
    std::fs::write(config.join("admission.toml"), admission).unwrap();
    Demo::start(DemoOptions {
        config: Some(config.to_owned()),
        profile: Profile::Selftest,
        deliver: maildir.map(|m| DeliverTarget::Maildir(m.to_owned())),
        smtp_listen: smtp_listen.then(|| "127.0.0.1:0".parse().unwrap()),
        config_scan: Duration::from_millis(100),
        ..DemoOptions::default()
    })
    .await
    .unwrap()
}

/// Lets delivery succeed again: the retries already scheduled deliver when they come due.
fn unstall(demo: &Demo, config: &Path) {
    super::set_weights(config, 1.0, 0.0, 0.0);
    demo.rescan_config();
}

/// The resident set size of this process, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib * 1024
}

/// An injection request for `recipients`, each message carrying a text body of `body_kib`
/// KiB.
fn request(recipients: &[String], body_kib: usize) -> Vec<u8> {
    let mut json: serde_json::Value = serde_json::from_slice(&super::batch(recipients)).unwrap();
    let line = "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstu\n";
    let body = format!(
        "Dear {{{{ name }}}},\n{}",
        line.repeat(body_kib * 1024 / line.len())
    );
    json["content"]["text_body"] = serde_json::Value::String(body);
    serde_json::to_vec(&json).unwrap()
}

/// What the injection API answered.
#[derive(Debug)]
enum Answer {
    /// `200` with the accepted count.
    Accepted(u64),
    /// A refusal: status and `Retry-After`.
    Refused(u16, Option<String>),
}

async fn post(demo: &Demo, body: Vec<u8>) -> Answer {
    let target = Target::from_addr(demo.http_addr(), "/api/inject/v1");
    tokio::task::spawn_blocking(move || {
        let resp = http::post_json(&target, &body).unwrap();
        if resp.head.status == 200 {
            let v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
            assert_eq!(v["fail_count"], 0, "{v}");
            Answer::Accepted(v["success_count"].as_u64().unwrap())
        } else {
            Answer::Refused(
                resp.head.status,
                resp.head.header("retry-after").map(str::to_owned),
            )
        }
    })
    .await
    .unwrap()
}

fn recipients(prefix: &str, from: usize, to: usize) -> Vec<String> {
    (from..to)
        .map(|i| format!("{prefix}{i}@example.test"))
        .collect()
}

/// Sends `attempts` requests of `per_request` recipients in turn; returns the recipients
/// accepted and the refusals seen (status, `Retry-After`).
async fn hammer(
    demo: &Demo,
    attempts: usize,
    per_request: usize,
    body_kib: usize,
) -> (u64, Vec<(u16, Option<String>)>) {
    let (mut accepted, mut refusals) = (0, Vec::new());
    for a in 0..attempts {
        let rcpts = recipients("h", a * per_request, (a + 1) * per_request);
        match post(demo, request(&rcpts, body_kib)).await {
            Answer::Accepted(n) => accepted += n,
            Answer::Refused(status, retry) => refusals.push((status, retry)),
        }
    }
    (accepted, refusals)
}

/// Waits until nothing is pending, then checks that every accepted message was delivered or
/// bounced exactly once.
async fn assert_drained(demo: &Demo, accepted: u64) {
    assert!(
        demo.wait_idle(Duration::from_secs(90)).await,
        "still pending after the drain: {}",
        demo.ledger().pending()
    );
    let s = demo.ledger().summary(Some(accepted), demo.uptime());
    assert_eq!(s.injected, accepted, "{s}");
    assert_eq!(s.delivered + s.bounced, accepted, "{s}");
    assert!(s.balanced(), "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inject_api_refuses_at_the_message_limit_and_takes_mail_again_after_the_drain() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    let demo = start_stalled(
        &config,
        "[admission]\nmax_pending_messages = 2000\nmax_pending_bytes = 1073741824\nretry_after_secs = 3\n",
        None,
        false,
    )
    .await;

    // Requests of 500 are taken while fewer than 2,000 messages are pending: four of them.
    let (accepted, refusals) = hammer(&demo, 12, 500, 1).await;
    assert_eq!(accepted, 2000, "{refusals:?}");
    assert_eq!(refusals.len(), 8);
    for (status, retry) in &refusals {
        assert!(*status == 503 || *status == 429, "{status}");
        assert_eq!(retry.as_deref(), Some("3"), "Retry-After from the config");
    }
    assert_eq!(demo.status().pending, 2000);
    super::wait_for(
        "every message's first attempt",
        Duration::from_secs(30),
        || demo.ledger().summary(None, demo.uptime()).retries >= 2000,
    )
    .await;
    assert_eq!(
        demo.ledger().pending(),
        2000,
        "a temporary failure keeps it pending"
    );

    unstall(&demo, &config);
    assert_drained(&demo, accepted).await;
    // Room again: injection is accepted.
    let answer = super::inject(&demo, recipients("again", 0, 10)).await;
    assert_eq!(answer["success_count"], 10);
    assert_drained(&demo, accepted + 10).await;

    // A zero limit is refused by name; the last good limits stay in force.
    std::fs::write(
        config.join("admission.toml"),
        "[admission]\nmax_pending_messages = 0\n",
    )
    .unwrap();
    demo.rescan_config();
    super::wait_for("the reload error", Duration::from_secs(10), || {
        demo.status().config_error.is_some_and(|e| {
            e.contains("admission.toml: admission.max_pending_messages: 0 is below the minimum 1")
        })
    })
    .await;
    assert_eq!(
        demo.status().config["admission"]["max_pending_messages"],
        2000
    );
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_byte_limit_bounds_memory_while_requests_keep_coming() {
    const LIMIT: u64 = 4 << 20;
    const BODY_KIB: usize = 8;
    /// Allocator slack, per-message records, the spool's page cache and the other tests of this
    /// binary running at the same time: far below the ~500 MiB the refused requests would
    /// have added.
    const MARGIN: u64 = 192 << 20;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    let demo = start_stalled(
        &config,
        &format!("[admission]\nmax_pending_messages = 1000000\nmax_pending_bytes = {LIMIT}\n"),
        None,
        false,
    )
    .await;
    let before = rss();

    // 200 messages of ~8.6 KiB are ~1.7 MiB: three requests reach 4 MiB; 300 more are refused
    // (each would have added ~1.7 MiB).
    let (accepted, refusals) = hammer(&demo, 303, 200, BODY_KIB).await;
    assert_eq!(accepted, 600, "{refusals:?}");
    assert_eq!(refusals.len(), 300);
    assert!(
        refusals
            .iter()
            .all(|(s, r)| *s == 503 && r.as_deref() == Some("1")),
        "{refusals:?}"
    );
    let grown = rss().saturating_sub(before);
    assert!(
        grown < LIMIT + MARGIN,
        "RSS grew by {} MiB, over the {} MiB limit plus a {} MiB margin",
        grown >> 20,
        LIMIT >> 20,
        MARGIN >> 20
    );

    unstall(&demo, &config);
    assert_drained(&demo, accepted).await;
    let answer = super::inject(&demo, recipients("again", 0, 5)).await;
    assert_eq!(answer["success_count"], 5);
    demo.shutdown().await;
}

/// Sends one message with Python's smtplib; prints the reply code of `MAIL` when the sender
/// was refused, 250 when the message was taken.
const SMTPLIB_ONE: &str = r#"
import json, smtplib, sys
port = int(sys.argv[1])
data = b"From: py@kumo.test\r\nTo: one@example.test\r\nSubject: backpressure\r\n\r\nhello\r\n"
try:
    with smtplib.SMTP("127.0.0.1", port, local_hostname="client.example") as s:
        refused = s.sendmail("py@kumo.test", ["one@example.test"], data)
        print(json.dumps({"code": 250, "refused": sorted(refused)}))
except smtplib.SMTPSenderRefused as e:
    print(json.dumps({"code": e.smtp_code, "text": e.smtp_error.decode()}))
except smtplib.SMTPRecipientsRefused as e:
    print(json.dumps({"code": list(e.recipients.values())[0][0], "text": "rcpt"}))
"#;

async fn smtplib_send(py: &str, demo: &Demo) -> serde_json::Value {
    let port = demo.smtp_addr().unwrap().port().to_string();
    let out = super::run(py.to_owned(), vec!["-c".into(), SMTPLIB_ONE.into(), port]).await;
    serde_json::from_str(&out).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_smtp_listener_answers_452_at_the_limit() {
    let Some(py) = super::python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (config, maildir) = (dir.path().join("config"), dir.path().join("mail"));
    let demo = start_stalled(
        &config,
        "[admission]\nmax_pending_messages = 100\n",
        Some(&maildir),
        true,
    )
    .await;
    let (accepted, refusals) = hammer(&demo, 1, 100, 1).await;
    assert_eq!((accepted, refusals.len()), (100, 0));

    let refused = smtplib_send(&py, &demo).await;
    assert_eq!(refused["code"], 452, "{refused}");
    let text = refused["text"].as_str().unwrap();
    assert!(text.contains("4.3.1"), "{text}");
    assert_eq!(demo.ledger().injected_count(), 100, "nothing was taken");
    let metrics = String::from_utf8(super::get(&demo, "/metrics", &[]).await.body).unwrap();
    assert!(
        metrics.contains("total_smtp_refusals{reason=\"backpressure\"} 1"),
        "{metrics}"
    );

    unstall(&demo, &config);
    assert_drained(&demo, 100).await;
    let taken = smtplib_send(&py, &demo).await;
    assert_eq!(taken["code"], 250, "{taken}");
    assert_drained(&demo, 101).await;
    assert_eq!(super::maildir_files(&maildir).len(), 101);
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deferred_generation_job_larger_than_the_limit_waits_and_loses_nothing() {
    const N: usize = 3000;
    let dir = tempfile::tempdir().unwrap();
    let (config, maildir) = (dir.path().join("config"), dir.path().join("mail"));
    let demo = start_stalled(
        &config,
        "[admission]\nmax_pending_messages = 500\n",
        Some(&maildir),
        false,
    )
    .await;
    let mut job: serde_json::Value =
        serde_json::from_slice(&request(&recipients("j", 0, N), 1)).unwrap();
    job["deferred_generation"] = serde_json::Value::Bool(true);
    let answer = super::inject_json(&demo, job).await;
    assert_eq!(answer["success_count"], 0, "answered before generation");

    // The first checkpoint (1,000 recipients) puts the demo past its limit: the job waits.
    super::wait_for("the first checkpoint", Duration::from_secs(30), || {
        demo.ledger().injected_count() >= 1000
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        demo.ledger().injected_count(),
        1000,
        "the job waits for room"
    );
    assert_eq!(demo.status().jobs, 1);
    // New requests are refused meanwhile.
    assert!(matches!(
        post(&demo, super::batch(&recipients("x", 0, 1))).await,
        Answer::Refused(503, Some(_))
    ));

    unstall(&demo, &config);
    super::wait_for("the job", Duration::from_secs(120), || {
        demo.status().jobs == 0 && demo.ledger().pending() == 0
    })
    .await;
    assert_drained(&demo, N as u64).await;
    let s = demo.ledger().summary(Some(N as u64), demo.uptime());
    assert_eq!(s.delivered, N as u64, "{s}");
    // Every recipient exactly once: the subjects name them ("Hello Person <i>").
    let files = super::maildir_files(&maildir);
    assert_eq!(files.len(), N);
    let people: BTreeSet<usize> = files
        .iter()
        .filter_map(|m| {
            let text = String::from_utf8_lossy(m);
            text.lines()
                .find_map(|l| l.strip_prefix("Subject: Hello Person "))
                .and_then(|n| n.trim().parse().ok())
        })
        .collect();
    assert_eq!(people, (0..N).collect::<BTreeSet<_>>());
    demo.shutdown().await;
}

/// The self test is a well-behaved client of the admission limits: a `503` makes it wait the
/// `Retry-After` and send the batch again, so a run larger than the limit still ends with every
/// recipient injected once and ended once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_selftest_waits_out_503_and_still_accounts_for_every_message() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path();
    write_defaults(config, Profile::Selftest).unwrap();
    // One batch of 1,000 fits; the second of the two in flight is pushed back until the
    // first has drained.
    std::fs::write(
        config.join("admission.toml"),
        "[admission]\nmax_pending_messages = 1000\nretry_after_secs = 1\n",
    )
    .unwrap();
    let report = kumo_examples::demo::selftest(
        DemoOptions {
            config: Some(config.to_owned()),
            profile: Profile::Selftest,
            seed: 11,
            ..DemoOptions::default()
        },
        4_000,
        Duration::from_secs(120),
    )
    .await
    .unwrap();
    assert!(report.ok(), "{report}");
    assert_eq!(report.summary.injected, 4_000, "{report}");
    assert!(
        report.pushed_back > 0,
        "the limit was never reached: {report}"
    );
}
