//! The HTTP listener under attack (issue #19): a flood of idle and slow connections, a body
//! that never comes, per-peer caps, authentication from an untrusted address, and TLS, with
//! raw TCP for the attacks and Python's `http.client`/`ssl` as the real client for the rest.
//!
//! The untrusted peer is 127.0.0.2: still loopback, but outside the tests' `trusted` list of
//! 127.0.0.1/32.

use std::path::Path;
use std::time::{Duration, Instant};

use kumo_examples::cli::HttpTls;
use kumo_examples::demo::{Demo, DemoError, DemoOptions};
use kumo_examples::settings::{Profile, write_defaults};
use sha2::Digest as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Starts a demo whose `http.toml` is `http_toml`.
async fn start_with(dir: &Path, http_toml: &str, tls: Option<HttpTls>) -> Demo {
    write_defaults(dir, Profile::Selftest).unwrap();
    super::set_weights(dir, 1.0, 0.0, 0.0);
    std::fs::write(dir.join("http.toml"), http_toml).unwrap();
    Demo::start(DemoOptions {
        config: Some(dir.to_owned()),
        profile: Profile::Selftest,
        tls,
        config_scan: Duration::from_millis(100),
        ..DemoOptions::default()
    })
    .await
    .unwrap()
}

/// A TCP connection to `demo` from the loopback address `from`.
async fn connect_from(demo: &Demo, from: [u8; 4]) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind((from, 0).into()).unwrap();
    socket.connect(demo.http_addr()).await.unwrap()
}

/// Reads one response with a `Content-Length` body: its status and body.
async fn read_response(s: &mut TcpStream) -> (u16, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if buf.len() >= end + 4 + len {
                let status = head[9..12].parse().unwrap();
                let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned();
                return (status, body);
            }
        }
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed before a whole response: {buf:?}");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Whether the server closed `s` within `within` (end of file or reset; anything it still
/// sends first, such as a `408`, is skipped).
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let end = tokio::time::Instant::now() + within;
    let mut chunk = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(end, s.read(&mut chunk)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

const FLOOD_HTTP: &str = "[http]\n\
    header_timeout = 2.0\n\
    idle_timeout = 2.0\n\
    body_timeout = 1.0\n\
    max_connections = 256\n\
    max_connections_per_peer = 10000\n\
    [http.auth]\n\
    trusted = [\"127.0.0.0/8\"]\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_idle_and_slow_connections_leaves_room_and_is_closed_by_the_timeouts() {
    let dir = tempfile::tempdir().unwrap();
    let demo = start_with(dir.path(), FLOOD_HTTP, None).await;
    assert_eq!(demo.http_info().limits.max_connections, 256);

    // 100 kept-alive connections that answered one request and stay idle.
    let mut idle = Vec::new();
    for _ in 0..100 {
        let mut s = connect_from(&demo, [127, 0, 0, 1]).await;
        s.write_all(b"GET / HTTP/1.1\r\nhost: kumo\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(read_response(&mut s).await.0, 200);
        idle.push(s);
    }
    // 100 silent ones, 60 that send half a head, 60 that send half a body: 320 > 256.
    let mut silent = Vec::new();
    for _ in 0..100 {
        silent.push(connect_from(&demo, [127, 0, 0, 1]).await);
    }
    let mut slow_head = Vec::new();
    for _ in 0..60 {
        let mut s = connect_from(&demo, [127, 0, 0, 1]).await;
        s.write_all(b"GET /api/status HTTP/1.1\r\nhost: ku")
            .await
            .unwrap();
        slow_head.push(s);
    }
    let mut slow_body = Vec::new();
    for _ in 0..60 {
        let mut s = connect_from(&demo, [127, 0, 0, 1]).await;
        s.write_all(
            b"POST /api/inject/v1 HTTP/1.1\r\nhost: kumo\r\ncontent-type: application/json\r\n\
              content-length: 1000\r\n\r\n{\"envelope",
        )
        .await
        .unwrap();
        slow_body.push(s);
    }

    // A normal client gets its answer at once.
    let t = Instant::now();
    let status = super::get(&demo, "/api/status", &[]).await;
    assert_eq!(status.head.status, 200);
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "/api/status took {:?} under the flood",
        t.elapsed()
    );
    let info = demo.http_info();
    assert!(
        info.open_connections() <= 256,
        "{}",
        info.open_connections()
    );
    assert!(
        info.counters
            .shed
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 320 - 256,
        "the longest-waiting connections made room"
    );

    // Every attacking connection is closed by a timeout (or was shed), within the timeouts
    // and some slack.
    let within = Duration::from_secs(5);
    for (what, conns) in [
        ("idle", &mut idle),
        ("silent", &mut silent),
        ("slow head", &mut slow_head),
        ("slow body", &mut slow_body),
    ] {
        for (i, s) in conns.iter_mut().enumerate() {
            assert!(
                closed_within(s, within).await,
                "{what} connection {i} still open"
            );
        }
    }
    let c = &info.counters;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        load(&c.header_timeouts) > 0,
        "silent and slow heads time out"
    );
    assert!(load(&c.body_timeouts) > 0, "slow bodies time out");
    // The server is still well.
    assert_eq!(super::get(&demo, "/api/http", &[]).await.head.status, 200);
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_alive_connection_is_closed_after_the_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let http = "[http]\nheader_timeout = 5.0\nidle_timeout = 1.0\n";
    let demo = start_with(dir.path(), http, None).await;
    let mut s = connect_from(&demo, [127, 0, 0, 1]).await;
    s.write_all(b"GET / HTTP/1.1\r\nhost: kumo\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_response(&mut s).await.0, 200);
    // Kept alive: a second request on the same connection is answered.
    s.write_all(b"GET / HTTP/1.1\r\nhost: kumo\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_response(&mut s).await.0, 200);
    let t = Instant::now();
    assert!(closed_within(&mut s, Duration::from_secs(4)).await);
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "closed by the idle timeout (1 s), not the head timeout (5 s)"
    );
    let idle = demo
        .http_info()
        .counters
        .idle_timeouts
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(idle, 1);
    demo.shutdown().await;
}

