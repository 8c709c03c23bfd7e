//! Combinations: `only_new` + `only_one` picks the first *new* session; `terse` + either keeps
//! the cut; a metadata filter narrows what `only_one` may pick.

use crate::support::{BODY, Sess, drain, summary};
use kumo_trace::{Cidr, MetaFilter, Payload, SubscribeOptions, TraceHub};

#[test]
fn only_new_and_only_one_follow_the_first_session_whose_opening_was_seen() {
    let hub = TraceHub::new();
    let old = Sess::server("192.0.2.1:1");
    hub.publish(old.open(0));
    let mut sub = hub.subscribe(SubscribeOptions {
        only_new: true,
        only_one: true,
        terse: true,
        ..Default::default()
    });
    let first = Sess::server("192.0.2.2:2");
    let second = Sess::server("192.0.2.3:3");
    hub.publish(old.read(1, "DATA\r\n")); // already open: not new, cannot be the one
    hub.publish(first.open(2));
    hub.publish(second.open(3));
    hub.publish(first.read(4, BODY));
    hub.publish(second.read(5, BODY));
    hub.publish(old.close(6));
    hub.publish(first.close(7));
    hub.publish(second.close(8));

    let got = drain(&mut sub);
    let k = "192.0.2.2:2->198.51.100.7:25";
    assert_eq!(
        summary(&got),
        [
            format!("{k}:connected"),
            format!("{k}:abbreviated_read"),
            format!("{k}:closed")
        ]
    );
    assert_eq!(
        got[1].payload,
        Payload::AbbreviatedRead {
            snippet: "Subject: x".into(),
            len: BODY.len() as u64
        }
    );
}

#[test]
fn a_metadata_filter_narrows_the_session_only_one_picks() {
    let hub = TraceHub::new();
    let mut sub = hub.subscribe(SubscribeOptions {
        only_one: true,
        filter: MetaFilter::new().with_peer("192.0.2.128/25".parse::<Cidr>().unwrap()),
        ..Default::default()
    });
    let outside = Sess::server("192.0.2.5:1");
    let inside = Sess::server("192.0.2.200:2");
    hub.publish(outside.open(0));
    hub.publish(inside.open(1));
    hub.publish(outside.close(2));
    hub.publish(inside.close(3));
    assert_eq!(
        summary(&drain(&mut sub)),
        [
            "192.0.2.200:2->198.51.100.7:25:connected",
            "192.0.2.200:2->198.51.100.7:25:closed"
        ]
    );
}

#[test]
fn subscribers_with_different_options_see_the_same_publishes_differently() {
    let hub = TraceHub::new();
    let s = Sess::server("192.0.2.1:1");
    hub.publish(s.open(0));
    let mut plain = hub.subscribe(SubscribeOptions::default());
    let mut new_only = hub.subscribe(SubscribeOptions {
        only_new: true,
        ..Default::default()
    });
    let mut terse = hub.subscribe(SubscribeOptions {
        terse: true,
        ..Default::default()
    });
    hub.publish(s.read(1, BODY));
    hub.publish(s.close(2));
    assert_eq!(summary(&drain(&mut plain)).len(), 2);
    assert!(drain(&mut new_only).is_empty());
    let t = drain(&mut terse);
    assert!(matches!(t[0].payload, Payload::AbbreviatedRead { .. }));
}
