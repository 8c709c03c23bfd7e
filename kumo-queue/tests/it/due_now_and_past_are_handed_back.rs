//! A due time at or before `now` is refused with `DueNow` and the item handed back.

use kumo_queue::{InsertError, Scheduler, TimerWheel};
use std::time::Duration;

#[test]
fn wheel_hands_back_due_now_and_past() {
    let mut w = TimerWheel::new();
    let e = w.insert(1, Duration::ZERO).unwrap_err();
    assert_eq!((e.id, e.reason), (1, InsertError::DueNow));
    w.advance(Duration::from_millis(10_500), &mut Vec::new());
    for past in [Duration::from_secs(3), Duration::from_millis(10_500)] {
        let e = w.insert(2, past).unwrap_err();
        assert_eq!((e.id, e.reason), (2, InsertError::DueNow));
    }
    assert!(w.is_empty());
    // Just after now: accepted, rounded up to the next tick, never early.
    w.insert(3, Duration::from_millis(10_501)).unwrap();
    assert_eq!(w.due(3), Some(Duration::from_secs(11)));
    let mut out = Vec::new();
    w.advance(Duration::from_millis(10_999), &mut out);
    assert!(out.is_empty());
    w.advance(Duration::from_secs(11), &mut out);
    assert_eq!(out, [3]);
}

#[test]
fn refused_reschedule_keeps_the_old_due_time() {
    let mut w = TimerWheel::new();
    w.insert(1, Duration::from_secs(5)).unwrap();
    w.advance(Duration::from_secs(2), &mut Vec::new());
    assert!(w.insert(1, Duration::from_secs(1)).is_err());
    assert_eq!(w.due(1), Some(Duration::from_secs(5)));
    assert_eq!(w.len(), 1);
}

#[test]
fn scheduler_hands_the_message_back() {
    let mut s = Scheduler::new();
    let q = s.queue("example.com").unwrap();
    let r = s
        .schedule(q, String::from("m"), Duration::ZERO)
        .unwrap_err();
    assert!(r.is_due_now());
    assert_eq!(r.message, "m");
    assert_eq!(s.len(), 0);
    assert_eq!(s.queue_len(q), 0);
    let key = s
        .schedule(q, String::from("n"), Duration::from_secs(5))
        .unwrap();
    s.advance(Duration::from_secs(3));
    let e = s.reschedule(key, Duration::from_secs(2)).unwrap_err();
    assert!(e.is_due_now());
    assert_eq!(s.due(key), Some(Duration::from_secs(5)));
    assert_eq!(s.cancel(key).unwrap(), "n");
}
