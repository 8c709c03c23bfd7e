//! The bytes aiosmtpd stores equal the bytes given, for messages that exercise
//! dot-stuffing, long lines, 8-bit text and Python's own MIME output.

use kumo_smtp::{Connection, Envelope, Io, Outcome, TlsPolicy};

use crate::support::{Peer, client, python, run_python, tcp};

/// A 64-bit generator (splitmix64): deterministic messages from a seed.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A message of CRLF lines: dots at line starts, a lone dot, empty lines, lines up to 998
/// bytes, and (when `eight_bit`) UTF-8 text.
fn generated(seed: u64, eight_bit: bool) -> Vec<u8> {
    let mut mix = Mix(seed);
    let mut out = format!("Subject: generated {seed}\r\nX-Seed: {seed}\r\n\r\n").into_bytes();
    let lines = 1 + mix.below(60);
    for _ in 0..lines {
        let line: Vec<u8> = match mix.below(10) {
            0 => b".".to_vec(),
            1 => b"..".to_vec(),
            2 => b".leading dot".to_vec(),
            3 => Vec::new(),
            4 => {
                let n = 900 + mix.below(99) as usize; // up to 998
                (0..n).map(|i| b'a' + (i % 26) as u8).collect()
            }
            5 if eight_bit => "Grüße, Jörg — 日本語 ✉".as_bytes().to_vec(),
            6 => b". . .".to_vec(),
            _ => format!("line {} of text", mix.next()).into_bytes(),
        };
        assert!(line.len() <= 998);
        out.extend_from_slice(&line);
        out.extend_from_slice(b"\r\n");
    }
    out
}

async fn connect(peer: &Peer) -> Connection<Io> {
    let (conn, _) = client(TlsPolicy::Disabled)
        .connect(&[peer.target()], tcp)
        .await
        .expect("connect");
    conn
}

#[tokio::test]
async fn generated_messages_are_stored_byte_for_byte() {
    let Some(peer) = Peer::start("accept").await else {
        return;
    };
    let mut conn = connect(&peer).await;
    let mut sent = Vec::new();
    let fixed: [&[u8]; 4] = [
        b".\r\n",
        b"..\r\n.\r\n...\r\n",
        b"Subject: dots\r\n\r\n.\r\n..\r\n.x\r\nend\r\n.\r\n",
        b"",
    ];
    for data in fixed {
        sent.push((data.to_vec(), false));
    }
    for seed in 0..16 {
        sent.push((generated(seed, seed % 2 == 1), seed % 2 == 1));
    }
    for (data, _) in &sent {
        let d = conn
            .send(&Envelope::new("sender@kumo.test", ["rcpt@peer.test"]), data)
            .await;
        assert_eq!(d.outcome, Outcome::Delivered, "{d:?}\n{}", peer.log());
    }
    conn.quit().await;

    let stored = peer.wait_messages(sent.len()).await;
    assert_eq!(stored.len(), sent.len());
    for (i, ((data, eight_bit), (got, meta))) in sent.iter().zip(&stored).enumerate() {
        assert!(
            got == data,
            "message {i} differs:\nsent {:?}\ngot  {:?}",
            String::from_utf8_lossy(data),
            String::from_utf8_lossy(got)
        );
        let options = meta["mail_options"].as_array().expect("options");
        assert_eq!(
            options.iter().any(|o| o == "BODY=8BITMIME"),
            *eight_bit,
            "message {i}: {options:?}"
        );
        let size = format!("SIZE={}", data.len());
        assert!(
            options.iter().any(|o| *o == size),
            "{options:?} lacks {size}"
        );
    }
}

