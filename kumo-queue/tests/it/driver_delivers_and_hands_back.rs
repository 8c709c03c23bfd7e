//! The tokio driver: delivers due batches, reports tardiness, hands back on shutdown.
#![cfg(feature = "tokio")]

use kumo_queue::Scheduler;
use kumo_queue::driver::Driver;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn delivers_on_time_and_reports_tardiness() {
    let late = Arc::new(Mutex::new(Vec::new()));
    let l = late.clone();
    let (driver, mut rx) = Driver::builder(Scheduler::new())
        .on_tardiness(move |d| l.lock().unwrap().push(d))
        .spawn_channel();
    let h = driver.handle();
    let t0 = h.now();
    h.schedule("b", 2u32, t0 + Duration::from_secs(90)).unwrap();
    h.schedule("a", 1u32, t0 + Duration::from_secs(30)).unwrap();
    h.schedule("a", 3u32, t0 + Duration::from_secs(3600))
        .unwrap();
    let first = rx.recv().await.unwrap();
    assert_eq!(first.items()[0].message, 1);
    assert!(h.now() >= t0 + Duration::from_secs(30));
    assert!(h.now() < t0 + Duration::from_secs(32));
    let second = rx.recv().await.unwrap();
    assert_eq!(second.items()[0].message, 2);
    {
        let late = late.lock().unwrap();
        assert_eq!(late.len(), 2);
        assert!(late.iter().all(|d| *d < Duration::from_secs(1)), "{late:?}");
    }
    let rest = driver.shutdown().await;
    assert_eq!(rest.scheduler.len(), 1);
    assert!(rest.undelivered.is_empty());
    assert!(
        h.schedule("a", 4, h.now() + Duration::from_secs(5))
            .is_err()
    );
    assert_eq!(h.with(|s| s.len()), None);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn callback_sink_and_wake_for_an_earlier_message() {
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    let driver = Driver::builder(Scheduler::new()).spawn(move |batch| {
        g.lock()
            .unwrap()
            .extend(batch.into_items().into_iter().map(|d| d.message));
    });
    let h = driver.handle();
    h.schedule("q", "late", h.now() + Duration::from_secs(3600))
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Earlier than what the driver sleeps for: it must wake and deliver on time.
    h.schedule("q", "soon", h.now() + Duration::from_secs(5))
        .unwrap();
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(*got.lock().unwrap(), ["soon"]);
    let drained = h.with(|s| {
        let q = s.find_queue("q").unwrap();
        s.drain_queue(q).unwrap()
    });
    assert_eq!(drained.unwrap()[0].message, "late");
    let rest = driver.shutdown().await;
    assert!(rest.scheduler.is_empty());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn dropped_receiver_stops_the_driver_and_keeps_the_batch() {
    let (driver, rx) = Driver::builder(Scheduler::new()).spawn_channel();
    let h = driver.handle();
    h.schedule("q", 7u8, h.now() + Duration::from_secs(2))
        .unwrap();
    h.schedule("q", 8u8, h.now() + Duration::from_secs(200))
        .unwrap();
    drop(rx);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rest = driver.shutdown().await;
    assert_eq!(rest.undelivered.len(), 1);
    assert_eq!(rest.undelivered[0].message, 7);
    assert_eq!(rest.scheduler.len(), 1);
}
