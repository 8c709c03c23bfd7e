//! `--selftest N`: inject N recipients over HTTP, run until each message is delivered or bounced,
//! and check that every one is accounted for exactly once.

use std::fmt;
use std::time::{Duration, Instant};

use super::{Demo, DemoError, DemoOptions};
use crate::http::{self, Target};
use crate::ledger::Summary;
use crate::snapshot::Snapshot;
use crate::zones::domain_for;

/// Recipients per injection request.
const BATCH: u64 = 1000;
/// Injection requests in flight at once.
const IN_FLIGHT: usize = 2;

/// The outcome of a self test.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SelftestReport {
    /// The ledger's summary.
    pub summary: Summary,
    /// HTTP injection requests sent.
    pub requests: u64,
    /// Requests the demo pushed back (`503` or `429` with `Retry-After`: its admission limits)
    /// and the self test sent again after the wait it asked for.
    pub pushed_back: u64,
    /// Recipients the injection API refused (`fail_count`).
    pub refused: u64,
    /// Messages still in the scheduled queue at the end (must be 0).
    pub left_scheduled: u64,
    /// Message entries still in the spool at the end (must be 0: every ended message is
    /// removed).
    pub left_spooled: i64,
    /// Bytes the spool wrote (data and metadata).
    pub spool_bytes: u64,
    /// Synced group commits of the spool.
    pub spool_syncs: u64,
    /// Whether the run finished before the time limit.
    pub finished: bool,
    /// `/metrics` scraped at the end (gzip, through the streaming parser): delivered and bounced
    /// totals, which must equal the ledger's.
    pub metrics_delivered: f64,
    /// See [`SelftestReport::metrics_delivered`].
    pub metrics_bounced: f64,
    /// The 99th percentile of the scheduler's pop tardiness, in seconds, from `/metrics`.
    pub tardiness_p99: f64,
    /// Wall time from the first injection request to the last response.
    pub inject_elapsed: Duration,
}

impl SelftestReport {
    /// True when every recipient was injected and ended exactly once, and nothing is left.
    pub fn ok(&self) -> bool {
        self.finished
            && self.refused == 0
            && self.left_scheduled == 0
            && self.left_spooled == 0
            && self.summary.balanced()
            && self.metrics_delivered == self.summary.delivered as f64
            && self.metrics_bounced == self.summary.bounced as f64
    }
}

impl fmt::Display for SelftestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.summary)?;
        let secs = self.inject_elapsed.as_secs_f64();
        writeln!(
            f,
            "  http requests    {:>10}  ({:.0} recipients/s injected, {secs:.2} s)",
            self.requests,
            if secs > 0.0 {
                self.summary.injected as f64 / secs
            } else {
                0.0
            },
        )?;
        writeln!(
            f,
            "  pushed back      {:>10}  (503/429, sent again after Retry-After)",
            self.pushed_back
        )?;
        writeln!(f, "  refused at inject{:>10}", self.refused)?;
        writeln!(f, "  left scheduled   {:>10}", self.left_scheduled)?;
        writeln!(
            f,
            "  left in spool    {:>10}  ({} bytes written, {} syncs)",
            self.left_spooled, self.spool_bytes, self.spool_syncs
        )?;
        writeln!(
            f,
            "  /metrics         {:>10}  delivered, {} bounced (must match the ledger)",
            self.metrics_delivered, self.metrics_bounced
        )?;
        writeln!(
            f,
            "  pop tardiness    {:>10.3}  s at p99",
            self.tardiness_p99
        )?;
        write!(f, "selftest {}", verdict(self.ok(), self.finished))
    }
}

/// `PASSED`, `FAILED` or `FAILED (timed out)`.
pub(crate) fn verdict(ok: bool, finished: bool) -> &'static str {
    if ok {
        "PASSED"
    } else if finished {
        "FAILED"
    } else {
        "FAILED (timed out)"
    }
}

/// Recipient `i` of the self tests: `user<i>@<domain>`, the domains in turn.
pub(crate) fn recipient(i: u64) -> String {
    format!("user{i}@{}", domain_for(i).display)
}

/// The JSON of one injection request for recipients `from..to`.
pub(crate) fn batch_json(from: u64, to: u64) -> Vec<u8> {
    let recipients: Vec<serde_json::Value> = (from..to)
        .map(|i| serde_json::json!({"email": recipient(i), "name": format!("User {i}")}))
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "envelope_sender": "selftest@kumo.test",
        "content": {
            "from": {"email": "selftest@kumo.test", "name": "kumo selftest"},
            "subject": "selftest message for {{ name }}",
            "text_body": "Hello {{ name }},\nthis message was injected by the kumo demo's self test.\n",
        },
        "recipients": recipients,
    }))
    .unwrap_or_default()
}

