//! 100 quick edits seen by the background watcher become one or two bumps, not a hundred.
use crate::support;

use kumo_config::WatchOptions;
use std::time::Duration;

fn burst(use_notify: bool) {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("burst.toml");
    std::fs::write(&f, "n = 0").unwrap();
    let epoch = support::epoch_for(dir.path());
    let watcher = epoch
        .spawn_watcher(
            WatchOptions::new()
                .interval(Duration::from_millis(20))
                .settle(Duration::from_millis(250))
                .max_delay(Duration::from_secs(10))
                .use_notify(use_notify),
        )
        .unwrap();
    let mut sub = epoch.subscribe();
    for i in 1..=100 {
        std::fs::write(&f, format!("n = {i}")).unwrap();
    }
    assert!(
        sub.wait_timeout(Duration::from_secs(30)).is_some(),
        "the burst was never seen"
    );
    // Give a possible second bump (a burst split by a scan) time to happen, then check that
    // the watcher went quiet.
    std::thread::sleep(Duration::from_millis(800));
    let bumps = epoch.current();
    assert!((1..=2).contains(&bumps), "{bumps} bumps for one burst");
    assert_eq!(watcher.bumps(), bumps);
    let change = watcher.last_change().expect("a change was recorded");
    assert_eq!(change.bumped_to, Some(bumps));
    assert!(change.modified.contains(&f));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(epoch.current(), bumps, "no bump without a change");
}

#[test]
fn a_burst_of_100_edits_is_one_or_two_bumps_when_polling() {
    burst(false);
}

#[cfg(feature = "notify")]
#[test]
fn a_burst_of_100_edits_is_one_or_two_bumps_with_notify() {
    burst(true);
}
