//! A failed reload never replaces a good value: the last good value is served, the error is
//! counted and kept, and the next epoch retries.

use kumo_config::{EpochCache, EpochHandle, RefreshStrategy};

#[test]
fn loader_errors_keep_the_last_good_value() {
    let epoch = EpochHandle::new();
    let cache: EpochCache<String, u32, String> =
        EpochCache::new(epoch.clone(), RefreshStrategy::Epoch, 10);
    assert_eq!(cache.get_with("a", |_| Ok(1)).unwrap(), 1);
    epoch.bump();
    let mut calls = 0;
    for _ in 0..5 {
        let v = cache
            .get_with("a", |_| {
                calls += 1;
                Err("broken".to_owned())
            })
            .unwrap();
        assert_eq!(v, 1);
    }
    assert_eq!(calls, 1, "the failure is remembered for this epoch");
    let stats = cache.stats();
    assert_eq!((stats.load_errors, stats.stale_served), (1, 1));
    let last = cache.last_error().unwrap();
    assert_eq!(
        (last.key.as_str(), last.epoch, last.error.as_str()),
        ("a", 1, "broken")
    );

    epoch.bump();
    assert_eq!(cache.get_with("a", |_| Ok(3)).unwrap(), 3);
    assert!(cache.last_error().is_none());
}

#[test]
fn an_error_without_a_good_value_is_returned_and_not_cached() {
    let cache: EpochCache<String, u32, String> =
        EpochCache::new(EpochHandle::new(), RefreshStrategy::Epoch, 10);
    let err = cache.get_with("a", |_| Err("down".to_owned())).unwrap_err();
    assert_eq!(err.loader_error(), "down");
    assert_eq!(err.to_string(), "loading the value failed");
    assert!(cache.is_empty());
    assert_eq!(cache.get_with("a", |_| Ok(4)).unwrap(), 4);
}