/// Starts a demo with `opts`, injects `n` recipients over HTTP, waits (at most `timeout`) until
/// each message is delivered or bounced, stops the demo and reports.
///
/// # Errors
/// [`DemoError`] when the demo does not start or an injection request fails.
pub async fn selftest(
    opts: DemoOptions,
    n: u64,
    timeout: Duration,
) -> Result<SelftestReport, DemoError> {
    let demo = Demo::start(opts).await?;
    let result = run(&demo, n, timeout).await;
    demo.shutdown().await;
    result
}

async fn run(demo: &Demo, n: u64, timeout: Duration) -> Result<SelftestReport, DemoError> {
    let started = Instant::now();
    let target = Target::from_addr(demo.http_addr(), "/api/inject/v1");
    let mut set = tokio::task::JoinSet::new();
    let (mut requests, mut accepted, mut refused, mut pushed_back) = (0u64, 0u64, 0u64, 0u64);
    let mut next = 0;
    let mut collect = |r: Result<Injected, DemoError>| -> Result<(), DemoError> {
        let r = r?;
        accepted += r.success;
        refused += r.failed;
        pushed_back += r.pushed_back;
        Ok(())
    };
    while next < n || !set.is_empty() {
        while next < n && set.len() < IN_FLIGHT {
            let (from, to) = (next, (next + BATCH).min(n));
            next = to;
            requests += 1;
            let target = target.clone();
            set.spawn_blocking(move || inject(&target, from, to));
        }
        if let Some(joined) = set.join_next().await {
            collect(joined.unwrap_or_else(|e| {
                Err(DemoError::InjectStatus {
                    status: 0,
                    body: format!("injection task failed: {e}"),
                })
            }))?;
        }
    }
    let inject_elapsed = started.elapsed();
    let end = started + timeout;
    let mut finished = false;
    while Instant::now() < end {
        let l = demo.ledger();
        if l.injected_count() >= accepted && l.pending() == 0 {
            finished = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let left_scheduled = demo.status().scheduled;
    // Removals of ended messages run on their own thread: give the last ones a moment.
    let spool_end = Instant::now() + Duration::from_secs(10);
    while demo.status().spooled != 0 && Instant::now() < spool_end {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let left_spooled = demo.status().spooled;
    let spool = demo.spool_stats();
    let metrics = Target::from_addr(demo.http_addr(), "/metrics");
    let snap = tokio::task::spawn_blocking(move || Snapshot::fetch(&metrics, true))
        .await
        .map_err(|e| DemoError::InjectStatus {
            status: 0,
            body: format!("scrape task failed: {e}"),
        })?
        .map_err(DemoError::Scrape)?;
    let total = snap.total();
    Ok(SelftestReport {
        metrics_delivered: total.delivered,
        metrics_bounced: total.fail,
        inject_elapsed,
        tardiness_p99: snap.tardiness.as_ref().map_or(0.0, |h| h.quantile(0.99)),
        summary: demo.ledger().summary(Some(n), started.elapsed()),
        requests,
        pushed_back,
        refused,
        left_scheduled,
        left_spooled,
        spool_bytes: spool.bytes_written,
        spool_syncs: spool.syncs,
        finished,
    })
}

/// What one batch came to.
struct Injected {
    success: u64,
    failed: u64,
    /// Answers `503`/`429` before the one that counted.
    pushed_back: u64,
}

/// How many times one batch is sent again after `503`/`429` before the self test gives up.
const MAX_PUSH_BACKS: u64 = 120;

/// Sends one batch, again after the wait a `503` or `429` asks for (`Retry-After`, at most
/// 5 s; 1 s without one), as a well-behaved client of the admission limits does.
fn inject(target: &Target, from: u64, to: u64) -> Result<Injected, DemoError> {
    let json = batch_json(from, to);
    let mut pushed_back = 0;
    let resp = loop {
        let resp = http::post_json(target, &json).map_err(DemoError::Inject)?;
        if !matches!(resp.head.status, 503 | 429) || pushed_back >= MAX_PUSH_BACKS {
            break resp;
        }
        pushed_back += 1;
        let wait = resp
            .head
            .header("retry-after")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(1)
            .min(5);
        std::thread::sleep(Duration::from_secs(wait).max(Duration::from_millis(100)));
    };
    let body = resp.decoded_body().map_err(DemoError::Inject)?;
    if resp.head.status != 200 {
        return Err(DemoError::InjectStatus {
            status: resp.head.status,
            body: String::from_utf8_lossy(&body).chars().take(300).collect(),
        });
    }
    #[derive(serde::Deserialize)]
    struct Counts {
        success_count: u64,
        fail_count: u64,
    }
    let c: Counts = serde_json::from_slice(&body).map_err(|e| DemoError::InjectStatus {
        status: resp.head.status,
        body: format!(
            "unexpected response ({e}): {}",
            String::from_utf8_lossy(&body)
        ),
    })?;
    Ok(Injected {
        success: c.success_count,
        failed: c.fail_count,
        pushed_back,
    })
}