/// A client that asks for a stream and reads nothing: once the kernel's buffers are full the
/// response makes no progress, and the connection is closed after `write_timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_that_makes_no_progress_is_closed_after_the_write_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let demo = start_with(dir.path(), "[http]\nwrite_timeout = 1.0\n", None).await;
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut s = socket.connect(demo.http_addr()).await.unwrap();
    s.write_all(b"GET /api/trace/v1 HTTP/1.1\r\nhost: kumo\r\n\r\n")
        .await
        .unwrap();
    let count = || {
        let c = &demo.http_info().counters;
        c.write_timeouts.load(std::sync::atomic::Ordering::Relaxed)
    };
    // Deliveries make trace events until the stream's socket is full; then nothing moves.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut next = 0;
    while count() == 0 {
        assert!(
            Instant::now() < deadline,
            "a blocked response was never closed"
        );
        let rcpts = (next..next + 500)
            .map(|i| format!("w{i}@example.test"))
            .collect();
        next += 500;
        super::inject(&demo, rcpts).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(count(), 1);
    // The other connections are not touched: the demo still answers.
    let mut other = TcpStream::connect(demo.http_addr()).await.unwrap();
    other
        .write_all(b"GET / HTTP/1.1\r\nhost: kumo\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_response(&mut other).await.0, 200);
    drop(s);
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_over_its_cap_gets_503_and_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let http = "[http]\nmax_connections_per_peer = 4\n[http.auth]\ntrusted = [\"127.0.0.0/8\"]\n";
    let demo = start_with(dir.path(), http, None).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(connect_from(&demo, [127, 0, 0, 2]).await);
    }
    let mut fifth = connect_from(&demo, [127, 0, 0, 2]).await;
    let (status, body) = read_response(&mut fifth).await;
    assert_eq!(status, 503);
    assert!(body.contains("from your address"), "{body}");
    // Another address is not held back.
    let mut other = connect_from(&demo, [127, 0, 0, 3]).await;
    other
        .write_all(b"GET /api/status HTTP/1.1\r\nhost: kumo\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_response(&mut other).await.0, 200);
    // A place freed is a place again.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut s = connect_from(&demo, [127, 0, 0, 2]).await;
        s.write_all(b"GET / HTTP/1.1\r\nhost: kumo\r\n\r\n")
            .await
            .unwrap();
        if read_response(&mut s).await.0 == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the freed place never came back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_content_length_is_refused_at_once_and_an_endless_body_in_time() {
    let dir = tempfile::tempdir().unwrap();
    let http = "[http]\nbody_timeout = 1.0\nbody_min_rate = 4096\n";
    let demo = start_with(dir.path(), http, None).await;

    // 100 GB announced, nothing sent: 413 before anything is read.
    let mut s = connect_from(&demo, [127, 0, 0, 1]).await;
    let t = Instant::now();
    s.write_all(
        b"POST /api/inject/v1 HTTP/1.1\r\nhost: kumo\r\ncontent-type: application/json\r\n\
          content-length: 99999999999\r\n\r\n",
    )
    .await
    .unwrap();
    let (status, _) = read_response(&mut s).await;
    let took = t.elapsed();
    assert_eq!(status, 413);
    assert!(took < Duration::from_millis(100), "413 took {took:?}");
    // The same for another route, over its own (64 KiB) limit.
    let mut s = connect_from(&demo, [127, 0, 0, 1]).await;
    s.write_all(b"POST /api/status HTTP/1.1\r\nhost: kumo\r\ncontent-length: 70000\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_response(&mut s).await.0, 413);

    // A chunked body that trickles forever (a byte every 50 ms, far under 4096 B/s): answered
    // 408 within the body timeout and some slack, while it still trickles.
    let mut s = connect_from(&demo, [127, 0, 0, 1]).await;
    let t = Instant::now();
    s.write_all(
        b"POST /api/inject/v1 HTTP/1.1\r\nhost: kumo\r\ncontent-type: application/json\r\n\
          transfer-encoding: chunked\r\n\r\n",
    )
    .await
    .unwrap();
    let (mut rd, mut wr) = s.into_split();
    let trickle = tokio::spawn(async move {
        for _ in 0..200 {
            if wr.write_all(b"1\r\n \r\n").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(3), rd.read(&mut buf))
        .await
        .expect("no answer to an endless body within 3 s")
        .unwrap();
    let took = t.elapsed();
    let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(
        n == 0 || answer.starts_with("HTTP/1.1 408"),
        "answer: {answer}"
    );
    assert!(
        took < Duration::from_secs(2),
        "took {took:?} (body timeout 1 s)"
    );
    trickle.abort();

    // A chunked body that stops after its first chunk: the same.
    let mut s = connect_from(&demo, [127, 0, 0, 1]).await;
    let t = Instant::now();
    s.write_all(
        b"POST /api/inject/v1 HTTP/1.1\r\nhost: kumo\r\ncontent-type: application/json\r\n\
          transfer-encoding: chunked\r\n\r\n1\r\n{\r\n",
    )
    .await
    .unwrap();
    let (status, _) = read_response(&mut s).await;
    assert_eq!(status, 408);
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t.elapsed()
    );
    demo.shutdown().await;
}

// --- Authentication and TLS against Python's http.client and ssl -----------------------------

/// Runs each request of a JSON list with `http.client` (HTTPS with `ssl` when asked) from the
/// given source address; prints `[{"status", "body", "www"}]`.
const REQUESTS: &str = r#"
import base64, http.client, json, ssl, sys
out = []
for c in json.loads(sys.argv[1]):
    headers = dict(c.get("headers", {}))
    if "basic" in c:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(c["basic"]).encode()).decode()
    if "bearer" in c:
        headers["Authorization"] = "Bearer " + c["bearer"]
    args = dict(source_address=(c["src"], 0), timeout=20)
    if "cafile" in c:
        ctx = ssl.create_default_context(cafile=c["cafile"])
        conn = http.client.HTTPSConnection(c["host"], c["port"], context=ctx, **args)
    elif c.get("insecure_tls"):
        conn = http.client.HTTPSConnection(c["host"], c["port"], context=ssl._create_unverified_context(), **args)
    else:
        conn = http.client.HTTPConnection(c["host"], c["port"], **args)
    conn.request(c.get("method", "GET"), c["path"], body=c.get("body"), headers=headers)
    r = conn.getresponse()
    entry = {"status": r.status, "body": r.read().decode("utf-8", "replace"),
             "www": r.headers.get_all("WWW-Authenticate") or []}
    if conn.sock is not None and hasattr(conn.sock, "version"):
        entry["tls"] = conn.sock.version()
    out.append(entry)
    conn.close()
print(json.dumps(out))
"#;

async fn python_requests(py: &str, cases: serde_json::Value) -> Vec<serde_json::Value> {
    let out = super::run(
        py.to_owned(),
        vec!["-c".into(), REQUESTS.into(), cases.to_string()],
    )
    .await;
    serde_json::from_str(&out).unwrap()
}

/// An argon2id PHC string of `password`, cheap to verify (the tests' parameters, not the
/// defaults).
fn argon2_hash(password: &str) -> String {
    use argon2::PasswordHasher as _;
    let salt = argon2::password_hash::SaltString::from_b64("a3Vtby10ZXN0LXNhbHQ").unwrap();
    let params = argon2::Params::new(64, 1, 1, None).unwrap();
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)
        .unwrap()
        .to_string()
}

fn sha256_hex(s: &str) -> String {
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

const TOKEN: &str = "kumo-test-token-8d1f2c";

fn auth_toml() -> String {
    format!(
        "[http.auth]\n\
         trusted = [\"127.0.0.1/32\"]\n\
         open = {{ metrics = [\"127.0.0.3/32\"] }}\n\
         [[http.auth.tokens]]\n\
         name = \"ci\"\n\
         sha256 = \"{}\"\n\
         [[http.auth.users]]\n\
         name = \"ops\"\n\
         password = \"{}\"\n\
         [[http.auth.users]]\n\
         name = \"scraper\"\n\
         password = \"{}\"\n\
         endpoints = [\"metrics\"]\n",
        sha256_hex(TOKEN),
        argon2_hash("pa55word"),
        argon2_hash("scrape-me"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_peers_need_a_bearer_token_or_basic_credentials() {
    let Some(py) = super::python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let demo = start_with(dir.path(), &auth_toml(), None).await;
    let port = demo.http_addr().port();
    let batch = String::from_utf8(super::batch(&["auth@example.test".to_owned()])).unwrap();
    let req = |src: &str, path: &str| serde_json::json!({"host": "127.0.0.1", "port": port, "src": src, "path": path});
    let with = |mut v: serde_json::Value, k: &str, x: serde_json::Value| {
        v[k] = x;
        v
    };
    let untrusted = "127.0.0.2";
    let cases = serde_json::json!([
        req(untrusted, "/api/status"),
        with(
            req(untrusted, "/api/status"),
            "bearer",
            "wrong-token".into()
        ),
        with(req(untrusted, "/api/status"), "bearer", TOKEN.into()),
        with(
            req(untrusted, "/api/status"),
            "basic",
            serde_json::json!(["ops", "pa55word"])
        ),
        with(
            req(untrusted, "/api/status"),
            "basic",
            serde_json::json!(["ops", "pa55wort"])
        ),
        with(
            req(untrusted, "/api/status"),
            "basic",
            serde_json::json!(["nobody", "pa55word"])
        ),
        with(
            req(untrusted, "/metrics"),
            "basic",
            serde_json::json!(["scraper", "scrape-me"])
        ),
        with(
            req(untrusted, "/api/status"),
            "basic",
            serde_json::json!(["scraper", "scrape-me"])
        ),
        req("127.0.0.1", "/api/status"),
        req("127.0.0.3", "/metrics"),
        req("127.0.0.3", "/api/trace/v1?bogus=1"),
        with(
            with(
                with(req(untrusted, "/api/inject/v1"), "bearer", TOKEN.into()),
                "method",
                "POST".into()
            ),
            "headers",
            serde_json::json!({"Content-Type": "application/json"})
        ),
    ]);
    let mut cases = cases;
    cases[11]["body"] = batch.into();
    let out = python_requests(&py, cases).await;
    let statuses: Vec<u64> = out.iter().map(|r| r["status"].as_u64().unwrap()).collect();
    assert_eq!(
        statuses,
        [401, 401, 200, 200, 401, 401, 200, 403, 200, 200, 401, 200],
        "{out:#?}"
    );
    let www: Vec<&str> = out[0]["www"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(www.iter().any(|w| w.starts_with("Bearer")), "{www:?}");
    assert!(www.iter().any(|w| w.starts_with("Basic")), "{www:?}");
    // The status page shows the credentials' names, never their hashes.
    let status: serde_json::Value = serde_json::from_str(out[2]["body"].as_str().unwrap()).unwrap();
    let auth = &status["config"]["http"]["auth"];
    assert_eq!(auth["tokens"][0]["name"], "ci");
    assert_eq!(auth["tokens"][0]["sha256"], "redacted");
    assert_eq!(auth["users"][0]["password"], "redacted");
    assert!(!out[2]["body"].as_str().unwrap().contains("argon2"));
    let injected: serde_json::Value =
        serde_json::from_str(out[11]["body"].as_str().unwrap()).unwrap();
    assert_eq!(injected["success_count"], 1);

    // A token removed from the file stops working at the next request (auth is live).
    std::fs::write(
        dir.path().join("http.toml"),
        "[http.auth]\ntrusted = [\"127.0.0.1/32\"]\n",
    )
    .unwrap();
    let applied = demo.status().config_applied_epoch;
    demo.rescan_config();
    let deadline = Instant::now() + Duration::from_secs(10);
    while demo.status().config_applied_epoch == applied {
        assert!(Instant::now() < deadline, "the edit was never applied");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out = python_requests(
        &py,
        serde_json::json!([with(req(untrusted, "/api/status"), "bearer", TOKEN.into())]),
    )
    .await;
    assert_eq!(out[0]["status"], 401);
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_loopback_listener_without_credentials_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    write_defaults(dir.path(), Profile::Selftest).unwrap();
    let err = Demo::start(DemoOptions {
        listen: "0.0.0.0:0".parse().unwrap(),
        config: Some(dir.path().to_owned()),
        profile: Profile::Selftest,
        ..DemoOptions::default()
    })
    .await
    .unwrap_err();
    let DemoError::InsecureListen { addr, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(addr.to_string(), "0.0.0.0:0");
    let text = err.to_string();
    for hint in [
        "http.toml",
        "[[http.auth.tokens]]",
        "sha256 = \"",
        "Bearer ",
        "127.0.0.1",
    ] {
        assert!(text.contains(hint), "{hint:?} missing from: {text}");
    }
    // The token it suggests matches the hash it suggests.
    let token = text
        .split("Authorization: Bearer ")
        .nth(1)
        .and_then(|t| t.split('`').next())
        .unwrap();
    assert!(text.contains(&format!("sha256 = \"{}\"", sha256_hex(token))));
}

/// A CA and a certificate for `localhost` and 127.0.0.1 that it signed, as PEM files in `dir`:
/// (ca, cert, key).
fn make_certificates(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "kumo test CA");
    ca.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let mut leaf =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    leaf.distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    leaf.use_authority_key_identifier_extension = true;
    leaf.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    let paths = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&paths.0, ca_cert.pem()).unwrap();
    std::fs::write(&paths.1, cert.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_end_to_end_with_a_certificate_made_for_the_test() {
    let Some(py) = super::python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (config, certs) = (dir.path().join("config"), dir.path().join("certs"));
    std::fs::create_dir_all(&config).unwrap();
    std::fs::create_dir_all(&certs).unwrap();
    let (ca, cert, key) = make_certificates(&certs);
    let demo = start_with(&config, &auth_toml(), Some(HttpTls::Files { cert, key })).await;
    assert_eq!(demo.http_info().scheme, "https");
    assert!(
        demo.banner()
            .contains(&format!("https://{}", demo.http_addr()))
    );
    let port = demo.http_addr().port();
    let batch = String::from_utf8(super::batch(&["tls@example.test".to_owned()])).unwrap();
    let tls = |src: &str, path: &str| {
        serde_json::json!({"host": "127.0.0.1", "port": port, "src": src, "path": path,
                           "cafile": ca.display().to_string()})
    };
    let mut inject = tls("127.0.0.2", "/api/inject/v1");
    inject["method"] = "POST".into();
    inject["bearer"] = TOKEN.into();
    inject["headers"] = serde_json::json!({"Content-Type": "application/json"});
    inject["body"] = batch.into();
    let mut status = tls("127.0.0.2", "/api/status");
    status["bearer"] = TOKEN.into();
    let out = python_requests(
        &py,
        serde_json::json!([
            tls("127.0.0.2", "/api/status"),
            status,
            inject,
            tls("127.0.0.1", "/metrics")
        ]),
    )
    .await;
    let statuses: Vec<u64> = out.iter().map(|r| r["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [401, 200, 200, 200], "{out:#?}");
    assert!(
        out[1]["tls"].as_str().unwrap().starts_with("TLSv1."),
        "{out:#?}"
    );
    let injected: serde_json::Value =
        serde_json::from_str(out[2]["body"].as_str().unwrap()).unwrap();
    assert_eq!(injected["success_count"], 1);
    assert!(demo.wait_idle(Duration::from_secs(30)).await);

    // Plain HTTP to the TLS port is no request: the handshake fails and nothing is served.
    let mut s = connect_from(&demo, [127, 0, 0, 1]).await;
    s.write_all(b"GET /api/status HTTP/1.1\r\nhost: kumo\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    assert!(!String::from_utf8_lossy(&buf).contains("200 OK"));
    demo.shutdown().await;

    // --tls-self-signed: a certificate for localhost made at start.
    let demo = start_with(&config, &auth_toml(), Some(HttpTls::SelfSigned)).await;
    let port = demo.http_addr().port();
    let out = python_requests(
        &py,
        serde_json::json!([{"host": "127.0.0.1", "port": port, "src": "127.0.0.1",
                            "path": "/api/status", "insecure_tls": true}]),
    )
    .await;
    assert_eq!(out[0]["status"], 200, "{out:#?}");
    demo.shutdown().await;
}
