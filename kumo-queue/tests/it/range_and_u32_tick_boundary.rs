//! Due times beyond the wheel's range, the u32 tick boundary, and out-of-range ids.

use kumo_queue::{InsertError, ScheduleError, Scheduler, TimerWheel};
use std::time::Duration;

const LAST: u64 = u32::MAX as u64;

#[test]
fn beyond_the_last_tick_is_refused() {
    let mut w = TimerWheel::new();
    let e = w.insert(1, Duration::from_secs(LAST + 1)).unwrap_err();
    assert_eq!(e.reason, InsertError::BeyondRange);
    let e = w.insert(1, Duration::MAX).unwrap_err();
    assert_eq!(e.reason, InsertError::BeyondRange);
    // A fraction past the last tick rounds up beyond it.
    let e = w
        .insert(1, Duration::from_millis(LAST * 1000 + 1))
        .unwrap_err();
    assert_eq!(e.reason, InsertError::BeyondRange);
    assert!(w.is_empty());
}

#[test]
fn far_future_stays_put_until_due_and_the_last_tick_works() {
    let mut w = TimerWheel::new();
    // About 136 years, 194 days and one tick: every level.
    w.insert(1, Duration::from_secs(LAST)).unwrap();
    w.insert(2, Duration::from_secs(194 * 86_400)).unwrap();
    w.insert(3, Duration::from_secs(1)).unwrap();
    w.insert_at(4, u32::MAX - 1).unwrap();
    let mut out = Vec::new();
    w.advance(Duration::from_secs(1), &mut out);
    assert_eq!(out, [3]);
    out.clear();
    w.advance(Duration::from_secs(194 * 86_400 - 1), &mut out);
    assert!(out.is_empty());
    w.advance(Duration::from_secs(194 * 86_400), &mut out);
    assert_eq!(out, [2]);
    out.clear();
    w.advance_to(u32::MAX - 2, &mut out);
    assert!(out.is_empty());
    assert!(w.next_due().unwrap() <= Duration::from_secs(LAST - 1));
    w.advance_to(u32::MAX - 1, &mut out);
    assert_eq!(out, [4]);
    out.clear();
    // Advancing past the end saturates at the last tick.
    w.advance(Duration::MAX, &mut out);
    assert_eq!(out, [1]);
    assert_eq!(w.current_tick(), u32::MAX);
    // `now` is now the largest Duration, so every due time is at or before it.
    assert_eq!(
        w.insert(5, Duration::MAX).unwrap_err().reason,
        InsertError::DueNow
    );
    assert_eq!(
        w.insert_at(5, u32::MAX).unwrap_err().reason,
        InsertError::DueNow
    );
    assert!(w.is_empty());
}

#[test]
fn short_tick_range_ends_sooner() {
    // At 1 ms per tick the range is about 49.7 days.
    let mut w = TimerWheel::with_tick(Duration::from_millis(1)).unwrap();
    assert!(w.insert(1, Duration::from_millis(LAST)).is_ok());
    assert_eq!(
        w.insert(2, Duration::from_millis(LAST + 1))
            .unwrap_err()
            .reason,
        InsertError::BeyondRange
    );
}

#[test]
fn ids_out_of_range_are_refused_not_panicking() {
    let mut w = TimerWheel::new();
    let e = w.insert(u32::MAX, Duration::from_secs(5)).unwrap_err();
    assert_eq!(e.reason, InsertError::IdOutOfRange);
    let mut w = TimerWheel::new().id_limit(1000);
    assert!(w.insert(999, Duration::from_secs(5)).is_ok());
    assert_eq!(
        w.insert(1000, Duration::from_secs(5)).unwrap_err().reason,
        InsertError::IdOutOfRange
    );
    // Cancelling or querying an id that was never inserted is a no-op.
    assert!(!w.cancel(u32::MAX));
    assert!(!w.cancel(123_456_789));
    assert_eq!(w.due(u32::MAX), None);
    assert!(!w.contains(5));
}

#[test]
fn scheduler_refuses_beyond_range_and_unknown_queues() {
    let mut s: Scheduler<u8> = Scheduler::new();
    let q = s.queue("a").unwrap();
    let r = s.schedule(q, 1, Duration::from_secs(LAST + 1)).unwrap_err();
    assert_eq!(r.reason, ScheduleError::Due(InsertError::BeyondRange));
    let mut other: Scheduler<u8> = Scheduler::new();
    other.queue("x").unwrap();
    let foreign = other.queue("y").unwrap();
    let r = s.schedule(foreign, 2, Duration::from_secs(5)).unwrap_err();
    assert!(matches!(r.reason, ScheduleError::Key(_)));
    assert_eq!(r.message, 2);
    assert!(s.drain_queue(foreign).is_err());
    assert_eq!(s.queue_len(foreign), 0);
    assert_eq!(s.queue_name(foreign), None);
    assert!(s.is_empty());
}
