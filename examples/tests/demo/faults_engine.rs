//! Faults of the engine itself (issue #20, part 1): extreme config values are refused at load
//! with the file and key named, before they can reach the message flow; and a delivery task
//! that panics does not lose its message: the message stays scheduled, the failure is counted
//! in `total_delivery_task_failures`, and it is delivered, once, when the fault is gone.

use std::path::Path;
use std::time::Duration;

use kumo_examples::cli::{DeliverTarget, error_chain};
use kumo_examples::demo::{Demo, DemoOptions};
use kumo_examples::settings::{Profile, write_defaults};

/// Sets `key` of the table at `table` (created when absent) in `dir/file`, keeping the rest.
fn set(dir: &Path, file: &str, table: &[&str], key: &str, value: toml::Value) {
    let path = dir.join(file);
    let mut doc: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    let mut t = &mut doc;
    for k in table {
        t = t
            .entry(k.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .unwrap();
    }
    t.insert(key.to_owned(), value);
    std::fs::write(&path, toml::to_string(&doc).unwrap()).unwrap();
}

/// The error chain of a demo started on the default files with one value set.
async fn start_error(file: &str, table: &[&str], key: &str, value: toml::Value) -> String {
    let dir = tempfile::tempdir().unwrap();
    write_defaults(dir.path(), Profile::Selftest).unwrap();
    set(dir.path(), file, table, key, value);
    match Demo::start(DemoOptions {
        config: Some(dir.path().to_owned()),
        profile: Profile::Selftest,
        ..DemoOptions::default()
    })
    .await
    {
        Ok(demo) => {
            demo.shutdown().await;
            "started".to_owned()
        }
        Err(e) => error_chain(&e),
    }
}

/// What kumo-config says of a NaN or an infinity (TOML has them; the merged tree does not).
const NON_FINITE: &str = "non-finite floats are not supported";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extreme_config_values_are_refused_with_the_file_and_key_named() {
    use toml::Value::{Float as F, Integer as I};
    let (nan, inf) = (F(f64::NAN), F(f64::INFINITY));
    // (file, table, key, value, what the error says after `FILE: KEY: `)
    #[rustfmt::skip]
    let cases: Vec<(&str, &[&str], &str, toml::Value, &str)> = vec![
        ("queues.toml", &["retry"], "interval", F(0.0), "0 is below the minimum 0.001"),
        ("queues.toml", &["retry"], "interval", F(1e300), "1e300 is above the maximum 31536000"),
        ("queues.toml", &["retry"], "interval", F(200.0), "200 is above retry.max_interval = 120"),
        ("queues.toml", &["retry"], "interval", nan.clone(), NON_FINITE),
        ("queues.toml", &["retry"], "max_interval", F(1e-4), "0.0001 is below the minimum 0.001"),
        ("queues.toml", &["retry"], "max_interval", F(1e300), "1e300 is above the maximum 31536000"),
        ("queues.toml", &["retry"], "max_interval", inf.clone(), NON_FINITE),
        ("queues.toml", &["retry"], "max_age", F(-1.0), "-1 is below the minimum 0.001"),
        ("queues.toml", &["retry"], "max_age", F(1e300), "1e300 is above the maximum 10000000000"),
        ("queues.toml", &["retry"], "max_age", F(f64::NEG_INFINITY), NON_FINITE),
        ("queues.toml", &["clock"], "speedup", F(1e-20), "1e-20 is below the minimum 0.001"),
        ("queues.toml", &["clock"], "speedup", F(1e7), "10000000 is above the maximum 1000000"),
        ("queues.toml", &["clock"], "speedup", nan.clone(), NON_FINITE),
        ("queues.toml", &["clock"], "tick_ms", I(0), "0 is below the minimum 1"),
        ("queues.toml", &["clock"], "tick_ms", I(3_600_001), "3600001 is above the maximum 3600000"),
        ("queues.toml", &["clock"], "tick_ms", I(-1), "invalid value"),
        ("shaping.toml", &["shaping", "default"], "connection_limit", I(0), "0 is below the minimum 1"),
        ("shaping.toml", &["shaping", "default"], "connection_limit", I(65_537), "65537 is above the maximum 65536"),
        ("shaping.toml", &["shaping", "default"], "max_addresses", I(0), "0 is below the minimum 1"),
        ("shaping.toml", &["shaping", "default"], "max_addresses", I(1025), "1025 is above the maximum 1024"),
        ("shaping.toml", &["shaping", "domains", "gmail.test"], "connection_limit", I(0), "0 is below the minimum 1"),
        ("delivery.toml", &["delivery"], "success", F(-1.0), "-1 is negative"),
        ("delivery.toml", &["delivery"], "success", F(1e10), "10000000000 is above the maximum 1000000000"),
        ("delivery.toml", &["delivery"], "transient", F(-0.5), "-0.5 is negative"),
        ("delivery.toml", &["delivery"], "transient", inf.clone(), NON_FINITE),
        ("delivery.toml", &["delivery"], "permanent", F(-1.0), "-1 is negative"),
        ("delivery.toml", &["delivery"], "permanent", F(1e300), "1e300 is above the maximum 1000000000"),
        ("delivery.toml", &["delivery"], "connect_failure", F(1.0), "1 is not below 1"),
        ("delivery.toml", &["delivery"], "connect_failure", F(-0.5), "-0.5 is below the minimum 0"),
        ("delivery.toml", &["delivery"], "connect_failure", nan.clone(), NON_FINITE),
        ("delivery.toml", &["delivery"], "latency_ms", I(60_001), "60001 is above the maximum 60000"),
        ("admission.toml", &["admission"], "max_pending_messages", I(0), "0 is below the minimum 1"),
        ("admission.toml", &["admission"], "max_pending_messages", I((1 << 40) + 1), "1099511627777 is above the maximum 1099511627776"),
        ("admission.toml", &["admission"], "max_pending_bytes", I(0), "0 is below the minimum 1"),
        ("admission.toml", &["admission"], "max_pending_bytes", I((1 << 50) + 1), "1125899906842625 is above the maximum 1125899906842624"),
        ("admission.toml", &["admission"], "retry_after_secs", I(0), "0 is below the minimum 1"),
        ("admission.toml", &["admission"], "retry_after_secs", I(86_401), "86401 is above the maximum 86400"),
        ("observability.toml", &["trace"], "max_subscribers", I(0), "0 is below the minimum 1"),
        ("observability.toml", &["trace"], "max_subscribers", I(1_000_001), "1000001 is above the maximum 1000000"),
        ("observability.toml", &["trace"], "buffer_bytes", I(0), "0 is below the minimum 1"),
        ("observability.toml", &["trace"], "buffer_bytes", I((1 << 30) + 1), "1073741825 is above the maximum 1073741824"),
        ("observability.toml", &["trace"], "stall_timeout_ms", I(0), "0 is below the minimum 1"),
        ("observability.toml", &["trace"], "stall_timeout_ms", I(86_400_001), "86400001 is above the maximum 86400000"),
        ("observability.toml", &["metrics"], "max_queue_series", I(0), "0 is below the minimum 1"),
        ("observability.toml", &["metrics"], "max_queue_series", I(100_000_001), "100000001 is above the maximum 100000000"),
        ("observability.toml", &["metrics"], "idle_series_ms", I(0), "0 is below the minimum 1"),
        ("observability.toml", &["metrics"], "idle_series_ms", I(2_592_000_001), "2592000001 is above the maximum 2592000000"),
        ("http.toml", &["http"], "header_timeout", F(0.0), "0 is below the minimum 0.001"),
        ("http.toml", &["http"], "header_timeout", F(1e300), "1e300 is above the maximum 86400"),
        ("http.toml", &["http"], "header_timeout", nan.clone(), NON_FINITE),
        ("http.toml", &["http"], "idle_timeout", F(-1.0), "-1 is below the minimum 0.001"),
        ("http.toml", &["http"], "idle_timeout", F(86_401.0), "86401 is above the maximum 86400"),
        ("http.toml", &["http"], "body_timeout", F(1e-9), "1e-9 is below the minimum 0.001"),
        ("http.toml", &["http"], "body_timeout", inf.clone(), NON_FINITE),
        ("http.toml", &["http"], "body_min_rate", I((1 << 30) + 1), "1073741825 is above the maximum 1073741824"),
        ("http.toml", &["http"], "max_connections", I(0), "0 is below the minimum 1"),
        ("http.toml", &["http"], "max_connections", I(1_000_001), "1000001 is above the maximum 1000000"),
        ("http.toml", &["http"], "max_connections_per_peer", I(0), "0 is below the minimum 1"),
        ("http.toml", &["http"], "max_connections_per_peer", I(1_000_001), "1000001 is above the maximum 1000000"),
        ("http.toml", &["http"], "max_header_bytes", I(8191), "8191 is below the minimum 8192"),
        ("http.toml", &["http"], "max_header_bytes", I((64 << 20) + 1), "67108865 is above the maximum 67108864"),
        ("http.toml", &["http"], "max_body_bytes", I((1 << 30) + 1), "1073741825 is above the maximum 1073741824"),
        ("http.toml", &["http"], "send_buffer_bytes", I((1 << 30) + 1), "1073741825 is above the maximum 1073741824"),
    ];
    let mut wrong = Vec::new();
    for (file, table, key, value, says) in cases {
        let shown = value.to_string();
        let error = start_error(file, table, key, value).await;
        let mut path: Vec<String> = table
            .iter()
            .map(|t| {
                if t.contains('.') {
                    format!("{t:?}")
                } else {
                    (*t).to_owned()
                }
            })
            .collect();
        path.push(key.to_owned());
        let want = format!("{file}: {}: {says}", path.join("."));
        if !error.contains(&want) {
            wrong.push(format!("{key} = {shown}: want {want:?}, got {error:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // Every weight 0: the section is named, once.
    let dir = tempfile::tempdir().unwrap();
    write_defaults(dir.path(), Profile::Selftest).unwrap();
    super::set_weights(dir.path(), 0.0, 0.0, 0.0);
    let e = Demo::start(DemoOptions {
        config: Some(dir.path().to_owned()),
        profile: Profile::Selftest,
        ..DemoOptions::default()
    })
    .await
    .map(drop)
    .map_err(|e| error_chain(&e))
    .unwrap_err();
    assert!(
        e.contains("delivery.toml: delivery: success, transient and permanent are all 0"),
        "{e}"
    );
    assert!(!e.contains("delivery: delivery:"), "{e}");
}

/// The value of the unlabelled counter `name` in `/metrics`.
async fn counter(demo: &Demo, name: &str) -> f64 {
    let body = super::get(demo, "/metrics", &[]).await.body;
    let text = String::from_utf8(body).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} not in /metrics"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_delivery_task_keeps_its_message_until_the_fault_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let (config, maildir) = (dir.path().join("config"), dir.path().join("mail"));
    std::fs::create_dir_all(&config).unwrap();
    write_defaults(&config, Profile::Selftest).unwrap();
    super::set_weights(&config, 1.0, 0.0, 0.0);
    let fault = dir.path().join("panic-while-this-exists");
    std::fs::write(&fault, b"").unwrap();
    let demo = Demo::start(DemoOptions {
        config: Some(config),
        profile: Profile::Selftest,
        deliver: Some(DeliverTarget::Maildir(maildir.clone())),
        fault_panic_file: Some(fault.clone()),
        ..DemoOptions::default()
    })
    .await
    .unwrap();
    assert_eq!(counter(&demo, "total_delivery_task_failures").await, 0.0);

    let rcpts: Vec<String> = ["a@example.test", "b@gmail.test", "c@outlook.test"]
        .map(String::from)
        .to_vec();
    let answer = super::inject(&demo, rcpts).await;
    assert_eq!(answer["success_count"], 3);

    // Every attempt panics; each message goes back to the scheduled queue, again and again.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while counter(&demo, "total_delivery_task_failures").await < 9.0 {
        assert!(std::time::Instant::now() < deadline, "no panics counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    super::wait_for(
        "the three messages scheduled",
        Duration::from_secs(30),
        || demo.status().scheduled == 3,
    )
    .await;
    // Longer than max_age (900 simulated seconds: 1.5 s here): a fault never makes a message
    // expire.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let s = demo.ledger().summary(Some(3), demo.uptime());
    assert_eq!((s.pending, s.delivered, s.bounced), (3, 0, 0), "{s}");
    assert!(s.retries >= 9, "each failure is a temporary one: {s}");
    assert_eq!(demo.status().spooled, 3, "the spool holds every message");
    assert!(
        super::maildir_files(&maildir).is_empty(),
        "nothing delivered yet"
    );

    // The fault is removed: each message is delivered, once.
    std::fs::remove_file(&fault).unwrap();
    let failures = counter(&demo, "total_delivery_task_failures").await;
    assert!(demo.wait_idle(Duration::from_secs(60)).await, "pending");
    let s = demo.ledger().summary(Some(3), demo.uptime());
    assert!(s.balanced(), "{s}");
    assert_eq!((s.delivered, s.bounced, s.duplicates), (3, 0, 0), "{s}");
    assert_eq!(super::maildir_files(&maildir).len(), 3);
    let after = counter(&demo, "total_delivery_task_failures").await;
    assert!(
        after <= failures + 3.0,
        "at most one attempt per message was already under way: {failures} then {after}"
    );
    super::wait_for("the spool emptied", Duration::from_secs(10), || {
        demo.status().spooled == 0
    })
    .await;
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_after_the_outcome_neither_puts_the_message_back_nor_ends_it_twice() {
    let dir = tempfile::tempdir().unwrap();
    let (config, maildir) = (dir.path().join("config"), dir.path().join("mail"));
    std::fs::create_dir_all(&config).unwrap();
    write_defaults(&config, Profile::Selftest).unwrap();
    super::set_weights(&config, 1.0, 0.0, 0.0);
    let fault = dir.path().join("panic-after-the-outcome");
    std::fs::write(&fault, b"after\n").unwrap();
    let demo = Demo::start(DemoOptions {
        config: Some(config.clone()),
        profile: Profile::Selftest,
        deliver: Some(DeliverTarget::Maildir(maildir.clone())),
        config_scan: Duration::from_millis(100),
        fault_panic_file: Some(fault.clone()),
        ..DemoOptions::default()
    })
    .await
    .unwrap();
    let rcpts: Vec<String> = (0..5).map(|i| format!("u{i}@example.test")).collect();
    assert_eq!(super::inject(&demo, rcpts).await["success_count"], 5);
    assert!(demo.wait_idle(Duration::from_secs(30)).await);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while counter(&demo, "total_delivery_task_failures").await < 5.0 {
        assert!(std::time::Instant::now() < deadline, "no panics counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Longer than a retry would take (15 simulated seconds: 25 ms here): nothing comes back.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let s = demo.ledger().summary(Some(5), demo.uptime());
    assert!(s.balanced(), "{s}");
    assert_eq!((s.delivered, s.duplicates, s.retries), (5, 0, 0), "{s}");
    assert_eq!(
        super::maildir_files(&maildir).len(),
        5,
        "each delivered once"
    );
    assert_eq!(demo.status().scheduled, 0);
    assert_eq!(counter(&demo, "total_delivery_task_failures").await, 5.0);

    // A deferral that panics after it scheduled the message: it is not scheduled twice.
    super::set_weights(&config, 0.0, 1.0, 0.0);
    super::wait_for("the edit", Duration::from_secs(10), || {
        demo.rescan_config();
        demo.status().config["delivery"]["transient"] == 1.0
    })
    .await;
    assert_eq!(
        super::inject(&demo, vec!["d@example.test".into()]).await["success_count"],
        1
    );
    super::wait_for("the deferral", Duration::from_secs(10), || {
        demo.status().scheduled == 1
    })
    .await;
    std::fs::remove_file(&fault).unwrap();
    super::set_weights(&config, 1.0, 0.0, 0.0);
    assert!(demo.wait_idle(Duration::from_secs(30)).await);
    let s = demo.ledger().summary(Some(6), demo.uptime());
    assert!(s.balanced(), "{s}");
    assert_eq!((s.delivered, s.duplicates), (6, 0), "{s}");
    assert_eq!(super::maildir_files(&maildir).len(), 6);
    demo.shutdown().await;
}
