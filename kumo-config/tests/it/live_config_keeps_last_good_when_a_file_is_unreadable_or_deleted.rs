//! A required file that is deleted, or any file or folder that cannot be read (`EACCES`,
//! `EMFILE`, `EIO`, `ELOOP`...), fails the reload: the last good configuration stays in force,
//! the typed error is in `last_error`, `stats().load_errors` counts it and a `tracing` warning
//! carries the file and the kind. The epoch scan sees an unreadable file as unreadable, not as
//! removed, and a file that becomes readable again as a change, so the next reload recovers.
//!
//! Unreadable files: `chmod 000`, or, when the tests run as root, a symlink loop (see
//! `support::make_unreadable`).
#![cfg(unix)]

use crate::layered_absent_is_not_unreadable::{make_listable, make_unlistable};
use crate::support::{self, EventLog};
use kumo_config::{Layer, LayerError, Layered, LiveConfig};
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Deserialize)]
struct Cfg {
    #[serde(default)]
    a: u32,
    #[serde(default)]
    b: u32,
}

fn values(live: &LiveConfig<Cfg>) -> (u32, u32) {
    let c = live.get().unwrap();
    (c.value.a, c.value.b)
}

#[test]
fn unreadable_then_deleted_required_file_keeps_the_last_good_config() {
    let log = EventLog::default();
    tracing::subscriber::with_default(log.clone(), || {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("00-a.toml");
        let b = dir.path().join("10-b.toml");
        std::fs::write(&a, "a = 1").unwrap();
        std::fs::write(&b, "b = 2").unwrap();
        let epoch = support::epoch_for(dir.path());
        let live = LiveConfig::new(Layered::<Cfg>::new([&a, &b]), epoch.handle());
        assert_eq!(values(&live), (1, 2));

        // Unreadable: a change for the epoch (not a removal), an error for the load.
        let how = support::make_unreadable(&b);
        let report = epoch.scan();
        assert!(report.bumped_to.is_some(), "{how:?}: {report:?}");
        assert!(report.removed.is_empty(), "{how:?}: {report:?}");
        assert_eq!(report.unreadable, vec![b.clone()], "{how:?}");
        assert_eq!(values(&live), (1, 2), "{how:?}: last good");
        let err = live.last_error().expect("reported");
        assert!(
            matches!(&*err, LayerError::Read { file, .. } if file == &b),
            "{how:?}: {err:?}"
        );
        assert_eq!(live.stats().load_errors, 1);
        let warnings = log.at_least(tracing::Level::WARN);
        assert!(
            warnings.iter().any(|w| w.contains("config reload failed")
                && w.contains("kind=io")
                && w.contains(&b.display().to_string())),
            "{warnings:#?}"
        );

        // Still unreadable at the next scan: no new bump, no new load, still reported, and no
        // new warning (one per change, not one per scan).
        let warned = log.at_least(tracing::Level::WARN).len();
        assert_eq!(epoch.scan().bumped_to, None);
        assert_eq!(log.at_least(tracing::Level::WARN).len(), warned);
        assert_eq!(values(&live), (1, 2));
        assert!(live.last_error().is_some());

        // Readable again (even with the old content): a change, and the reload recovers.
        support::make_readable(&b, "b = 3");
        assert!(epoch.scan().bumped_to.is_some());
        assert_eq!(values(&live), (1, 3));
        assert!(live.last_error().is_none());

        // Deleted: the required file is missing, the last good config stays.
        std::fs::remove_file(&b).unwrap();
        let report = epoch.scan();
        assert_eq!(report.removed, vec![b.clone()]);
        assert_eq!(values(&live), (1, 3));
        let err = live.last_error().expect("reported");
        assert!(
            matches!(&*err, LayerError::Missing { file } if file == &b),
            "{err:?}"
        );
        assert_eq!(live.stats().load_errors, 2);
        assert!(
            log.at_least(tracing::Level::WARN)
                .iter()
                .any(|w| w.contains("kind=missing")),
            "{:#?}",
            log.at_least(tracing::Level::WARN)
        );

        std::fs::write(&b, "b = 4").unwrap();
        epoch.scan();
        assert_eq!(values(&live), (1, 4));
        assert!(live.last_error().is_none());
    });
}

#[test]
fn an_optional_file_may_come_and_go_but_not_become_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("00-a.toml");
    let local = dir.path().join("50-local.toml");
    std::fs::write(&a, "a = 1").unwrap();
    let epoch = support::epoch_for(dir.path());
    let live = LiveConfig::new(
        Layered::<Cfg>::new([&a]).layer(Layer::file(&local).optional()),
        epoch.handle(),
    );
    assert_eq!(values(&live), (1, 0));
    std::fs::write(&local, "b = 5").unwrap();
    epoch.scan();
    assert_eq!(values(&live), (1, 5));
    std::fs::remove_file(&local).unwrap();
    epoch.scan();
    assert_eq!(values(&live), (1, 0), "removed: dropped from the merge");
    assert!(live.last_error().is_none());

    std::fs::write(&local, "b = 6").unwrap();
    epoch.scan();
    assert_eq!(values(&live), (1, 6));
    let how = support::make_unreadable(&local);
    epoch.scan();
    assert_eq!(
        values(&live),
        (1, 6),
        "{how:?}: last good, not the defaults"
    );
    let err = live.last_error().expect("reported");
    assert!(matches!(&*err, LayerError::Read { .. }), "{how:?}: {err:?}");
}

