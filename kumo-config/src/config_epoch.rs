//! `ConfigEpoch`: an epoch that moves when the files behind a set of globs really change.

use crate::epoch::{EpochHandle, EpochSubscriber};
use crate::scan::{ScanReport, ScanSettings, Scanner};
use crate::watcher::{EpochWatcher, WatchOptions};
use parking_lot::Mutex;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Why a [`ConfigEpoch`] or its watcher could not be set up. Permanent: fix the input and retry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EpochError {
    /// A glob pattern is malformed.
    #[error("invalid glob pattern {pattern:?}")]
    Pattern {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        #[source]
        source: glob::PatternError,
    },
    /// The watcher thread could not be started.
    #[error("cannot start the watcher thread")]
    Spawn(#[source] std::io::Error),
    /// The filesystem watcher (feature `notify`) could not be created.
    #[cfg(feature = "notify")]
    #[cfg_attr(docsrs, doc(cfg(feature = "notify")))]
    #[error("cannot create the filesystem watcher")]
    Notify(#[source] notify::Error),
}

/// An epoch that moves forward when the files matched by a set of glob patterns really change.
///
/// Each scan lists the matching regular files (symlinks are followed), `stat`s them and reads and
/// hashes only the files whose metadata changed, whose modification time is too recent to trust
/// (same-size rewrites within one mtime tick), or all of them every `full_rehash_every` scans. The
/// epoch moves when a file appears, disappears (a rename counts as both) or its content changes;
/// a `touch` does not move it. The first scan, done by [`ConfigEpochBuilder::build`], sets the
/// baseline without a bump.
///
/// Scans run when you call [`ConfigEpoch::scan`], or in a background thread started with
/// [`ConfigEpoch::spawn_watcher`] that polls at an interval, coalesces bursts of changes into one
/// bump, and (feature `notify`) scans early when the parent directories report an event.
///
/// Cloning is cheap; clones share the scanner and the epoch.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use kumo_config::ConfigEpoch;
///
/// let dir = tempfile::tempdir()?;
/// let file = dir.path().join("queues.toml");
/// std::fs::write(&file, "retry = 60")?;
/// let epoch = ConfigEpoch::builder()
///     .glob(format!("{}/*.toml", dir.path().display()))
///     .build()?;
/// assert_eq!(epoch.current(), 0);
/// assert!(!epoch.scan().changed());
/// std::fs::write(&file, "retry = 120")?;
/// let report = epoch.scan();
/// assert_eq!(report.bumped_to, Some(1));
/// assert_eq!(epoch.current(), 1);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ConfigEpoch {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) handle: EpochHandle,
    pub(crate) scanner: Mutex<Scanner>,
}

impl fmt::Debug for ConfigEpoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.inner.scanner.lock();
        f.debug_struct("ConfigEpoch")
            .field("epoch", &self.current())
            .field("patterns", &s.patterns())
            .finish_non_exhaustive()
    }
}

/// Builds a [`ConfigEpoch`].
#[derive(Debug, Clone)]
pub struct ConfigEpochBuilder {
    patterns: Vec<String>,
    full_rehash_every: u32,
    racy_window: Duration,
    handle: Option<EpochHandle>,
}

impl Default for ConfigEpochBuilder {
    fn default() -> Self {
        Self {
            patterns: Vec::new(),
            full_rehash_every: 360,
            racy_window: Duration::from_secs(2),
            handle: None,
        }
    }
}

impl ConfigEpochBuilder {
    /// Adds a glob pattern (`/etc/kumo/*.toml`, `/etc/kumo/**/*.json`).
    pub fn glob(mut self, pattern: impl Into<String>) -> Self {
        self.patterns.push(pattern.into());
        self
    }

    /// Adds several glob patterns.
    pub fn globs<I, S>(mut self, patterns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.patterns.extend(patterns.into_iter().map(Into::into));
        self
    }

    /// Re-hashes every file on every `n`th scan regardless of its metadata (default 360, an
    /// hour at the default 10 s interval; 0 disables). A safety net for filesystems whose
    /// metadata cannot be trusted: size, mtime, ctime, inode and the racy window already catch
    /// every write on a local filesystem.
    pub fn full_rehash_every(mut self, n: u32) -> Self {
        self.full_rehash_every = n;
        self
    }