#[tokio::test]
async fn bare_line_endings_arrive_as_crlf() {
    let Some(peer) = Peer::start("accept").await else {
        return;
    };
    let mut conn = connect(&peer).await;
    let cases: [(&[u8], &[u8]); 3] = [
        (
            b"Subject: lf\n\n.\nbody\n",
            b"Subject: lf\r\n\r\n..\r\nbody\r\n",
        ),
        (b"a\rb\r\n", b"a\r\nb\r\n"),
        (b"no final newline", b"no final newline\r\n"),
    ];
    for (input, _) in cases {
        let d = conn
            .send(
                &Envelope::new("sender@kumo.test", ["rcpt@peer.test"]),
                input,
            )
            .await;
        assert_eq!(d.outcome, Outcome::Delivered, "{d:?}");
    }
    conn.quit().await;
    let stored = peer.wait_messages(cases.len()).await;
    // What the receiver stores is the CRLF form, un-stuffed: "..\r\n" above is ".\r\n".
    let expected: [&[u8]; 3] = [b"Subject: lf\r\n\r\n.\r\nbody\r\n", cases[1].1, cases[2].1];
    for ((got, _), want) in stored.iter().zip(expected) {
        assert_eq!(String::from_utf8_lossy(got), String::from_utf8_lossy(want));
    }
}

#[tokio::test]
async fn utf8_envelope_uses_smtputf8() {
    let Some(peer) = Peer::start("accept").await else {
        return;
    };
    let mut conn = connect(&peer).await;
    assert!(conn.capabilities().smtputf8);
    let data = "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\r\nGrüße\r\n".as_bytes();
    let d = conn
        .send(&Envelope::new("jörg@kumo.test", ["bücher@peer.test"]), data)
        .await;
    assert_eq!(d.outcome, Outcome::Delivered, "{d:?}\n{}", peer.log());
    conn.quit().await;
    let (got, meta) = peer.wait_messages(1).await.pop().expect("stored");
    assert_eq!(got, data);
    assert_eq!(meta["mail_from"], "jörg@kumo.test");
    assert_eq!(meta["rcpt_tos"], serde_json::json!(["bücher@peer.test"]));
    let options = meta["mail_options"].as_array().expect("options");
    assert!(options.iter().any(|o| o == "SMTPUTF8"), "{options:?}");
    assert!(options.iter().any(|o| o == "BODY=8BITMIME"), "{options:?}");
}

/// The message is built by Python's `email` package (the project's rule for generated mail):
/// multipart, an 8-bit UTF-8 text part with lines starting with dots, an HTML alternative,
/// and a binary attachment.
const MAKE_MIME: &str = r#"
import sys
from email import policy
from email.message import EmailMessage

msg = EmailMessage(policy=policy.SMTP)
msg["From"] = "Sender <sender@kumo.test>"
msg["To"] = "rcpt@peer.test"
msg["Subject"] = "Grüße aus dem Test"
msg.set_content("Hallo, Jörg.\n.a line starting with a dot\n.\n..\n" + "x" * 900 + "\n", cte="8bit")
msg.add_alternative("<p>Hallo, J\u00f6rg.</p>\n.\n", subtype="html", cte="quoted-printable")
msg.add_attachment(bytes(range(256)) * 8, maintype="application", subtype="octet-stream",
                   filename="bytes.bin")
sys.stdout.buffer.write(msg.as_bytes(policy=policy.SMTP))
"#;

#[tokio::test]
async fn a_message_from_pythons_email_package() {
    let Some(python) = python() else {
        return;
    };
    let Some(peer) = Peer::start("accept").await else {
        return;
    };
    let data = run_python(&python, MAKE_MIME, &[]).await;
    assert!(data.windows(7).any(|w| w == b"\r\n.a li"), "has a dot line");
    assert!(!data.is_ascii(), "has 8-bit text");
    assert!(data.ends_with(b"\r\n"));

    let mut conn = connect(&peer).await;
    let d = conn
        .send(
            &Envelope::new("sender@kumo.test", ["rcpt@peer.test"]),
            &data,
        )
        .await;
    assert_eq!(d.outcome, Outcome::Delivered, "{d:?}\n{}", peer.log());
    conn.quit().await;
    let (got, meta) = peer.wait_messages(1).await.pop().expect("stored");
    assert!(got == data, "stored bytes differ from the email package's");
    assert!(
        meta["mail_options"]
            .as_array()
            .expect("options")
            .iter()
            .any(|o| o == "BODY=8BITMIME")
    );
}
