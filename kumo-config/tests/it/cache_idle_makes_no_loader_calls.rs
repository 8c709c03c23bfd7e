//! With the epoch standing still, a million cached keys cost zero loader calls however often
//! they are read. (1,000,000 keys, about 2 s in the dev profile; 4,000,000 with
//! `KUMO_BIG_TESTS=1`.)

use kumo_config::{EpochCache, EpochHandle, RefreshStrategy};
use std::sync::atomic::{AtomicU64, Ordering};

#[test]
fn idle_keys_are_never_reloaded() {
    let n: u64 = if std::env::var_os("KUMO_BIG_TESTS").is_some() {
        4_000_000
    } else {
        1_000_000
    };
    let epoch = EpochHandle::new();
    let cache: EpochCache<u64, u64, String> =
        EpochCache::new(epoch.clone(), RefreshStrategy::Epoch, n as usize);
    let calls = AtomicU64::new(0);
    let load = |k: &u64| {
        calls.fetch_add(1, Ordering::Relaxed);
        Ok(k * 2)
    };
    for k in 0..n {
        assert_eq!(cache.get_with(&k, load).unwrap(), k * 2);
    }
    assert_eq!(calls.load(Ordering::Relaxed), n);
    assert_eq!(cache.len(), n as usize);
    for round in 0..3u64 {
        for k in 0..n {
            let k = (k * 7919 + round) % n;
            assert_eq!(cache.get_with(&k, load).unwrap(), k * 2);
        }
    }
    assert_eq!(
        calls.load(Ordering::Relaxed),
        n,
        "zero loader calls while idle"
    );
    assert_eq!(cache.stats().evictions, 0);

    // One bump: each key reloads once, lazily.
    epoch.bump();
    for k in 0..10 {
        cache.get_with(&k, load).unwrap();
        cache.get_with(&k, load).unwrap();
    }
    assert_eq!(calls.load(Ordering::Relaxed), n + 10);
}
