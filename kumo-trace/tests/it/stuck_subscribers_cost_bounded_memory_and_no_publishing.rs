//! 500 subscribers that never receive: each holds at most its `max_bytes` of events, and once
//! they are parked publishing builds nothing, as with no subscriber at all.
//!
//! The publish cost is measured and printed (`--nocapture`), never asserted on time; the
//! assertions are on queued bytes and on how many events get built.

use std::cell::Cell;
use std::time::{Duration, Instant};

use kumo_trace::{
    DEFAULT_MAX_BYTES, SubscribeOptions, Subscription, Timestamp, TraceEvent, TraceHub,
    TraceHubConfig,
};

use crate::support::{Sess, T0};

const STUCK: usize = 500;

/// A delivery session's events in turn: short replies, commands, and a 2 KB message body.
fn event(s: &Sess, i: u64, when: Timestamp) -> TraceEvent {
    let mut ev = match i % 4 {
        0 => s.read(0, "250 2.1.5 OK\r\n"),
        1 => s.write(0, &format!("RCPT TO:<user{i}@example.com>\r\n")),
        2 => s.write(0, &"Subject: hello\r\n\r\n".repeat(100)),
        _ => s.read(0, "354 go ahead\r\n"),
    };
    ev.when = when;
    ev
}

/// Publishes `n` events `step` apart from `start`; the nanoseconds per publish and how many
/// events were built.
fn publish(hub: &TraceHub, s: &Sess, start: Duration, step: Duration, n: u64) -> (f64, u64) {
    let built = Cell::new(0u64);
    let t = Instant::now();
    for i in 0..n {
        hub.publish_with(|| {
            built.set(built.get() + 1);
            event(s, i, T0.saturating_add(start + step * i as u32))
        });
    }
    (t.elapsed().as_nanos() as f64 / n as f64, built.get())
}

fn queued(subs: &[Subscription]) -> (usize, usize) {
    let bytes: Vec<usize> = subs.iter().map(Subscription::queued_bytes).collect();
    (bytes.iter().sum(), bytes.iter().copied().max().unwrap_or(0))
}

#[test]
#[allow(clippy::print_stderr, reason = "the measured figures, for --nocapture")]
fn five_hundred_stuck_subscribers_hold_bounded_memory_and_cost_publishing_nothing() {
    let mut config = TraceHubConfig::default();
    config.max_subscribers = STUCK; // park after 10 ms full, drop after 10 s
    let hub = TraceHub::with_config(config);
    let s = Sess::client("c1", "example.com");
    let us = Duration::from_micros(10);

    let (idle_ns, built) = publish(&hub, &s, Duration::ZERO, us, 200_000);
    assert_eq!(built, 0);

    let stuck: Vec<Subscription> = (0..STUCK)
        .map(|_| hub.subscribe(SubscribeOptions::default()))
        .collect();
    // 4 ms of event time (under `park_after`): they fill up and then lose their oldest events.
    let (lagging_ns, built) = publish(&hub, &s, Duration::ZERO, Duration::from_micros(2), 2_000);
    assert_eq!(built, 2_000);
    let (total, max) = queued(&stuck);
    assert!(max <= DEFAULT_MAX_BYTES, "{max}");
    assert!(
        max > DEFAULT_MAX_BYTES - 4096,
        "the byte bound is what holds them: {max}"
    );
    assert!(total <= STUCK * DEFAULT_MAX_BYTES, "{total}");
    assert!(
        stuck
            .iter()
            .all(|sub| sub.len() < 2_000 && !sub.is_parked())
    );

    // Past 10 ms full without a receive, they are parked: publishers skip them.
    let (_, built) = publish(&hub, &s, Duration::from_millis(200), us, 10);
    // (An event that still fits a queue is queued; the first one that does not parks it.)
    assert!(
        built <= 4,
        "the first events past the deadline park them all: {built}"
    );
    assert_eq!(hub.parked_count(), STUCK);
    assert!(!hub.has_subscribers());
    let (total, max) = queued(&stuck);
    assert!(max <= DEFAULT_MAX_BYTES && total <= STUCK * DEFAULT_MAX_BYTES);
    let (parked_ns, built) = publish(&hub, &s, Duration::from_millis(300), us, 200_000);
    assert_eq!(built, 0, "nothing is built for parked subscribers");
    assert_eq!(queued(&stuck), (total, max), "and nothing more is held");

    // After the stall timeout, the host's tick drops them and frees their queues.
    assert_eq!(
        hub.expire_stalled(T0.saturating_add(Duration::from_secs(11))),
        STUCK
    );
    assert_eq!(hub.subscriber_count(), 0);
    let (after, max_after) = queued(&stuck);
    assert!(
        max_after < 512,
        "only the final notice is left: {max_after}"
    );
    eprintln!(
        "publish ns/event: no subscriber {idle_ns:.1}; {STUCK} stuck while filling and lagging \
         {lagging_ns:.0}; {STUCK} parked {parked_ns:.1}; queued bytes {STUCK} stuck: \
         {total} (max {max} each), after the drop {after}"
    );
}
