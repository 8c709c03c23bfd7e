//! The demo MTA's HTTP listener, measured for `compare http`: what authentication and TLS cost
//! injection.
//!
//! - `inject_plain_req_per_s`: `POST /api/inject/v1` requests per second against a demo whose
//!   listener is plain HTTP and whose `[http.auth]` trusts loopback (no credential is checked).
//! - `inject_tls_auth_req_per_s`: the same against a demo serving HTTPS (rustls on ring, a
//!   certificate made for the run) whose `[http.auth]` trusts nobody, so that every request's
//!   bearer token is hashed and compared.
//! - `tls_auth_vs_plain_ratio`: the second over the first (goal at least 0.8).
//!
//! Both demos run side by side in one process on one runtime of their own (2 worker threads),
//! with the self test's profile (every delivery succeeds at once, simulated). The client is
//! hyper's HTTP/1.1 client on a second runtime (1 worker thread): [`CONNECTIONS`] kept-alive
//! connections, each sending its share of N requests one after the other; the TLS side wraps
//! the same TCP connections in tokio-rustls. Every request is the same bytes on both sides,
//! `Authorization` header included (the plain demo ignores it): a one-recipient batch with
//! `deferred_spool`, so that the request is not held by the spool's disk sync and the HTTP
//! layer is the largest share of the work. Each round checks that every answer is `200` with
//! one message accepted, then waits (untimed) until the demo delivered everything, so that one
//! side's deliveries do not run in the other's round. After a warm-up round of each, [`ROUNDS`]
//! rounds alternate; the best of each side counts. The connections (and the TLS handshakes)
//! are opened before a round's clock starts: the figures are of requests on open connections.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use kumo_examples::cli::{HttpTls, ProbabilityOverrides};
use kumo_examples::demo::{Demo, DemoOptions};
use kumo_examples::settings::{Profile, write_defaults};
use kumo_smtp::rustls;
use tokio::runtime::Runtime;

use crate::{Better, CountingAlloc, Options, Reporter};

/// Requests per side and round unless `--n` says otherwise.
const DEFAULT_REQUESTS: u64 = 20_000;
/// Kept-alive connections at once.
pub const CONNECTIONS: usize = 8;
/// Timed rounds per side.
pub const ROUNDS: usize = 5;
/// The bearer token of the secured demo.
const TOKEN: &str = "kumo-bench-token-6f0c9a1e52d4b7c3";

