//! The demo's live configuration: the `*.toml` files of the config folder (in name order, files
//! added later included), loaded and merged by kumo-config's [`Layered`], reloaded by
//! [`LiveConfig`] when [`ConfigEpoch`] sees a real change.
//!
//! The files the folder holds at start are required: deleting one (or the folder), or making
//! one unreadable, is a reload error that keeps the last good configuration in force (shown in
//! `/api/status` as `config_error`, counted in `total_config_reload_errors`), never a silent
//! fall-back to the built-in defaults of its sections. Files added later are optional: they
//! may be removed again.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kumo_config::{
    ConfigEpoch, EpochCache, EpochWatcher, Invalid, KeyPath, Layer, Layered, LiveConfig, Loaded,
    RefreshStrategy, WatchOptions,
};
use parking_lot::Mutex;

use crate::cli::ProbabilityOverrides;
use crate::settings::{ConfigError, DemoConfig, EffectiveShaping};

/// The `*.toml` files of the config folder, in name order. A name whose metadata cannot be read
/// (for another reason than its absence) is listed too, so that the first load names it.
fn config_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        match std::fs::metadata(&path) {
            Ok(m) if !m.is_file() => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {} // a dangling symlink
            _ => out.push(path),
        }
    }
    out.sort();
    Ok(out)
}

/// `dir/*.toml` as a glob pattern, with the folder's own glob characters escaped.
fn toml_pattern(dir: &Path) -> String {
    let mut out = String::new();
    for c in dir.display().to_string().chars() {
        match c {
            '*' | '?' | '[' | ']' => {
                out.push('[');
                out.push(c);
                out.push(']');
            }
            _ => out.push(c),
        }
    }
    out.push_str("/*.toml");
    out
}

/// The live configuration with the command-line overrides applied on top.
pub(crate) struct ConfigSource {
    dir: PathBuf,
    epoch: ConfigEpoch,
    live: LiveConfig<DemoConfig>,
    overrides: ProbabilityOverrides,
    /// The last `Loaded` seen and the config derived from it. The `Arc` is held (not its
    /// address), so a new load can never be mistaken for it: a freed allocation's address
    /// may be reused by the next one.
    current: Mutex<(Arc<Loaded<DemoConfig>>, Arc<DemoConfig>)>,
    /// Shaping per destination domain, derived once per domain and config epoch.
    shaping: EpochCache<String, EffectiveShaping, std::convert::Infallible>,
    _watcher: EpochWatcher,
}