#[test]
fn a_folder_that_cannot_be_listed_keeps_the_last_good_config() {
    let root = tempfile::tempdir().unwrap();
    let conf = root.path().join("conf");
    std::fs::create_dir(&conf).unwrap();
    std::fs::write(conf.join("a.toml"), "a = 1").unwrap();
    std::fs::write(conf.join("b.toml"), "b = 2").unwrap();
    let epoch = support::epoch_for(&conf);
    let live = LiveConfig::new(
        Layered::<Cfg>::new(Vec::<PathBuf>::new()).glob(format!("{}/*.toml", conf.display())),
        epoch.handle(),
    );
    assert_eq!(values(&live), (1, 2));

    let moved = make_unlistable(&conf);
    let report = epoch.scan();
    assert!(report.removed.is_empty(), "moved {moved:?}: {report:?}");
    assert_eq!(report.unreadable.len(), 2, "{report:?}");
    assert!(report.bumped_to.is_some());
    assert_eq!(values(&live), (1, 2), "not an empty folder");
    let err = live.last_error().expect("reported");
    assert!(
        matches!(&*err, LayerError::List { dir, .. } if dir == &conf),
        "{err:?}"
    );

    make_listable(&conf, moved);
    assert!(
        epoch.scan().bumped_to.is_some(),
        "readable again is a change"
    );
    assert_eq!(values(&live), (1, 2));
    assert!(live.last_error().is_none());

    // The folder deleted: its files are removed (absent), and an optional pattern then
    // matches nothing; that is the caller's policy to allow (the demo lists its files as
    // required).
    std::fs::remove_dir_all(&conf).unwrap();
    assert_eq!(epoch.scan().removed.len(), 2);
    assert_eq!(values(&live), (0, 0));
}

/// Set in the child process of [`running_out_of_file_handles_keeps_the_last_good_config`].
const EMFILE_CHILD: &str = "KUMO_CONFIG_TEST_EMFILE_CHILD";

/// The process runs out of file handles (`EMFILE`) between two scans: the folder cannot be
/// listed nor the files opened. That is not an empty folder: the last good configuration stays
/// and the error says `EMFILE`; with handles free again the next scan reloads. Runs in a child
/// process of this test binary started under `ulimit -n 64`, so that exhausting the handles
/// disturbs no other test.
#[test]
fn running_out_of_file_handles_keeps_the_last_good_config() {
    if std::env::var_os(EMFILE_CHILD).is_some() {
        return out_of_file_handles();
    }
    let name = module_path!()
        .split_once("::")
        .map_or("", |(_, m)| m)
        .to_owned()
        + "::running_out_of_file_handles_keeps_the_last_good_config";
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -n 64 && exec "$0" --exact "$1" --test-threads 1"#)
        .arg(std::env::current_exe().unwrap())
        .arg(&name)
        .env(EMFILE_CHILD, "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "the child ran the test: {text}");
}

fn out_of_file_handles() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("00-a.toml"), "a = 1").unwrap();
    std::fs::write(dir.path().join("10-b.toml"), "b = 2").unwrap();
    let epoch = support::epoch_for(dir.path());
    let live = LiveConfig::new(
        Layered::<Cfg>::new(Vec::<PathBuf>::new()).glob(format!("{}/*.toml", dir.path().display())),
        epoch.handle(),
    );
    assert_eq!(values(&live), (1, 2));

    let mut hog = Vec::new();
    let emfile = loop {
        match std::fs::File::open("/dev/null") {
            Ok(f) => hog.push(f),
            Err(e) => break e,
        }
        assert!(hog.len() < 100_000, "ulimit -n did not apply");
    };
    assert_eq!(emfile.raw_os_error(), Some(24), "{emfile}");
    let report = epoch.scan();
    let value = live.get().map(|c| (c.value.a, c.value.b));
    let error = live.last_error();
    drop(hog);

    assert!(report.removed.is_empty(), "{report:?}");
    assert_eq!(report.unreadable.len(), 2, "{report:?}");
    assert!(report.bumped_to.is_some());
    assert_eq!(value.unwrap(), (1, 2), "last good, not an empty folder");
    let error = error.expect("reported");
    assert!(error.is_io(), "{error:?}");
    let io = std::error::Error::source(&*error)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .expect("io source");
    assert_eq!(io.raw_os_error(), Some(24), "{error:?}");

    assert!(
        epoch.scan().bumped_to.is_some(),
        "readable again is a change"
    );
    assert_eq!(values(&live), (1, 2));
    assert!(live.last_error().is_none());
}
