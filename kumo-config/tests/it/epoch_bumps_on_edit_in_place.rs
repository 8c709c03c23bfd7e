//! Rewriting a file in place (same name, same inode) moves the epoch, even at the same size.
use crate::support;

#[test]
fn edit_in_place_bumps_once() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("queues.toml");
    std::fs::write(&f, "retry = 10").unwrap();
    let epoch = support::epoch_for(dir.path());
    assert_eq!(
        epoch.current(),
        0,
        "the first scan sets the baseline without a bump"
    );

    std::fs::write(&f, "retry = 20").unwrap(); // same size, same inode
    let r = epoch.scan();
    assert_eq!(r.bumped_to, Some(1));
    assert_eq!(r.modified, vec![f.clone()]);
    assert!(r.added.is_empty() && r.removed.is_empty());

    assert_eq!(epoch.scan().bumped_to, None, "nothing changed since");
    assert_eq!(epoch.current(), 1);
}
