//! The scan engine: globs → files → stat → content hash of the files whose metadata changed.

use hashbrown::HashMap;
use std::fs::{File, Metadata};
use std::hash::Hasher;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// What one scan found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScanReport {
    /// Regular files that matched the globs.
    pub files: usize,
    /// Files whose content was read and hashed during this scan (the rest were judged by their
    /// metadata alone).
    pub hashed: usize,
    /// Files that appeared since the previous scan.
    pub added: Vec<PathBuf>,
    /// Files that disappeared since the previous scan.
    pub removed: Vec<PathBuf>,
    /// Files whose content changed since the previous scan.
    pub modified: Vec<PathBuf>,
    /// Files that matched but could not be read (they count as present with no content; a file
    /// that becomes readable again counts as modified). A file counts as removed only when the
    /// system says it does not exist (`NotFound`); any other error (`EACCES`, `EMFILE`, `EIO`,
    /// `ELOOP`...) on the file, or on the directory listing that holds it, lands here, so that a
    /// transient failure is never mistaken for a deletion.
    pub unreadable: Vec<PathBuf>,
    /// The epoch this scan bumped to, when it bumped.
    pub bumped_to: Option<u64>,
}

impl ScanReport {
    /// Whether the set of files or the content of one of them changed.
    pub fn changed(&self) -> bool {
        !(self.added.is_empty() && self.removed.is_empty() && self.modified.is_empty())
    }

    fn absorb(&mut self, later: ScanReport) {
        self.files = later.files;
        self.hashed += later.hashed;
        self.added.extend(later.added);
        self.removed.extend(later.removed);
        self.modified.extend(later.modified);
        self.unreadable = later.unreadable;
        for v in [&mut self.added, &mut self.removed, &mut self.modified] {
            v.sort();
            v.dedup();
        }
    }
}

/// The metadata that decides whether a file must be re-hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StatKey {
    len: u64,
    mtime: Option<SystemTime>,
    #[cfg(unix)]
    ctime: (i64, i64),
    #[cfg(unix)]
    ino: u64,
    #[cfg(unix)]
    dev: u64,
}

impl StatKey {
    /// The key of a file whose metadata could not be read: never equal to a real one's stat, so
    /// the file is hashed again once it can be read.
    fn unknown() -> Self {
        Self {
            len: u64::MAX,
            mtime: None,
            #[cfg(unix)]
            ctime: (i64::MIN, 0),
            #[cfg(unix)]
            ino: 0,
            #[cfg(unix)]
            dev: 0,
        }
    }

