//! With feature `notify`, an atomic rename or a symlink swap is seen long before the next
//! periodic scan (here: an hour away).
#![cfg(feature = "notify")]
use crate::support;

use kumo_config::WatchOptions;
use std::time::Duration;

fn options() -> WatchOptions {
    WatchOptions::new()
        .interval(Duration::from_secs(3600))
        .settle(Duration::from_millis(10))
}

#[test]
fn atomic_rename_is_seen_without_waiting_for_the_poll() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("a.toml");
    std::fs::write(&f, "x = 1").unwrap();
    let epoch = support::epoch_for(dir.path());
    let watcher = epoch.spawn_watcher(options()).unwrap();
    assert!(watcher.notify_active());
    let mut sub = epoch.subscribe();
    // Let the watcher install its directory watches.
    std::thread::sleep(Duration::from_millis(100));
    support::atomic_write(&f, "x = 2");
    assert_eq!(sub.wait_timeout(Duration::from_secs(20)), Some(1));
    assert!(watcher.events() > 0);
    // The scan's own reads of the files do not trigger further scans.
    std::thread::sleep(Duration::from_millis(300));
    let scans = watcher.scans();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(watcher.scans(), scans, "idle watcher keeps scanning");
    assert_eq!(epoch.current(), 1);
}

#[cfg(unix)]
#[test]
fn configmap_swap_is_seen_without_waiting_for_the_poll() {
    let dir = tempfile::tempdir().unwrap();
    let mut cm = support::ConfigMap::new(dir.path(), &[("app.toml", "x = 1")]);
    let epoch = support::epoch_for(dir.path());
    let _watcher = epoch.spawn_watcher(options()).unwrap();
    let mut sub = epoch.subscribe();
    std::thread::sleep(Duration::from_millis(100));
    cm.publish(&[("app.toml", "x = 2")]);
    assert_eq!(sub.wait_timeout(Duration::from_secs(20)), Some(1));
}

#[test]
fn a_new_file_in_a_watched_folder_is_seen() {
    let dir = tempfile::tempdir().unwrap();
    let epoch = support::epoch_for(dir.path());
    let _watcher = epoch.spawn_watcher(options()).unwrap();
    let mut sub = epoch.subscribe();
    std::thread::sleep(Duration::from_millis(100));
    std::fs::write(dir.path().join("new.json"), "{}").unwrap();
    assert_eq!(sub.wait_timeout(Duration::from_secs(20)), Some(1));
}
