//! Golden tests of the formatter (and of the JSON-lines form the text is read back from).
//!
//! Each scenario is written as JSON lines (`tests/golden/NAME.jsonl`), read back, and
//! formatted (`tests/golden/NAME.txt`); both files must match. Set `KUMO_UPDATE_GOLDEN=1` to
//! rewrite them after an intended change, and review the diff. Update mode refuses to run when
//! `CI` is set (it would compare each file with itself), and even in update mode the stored
//! files are checked against each other: the stored JSON lines read back and written again give
//! the same bytes, and formatted give the stored text.
#![allow(
    clippy::print_stderr,
    reason = "update mode says which golden files it rewrote"
)]

use std::path::PathBuf;
use std::sync::Arc;

use crate::support::{BODY, Sess, at, global};
use kumo_trace::{
    ConnMeta, Disposition, Formatter, JsonLinesReader, Level, MessageDisposition, Payload,
    SubscribeOptions, TraceEvent, TraceHub, to_json_line,
};

/// Reads JSON lines back and formats them; also gives the lines written again from the events.
fn read_and_format(jsonl: &str) -> (String, String) {
    let mut fmt = Formatter::new();
    let mut text = String::new();
    let mut again = String::new();
    for ev in JsonLinesReader::new(jsonl.as_bytes()) {
        let ev = ev.expect("reads back");
        again.push_str(&to_json_line(&ev));
        fmt.format_into(&ev, &mut text);
    }
    (text, again)
}

