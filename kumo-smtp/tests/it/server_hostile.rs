//! Hostile sessions against the server over loopback TCP: each gets its expected answer, and
//! no message reaches the handler.

use std::time::{Duration, Instant};

use kumo_smtp::{ConnectionLimiter, ServerConfig, SessionEnd};
use tokio::io::AsyncWriteExt;

use crate::support::{Raw, TestServer};

const TRANSACTION: &[u8] =
    b"EHLO attacker.example\r\nMAIL FROM:<a@attacker.example>\r\nRCPT TO:<b@victim.example>\r\nDATA\r\n";

/// What a case does after the greeting: (bytes to write, text to wait for in the answer).
type Steps = Vec<(Vec<u8>, &'static str)>;

struct Case {
    name: &'static str,
    config: ServerConfig,
    steps: Steps,
    /// The server closes the connection after the last step.
    closes: bool,
}

fn smuggling(name: &'static str, sequence: &[u8], answer: &'static str) -> Case {
    let mut body = b"From: a@attacker.example\r\nSubject: one\r\n\r\nfirst".to_vec();
    body.extend_from_slice(sequence);
    body.extend_from_slice(
        b"MAIL FROM:<ceo@victim.example>\r\nRCPT TO:<b@victim.example>\r\nDATA\r\n\
          From: ceo@victim.example\r\n\r\nsmuggled\r\n.\r\n",
    );
    Case {
        name,
        config: ServerConfig::new("mx.kumo.test"),
        steps: vec![
            (TRANSACTION.to_vec(), "354 "),
            (body, answer),
            (b"QUIT\r\n".to_vec(), "221 "),
        ],
        closes: true,
    }
}

fn cases() -> Vec<Case> {
    let test = || ServerConfig::new("mx.kumo.test");
    let mut cases = vec![
        smuggling("smuggling \\n.\\n", b"\n.\n", "550 5.5.2"),
        smuggling("smuggling \\n.\\r\\n", b"\n.\r\n", "550 5.5.2"),
        smuggling("smuggling \\r.\\r\\n", b"\r.\r\n", "550 5.5.2"),
        smuggling("smuggling \\r\\n.\\r", b"\r\n.\r", "550 5.5.2"),
        smuggling("smuggling \\r\\n\\0.\\r\\n", b"\r\n\x00.\r\n", "550 5.6.0"),
    ];
    let mut pipelined = TRANSACTION.to_vec();
    pipelined.extend_from_slice(
        b"Subject: x\r\n\r\nbody\r\n.\r\nMAIL FROM:<ceo@victim.example>\r\n\
          RCPT TO:<b@victim.example>\r\nDATA\r\nsmuggled\r\n.\r\n",
    );
    cases.push(Case {
        name: "pipelined DATA with a second MAIL FROM in the same write",
        config: test(),
        steps: vec![(pipelined, "554 5.5.0 improper pipelining after DATA")],
        closes: true,
    });
    let mut long_line = b"EHLO x\r\n".to_vec();
    long_line.extend(std::iter::repeat_n(b'x', 1 << 20));
    cases.push(Case {
        name: "a 1 MB line without a newline",
        config: test(),
        steps: vec![
            (long_line, "500 5.5.2 line too long"),
            (b"\r\nNOOP\r\n".to_vec(), "250 2.0.0 ok"),
            (b"QUIT\r\n".to_vec(), "221 "),
        ],
        closes: true,
    });
    cases.push(Case {
        name: "invalid UTF-8 in commands",
        config: test(),
        steps: vec![
            (b"EHLO \xff\xfe\r\n".to_vec(), "500 5.5.2 invalid UTF-8"),
            (b"EHLO x\r\n".to_vec(), "250 "),
            (
                b"MAIL FROM:<\xc3(@x>\r\n".to_vec(),
                "500 5.5.2 invalid UTF-8",
            ),
            (b"NOOP\r\n".to_vec(), "250 2.0.0 ok"),
        ],
        closes: false,
    });
    cases.push(Case {
        name: "commands before EHLO",
        config: test(),
        steps: vec![
            (b"MAIL FROM:<a@x>\r\n".to_vec(), "503 5.5.1"),
            (b"RCPT TO:<b@y>\r\n".to_vec(), "503 5.5.1"),
            (b"DATA\r\n".to_vec(), "503 5.5.1"),
            (b"NOOP\r\n".to_vec(), "250 2.0.0 ok"),
        ],
        closes: false,
    });
    cases.push(Case {
        name: "bytes pipelined after STARTTLS (command injection)",
        config: test().tls(crate::support::TestCert::new().server_tls()),
        steps: vec![
            (b"EHLO x\r\n".to_vec(), "STARTTLS"),
            (b"STARTTLS\r\nEHLO x\r\n".to_vec(), "554 5.5.0"),
        ],
        closes: true,
    });
    cases.push(Case {
        name: "STARTTLS when it is not offered",
        config: test(),
        steps: vec![(b"EHLO x\r\nSTARTTLS\r\n".to_vec(), "502 5.5.1")],
        closes: false,
    });
    cases.push(Case {
        name: "too many errors",
        config: test().max_errors(5),
        steps: vec![(b"BOGUS\r\n".repeat(10), "421 4.7.0 too many errors")],
        closes: true,
    });
    cases.push(Case {
        name: "a declared SIZE over the limit",
        config: test().max_message_size(1000),
        steps: vec![(
            b"EHLO x\r\nMAIL FROM:<a@x> SIZE=5000\r\n".to_vec(),
            "552 5.3.4",
        )],
        closes: false,
    });
    cases.push(Case {
        name: "a message over the size limit",
        config: test().max_message_size(1000),
        steps: vec![
            (TRANSACTION.to_vec(), "354 "),
            (
                [b"x".repeat(900), b"\r\n".to_vec()].concat().repeat(100),
                "",
            ),
            (b".\r\nNOOP\r\n".to_vec(), "552 5.3.4"),
        ],
        closes: false,
    });
    cases.push(Case {
        name: "a message line over 998 bytes",
        config: test(),
        steps: vec![
            (TRANSACTION.to_vec(), "354 "),
            (
                [b"x".repeat(999), b"\r\n.\r\n".to_vec()].concat(),
                "500 5.5.2",
            ),
        ],
        closes: false,
    });
    cases.push(Case {
        name: "a message with no accepted recipient",
        config: test(),
        steps: vec![(
            b"EHLO x\r\nMAIL FROM:<a@x>\r\nRCPT TO:<reject@y>\r\nDATA\r\n".to_vec(),
            "554 5.5.1 no valid recipients",
        )],
        closes: false,
    });
    cases.push(Case {
        name: "too many messages on one connection",
        config: test().max_messages_per_connection(1),
        steps: vec![
            (
                b"EHLO x\r\nMAIL FROM:<a@x>\r\nRSET\r\n".to_vec(),
                "250 2.0.0 ok",
            ),
            (b"MAIL FROM:<a@x>\r\n".to_vec(), "421 4.7.0"),
        ],
        closes: true,
    });
    cases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_sessions_get_their_answer_and_nothing_is_accepted() {
    for case in cases() {
        let server = TestServer::start(case.config, ConnectionLimiter::default()).await;
        let mut raw = Raw::connect(server.addr).await;
        for (bytes, expect) in &case.steps {
            let got = raw.send(bytes, expect).await;
            assert!(got.contains(expect), "{}: {got:?}", case.name);
        }
        if case.closes {
            assert!(raw.closed().await, "{}: still open", case.name);
        }
        assert!(
            server.recorder.messages().is_empty(),
            "{}: a message was accepted",
            case.name
        );
    }
}

#[tokio::test]
async fn ten_thousand_recipients_are_capped_with_452() {
    let server = TestServer::start(
        ServerConfig::new("mx.kumo.test"),
        ConnectionLimiter::default(),
    )
    .await;
    let mut raw = Raw::connect(server.addr).await;
    let mut batch = b"EHLO x\r\nMAIL FROM:<a@x>\r\n".to_vec();
    for i in 0..10_000 {
        batch.extend_from_slice(format!("RCPT TO:<r{i}@y>\r\n").as_bytes());
    }
    batch.extend_from_slice(b"NOOP\r\n");
    let got = raw.send(&batch, "250 2.0.0 ok\r\n").await;
    assert_eq!(got.matches("250 2.1.5").count(), 1024);
    assert_eq!(
        got.matches("452 4.5.3 too many recipients").count(),
        10_000 - 1024
    );
    raw.send(b"RSET\r\nQUIT\r\n", "221 ").await;
    assert!(raw.closed().await);
    assert!(server.recorder.messages().is_empty());
}

#[tokio::test]
async fn a_client_trickling_one_byte_at_a_time_meets_the_idle_timeout() {
    let config = ServerConfig::new("mx.kumo.test").idle_timeout(Duration::from_millis(800));
    let server = TestServer::start(config, ConnectionLimiter::default()).await;
    let mut raw = Raw::connect(server.addr).await;
    let started = Instant::now();
    let trickle = async {
        for &b in b"NOOP NOOP NOOP\r\n" {
            if raw.wr.write_all(&[b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    let (_, got) = tokio::join!(trickle, async {
        let mut seen = Vec::new();
        let mut buf = [0u8; 1024];
        use tokio::io::AsyncReadExt;
        while let Ok(n) = raw.rd.read(&mut buf).await {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&seen).into_owned()
    });
    assert!(got.contains("421 4.4.2 idle timeout"), "{got:?}");
    assert!(
        !got.contains("250"),
        "the trickled command was answered: {got:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    let summaries = server.recorder.wait_summaries(1).await;
    assert_eq!(summaries[0].end, SessionEnd::IdleTimeout);
}

#[tokio::test]
async fn a_session_that_never_quits_meets_the_session_limit() {
    let config = ServerConfig::new("mx.kumo.test").session_timeout(Duration::from_millis(700));
    let server = TestServer::start(config, ConnectionLimiter::default()).await;
    let mut raw = Raw::connect(server.addr).await;
    let started = Instant::now();
    let mut got = String::new();
    while !got.contains("421") && started.elapsed() < Duration::from_secs(5) {
        got.push_str(&raw.send(b"NOOP\r\n", "\r\n").await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(got.contains("421 4.4.2 session time limit"), "{got:?}");
    assert!(raw.closed().await);
    assert!(started.elapsed() < Duration::from_secs(2));
    let summaries = server.recorder.wait_summaries(1).await;
    assert_eq!(summaries[0].end, SessionEnd::SessionTimeout);
}
