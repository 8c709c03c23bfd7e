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
    /// that becomes readable again counts as modified).
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
enum Plan {
    /// Wildcards only in the last component: one `read_dir` of `dir`, names matched in memory,
    /// metadata read relative to the directory.
    Dir { dir: PathBuf, name: glob::Pattern },
    /// Anything else: the `glob` crate's walk.
    Walk(String),
}

impl Plan {
    fn of(pattern: &str) -> Plan {
        let path = Path::new(pattern);
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return Plan::Walk(pattern.to_owned());
        };
        let dir_str = dir.to_string_lossy();
        let name_str = name.to_string_lossy();
        let has_glob = |s: &str| s.contains(['*', '?', '[']);
        if has_glob(&dir_str) || name_str.contains("**") || pattern.ends_with('/') {
            return Plan::Walk(pattern.to_owned());
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
            Err(_) => Plan::Walk(pattern.to_owned()),
        }
    }
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
    fn visit(&mut self, path: &Path, meta: &Metadata) {
        if !meta.is_file() {
            return;
        }
        let stat = StatKey::of(meta);
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
            if self.full || racy || st.stat != stat {
                self.report.hashed += 1;
                let hash = hash_file(path).ok();
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
            let hash = hash_file(path).ok();
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
        let mut buf = PathBuf::new();
        for plan in &self.plans {
            match plan {
                Plan::Dir { dir, name } => {
                    // A missing or unreadable directory matches nothing.
                    let Ok(entries) = std::fs::read_dir(dir) else {
                        continue;
                    };
                    for entry in entries.flatten() {
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
                        if let Ok(meta) = meta {
                            pass.visit(&buf, &meta);
                        }
                    }
                }
                Plan::Walk(p) => {
                    let Ok(paths) = glob::glob(p) else {
                        continue;
                    };
                    // An unreadable directory is skipped; the files under it count as absent.
                    for path in paths.flatten() {
                        if let Ok(meta) = std::fs::metadata(&path) {
                            pass.visit(&path, &meta);
                        }
                    }
                }
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
        assert!(matches!(Plan::of("/etc/*/a.toml"), Plan::Walk(_)));
        assert!(matches!(Plan::of("/etc/**"), Plan::Walk(_)));
        assert!(matches!(Plan::of("/etc/kumo/"), Plan::Walk(_)));
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
        walk.plans = vec![Plan::Walk(pattern)];
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