    fn of(m: &Metadata) -> Self {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt;
        Self {
            len: m.len(),
            mtime: m.modified().ok(),
            #[cfg(unix)]
            ctime: (m.ctime(), m.ctime_nsec()),
            #[cfg(unix)]
            ino: m.ino(),
            #[cfg(unix)]
            dev: m.dev(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct FileState {
    stat: StatKey,
    /// `None`: the file could not be read.
    hash: Option<u64>,
    /// The scan that last saw the file.
    seen: u64,
}

/// Settings of the scan engine.
#[derive(Debug, Clone)]
pub(crate) struct ScanSettings {
    pub(crate) full_rehash_every: u32,
    pub(crate) racy_window: Duration,
}

/// How a pattern is listed.
#[derive(Debug)]
pub(crate) enum Plan {
    /// Wildcards only in the last component: one `read_dir` of `dir`, names matched in memory,
    /// metadata read relative to the directory.
    Dir { dir: PathBuf, name: glob::Pattern },
    /// Anything else: the `glob` crate's walk.
    Walk {
        pattern: String,
        /// The compiled pattern (`None`: malformed; listing reports it).
        compiled: Option<glob::Pattern>,
    },
}

/// A directory that could not be listed, while listing a pattern.
#[derive(Debug)]
pub(crate) struct ListFailure {
    /// The directory.
    pub(crate) dir: PathBuf,
    /// Why (never `NotFound`: an absent directory matches nothing).
    pub(crate) error: io::Error,
}

impl Plan {
    pub(crate) fn of(pattern: &str) -> Plan {
        let walk = || Plan::Walk {
            pattern: pattern.to_owned(),
            compiled: glob::Pattern::new(pattern).ok(),
        };
        let path = Path::new(pattern);
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return walk();
        };
        let dir_str = dir.to_string_lossy();
        let name_str = name.to_string_lossy();
        let has_glob = |s: &str| s.contains(['*', '?', '[']);
        if has_glob(&dir_str) || name_str.contains("**") || pattern.ends_with('/') {
            return walk();
        }
        match glob::Pattern::new(&name_str) {
            Ok(p) => Plan::Dir {
                dir: if dir.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    dir.to_path_buf()
                },
                name: p,
            },
            Err(_) => walk(),
        }
    }

    /// Whether `path` is one this plan matches below `failed` (a directory that could not be
    /// listed): the files whose state is unknown while it cannot be.
    fn covers(&self, path: &Path, failed: &Path) -> bool {
        match self {
            Plan::Dir { dir, name } => {
                path.parent() == Some(dir.as_path())
                    && path
                        .file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| name.matches(n))
            }
            Plan::Walk { compiled, .. } => {
                path.starts_with(failed) && compiled.as_ref().is_some_and(|p| p.matches_path(path))
            }
        }
    }

    /// Lists the paths the pattern matches now, with their metadata (symlinks followed), into
    /// `on_entry`. An absent directory matches nothing; a directory that exists but cannot be
    /// listed (permissions, `EMFILE`, `EIO`, not a directory...) goes to `on_failure`, and the
    /// listing goes on with the other directories.
    ///
    /// # Errors
    ///
    /// The pattern is malformed.
    pub(crate) fn list(
        &self,
        on_entry: &mut dyn FnMut(&Path, io::Result<Metadata>),
        on_failure: &mut dyn FnMut(ListFailure),
    ) -> Result<(), glob::PatternError> {
        match self {
            Plan::Dir { dir, name } => {
                let entries = match std::fs::read_dir(dir) {
                    Ok(e) => e,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                    Err(error) => {
                        on_failure(ListFailure {
                            dir: dir.clone(),
                            error,
                        });
                        return Ok(());
                    }
                };
                let mut buf = PathBuf::new();
                for entry in entries {
                    let entry = match entry {
                        Ok(e) => e,
                        Err(error) => {
                            // The rest of the listing is unknown.
                            on_failure(ListFailure {
                                dir: dir.clone(),
                                error,
                            });
                            return Ok(());
                        }
                    };
                    let fname = entry.file_name();
                    let Some(fname_str) = fname.to_str() else {
                        continue;
                    };
                    if !name.matches(fname_str) {
                        continue;
                    }
                    buf.clear();
                    buf.push(dir);
                    buf.push(&fname);
                    let meta = match entry.file_type() {
                        // Follow the link: a swapped link shows the new target.
                        Ok(t) if t.is_symlink() => std::fs::metadata(&buf),
                        Ok(_) => entry.metadata(),
                        Err(e) => Err(e),
                    };
                    on_entry(&buf, meta);
                }
                Ok(())
            }
            Plan::Walk { pattern, .. } => {
                // The glob crate matches nothing when the literal root cannot be `stat`ed, for
                // whatever reason: tell "absent" from "unreadable" here.
                let root = literal_prefix(pattern);
                if let Err(error) = std::fs::metadata(&root)
                    && error.kind() != io::ErrorKind::NotFound
                {
                    on_failure(ListFailure { dir: root, error });
                    return Ok(());
                }
                for path in glob::glob(pattern)? {
                    match path {
                        Ok(path) => {
                            let meta = std::fs::metadata(&path);
                            on_entry(&path, meta);
                        }
                        Err(e) if e.error().kind() == io::ErrorKind::NotFound => {}
                        Err(e) => {
                            let dir = e.path().to_path_buf();
                            on_failure(ListFailure {
                                dir,
                                error: e.into(),
                            });
                        }
                    }
                }
                Ok(())
            }
        }
    }
}

/// The leading components of `pattern` that hold no glob character (`.` when there are none).
fn literal_prefix(pattern: &str) -> PathBuf {
    let mut out = PathBuf::new();
    for c in Path::new(pattern).components() {
        if c.as_os_str().to_string_lossy().contains(['*', '?', '[']) {
            break;
        }
        out.push(c);
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// The state of the files seen by the previous scan.
#[derive(Debug)]
pub(crate) struct Scanner {
    patterns: Vec<String>,
    plans: Vec<Plan>,
    settings: ScanSettings,
    files: HashMap<PathBuf, FileState>,
    scans: u64,
}

/// One scan in progress.
struct Pass<'a> {
    files: &'a mut HashMap<PathBuf, FileState>,
    settings: &'a ScanSettings,
    scan: u64,
    full: bool,
    now: SystemTime,
    report: ScanReport,
}

impl Pass<'_> {
    /// Looks at one matched path with its metadata (symlinks already followed).
    fn visit(&mut self, path: &Path, meta: io::Result<Metadata>) {
        let meta = match meta {
            Ok(m) => m,
            // Gone between the listing and the `stat`, or a dangling symlink: absent.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return,
            Err(e) => return self.unreadable(path, Some(&e)),
        };
        if !meta.is_file() {
            return;
        }
        let stat = StatKey::of(&meta);
        let racy = stat.mtime.is_none_or(|m| {
            // A modification time so far ahead that adding the window overflows is racy.
            m.checked_add(self.settings.racy_window)
                .is_none_or(|t| t > self.now)
        });
        if let Some(st) = self.files.get_mut(path) {
            if st.seen == self.scan {
                return; // matched by two patterns
            }
            st.seen = self.scan;
            // A file that could not be read last time is tried again even with the same stat
            // (the failure may have been transient: `EMFILE`, `EIO`).
            if self.full || racy || st.stat != stat || st.hash.is_none() {
                self.report.hashed += 1;
                let hash = hash_logged(path, st.hash.is_some());
                if hash != st.hash {
                    self.report.modified.push(path.to_path_buf());
                }
                st.hash = hash;
                st.stat = stat;
            }
            if st.hash.is_none() {
                self.report.unreadable.push(path.to_path_buf());
            }
        } else {
            self.report.hashed += 1;
            let hash = hash_logged(path, true);
            if hash.is_none() {
                self.report.unreadable.push(path.to_path_buf());
            }
            self.report.added.push(path.to_path_buf());
            self.files.insert(
                path.to_path_buf(),
                FileState {
                    stat,
                    hash,
                    seen: self.scan,
                },
            );
        }
    }

    /// A matched path whose metadata cannot be read for another reason than its absence: it
    /// counts as present and unreadable (a change when it was readable before).
    fn unreadable(&mut self, path: &Path, error: Option<&io::Error>) {
        match self.files.get_mut(path) {
            Some(st) if st.seen == self.scan => return,
            Some(st) => {
                st.seen = self.scan;
                if st.hash.is_some() {
                    if let Some(error) = error {
                        tracing::warn!(file = %path.display(), error = %error, kind = ?error.kind(), "cannot stat a watched config file; it counts as unreadable, not as removed");
                    }
                    self.report.modified.push(path.to_path_buf());
                }
                st.hash = None;
                st.stat = StatKey::unknown();
            }
            None => {
                if let Some(error) = error {
                    tracing::warn!(file = %path.display(), error = %error, kind = ?error.kind(), "cannot stat a watched config file; it counts as unreadable, not as absent");
                }
                self.report.added.push(path.to_path_buf());
                self.files.insert(
                    path.to_path_buf(),
                    FileState {
                        stat: StatKey::unknown(),
                        hash: None,
                        seen: self.scan,
                    },
                );
            }
        }
        self.report.unreadable.push(path.to_path_buf());
    }

    /// A directory of `plan` could not be listed: the files seen under it before are kept as
    /// present and unreadable instead of counting as removed.
    fn unlistable(&mut self, plan: &Plan, failure: &ListFailure) {
        let known: Vec<PathBuf> = self
            .files
            .keys()
            .filter(|p| plan.covers(p, &failure.dir))
            .cloned()
            .collect();
        let turning = known
            .iter()
            .filter(|p| self.files.get(*p).is_some_and(|st| st.hash.is_some()))
            .count();
        // Warned once, when files turn unreadable; not at every scan while it lasts.
        if turning > 0 {
            tracing::warn!(
                dir = %failure.dir.display(),
                error = %failure.error,
                kind = ?failure.error.kind(),
                files = turning,
                "cannot list a watched config directory; its files count as unreadable, not as removed"
            );
        } else {
            tracing::debug!(
                dir = %failure.dir.display(),
                error = %failure.error,
                "cannot list a watched config directory"
            );
        }
        for p in known {
            self.unreadable(&p, None);
        }
    }
}

/// Hashes `path`; a failure is logged when the file was readable before (`was_readable`).
fn hash_logged(path: &Path, was_readable: bool) -> Option<u64> {
    match hash_file(path) {
        Ok(h) => Some(h),
        Err(e) => {
            if was_readable {
                tracing::warn!(file = %path.display(), error = %e, kind = ?e.kind(), "cannot read a watched config file; it counts as unreadable");
            }
            None
        }
    }
}

impl Scanner {
    pub(crate) fn new(patterns: Vec<String>, settings: ScanSettings) -> Self {
        Self {
            plans: patterns.iter().map(|p| Plan::of(p)).collect(),
            patterns,
            settings,
            files: HashMap::new(),
            scans: 0,
        }
    }

