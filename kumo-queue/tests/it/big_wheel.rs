//! 10M entries through the wheel: behind `KUMO_BIG_TESTS=1` because it takes seconds.
#![allow(clippy::print_stderr, reason = "a skipped big test says so on stderr")]

use kumo_queue::TimerWheel;
use std::time::Duration;

#[test]
fn ten_million_entries_come_out_once_and_in_order() {
    if std::env::var_os("KUMO_BIG_TESTS").is_none() {
        eprintln!("skipped: set KUMO_BIG_TESTS=1 to run the 10M-entry test");
        return;
    }
    let n = 10_000_000u32;
    let mut w = TimerWheel::new();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for id in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        w.insert(id, Duration::from_secs(60 + x % 86_400)).unwrap();
    }
    assert_eq!(w.len(), n as usize);
    let mut seen = vec![false; n as usize];
    let mut out = Vec::new();
    let mut t = 0;
    while !w.is_empty() {
        t += 60;
        out.clear();
        w.advance(Duration::from_secs(t), &mut out);
        for &id in &out {
            assert!(!std::mem::replace(&mut seen[id as usize], true));
            assert!(w.due(id).is_none());
        }
    }
    assert!(seen.iter().all(|&s| s));
}
