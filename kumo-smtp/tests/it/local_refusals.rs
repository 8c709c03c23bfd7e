//! What the client refuses before sending a byte, and how it reads refusals from scripted
//! servers: HELO fallback, refused MAIL, 421 mid-transaction, refused greetings.

use std::sync::{Arc, Mutex};

use kumo_smtp::{
    ClientConfig, Connection, Envelope, Io, Outcome, Phase, SessionError, Target, TlsPolicy,
    Unsendable,
};

use crate::support::{Answer, accepting, client_with, scripted, show};

type Chunks = Arc<Mutex<Vec<Vec<u8>>>>;

fn target() -> Target {
    Target::new("script.kumo.test", "127.0.0.1:25".parse().unwrap())
}

async fn session(
    greeting: &'static str,
    answer: impl FnMut(&str) -> Answer + Send + 'static,
) -> (Result<Connection<Io>, SessionError>, Chunks) {
    let (ours, theirs) = tokio::io::duplex(1 << 16);
    let chunks = scripted(theirs, greeting, answer);
    let client = client_with(ClientConfig::default().tls(TlsPolicy::Disabled));
    (client.handshake(&target(), Io::new(ours)).await, chunks)
}

async fn ready(ehlo: &'static str) -> (Connection<Io>, Chunks) {
    let (conn, chunks) = session("220 script.kumo.test", accepting(ehlo)).await;
    (conn.expect("handshake"), chunks)
}

fn sent_after_ehlo(chunks: &Chunks) -> Vec<String> {
    show(&chunks.lock().unwrap()[1..])
}

#[tokio::test]
async fn eight_bit_data_needs_8bitmime() {
    let (mut conn, chunks) = ready("250-script.kumo.test\n250 PIPELINING").await;
    let d = conn
        .send(
            &Envelope::new("a@kumo.test", ["b@kumo.test"]),
            "Grüße\r\n".as_bytes(),
        )
        .await;
    assert_eq!(d.outcome, Outcome::Permanent);
    assert_eq!(d.reply.code, 554);
    assert_eq!(d.reply.enhanced, Some((5, 6, 3)));
    assert!(matches!(
        d.error,
        Some(SessionError::Unsendable(Unsendable::EightBitUnsupported))
    ));
    assert!(sent_after_ehlo(&chunks).is_empty(), "nothing sent");
    assert_eq!(conn.messages_sent(), 0);
    // The connection is fine for a 7-bit message.
    let d = conn
        .send(
            &Envelope::new("a@kumo.test", ["b@kumo.test"]),
            b"Gruesse\r\n",
        )
        .await;
    assert_eq!(d.outcome, Outcome::Delivered, "{d:?}");
}

#[tokio::test]
async fn utf8_addresses_need_smtputf8() {
    let (mut conn, chunks) = ready("250-script.kumo.test\n250 8BITMIME").await;
    let d = conn
        .send(&Envelope::new("a@kumo.test", ["jörg@kumo.test"]), b"x\r\n")
        .await;
    assert_eq!(d.outcome, Outcome::Permanent);
    assert_eq!(d.reply.enhanced, Some((5, 6, 7)));
    assert!(sent_after_ehlo(&chunks).is_empty());
}

#[tokio::test]
async fn size_over_the_advertised_limit() {
    let (mut conn, chunks) = ready("250-script.kumo.test\n250 SIZE 100").await;
    let big = vec![b'x'; 200];
    let d = conn
        .send(&Envelope::new("a@kumo.test", ["b@kumo.test"]), &big)
        .await;
    assert_eq!(d.outcome, Outcome::Permanent);
    assert_eq!(d.reply.code, 552);
    assert!(matches!(
        d.error,
        Some(SessionError::Unsendable(Unsendable::TooLarge {
            size: 202,
            limit: 100
        }))
    ));
    assert!(sent_after_ehlo(&chunks).is_empty());

    // `SIZE` without a number is no limit.
    let (mut conn, _) = ready("250-script.kumo.test\n250 SIZE").await;
    let d = conn
        .send(&Envelope::new("a@kumo.test", ["b@kumo.test"]), &big)
        .await;
    assert_eq!(d.outcome, Outcome::Delivered, "{d:?}");
}

#[tokio::test]
async fn no_recipient_and_unsafe_addresses() {
    let (mut conn, chunks) = ready("250 script.kumo.test").await;
    let d = conn
        .send(
            &Envelope::new("a@kumo.test", Vec::<String>::new()),
            b"x\r\n",
        )
        .await;
    assert_eq!(d.outcome, Outcome::Permanent);
    let d = conn
        .send(
            &Envelope::new("a@kumo.test>\r\nRSET", ["b@kumo.test"]),
            b"x\r\n",
        )
        .await;
    assert_eq!(d.outcome, Outcome::Permanent);
    assert!(sent_after_ehlo(&chunks).is_empty());

    // One unsafe recipient among good ones: only it is refused, and never written.
    let d = conn
        .send(
            &Envelope::new("a@kumo.test", ["b@kumo.test\r\nDATA", "c@kumo.test"]),
            b"x\r\n",
        )
        .await;
    assert_eq!(d.outcome, Outcome::Delivered, "{d:?}");
    assert_eq!(d.recipients[0].outcome, Outcome::Permanent);
    assert_eq!(d.recipients[0].reply.code, 553);
    assert_eq!(d.recipients[1].outcome, Outcome::Delivered);
    let sent = sent_after_ehlo(&chunks).concat();
    assert!(!sent.contains("b@kumo.test"), "{sent}");
}

