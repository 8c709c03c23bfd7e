//! A broken file is reported and the last good configuration keeps being served; the fix is
//! picked up on the next change.
use crate::support;

use kumo_config::{LayerError, Layered, LiveConfig};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Cfg {
    #[serde(default)]
    limit: u32,
    #[serde(default)]
    name: String,
}

#[test]
fn invalid_file_then_fix() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("00-a.toml");
    let b = dir.path().join("10-b.json");
    std::fs::write(&a, "limit = 5").unwrap();
    std::fs::write(&b, r#"{"name": "one"}"#).unwrap();
    let epoch = support::epoch_for(dir.path());
    let live = LiveConfig::new(Layered::<Cfg>::new([&a, &b]), epoch.handle());
    let first = live.get().unwrap();
    assert_eq!((first.value.limit, first.value.name.as_str()), (5, "one"));

    // Broken JSON (editor saved half a file).
    support::atomic_write(&b, r#"{"name": "two""#);
    assert_eq!(epoch.scan().bumped_to, Some(1));
    for _ in 0..10 {
        let cur = live.get().unwrap();
        assert_eq!(cur.value.name, "one", "last good value served");
    }
    let err = live.last_error().expect("error reported");
    assert!(
        matches!(&*err, LayerError::Syntax { file, .. } if file == &b),
        "{err}"
    );
    assert_eq!(live.stats().loads, 2, "one failed reload, not one per call");
    assert_eq!(live.stats().load_errors, 1);
    assert_eq!(live.loaded_epoch(), Some(0));

    // A type error in the other file while the first is still broken: still last good.
    std::fs::write(&a, "limit = \"many\"").unwrap();
    epoch.scan();
    assert_eq!(live.get().unwrap().value.limit, 5);

    // Fixed.
    std::fs::write(&a, "limit = 6").unwrap();
    support::atomic_write(&b, r#"{"name": "two"}"#);
    epoch.scan();
    let cur = live.get().unwrap();
    assert_eq!((cur.value.limit, cur.value.name.as_str()), (6, "two"));
    assert!(live.last_error().is_none(), "recovered");
    assert_eq!(live.loaded_epoch(), Some(epoch.current()));
}

#[test]
fn without_any_good_value_the_error_is_returned() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.toml");
    std::fs::write(&a, "limit = [").unwrap();
    let epoch = support::epoch_for(dir.path());
    let live = LiveConfig::new(Layered::<Cfg>::new([&a]), epoch.handle());
    let err = live.get().unwrap_err();
    assert!(matches!(
        err.loader_error(),
        LayerError::Syntax { line: 1, .. }
    ));
    std::fs::write(&a, "limit = 1").unwrap();
    epoch.scan();
    assert_eq!(live.get().unwrap().value.limit, 1);
}