impl std::fmt::Debug for ConfigSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigSource")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// Why the configuration could not be loaded at start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigLoadError {
    /// The folder cannot be listed.
    #[error("cannot read config folder {0}")]
    Folder(PathBuf, #[source] std::io::Error),
    /// The folder holds no `*.toml` file.
    #[error("config folder {0} holds no *.toml file")]
    Empty(PathBuf),
    /// The file watcher could not start.
    #[error("cannot watch the config folder")]
    Watch(#[source] kumo_config::EpochError),
    /// The files do not load (the error names the file and key).
    #[error("invalid configuration")]
    Invalid(#[source] kumo_config::CacheError<kumo_config::LayerError>),
}

/// A validation error as kumo-config reports it: the loader puts the file that set the key in
/// front (`queues.toml: clock.speedup: 1e-20 is below the minimum 0.001`).
fn invalid(e: &ConfigError) -> Invalid {
    let key: &KeyPath = e.key();
    Invalid::new(key.clone(), e.problem().to_string())
}

impl ConfigSource {
    /// Loads the folder's files and starts watching them (scans every `scan` interval, and at
    /// once on filesystem events).
    pub(crate) fn open(
        dir: &Path,
        overrides: ProbabilityOverrides,
        scan: Duration,
    ) -> Result<Self, ConfigLoadError> {
        let files = config_files(dir).map_err(|e| ConfigLoadError::Folder(dir.to_owned(), e))?;
        if files.is_empty() {
            return Err(ConfigLoadError::Empty(dir.to_owned()));
        }
        let pattern = toml_pattern(dir);
        let epoch = ConfigEpoch::builder()
            .glob(pattern.clone())
            .build()
            .map_err(ConfigLoadError::Watch)?;
        // The files found now are required (one that goes away is an error, not its sections'
        // defaults); the pattern adds the files created later, optional; all in name order.
        let layered = Layered::<DemoConfig>::new(files)
            .layer(Layer::glob(pattern))
            .path_order(true)
            .validate(|c: &DemoConfig, _| c.validate().map_err(|e| invalid(&e)));
        let live = LiveConfig::new(layered, epoch.handle());
        let first = live.get().map_err(ConfigLoadError::Invalid)?;
        let cfg = apply(&first.value, &overrides);
        let watcher = epoch
            .spawn_watcher(
                WatchOptions::new()
                    .interval(scan)
                    .settle(Duration::from_millis(20)),
            )
            .map_err(ConfigLoadError::Watch)?;
        let shaping = EpochCache::new(epoch.handle(), RefreshStrategy::Epoch, 100_000);
        Ok(Self {
            dir: dir.to_owned(),
            shaping,
            epoch,
            live,
            overrides,
            current: Mutex::new((first, Arc::new(cfg))),
            _watcher: watcher,
        })
    }

    /// The folder.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The configuration in force: reloaded when the files changed, the last good one when the
    /// new files are broken.
    pub(crate) fn current(&self) -> Arc<DemoConfig> {
        let Ok(loaded) = self.live.get() else {
            return self.current.lock().1.clone();
        };
        let mut g = self.current.lock();
        if !Arc::ptr_eq(&g.0, &loaded) {
            let cfg = Arc::new(apply(&loaded.value, &self.overrides));
            *g = (loaded, cfg);
        }
        g.1.clone()
    }

    /// The shaping in force for `domain`: a map lookup and an atomic load while the files stay
    /// the same, recomputed once per domain after they changed.
    pub(crate) fn shaping(&self, domain: &str) -> EffectiveShaping {
        self.shaping
            .get_with(domain, |d| Ok(self.current().shaping.for_domain(d)))
            .unwrap_or_else(|_| self.current().shaping.for_domain(domain))
    }

    /// The epoch of the files on disk (moves on every real change).
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.current()
    }

    /// The epoch of the configuration in force.
    pub(crate) fn loaded_epoch(&self) -> Option<u64> {
        self.live.loaded_epoch()
    }

    /// Scans the files now (instead of waiting for the watcher).
    pub(crate) fn scan(&self) {
        self.epoch.scan();
    }

    /// The error of the last reload, while the files stay broken.
    pub(crate) fn last_error(&self) -> Option<String> {
        self.live.last_error().map(|e| error_chain(&*e))
    }
}

fn apply(base: &DemoConfig, o: &ProbabilityOverrides) -> DemoConfig {
    let mut c = base.clone();
    if let Some(w) = o.success {
        c.delivery.success = w;
    }
    if let Some(w) = o.transient {
        c.delivery.transient = w;
    }
    if let Some(w) = o.permanent {
        c.delivery.permanent = w;
    }
    // A command line that zeroes every weight would make the config unusable; keep the files'.
    if c.delivery.probabilities().validate().is_err() {
        c.delivery = base.delivery;
    }
    c
}

pub(crate) use crate::cli::error_chain;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_characters_of_the_folder_are_escaped() {
        assert_eq!(toml_pattern(Path::new("/tmp/a")), "/tmp/a/*.toml");
        assert_eq!(
            toml_pattern(Path::new("/tmp/[x]*?")),
            "/tmp/[[]x[]][*][?]/*.toml"
        );
    }

    #[test]
    fn a_folder_with_glob_characters_loads() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("cfg [1]*");
        std::fs::create_dir_all(&dir).unwrap();
        crate::settings::write_defaults(&dir, crate::settings::Profile::Selftest).unwrap();
        std::fs::write(dir.join("zz.toml"), "[retry]\ninterval = 7.0\n").unwrap();
        let c = ConfigSource::open(
            &dir,
            ProbabilityOverrides::default(),
            Duration::from_secs(60),
        )
        .unwrap();
        assert_eq!(c.current().retry.interval, 7.0, "the later file wins");
        assert_eq!(c.current().clock.speedup, 600.0);
        let empty = root.path().join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        assert!(matches!(
            ConfigSource::open(
                &empty,
                ProbabilityOverrides::default(),
                Duration::from_secs(60)
            ),
            Err(ConfigLoadError::Empty(_))
        ));
    }

    #[test]
    fn files_found_at_start_are_required_files_added_later_are_not() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("cfg");
        std::fs::create_dir_all(&dir).unwrap();
        crate::settings::write_defaults(&dir, crate::settings::Profile::Selftest).unwrap();
        std::fs::write(dir.join("delivery.toml"), "[delivery]\npermanent = 7.0\n").unwrap();
        let c = ConfigSource::open(
            &dir,
            ProbabilityOverrides::default(),
            Duration::from_secs(60),
        )
        .unwrap();
        assert_eq!(c.current().delivery.permanent, 7.0);

        // Scans until `ok` holds (the watcher thread may be scanning at the same moment, and
        // then a scan of ours finds nothing new; the watcher applies it a moment later).
        let until = |what: &str, ok: &dyn Fn() -> bool| {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            loop {
                c.scan();
                if ok() {
                    return;
                }
                assert!(std::time::Instant::now() < deadline, "{what}");
                std::thread::sleep(Duration::from_millis(20));
            }
        };

        // Added later, then removed: optional, and merged in name order.
        let base = c.current().retry.interval;
        let before = c.epoch();
        std::fs::write(dir.join("00-early.toml"), "[retry]\ninterval = 3.0\n").unwrap();
        until("00-early is seen", &|| c.epoch() > before);
        assert_eq!(
            c.current().retry.interval,
            base,
            "queues.toml comes after 00-early"
        );
        std::fs::write(dir.join("zz-late.toml"), "[retry]\ninterval = 5.0\n").unwrap();
        until("zz-late comes last", &|| c.current().retry.interval == 5.0);
        std::fs::remove_file(dir.join("zz-late.toml")).unwrap();
        std::fs::remove_file(dir.join("00-early.toml")).unwrap();
        until("both removed", &|| c.current().retry.interval == base);
        assert!(c.last_error().is_none());

        // Found at start, then deleted: an error, the last good config stays.
        std::fs::remove_file(dir.join("delivery.toml")).unwrap();
        until("the deletion is reported", &|| {
            c.current(); // a load attempt records the error
            c.last_error().is_some()
        });
        assert_eq!(c.current().delivery.permanent, 7.0, "not the default");
        let e = c.last_error().expect("reported");
        assert!(
            e.contains("delivery.toml") && e.contains("does not exist"),
            "{e}"
        );

        // The whole folder: the same.
        std::fs::remove_dir_all(&dir).unwrap();
        c.scan();
        assert_eq!(c.current().delivery.permanent, 7.0);
        assert!(c.last_error().is_some());
    }
}
