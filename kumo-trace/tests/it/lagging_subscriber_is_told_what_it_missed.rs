//! A subscriber that falls behind loses its oldest events and receives a global diagnostic
//! saying how many it missed, then carries on; it is not disconnected.

use crate::support::{Sess, at, drain};
use kumo_trace::{Level, Payload, SubscribeOptions, TraceHub};

#[test]
fn a_full_queue_drops_the_oldest_and_reports_the_count() {
    let hub = TraceHub::new();
    let mut slow = hub.subscribe(SubscribeOptions {
        capacity: 4,
        ..Default::default()
    });
    let mut fast = hub.subscribe(SubscribeOptions::default());
    let s = Sess::server("192.0.2.1:1");
    for i in 0..10 {
        hub.publish(s.read(i, &format!("line {i}\r\n")));
    }
    let got = drain(&mut slow);
    assert_eq!(got.len(), 5, "one notice and the 4 newest events");
    assert!(got[0].session.is_global() && got[0].meta.is_none());
    assert_eq!(
        got[0].payload,
        Payload::Diagnostic {
            level: Level::Error,
            message: "subscriber lagged behind and missed 6 events".into()
        }
    );
    assert_eq!(got[0].when, at(5), "stamped with the newest missed event");
    assert_eq!(got[1].payload, Payload::read("line 6\r\n"));
    assert_eq!(got[4].payload, Payload::read("line 9\r\n"));
    assert_eq!(slow.missed_total(), 6);
    assert_eq!(
        drain(&mut fast).len(),
        10,
        "the slow one does not affect others"
    );

    // Still attached: later events arrive, a later lag is reported afresh.
    assert_eq!(hub.subscriber_count(), 2);
    for i in 10..16 {
        hub.publish(s.read(i, "x\r\n"));
    }
    let got = drain(&mut slow);
    assert!(
        matches!(&got[0].payload, Payload::Diagnostic { message, .. } if message.contains("missed 2 events"))
    );
    assert_eq!(slow.missed_total(), 8);
}

#[test]
fn the_lag_notice_passes_only_one_and_only_new() {
    let hub = TraceHub::new();
    let mut sub = hub.subscribe(SubscribeOptions {
        capacity: 2,
        only_new: true,
        only_one: true,
        ..Default::default()
    });
    let s = Sess::server("192.0.2.1:1");
    hub.publish(s.open(0));
    for i in 1..5 {
        hub.publish(s.read(i, "NOOP\r\n"));
    }
    let got = drain(&mut sub);
    // The opening was lost to the lag, so only_new drops the rest of the session.
    assert_eq!(got.len(), 1);
    assert!(got[0].payload.is_diagnostic());
}
