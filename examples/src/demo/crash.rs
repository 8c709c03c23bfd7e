//! `--selftest-crash N`: the durability proof. A child demo (this same program) takes
//! injections with many temporary failures, over HTTP and over its ESMTP listener; it is killed
//! with `SIGKILL` mid-run (while an SMTP session is sending), started again on the same spool,
//! given the rest of the injections, and run until its spool is empty. Then
//! the delivery journals of both runs are read: every recipient acknowledged without
//! `deferred_spool` must have ended (delivered or bounced) exactly once, and no recipient may
//! have ended twice. What happened to the `deferred_spool` recipients is reported: those that
//! were still in memory when the process died are lost, which is what that option trades.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::journal;
use super::web::Status;
use super::{
    DemoError,
    selftest::{batch_json, recipient},
};
use crate::http::{self, Target};
use kumo_smtp::{Client, ClientConfig, Envelope, Io, Outcome, Target as SmtpTarget, TlsPolicy};

/// Recipients per injection request.
const BATCH: u64 = 500;
/// Of every four requests, one sets `deferred_spool`, one `deferred_generation` and one is sent
/// over SMTP instead of HTTP.
const KINDS: u64 = 4;
/// Recipients per message sent over SMTP.
const SMTP_RCPTS: u64 = 10;

/// How a request asks to be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Plain,
    DeferredSpool,
    DeferredGeneration,
    /// Sent to the ESMTP listener, one message per [`SMTP_RCPTS`] recipients.
    Smtp,
}

/// The outcome of a crash self test.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct CrashReport {
    /// Recipients the test tried to inject.
    pub requested: u64,
    /// Acknowledged (HTTP 200, no per-recipient failure) without `deferred_spool`, including
    /// `deferred_generation` requests (acknowledged once their job was stored).
    pub acked_durable: u64,
    /// Of [`acked_durable`](Self::acked_durable), recipients whose message the ESMTP listener
    /// answered `250`.
    pub acked_smtp: u64,
    /// Acknowledged with `deferred_spool`.
    pub acked_deferred: u64,
    /// Acknowledged when the first process was killed.
    pub acked_at_kill: u64,
    /// Durable recipients that ended exactly once.
    pub durable_ended_once: u64,
    /// Durable recipients that never ended: lost. Must be 0.
    pub durable_lost: u64,
    /// `deferred_spool` recipients that ended (exactly once).
    pub deferred_ended: u64,
    /// `deferred_spool` recipients that never ended (in memory when the process died).
    pub deferred_lost: u64,
    /// Recipients whose request got no answer (it was in flight at the kill) that ended anyway.
    pub unacked_ended: u64,
    /// Recipients that ended more than once. Must be 0.
    pub ended_twice: u64,
    /// Messages the second process recovered from the spool.
    pub recovered: u64,
    /// `deferred_generation` jobs the second process found and resumed.
    pub jobs_resumed: u64,
    /// How long its recovery took.
    pub recovery_seconds: f64,
    /// Whether the second process emptied its spool before the time limit.
    pub finished: bool,
    /// Wall time of the whole test.
    pub elapsed: Duration,
}

impl CrashReport {
    /// True when every durable acknowledgement ended exactly once and nothing ended twice.
    pub fn ok(&self) -> bool {
        self.finished
            && self.acked_durable > 0
            && self.acked_smtp > 0
            && self.durable_lost == 0
            && self.ended_twice == 0
            && self.durable_ended_once == self.acked_durable
    }
}

