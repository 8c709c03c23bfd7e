//! Connection limits through `serve`: per peer and global caps answered `421 4.3.2`, and a
//! flood of slow clients that does not keep a normal client from being served.
//!
//! `KUMO_SMTP_FLOOD=1` floods with 500 connections instead of 100; `KUMO_SMTP_LOAD=1` adds
//! 200 concurrent sending sessions for 30 s.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kumo_smtp::{
    ConnectionLimiter, Envelope, Handler, MailFrom, Outcome, ReceivedEnvelope, Reply, ServerConfig,
    SessionInfo, Target, TlsPolicy,
};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::support::{MX_HOST, Raw, TestServer, client, tcp};

async fn refused(server: &TestServer) {
    let mut raw = Raw::connect(server.addr).await;
    let text = String::from_utf8_lossy(&raw.seen).into_owned();
    assert!(
        text.starts_with("421 4.3.2 too many connections"),
        "{text:?}"
    );
    assert!(raw.closed().await);
}

async fn wait_active(server: &TestServer, n: usize) {
    for _ in 0..200 {
        if server.limiter.active() == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{} active, not {n}", server.limiter.active());
}

#[tokio::test]
async fn per_peer_and_global_limits_answer_421() {
    let server =
        TestServer::start(ServerConfig::new(MX_HOST), ConnectionLimiter::new(100, 2)).await;
    let a = Raw::connect(server.addr).await;
    let b = Raw::connect(server.addr).await;
    refused(&server).await;
    drop(a);
    wait_active(&server, 1).await;
    let c = Raw::connect(server.addr).await;
    assert!(String::from_utf8_lossy(&c.seen).starts_with("220 "));
    assert_eq!(server.limiter.denied(), 1);
    drop((b, c));

    let server =
        TestServer::start(ServerConfig::new(MX_HOST), ConnectionLimiter::new(3, 100)).await;
    let open: Vec<Raw> = connect_n(3, server.addr).await;
    refused(&server).await;
    refused(&server).await;
    assert_eq!(server.limiter.denied(), 2);
    drop(open);
    wait_active(&server, 0).await;
}

async fn connect_n(n: usize, addr: std::net::SocketAddr) -> Vec<Raw> {
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(Raw::connect(addr).await);
    }
    v
}

/// Opens `n` connections that each send a byte every 100 ms and never finish a command.
async fn flood(addr: std::net::SocketAddr, n: usize) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        tasks.push(tokio::spawn(async move {
            loop {
                if stream.write_all(b"x").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }));
    }
    tasks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_flood_does_not_stop_a_normal_client() {
    let n = if std::env::var_os("KUMO_SMTP_FLOOD").is_some() {
        500
    } else {
        100
    };
    let server = TestServer::start(
        ServerConfig::new(MX_HOST),
        ConnectionLimiter::new(10_000, 10_000),
    )
    .await;
    let flood = flood(server.addr, n).await;
    wait_active(&server, n).await;

    let started = Instant::now();
    let client = client(TlsPolicy::Disabled);
    let target = Target::new(MX_HOST, server.addr);
    let (mut conn, _) = client
        .connect(std::slice::from_ref(&target), tcp)
        .await
        .expect("connect");
    let delivery = conn
        .send(&Envelope::new("a@x", ["b@y"]), b"Subject: x\r\n\r\nhi\r\n")
        .await;
    let elapsed = started.elapsed();
    assert_eq!(delivery.outcome, Outcome::Delivered);
    assert!(
        elapsed < Duration::from_secs(1),
        "served in {elapsed:?} under a flood of {n}"
    );
    conn.quit().await;
    for task in flood {
        task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn load_200_sessions_for_30_s() {
    if std::env::var_os("KUMO_SMTP_LOAD").is_none() {
        return;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let counter = Arc::new(Counter::default());
    let server = tokio::spawn(kumo_smtp::serve(
        listener,
        Arc::new(ServerConfig::new(MX_HOST)),
        counter.clone(),
        ConnectionLimiter::new(10_000, 10_000),
        |io, _, _| io,
    ));
    let until = Instant::now() + Duration::from_secs(30);
    // Memory: the resident set is sampled through the run; it must stay within a bound that
    // does not grow with the messages sent (200 sessions' buffers and a 10 KB message each).
    let rss_at_start = resident_bytes();
    let sampler = tokio::spawn(async move {
        let mut peak = 0;
        while Instant::now() < until {
            peak = peak.max(resident_bytes());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        peak
    });
    let body = [
        b"Subject: load\r\n\r\n".to_vec(),
        b"0123456789\r\n".repeat(850),
    ]
    .concat();
    let body = std::sync::Arc::new(body);
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let target = Target::new(MX_HOST, addr);
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let mut sent = 0usize;
            let client = client(TlsPolicy::Disabled);
            while Instant::now() < until {
                let (mut conn, _) = client
                    .connect(std::slice::from_ref(&target), tcp)
                    .await
                    .expect("connect");
                while conn.can_send() && Instant::now() < until {
                    let d = conn.send(&Envelope::new("a@x", ["b@y"]), &body).await;
                    assert_eq!(d.outcome, Outcome::Delivered, "{d:?}");
                    sent += 1;
                }
                conn.quit().await;
            }
            sent
        }));
    }
    let mut sent = 0;
    for task in tasks {
        sent += task.await.expect("sender");
    }
    server.abort();
    let received = counter.messages.load(Ordering::Relaxed);
    assert_eq!(received, sent, "nothing lost");
    assert_eq!(counter.bytes.load(Ordering::Relaxed), sent * body.len());
    let peak = sampler.await.expect("sampler");
    let growth = peak.saturating_sub(rss_at_start);
    assert!(
        growth < 128 << 20,
        "resident memory grew by {growth} bytes over {sent} messages"
    );
}

/// The process's resident set size, from `/proc/self/statm` (Linux), in bytes.
fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Counts messages and bytes, keeps nothing: the load test's memory stays flat.
#[derive(Debug, Default)]
struct Counter {
    messages: AtomicUsize,
    bytes: AtomicUsize,
}

impl Handler for Counter {
    async fn rcpt_to(&self, _: &SessionInfo, _: &MailFrom, _: &str) -> Reply {
        Reply::new(250, Some((2, 1, 5)), "ok")
    }

    async fn message(&self, _: &SessionInfo, _: &ReceivedEnvelope, data: Vec<u8>) -> Reply {
        self.messages.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(data.len(), Ordering::Relaxed);
        Reply::new(250, Some((2, 0, 0)), "queued")
    }
}
