//! A subscriber that stays full without a receive is parked after `park_after` (publishers
//! skip it) and dropped after `stall_timeout`: its queue is freed and its last event is a lag
//! notice counting everything it missed. A parked subscriber that reads again resumes.

use std::cell::Cell;
use std::time::Duration;

use kumo_trace::{Level, Payload, SubscribeOptions, TraceHub, TraceHubConfig, TryRecvError};

use crate::support::{Sess, at, drain};

fn hub() -> TraceHub {
    let mut config = TraceHubConfig::default();
    config.park_after = Duration::from_millis(100);
    config.stall_timeout = Duration::from_secs(1);
    TraceHub::with_config(config)
}

#[test]
fn a_subscriber_that_never_receives_is_dropped_after_the_deadline() {
    let hub = hub();
    let mut stuck = hub.subscribe(SubscribeOptions {
        capacity: 4,
        ..Default::default()
    });
    let mut reader = hub.subscribe(SubscribeOptions::default());
    let s = Sess::server("192.0.2.1:1");
    let mut seen = 0;
    // One event every 50 ms: full at 200 ms (the 5th), parked at 300 ms, and dropped at
    // 1200 ms, one stall timeout after it became full.
    for i in 0..=24u64 {
        hub.publish(s.read(i * 50, &format!("line {i}\r\n")));
        seen += drain(&mut reader).len();
        if i == 5 {
            assert!(!stuck.is_parked(), "still losing its oldest events");
        }
        if i == 6 {
            assert!(stuck.is_parked(), "full without a receive for 100 ms");
            assert_eq!(hub.parked_count(), 1);
            assert_eq!(stuck.len(), 4, "it keeps what it holds");
        }
        if i == 23 {
            assert_eq!(hub.subscriber_count(), 2, "not dropped before the deadline");
        }
    }
    assert_eq!(seen, 25, "the reading subscriber is not affected");
    assert_eq!(hub.subscriber_count(), 1);
    assert_eq!(hub.stalled_total(), 1);

    // The queue was freed: the final lag notice is all that is left, then the end.
    assert_eq!(stuck.len(), 1);
    assert!(stuck.queued_bytes() < 1024, "{}", stuck.queued_bytes());
    let last = stuck.try_recv().unwrap();
    assert!(last.session.is_global());
    let Payload::Diagnostic { level, message } = &last.payload else {
        panic!("{last:?}")
    };
    assert_eq!(*level, Level::Error);
    assert!(
        message.starts_with("subscriber lagged behind and missed 25 events; dropped"),
        "{message}"
    );
    assert!(message.contains("1000 ms"), "{message}");
    assert_eq!(last.when, at(1200));
    assert_eq!(stuck.try_recv().unwrap_err(), TryRecvError::Closed);
    assert_eq!(stuck.missed_total(), 25);

    // Later events still reach the reader, and nothing else.
    hub.publish(s.read(1300, "QUIT\r\n"));
    assert_eq!(drain(&mut reader).len(), 1);
    assert_eq!(stuck.try_recv().unwrap_err(), TryRecvError::Closed);
}

#[test]
fn only_parked_subscribers_left_means_nothing_is_built_and_expiry_takes_the_time_passed_in() {
    let hub = hub();
    let mut stuck = hub.subscribe(SubscribeOptions {
        capacity: 2,
        ..Default::default()
    });
    let s = Sess::client("c1", "example.com");
    for ms in [0, 10, 20, 130] {
        hub.publish(s.write(ms, "RCPT TO:<a@example.com>\r\n"));
    }
    assert!(stuck.is_parked());
    assert!(
        !hub.has_subscribers(),
        "a parked subscriber receives nothing"
    );
    assert_eq!(hub.subscriber_count(), 1, "but it is still attached");
    let built = Cell::new(0);
    for _ in 0..1000 {
        hub.publish_with(|| {
            built.set(built.get() + 1);
            s.write(200, "x\r\n")
        });
    }
    assert_eq!(built.get(), 0, "no event is built for parked subscribers");

    // Nothing is published any more: the host's tick drops it, with the time it passes.
    // Full since 20 ms: dropped one stall timeout later.
    assert_eq!(hub.expire_stalled(at(1019)), 0);
    assert_eq!(hub.expire_stalled(at(1020)), 1);
    let got = drain(&mut stuck);
    assert_eq!(got.len(), 1);
    assert!(
        matches!(&got[0].payload, Payload::Diagnostic { message, .. }
            if message.starts_with("subscriber lagged behind and missed 1004 events; dropped")),
        "{:?}",
        got[0].payload
    );
    assert_eq!(stuck.try_recv().unwrap_err(), TryRecvError::Closed);
}

#[test]
fn a_parked_subscriber_that_reads_again_resumes_after_a_lag_notice() {
    let hub = hub();
    let mut sub = hub.subscribe(SubscribeOptions {
        capacity: 3,
        ..Default::default()
    });
    let s = Sess::server("192.0.2.1:1");
    for i in 0..3 {
        hub.publish(s.read(i, &format!("held {i}\r\n")));
    }
    hub.publish(s.read(10, "queued 3\r\n")); // full: the oldest goes
    hub.publish(s.read(200, "missed while parking\r\n")); // full for 190 ms: parked
    assert!(sub.is_parked());
    for i in 0..5 {
        hub.publish(s.read(300 + i, "missed while parked\r\n"));
    }
    let got = drain(&mut sub);
    let texts: Vec<String> = got
        .iter()
        .map(|e| match &e.payload {
            Payload::Read { data } => data.trim_end().to_owned(),
            Payload::Diagnostic { message, .. } => message.clone(),
            p => format!("{p:?}"),
        })
        .collect();
    assert_eq!(
        texts,
        [
            "subscriber lagged behind and missed 1 events",
            "held 1",
            "held 2",
            "queued 3",
            "subscriber lagged behind and missed 6 events",
        ]
    );
    assert!(!sub.is_parked());
    assert!(hub.has_subscribers());
    assert_eq!(sub.missed_total(), 7);
    hub.publish(s.read(400, "after\r\n"));
    assert_eq!(drain(&mut sub).len(), 1, "live again");
    assert_eq!(
        hub.expire_stalled(at(60_000)),
        0,
        "a reader is never dropped"
    );
}
