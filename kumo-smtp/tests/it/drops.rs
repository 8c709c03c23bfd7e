//! A connection lost during DATA: before the final dot it is an ordinary transient failure;
//! after it, a possible duplicate (RFC 1047).

use kumo_smtp::{Envelope, Outcome, Phase, TlsPolicy};

use crate::support::{Peer, client, tcp};

#[tokio::test]
async fn drop_mid_data_is_transient_and_not_a_duplicate() {
    let Some(peer) = Peer::start("drop-in-data").await else {
        return;
    };
    let (mut conn, _) = client(TlsPolicy::Disabled)
        .connect(&[peer.target()], tcp)
        .await
        .expect("connect");
    // Far more than the socket buffers hold: the writes fail before the final dot.
    let mut data = b"Subject: big\r\n\r\n".to_vec();
    let line = [b'x'; 998];
    while data.len() < 24 << 20 {
        data.extend_from_slice(&line);
        data.extend_from_slice(b"\r\n");
    }
    let d = conn
        .send(
            &Envelope::new("sender@kumo.test", ["rcpt@peer.test"]),
            &data,
        )
        .await;
    assert_eq!(d.outcome, Outcome::Transient, "{d:?}");
    assert!(!d.possible_duplicate, "{d:?}");
    let error = d.error.as_ref().expect("a connection error");
    assert_eq!(error.phase(), Some(Phase::DataBlock), "{error:?}");
    assert_eq!(d.reply.code, 451);
    assert!(d.recipients.iter().all(|r| r.outcome == Outcome::Transient));
    assert!(!conn.can_send() && !conn.is_usable());

    // An unusable connection refuses further messages without trying.
    let again = conn
        .send(
            &Envelope::new("sender@kumo.test", ["rcpt@peer.test"]),
            b"x\r\n",
        )
        .await;
    assert_eq!(again.outcome, Outcome::Transient);
    assert_eq!(conn.messages_sent(), 1);
    assert!(peer.messages().is_empty());
}

#[tokio::test]
async fn drop_after_the_final_dot_is_a_possible_duplicate() {
    let Some(peer) = Peer::start("drop-after-dot").await else {
        return;
    };
    let (mut conn, _) = client(TlsPolicy::Disabled)
        .connect(&[peer.target()], tcp)
        .await
        .expect("connect");
    let data = b"Subject: dup\r\n\r\nthe server has me, the client cannot know\r\n";
    let d = conn
        .send(&Envelope::new("sender@kumo.test", ["rcpt@peer.test"]), data)
        .await;
    assert_eq!(d.outcome, Outcome::Transient, "{d:?}");
    assert!(d.possible_duplicate, "{d:?}");
    assert_eq!(
        d.error.as_ref().and_then(|e| e.phase()),
        Some(Phase::DataDone)
    );
    assert!(!conn.can_send());
    // The risk is real: the server stored the whole message.
    let stored = peer.wait_messages(1).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].0, data);
}

#[tokio::test]
async fn a_close_before_data_is_transient() {
    use crate::support::{Answer, accepting, scripted};
    use kumo_smtp::{Io, Target};

    for ehlo in ["250-x\n250 PIPELINING", "250 x"] {
        let (ours, theirs) = tokio::io::duplex(1 << 16);
        let mut normal = accepting(ehlo);
        scripted(theirs, "220 x", move |line| {
            if line.starts_with("RCPT") {
                Answer::Close
            } else {
                normal(line)
            }
        });
        let target = Target::new("x.kumo.test", "127.0.0.1:25".parse().unwrap());
        let mut conn = client(TlsPolicy::Disabled)
            .handshake(&target, Io::new(ours))
            .await
            .expect("handshake");
        let d = conn
            .send(&Envelope::new("a@kumo.test", ["b@kumo.test"]), b"x\r\n")
            .await;
        assert_eq!(d.outcome, Outcome::Transient, "{d:?}");
        assert!(!d.possible_duplicate);
        assert_eq!(
            d.error.as_ref().and_then(|e| e.phase()),
            Some(Phase::RcptTo)
        );
        assert!(!conn.can_send());
    }
}