impl fmt::Display for CrashReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "crash selftest summary")?;
        let rows: [(&str, String); 15] = [
            ("requested", self.requested.to_string()),
            ("acked at kill -9", self.acked_at_kill.to_string()),
            ("acked (spooled)", self.acked_durable.to_string()),
            ("  of which SMTP", self.acked_smtp.to_string()),
            ("  ended once", self.durable_ended_once.to_string()),
            ("  lost", self.durable_lost.to_string()),
            ("acked (deferred)", self.acked_deferred.to_string()),
            ("  ended once", self.deferred_ended.to_string()),
            (
                "  lost",
                format!(
                    "{}  (in memory at the kill: deferred_spool's trade)",
                    self.deferred_lost
                ),
            ),
            ("unacked, ended", self.unacked_ended.to_string()),
            ("ended twice", self.ended_twice.to_string()),
            ("recovered", self.recovered.to_string()),
            ("jobs resumed", self.jobs_resumed.to_string()),
            ("recovery", format!("{:.3} s", self.recovery_seconds)),
            ("elapsed", format!("{:.2} s", self.elapsed.as_secs_f64())),
        ];
        for (k, v) in rows {
            writeln!(f, "  {k:<18}{v:>8}")?;
        }
        write!(
            f,
            "crash selftest {}",
            super::selftest::verdict(self.ok(), self.finished)
        )
    }
}

/// A child demo, killed when dropped.
struct ChildDemo {
    child: Child,
    status: Target,
    inject: Target,
    smtp: SocketAddr,
}

impl Drop for ChildDemo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn failed(body: String) -> DemoError {
    DemoError::InjectStatus { status: 0, body }
}

fn free_port() -> Result<SocketAddr, DemoError> {
    let l = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| failed(format!("no free port on loopback: {e}")))?;
    l.local_addr()
        .map_err(|e| failed(format!("no free port on loopback: {e}")))
}

fn spawn(exe: &Path, spool: &Path, backend: &str) -> Result<ChildDemo, DemoError> {
    let addr = free_port()?;
    let smtp = free_port()?;
    let mut child = Command::new(exe)
        .args(["--fast", "--seed", "7", "--listen", &addr.to_string()])
        .args(["--smtp-listen", &smtp.to_string()])
        .args(["--success", "1", "--transient", "1", "--permanent", "0.1"])
        .arg("--spool")
        .arg(spool)
        .args(["--spool-backend", backend])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| failed(format!("cannot start {}: {e}", exe.display())))?;
    // Drain the child's output so that it never blocks on a full pipe.
    if let Some(out) = child.stdout.take() {
        std::thread::spawn(move || for _ in BufReader::new(out).lines() {});
    }
    let demo = ChildDemo {
        child,
        status: Target::from_addr(addr, "/api/status"),
        inject: Target::from_addr(addr, "/api/inject/v1"),
        smtp,
    };
    let end = Instant::now() + Duration::from_secs(60);
    while Instant::now() < end {
        if status(&demo).is_ok() {
            return Ok(demo);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(failed(
        "the child demo did not start listening within 60 s".into(),
    ))
}

fn status(demo: &ChildDemo) -> Result<Status, DemoError> {
    let resp = http::get(&demo.status, &[]).map_err(DemoError::Inject)?;
    let body = resp.decoded_body().map_err(DemoError::Inject)?;
    serde_json::from_slice(&body).map_err(|e| failed(format!("bad /api/status: {e}")))
}

/// Injects recipients `from..to`; returns the indices acknowledged.
fn inject(demo: &ChildDemo, from: u64, to: u64, kind: Kind) -> Vec<u64> {
    if kind == Kind::Smtp {
        let mut acked = Vec::new();
        send_smtp(demo.smtp, from, to, SMTP_RCPTS, |i| acked.push(i));
        return acked;
    }
    let mut json: serde_json::Value =
        serde_json::from_slice(&batch_json(from, to)).unwrap_or_default();
    json["deferred_spool"] = serde_json::Value::Bool(kind == Kind::DeferredSpool);
    json["deferred_generation"] = serde_json::Value::Bool(kind == Kind::DeferredGeneration);
    let body = serde_json::to_vec(&json).unwrap_or_default();
    let Ok(resp) = http::post_json(&demo.inject, &body) else {
        return Vec::new();
    };
    if resp.head.status != 200 {
        return Vec::new();
    }
    #[derive(serde::Deserialize)]
    struct Answer {
        failed_recipients: Vec<String>,
    }
    let Some(answer) = resp
        .decoded_body()
        .ok()
        .and_then(|b| serde_json::from_slice::<Answer>(&b).ok())
    else {
        return Vec::new();
    };
    (from..to)
        .filter(|i| {
            !answer
                .failed_recipients
                .iter()
                .any(|r| index_of(r) == Some(*i))
        })
        .collect()
}

/// Sends recipients `from..to` to the ESMTP listener at `addr` on one plaintext connection
/// (pipelined when offered), `per_message` recipients per message, and calls `acked` with the
/// index of each recipient of a message answered `250`. Stops at the first failure: a refused
/// connection, or one that dies under the `SIGKILL`.
fn send_smtp(addr: SocketAddr, from: u64, to: u64, per_message: u64, mut acked: impl FnMut(u64)) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    rt.block_on(async {
        let config = ClientConfig::default()
            .ehlo_name("crash-selftest.kumo.test")
            .tls(TlsPolicy::Disabled)
            .max_messages_per_connection(usize::MAX);
        let Ok(client) = Client::new(config) else {
            return;
        };
        let target = SmtpTarget::new("crash-selftest", addr);
        let open = |t: &SmtpTarget| {
            let addr = t.addr;
            async move { Ok(Io::new(tokio::net::TcpStream::connect(addr).await?)) }
        };
        let Ok((mut conn, _)) = client.connect(&[target], open).await else {
            return;
        };
        let mut start = from;
        while start < to {
            let end = (start + per_message.max(1)).min(to);
            let recipients: Vec<String> = (start..end).map(recipient).collect();
            let data = format!(
                "From: kumo selftest <selftest@kumo.test>\r\n\
                 To: {}\r\n\
                 Subject: crash selftest over SMTP, recipients {start}..{end}\r\n\
                 \r\n\
                 This message reached the demo through its ESMTP listener.\r\n",
                recipients[0]
            );
            let envelope = Envelope::new("selftest@kumo.test", recipients);
            let delivery = conn.send(&envelope, data.as_bytes()).await;
            if !delivery.is_delivered() {
                return;
            }
            delivery
                .recipients
                .iter()
                .filter(|r| r.outcome == Outcome::Delivered)
                .filter_map(|r| index_of(&r.recipient))
                .for_each(&mut acked);
            start = end;
        }
        conn.quit().await;
    });
}

