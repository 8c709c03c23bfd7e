//! The database backend: data and metadata in two tables of one redb file, each group commit one
//! write transaction.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use parking_lot::{MappedRwLockReadGuard, RwLock, RwLockReadGuard};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::backend::{Backend, LoadError, Op, Prepared, Visit};
use crate::error::SpoolError;
use crate::file::{check_data, data_header};
use crate::id::SpoolId;

const DATA: TableDefinition<'_, u128, &[u8]> = TableDefinition::new("data");
const META: TableDefinition<'_, u128, &[u8]> = TableDefinition::new("meta");
const QUARANTINE_DATA: TableDefinition<'_, u128, &[u8]> = TableDefinition::new("quarantine_data");
const QUARANTINE_META: TableDefinition<'_, u128, &[u8]> = TableDefinition::new("quarantine_meta");

/// The page cache redb keeps in memory.
const CACHE_BYTES: usize = 64 << 20;

/// How long a reopen waits for the calls still using the database.
const REOPEN_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Data and metadata in one [redb](https://docs.rs/redb) file, `spool.redb`.
///
/// # Implementation
///
/// redb is a copy-on-write B-tree with ACID transactions, in pure Rust. A group commit is one
/// write transaction with `Durability::Immediate` when any op in it asked for a sync, so the
/// whole group is durable with one commit (redb's commit writes the pages and syncs). Data is
/// stored with the same 16-byte header and CRC-32 as the file backend's data files, so bit rot
/// is found on load. Keys are the ids as `u128`, so iteration is in creation order.
///
/// After an I/O error (a full disk, say) redb refuses every later call, reads included, until
/// the database is opened again; so the backend reopens it as soon as a call fails that way.
/// The failed call still fails; the next one works if the disk does.
#[derive(Debug)]
pub(crate) struct DbBackend {
    /// `None` only after a reopen failed; the next call tries again.
    db: RwLock<Option<Database>>,
    path: PathBuf,
}

fn engine(op: &'static str) -> impl FnOnce(redb::Error) -> SpoolError {
    move |e| match e {
        // redb's errors do not expose their cause through `source()`: keep the operating
        // system's error itself, so that `SpoolError::is_disk_full` and error chains see it.
        redb::Error::Io(io) => SpoolError::engine(op, io),
        e => SpoolError::engine(op, e),
    }
}

fn open_db(path: &Path) -> Result<Database, redb::Error> {
    let db = Database::builder()
        .set_cache_size(CACHE_BYTES)
        .create(path)?;
    // Create the tables once, so readers never meet a missing table.
    let tx = db.begin_write()?;
    for t in [DATA, META, QUARANTINE_DATA, QUARANTINE_META] {
        tx.open_table(t)?;
    }
    tx.commit()?;
    Ok(db)
}

impl DbBackend {
    pub(crate) fn open(dir: &Path) -> Result<Self, SpoolError> {
        let path = dir.join("spool.redb");
        let db = open_db(&path).map_err(engine("open"))?;
        Ok(Self {
            db: RwLock::new(Some(db)),
            path,
        })
    }

    /// The database, reopened first if a reopen failed before. Recursive: an enumeration
    /// holds it while its callback may load entries.
    fn db(&self) -> Result<MappedRwLockReadGuard<'_, Database>, redb::Error> {
        if let Ok(db) = RwLockReadGuard::try_map(self.db.read_recursive(), Option::as_ref) {
            return Ok(db);
        }
        self.reopen()?;
        RwLockReadGuard::try_map(self.db.read_recursive(), Option::as_ref)
            .map_err(|_| redb::Error::DatabaseClosed)
    }

    fn reopen(&self) -> Result<(), redb::Error> {
        // Bounded: a thread that holds the database (a store from inside an enumeration's
        // callback) must not wait for itself. Not reopened now, it is on the next failure.
        let mut db = self
            .db
            .try_write_for(REOPEN_WAIT)
            .ok_or(redb::Error::TransactionInProgress)?;
        // Closed first: redb locks its file, so one process cannot open it twice.
        drop(db.take());
        *db = Some(open_db(&self.path)?);
        tracing::info!(path = %self.path.display(), "spool database reopened after an I/O error");
        Ok(())
    }

    /// Passes `r` on, reopening the database first if it failed with an I/O error (which
    /// leaves redb refusing every later call). Called with no transaction or guard held.
    fn checked<T>(&self, r: Result<T, redb::Error>) -> Result<T, redb::Error> {
        if let Err(redb::Error::Io(_) | redb::Error::PreviousIo) = &r
            && let Err(e) = self.reopen()
        {
            tracing::warn!(path = %self.path.display(), error = %e, "spool database reopen failed");
        }
        r
    }

    fn write(&self, group: &[Prepared], sync: bool) -> Result<(), redb::Error> {
        let db = self.db()?;
        let mut tx = db.begin_write()?;
        tx.set_durability(if sync {
            redb::Durability::Immediate
        } else {
            redb::Durability::None
        })?;
        {
            let mut data = tx.open_table(DATA)?;
            let mut meta = tx.open_table(META)?;
            let mut buf = Vec::new();
            for p in group {
                match &p.op {
                    Op::Store {
                        id,
                        data: d,
                        meta: m,
                    } => {
                        buf.clear();
                        buf.extend_from_slice(&data_header(d));
                        buf.extend_from_slice(d);
                        data.insert(id.as_u128(), buf.as_slice())?;
                        meta.insert(id.as_u128(), m.as_slice())?;
                    }
                    Op::Meta { id, meta: m } => {
                        // Only for a message that is still there (not removed meanwhile).
                        if data.get(id.as_u128())?.is_some() {
                            meta.insert(id.as_u128(), m.as_slice())?;
                        }
                    }
                    Op::Remove { id } => {
                        meta.remove(id.as_u128())?;
                        data.remove(id.as_u128())?;
                    }
                    Op::Barrier => {}
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn move_to_quarantine(&self, id: SpoolId) -> Result<(), redb::Error> {
        let db = self.db()?;
        let tx = db.begin_write()?;
        {
            for (from, to) in [(DATA, QUARANTINE_DATA), (META, QUARANTINE_META)] {
                let mut live = tx.open_table(from)?;
                let value = live.remove(id.as_u128())?.map(|v| v.value().to_vec());
                if let Some(v) = value {
                    tx.open_table(to)?.insert(id.as_u128(), v.as_slice())?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }
}

impl Backend for DbBackend {
    fn prepare(&self, op: Op) -> Result<Prepared, SpoolError> {
        Ok(Prepared {
            op,
            staged: Vec::new(),
        })
    }

    fn commit(&self, group: &mut Vec<Prepared>, sync: bool) -> Result<(), SpoolError> {
        self.checked(self.write(group, sync))
            .map_err(engine("commit"))
    }

    fn discard(&self, _group: Vec<Prepared>) {
        // A failed transaction left nothing behind.
    }

    fn load_data(&self, id: SpoolId) -> Result<Option<Bytes>, LoadError> {
        let read = || -> Result<Option<Vec<u8>>, redb::Error> {
            // The guard outlives the transaction: no reopen while it reads.
            let db = self.db()?;
            let tx = db.begin_read()?;
            let t = tx.open_table(DATA)?;
            Ok(t.get(id.as_u128())?.map(|v| v.value().to_vec()))
        };
        match self.checked(read()).map_err(engine("read"))? {
            None => Ok(None),
            Some(v) => check_data(v).map(Some).map_err(LoadError::Corrupt),
        }
    }

    fn load_meta(&self, id: SpoolId) -> Result<Option<Vec<u8>>, SpoolError> {
        let read = || -> Result<Option<Vec<u8>>, redb::Error> {
            // The guard outlives the transaction: no reopen while it reads.
            let db = self.db()?;
            let tx = db.begin_read()?;
            let t = tx.open_table(META)?;
            Ok(t.get(id.as_u128())?.map(|v| v.value().to_vec()))
        };
        self.checked(read()).map_err(engine("read"))
    }

    fn for_each_meta(
        &self,
        visit: Visit<'_>,
        _bad_name: &mut dyn FnMut(PathBuf),
    ) -> Result<(), SpoolError> {
        let mut run = || -> Result<(), redb::Error> {
            // The guard outlives the transaction: no reopen while it reads.
            let db = self.db()?;
            let tx = db.begin_read()?;
            let t = tx.open_table(META)?;
            for row in t.iter()? {
                let (k, v) = row?;
                if visit(SpoolId::from_bytes(k.value().to_be_bytes()), v.value()).is_break() {
                    break;
                }
            }
            Ok(())
        };
        self.checked(run()).map_err(engine("enumerate"))
    }

    fn quarantine(&self, id: SpoolId) -> Result<(), SpoolError> {
        self.checked(self.move_to_quarantine(id))
            .map_err(engine("quarantine"))
    }

    fn quarantine_path(&self, _path: PathBuf) -> Result<(), SpoolError> {
        Ok(())
    }

    fn disk_bytes(&self) -> Result<u64, SpoolError> {
        std::fs::metadata(&self.path)
            .map(|m| m.len())
            .map_err(|e| SpoolError::io("stat", &self.path, e))
    }
}