#[tokio::test]
async fn helo_fallback_when_ehlo_is_refused() {
    let mut normal = accepting("unused");
    let (conn, chunks) = session("220 old.kumo.test", move |line| {
        if line.starts_with("EHLO") {
            Answer::Reply("502 5.5.2 what is EHLO")
        } else if line.starts_with("HELO") {
            Answer::Reply("250 old.kumo.test")
        } else {
            normal(line)
        }
    })
    .await;
    let mut conn = conn.expect("HELO works");
    assert!(!conn.capabilities().extended && !conn.capabilities().pipelining);
    assert_eq!(conn.capabilities().hostname, "old.kumo.test");
    let d = conn
        .send(&Envelope::new("a@kumo.test", ["b@kumo.test"]), b"x\r\n")
        .await;
    assert_eq!(d.outcome, Outcome::Delivered);
    let sent = show(&chunks.lock().unwrap());
    assert_eq!(sent[0], "EHLO client.kumo.test\r\n");
    assert_eq!(sent[1], "HELO client.kumo.test\r\n");
}

#[tokio::test]
async fn refused_greeting_and_ehlo() {
    let (conn, _) = session("554 5.7.1 go away", accepting("250 x")).await;
    match conn {
        Err(SessionError::Rejected {
            phase: Phase::Greeting,
            reply,
        }) => assert_eq!(reply.code, 554),
        other => panic!("{other:?}"),
    }
    let (conn, _) = session("220 x", |_| Answer::Reply("421 4.7.0 too busy")).await;
    match conn {
        Err(
            e @ SessionError::Rejected {
                phase: Phase::Ehlo, ..
            },
        ) => assert!(e.is_transient()),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn mail_refused_decides_for_every_recipient() {
    for (reply, outcome) in [
        ("451 4.7.1 greylisted", Outcome::Transient),
        ("550 5.7.1 sender refused", Outcome::Permanent),
    ] {
        for ehlo in ["250-x\n250 PIPELINING", "250 x"] {
            let mut normal = accepting(ehlo);
            let (conn, _) = session("220 x", move |line| {
                if line.starts_with("MAIL") {
                    Answer::Reply(reply)
                } else if line.starts_with("RCPT") {
                    Answer::Reply("503 5.5.1 need MAIL")
                } else if line == "DATA" {
                    Answer::Reply("503 5.5.1 need RCPT")
                } else {
                    normal(line)
                }
            })
            .await;
            let mut conn = conn.expect("handshake");
            let d = conn
                .send(
                    &Envelope::new("a@kumo.test", ["b@kumo.test", "c@kumo.test"]),
                    b"x\r\n",
                )
                .await;
            assert_eq!(d.outcome, outcome, "{ehlo}: {d:?}");
            assert_eq!(
                d.reply.to_string().split(' ').next(),
                reply.split(' ').next()
            );
            assert!(
                d.recipients
                    .iter()
                    .all(|r| r.outcome == outcome && r.reply == d.reply)
            );
            assert!(conn.can_send(), "a refusal is not a broken connection");
            // The session is still in step: the next message goes through the same script.
            let d = conn
                .send(&Envelope::new("a@kumo.test", ["b@kumo.test"]), b"x\r\n")
                .await;
            assert_eq!(d.outcome, outcome, "{ehlo}: second: {d:?}");
        }
    }
}

#[tokio::test]
async fn a_421_at_rcpt_ends_the_connection() {
    for ehlo in ["250-x\n250 PIPELINING", "250 x"] {
        let mut normal = accepting(ehlo);
        let (conn, _) = session("220 x", move |line| {
            if line.starts_with("RCPT") {
                Answer::Reply("421 4.3.2 shutting down")
            } else {
                normal(line)
            }
        })
        .await;
        let mut conn = conn.expect("handshake");
        let d = conn
            .send(&Envelope::new("a@kumo.test", ["b@kumo.test"]), b"x\r\n")
            .await;
        assert_eq!(d.outcome, Outcome::Transient, "{d:?}");
        assert_eq!(d.reply.code, 421);
        assert!(!conn.can_send() && !conn.is_usable());
    }
}

#[tokio::test]
async fn a_refused_data_or_final_dot() {
    for (at, reply, outcome) in [
        ("DATA", "451 4.3.0 not now", Outcome::Transient),
        ("DATA", "554 5.6.0 no thanks", Outcome::Permanent),
        (".", "452 4.3.1 disk full", Outcome::Transient),
        (".", "550 5.7.1 spam", Outcome::Permanent),
    ] {
        let mut normal = accepting("250-x\n250 PIPELINING");
        let (conn, _) = session("220 x", move |line| {
            if line == at {
                Answer::Reply(reply)
            } else {
                normal(line)
            }
        })
        .await;
        let mut conn = conn.expect("handshake");
        let d = conn
            .send(&Envelope::new("a@kumo.test", ["b@kumo.test"]), b"x\r\n")
            .await;
        assert_eq!(d.outcome, outcome, "{at} {reply}: {d:?}");
        assert_eq!(d.recipients[0].outcome, outcome);
        assert!(conn.can_send());
    }
}
