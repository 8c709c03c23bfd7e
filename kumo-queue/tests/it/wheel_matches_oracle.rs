//! Property test: the wheel against a `BTreeMap<(due, id)>` oracle under random insert, cancel,
//! reschedule and advance. Never early, never lost, never twice, at most one tick late, `len`
//! exact, `next_due` a lower bound.

use kumo_queue::{InsertError, TimerWheel};
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

#[derive(Debug, Clone)]
enum Op {
    /// Insert or reschedule id at now + delay (ms).
    Insert(u32, u64),
    Cancel(u32),
    /// Advance by this many ms.
    Advance(u64),
    /// Insert ids `start..start + count` at now + delay, to fill slots past two chunks.
    InsertMany(u32, u32, u64),
    /// Cancel every `step`-th id of `start..start + count`, to make slots mostly stale.
    CancelMany(u32, u32, u32),
}

fn delay() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0u64..3_000,
        3 => 0u64..600_000,
        2 => 0u64..(1 << 30),
        1 => 0u64..(1 << 36),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0u32..64, delay()).prop_map(|(i, d)| Op::Insert(i, d)),
        2 => (0u32..64).prop_map(Op::Cancel),
        3 => delay().prop_map(Op::Advance),
    ]
}

/// Bulk operations over a few thousand ids with due times in a narrow window, so that slots
/// hold many chunks and cancels trigger compaction.
fn bulk_op() -> impl Strategy<Value = Op> {
    let window = prop_oneof![0u64..2_000, 200_000u64..300_000];
    prop_oneof![
        3 => (0u32..3000, 1u32..1500, window.clone()).prop_map(|(s, c, d)| Op::InsertMany(s, c, d)),
        3 => (0u32..3000, 1u32..3000, 1u32..4).prop_map(|(s, c, k)| Op::CancelMany(s, c, k)),
        2 => (0u32..3000, window).prop_map(|(i, d)| Op::Insert(i, d)),
        2 => (0u64..60_000).prop_map(Op::Advance),
    ]
}

struct Oracle {
    tick_ms: u64,
    by_due: BTreeMap<(u64, u32), ()>,
    due_of: HashMap<u32, u64>,
}

impl Oracle {
    fn rounded(&self, due: u64) -> u64 {
        due.div_ceil(self.tick_ms) * self.tick_ms
    }
    fn remove(&mut self, id: u32) -> bool {
        match self.due_of.remove(&id) {
            Some(d) => {
                self.by_due.remove(&(d, id));
                true
            }
            None => false,
        }
    }
}

fn run(tick_ms: u64, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut w = TimerWheel::with_tick(Duration::from_millis(tick_ms)).unwrap();
    let mut o = Oracle {
        tick_ms,
        by_due: BTreeMap::new(),
        due_of: HashMap::new(),
    };
    let mut now = 0u64;
    let mut out = Vec::new();
    for op in ops {
        match op {
            Op::Insert(id, d) => {
                let due = now + d;
                let r = w.insert(id, Duration::from_millis(due));
                if due <= now {
                    prop_assert_eq!(r.map_err(|e| e.reason), Err(InsertError::DueNow));
                } else if o.rounded(due) / tick_ms > u64::from(u32::MAX) {
                    prop_assert_eq!(r.map_err(|e| e.reason), Err(InsertError::BeyondRange));
                } else {
                    prop_assert!(r.is_ok(), "{:?}", r);
                    o.remove(id);
                    o.due_of.insert(id, due);
                    o.by_due.insert((due, id), ());
                }
            }
            Op::Cancel(id) => {
                prop_assert_eq!(w.cancel(id), o.remove(id));
            }
            Op::InsertMany(start, count, d) => {
                let due = now + d;
                for id in start..start + count {
                    let r = w.insert(id, Duration::from_millis(due));
                    if due <= now {
                        prop_assert!(r.is_err());
                    } else {
                        prop_assert!(r.is_ok());
                        o.remove(id);
                        o.due_of.insert(id, due);
                        o.by_due.insert((due, id), ());
                    }
                }
            }
            Op::CancelMany(start, count, step) => {
                for id in (start..start + count).step_by(step as usize) {
                    prop_assert_eq!(w.cancel(id), o.remove(id));
                }
            }
            Op::Advance(d) => {
                now += d;
                out.clear();
                w.advance(Duration::from_millis(now), &mut out);
                let mut want: Vec<u32> = o
                    .by_due
                    .keys()
                    .filter(|(due, _)| o.rounded(*due) <= now)
                    .map(|&(_, id)| id)
                    .collect();
                for &id in &out {
                    let due = o.due_of[&id];
                    prop_assert!(due <= now, "early: id {} due {} now {}", id, due, now);
                }
                for id in &want {
                    o.remove(*id);
                }
                let mut got = out.clone();
                got.sort_unstable();
                want.sort_unstable();
                prop_assert_eq!(got, want, "at now {}", now);
            }
        }
        prop_assert_eq!(w.len(), o.due_of.len());
        match (
            w.next_due(),
            o.by_due.keys().map(|(d, _)| o.rounded(*d)).min(),
        ) {
            (None, None) => {}
            (Some(n), Some(m)) => prop_assert!(
                n <= Duration::from_millis(m),
                "next_due {:?} later than {}",
                n,
                m
            ),
            (a, b) => prop_assert!(false, "next_due {:?} vs oracle {:?}", a, b),
        }
        if o.due_of.len() < 200 {
            for (&id, &due) in &o.due_of {
                prop_assert_eq!(w.due(id), Some(Duration::from_millis(o.rounded(due))));
            }
        }
    }
    // Drain to the end: everything left comes out exactly once.
    out.clear();
    w.advance(
        Duration::from_millis(u64::from(u32::MAX) * tick_ms),
        &mut out,
    );
    out.sort_unstable();
    let mut rest: Vec<u32> = o.due_of.keys().copied().collect();
    rest.sort_unstable();
    prop_assert_eq!(out, rest);
    prop_assert!(w.is_empty());
    prop_assert_eq!(w.stats().chunks_in_use, 0);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn one_second_tick(ops in proptest::collection::vec(op(), 1..300)) {
        run(1000, ops)?;
    }

    #[test]
    fn bulk_insert_and_cancel_with_compaction(ops in proptest::collection::vec(bulk_op(), 1..60)) {
        run(1000, ops)?;
    }

    #[test]
    fn odd_tick(tick in prop_oneof![Just(1u64), Just(7), Just(250)], ops in proptest::collection::vec(op(), 1..300)) {
        run(tick, ops)?;
    }
}
