//! Property test: under random lookups, loader failures and bumps, `EpochCache` answers like a
//! plain map model (one value per key with the epoch it was computed at, last good kept on
//! failure) and calls the loader exactly when the model says a reload is due.

use kumo_config::{EpochCache, EpochHandle, RefreshStrategy};
use proptest::prelude::*;
use std::collections::HashMap;

#[derive(Debug, Clone)]
enum Op {
    Get { key: u8, ok: bool },
    Bump,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..6, prop::bool::weighted(0.8)).prop_map(|(key, ok)| Op::Get { key, ok }),
        1 => Just(Op::Bump),
    ]
}

#[derive(Debug, Default)]
struct Model {
    /// key → (value, epoch computed at, epoch a reload failed at)
    entries: HashMap<u8, (u64, u64, Option<u64>)>,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn cache_agrees_with_the_model(ops in prop::collection::vec(op(), 1..80)) {
        let epoch = EpochHandle::new();
        let cache: EpochCache<u8, u64, String> =
            EpochCache::new(epoch.clone(), RefreshStrategy::Epoch, 1000);
        let mut model = Model::default();
        let mut loads = 0u64;
        for op in ops {
            match op {
                Op::Bump => { epoch.bump(); }
                Op::Get { key, ok } => {
                    let cur = epoch.current();
                    let fresh = cur * 100 + u64::from(key);
                    let mut called = false;
                    let got = cache.get_with(&key, |_| {
                        called = true;
                        if ok { Ok(fresh) } else { Err("bad".to_owned()) }
                    });
                    let entry = model.entries.get(&key).copied();
                    let due = match entry {
                        Some((_, at, failed)) => at != cur && failed != Some(cur),
                        None => true,
                    };
                    prop_assert_eq!(called, due, "loader call for {} at {}", key, cur);
                    if due {
                        loads += 1;
                    }
                    let expect = match (due, ok, entry) {
                        (false, _, Some((v, _, _))) => Some(v),
                        (true, true, _) => {
                            model.entries.insert(key, (fresh, cur, None));
                            Some(fresh)
                        }
                        (true, false, Some((v, at, _))) => {
                            model.entries.insert(key, (v, at, Some(cur)));
                            Some(v)
                        }
                        _ => None,
                    };
                    prop_assert_eq!(got.ok(), expect);
                }
            }
        }
        prop_assert_eq!(cache.stats().loads, loads);
    }
}