fn check(name: &str, events: &[TraceEvent]) {
    let jsonl: String = events.iter().map(to_json_line).collect();
    let (text, _) = read_and_format(&jsonl);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let update = std::env::var_os("KUMO_UPDATE_GOLDEN").is_some();
    if update {
        assert!(
            std::env::var_os("CI").is_none(),
            "KUMO_UPDATE_GOLDEN is set under CI: golden files are rewritten by hand and the \
             diff reviewed, never in CI (where every comparison would be of a file with itself)"
        );
    }
    let mut stored = Vec::new();
    for (ext, got) in [("jsonl", &jsonl), ("txt", &text)] {
        let path = dir.join(format!("{name}.{ext}"));
        if update && std::fs::read_to_string(&path).ok().as_ref() != Some(got) {
            std::fs::write(&path, got).unwrap();
            eprintln!("KUMO_UPDATE_GOLDEN: rewrote {}", path.display());
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; run with KUMO_UPDATE_GOLDEN=1", path.display()));
        assert_eq!(got, &want, "{} differs", path.display());
        stored.push(want);
    }
    // The stored files agree with each other, whatever built them: meaningful in update mode
    // too, where the comparisons above are of what was just written.
    let (stored_jsonl, stored_txt) = (&stored[0], &stored[1]);
    let (formatted, again) = read_and_format(stored_jsonl);
    assert!(!stored_jsonl.is_empty(), "{name}.jsonl is empty");
    assert_eq!(
        &again, stored_jsonl,
        "{name}.jsonl does not read back to the same JSON lines"
    );
    assert_eq!(
        &formatted, stored_txt,
        "{name}.jsonl formatted is not {name}.txt"
    );
}

#[test]
fn server_session_with_metadata_changes() {
    let s = Sess::server("192.0.2.1:40000");
    let with_ehlo = Arc::new(
        (*s.meta)
            .clone()
            .with_label(ConnMeta::EHLO, "client.example.com"),
    );
    let with_from = Arc::new(
        (*with_ehlo)
            .clone()
            .with_label(ConnMeta::MAIL_FROM, "a@example.com"),
    );
    let ev = |ms, meta: &Arc<ConnMeta>, p| {
        let mut e = s.ev(ms, p);
        e.meta = Some(meta.clone());
        e
    };
    check(
        "server_session",
        &[
            s.open(0),
            s.write(1, "220 mx.example.net ESMTP\r\n"),
            ev(
                182,
                &with_ehlo,
                Payload::read("EHLO client.example.com\r\n"),
            ),
            ev(
                182,
                &with_ehlo,
                Payload::write("250-mx.example.net\r\n250-PIPELINING\r\n250 SIZE 10485760\r\n"),
            ),
            ev(
                201,
                &with_from,
                Payload::Callback {
                    name: "smtp_server_mail_from".into(),
                    result: Some("ok".into()),
                    error: None,
                },
            ),
            ev(
                201,
                &with_from,
                Payload::read("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"),
            ),
            ev(
                202,
                &with_from,
                Payload::write("250 OK\r\n250 OK\r\n354 go ahead\r\n"),
            ),
            ev(1_530, &with_from, Payload::read(BODY)),
            ev(
                1_531,
                &with_from,
                Payload::MessageDisposition(Box::new(MessageDisposition {
                    id: "m-1".into(),
                    disposition: Disposition::Enqueued,
                    sender: "a@example.com".into(),
                    recipients: vec!["b@example.org".into(), "c@example.org".into()],
                    queue: Some("example.org".into()),
                    detail: None,
                })),
            ),
            ev(1_531, &with_from, Payload::write("250 queued as m-1\r\n")),
            ev(3_000, &s.meta, Payload::read("QUIT\r\n")),
            s.close(3_001),
        ],
    );
}

#[test]
fn late_join_interleaved_with_a_new_session() {
    let old = Sess::server("192.0.2.1:40000");
    let new = Sess::server("192.0.2.2:41000");
    check(
        "late_join",
        &[
            // The tracer joined mid-session: `old` starts with a blank delta, then counts
            // from this record (the old tool printed 0ns on every line).
            old.read(5_000, "RCPT TO:<b@example.org>\r\n"),
            new.open(5_001),
            old.write(5_003, "250 OK\r\n"),
            global(5_010, "subscriber lagged behind and missed 3 events"),
            new.write(5_020, "220 mx.example.net ESMTP\r\n"),
            old.read(7_000, "QUIT\r\n"),
            old.close(7_001),
            new.close(9_999),
        ],
    );
}

#[test]
fn client_session_traced_terse() {
    let hub = TraceHub::new();
    let mut sub = hub.subscribe(SubscribeOptions {
        terse: true,
        ..Default::default()
    });
    let c = Sess::client("c-42", "example.org");
    let mx = Arc::new(
        (*c.meta)
            .clone()
            .with_label(ConnMeta::MX_HOST, "mx1.example.org"),
    );
    let ev = |ms, p| {
        let mut e = c.ev(ms, p);
        e.meta = Some(mx.clone());
        e
    };
    hub.publish(c.open(0));
    hub.publish(c.ev(
        1,
        Payload::Diagnostic {
            level: Level::Info,
            message: "connecting to mx1.example.org\n(first of 2)".into(),
        },
    ));
    hub.publish(ev(20, Payload::Connected));
    hub.publish(ev(31, Payload::read("220 mx1.example.org\r\n")));
    hub.publish(ev(31, Payload::write("EHLO me\r\n")));
    hub.publish(ev(45, Payload::read("250-mx1\r\n250 8BITMIME\r\n")));
    hub.publish(ev(50, Payload::write(BODY)));
    hub.publish(ev(
        51,
        Payload::Callback {
            name: "tls\u{1b}[31m".into(),
            result: None,
            error: Some("handshake failed".into()),
        },
    ));
    hub.publish(ev(
        90,
        Payload::MessageDisposition(Box::new(MessageDisposition {
            id: "m-2".into(),
            disposition: Disposition::Deferred,
            sender: String::new(),
            recipients: vec!["x@example.org".into()],
            queue: None,
            detail: Some("451 try later".into()),
        })),
    ));
    hub.publish(ev(2_500, Payload::Closed));
    let mut events = Vec::new();
    while let Ok(e) = sub.try_recv() {
        events.push((*e).clone());
    }
    assert_eq!(events.len(), 10);
    let _ = at(0);
    check("client_terse", &events);
}
