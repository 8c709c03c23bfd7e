//! The ESMTP listener under a client that pipelines (RFC 2920) as far as the RFC allows: each
//! envelope and its `DATA` in one write, and after each final dot the next envelope in the
//! same write. The messages are made by Python's `email` package and sent from a plain Python
//! socket; each comes out of the demo's delivery stage byte-identical apart from `Received:`.

use std::time::Duration;

use super::{maildir_files, python, run, split_received, start_listening};

/// Sends three messages of two recipients each, pipelined; writes each message's bytes to
/// `OUT/sentN.eml` and prints every reply, in order, as JSON.
const PIPELINED_BATCH: &str = r#"
import json, re, socket, sys
from email.message import EmailMessage
from email import policy
port, out = int(sys.argv[1]), sys.argv[2]
batch = []
for i in range(3):
    m = EmailMessage(policy=policy.SMTP)
    m["From"] = "pipe@kumo.test"
    m["To"] = f"p{i}a@example.test, p{i}b@gmail.test"
    m["Subject"] = f"pipelined message {i}"
    m.set_content(f"message {i}\n.a line that starts with a dot\n..and two\n")
    data = m.as_bytes()
    open(f"{out}/sent{i}.eml", "wb").write(data)
    envelope = f"MAIL FROM:<pipe@kumo.test>\r\nRCPT TO:<p{i}a@example.test>\r\nRCPT TO:<p{i}b@gmail.test>\r\nDATA\r\n"
    batch.append((envelope.encode(), re.sub(rb"(?m)^\.", b"..", data) + b".\r\n"))
s = socket.create_connection(("127.0.0.1", port), timeout=10)
f = s.makefile("rb")
def reply():
    lines = []
    while True:
        line = f.readline().decode()
        lines.append(line.strip())
        if line[3:4] != "-":
            return lines[-1]
replies = [reply()]
s.sendall(b"EHLO pipeliner.example\r\n")
replies.append(reply())
s.sendall(batch[0][0])
replies += [reply() for _ in range(4)]
for i, (_, body) in enumerate(batch):
    following = batch[i + 1][0] if i + 1 < len(batch) else b"QUIT\r\n"
    s.sendall(body + following)
    replies += [reply() for _ in range(5 if i + 1 < len(batch) else 2)]
print(json.dumps(replies))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_batches_are_received_and_delivered_byte_identical() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (config, maildir) = (dir.path().join("config"), dir.path().join("mail"));
    std::fs::create_dir_all(&config).unwrap();
    let demo = start_listening(&config, &maildir).await;
    let port = demo.smtp_addr().unwrap().port();

    let out = run(
        py,
        vec![
            "-c".into(),
            PIPELINED_BATCH.into(),
            port.to_string(),
            dir.path().display().to_string(),
        ],
    )
    .await;
    let replies: Vec<String> = serde_json::from_str(out.trim()).unwrap();
    let codes: Vec<&str> = replies.iter().map(|r| &r[..3]).collect();
    // Greeting, EHLO; per message MAIL, RCPT, RCPT, DATA (354) then its final dot (250);
    // QUIT.
    let mut expected = vec!["220", "250"];
    for _ in 0..3 {
        expected.extend(["250", "250", "250", "354", "250"]);
    }
    expected.push("221");
    assert_eq!(codes, expected, "{replies:?}");

    assert!(demo.wait_idle(Duration::from_secs(30)).await);
    let files = maildir_files(&maildir);
    assert_eq!(files.len(), 6, "one copy per recipient");
    for i in 0..3 {
        let sent = std::fs::read(dir.path().join(format!("sent{i}.eml"))).unwrap();
        let copies = files
            .iter()
            .filter(|f| split_received(f).1 == sent.as_slice())
            .count();
        assert_eq!(copies, 2, "message {i} byte-identical, once per recipient");
    }
    for f in &files {
        let (received, _) = split_received(f);
        assert!(
            received.contains("from pipeliner.example (127.0.0.1)"),
            "{received}"
        );
    }
    demo.shutdown().await;
}