/// One demo and how to reach it.
struct Side {
    demo: Demo,
    tls: Option<tokio_rustls::TlsConnector>,
    _config: tempfile::TempDir,
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A certificate for `localhost` made for the run, as PEM files in `dir`, and a client
/// configuration that trusts it.
fn certificate(dir: &std::path::Path) -> (HttpTls, Arc<rustls::ClientConfig>) {
    let made =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("a certificate");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).expect("writing the certificate");
    std::fs::write(&key, made.signing_key.serialize_pem()).expect("writing the key");
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(made.cert.der().clone())
        .expect("the certificate as a root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    (HttpTls::Files { cert, key }, Arc::new(client))
}

async fn start(secured: bool) -> Side {
    let config = tempfile::tempdir().expect("a config folder");
    write_defaults(config.path(), Profile::Selftest).expect("the default config");
    let (tls, connector) = if secured {
        let (tls, client) = certificate(config.path());
        (Some(tls), Some(tokio_rustls::TlsConnector::from(client)))
    } else {
        (None, None)
    };
    let auth = if secured {
        format!(
            "[http.auth]\ntrusted = []\n[[http.auth.tokens]]\nname = \"bench\"\nsha256 = \"{}\"\n",
            sha256_hex(TOKEN)
        )
    } else {
        "[http.auth]\ntrusted = [\"127.0.0.0/8\"]\n".to_owned()
    };
    std::fs::write(config.path().join("http.toml"), auth).expect("http.toml");
    let demo = Demo::start(DemoOptions {
        config: Some(config.path().to_owned()),
        profile: Profile::Selftest,
        probabilities: ProbabilityOverrides::always_deliver(),
        tls,
        ..DemoOptions::default()
    })
    .await
    .expect("the demo starts");
    Side {
        demo,
        tls: connector,
        _config: config,
    }
}

fn request_body() -> Bytes {
    Bytes::from(
        serde_json::to_vec(&serde_json::json!({
            "envelope_sender": "bench@kumo.test",
            "deferred_spool": true,
            "content": {"from": {"email": "bench@kumo.test", "name": "kumo bench"},
                        "subject": "Hello {{ name }}",
                        "text_body": "Dear {{ name }},\nthis is one message of the HTTP benchmark.\n"},
            "recipients": [{"email": "someone@example.test", "name": "Someone"}],
        }))
        .expect("JSON"),
    )
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// Opens one kept-alive connection (TLS when the side has it), its driver spawned.
async fn connect(
    side_addr: std::net::SocketAddr,
    tls: Option<&tokio_rustls::TlsConnector>,
) -> Sender {
    let tcp = tokio::net::TcpStream::connect(side_addr)
        .await
        .expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    match tls {
        None => {
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                .await
                .expect("HTTP handshake");
            tokio::spawn(conn);
            sender
        }
        Some(connector) => {
            let name = rustls::pki_types::ServerName::try_from("localhost").expect("a name");
            let stream = connector.connect(name, tcp).await.expect("TLS handshake");
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .expect("HTTP handshake");
            tokio::spawn(conn);
            sender
        }
    }
}

/// Sends `n` requests over [`CONNECTIONS`] connections; the time from the first request to
/// the last answer (connections opened before).
fn round(rt: &Runtime, side: &Side, n: u64, body: &Bytes) -> Duration {
    let addr = side.demo.http_addr();
    let senders: Vec<Sender> = rt.block_on(async {
        let mut v = Vec::new();
        for _ in 0..CONNECTIONS {
            v.push(connect(addr, side.tls.as_ref()).await);
        }
        v
    });
    let per = n / CONNECTIONS as u64;
    let extra = n % CONNECTIONS as u64;
    let started = Instant::now();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for (i, mut sender) in senders.into_iter().enumerate() {
            let count = per + u64::from((i as u64) < extra);
            let body = body.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..count {
                    let req = hyper::Request::post("/api/inject/v1")
                        .header("host", "localhost")
                        .header("content-type", "application/json")
                        .header("authorization", format!("Bearer {TOKEN}"))
                        .body(Full::new(body.clone()))
                        .expect("a request");
                    sender.ready().await.expect("connection ready");
                    let resp = sender.send_request(req).await.expect("an answer");
                    let status = resp.status();
                    let bytes = resp
                        .into_body()
                        .collect()
                        .await
                        .expect("the body")
                        .to_bytes();
                    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
                    let v: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
                    assert_eq!(v["success_count"], 1, "{v}");
                }
            }));
        }
        for t in tasks {
            t.await.expect("a client task");
        }
    });
    started.elapsed()
}

/// Runs the workload and reports its three figures.
pub fn run(opts: &Options, _alloc: &CountingAlloc, r: &mut Reporter) {
    let n = opts.n.unwrap_or(DEFAULT_REQUESTS).max(CONNECTIONS as u64);
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("demo")
        .enable_all()
        .build()
        .expect("the demo runtime");
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("http-client")
        .enable_all()
        .build()
        .expect("the client runtime");
    let (plain, secured) = server_rt.block_on(async { (start(false).await, start(true).await) });
    let body = request_body();
    let settle = |side: &Side| {
        assert!(
            server_rt.block_on(side.demo.wait_idle(Duration::from_secs(120))),
            "the demo did not deliver every message"
        );
    };
    let warm = (n / 10).max(CONNECTIONS as u64);
    for side in [&plain, &secured] {
        round(&client_rt, side, warm, &body);
        settle(side);
    }
    let (mut best_plain, mut best_secured) = (Duration::MAX, Duration::MAX);
    for _ in 0..ROUNDS {
        best_plain = best_plain.min(round(&client_rt, &plain, n, &body));
        settle(&plain);
        best_secured = best_secured.min(round(&client_rt, &secured, n, &body));
        settle(&secured);
    }
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    r.solo(
        "inject_plain_req_per_s",
        n,
        rate(best_plain),
        Better::Higher,
    );
    r.solo(
        "inject_tls_auth_req_per_s",
        n,
        rate(best_secured),
        Better::Higher,
    );
    r.solo(
        "tls_auth_vs_plain_ratio",
        n,
        rate(best_secured) / rate(best_plain),
        Better::Higher,
    );
    server_rt.block_on(async {
        plain.demo.shutdown().await;
        secured.demo.shutdown().await;
    });
}
