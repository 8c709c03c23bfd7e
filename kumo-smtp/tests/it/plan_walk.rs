//! Walking a connection plan: failures are recorded in order and the walk moves on.

use kumo_smtp::{AttemptResult, Envelope, Outcome, Phase, Target, TlsPolicy};

use crate::support::{Peer, client, closed_port, tcp};

#[tokio::test]
async fn closed_port_then_tempfail_greeting_then_accepting_server() {
    let Some(greeting_421) = Peer::start("tempfail-greeting").await else {
        return;
    };
    let Some(accepting) = Peer::start("accept").await else {
        return;
    };
    let closed = Target::new("closed.kumo.test", closed_port().await);
    let plan = [closed.clone(), greeting_421.target(), accepting.target()];

    let client = client(TlsPolicy::Disabled);
    let (mut conn, attempts) = client
        .connect(&plan, tcp)
        .await
        .expect("third target works");

    assert_eq!(attempts.len(), 3);
    for (attempt, target) in attempts.iter().zip(&plan) {
        assert_eq!(&attempt.target, target);
    }
    assert!(
        matches!(attempts[0].result, AttemptResult::ConnectFailed(_)),
        "{:?}",
        attempts[0]
    );
    match &attempts[1].result {
        AttemptResult::Refused(reply) => {
            assert_eq!(reply.code, 421);
            assert_eq!(reply.enhanced, Some((4, 3, 2)));
        }
        other => panic!("expected the 421 greeting, got {other:?}"),
    }
    assert!(attempts[2].result.is_ready());
    assert_eq!(conn.target(), &accepting.target());

    let delivery = conn
        .send(
            &Envelope::new("sender@kumo.test", ["rcpt@peer.test"]),
            b"Subject: plan\r\n\r\nthird time lucky\r\n",
        )
        .await;
    assert_eq!(delivery.outcome, Outcome::Delivered, "{delivery:?}");
    conn.quit().await;
    let stored = accepting.wait_messages(1).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].0, b"Subject: plan\r\n\r\nthird time lucky\r\n");
}

#[tokio::test]
async fn all_failing_is_connect_failed_with_every_attempt() {
    let Some(greeting_421) = Peer::start("tempfail-greeting").await else {
        return;
    };
    let plan = [
        Target::new("closed1.kumo.test", closed_port().await),
        greeting_421.target(),
        Target::new("closed2.kumo.test", closed_port().await),
    ];
    let client = client(TlsPolicy::Disabled);
    let failed = client
        .connect(&plan, tcp)
        .await
        .expect_err("nothing accepts");
    assert_eq!(failed.attempts.len(), 3);
    assert!(matches!(
        failed.attempts[0].result,
        AttemptResult::ConnectFailed(_)
    ));
    assert!(matches!(&failed.attempts[1].result, AttemptResult::Refused(r) if r.code == 421));
    assert!(matches!(
        failed.attempts[2].result,
        AttemptResult::ConnectFailed(_)
    ));
    assert_eq!(failed.last_reply().map(|r| r.code), Some(421));
    let text = failed.to_string();
    assert!(
        text.starts_with("all 3 attempts failed: last: closed2.kumo.test [127.0.0.1]:"),
        "{text}"
    );
}

#[tokio::test]
async fn an_empty_plan_fails_at_once() {
    let client = client(TlsPolicy::Disabled);
    let failed = client.connect(&[], tcp).await.expect_err("no targets");
    assert!(failed.attempts.is_empty());
    assert_eq!(failed.to_string(), "no addresses to try");
}

#[tokio::test]
async fn an_open_that_hangs_is_a_connect_timeout() {
    let mut config = kumo_smtp::ClientConfig::default().tls(TlsPolicy::Disabled);
    config.timeouts = kumo_smtp::Timeouts::all(std::time::Duration::from_millis(200));
    let client = crate::support::client_with(config);
    let target = Target::new("hang.kumo.test", closed_port().await);
    let failed = client
        .connect(std::slice::from_ref(&target), |_| async {
            std::future::pending::<std::io::Result<kumo_smtp::Io>>().await
        })
        .await
        .expect_err("hangs");
    assert!(matches!(
        failed.attempts[0].result,
        AttemptResult::Timeout(Phase::Connect)
    ));
    assert!(failed.attempts[0].elapsed >= std::time::Duration::from_millis(200));
}
