//! Fuzzing what kumo-smtp parses from the wire, with mutations of valid inputs kept in
//! `tests/corpus/`: single replies (`Reply::parse`, also on arbitrary bytes), whole server talk
//! fed to the client (the reply reader, EHLO parsing, pipelined replies) and whole client talk
//! fed to a server session (command parsing, the DATA decoder). A value or a typed error,
//! never a panic or a hang; a parsed reply's text is no longer than the bytes it came from.

use std::time::Duration;

use crate::support::Recorder;
use kumo_fuzzkit::{accepted, arbitrary_bytes, corpus, mutated};
use kumo_smtp::{
    ClientConfig, Envelope, Io, MAX_REPLY_TEXT, Reply, ServerConfig, Target, Timeouts, TlsPolicy,
    serve_session,
};
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn check_reply(bytes: &[u8]) -> Result<bool, TestCaseError> {
    let Ok(reply) = Reply::parse(bytes) else {
        return Ok(false);
    };
    prop_assert!((200..=599).contains(&reply.code), "code {}", reply.code);
    // Invalid UTF-8 becomes U+FFFD: three bytes of text for one on the wire.
    prop_assert!(
        reply.text.len() <= 3 * bytes.len().min(MAX_REPLY_TEXT),
        "{} bytes of text from {}",
        reply.text.len(),
        bytes.len()
    );
    Ok(true)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A client session (handshake, two messages, quit) against a server that says `bytes` and
/// then closes. Returns whether the handshake succeeded.
fn client_session(bytes: Vec<u8>) -> bool {
    runtime().block_on(async move {
        let (ours, theirs) = tokio::io::duplex(1 << 14);
        tokio::spawn(async move {
            let (mut rd, mut wr) = tokio::io::split(theirs);
            let writer = async move {
                let _ = wr.write_all(&bytes).await;
                let _ = wr.shutdown().await;
            };
            let reader = async move {
                let mut sink = vec![0u8; 1 << 14];
                while matches!(rd.read(&mut sink).await, Ok(n) if n > 0) {}
            };
            tokio::join!(writer, reader);
        });
        let client = kumo_smtp::Client::new(
            ClientConfig::default()
                .tls(TlsPolicy::Disabled)
                .max_reply_line(512)
                .max_reply_lines(100)
                .timeouts(Timeouts::all(Duration::from_secs(5))),
        )
        .expect("config");
        let target = Target::new("mx.kumo.test", "127.0.0.1:25".parse().unwrap());
        let session = async {
            let Ok(mut conn) = client.handshake(&target, Io::new(ours)).await else {
                return false;
            };
            for data in [
                &b"Subject: x\r\n\r\n.dot\r\n"[..],
                "8bit \u{fc}\n".as_bytes(),
            ] {
                let d = conn
                    .send(
                        &Envelope::new("a@kumo.test", ["b@kumo.test", "c@kumo.test"]),
                        data,
                    )
                    .await;
                assert_eq!(d.recipients.len(), 2, "one result per recipient");
            }
            conn.quit().await;
            true
        };
        tokio::time::timeout(Duration::from_secs(10), session)
            .await
            .expect("the session ends on its own (EOF), well before any timeout")
    })
}

/// Reads the server's replies, counting the final lines (`ddd ` or a bare `ddd`).
struct Replies<R> {
    rd: R,
    buf: Vec<u8>,
    finals: usize,
    last_code: u16,
}

impl<R: tokio::io::AsyncRead + Unpin> Replies<R> {
    /// Reads until `n` final reply lines have come; false when the server closed first.
    async fn wait_for(&mut self, n: usize) -> bool {
        let mut chunk = [0u8; 4096];
        while self.finals < n {
            match self.rd.read(&mut chunk).await {
                Ok(0) | Err(_) => return false,
                Ok(k) => self.buf.extend_from_slice(&chunk[..k]),
            }
            while let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=end).collect();
                let code = line.get(..3).filter(|c| c.iter().all(u8::is_ascii_digit));
                if let (Some(code), Some(b' ' | b'\r')) = (code, line.get(3)) {
                    self.finals += 1;
                    self.last_code = String::from_utf8_lossy(code).parse().unwrap_or(0);
                }
            }
        }
        true
    }
}

