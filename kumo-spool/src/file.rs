//! The one-file-per-message backend, laid out like KumoMTA's local-disk spool: data and
//! metadata in their own files, written to a temporary name, synced, renamed into place.

use std::fs::{self, File};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use crate::backend::{Backend, LoadError, Op, Prepared, Visit};
use crate::error::{CorruptEntry, SpoolError};
use crate::id::SpoolId;

/// The data file's header: magic, length (u64), CRC-32 of the data (u32).
const MAGIC: &[u8; 4] = b"KSD1";
pub(crate) const DATA_HEADER: usize = 16;

/// One file per message and one per metadata, under `data/`, `meta/`; temporary files in
/// `tmp/`, quarantined ones in `quarantine/`.
///
/// # Implementation
///
/// Each writer writes its temporary files on its own thread. A group commit then makes them
/// durable with one `syncfs` (every dirty page of the file system, so one sync serves the
/// whole group), renames them into place, and syncs the two directories once so the renames
/// are durable too. A metadata file implies its data file: data is renamed first, and removal
/// unlinks the metadata first.
#[derive(Debug)]
pub(crate) struct FileBackend {
    data: PathBuf,
    meta: PathBuf,
    tmp: PathBuf,
    quarantine: PathBuf,
    seq: AtomicU64,
}

impl FileBackend {
    pub(crate) fn open(dir: &Path) -> Result<Self, SpoolError> {
        let b = Self {
            data: dir.join("data"),
            meta: dir.join("meta"),
            tmp: dir.join("tmp"),
            quarantine: dir.join("quarantine"),
            seq: AtomicU64::new(0),
        };
        for d in [&b.data, &b.meta, &b.tmp, &b.quarantine] {
            fs::create_dir_all(d).map_err(|e| SpoolError::io("create directory", d, e))?;
        }
        // Temporary files were never part of a finished commit: nobody was told they were
        // stored.
        let leftovers = fs::read_dir(&b.tmp).map_err(|e| SpoolError::io("read", &b.tmp, e))?;
        for entry in leftovers {
            let entry = entry.map_err(|e| SpoolError::io("read", &b.tmp, e))?;
            let path = entry.path();
            fs::remove_file(&path).map_err(|e| SpoolError::io("remove", &path, e))?;
        }
        Ok(b)
    }

    fn name(id: SpoolId) -> String {
        id.to_hex()
    }

    fn data_path(&self, id: SpoolId) -> PathBuf {
        self.data.join(Self::name(id))
    }

    fn meta_path(&self, id: SpoolId) -> PathBuf {
        self.meta.join(Self::name(id))
    }

    fn stage(&self, id: SpoolId, kind: &str, parts: &[&[u8]]) -> Result<PathBuf, SpoolError> {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let path = self.tmp.join(format!("{}.{n}.{kind}", Self::name(id)));
        let mut f = File::create(&path).map_err(|e| SpoolError::io("create", &path, e))?;
        for p in parts {
            if let Err(e) = f.write_all(p) {
                drop(f);
                let _ = fs::remove_file(&path);
                return Err(SpoolError::io("write", &path, e));
            }
        }
        Ok(path)
    }

    fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| SpoolError::io("sync directory", dir, e))
    }
}

/// The header for `data`.
pub(crate) fn data_header(data: &[u8]) -> [u8; DATA_HEADER] {
    let mut h = [0u8; DATA_HEADER];
    h[..4].copy_from_slice(MAGIC);
    h[4..12].copy_from_slice(&(data.len() as u64).to_be_bytes());
    h[12..].copy_from_slice(&crc32fast::hash(data).to_be_bytes());
    h
}

/// Checks a data file's bytes and returns the data.
pub(crate) fn check_data(mut file: Vec<u8>) -> Result<Bytes, CorruptEntry> {
    if file.len() < DATA_HEADER || &file[..4] != MAGIC {
        return Err(CorruptEntry::DataHeader);
    }
    let mut n = [0u8; 8];
    n.copy_from_slice(&file[4..12]);
    let expected = u64::from_be_bytes(n);
    let actual = (file.len() - DATA_HEADER) as u64;
    if expected != actual {
        return Err(CorruptEntry::DataLength { expected, actual });
    }
    let crc = u32::from_be_bytes([file[12], file[13], file[14], file[15]]);
    if crc32fast::hash(&file[DATA_HEADER..]) != crc {
        return Err(CorruptEntry::DataChecksum);
    }
    file.drain(..DATA_HEADER);
    Ok(Bytes::from(file))
}

fn read_file(path: &Path) -> Result<Option<Vec<u8>>, SpoolError> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(SpoolError::io("open", path, e)),
    };
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)
        .map_err(|e| SpoolError::io("read", path, e))?;
    Ok(Some(buf))
}

fn remove_if_present(path: &Path) -> Result<(), SpoolError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(SpoolError::io("remove", path, e)),
        _ => Ok(()),
    }
}