/// Starts an SMTP session in a thread that sends recipients `from..to` one message each, and
/// returns once it has had two messages answered `250` (or ended, or 10 s passed). The thread
/// ends when the connection dies; the vector holds every index answered `250`.
fn sending_session(
    addr: SocketAddr,
    from: u64,
    to: u64,
) -> (std::thread::JoinHandle<()>, Arc<Mutex<Vec<u64>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    let session = std::thread::spawn(move || {
        send_smtp(addr, from, to, 1, |i| {
            if let Ok(mut v) = sink.lock() {
                v.push(i);
            }
        });
    });
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end && !session.is_finished() && got.lock().map_or(0, |v| v.len()) < 2 {
        std::thread::sleep(Duration::from_millis(1));
    }
    (session, got)
}

/// `user123@domain` -> 123.
fn index_of(recipient: &str) -> Option<u64> {
    recipient
        .strip_prefix("user")?
        .split('@')
        .next()?
        .parse()
        .ok()
}

/// Runs the crash self test: `exe` is this program (it is started twice as a child), `n` the
/// recipients, `backend` the spool backend (`database` or `files`).
///
/// # Errors
/// [`DemoError`] when a child cannot be started or queried.
pub fn crash_selftest(
    exe: &Path,
    n: u64,
    backend: &str,
    timeout: Duration,
) -> Result<CrashReport, DemoError> {
    let started = Instant::now();
    let temp = tempfile::Builder::new()
        .prefix("kumo-crash-spool-")
        .tempdir()
        .map_err(|e| failed(format!("cannot create a spool folder: {e}")))?;
    let spool: PathBuf = temp.path().join("spool");
    let mut acked: HashMap<u64, bool> = HashMap::new();
    let mut smtp_acked: HashSet<u64> = HashSet::new();
    let mut report = CrashReport {
        requested: n,
        ..CrashReport::default()
    };
    let batches: Vec<(u64, u64, Kind)> = (0..n.div_ceil(BATCH))
        .map(|k| {
            let from = k * BATCH;
            let kind = match k % KINDS {
                1 => Kind::DeferredGeneration,
                2 => Kind::Smtp,
                3 => Kind::DeferredSpool,
                _ => Kind::Plain,
            };
            (from, (from + BATCH).min(n), kind)
        })
        .collect();
    // The first process takes about half the requests and dies right after answering a
    // `deferred_generation` one, while that job is being generated.
    let mut kill_after = batches.len().div_ceil(2).max(1);
    while kill_after < batches.len() && batches[kill_after - 1].2 != Kind::DeferredGeneration {
        kill_after += 1;
    }

    let first = spawn(exe, &spool, backend)?;
    let mut resume_from = kill_after;
    let mut smtp_session = None;
    for (k, &(from, to, kind)) in batches[..kill_after].iter().enumerate() {
        if k + 1 == kill_after {
            // Let deliveries and retries get under way, so that the kill lands among them.
            std::thread::sleep(Duration::from_millis(150));
            // The batch after this last one goes over SMTP, one message per recipient, and
            // the kill lands while its session is sending: some of its messages were answered
            // `250` just before the process died.
            if let Some(&(from, to, Kind::Smtp)) = batches.get(kill_after) {
                smtp_session = Some(sending_session(first.smtp, from, to));
                resume_from += 1;
            }
        }
        for i in inject(&first, from, to, kind) {
            acked.insert(i, kind == Kind::DeferredSpool);
            if kind == Kind::Smtp {
                smtp_acked.insert(i);
            }
        }
    }
    drop(first);
    if let Some((session, got)) = smtp_session {
        // The session ends on the dead connection; what it saw answered `250` is acknowledged.
        let _ = session.join();
        for &i in got.lock().map(|v| v.clone()).unwrap_or_default().iter() {
            acked.insert(i, false);
            smtp_acked.insert(i);
        }
    }
    report.acked_at_kill = acked.len() as u64;

    let second = spawn(exe, &spool, backend)?;
    let s = status(&second)?;
    report.recovered = s.recovered;
    report.recovery_seconds = s.recovery_seconds;
    report.jobs_resumed = s.recovered_jobs;
    for &(from, to, kind) in &batches[resume_from..] {
        for i in inject(&second, from, to, kind) {
            acked.insert(i, kind == Kind::DeferredSpool);
            if kind == Kind::Smtp {
                smtp_acked.insert(i);
            }
        }
    }
    let end = started + timeout;
    while Instant::now() < end {
        let s = status(&second)?;
        if s.pending == 0 && s.spooled == 0 && s.jobs == 0 {
            report.finished = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(second);

    let mut ended: HashMap<u64, u32> = HashMap::new();
    let jdir = spool.join("journal");
    let files = journal::files(&jdir)
        .map_err(|e| failed(format!("cannot list {}: {e}", jdir.display())))?;
    for f in files {
        journal::read(&f, |e| {
            if let Some(i) = index_of(&e.recipient) {
                *ended.entry(i).or_default() += 1;
            }
        })
        .map_err(|e| failed(format!("cannot read {}: {e}", f.display())))?;
    }
    for i in 0..n {
        let times = ended.get(&i).copied().unwrap_or(0);
        if times > 1 {
            report.ended_twice += 1;
        }
        match acked.get(&i) {
            Some(false) => {
                report.acked_durable += 1;
                report.acked_smtp += u64::from(smtp_acked.contains(&i));
                match times {
                    0 => report.durable_lost += 1,
                    1 => report.durable_ended_once += 1,
                    _ => {}
                }
            }
            Some(true) => {
                report.acked_deferred += 1;
                match times {
                    0 => report.deferred_lost += 1,
                    1 => report.deferred_ended += 1,
                    _ => {}
                }
            }
            None => report.unacked_ended += u64::from(times > 0),
        }
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipient_indices() {
        assert_eq!(index_of("user17@gmail.test"), Some(17));
        assert_eq!(index_of("someone@gmail.test"), None);
    }
}
