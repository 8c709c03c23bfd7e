//! "Absent" and "unreadable" are different failures: a required file that does not exist is
//! `LayerError::Missing` and an optional one drops out of the merge, while a file or a folder
//! that exists but cannot be read is `LayerError::Read` / `LayerError::List`, required or not,
//! and is never taken as absent.
//!
//! Unreadable files are made with `chmod 000` where that stops reads and, when the tests run as
//! root (where it does not), with a symlink to itself (`ELOOP`); see `support::make_unreadable`.
//! Unlistable folders likewise: `chmod 000`, or a symlink loop in place of the folder.
#![cfg(unix)]

use crate::support;
use kumo_config::{Layer, LayerError, Layered};
use serde::Deserialize;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
struct Cfg {
    #[serde(default)]
    a: u32,
    #[serde(default)]
    b: u32,
}

fn io_kind(e: &LayerError) -> Option<ErrorKind> {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .map(std::io::Error::kind)
}

/// Makes the folder `dir` exist but fail to list (`chmod 000`, or as root a symlink loop in
/// its place, the folder moved aside). Returns the place it was moved to, if it was.
pub(crate) fn make_unlistable(dir: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o000)).unwrap();
    let moved = if std::fs::read_dir(dir).is_err() {
        None
    } else {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let aside = dir.with_extension("aside");
        std::fs::rename(dir, &aside).unwrap();
        std::os::unix::fs::symlink(dir.file_name().unwrap(), dir).unwrap();
        Some(aside)
    };
    let err = std::fs::read_dir(dir).expect_err("the folder is unlistable now");
    assert_ne!(err.kind(), ErrorKind::NotFound, "{err}");
    moved
}

/// Undoes [`make_unlistable`].
pub(crate) fn make_listable(dir: &Path, moved: Option<PathBuf>) {
    use std::os::unix::fs::PermissionsExt;
    match moved {
        Some(aside) => {
            std::fs::remove_file(dir).unwrap();
            std::fs::rename(aside, dir).unwrap();
        }
        None => {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
}

#[test]
fn a_required_file_that_is_absent_is_missing_an_optional_one_drops_out() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.toml");
    let b = dir.path().join("b.toml");
    std::fs::write(&a, "a = 1").unwrap();

    let required = Layered::<Cfg>::new([&a, &b]);
    let err = required.load().unwrap_err();
    assert!(
        matches!(&err, LayerError::Missing { file } if file == &b),
        "{err:?}"
    );
    assert!(!err.is_io());
    assert_eq!(
        err.to_string(),
        format!("required file {} does not exist", b.display())
    );

    let optional = Layered::<Cfg>::new([&a]).layer(Layer::file(&b).optional());
    let cfg = optional.load().unwrap();
    assert_eq!((cfg.value.a, cfg.value.b), (1, 0));
    assert_eq!(optional.resolve_files().unwrap(), vec![a.clone()]);
    assert_eq!(optional.files(), [a.clone(), b.clone()]);
    assert!(!optional.layers()[1].is_required());

    std::fs::write(&b, "b = 2").unwrap();
    let cfg = optional.load().unwrap();
    assert_eq!((cfg.value.a, cfg.value.b), (1, 2));
    // `Layered::file` is the required twin.
    std::fs::remove_file(&b).unwrap();
    let err = Layered::<Cfg>::new([&a]).file(&b).load().unwrap_err();
    assert!(matches!(err, LayerError::Missing { .. }));
}

#[test]
fn an_unreadable_file_is_an_error_whether_required_or_not() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.toml");
    let b = dir.path().join("b.toml");
    std::fs::write(&a, "a = 1").unwrap();
    for required in [true, false] {
        std::fs::write(&b, "b = 2").unwrap();
        let how = support::make_unreadable(&b);
        let layered = Layered::<Cfg>::new([&a]).layer(Layer::file(&b).required(required));
        let err = layered.load().unwrap_err();
        assert!(
            matches!(&err, LayerError::Read { file, .. } if file == &b),
            "{how:?}, required {required}: {err:?}"
        );
        assert!(err.is_io());
        assert_ne!(io_kind(&err), Some(ErrorKind::NotFound), "{how:?}");
        assert_ne!(io_kind(&err), None);
        support::make_readable(&b, "b = 2");
        assert_eq!(layered.load().unwrap().value.b, 2);
    }

    // A directory of the file's name: it exists, it cannot be read as a file.
    std::fs::remove_file(&b).unwrap();
    std::fs::create_dir(&b).unwrap();
    for required in [true, false] {
        let layered = Layered::<Cfg>::new([&a]).layer(Layer::file(&b).required(required));
        let err = layered.load().unwrap_err();
        assert!(
            matches!(&err, LayerError::Read { file, .. } if file == &b),
            "{err:?}"
        );
    }
}

