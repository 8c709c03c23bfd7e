//! JSON lines: any event written reads back equal (property test against the identity
//! oracle), streams of them read back in order, and the field names are stable.

use std::collections::BTreeMap;
use std::sync::Arc;

use kumo_trace::{
    ConnMeta, Disposition, JsonLinesReader, Level, MessageDisposition, Payload, SessionKey, Side,
    Timestamp, TraceEvent, from_json_line, to_json_line,
};
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    // Any Unicode, biased to SMTP-ish text with line breaks and quotes.
    prop_oneof![any::<String>(), "[ -~\r\n\t\"\\\\]{0,40}",]
}

fn meta() -> impl Strategy<Value = Option<Arc<ConnMeta>>> {
    let addr = prop_oneof![
        any::<std::net::SocketAddrV4>().prop_map(std::net::SocketAddr::V4),
        // serde writes IPv6 socket addresses without flow info or scope id.
        (any::<std::net::Ipv6Addr>(), any::<u16>())
            .prop_map(|(ip, p)| std::net::SocketAddr::new(ip.into(), p)),
    ];
    proptest::option::of(
        (
            proptest::option::of(addr.clone()),
            proptest::option::of(addr),
            proptest::collection::btree_map(text(), text(), 0..4),
        )
            .prop_map(|(peer, local, labels): (_, _, BTreeMap<String, String>)| {
                let mut m = ConnMeta::new();
                if let Some(p) = peer {
                    m = m.with_peer(p);
                }
                if let Some(l) = local {
                    m = m.with_local(l);
                }
                for (k, v) in labels {
                    m.set_label(k, v);
                }
                Arc::new(m)
            }),
    )
}

fn payload() -> impl Strategy<Value = Payload> {
    let level = prop_oneof![
        Just(Level::Error),
        Just(Level::Warn),
        Just(Level::Info),
        Just(Level::Debug),
        Just(Level::Trace)
    ];
    let disposition = prop_oneof![
        Just(Disposition::Enqueued),
        Just(Disposition::Rejected),
        Just(Disposition::Discarded),
        Just(Disposition::Obtained),
        Just(Disposition::Delivered),
        Just(Disposition::Deferred),
        Just(Disposition::Bounced)
    ];
    prop_oneof![
        Just(Payload::BeginSession),
        Just(Payload::Connected),
        Just(Payload::Closed),
        text().prop_map(Payload::read),
        text().prop_map(Payload::write),
        (text(), any::<u64>()).prop_map(|(snippet, len)| Payload::AbbreviatedRead { snippet, len }),
        (text(), any::<u64>())
            .prop_map(|(snippet, len)| Payload::AbbreviatedWrite { snippet, len }),
        (level, text()).prop_map(|(level, message)| Payload::Diagnostic { level, message }),
        (
            text(),
            proptest::option::of(text()),
            proptest::option::of(text())
        )
            .prop_map(|(name, result, error)| Payload::Callback {
                name,
                result,
                error
            }),
        (
            text(),
            disposition,
            text(),
            proptest::collection::vec(text(), 0..3),
            proptest::option::of(text()),
            proptest::option::of(text())
        )
            .prop_map(|(id, disposition, sender, recipients, queue, detail)| {
                Payload::MessageDisposition(Box::new(MessageDisposition {
                    id,
                    disposition,
                    sender,
                    recipients,
                    queue,
                    detail,
                }))
            }),
    ]
}

fn event() -> impl Strategy<Value = TraceEvent> {
    (
        prop_oneof![Just(Side::Server), Just(Side::Client)],
        text(),
        any::<u64>(),
        meta(),
        payload(),
    )
        .prop_map(|(side, key, nanos, meta, payload)| TraceEvent {
            side,
            session: SessionKey::new(key),
            when: Timestamp::from_unix_nanos(nanos),
            meta,
            payload,
        })
}

proptest! {
    #[test]
    fn every_event_reads_back_equal(ev in event()) {
        let line = to_json_line(&ev);
        prop_assert!(line.ends_with('\n'));
        prop_assert_eq!(line.matches('\n').count(), 1, "one event, one line");
        prop_assert_eq!(from_json_line(line.as_bytes()).unwrap(), ev);
    }

    #[test]
    fn a_stream_reads_back_in_order(evs in proptest::collection::vec(event(), 0..8)) {
        let text: String = evs.iter().map(to_json_line).collect();
        let back: Vec<TraceEvent> =
            JsonLinesReader::new(text.as_bytes()).map(Result::unwrap).collect();
        prop_assert_eq!(back, evs);
    }
}

#[test]
fn field_names_are_stable() {
    let ev = crate::support::Sess::server("192.0.2.1:40000").read(0, "EHLO x\r\n");
    assert_eq!(
        to_json_line(&ev),
        "{\"side\":\"server\",\"session\":\"192.0.2.1:40000->198.51.100.7:25\",\
         \"when\":\"2024-09-03T10:00:00Z\",\"meta\":{\"peer\":\"192.0.2.1:40000\",\
         \"local\":\"198.51.100.7:25\"},\"payload\":{\"type\":\"read\",\"data\":\"EHLO x\\r\\n\"}}\n"
    );
}