    /// A file modified less than this long before a scan is re-hashed even when its metadata
    /// did not change (default 2 s), so that a same-size rewrite within one mtime tick is seen.
    pub fn racy_window(mut self, window: Duration) -> Self {
        self.racy_window = window;
        self
    }

    /// Bumps this existing counter instead of a new one (several file sets, or manual bumps from
    /// elsewhere, sharing one epoch).
    pub fn epoch(mut self, handle: EpochHandle) -> Self {
        self.handle = Some(handle);
        self
    }

    /// Validates the patterns and runs the first scan, which sets the baseline without a bump.
    ///
    /// # Errors
    ///
    /// [`EpochError::Pattern`] when a pattern is malformed.
    pub fn build(self) -> Result<ConfigEpoch, EpochError> {
        for p in &self.patterns {
            glob::Pattern::new(p).map_err(|source| EpochError::Pattern {
                pattern: p.clone(),
                source,
            })?;
        }
        let mut scanner = Scanner::new(
            self.patterns,
            ScanSettings {
                full_rehash_every: self.full_rehash_every,
                racy_window: self.racy_window,
            },
        );
        scanner.scan(SystemTime::now());
        Ok(ConfigEpoch {
            inner: Arc::new(Inner {
                handle: self.handle.unwrap_or_default(),
                scanner: Mutex::new(scanner),
            }),
        })
    }
}

impl ConfigEpoch {
    /// A builder with no patterns yet.
    pub fn builder() -> ConfigEpochBuilder {
        ConfigEpochBuilder::default()
    }

    /// The current epoch (one atomic load).
    #[inline]
    pub fn current(&self) -> u64 {
        self.inner.handle.current()
    }

    /// The shared epoch counter, to give to [`EpochCache`](crate::EpochCache)s.
    pub fn handle(&self) -> EpochHandle {
        self.inner.handle.clone()
    }

    /// A subscriber that waits for the next change.
    pub fn subscribe(&self) -> EpochSubscriber {
        self.inner.handle.subscribe()
    }

    /// Moves the epoch forward by hand and returns the new epoch.
    pub fn bump(&self) -> u64 {
        self.inner.handle.bump()
    }

    /// Scans once and bumps the epoch when something changed. Reads the clock (see
    /// [`ConfigEpoch::scan_at`]).
    pub fn scan(&self) -> ScanReport {
        self.scan_at(SystemTime::now())
    }

    /// Scans once at wall-clock time `now` and bumps the epoch when something changed. `now` only
    /// decides which files count as recently modified.
    pub fn scan_at(&self, now: SystemTime) -> ScanReport {
        let mut report = self.detect(now);
        if report.changed() {
            report.bumped_to = Some(self.bump());
        }
        report
    }

    /// Scans without bumping (the watcher bumps once a burst settled).
    pub(crate) fn detect(&self, now: SystemTime) -> ScanReport {
        self.inner.scanner.lock().scan(now)
    }

    pub(crate) fn rescan_into(&self, earlier: &mut ScanReport, now: SystemTime) -> bool {
        self.inner.scanner.lock().rescan_into(earlier, now)
    }

    /// The files that matched at the last scan, sorted.
    pub fn files(&self) -> Vec<PathBuf> {
        self.inner.scanner.lock().files()
    }

    /// The glob patterns.
    pub fn patterns(&self) -> Vec<String> {
        self.inner.scanner.lock().patterns().to_vec()
    }

    /// Starts a background thread that scans every `options.interval`, coalesces bursts, and
    /// (feature `notify`) scans early on filesystem events. The thread stops when the returned
    /// [`EpochWatcher`] is dropped.
    ///
    /// # Errors
    ///
    /// [`EpochError::Spawn`] when the thread cannot start; with feature `notify`,
    /// `EpochError::Notify` when the filesystem watcher cannot be created (directories that
    /// do not exist yet are not an error: they are watched once they appear).
    pub fn spawn_watcher(&self, options: WatchOptions) -> Result<EpochWatcher, EpochError> {
        EpochWatcher::spawn(self.clone(), options)
    }
}
