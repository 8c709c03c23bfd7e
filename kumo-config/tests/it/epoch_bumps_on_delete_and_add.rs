//! A removed file and a new file each move the epoch; a non-matching file does not.
use crate::support;

#[test]
fn delete_and_add_bump() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.toml");
    let b = dir.path().join("b.json");
    std::fs::write(&a, "x = 1").unwrap();
    let epoch = support::epoch_for(dir.path());

    std::fs::write(&b, "{}").unwrap();
    let r = epoch.scan();
    assert_eq!((r.bumped_to, r.added.clone()), (Some(1), vec![b.clone()]));

    std::fs::remove_file(&a).unwrap();
    let r = epoch.scan();
    assert_eq!((r.bumped_to, r.removed.clone()), (Some(2), vec![a.clone()]));

    std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
    std::fs::create_dir(dir.path().join("dir.toml")).unwrap(); // not a regular file
    assert_eq!(epoch.scan().bumped_to, None);

    std::fs::remove_file(&b).unwrap();
    let r = epoch.scan();
    assert_eq!(r.bumped_to, Some(3));
    assert_eq!(r.files, 0);
}
