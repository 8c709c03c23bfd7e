//! With no subscriber the event-building closure never runs; it runs once per publish with
//! any number of subscribers; detaching restores the idle path.

use std::cell::Cell;

use crate::support::Sess;
use kumo_trace::{SubscribeOptions, Timestamp, TraceHub};

#[test]
fn the_builder_runs_only_while_someone_subscribes() {
    let hub = TraceHub::new();
    let s = Sess::server("192.0.2.1:1");
    let built = Cell::new(0);
    let publish = || {
        hub.publish_with(|| {
            built.set(built.get() + 1);
            s.open(0)
        })
    };
    publish();
    assert_eq!(built.get(), 0);
    assert!(!hub.has_subscribers());

    let a = hub.subscribe(SubscribeOptions::default());
    let b = hub.subscribe(SubscribeOptions::default());
    publish();
    assert_eq!(built.get(), 1, "built once for all subscribers");
    assert_eq!(a.len(), 1);
    assert_eq!(b.len(), 1);

    drop(a);
    drop(b);
    publish();
    assert_eq!(built.get(), 1);
    assert_eq!(hub.subscriber_count(), 0);
}

#[test]
fn publish_now_reads_the_clock_only_for_subscribers() {
    let hub = TraceHub::new();
    let s = Sess::server("192.0.2.1:1");
    hub.publish_now_with(|_| unreachable!("no subscriber"));
    let mut sub = hub.subscribe(SubscribeOptions::default());
    hub.publish_now_with(|now| {
        let mut e = s.open(0);
        e.when = now;
        e
    });
    let got = sub.try_recv().unwrap();
    assert!(got.when > Timestamp::from_unix_nanos(1_700_000_000_000_000_000));
}
