//! The scan engine: globs → files → stat → content hash of the files whose metadata changed.

use hashbrown::HashMap;
use std::collections::BTreeSet;
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
}

/// Settings of the scan engine.
#[derive(Debug, Clone)]
pub(crate) struct ScanSettings {
    pub(crate) full_rehash_every: u32,
    pub(crate) racy_window: Duration,
}

/// The state of the files seen by the previous scan.
#[derive(Debug)]
pub(crate) struct Scanner {
    patterns: Vec<String>,
    settings: ScanSettings,
    files: HashMap<PathBuf, FileState>,
    scans: u64,
}

impl Scanner {
    pub(crate) fn new(patterns: Vec<String>, settings: ScanSettings) -> Self {
        Self {
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

    /// The paths the globs match now, deduplicated and sorted.
    pub(crate) fn matches(&self) -> BTreeSet<PathBuf> {
        let mut out = BTreeSet::new();
        for p in &self.patterns {
            // Patterns were validated when the scanner was built.
            if let Ok(paths) = glob::glob(p) {
                // An unreadable directory is skipped; the files under it count as absent.
                out.extend(paths.flatten());
            }
        }
        out
    }

    /// Scans once and updates the baseline. `now` decides which files were modified so recently
    /// that an unchanged stat cannot be trusted (same-size rewrites within one mtime tick).
    pub(crate) fn scan(&mut self, now: SystemTime) -> ScanReport {
        self.scans += 1;
        let full = self.settings.full_rehash_every > 0
            && self
                .scans
                .is_multiple_of(u64::from(self.settings.full_rehash_every));
        let mut report = ScanReport::default();
        let mut next: HashMap<PathBuf, FileState> = HashMap::with_capacity(self.files.len());
        for path in self.matches() {
            // Follows symlinks: a swapped link shows the new target's inode and content.
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            let stat = StatKey::of(&meta);
            let prev = self.files.get(&path).copied();
            let racy = stat
                .mtime
                .is_none_or(|m| m + self.settings.racy_window > now);
            let hash = match prev {
                Some(p) if !full && !racy && p.stat == stat => p.hash,
                _ => {
                    report.hashed += 1;
                    hash_file(&path).ok()
                }
            };
            if hash.is_none() {
                report.unreadable.push(path.clone());
            }
            match prev {
                None => report.added.push(path.clone()),
                Some(p) if p.hash != hash => report.modified.push(path.clone()),
                Some(_) => {}
            }
            next.insert(path, FileState { stat, hash });
        }
        for old in self.files.keys() {
            if !next.contains_key(old) {
                report.removed.push(old.clone());
            }
        }
        report.removed.sort();
        report.files = next.len();
        self.files = next;
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
