//! 10,000 concurrent requests for one stale key cause one loader call; everybody gets its
//! result.

use kumo_config::{EpochCache, EpochHandle, RefreshStrategy};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_concurrent_gets_of_a_stale_key_load_once() {
    let epoch = EpochHandle::new();
    let cache: Arc<EpochCache<String, u64, String>> =
        Arc::new(EpochCache::new(epoch.clone(), RefreshStrategy::Epoch, 100));
    cache
        .get_with_async("q", |_| async { Ok::<_, String>(1) })
        .await
        .unwrap();
    epoch.bump(); // now stale
    let calls = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..10_000 {
        let (cache, calls) = (cache.clone(), calls.clone());
        tasks.push(tokio::spawn(async move {
            cache
                .get_with_async("q", |_| async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    // Slow enough that every task arrives while it runs.
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    Ok::<_, String>(2)
                })
                .await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), 2);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(cache.stats().loads, 2);
}

#[test]
fn blocking_callers_share_one_load_too() {
    let epoch = EpochHandle::new();
    let cache: Arc<EpochCache<u32, u64, String>> =
        Arc::new(EpochCache::new(epoch.clone(), RefreshStrategy::Epoch, 100));
    let calls = Arc::new(AtomicU64::new(0));
    let barrier = Arc::new(std::sync::Barrier::new(32));
    let threads: Vec<_> = (0..32)
        .map(|_| {
            let (cache, calls, barrier) = (cache.clone(), calls.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                cache.get_with(&7, |_| {
                    calls.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(200));
                    Ok(9)
                })
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap().unwrap(), 9);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
fn a_panicking_leader_hands_over_to_a_waiter() {
    let cache: Arc<EpochCache<u32, u64, String>> = Arc::new(EpochCache::new(
        EpochHandle::new(),
        RefreshStrategy::Epoch,
        10,
    ));
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let c = cache.clone();
    let leader = std::thread::spawn(move || {
        c.get_with(&1, |_| {
            started_tx.send(()).unwrap();
            release_rx.recv().unwrap();
            panic!("loader bug");
        })
    });
    started_rx.recv().unwrap();
    let c = cache.clone();
    let waiter = std::thread::spawn(move || c.get_with(&1, |_| Ok(5)));
    // Let the waiter start waiting, then make the leader panic.
    while cache.stats().waits == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    release_tx.send(()).unwrap();
    assert!(leader.join().is_err());
    assert_eq!(waiter.join().unwrap().unwrap(), 5);
    assert_eq!(cache.stats().abandoned, 1);
}
