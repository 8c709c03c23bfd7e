//! PIPELINING is used when offered: RSET, MAIL, the RCPTs and DATA reach the server in one
//! chunk; without it, one command per round trip.

use kumo_smtp::{ClientConfig, Envelope, Io, Outcome, Target, TlsPolicy};

use crate::support::{accepting, client_with, scripted, show};

async fn run(ehlo: &'static str, pipelining: bool) -> Vec<Vec<u8>> {
    let (ours, theirs) = tokio::io::duplex(1 << 16);
    let chunks = scripted(theirs, "220 script.kumo.test", accepting(ehlo));
    let client = client_with(
        ClientConfig::default()
            .tls(TlsPolicy::Disabled)
            .pipelining(pipelining),
    );
    let target = Target::new("script.kumo.test", "127.0.0.1:25".parse().unwrap());
    let mut conn = client
        .handshake(&target, Io::new(ours))
        .await
        .expect("handshake");
    for i in 0..2 {
        let d = conn
            .send(
                &Envelope::new("a@kumo.test", ["b1@kumo.test", "b2@kumo.test"]),
                format!("Subject: {i}\r\n\r\nbody\r\n").as_bytes(),
            )
            .await;
        assert_eq!(d.outcome, Outcome::Delivered, "{d:?}");
    }
    conn.quit().await;
    chunks.lock().unwrap().clone()
}

#[tokio::test]
async fn offered_means_one_chunk_per_transaction() {
    let chunks = run(
        "250-script.kumo.test\n250-PIPELINING\n250 SIZE 1000000",
        true,
    )
    .await;
    let text = show(&chunks);
    let batches: Vec<&String> = text.iter().filter(|c| c.contains("MAIL FROM")).collect();
    assert_eq!(batches.len(), 2, "{text:#?}");
    assert_eq!(
        batches[0].as_str(),
        "MAIL FROM:<a@kumo.test> SIZE=20\r\nRCPT TO:<b1@kumo.test>\r\nRCPT TO:<b2@kumo.test>\r\nDATA\r\n"
    );
    assert_eq!(
        batches[1].as_str(),
        "RSET\r\nMAIL FROM:<a@kumo.test> SIZE=20\r\nRCPT TO:<b1@kumo.test>\r\nRCPT TO:<b2@kumo.test>\r\nDATA\r\n"
    );
    // EHLO, 2 × (commands, body), QUIT.
    assert_eq!(chunks.len(), 6, "{text:#?}");
}

#[tokio::test]
async fn not_offered_means_one_command_per_round_trip() {
    let chunks = run("250-script.kumo.test\n250 8BITMIME", true).await;
    assert_one_per_round_trip(&chunks);
}

#[tokio::test]
async fn offered_but_switched_off_means_one_command_per_round_trip() {
    let chunks = run("250-script.kumo.test\n250 PIPELINING", false).await;
    assert_one_per_round_trip(&chunks);
}

fn assert_one_per_round_trip(chunks: &[Vec<u8>]) {
    let text = show(chunks);
    let commands: Vec<&str> = text
        .iter()
        .filter(|c| !c.starts_with("Subject"))
        .map(|c| c.as_str())
        .collect();
    assert_eq!(
        commands,
        [
            "EHLO client.kumo.test\r\n",
            "MAIL FROM:<a@kumo.test>\r\n",
            "RCPT TO:<b1@kumo.test>\r\n",
            "RCPT TO:<b2@kumo.test>\r\n",
            "DATA\r\n",
            "RSET\r\n",
            "MAIL FROM:<a@kumo.test>\r\n",
            "RCPT TO:<b1@kumo.test>\r\n",
            "RCPT TO:<b2@kumo.test>\r\n",
            "DATA\r\n",
            "QUIT\r\n",
        ],
        "{text:#?}"
    );
}
