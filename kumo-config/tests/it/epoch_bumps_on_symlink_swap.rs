//! A Kubernetes ConfigMap update (the `..data` symlink swapped to a new folder) moves the epoch.
#![cfg(unix)]
use crate::support;

#[test]
fn configmap_symlink_swap_bumps() {
    let dir = tempfile::tempdir().unwrap();
    let mut cm = support::ConfigMap::new(dir.path(), &[("app.toml", "limit = 1")]);
    let epoch = support::epoch_for(dir.path());
    assert_eq!(epoch.files(), vec![dir.path().join("app.toml")]);

    cm.publish(&[("app.toml", "limit = 2")]);
    let r = epoch.scan();
    assert_eq!(r.bumped_to, Some(1));
    assert_eq!(r.modified, vec![dir.path().join("app.toml")]);

    // A new version folder with the same content is not a change.
    cm.publish(&[("app.toml", "limit = 2")]);
    assert_eq!(epoch.scan().bumped_to, None);
}
