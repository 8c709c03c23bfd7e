//! A layered configuration built from a glob loads the matching files in path order and picks
//! up a file added later, once the epoch moved.
use crate::support;

use kumo_config::{Layered, LiveConfig};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Cfg {
    #[serde(default)]
    limit: u32,
    #[serde(default)]
    origin: String,
}

#[test]
fn files_matching_the_glob_load_in_path_order() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("10-site.toml"),
        "limit = 2\norigin = \"site\"",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("00-base.toml"),
        "limit = 1\norigin = \"base\"",
    )
    .unwrap();
    let epoch = support::epoch_for(dir.path());
    let layered = Layered::<Cfg>::new(Vec::<std::path::PathBuf>::new())
        .glob(format!("{}/*.toml", dir.path().display()));
    let live = LiveConfig::new(layered, epoch.handle());
    let cfg = live.get().unwrap();
    assert_eq!((cfg.value.limit, cfg.value.origin.as_str()), (2, "site"));
    assert_eq!(cfg.provenance.files().len(), 2);

    std::fs::write(dir.path().join("20-override.toml"), "limit = 3").unwrap();
    assert!(epoch.scan().changed());
    let cfg = live.get().unwrap();
    assert_eq!((cfg.value.limit, cfg.value.origin.as_str()), (3, "site"));
}

#[test]
fn a_malformed_pattern_is_an_error() {
    let err = Layered::<Cfg>::new(Vec::<std::path::PathBuf>::new())
        .glob("[")
        .load()
        .unwrap_err();
    assert!(
        err.to_string().starts_with("invalid glob pattern \"[\""),
        "{err}"
    );
}
