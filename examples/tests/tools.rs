//! The command-line examples (`queue-summary`, `top`, `trace`) against a running demo, as a user
//! runs them. `cargo test` builds the examples before it runs the tests; when this file is run
//! alone the binaries may be missing, and the tests then say so (and fail under `CI`).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use kumo_examples::demo::{Demo, DemoOptions};
use kumo_examples::http::{self, Target};
use kumo_examples::settings::Profile;

#[path = "tools/bad_servers.rs"]
mod bad_servers;

/// `target/<profile>/examples/NAME`, next to this test's `deps/` folder.
#[allow(
    clippy::print_stderr,
    reason = "tells a developer why the test did nothing"
)]
fn example(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.parent()?.join("examples").join(name);
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "example binary {} missing (cargo test builds it)",
        path.display()
    );
    eprintln!(
        "note: {} not built; run `cargo test -p kumo-examples` to build the examples",
        path.display()
    );
    None
}

async fn demo_with_traffic() -> Demo {
    let demo = Demo::start(DemoOptions {
        profile: Profile::Selftest,
        probabilities: kumo_examples::cli::ProbabilityOverrides::always_deliver(),
        ..DemoOptions::default()
    })
    .await
    .unwrap();
    inject(
        &demo,
        &[
            "a@example.test",
            "b@gmail.test",
            "c@googlemail.test",
            "d@nullmx.test",
        ],
    )
    .await;
    assert!(demo.wait_idle(Duration::from_secs(30)).await);
    demo
}

async fn inject(demo: &Demo, rcpts: &[&str]) {
    let body = serde_json::to_vec(&serde_json::json!({
        "envelope_sender": "t@kumo.test",
        "content": {"from": {"email": "t@kumo.test"}, "subject": "s", "text_body": "one\ntwo\n"},
        "recipients": rcpts.iter().map(|r| serde_json::json!({"email": r})).collect::<Vec<_>>(),
    }))
    .unwrap();
    let target = Target::from_addr(demo.http_addr(), "/api/inject/v1");
    let status =
        tokio::task::spawn_blocking(move || http::post_json(&target, &body).unwrap().head.status)
            .await
            .unwrap();
    assert_eq!(status, 200);
}

async fn run(bin: PathBuf, args: Vec<String>) -> (bool, String, String) {
    tokio::task::spawn_blocking(move || {
        let out = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_summary_and_top_print_per_provider_and_per_queue_counts() {
    let (Some(summary), Some(top)) = (example("queue-summary"), example("top")) else {
        return;
    };
    let demo = demo_with_traffic().await;
    let url = format!("http://{}", demo.http_addr());

    let (ok, out, err) = run(summary, vec!["--url".into(), url.clone(), "--gzip".into()]).await;
    assert!(ok, "{err}");
    let provider = out
        .lines()
        .find(|l| l.starts_with("google.test"))
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(
        provider.split_whitespace().nth(2),
        Some("2"),
        "two deliveries through google.test: {out}"
    );
    assert!(out.lines().any(|l| l.starts_with("nullmx.test")), "{out}");
    assert!(
        out.contains("total: injected 4  delivered 3  bounced 1"),
        "{out}"
    );

    // `--limit 1`: one queue row, the first of the full listing; the totals still count all.
    let (ok, limited, err) = run(
        example("queue-summary").unwrap(),
        vec!["--url".into(), url.clone(), "--limit".into(), "1".into()],
    )
    .await;
    assert!(ok, "{err}");
    let queue_rows = |text: &str| -> Vec<String> {
        text.lines()
            .skip_while(|l| !l.starts_with("QUEUE"))
            .skip(1)
            .take_while(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(queue_rows(&limited), queue_rows(&out)[..1], "{limited}");
    assert!(
        limited.contains("total: injected 4  delivered 3  bounced 1"),
        "{limited}"
    );

    let (ok, out, err) = run(top, vec!["--url".into(), url.clone(), "--once".into()]).await;
    assert!(ok, "{err}");
    assert!(
        out.contains("5 queues") || out.contains("4 queues"),
        "{out}"
    );
    assert!(out.lines().any(|l| l.starts_with("gmail.test")), "{out}");

    // `--help` is an answer, not an unknown option.
    for tool in ["top", "queue-summary"] {
        let (ok, out, err) = run(example(tool).unwrap(), vec!["--help".into()]).await;
        assert!(ok && out.contains("--limit N"), "{tool}: {out}{err}");
    }

    // A bad URL or a dead server is an error, not a hang.
    let (ok, _, err) = run(
        example("top").unwrap(),
        vec!["--url".into(), "ftp://x".into()],
    )
    .await;
    assert!(!ok && err.contains("invalid url"), "{err}");
    demo.shutdown().await;
    let (ok, _, err) = run(example("queue-summary").unwrap(), vec!["--url".into(), url]).await;
    assert!(!ok && err.contains("cannot connect"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_only_one_prints_one_session_and_exits() {
    let Some(trace) = example("trace") else {
        return;
    };
    let demo = demo_with_traffic().await;
    let url = format!("http://{}", demo.http_addr());
    let child = tokio::spawn(run(
        trace,
        vec![
            "--url".into(),
            url,
            "--terse".into(),
            "--only-new".into(),
            "--only-one".into(),
        ],
    ));
    for _ in 0..100 {
        if child.is_finished() {
            break;
        }
        inject(&demo, &["x@example.test"]).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (ok, out, err) = tokio::time::timeout(Duration::from_secs(20), child)
        .await
        .unwrap()
        .unwrap();
    assert!(ok, "{err}");
    let keys: std::collections::BTreeSet<&str> =
        out.lines().filter_map(|l| l.split(']').next()).collect();
    assert_eq!(keys.len(), 1, "one session: {out}");
    assert!(out.contains("=== BeginSession"), "{out}");
    assert!(out.contains("=== Closed"), "{out}");
    assert!(out.contains("bytes written"), "terse data: {out}");
    demo.shutdown().await;
}
