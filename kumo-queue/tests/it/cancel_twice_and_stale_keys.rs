//! Double cancel is a no-op, and stale keys never reach a reused slot.

use kumo_queue::{KeyError, Scheduler, Slab, TimerWheel};
use std::time::Duration;

#[test]
fn wheel_double_cancel_is_a_no_op() {
    let mut w = TimerWheel::new();
    w.insert(1, Duration::from_secs(9)).unwrap();
    assert!(w.cancel(1));
    assert!(!w.cancel(1));
    assert_eq!(w.len(), 0);
    let mut out = Vec::new();
    w.advance(Duration::from_secs(100), &mut out);
    assert!(out.is_empty());
}

#[test]
fn wheel_cancel_and_reinsert_at_the_same_time_pops_once() {
    let mut w = TimerWheel::new();
    for _ in 0..5 {
        w.insert(1, Duration::from_secs(300)).unwrap();
        w.cancel(1);
        w.insert(1, Duration::from_secs(300)).unwrap();
        w.insert(1, Duration::from_secs(400)).unwrap();
        w.insert(1, Duration::from_secs(300)).unwrap();
    }
    assert_eq!(w.len(), 1);
    let mut out = Vec::new();
    w.advance(Duration::from_secs(1000), &mut out);
    assert_eq!(out, [1]);
}

#[test]
fn slab_stale_keys_miss_reused_slots() {
    let mut slab = Slab::new();
    let a = slab.insert(1).unwrap();
    assert_eq!(slab.remove(a), Some(1));
    assert_eq!(slab.remove(a), None);
    let b = slab.insert(2).unwrap();
    assert_eq!(a.index(), b.index());
    assert_ne!(a, b);
    assert_eq!(slab.get(a), None);
    assert_eq!(slab.get_mut(a), None);
    assert!(!slab.contains(a));
    assert_eq!(slab.get(b), Some(&2));
    assert_eq!(slab.len(), 1);
    assert_eq!(kumo_queue::Key::from_bits(b.to_bits()), b);
    assert_eq!(
        slab.iter().map(|(k, v)| (k, *v)).collect::<Vec<_>>(),
        [(b, 2)]
    );
}

#[test]
fn scheduler_stale_keys_miss_reused_slots() {
    let mut s = Scheduler::new();
    let q = s.queue("a").unwrap();
    let k1 = s.schedule(q, "one", Duration::from_secs(5)).unwrap();
    // Popped: the key goes stale.
    assert_eq!(s.advance(Duration::from_secs(5)).len(), 1);
    let k2 = s.schedule(q, "two", Duration::from_secs(50)).unwrap();
    assert_eq!(k1.index(), k2.index());
    assert_eq!(s.get(k1), None);
    assert_eq!(s.due(k1), None);
    assert_eq!(s.cancel(k1), Err(KeyError::Stale));
    assert!(s.reschedule(k1, Duration::from_secs(60)).is_err());
    assert_eq!(s.get(k2), Some(&"two"));
    assert_eq!(s.cancel(k2), Ok("two"));
    assert_eq!(s.cancel(k2), Err(KeyError::Stale));
    // A key that was never issued.
    assert_eq!(
        s.cancel(kumo_queue::Key::from_bits(u64::MAX)),
        Err(KeyError::Stale)
    );
    assert!(s.is_empty());
}

#[test]
fn debug_output_stays_short_for_large_structures() {
    let mut w = TimerWheel::new();
    let mut s = Scheduler::new();
    let q = s.queue("a").unwrap();
    for id in 0..10_000u32 {
        w.insert(id, Duration::from_secs(60 + u64::from(id)))
            .unwrap();
        s.schedule(q, id, Duration::from_secs(60)).unwrap();
    }
    assert!(format!("{w:?}").len() < 1000);
    assert!(format!("{s:?}").len() < 1000);
}
