//! Touching a file (new mtime, same bytes) re-hashes it but does not move the epoch.
use crate::support;

use std::time::{Duration, SystemTime};

#[test]
fn touch_does_not_bump() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("a.toml");
    std::fs::write(&f, "x = 1").unwrap();
    let epoch = support::epoch_for(dir.path());
    let later = SystemTime::now() + Duration::from_secs(3600);
    let file = std::fs::File::options().write(true).open(&f).unwrap();
    file.set_modified(SystemTime::now() + Duration::from_secs(5))
        .unwrap();
    drop(file);
    let r = epoch.scan_at(later);
    assert_eq!(r.hashed, 1, "metadata changed, so the content was checked");
    assert_eq!(r.bumped_to, None);
    assert_eq!(epoch.current(), 0);
    // Nothing changed and the file is not recent: stat only.
    assert_eq!(epoch.scan_at(later).hashed, 0);
}

#[test]
fn manual_bump_moves_the_epoch_and_wakes_subscribers() {
    let dir = tempfile::tempdir().unwrap();
    let epoch = support::epoch_for(dir.path());
    let mut sub = epoch.subscribe();
    assert_eq!(sub.wait_timeout(Duration::from_millis(1)), None);
    assert_eq!(epoch.bump(), 1);
    assert_eq!(sub.wait_timeout(Duration::from_secs(5)), Some(1));
}
