//! Connection reuse: many messages over one connection, RSET between them, and the message
//! limit respected.

use kumo_smtp::{ClientConfig, Envelope, Outcome, SessionError, TlsPolicy, Unsendable};

use crate::support::{Peer, client_with, tcp};

#[tokio::test]
async fn ten_messages_over_one_connection_up_to_the_limit() {
    let Some(peer) = Peer::start("accept").await else {
        return;
    };
    for pipelining in [true, false] {
        let client = client_with(
            ClientConfig::default()
                .tls(TlsPolicy::Disabled)
                .pipelining(pipelining)
                .max_messages_per_connection(10),
        );
        let (mut conn, _) = client
            .connect(&[peer.target()], tcp)
            .await
            .expect("connect");
        let before = peer.messages().len();
        for i in 0..10 {
            assert!(conn.can_send());
            assert_eq!(conn.messages_sent(), i);
            // Every other message has a refused recipient: RSET must clear it.
            let recipients: Vec<String> = if i % 2 == 0 {
                vec![format!("user{i}@peer.test")]
            } else {
                vec![format!("reject{i}@peer.test"), format!("user{i}@peer.test")]
            };
            let data =
                format!("Subject: {i}\r\n\r\nmessage {i} of 10 (pipelining {pipelining})\r\n");
            let d = conn
                .send(
                    &Envelope::new("sender@kumo.test", recipients),
                    data.as_bytes(),
                )
                .await;
            assert_eq!(
                d.outcome,
                Outcome::Delivered,
                "message {i}: {d:?}\n{}",
                peer.log()
            );
        }
        assert_eq!(conn.messages_sent(), 10);
        assert!(!conn.can_send(), "at the limit");
        assert!(conn.is_usable());

        let refused = conn
            .send(
                &Envelope::new("sender@kumo.test", ["late@peer.test"]),
                b"x\r\n",
            )
            .await;
        assert_eq!(refused.outcome, Outcome::Transient);
        assert!(matches!(
            refused.error,
            Some(SessionError::Unsendable(Unsendable::LimitReached))
        ));
        assert_eq!(conn.messages_sent(), 10);
        conn.quit().await;

        let stored = peer.wait_messages(before + 10).await;
        assert_eq!(stored.len(), before + 10, "the 11th was not sent");
        for (i, (data, meta)) in stored[before..].iter().enumerate() {
            let want =
                format!("Subject: {i}\r\n\r\nmessage {i} of 10 (pipelining {pipelining})\r\n");
            assert_eq!(String::from_utf8_lossy(data), want);
            assert_eq!(
                meta["rcpt_tos"],
                serde_json::json!([format!("user{i}@peer.test")])
            );
        }
    }
}
