//! Timeouts against raw listeners that stop talking.

use std::time::Duration;

use kumo_smtp::{
    AttemptResult, ClientConfig, Envelope, Outcome, Phase, Target, Timeouts, TlsPolicy,
};
use tokio::net::TcpListener;

use crate::support::{Answer, Peer, accepting, client_with, scripted_listener, tcp};

fn short() -> ClientConfig {
    ClientConfig::default()
        .tls(TlsPolicy::Disabled)
        .timeouts(Timeouts::all(Duration::from_millis(200)))
}

/// Accepts connections and never says a word (keeps them open).
async fn silent_listener() -> Target {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    Target::new("silent.kumo.test", addr)
}

#[tokio::test]
async fn a_silent_server_times_out_at_the_greeting_and_the_walk_moves_on() {
    let silent = silent_listener().await;
    let Some(peer) = Peer::start("accept").await else {
        return;
    };
    let client = client_with(short());
    let (conn, attempts) = client
        .connect(&[silent.clone(), peer.target()], tcp)
        .await
        .expect("second target works");
    assert!(matches!(
        attempts[0].result,
        AttemptResult::Timeout(Phase::Greeting)
    ));
    assert!(attempts[0].elapsed >= Duration::from_millis(200));
    assert!(attempts[0].elapsed < Duration::from_secs(2));
    assert!(attempts[1].result.is_ready());
    conn.quit().await;
}

#[tokio::test]
async fn a_server_that_stalls_after_data() {
    let addr = scripted_listener("220 stall.kumo.test", || {
        let mut normal = accepting("250-stall.kumo.test\n250 PIPELINING");
        move |line: &str| {
            if line == "DATA" {
                Answer::Silent
            } else {
                normal(line)
            }
        }
    })
    .await;
    let client = client_with(short());
    let (mut conn, _) = client
        .connect(&[Target::new("stall.kumo.test", addr)], tcp)
        .await
        .expect("connect");
    let started = std::time::Instant::now();
    let d = conn
        .send(&Envelope::new("a@kumo.test", ["b@kumo.test"]), b"x\r\n")
        .await;
    assert_eq!(d.outcome, Outcome::Transient, "{d:?}");
    assert!(!d.possible_duplicate);
    assert_eq!(d.error.as_ref().and_then(|e| e.phase()), Some(Phase::Data));
    assert!(d.reply.text.contains("timed out"), "{}", d.reply);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(!conn.can_send());
}

#[tokio::test]
async fn a_server_that_stalls_after_the_final_dot() {
    let addr = scripted_listener("220 stall.kumo.test", || {
        let mut normal = accepting("250 stall.kumo.test");
        move |line: &str| {
            if line == "." {
                Answer::Silent
            } else {
                normal(line)
            }
        }
    })
    .await;
    let client = client_with(short());
    let (mut conn, _) = client
        .connect(&[Target::new("stall.kumo.test", addr)], tcp)
        .await
        .expect("connect");
    let d = conn
        .send(&Envelope::new("a@kumo.test", ["b@kumo.test"]), b"x\r\n")
        .await;
    assert_eq!(d.outcome, Outcome::Transient, "{d:?}");
    assert!(d.possible_duplicate, "the final dot was written: {d:?}");
    assert_eq!(
        d.error.as_ref().and_then(|e| e.phase()),
        Some(Phase::DataDone)
    );
    assert!(!conn.can_send());
}
