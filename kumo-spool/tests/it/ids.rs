//! `SpoolIdGenerator`: ids strictly increasing and unique across threads sharing one generator,
//! stamped with the time passed in; generators with different nodes never collide.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kumo_spool::{SpoolId, SpoolIdGenerator};

const THREADS: u64 = 4;
const PER_THREAD: u64 = 25_000;
/// 2024-11-30T20:53:20Z.
const T0_MS: u64 = 1_733_000_000_000;

fn at_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// 100k ids from 4 threads sharing one generator. Each thread passes its own clock, which
/// advances one millisecond every 100 ids: the threads' clocks disagree with each other by a
/// few milliseconds, as real threads' reads of the clock do. Each thread sees its ids strictly
/// increase; no id repeats; an id is stamped with the time passed in unless another thread
/// had already passed a later one (the generator never goes back in time).
#[test]
fn shared_generator_is_strictly_increasing_and_unique() {
    let ids = Arc::new(SpoolIdGenerator::new());
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let ids = ids.clone();
            std::thread::spawn(move || {
                let mut made = Vec::with_capacity(PER_THREAD as usize);
                for i in 0..PER_THREAD {
                    let now = at_ms(T0_MS + t * 3 + i / 100);
                    made.push((now, ids.next(now)));
                }
                made
            })
        })
        .collect();
    let per_thread: Vec<Vec<(SystemTime, SpoolId)>> =
        threads.into_iter().map(|t| t.join().unwrap()).collect();

    let latest = at_ms(T0_MS + (THREADS - 1) * 3 + (PER_THREAD - 1) / 100);
    let mut all = HashSet::new();
    for made in &per_thread {
        for pair in made.windows(2) {
            assert!(
                pair[0].1 < pair[1].1,
                "{:?} then {:?}",
                pair[0].1,
                pair[1].1
            );
        }
        for &(now, id) in made {
            assert!(all.insert(id), "{id:?} made twice");
            assert!(id.created_at() >= now, "{id:?} stamped before {now:?}");
            assert!(
                id.created_at() <= latest,
                "{id:?} stamped after every time passed in"
            );
        }
    }
    assert_eq!(all.len() as u64, THREADS * PER_THREAD);
    // Byte order, integer order and `Ord` agree.
    let mut by_ord: Vec<SpoolId> = all.iter().copied().collect();
    by_ord.sort();
    let mut by_int = by_ord.clone();
    by_int.sort_by_key(|id| id.as_u128());
    let mut by_bytes = by_ord.clone();
    by_bytes.sort_by_key(|id| id.to_bytes());
    assert_eq!(by_ord, by_int);
    assert_eq!(by_ord, by_bytes);
}

/// One caller with a clock that only moves forward gets exactly its times back, and ids
/// ordered like the times.
#[test]
fn created_at_is_the_time_passed_in() {
    let ids = SpoolIdGenerator::with_node([9; 6]);
    let mut last: Option<SpoolId> = None;
    for i in 0..10_000u64 {
        let now = at_ms(T0_MS + i * 7 / 3);
        let id = ids.next(now);
        assert_eq!(id.created_at(), now);
        if let Some(prev) = last {
            assert!(prev < id);
        }
        last = Some(id);
    }
    // Below the millisecond is not kept.
    let id = ids.next(at_ms(T0_MS + 100_000) + Duration::from_micros(999));
    assert_eq!(id.created_at(), at_ms(T0_MS + 100_000));
    // A time before the epoch is stamped as the epoch.
    let fresh = SpoolIdGenerator::with_node([9; 6]);
    assert_eq!(
        fresh.next(UNIX_EPOCH - Duration::from_secs(1)).created_at(),
        UNIX_EPOCH
    );
}

/// Two generators (two processes) making ids at the same milliseconds, in the same order:
/// same time and sequence parts, different nodes, so no id in common.
#[test]
fn different_nodes_never_collide() {
    let a = SpoolIdGenerator::with_node([0, 0, 0, 0, 0, 1]);
    let b = SpoolIdGenerator::with_node([0, 0, 0, 0, 0, 2]);
    let (mut from_a, mut from_b) = (HashSet::new(), HashSet::new());
    for i in 0..50_000u64 {
        let now = at_ms(T0_MS + i / 1000);
        let (x, y) = (a.next(now), b.next(now));
        assert_ne!(x, y);
        assert_eq!(x.to_bytes()[..10], y.to_bytes()[..10], "time and sequence");
        assert_eq!(x.to_bytes()[10..], [0, 0, 0, 0, 0, 1]);
        assert_eq!(y.to_bytes()[10..], [0, 0, 0, 0, 0, 2]);
        assert!(from_a.insert(x));
        assert!(from_b.insert(y));
    }
    assert!(from_a.is_disjoint(&from_b));
    // Random nodes: two fresh generators at the same instant still differ.
    let now = at_ms(T0_MS);
    let (c, d) = (SpoolIdGenerator::new(), SpoolIdGenerator::new());
    assert_ne!(c.next(now), d.next(now));
}
