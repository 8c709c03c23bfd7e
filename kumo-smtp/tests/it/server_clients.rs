//! The server against clients nobody here wrote (Python's `smtplib` and a raw Python socket
//! that pipelines, `swaks` when installed) and against kumo-smtp's own client.

use std::sync::Arc;
use std::time::Duration;

use kumo_smtp::{
    Body, ConnectionLimiter, Envelope, Outcome, ServerConfig, Target, TlsPolicy, Verify,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{MX_HOST, Raw, TestCert, TestServer, client, python, run_python};

/// A message with a line that starts with a dot, 8-bit text and CRLF line endings, as
/// smtplib sends it (it would turn bare LFs into CRLF itself).
const MESSAGE: &[u8] = b"From: a@example.net\r\nTo: b@example.com\r\nSubject: test\r\n\r\n\
Hello.\r\n.leading dot\r\n..two dots\r\ncaf\xc3\xa9\r\n";

const SMTPLIB_SEND: &str = r#"
import smtplib, ssl, sys
port, mode, data = int(sys.argv[1]), sys.argv[2], sys.stdin.buffer.read()
with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
    if mode == "starttls":
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s.starttls(context=ctx)
        s.ehlo()
        print("tls", s.sock.version())
    if mode == "smtputf8":
        refused = s.sendmail("jörg@bücher.example", ["ü@例え.example"], data,
                             mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    else:
        refused = s.sendmail("a@example.net", ["b@example.com", "reject@example.com"], data)
    print("refused", sorted(refused))
"#;

async fn smtplib(python: &str, port: u16, mode: &str, data: &[u8]) -> String {
    let mut child = tokio::process::Command::new(python)
        .arg("-c")
        .arg(SMTPLIB_SEND)
        .arg(port.to_string())
        .arg(mode)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(data).await.expect("write stdin");
    drop(stdin);
    let out = child.wait_with_output().await.expect("python");
    assert!(
        out.status.success(),
        "smtplib failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn smtplib_plain_and_starttls() {
    let Some(python) = python() else { return };
    let cert = TestCert::new();
    let config = ServerConfig::new(MX_HOST).tls(cert.server_tls());
    let server = TestServer::start(config, ConnectionLimiter::default()).await;
    let port = server.addr.port();

    let out = smtplib(&python, port, "plain", MESSAGE).await;
    assert!(out.contains("refused ['reject@example.com']"), "{out}");
    let out = smtplib(&python, port, "starttls", MESSAGE).await;
    assert!(out.contains("tls TLSv1."), "{out}");

    let messages = server.recorder.messages();
    assert_eq!(messages.len(), 2);
    for (envelope, data) in &messages {
        assert_eq!(data, MESSAGE, "the bytes smtplib sent, dot-unstuffed");
        assert_eq!(envelope.mail_from.address, "a@example.net");
        assert_eq!(envelope.recipients, ["b@example.com"]);
    }
    let summaries = server.recorder.wait_summaries(2).await;
    assert_eq!(summaries.iter().filter(|s| s.tls).count(), 1);
}

#[tokio::test]
async fn smtplib_smtputf8() {
    let Some(python) = python() else { return };
    let server = TestServer::start(ServerConfig::new(MX_HOST), ConnectionLimiter::default()).await;
    let data = "From: jörg@bücher.example\r\nSubject: grüße\r\n\r\nçà et là\r\n";
    smtplib(&python, server.addr.port(), "smtputf8", data.as_bytes()).await;
    let messages = server.recorder.messages();
    assert_eq!(messages.len(), 1);
    let (envelope, bytes) = &messages[0];
    assert_eq!(bytes, data.as_bytes());
    assert_eq!(envelope.mail_from.address, "jörg@bücher.example");
    assert!(envelope.mail_from.smtputf8);
    assert_eq!(envelope.mail_from.body, Body::EightBitMime);
    assert_eq!(envelope.recipients, ["ü@例え.example"]);
}

/// Two messages from a Python socket that pipelines as RFC 2920 allows: the envelope and
/// `DATA` in one write, and after the final dot the next envelope in the same write.
const PIPELINED: &str = r#"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
f = s.makefile("rb")
def reply():
    lines = []
    while True:
        line = f.readline().decode()
        lines.append(line.strip())
        if line[3:4] != "-":
            return lines
print(reply())
s.sendall(b"EHLO py\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nRCPT TO:<reject@y>\r\nRCPT TO:<c@y>\r\nDATA\r\n")
print([reply() for _ in range(6)])
s.sendall(b"first\r\n.\r\nMAIL FROM:<d@x>\r\nRCPT TO:<e@y>\r\nDATA\r\n")
print([reply() for _ in range(4)])
s.sendall(b"..second\r\n.\r\nQUIT\r\n")
print([reply() for _ in range(2)])
"#;

#[tokio::test]
async fn python_pipelined_batches() {
    let Some(python) = python() else { return };
    let server = TestServer::start(ServerConfig::new(MX_HOST), ConnectionLimiter::default()).await;
    let out = run_python(&python, PIPELINED, &[&server.addr.port().to_string()]).await;
    let out = String::from_utf8_lossy(&out);
    assert!(
        out.contains("['550 5.1.1 no such user'], ['250 2.1.5 recipient ok'], ['354 "),
        "{out}"
    );
    assert!(out.contains("['221 2.0.0 bye']"), "{out}");
    let messages = server.recorder.messages();
    assert_eq!(messages.len(), 2, "{out}");
    assert_eq!(messages[0].0.recipients, ["b@y", "c@y"]);
    assert_eq!(messages[0].1, b"first\r\n");
    assert_eq!(messages[1].0.mail_from.address, "d@x");
    assert_eq!(messages[1].1, b".second\r\n");
}

#[tokio::test]
async fn swaks_sends_a_message() {
    let on_path = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join("swaks").is_file()));
    if !on_path {
        assert!(
            std::env::var_os("CI").is_none(),
            "swaks is required when CI is set (scripts/test installs it)"
        );
        return;
    }
    let server = TestServer::start(ServerConfig::new(MX_HOST), ConnectionLimiter::default()).await;
    let out = tokio::process::Command::new("swaks")
        .args(["--server", "127.0.0.1", "--port"])
        .arg(server.addr.port().to_string())
        .args([
            "--from",
            "a@example.net",
            "--to",
            "b@example.com",
            "--pipeline",
        ])
        .args(["--body", ".dotted\nline two", "--timeout", "10"])
        .output()
        .await
        .expect("swaks");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let messages = server.recorder.messages();
    assert_eq!(messages.len(), 1);
    let body = String::from_utf8_lossy(&messages[0].1).into_owned();
    assert!(body.contains("\r\n.dotted\r\nline two\r\n"), "{body:?}");
}

#[tokio::test]
async fn kumo_client_round_trip_plain_and_tls() {
    let cert = TestCert::new();
    let config = ServerConfig::new(MX_HOST).tls(cert.server_tls());
    let server = TestServer::start(config, ConnectionLimiter::default()).await;
    let target = Target::new(MX_HOST, server.addr);
    for tls in [
        TlsPolicy::Disabled,
        TlsPolicy::Required {
            verify: Verify::Roots(cert.roots()),
        },
    ] {
        let client = client(tls);
        let (mut conn, _) = client
            .connect(std::slice::from_ref(&target), crate::support::tcp)
            .await
            .expect("connect");
        assert!(conn.capabilities().pipelining);
        for i in 0..3 {
            let envelope = Envelope::new("a@example.net", ["b@example.com", "reject@example.com"]);
            let body = format!("Subject: {i}\r\n\r\n.line\r\n");
            let delivery = conn.send(&envelope, body.as_bytes()).await;
            assert_eq!(delivery.outcome, Outcome::Delivered, "{delivery:?}");
            assert_eq!(delivery.recipients[1].outcome, Outcome::Permanent);
        }
        conn.quit().await;
    }
    let messages = server.recorder.messages();
    assert_eq!(messages.len(), 6);
    assert_eq!(messages[5].1, b"Subject: 2\r\n\r\n.line\r\n");
    let summaries = server.recorder.wait_summaries(2).await;
    assert_eq!(summaries.iter().filter(|s| s.tls).count(), 1);
}

#[tokio::test]
async fn starttls_twice_is_refused_and_the_session_restarts() {
    let cert = TestCert::new();
    let config = ServerConfig::new(MX_HOST).tls(cert.server_tls());
    let server = TestServer::start(config, ConnectionLimiter::default()).await;
    let mut raw = Raw::connect(server.addr).await;
    raw.send(b"EHLO x\r\nMAIL FROM:<a@x>\r\n", "250 2.1.0")
        .await;
    raw.send(b"STARTTLS\r\n", "220 2.0.0").await;
    let Raw { rd, wr, .. } = raw;
    let tcp = rd.reunite(wr).expect("reunite");
    let provider = Arc::new(kumo_smtp::rustls::crypto::ring::default_provider());
    let tls_config = kumo_smtp::rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(cert.roots())
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls_config));
    let name = kumo_smtp::rustls::pki_types::ServerName::try_from(MX_HOST).expect("name");
    let mut tls = connector.connect(name, tcp).await.expect("handshake");

    let mut exchange = async |bytes: &[u8], expect: &str| -> String {
        tls.write_all(bytes).await.expect("write");
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&seen).contains(expect) {
            let n = tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf))
                .await
                .expect("reply in time")
                .expect("read");
            assert!(n > 0, "closed; got {:?}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&seen).into_owned()
    };
    // RFC 3207: everything before the handshake is forgotten, the client greets again.
    exchange(b"RCPT TO:<b@y>\r\n", "503 5.5.1").await;
    let ehlo = exchange(b"EHLO x\r\n", "250 ENHANCEDSTATUSCODES").await;
    assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
    exchange(b"STARTTLS\r\n", "503 5.5.1 TLS already active").await;
    exchange(b"QUIT\r\n", "221 ").await;
    assert!(server.recorder.wait_summaries(1).await[0].tls);
}
