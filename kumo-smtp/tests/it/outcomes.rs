//! Each server answer maps to the right outcome, with and without PIPELINING.

use kumo_smtp::{ClientConfig, Delivery, Envelope, Outcome, TlsPolicy};

use crate::support::{Peer, client_with, tcp};

const BODY: &[u8] = b"Subject: outcome\r\n\r\nhello\r\n";

/// Sends one message to `peer` and returns the delivery; checks the session stays usable
/// (a refusal is not a connection failure).
async fn deliver(peer: &Peer, recipients: &[&str], pipelining: bool) -> Delivery {
    let client = client_with(
        ClientConfig::default()
            .tls(TlsPolicy::Disabled)
            .pipelining(pipelining),
    );
    let (mut conn, _) = client
        .connect(&[peer.target()], tcp)
        .await
        .expect("connect");
    assert!(conn.capabilities().pipelining);
    let delivery = conn
        .send(
            &Envelope::new("sender@kumo.test", recipients.iter().copied()),
            BODY,
        )
        .await;
    assert!(conn.can_send(), "{delivery:?}\n{}", peer.log());
    conn.quit().await;
    delivery
}

async fn both_ways(role: &str, check: impl Fn(&Delivery, &Peer)) {
    let Some(peer) = Peer::start(role).await else {
        return;
    };
    for pipelining in [true, false] {
        let recipients = ["a@peer.test", "b@peer.test"];
        let delivery = deliver(&peer, &recipients, pipelining).await;
        check(&delivery, &peer);
    }
}

#[tokio::test]
async fn tempfail_rcpt_is_transient() {
    both_ways("tempfail-rcpt", |d, _| {
        assert_eq!(d.outcome, Outcome::Transient, "{d:?}");
        assert_eq!(d.reply.code, 451);
        assert_eq!(d.reply.enhanced, Some((4, 3, 0)));
        assert!(d.recipients.iter().all(|r| r.outcome == Outcome::Transient));
        assert!(!d.possible_duplicate && d.error.is_none());
    })
    .await;
}

#[tokio::test]
async fn reject_rcpt_is_permanent() {
    both_ways("reject-rcpt", |d, _| {
        assert_eq!(d.outcome, Outcome::Permanent, "{d:?}");
        assert_eq!(d.reply.to_string(), "550 5.1.1 No such user");
        assert!(d.recipients.iter().all(|r| r.outcome == Outcome::Permanent));
    })
    .await;
}

#[tokio::test]
async fn accept_is_delivered() {
    both_ways("accept", |d, peer| {
        assert_eq!(d.outcome, Outcome::Delivered, "{d:?}");
        assert_eq!(d.reply.to_string(), "250 2.0.0 OK queued");
        assert!(d.recipients.iter().all(|r| r.outcome == Outcome::Delivered));
        let stored = peer.messages();
        let (data, meta) = stored.last().expect("stored");
        assert_eq!(data, BODY);
        assert_eq!(
            meta["rcpt_tos"],
            serde_json::json!(["a@peer.test", "b@peer.test"])
        );
        assert_eq!(meta["mail_from"], "sender@kumo.test");
    })
    .await;
}

#[tokio::test]
async fn mixed_recipients() {
    let Some(peer) = Peer::start("accept").await else {
        return;
    };
    for pipelining in [true, false] {
        // One accepted: delivered; the others keep their own outcome and reply.
        let d = deliver(
            &peer,
            &["tempfail1@peer.test", "ok@peer.test", "reject1@peer.test"],
            pipelining,
        )
        .await;
        assert_eq!(d.outcome, Outcome::Delivered, "{d:?}");
        let per: Vec<(&str, Outcome, u16)> = d
            .recipients
            .iter()
            .map(|r| (r.recipient.as_str(), r.outcome, r.reply.code))
            .collect();
        assert_eq!(
            per,
            [
                ("tempfail1@peer.test", Outcome::Transient, 451),
                ("ok@peer.test", Outcome::Delivered, 250),
                ("reject1@peer.test", Outcome::Permanent, 550),
            ]
        );
        let (_, meta) = peer.messages().pop().expect("stored");
        assert_eq!(meta["rcpt_tos"], serde_json::json!(["ok@peer.test"]));

        // None accepted, 4xx and 5xx mixed: transient (the 4xx may work later).
        let d = deliver(
            &peer,
            &["reject2@peer.test", "tempfail2@peer.test"],
            pipelining,
        )
        .await;
        assert_eq!(d.outcome, Outcome::Transient, "{d:?}");
        assert_eq!(d.reply.code, 451);
        assert_eq!(d.recipients[0].outcome, Outcome::Permanent);
        assert_eq!(d.recipients[1].outcome, Outcome::Transient);

        // All 5xx: permanent.
        let d = deliver(
            &peer,
            &["reject3@peer.test", "reject4@peer.test"],
            pipelining,
        )
        .await;
        assert_eq!(d.outcome, Outcome::Permanent, "{d:?}");
    }
    // Only the two delivered messages were stored.
    assert_eq!(peer.messages().len(), 2);
}