#[test]
fn a_glob_match_that_cannot_be_read_is_an_error_not_a_file_less() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf.d");
    std::fs::create_dir(&conf).unwrap();
    std::fs::write(conf.join("a.toml"), "a = 1").unwrap();
    std::fs::write(conf.join("b.toml"), "b = 2").unwrap();
    let pattern = format!("{}/*.toml", conf.display());
    let layered = Layered::<Cfg>::new(Vec::<PathBuf>::new()).glob(&pattern);
    assert_eq!(layered.load().unwrap().value.b, 2);

    let how = support::make_unreadable(&conf.join("b.toml"));
    let err = layered.load().unwrap_err();
    assert!(
        matches!(&err, LayerError::Read { file, .. } if file == &conf.join("b.toml")),
        "{how:?}: {err:?}"
    );
    support::make_readable(&conf.join("b.toml"), "b = 3");
    assert_eq!(layered.load().unwrap().value.b, 3);

    // Removed from the folder: it drops out (a glob's matches are optional).
    std::fs::remove_file(conf.join("b.toml")).unwrap();
    assert_eq!(layered.load().unwrap().value.b, 0);
}

#[test]
fn a_folder_that_cannot_be_listed_is_not_an_empty_folder() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf.d");
    std::fs::create_dir(&conf).unwrap();
    std::fs::write(conf.join("a.toml"), "a = 1").unwrap();
    let simple =
        Layered::<Cfg>::new(Vec::<PathBuf>::new()).glob(format!("{}/*.toml", conf.display()));
    // A pattern with a wildcard before the last component takes the other listing path.
    let walk = Layered::<Cfg>::new(Vec::<PathBuf>::new())
        .glob(format!("{}/conf.d/**/*.toml", dir.path().display()));
    assert_eq!(simple.load().unwrap().value.a, 1);
    assert_eq!(walk.load().unwrap().value.a, 1);

    let moved = make_unlistable(&conf);
    for layered in [&simple, &walk] {
        let err = layered.load().unwrap_err();
        assert!(
            matches!(&err, LayerError::List { dir, .. } if dir == &conf),
            "moved {moved:?}: {err:?}"
        );
        assert!(err.is_io());
        assert_ne!(io_kind(&err), Some(ErrorKind::NotFound));
    }
    make_listable(&conf, moved);
    assert_eq!(simple.load().unwrap().value.a, 1);

    // An absent folder matches nothing: fine for an optional pattern, an error for a required one.
    std::fs::remove_dir_all(&conf).unwrap();
    assert_eq!(simple.load().unwrap().value.a, 0);
    assert_eq!(walk.load().unwrap().value.a, 0);
    let required = Layered::<Cfg>::new(Vec::<PathBuf>::new())
        .layer(Layer::glob(format!("{}/*.toml", conf.display())).required(true));
    assert!(matches!(required.load(), Err(LayerError::NoMatch { .. })));
}

#[test]
fn path_order_keeps_name_order_across_required_files_and_a_pattern() {
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("10-b.toml");
    std::fs::write(dir.path().join("00-a.toml"), "a = 1\nb = 1").unwrap();
    std::fs::write(&b, "b = 2").unwrap();
    std::fs::write(dir.path().join("20-c.toml"), "a = 3").unwrap();
    let pattern = format!("{}/*.toml", dir.path().display());
    let declared = Layered::<Cfg>::new([&b]).glob(&pattern);
    let names = |l: &Layered<Cfg>| -> Vec<String> {
        l.resolve_files()
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(names(&declared), ["10-b.toml", "00-a.toml", "20-c.toml"]);
    let cfg = declared.load().unwrap();
    assert_eq!((cfg.value.a, cfg.value.b), (3, 1), "00-a loaded after 10-b");

    let sorted = declared.clone().path_order(true);
    assert_eq!(names(&sorted), ["00-a.toml", "10-b.toml", "20-c.toml"]);
    let cfg = sorted.load().unwrap();
    assert_eq!((cfg.value.a, cfg.value.b), (3, 2));
    // 10-b.toml stays required although the pattern also lists it.
    std::fs::remove_file(&b).unwrap();
    assert!(matches!(sorted.load(), Err(LayerError::Missing { file }) if file == b));
}