    pub(crate) fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// The files matched by the previous scan, sorted.
    pub(crate) fn files(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = self.files.keys().cloned().collect();
        v.sort();
        v
    }

    /// Scans once and updates the baseline. `now` decides which files were modified so recently
    /// that an unchanged stat cannot be trusted (same-size rewrites within one mtime tick).
    pub(crate) fn scan(&mut self, now: SystemTime) -> ScanReport {
        self.scans += 1;
        let full = self.settings.full_rehash_every > 0
            && self
                .scans
                .is_multiple_of(u64::from(self.settings.full_rehash_every));
        let mut pass = Pass {
            files: &mut self.files,
            settings: &self.settings,
            scan: self.scans,
            full,
            now,
            report: ScanReport::default(),
        };
        for plan in &self.plans {
            let mut failures = Vec::new();
            // A malformed pattern was refused when the epoch was built; it matches nothing.
            let _ = plan.list(&mut |path, meta| pass.visit(path, meta), &mut |f| {
                failures.push(f)
            });
            for f in &failures {
                pass.unlistable(plan, f);
            }
        }
        let scan = self.scans;
        let mut report = pass.report;
        self.files.retain(|p, st| {
            if st.seen == scan {
                true
            } else {
                report.removed.push(p.clone());
                false
            }
        });
        report.added.sort();
        report.removed.sort();
        report.modified.sort();
        report.files = self.files.len();
        report
    }

