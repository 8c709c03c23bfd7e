//! Many entries through the wheel, each out once and in order: 2M by default (under half a
//! second in the dev profile, so it runs in every `cargo test`), the full 10M with
//! `KUMO_BIG_TESTS=1` (seconds).
#![allow(
    clippy::print_stderr,
    reason = "the test says on stderr which size it runs"
)]

use kumo_queue::TimerWheel;
use std::time::Duration;

#[test]
fn ten_million_entries_come_out_once_and_in_order() {
    let n = if std::env::var_os("KUMO_BIG_TESTS").is_some() {
        10_000_000u32
    } else {
        eprintln!("big_wheel: 2M entries; set KUMO_BIG_TESTS=1 for the full 10M");
        2_000_000u32
    };
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
