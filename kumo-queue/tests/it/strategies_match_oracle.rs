//! Property test: the scheduler on all three strategies against a `BTreeMap<(due, id)>` oracle
//! under random schedule, cancel, reschedule, drain and advance. Every strategy returns exactly
//! the oracle's batches (never early, never lost, never twice, at most one tick late), with the
//! same grouping and order, exact lengths and per-queue counts, and `next_due` a lower bound.

use kumo_queue::{
    Key, QueueId, QueueStrategy, Scheduler, SingletonTimerWheel, SkipList, Strategy as QStrategy,
    TimerWheelPerQueue,
};
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

const TICK_MS: u64 = 1000;

#[derive(Debug, Clone)]
enum Op {
    Schedule(u8, u64),
    Cancel(usize),
    Reschedule(usize, u64),
    Drain(u8),
    Advance(u64),
}

fn delay() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0u64..5_000,
        3 => 0u64..900_000,
        2 => 0u64..(1 << 31),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..6, delay()).prop_map(|(q, d)| Op::Schedule(q, d)),
        2 => any::<usize>().prop_map(Op::Cancel),
        2 => (any::<usize>(), delay()).prop_map(|(k, d)| Op::Reschedule(k, d)),
        1 => (0u8..6).prop_map(Op::Drain),
        3 => delay().prop_map(Op::Advance),
    ]
}

fn rounded(due: u64) -> u64 {
    due.div_ceil(TICK_MS) * TICK_MS
}

/// What every observable call returned, for comparing strategies.
type Trace = Vec<String>;

fn run<S: QStrategy>(strategy: S, ops: &[Op]) -> Result<Trace, TestCaseError> {
    let mut s: Scheduler<u64, S> =
        Scheduler::with_strategy(strategy, Duration::from_millis(TICK_MS)).unwrap();
    let queues: Vec<QueueId> = (0..6)
        .map(|i| s.queue(&format!("q{i}@example.com")).unwrap())
        .collect();
    // Oracle: message number -> (queue, due ms); ordered index by (due, number).
    let mut by_due: BTreeMap<(u64, u64), u8> = BTreeMap::new();
    let mut live: HashMap<u64, (u8, u64, Key)> = HashMap::new();
    let mut keys: Vec<(Key, u64)> = Vec::new();
    let mut trace = Trace::new();
    let mut now = 0u64;
    let mut next_msg = 0u64;
    for op in ops {
        match *op {
            Op::Schedule(q, d) => {
                let due = now + d;
                let m = next_msg;
                next_msg += 1;
                match s.schedule(queues[q as usize], m, Duration::from_millis(due)) {
                    Ok(key) => {
                        prop_assert!(due > now);
                        live.insert(m, (q, due, key));
                        by_due.insert((due, m), q);
                        keys.push((key, m));
                        trace.push(format!("sched {m} {key}"));
                    }
                    Err(r) => {
                        prop_assert!(r.is_due_now() && due <= now, "{:?}", r);
                        prop_assert_eq!(r.message, m);
                    }
                }
            }
            Op::Cancel(k) if !keys.is_empty() => {
                let (key, m) = keys[k % keys.len()];
                let r = s.cancel(key);
                match live.remove(&m) {
                    Some((_, due, _)) => {
                        by_due.remove(&(due, m));
                        prop_assert_eq!(r, Ok(m));
                    }
                    None => prop_assert!(r.is_err()),
                }
            }
            Op::Reschedule(k, d) if !keys.is_empty() => {
                let (key, m) = keys[k % keys.len()];
                let due = now + d;
                let r = s.reschedule(key, Duration::from_millis(due));
                match live.get_mut(&m) {
                    Some((q, old, _)) if due > now => {
                        prop_assert!(r.is_ok());
                        by_due.remove(&(*old, m));
                        by_due.insert((due, m), *q);
                        *old = due;
                    }
                    Some(_) => prop_assert!(r.is_err_and(|e| e.is_due_now())),
                    None => prop_assert!(r.is_err()),
                }
            }
            Op::Drain(q) => {
                let got = s.drain_queue(queues[q as usize]).unwrap();
                let mut want: Vec<(u64, u64)> = live
                    .iter()
                    .filter(|(_, v)| v.0 == q)
                    .map(|(&m, v)| (rounded(v.1), m))
                    .collect();
                want.sort_unstable_by_key(|&(d, m)| (d, live[&m].2.index()));
                let got_m: Vec<u64> = got.iter().map(|d| d.message).collect();
                let want_m: Vec<u64> = want.iter().map(|w| w.1).collect();
                prop_assert_eq!(&got_m, &want_m);
                for m in want_m {
                    let (_, due, _) = live.remove(&m).unwrap();
                    by_due.remove(&(due, m));
                }
                trace.push(format!("drain {q} {got_m:?}"));
            }
            Op::Advance(d) => {
                now += d;
                let batch = s.advance(Duration::from_millis(now));
                let mut want: Vec<(QueueId, u64, u32, u64)> = by_due
                    .iter()
                    .filter(|((due, _), _)| rounded(*due) <= now)
                    .map(|(&(due, m), &q)| {
                        (queues[q as usize], rounded(due), live[&m].2.index(), m)
                    })
                    .collect();
                want.sort_unstable();
                let got: Vec<(QueueId, u64, u32, u64)> = batch
                    .items()
                    .iter()
                    .map(|d| (d.queue, d.due.as_millis() as u64, d.key.index(), d.message))
                    .collect();
                for d in batch.items() {
                    let due = live[&d.message].1;
                    prop_assert!(due <= now, "early: due {} now {}", due, now);
                    prop_assert!(now < due + TICK_MS || rounded(due) <= now);
                }
                prop_assert_eq!(&got, &want, "at {}", now);
                for w in &want {
                    let (_, due, _) = live.remove(&w.3).unwrap();
                    by_due.remove(&(due, w.3));
                }
                trace.push(format!("advance {now} {got:?}"));
            }
            _ => {}
        }
        prop_assert_eq!(s.len(), live.len());
        for (i, &q) in queues.iter().enumerate() {
            let n = live.values().filter(|v| v.0 as usize == i).count();
            prop_assert_eq!(s.queue_len(q), n);
            prop_assert_eq!(s.iter_queue(q).count(), n);
        }
        if let Some(min) = by_due.keys().map(|(d, _)| rounded(*d)).min() {
            let next = s.next_due();
            prop_assert!(next.is_some_and(|n| n <= Duration::from_millis(min)));
        } else {
            prop_assert_eq!(s.next_due(), None);
        }
        for (m, (_, due, key)) in &live {
            prop_assert_eq!(s.get(*key), Some(m));
            prop_assert_eq!(s.due(*key), Some(Duration::from_millis(rounded(*due))));
        }
    }
    let rest: Vec<u64> = s.drain_all().into_iter().map(|d| d.message).collect();
    prop_assert_eq!(rest.len(), live.len());
    prop_assert!(s.is_empty());
    trace.push(format!("rest {rest:?}"));
    Ok(trace)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn all_strategies_match_the_oracle_and_each_other(ops in proptest::collection::vec(op(), 1..200)) {
        let a = run(SingletonTimerWheel::default(), &ops)?;
        let b = run(TimerWheelPerQueue::default(), &ops)?;
        let c = run(SkipList::default(), &ops)?;
        let d = run(QueueStrategy::skip_list(), &ops)?;
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(&a, &c);
        prop_assert_eq!(&a, &d);
    }
}