    /// Scans again after `earlier` and merges the two reports.
    pub(crate) fn rescan_into(&mut self, earlier: &mut ScanReport, now: SystemTime) -> bool {
        let later = self.scan(now);
        let changed = later.changed();
        earlier.absorb(later);
        changed
    }
}

/// A 64-bit SipHash-1-3 of the file's bytes (std's `DefaultHasher` with fixed keys).
pub(crate) fn hash_file(path: &Path) -> io::Result<u64> {
    let mut f = File::open(path)?;
    let mut h = std::hash::DefaultHasher::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total: u64 = 0;
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.write(&buf[..n]);
        total += n as u64;
    }
    h.write_u64(total);
    Ok(h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ScanSettings {
        ScanSettings {
            full_rehash_every: 0,
            racy_window: Duration::ZERO,
        }
    }

    #[test]
    fn unchanged_files_are_not_hashed_again() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.toml"), "a = 1").unwrap();
        let mut s = Scanner::new(vec![format!("{}/*.toml", dir.path().display())], settings());
        let far = SystemTime::now() + Duration::from_secs(3600);
        let first = s.scan(far);
        assert_eq!((first.files, first.hashed, first.added.len()), (1, 1, 1));
        let second = s.scan(far);
        assert_eq!((second.files, second.hashed), (1, 0));
        assert!(!second.changed());
    }

