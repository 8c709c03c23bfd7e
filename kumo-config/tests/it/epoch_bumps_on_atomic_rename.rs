//! An editor's atomic save (write a temporary file, rename it over the original) moves the epoch.
use crate::support;

#[test]
fn atomic_rename_bumps() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("shaping.toml");
    std::fs::write(&f, "[default]\nconnection_limit = 10\n").unwrap();
    let epoch = support::epoch_for(dir.path());

    support::atomic_write(&f, "[default]\nconnection_limit = 11\n");
    let r = epoch.scan();
    assert_eq!(r.bumped_to, Some(1));
    assert_eq!(r.modified, vec![f.clone()]);

    // Renaming identical content over the file is not a change.
    support::atomic_write(&f, "[default]\nconnection_limit = 11\n");
    assert_eq!(epoch.scan().bumped_to, None);
}

#[test]
fn renaming_a_file_to_another_matching_name_bumps() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.toml");
    std::fs::write(&a, "x = 1").unwrap();
    let epoch = support::epoch_for(dir.path());
    let b = dir.path().join("b.toml");
    std::fs::rename(&a, &b).unwrap();
    let r = epoch.scan();
    assert_eq!(r.bumped_to, Some(1));
    assert_eq!((r.added, r.removed), (vec![b], vec![a]));
}
