//! Arbitrary server bytes fed to the client over an in-memory stream produce an outcome or a
//! typed error, never a panic or a hang.

use std::time::Duration;

use kumo_smtp::{ClientConfig, Envelope, Io, Target, Timeouts, TlsPolicy};
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Plausible pieces of server talk, so the cases get past the greeting often and reach
/// EHLO parsing, STARTTLS, pipelined replies, DATA and the final reply.
fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"220 mx ESMTP\r\n".to_vec()),
        Just(
            b"250-mx\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE 1000\r\n250 STARTTLS\r\n"
                .to_vec()
        ),
        Just(b"250-mx\r\n250-SIZE x\r\n250 SMTPUTF8\r\n".to_vec()),
        Just(b"250 ok\r\n".to_vec()),
        // MAIL, two RCPTs, DATA and the final dot, all accepted.
        Just(b"250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n".to_vec()),
        Just(b"250-2.1.0 multi\r\n250 2.1.0 line\r\n".to_vec()),
        Just(b"354 go\r\n".to_vec()),
        Just(b"220 go tls\r\n".to_vec()),
        Just(b"451 4.3.0 later\r\n".to_vec()),
        Just(b"421 bye\r\n".to_vec()),
        Just(b"550 5.1.1 no\r\n".to_vec()),
        Just(b"334 what\r\n".to_vec()),
        Just(b"250-".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"999 x\r\n".to_vec()),
        Just(b"25".to_vec()),
        Just(vec![b'x'; 5000]),
        Just(b"250-x\r\n".repeat(120)),
        proptest::collection::vec(any::<u8>(), 0..64),
        "[0-9 \\-.A-Za-z\r\n]{0,40}".prop_map(String::into_bytes),
    ]
}

/// Three cases in four start with a valid greeting and EHLO reply, so the rest of the bytes
/// meet the transaction (pipelined or not, 8-bit or not) rather than the greeting.
fn server_bytes() -> impl Strategy<Value = Vec<u8>> {
    let opening = prop_oneof![
        1 => Just(Vec::new()),
        1 => Just(b"220 mx\r\n250-mx\r\n250-PIPELINING\r\n250 8BITMIME\r\n".to_vec()),
        1 => Just(b"220 mx\r\n250-mx\r\n250 8BITMIME\r\n".to_vec()),
        1 => Just(b"220 mx\r\n250-mx\r\n250-STARTTLS\r\n250 PIPELINING\r\n".to_vec()),
    ];
    (opening, proptest::collection::vec(piece(), 0..14))
        .prop_map(|(opening, pieces)| [opening, pieces.concat()].concat())
}

/// Runs a whole session (handshake, two messages, quit) against `bytes`; whether the handshake
/// succeeded (and the assertions on the messages ran).
async fn session(bytes: Vec<u8>, tls: TlsPolicy, pipelining: bool) -> bool {
    let (ours, theirs) = tokio::io::duplex(1 << 14);
    tokio::spawn(async move {
        let (mut rd, mut wr) = tokio::io::split(theirs);
        let writer = async move {
            let _ = wr.write_all(&bytes).await;
            let _ = wr.shutdown().await; // EOF after the bytes: the client never waits long
        };
        let reader = async move {
            let mut sink = vec![0u8; 1 << 14];
            while matches!(rd.read(&mut sink).await, Ok(n) if n > 0) {}
        };
        tokio::join!(writer, reader);
    });
    let client = kumo_smtp::Client::new(
        ClientConfig::default()
            .tls(tls)
            .pipelining(pipelining)
            .max_reply_line(512)
            .max_reply_lines(100)
            .timeouts(Timeouts::all(Duration::from_secs(5))),
    )
    .expect("config");
    let target = Target::new("mx.kumo.test", "127.0.0.1:25".parse().unwrap());
    let Ok(mut conn) = client.handshake(&target, Io::new(ours)).await else {
        return false;
    };
    for data in [&b"Subject: x\r\n\r\n.dot\r\n"[..], "8bit ü\n".as_bytes()] {
        let d = conn
            .send(
                &Envelope::new("a@kumo.test", ["b@kumo.test", "c@kumo.test"]),
                data,
            )
            .await;
        assert_eq!(d.recipients.len(), 2);
        if !conn.is_usable() {
            assert!(!conn.can_send());
        }
    }
    conn.quit().await;
    true
}

fn tls_policy(policy: u8) -> TlsPolicy {
    match policy {
        0 => TlsPolicy::Disabled,
        1 => TlsPolicy::Opportunistic {
            verify: kumo_smtp::Verify::None,
        },
        _ => TlsPolicy::Required {
            verify: kumo_smtp::Verify::None,
        },
    }
}

fn run(bytes: Vec<u8>, policy: u8, pipelining: bool) -> bool {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(10),
            session(bytes, tls_policy(policy), pipelining),
        )
        .await
        .expect("the session ends on its own (EOF), well before any timeout")
    })
}

/// The assertions on the messages sit behind a successful handshake: it succeeds in a fair
/// share of the generated cases (the same cases every run), so they do run.
#[test]
#[allow(clippy::print_stderr, reason = "the share is worth seeing in the log")]
fn the_handshake_succeeds_in_many_cases() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = (server_bytes(), 0u8..3, any::<bool>());
    let handshakes = (0..200)
        .filter(|_| {
            let (bytes, policy, pipelining) = strategy.new_tree(&mut runner).unwrap().current();
            run(bytes, policy, pipelining)
        })
        .count();
    eprintln!("handshakes: {handshakes} of 200 cases");
    assert!(
        handshakes >= 20,
        "only {handshakes} of 200 cases got through the handshake"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn any_server_bytes_end_in_an_outcome_or_a_typed_error(
        bytes in server_bytes(),
        policy in 0u8..3,
        pipelining in any::<bool>(),
    ) {
        run(bytes, policy, pipelining);
    }
}
