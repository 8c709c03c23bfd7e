//! `terse` at the source: multi-line message data becomes its first line plus a byte count;
//! single-line data and the other direction are unchanged; non-terse subscribers get it whole.

use crate::support::{Sess, drain};
use kumo_trace::{Payload, SubscribeOptions, TraceHub, terse};

const BODY: &str = "From: a@example.com\r\nSubject: hello\r\n\r\nline one\r\n.\r\n";

#[test]
fn server_read_of_message_data_is_cut_for_terse_subscribers_only() {
    let hub = TraceHub::new();
    let mut cut = hub.subscribe(SubscribeOptions {
        terse: true,
        ..Default::default()
    });
    let mut whole = hub.subscribe(SubscribeOptions::default());
    let s = Sess::server("192.0.2.1:40000");
    hub.publish(s.read(1, BODY));
    hub.publish(s.read(2, "QUIT\r\n"));
    hub.publish(s.write(
        3,
        "250-mx.example.net\r\n250-PIPELINING\r\n250 SIZE 1000\r\n",
    ));

    let got = drain(&mut cut);
    assert_eq!(
        got[0].payload,
        Payload::AbbreviatedRead {
            snippet: "From: a@example.com".into(),
            len: BODY.len() as u64
        }
    );
    assert_eq!(
        got[0].meta,
        Some(s.meta.clone()),
        "metadata survives the cut"
    );
    assert_eq!(
        got[1].payload,
        Payload::read("QUIT\r\n"),
        "single line unchanged"
    );
    assert!(
        matches!(&got[2].payload, Payload::Write { data } if data.contains("PIPELINING")),
        "a server's multi-line write (EHLO response) is not message data"
    );

    let full = drain(&mut whole);
    assert_eq!(full[0].payload, Payload::read(BODY));
}

#[test]
fn client_write_of_message_data_is_cut_and_its_reads_are_not() {
    let s = Sess::client("c1", "example.com");
    let w = terse(&s.write(1, BODY)).expect("cut");
    assert_eq!(
        w.payload,
        Payload::AbbreviatedWrite {
            snippet: "From: a@example.com".into(),
            len: BODY.len() as u64
        }
    );
    assert!(terse(&s.read(2, "250-a\r\n250 b\r\n")).is_none());
    assert!(terse(&s.write(3, "DATA\r\n")).is_none());
}

#[test]
fn terse_is_idempotent() {
    let s = Sess::server("192.0.2.1:40000");
    let once = terse(&s.read(1, BODY)).unwrap();
    assert!(terse(&once).is_none());
}
