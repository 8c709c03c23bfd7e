//! Golden tests of the formatter (and of the JSON-lines form the text is read back from).
//!
//! Each scenario is written as JSON lines (`tests/golden/NAME.jsonl`), read back, and
//! formatted (`tests/golden/NAME.txt`); both files must match. Set `KUMO_UPDATE_GOLDEN=1` to
//! rewrite them after an intended change, and review the diff.

use std::path::PathBuf;
use std::sync::Arc;

use crate::support::{BODY, Sess, at, global};
use kumo_trace::{
    ConnMeta, Disposition, Formatter, JsonLinesReader, Level, MessageDisposition, Payload,
    SubscribeOptions, TraceEvent, TraceHub, to_json_line,
};

fn check(name: &str, events: &[TraceEvent]) {
    let jsonl: String = events.iter().map(to_json_line).collect();
    let mut fmt = Formatter::new();
    let mut text = String::new();
    for ev in JsonLinesReader::new(jsonl.as_bytes()) {
        fmt.format_into(&ev.expect("reads back"), &mut text);
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    for (ext, got) in [("jsonl", &jsonl), ("txt", &text)] {
        let path = dir.join(format!("{name}.{ext}"));
        if std::env::var_os("KUMO_UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, got).unwrap();
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; run with KUMO_UPDATE_GOLDEN=1", path.display()));
        assert_eq!(got, &want, "{} differs", path.display());
    }
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
