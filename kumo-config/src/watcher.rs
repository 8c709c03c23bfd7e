//! The background thread that scans a [`ConfigEpoch`] periodically and, with feature `notify`,
//! early on filesystem events.

use crate::cache::later;
use crate::config_epoch::{ConfigEpoch, EpochError};
use crate::scan::ScanReport;
use parking_lot::{Condvar, Mutex};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// How an [`EpochWatcher`] scans.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    interval: Duration,
    settle: Duration,
    max_delay: Duration,
    use_notify: bool,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(10),
            settle: Duration::from_millis(20),
            max_delay: Duration::from_secs(1),
            use_notify: true,
        }
    }
}

impl WatchOptions {
    /// The default options: scan every 10 s, settle 20 ms, bump at least once a second during a
    /// continuous stream of changes, use the filesystem watcher when feature `notify` is on.
    pub fn new() -> Self {
        Self::default()
    }

    /// Time between two periodic scans (default 10 s, as KumoMTA).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// After a scan found a change, the watcher waits until nothing happened for this long (no
    /// filesystem event; without `notify`, simply this long) and scans again, until a scan finds
    /// nothing new; then it bumps once. Default 20 ms.
    pub fn settle(mut self, settle: Duration) -> Self {
        self.settle = settle;
        self
    }

    /// The longest a burst may delay its bump (default 1 s).
    pub fn max_delay(mut self, max_delay: Duration) -> Self {
        self.max_delay = max_delay;
        self
    }

    /// Whether to use the filesystem watcher when feature `notify` is enabled (default true).
    /// Without the feature this setting has no effect.
    pub fn use_notify(mut self, yes: bool) -> Self {
        self.use_notify = yes;
        self
    }
}

#[derive(Debug, Default)]
struct WakeState {
    event: bool,
    shutdown: bool,
}

#[derive(Debug, Default)]
struct Wake {
    state: Mutex<WakeState>,
    cond: Condvar,
}

impl Wake {
    #[cfg_attr(not(feature = "notify"), allow(dead_code))]
    fn event(&self) {
        self.state.lock().event = true;
        self.cond.notify_all();
    }

    /// Waits until `settle` passed without an event, or until `hard`; false on shutdown.
    fn wait_quiet(&self, settle: Duration, hard: Instant) -> bool {
        let mut st = self.state.lock();
        st.event = false;
        let mut quiet_from = Instant::now();
        loop {
            if st.shutdown {
                return false;
            }
            let until = later(quiet_from, settle).min(hard);
            if Instant::now() >= until {
                return true;
            }
            let _ = self.cond.wait_until(&mut st, until);
            if st.event {
                st.event = false;
                quiet_from = Instant::now();
            }
        }
    }

    /// Waits for an event or `deadline`; false on shutdown.
    fn wait_trigger(&self, deadline: Instant) -> bool {
        let mut st = self.state.lock();
        loop {
            if st.shutdown {
                return false;
            }
            if st.event {
                st.event = false;
                return true;
            }
            if self.cond.wait_until(&mut st, deadline).timed_out() {
                return !st.shutdown;
            }
        }
    }
}

#[derive(Debug, Default)]
struct Stats {
    scans: AtomicU64,
    bumps: AtomicU64,
    events: AtomicU64,
    last_change: Mutex<Option<ScanReport>>,
}

/// A running watcher thread (see [`ConfigEpoch::spawn_watcher`]). Dropping it stops the thread.
pub struct EpochWatcher {
    wake: Arc<Wake>,
    stats: Arc<Stats>,
    notify_active: bool,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for EpochWatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EpochWatcher")
            .field("scans", &self.scans())
            .field("bumps", &self.bumps())
            .field("notify_active", &self.notify_active)
            .finish()
    }
}

impl EpochWatcher {
    pub(crate) fn spawn(epoch: ConfigEpoch, options: WatchOptions) -> Result<Self, EpochError> {
        let wake = Arc::new(Wake::default());
        let stats = Arc::new(Stats::default());
        #[cfg(feature = "notify")]
        let dirs = if options.use_notify {
            let w = wake.clone();
            let s = stats.clone();
            Some(dirs::DirWatcher::new(move || {
                s.events.fetch_add(1, Ordering::Relaxed);
                w.event();
            })?)
        } else {
            None
        };
        #[cfg(feature = "notify")]
        let notify_active = dirs.is_some();
        #[cfg(not(feature = "notify"))]
        let notify_active = false;
        let (w, s) = (wake.clone(), stats.clone());
        let thread = std::thread::Builder::new()
            .name("kumo-config-epoch".into())
            .spawn(move || {
                #[cfg(feature = "notify")]
                let mut dirs = dirs;
                #[cfg(feature = "notify")]
                if let Some(d) = dirs.as_mut() {
                    d.refresh(&epoch);
                }
                run(&epoch, &options, &w, &s, || {
                    #[cfg(feature = "notify")]
                    if let Some(d) = dirs.as_mut() {
                        d.refresh(&epoch);
                    }
                });
            })
            .map_err(EpochError::Spawn)?;
        Ok(Self {
            wake,
            stats,
            notify_active,
            thread: Some(thread),
        })
    }

    /// Scans run so far by this watcher.
    pub fn scans(&self) -> u64 {
        self.stats.scans.load(Ordering::Relaxed)
    }

    /// Bumps made so far by this watcher.
    pub fn bumps(&self) -> u64 {
        self.stats.bumps.load(Ordering::Relaxed)
    }

    /// Filesystem events received so far (feature `notify`; always 0 without it).
    pub fn events(&self) -> u64 {
        self.stats.events.load(Ordering::Relaxed)
    }