    #[test]
    fn recently_modified_files_are_rehashed_and_full_rehash_runs_periodically() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.toml"), "a = 1").unwrap();
        let mut s = Scanner::new(
            vec![format!("{}/*.toml", dir.path().display())],
            ScanSettings {
                full_rehash_every: 3,
                racy_window: Duration::from_secs(60),
            },
        );
        let now = SystemTime::now();
        s.scan(now);
        assert_eq!(s.scan(now).hashed, 1, "racy: modified within the window");
        let later = now + Duration::from_secs(3600);
        assert_eq!(s.scan(later).hashed, 1, "third scan is a full re-hash");
        assert_eq!(s.scan(later).hashed, 0);
    }

    #[test]
    fn simple_patterns_list_one_directory() {
        assert!(matches!(Plan::of("/etc/kumo/*.toml"), Plan::Dir { .. }));
        assert!(matches!(Plan::of("*.toml"), Plan::Dir { ref dir, .. } if dir == Path::new(".")));
        assert!(matches!(Plan::of("/etc/*/a.toml"), Plan::Walk { .. }));
        assert!(matches!(Plan::of("/etc/**"), Plan::Walk { .. }));
        assert!(matches!(Plan::of("/etc/kumo/"), Plan::Walk { .. }));
    }

    #[cfg(unix)]
    #[test]
    fn walk_and_dir_plans_agree() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        for f in ["a.toml", "b.json", "sub/c.toml", ".d.toml"] {
            std::fs::write(dir.path().join(f), f).unwrap();
        }
        std::os::unix::fs::symlink("a.toml", dir.path().join("link.toml")).unwrap();
        let far = SystemTime::now() + Duration::from_secs(3600);
        let pattern = format!("{}/*.toml", dir.path().display());
        let mut simple = Scanner::new(vec![pattern.clone()], settings());
        assert!(matches!(simple.plans[0], Plan::Dir { .. }));
        let mut walk = Scanner::new(vec![pattern.clone()], settings());
        walk.plans = vec![Plan::Walk {
            compiled: glob::Pattern::new(&pattern).ok(),
            pattern,
        }];
        let (a, b) = (simple.scan(far), walk.scan(far));
        assert_eq!(a.added, b.added);
        assert_eq!(simple.files().len(), 3, "a.toml, .d.toml, link.toml");
        let mut deep = Scanner::new(
            vec![format!("{}/**/*.toml", dir.path().display())],
            settings(),
        );
        deep.scan(far);
        assert_eq!(deep.files().len(), 4);
    }

    #[test]
    fn hash_depends_on_content_only() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::write(&a, vec![7u8; 200_000]).unwrap();
        std::fs::write(&b, vec![7u8; 200_000]).unwrap();
        assert_eq!(hash_file(&a).unwrap(), hash_file(&b).unwrap());
        std::fs::write(&b, vec![7u8; 200_001]).unwrap();
        assert_ne!(hash_file(&a).unwrap(), hash_file(&b).unwrap());
    }
}