impl Backend for FileBackend {
    fn prepare(&self, op: Op) -> Result<Prepared, SpoolError> {
        let staged = match &op {
            Op::Store { id, data, meta } => {
                let d = self.stage(*id, "data", &[&data_header(data), data])?;
                let m = match self.stage(*id, "meta", &[meta]) {
                    Ok(m) => m,
                    Err(e) => {
                        let _ = fs::remove_file(&d);
                        return Err(e);
                    }
                };
                vec![(d, self.data_path(*id)), (m, self.meta_path(*id))]
            }
            Op::Meta { id, meta } => {
                vec![(self.stage(*id, "meta", &[meta])?, self.meta_path(*id))]
            }
            Op::Remove { .. } | Op::Barrier => Vec::new(),
        };
        Ok(Prepared { op, staged })
    }

    fn commit(&self, group: &mut Vec<Prepared>, sync: bool) -> Result<(), SpoolError> {
        if sync {
            let dir = File::open(&self.tmp).map_err(|e| SpoolError::io("open", &self.tmp, e))?;
            rustix::fs::syncfs(&dir)
                .map_err(|e| SpoolError::io("sync file system", &self.tmp, e.into()))?;
        }
        for p in group.iter_mut() {
            match p.op {
                Op::Remove { id } => {
                    remove_if_present(&self.meta_path(id))?;
                    remove_if_present(&self.data_path(id))?;
                }
                Op::Barrier => {}
                // A message removed (or quarantined) since its update was submitted stays
                // gone: the new metadata is dropped instead of renamed into place without
                // its data.
                Op::Meta { id, .. }
                    if !self
                        .meta_path(id)
                        .try_exists()
                        .map_err(|e| SpoolError::io("stat", self.meta_path(id), e))? =>
                {
                    for (from, _) in std::mem::take(&mut p.staged) {
                        let _ = fs::remove_file(from);
                    }
                }
                Op::Store { .. } | Op::Meta { .. } => {
                    for (from, to) in std::mem::take(&mut p.staged) {
                        if let Err(e) = fs::rename(&from, &to) {
                            let _ = fs::remove_file(&from);
                            return Err(SpoolError::io("rename", to, e));
                        }
                    }
                }
            }
        }
        if sync {
            Self::sync_dir(&self.data)?;
            Self::sync_dir(&self.meta)?;
        }
        Ok(())
    }

    fn discard(&self, group: Vec<Prepared>) {
        for p in group {
            for (from, _) in p.staged {
                let _ = fs::remove_file(from);
            }
            // A store whose group failed after its files were renamed is not acknowledged:
            // take it back out so that it is not delivered behind the client's back.
            if let Op::Store { id, .. } = p.op {
                let _ = fs::remove_file(self.meta_path(id));
                let _ = fs::remove_file(self.data_path(id));
            }
        }
    }

    fn load_data(&self, id: SpoolId) -> Result<Option<Bytes>, LoadError> {
        match read_file(&self.data_path(id))? {
            None => Ok(None),
            Some(file) => check_data(file).map(Some).map_err(LoadError::Corrupt),
        }
    }

    fn load_meta(&self, id: SpoolId) -> Result<Option<Vec<u8>>, SpoolError> {
        read_file(&self.meta_path(id))
    }

    fn for_each_meta(
        &self,
        visit: Visit<'_>,
        bad_name: &mut dyn FnMut(PathBuf),
    ) -> Result<(), SpoolError> {
        let dir = fs::read_dir(&self.meta).map_err(|e| SpoolError::io("read", &self.meta, e))?;
        for entry in dir {
            let entry = entry.map_err(|e| SpoolError::io("read", &self.meta, e))?;
            let name = entry.file_name();
            let Ok(id) = SpoolId::parse_ascii(name.as_encoded_bytes()) else {
                bad_name(entry.path());
                continue;
            };
            // Removed since the directory was listed: not an entry any more.
            let Some(bytes) = read_file(&entry.path())? else {
                continue;
            };
            if visit(id, &bytes).is_break() {
                break;
            }
        }
        Ok(())
    }

    fn quarantine(&self, id: SpoolId) -> Result<(), SpoolError> {
        let name = Self::name(id);
        for (from, suffix) in [(self.meta_path(id), "meta"), (self.data_path(id), "data")] {
            let to = self.quarantine.join(format!("{name}.{suffix}"));
            match fs::rename(&from, &to) {
                Err(e) if e.kind() != ErrorKind::NotFound => {
                    return Err(SpoolError::io("quarantine", from, e));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn quarantine_path(&self, path: PathBuf) -> Result<(), SpoolError> {
        let name = path.file_name().map(|n| n.to_owned()).unwrap_or_default();
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let mut to_name = name;
        to_name.push(format!(".stray{n}"));
        fs::rename(&path, self.quarantine.join(to_name))
            .map_err(|e| SpoolError::io("quarantine", path, e))
    }

    fn disk_bytes(&self) -> Result<u64, SpoolError> {
        let mut total = 0;
        for dir in [&self.data, &self.meta] {
            for entry in fs::read_dir(dir).map_err(|e| SpoolError::io("read", dir, e))? {
                let entry = entry.map_err(|e| SpoolError::io("read", dir, e))?;
                total += entry
                    .metadata()
                    .map_err(|e| SpoolError::io("stat", entry.path(), e))?
                    .len();
            }
        }
        Ok(total)
    }
}
