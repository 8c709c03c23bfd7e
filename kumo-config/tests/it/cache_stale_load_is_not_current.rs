//! A value computed while the epoch moved (twice) is handed to its callers but never stored as
//! current: the next call reloads.

use kumo_config::{EpochCache, EpochHandle, RefreshStrategy};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[test]
fn slow_load_across_two_bumps_is_not_stored_as_current() {
    let epoch = EpochHandle::new();
    let cache: Arc<EpochCache<&'static str, u64, String>> =
        Arc::new(EpochCache::new(epoch.clone(), RefreshStrategy::Epoch, 10));
    let calls = Arc::new(AtomicU64::new(0));
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let (c, n) = (cache.clone(), calls.clone());
    let slow = std::thread::spawn(move || {
        c.get_with(&"k", |_| {
            n.fetch_add(1, Ordering::SeqCst);
            started_tx.send(()).unwrap();
            release_rx.recv().unwrap();
            Ok(100) // computed from what the files said at epoch 0
        })
    });
    started_rx.recv().unwrap();
    epoch.bump();
    epoch.bump();
    release_tx.send(()).unwrap();
    assert_eq!(slow.join().unwrap().unwrap(), 100, "its callers get it");

    assert_eq!(cache.get(&"k"), None, "not current at epoch 2");
    assert_eq!(cache.value_epoch(&"k"), Some(0));
    assert_eq!(cache.peek(&"k"), Some(100), "still the last good value");
    let v = cache
        .get_with(&"k", |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(200)
        })
        .unwrap();
    assert_eq!(v, 200);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(cache.value_epoch(&"k"), Some(2));
    assert_eq!(cache.get(&"k"), Some(200));
}

#[test]
fn an_older_load_finishing_late_does_not_overwrite_a_newer_one() {
    let epoch = EpochHandle::new();
    let cache: Arc<EpochCache<u8, u64, String>> =
        Arc::new(EpochCache::new(epoch.clone(), RefreshStrategy::Epoch, 10));
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let c = cache.clone();
    let old = std::thread::spawn(move || {
        c.get_with(&1, |_| {
            started_tx.send(()).unwrap();
            release_rx.recv().unwrap();
            Ok(1)
        })
    });
    started_rx.recv().unwrap();
    epoch.bump();
    // A caller at epoch 1 does not wait for the epoch-0 load: it loads on its own.
    assert_eq!(cache.get_with(&1, |_| Ok(2)).unwrap(), 2);
    release_tx.send(()).unwrap();
    assert_eq!(old.join().unwrap().unwrap(), 1);
    assert_eq!(cache.get(&1), Some(2));
    assert_eq!(cache.value_epoch(&1), Some(1));
}
