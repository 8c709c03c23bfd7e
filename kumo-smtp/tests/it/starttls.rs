//! STARTTLS against aiosmtpd with a certificate made at test time.

use kumo_smtp::{AttemptResult, Envelope, Outcome, Target, TlsPolicy, Verify};

use crate::support::{MX_HOST, Peer, PeerOptions, TestCert, client, tcp};

async fn tls_peer(cert: &TestCert) -> Option<Peer> {
    Peer::start_with(PeerOptions {
        role: "accept",
        tls: Some(cert),
        extra: &[],
    })
    .await
}

const BODY: &[u8] = b"Subject: tls\r\n\r\nover TLS\r\n";

#[tokio::test]
async fn opportunistic_without_verification_encrypts() {
    let cert = TestCert::new();
    let Some(peer) = tls_peer(&cert).await else {
        return;
    };
    let client = client(TlsPolicy::Opportunistic {
        verify: Verify::None,
    });
    let (mut conn, attempts) = client
        .connect(&[peer.target()], tcp)
        .await
        .expect("connect");
    assert_eq!(attempts.len(), 1);
    assert!(conn.is_tls());
    let info = conn.tls_info().expect("tls info");
    assert!(info.protocol.starts_with("TLSv1_"), "{info}");
    assert!(!info.cipher.is_empty());
    // The second EHLO, over TLS, no longer offers STARTTLS.
    assert!(!conn.capabilities().starttls);
    let d = conn
        .send(&Envelope::new("sender@kumo.test", ["rcpt@peer.test"]), BODY)
        .await;
    assert_eq!(d.outcome, Outcome::Delivered, "{d:?}\n{}", peer.log());
    conn.quit().await;
    let (got, meta) = peer.wait_messages(1).await.pop().expect("stored");
    assert_eq!(got, BODY);
    assert_eq!(meta["tls"], true);
}

#[tokio::test]
async fn required_with_the_certificate_as_root_verifies() {
    let cert = TestCert::new();
    let Some(peer) = tls_peer(&cert).await else {
        return;
    };
    let client = client(TlsPolicy::Required {
        verify: Verify::Roots(cert.roots()),
    });
    let (mut conn, _) = client
        .connect(&[peer.target()], tcp)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", peer.log()));
    assert!(conn.is_tls());
    let d = conn
        .send(&Envelope::new("sender@kumo.test", ["rcpt@peer.test"]), BODY)
        .await;
    assert_eq!(d.outcome, Outcome::Delivered, "{d:?}");
    conn.quit().await;
    assert_eq!(peer.wait_messages(1).await[0].1["tls"], true);

    // The same root, another host name: the certificate does not match.
    let wrong = Target::new("other.kumo.test", peer.addr());
    let failed = client
        .connect(&[wrong], tcp)
        .await
        .expect_err("name mismatch");
    assert!(matches!(
        failed.attempts[0].result,
        AttemptResult::TlsFailed(_)
    ));
}

#[tokio::test]
async fn required_webpki_refuses_a_self_signed_certificate_and_moves_on() {
    let cert = TestCert::new();
    let Some(tls) = tls_peer(&cert).await else {
        return;
    };
    let Some(plain) = Peer::start("accept").await else {
        return;
    };
    let client = client(TlsPolicy::Required {
        verify: Verify::WebPki,
    });
    let failed = client
        .connect(&[tls.target(), plain.target()], tcp)
        .await
        .expect_err("neither can do verified TLS");
    assert_eq!(failed.attempts.len(), 2);
    match &failed.attempts[0].result {
        AttemptResult::TlsFailed(why) => {
            assert!(why.contains("certificate"), "{why}");
        }
        other => panic!("expected TlsFailed, got {other:?}"),
    }
    match &failed.attempts[1].result {
        AttemptResult::TlsFailed(why) => assert!(why.contains("STARTTLS"), "{why}"),
        other => panic!("expected TlsFailed (not offered), got {other:?}"),
    }
    assert!(tls.messages().is_empty() && plain.messages().is_empty());
}

#[tokio::test]
async fn opportunistic_handshake_failure_retries_in_plaintext() {
    let cert = TestCert::new();
    let Some(peer) = tls_peer(&cert).await else {
        return;
    };
    // Verification on, and it fails: the same address again, in plaintext.
    let client = client(TlsPolicy::Opportunistic {
        verify: Verify::WebPki,
    });
    let (mut conn, attempts) = client
        .connect(&[peer.target()], tcp)
        .await
        .expect("plaintext retry");
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert!(matches!(attempts[0].result, AttemptResult::TlsFailed(_)));
    assert!(attempts[1].result.is_ready());
    assert_eq!(attempts[0].target.host, MX_HOST);
    assert!(!conn.is_tls());
    let d = conn
        .send(&Envelope::new("sender@kumo.test", ["rcpt@peer.test"]), BODY)
        .await;
    assert_eq!(d.outcome, Outcome::Delivered, "{d:?}");
    conn.quit().await;
    assert_eq!(peer.wait_messages(1).await[0].1["tls"], false);
}

#[tokio::test]
async fn disabled_stays_in_plaintext_when_offered() {
    let cert = TestCert::new();
    let Some(peer) = tls_peer(&cert).await else {
        return;
    };
    let (conn, _) = client(TlsPolicy::Disabled)
        .connect(&[peer.target()], tcp)
        .await
        .expect("connect");
    assert!(conn.capabilities().starttls && !conn.is_tls());
    conn.quit().await;
}
