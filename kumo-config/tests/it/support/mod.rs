//! Helpers shared by the integration tests: temporary config folders and the ways editors and
//! orchestrators change files.
#![allow(dead_code, unreachable_pub, reason = "each feature set uses a subset")]

use kumo_config::ConfigEpoch;
use std::path::{Path, PathBuf};

/// A `ConfigEpoch` over `dir/*.toml` and `dir/*.json`.
pub fn epoch_for(dir: &Path) -> ConfigEpoch {
    ConfigEpoch::builder()
        .glob(format!("{}/*.toml", dir.display()))
        .glob(format!("{}/*.json", dir.display()))
        .build()
        .expect("valid patterns")
}

/// Writes `text` the way editors save: into a temporary file, then renamed over `path`.
pub fn atomic_write(path: &Path, text: &str) {
    let tmp = path.with_file_name(format!(
        ".{}.swp",
        path.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[cfg(unix)]
/// A Kubernetes-style ConfigMap folder: `dir/NAME -> ..data/NAME`, `..data -> ..vN`.
pub struct ConfigMap {
    pub dir: PathBuf,
    version: u32,
}

#[cfg(unix)]
impl ConfigMap {
    pub fn new(dir: &Path, files: &[(&str, &str)]) -> Self {
        let mut cm = Self {
            dir: dir.to_path_buf(),
            version: 0,
        };
        cm.publish(files);
        for (name, _) in files {
            std::os::unix::fs::symlink(format!("..data/{name}"), dir.join(name)).unwrap();
        }
        cm
    }

    /// Writes a new version folder and swaps the `..data` link to it atomically.
    pub fn publish(&mut self, files: &[(&str, &str)]) {
        self.version += 1;
        let v = format!("..v{}", self.version);
        std::fs::create_dir(self.dir.join(&v)).unwrap();
        for (name, text) in files {
            std::fs::write(self.dir.join(&v).join(name), text).unwrap();
        }
        let tmp = self.dir.join("..data_tmp");
        std::os::unix::fs::symlink(&v, &tmp).unwrap();
        std::fs::rename(&tmp, self.dir.join("..data")).unwrap();
    }
}

/// How [`make_unreadable`] made a file unreadable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreadable {
    /// `chmod 000`: reads fail with `EACCES`.
    Chmod000,
    /// The process may read anything (root, `CAP_DAC_OVERRIDE`): the file was replaced by a
    /// symlink to itself, so that opening it fails with `ELOOP`.
    SymlinkLoop,
}

/// Makes `path` (an existing file) exist but fail to open with an error other than
/// `NotFound`: `chmod 000` where that stops reads, else (tests running as root) a symlink loop
/// of the same name. Never skips: the result is checked.
#[cfg(unix)]
pub fn make_unreadable(path: &Path) -> Unreadable {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o000)).unwrap();
    let how = if std::fs::read(path).is_err() {
        Unreadable::Chmod000
    } else {
        std::fs::remove_file(path).unwrap();
        std::os::unix::fs::symlink(path.file_name().unwrap(), path).unwrap();
        Unreadable::SymlinkLoop
    };
    let err = std::fs::read(path).expect_err("the file is unreadable now");
    assert_ne!(err.kind(), std::io::ErrorKind::NotFound, "{how:?}: {err}");
    how
}

/// Undoes [`make_unreadable`]: `path` is a readable file holding `text` again.
#[cfg(unix)]
pub fn make_readable(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        std::fs::remove_file(path).unwrap();
    } else {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    std::fs::write(path, text).unwrap();
}

/// A `tracing` subscriber that records the events it sees, as `message` plus `name=value`
/// fields, for tests that check what a library reports.
#[derive(Debug, Default, Clone)]
pub struct EventLog {
    events: std::sync::Arc<std::sync::Mutex<Vec<(tracing::Level, String)>>>,
}

impl EventLog {
    /// The events recorded so far at `level` or more severe.
    pub fn at_least(&self, level: tracing::Level) -> Vec<String> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|(l, _)| *l <= level)
            .map(|(_, e)| e.clone())
            .collect()
    }
}

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        use std::fmt::Write;
        let _ = write!(self.0, " {}={}", field.name(), value);
    }
}

impl tracing::Subscriber for EventLog {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut f = Fields(String::new());
        event.record(&mut f);
        self.events
            .lock()
            .unwrap()
            .push((*event.metadata().level(), f.0));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}
