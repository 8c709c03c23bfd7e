//! An async subscriber wakes once per change however many bumps happened.

use kumo_config::EpochHandle;
use std::time::Duration;

#[tokio::test]
async fn async_subscriber_sees_coalesced_bumps() {
    let epoch = EpochHandle::new();
    let mut sub = epoch.subscribe();
    let e = epoch.clone();
    let waiter = tokio::spawn(async move { sub.changed().await });
    tokio::time::sleep(Duration::from_millis(20)).await;
    e.bump();
    assert_eq!(waiter.await.unwrap(), 1);

    let mut sub = epoch.subscribe();
    epoch.bump();
    epoch.bump();
    epoch.bump();
    assert_eq!(sub.changed().await, 4);
    assert!(!sub.has_changed());
    let pending = tokio::time::timeout(Duration::from_millis(20), sub.changed()).await;
    assert!(pending.is_err(), "no change, no wake-up");
}