    /// What the scans behind the latest bump found (the files added, removed and modified
    /// during the burst), with [`ScanReport::bumped_to`] set.
    pub fn last_change(&self) -> Option<ScanReport> {
        self.stats.last_change.lock().clone()
    }

    /// Whether a filesystem watcher triggers early scans.
    pub fn notify_active(&self) -> bool {
        self.notify_active
    }

    /// Asks for a scan now (as a filesystem event would).
    pub fn trigger(&self) {
        let mut st = self.wake.state.lock();
        st.event = true;
        self.wake.cond.notify_all();
    }
}

impl Drop for EpochWatcher {
    fn drop(&mut self) {
        self.wake.state.lock().shutdown = true;
        self.wake.cond.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(
    epoch: &ConfigEpoch,
    opts: &WatchOptions,
    wake: &Wake,
    stats: &Stats,
    mut after_scan: impl FnMut(),
) {
    let mut next_poll = later(Instant::now(), opts.interval);
    loop {
        if !wake.wait_trigger(next_poll) {
            return;
        }
        stats.scans.fetch_add(1, Ordering::Relaxed);
        let mut report = epoch.detect(SystemTime::now());
        if report.changed() {
            // Coalesce a burst: rescan once things went quiet, until nothing new shows up.
            let hard = later(Instant::now(), opts.max_delay);
            loop {
                if !wake.wait_quiet(opts.settle, hard) {
                    // Shutting down: still publish what was seen.
                    epoch.bump();
                    return;
                }
                stats.scans.fetch_add(1, Ordering::Relaxed);
                let more = epoch.rescan_into(&mut report, SystemTime::now());
                if !more || Instant::now() >= hard {
                    break;
                }
            }
            report.bumped_to = Some(epoch.bump());
            stats.bumps.fetch_add(1, Ordering::Relaxed);
            *stats.last_change.lock() = Some(report);
        }
        after_scan();
        next_poll = later(Instant::now(), opts.interval);
    }
}

#[cfg(feature = "notify")]
mod dirs {
    //! Watches the parent directories of the globs and of the matched files.

    use crate::config_epoch::{ConfigEpoch, EpochError};
    use notify::event::{AccessKind, AccessMode};
    use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
    use std::collections::HashSet;
    use std::path::{Component, Path, PathBuf};

    pub(super) struct DirWatcher {
        watcher: RecommendedWatcher,
        watched: HashSet<(PathBuf, bool)>,
    }

    /// Whether an event may mean a content change (opening or reading a file, which the scan
    /// itself does, is not).
    fn relevant(kind: &EventKind) -> bool {
        match kind {
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
            EventKind::Access(_) => false,
            _ => true,
        }
    }

    impl DirWatcher {
        pub(super) fn new(on_event: impl Fn() + Send + 'static) -> Result<Self, EpochError> {
            let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
                match res {
                    Ok(ev) if !relevant(&ev.kind) => {}
                    // An error (queue overflow) may hide a change: scan.
                    _ => on_event(),
                }
            })
            .map_err(EpochError::Notify)?;
            Ok(Self {
                watcher,
                watched: HashSet::new(),
            })
        }

        /// Starts watching directories that appeared since the last call.
        pub(super) fn refresh(&mut self, epoch: &ConfigEpoch) {
            self.watched.retain(|(d, _)| d.is_dir());
            let mut wanted: Vec<(PathBuf, bool)> = Vec::new();
            for p in epoch.patterns() {
                wanted.push(literal_prefix(&p));
            }
            for f in epoch.files() {
                if let Some(parent) = f.parent() {
                    wanted.push((non_empty(parent), false));
                }
                if let Ok(target) = std::fs::canonicalize(&f)
                    && let Some(parent) = target.parent()
                {
                    wanted.push((parent.to_path_buf(), false));
                }
            }
            for (dir, recursive) in wanted {
                if self.watched.contains(&(dir.clone(), recursive)) || !dir.is_dir() {
                    continue;
                }
                let mode = if recursive {
                    RecursiveMode::Recursive
                } else {
                    RecursiveMode::NonRecursive
                };
                if self.watcher.watch(&dir, mode).is_ok() {
                    self.watched.insert((dir, recursive));
                }
            }
        }
    }

    fn non_empty(p: &Path) -> PathBuf {
        if p.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            p.to_path_buf()
        }
    }

    /// The directory before the first component with a glob character, and whether the rest
    /// spans directories (then the watch must be recursive).
    pub(super) fn literal_prefix(pattern: &str) -> (PathBuf, bool) {
        let path = Path::new(pattern);
        let mut prefix = PathBuf::new();
        let comps: Vec<Component<'_>> = path.components().collect();
        let mut i = 0;
        while i < comps.len() {
            let s = comps[i].as_os_str().to_string_lossy();
            if s.contains(['*', '?', '[']) {
                break;
            }
            prefix.push(comps[i]);
            i += 1;
        }
        let rest = comps.len() - i;
        if rest == 0 {
            // A literal file name: watch its directory.
            let dir = prefix.parent().map(non_empty).unwrap_or_else(|| ".".into());
            return (dir, false);
        }
        (non_empty(&prefix), rest > 1)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn literal_prefixes() {
            assert_eq!(
                literal_prefix("/etc/kumo/*.toml"),
                ("/etc/kumo".into(), false)
            );
            assert_eq!(
                literal_prefix("/etc/kumo/**/*.toml"),
                ("/etc/kumo".into(), true)
            );
            assert_eq!(
                literal_prefix("/etc/kumo/a.toml"),
                ("/etc/kumo".into(), false)
            );
            assert_eq!(literal_prefix("*.toml"), (".".into(), false));
        }
    }
}