/// A polite client saying `bytes`: it waits for the greeting (an early talker is refused) and,
/// after each `DATA`, for the replies to everything sent so far (`DATA` ends a pipelined
/// group), then sends the message if the reply was 354. Everything else is pipelined.
async fn polite_client<R, W>(bytes: Vec<u8>, rd: R, mut wr: W)
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let mut replies = Replies {
        rd,
        buf: Vec::new(),
        finals: 0,
        last_code: 0,
    };
    let mut expected = 1; // the greeting
    let mut in_body = false;
    let mut talking = replies.wait_for(expected).await;
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        if !talking || wr.write_all(line).await.is_err() {
            break;
        }
        if in_body {
            if line == b".\r\n" {
                in_body = false;
                expected += 1;
            }
            continue;
        }
        expected += 1;
        if line.trim_ascii().eq_ignore_ascii_case(b"DATA") {
            talking = replies.wait_for(expected).await;
            in_body = replies.last_code == 354;
        }
    }
    let _ = wr.shutdown().await;
    let mut sink = Vec::new();
    let _ = replies.rd.read_to_end(&mut sink).await;
}

/// A server session reading `bytes` from a polite client that then closes; the messages
/// accepted.
fn server_session(bytes: Vec<u8>) -> usize {
    runtime().block_on(async move {
        let (server_end, client) = tokio::io::duplex(1 << 16);
        let config = ServerConfig::new("mx.kumo.test")
            .max_command_line(600)
            .max_message_size(2000)
            .max_data_line(100)
            .idle_timeout(Duration::from_millis(300));
        let (rd, wr) = tokio::io::split(client);
        let feeder = tokio::spawn(polite_client(bytes, rd, wr));
        let addr = "192.0.2.1:25".parse().expect("addr");
        let recorder = Recorder::default();
        let session = serve_session(&config, &recorder, Io::new(server_end), addr, addr);
        let summary = tokio::time::timeout(Duration::from_secs(10), session)
            .await
            .expect("the session ends");
        let _ = feeder.await;
        summary.messages_accepted
    })
}

#[test]
fn every_seed_is_valid() {
    for seed in corpus!("reply") {
        assert!(
            check_reply(&seed).unwrap(),
            "{}",
            String::from_utf8_lossy(&seed)
        );
    }
    // The first server talk takes the client through both messages.
    assert!(client_session(corpus!("server_talk")[0].clone()));
    // The client talk is accepted: all but STARTTLS-only (5) and the long line (6) deliver.
    let accepted: Vec<usize> = corpus!("client_talk")
        .into_iter()
        .map(server_session)
        .collect();
    assert_eq!(
        accepted,
        [1, 2, 1, 1, 0, 0],
        "messages accepted per client talk"
    );
}

/// Many mutated seeds still parse: the cases get past the first line.
#[test]
#[allow(clippy::print_stderr, reason = "the share is worth seeing in the log")]
fn many_mutated_seeds_still_get_through() {
    let n = accepted(corpus!("reply"), 4, 400, |b| Reply::parse(b).is_ok());
    let handshakes = accepted(corpus!("server_talk"), 4, 100, |b| {
        client_session(b.to_vec())
    });
    let delivered = accepted(corpus!("client_talk"), 4, 100, |b| {
        server_session(b.to_vec()) > 0
    });
    eprintln!(
        "mutated seeds accepted: replies {n}/400, server talk to a handshake {handshakes}/100, \
         client talk to a message {delivered}/100"
    );
    assert!(n >= 40, "only {n} of 400 mutated replies parse");
    assert!(
        handshakes >= 10,
        "only {handshakes} of 100 mutated server talks get through EHLO"
    );
    assert!(
        delivered >= 10,
        "only {delivered} of 100 mutated client talks deliver a message"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn reply_from_arbitrary_bytes(bytes in arbitrary_bytes(600)) {
        check_reply(&bytes)?;
    }

    #[test]
    fn reply_from_mutated_seeds(bytes in mutated(corpus!("reply"), 8)) {
        check_reply(&bytes)?;
    }
}

proptest! {
    // A session per case (in memory, about a millisecond each).
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn client_reads_mutated_server_talk(bytes in mutated(corpus!("server_talk"), 8)) {
        client_session(bytes);
    }

    #[test]
    fn server_reads_mutated_client_talk(bytes in mutated(corpus!("client_talk"), 8)) {
        let len = bytes.len();
        let messages = server_session(bytes);
        // Each message needs at least MAIL, RCPT, DATA and the final dot.
        prop_assert!(messages <= 1 + len / 20, "{} messages from {} bytes", messages, len);
    }
}
