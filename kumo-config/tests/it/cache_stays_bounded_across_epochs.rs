//! Across a thousand bumps the cache never holds more than its capacity, and entries of old
//! epochs are evicted before current ones.

use kumo_config::{EpochCache, EpochHandle, RefreshStrategy};

#[test]
fn capacity_holds_across_1000_bumps() {
    let epoch = EpochHandle::new();
    let cache: EpochCache<u64, u64, String> =
        EpochCache::new(epoch.clone(), RefreshStrategy::Epoch, 256);
    for round in 0..1000u64 {
        for k in 0..50 {
            cache.get_with(&(round * 50 + k), |k| Ok(*k)).unwrap();
        }
        assert!(cache.len() <= 256, "len {} at round {round}", cache.len());
        epoch.bump();
    }
}

#[test]
fn current_entries_survive_while_old_ones_go() {
    let epoch = EpochHandle::new();
    let cache: EpochCache<u64, u64, String> =
        EpochCache::new(epoch.clone(), RefreshStrategy::Epoch, 64);
    for k in 0..64 {
        cache.get_with(&k, |k| Ok(*k)).unwrap();
    }
    epoch.bump();
    // Refresh the first 32 keys at the new epoch, then add 32 new ones.
    for k in 0..32 {
        cache.get_with(&k, |k| Ok(*k + 1)).unwrap();
    }
    for k in 1000..1032 {
        cache.get_with(&k, |k| Ok(*k)).unwrap();
    }
    for k in 0..32 {
        assert_eq!(cache.get(&k), Some(k + 1), "current entry {k} kept");
    }
    assert!(cache.len() <= 64);
}

#[test]
fn ttl_strategy_reloads_on_time_not_on_epoch() {
    use std::time::{Duration, Instant};
    let epoch = EpochHandle::new();
    let cache: EpochCache<u64, u64, String> = EpochCache::new(
        epoch.clone(),
        RefreshStrategy::Ttl(Duration::from_secs(60)),
        10,
    );
    let t0 = Instant::now();
    cache.get_with_at(&1, Some(t0), |_| Ok(1)).unwrap();
    epoch.bump();
    assert_eq!(
        cache.get_at(&1, Some(t0 + Duration::from_secs(30))),
        Some(1),
        "a TTL cache ignores the epoch"
    );
    assert_eq!(cache.get_at(&1, Some(t0 + Duration::from_secs(61))), None);
}
