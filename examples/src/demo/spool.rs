//! The demo's use of kumo-spool: messages are stored before they are acknowledged (or, with
//! `deferred_spool`, at their first temporary failure), updated after each retry, journaled and
//! removed when they end, and put back into the queues at start.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use kumo_spool::{BackendKind, Durability, Metadata, Spool, SpoolError, SpoolId};

use super::journal::{self, Ending, Journal};
use super::message::{MessageMeta, NewMsg};

/// The queue name under which deferred-generation jobs are spooled (`@` is never in a domain).
pub(crate) const JOB_QUEUE: &str = "@job";

/// The spool could not be opened or recovered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpoolOpenError {
    /// kumo-spool refused (locked by another process, I/O).
    #[error("cannot open the spool in {0}")]
    Spool(PathBuf, #[source] SpoolError),
    /// The delivery journal cannot be opened or read.
    #[error("cannot use the delivery journal in {0}")]
    Journal(PathBuf, #[source] std::io::Error),
    /// A temporary spool folder cannot be made.
    #[error("cannot create a spool folder in {0}")]
    Create(PathBuf, #[source] std::io::Error),
}

/// A message found in the spool at start.
#[derive(Debug)]
pub(crate) struct SpooledMessage {
    pub(crate) id: SpoolId,
    pub(crate) meta: Metadata,
    pub(crate) host: MessageMeta,
}

/// What start-up found.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Recovery {
    /// Messages put back into the queues.
    pub messages: u64,
    /// Messages that had ended before the crash (journaled) and were only removed.
    pub already_ended: u64,
    /// Deferred-generation jobs found.
    pub jobs: u64,
    /// Entries quarantined as torn or corrupt.
    pub quarantined: u64,
    /// Entries without the demo's metadata (written by another program), left in place.
    pub foreign: u64,
    /// How long the enumeration took.
    pub elapsed: Duration,
}

/// Removals handed to the remover thread at most at once.
const REMOVE_BATCH: usize = 4096;

/// The spool, the journal, and the count of live message entries.
#[derive(Debug)]
pub(crate) struct DemoSpool {
    pub(crate) spool: Arc<Spool>,
    journal: Journal,
    live: Arc<AtomicI64>,
    /// Ended messages' entries, removed in batches by one thread (one transaction per batch).
    removals: Option<std::sync::mpsc::Sender<SpoolId>>,
    remover: Option<std::thread::JoinHandle<()>>,
    /// Removals that failed (the entry stays; the journal says it ended).
    pub(crate) remove_errors: Arc<std::sync::atomic::AtomicU64>,
}

impl DemoSpool {
    /// Opens (or creates) the spool in `dir`; the journal lives in `dir/journal`.
    pub(crate) fn open(dir: &Path, kind: BackendKind) -> Result<Self, SpoolOpenError> {
        let spool =
            Spool::open_with(dir, kind).map_err(|e| SpoolOpenError::Spool(dir.to_owned(), e))?;
        let run = spool.new_id(SystemTime::now()).to_hex();
        let jdir = dir.join("journal");
        let journal = Journal::open(&jdir, &run).map_err(|e| SpoolOpenError::Journal(jdir, e))?;
        let spool = Arc::new(spool);
        let live = Arc::new(AtomicI64::new(0));
        let remove_errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (tx, rx) = std::sync::mpsc::channel::<SpoolId>();
        let (s, l, errors) = (spool.clone(), live.clone(), remove_errors.clone());
        let remover = std::thread::Builder::new()
            .name("spool-remover".into())
            .spawn(move || {
                // Ends when the last sender (the DemoSpool) is dropped.
                while let Ok(first) = rx.recv() {
                    let mut ids = vec![first];
                    while ids.len() < REMOVE_BATCH {
                        match rx.try_recv() {
                            Ok(id) => ids.push(id),
                            Err(_) => break,
                        }
                    }
                    let n = ids.len() as i64;
                    match s.remove_many(ids, Durability::Buffered) {
                        Ok(()) => {
                            l.fetch_sub(n, Ordering::Relaxed);
                        }
                        Err(_) => {
                            errors.fetch_add(n as u64, Ordering::Relaxed);
                        }
                    }
                }
            })
            .map_err(|e| SpoolOpenError::Create(dir.to_owned(), e))?;
        Ok(Self {
            spool,
            journal,
            live,
            removals: Some(tx),
            remover: Some(remover),
            remove_errors,
        })
    }

    /// The spool folder.
    pub(crate) fn dir(&self) -> &Path {
        self.spool.dir()
    }

    /// Message entries in the spool now.
    pub(crate) fn live(&self) -> i64 {
        self.live.load(Ordering::Relaxed)
    }

    /// Stores a message (blocking), synced: a `deferred_spool` message at its first temporary
    /// failure. Returns its spool id.
    pub(crate) fn store(&self, data: Bytes, meta: &Metadata) -> Result<SpoolId, SpoolError> {
        let id = self.spool.new_id(SystemTime::now());
        self.spool.store(id, data, meta, Durability::Sync)?;
        self.live.fetch_add(1, Ordering::Relaxed);
        Ok(id)
    }

    /// Stores a synchronous batch's messages (blocking): one group commit, synced; all or none.
    /// Each message must carry the spool id it is to be stored under.
    pub(crate) fn store_batch(&self, batch: &[NewMsg]) -> Result<(), SpoolError> {
        let entries = batch
            .iter()
            .filter_map(|m| Some((m.spool_id?, m.data.clone(), m.spool_metadata())));
        self.spool.store_many(entries, Durability::Sync)?;
        self.live.fetch_add(batch.len() as i64, Ordering::Relaxed);
        Ok(())
    }

    /// Records a retry's attempt count and due time (blocking). Buffered: losing it to a
    /// crash only makes the message due earlier.
    pub(crate) fn update(&self, id: SpoolId, meta: &Metadata) -> Result<(), SpoolError> {
        self.spool.update_meta(id, meta, Durability::Buffered)
    }

    /// Journals an ending: the commit point, before the spool entry goes.
    pub(crate) fn journal(
        &self,
        ending: Ending,
        message_id: &str,
        recipient: &str,
    ) -> std::io::Result<()> {
        self.journal.append(ending, message_id, recipient)
    }

    /// Hands an ended message's entry to the remover thread, which removes in batches,
    /// buffered: should a crash lose the removal, the journal says the message ended.
    pub(crate) fn remove(&self, id: SpoolId) {
        let sent = self.removals.as_ref().is_some_and(|tx| tx.send(id).is_ok());
        if !sent {
            self.remove_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A spooled message's data (blocking).
    pub(crate) fn load(&self, id: SpoolId) -> Result<Bytes, SpoolError> {
        self.spool.load_data(id)
    }

    /// Enumerates the spool (blocking): messages that ended before a crash are removed, every
    /// other message goes to `message`, jobs and their records to `other`. Returns what it
    /// found and the message ids that the journals of earlier runs say ended.
    pub(crate) fn recover(
        &self,
        mut message: impl FnMut(SpooledMessage),
        mut other: impl FnMut(SpoolId, Metadata),
    ) -> Result<(Recovery, HashSet<String>), SpoolOpenError> {
        let started = std::time::Instant::now();
        let jdir = self.dir().join("journal");
        let old = self
            .journal
            .unreconciled()
            .map_err(|e| SpoolOpenError::Journal(jdir.clone(), e))?;
        let ended =
            journal::ended_ids(&old).map_err(|e| SpoolOpenError::Journal(jdir.clone(), e))?;
        let mut done = Vec::new();
        let mut rec = Recovery::default();
        let report = self
            .spool
            .enumerate(|id, meta| {
                if meta.queue == JOB_QUEUE {
                    rec.jobs += u64::from(meta.queue == JOB_QUEUE);
                    other(id, meta);
                    return ControlFlow::Continue(());
                }
                let Some(host) = MessageMeta::decode(&meta.host) else {
                    // Not one of ours: kept, but it cannot be delivered without its id.
                    rec.foreign += 1;
                    return ControlFlow::Continue(());
                };
                if ended.contains(&host.message_id) {
                    done.push(id);
                    return ControlFlow::Continue(());
                }
                rec.messages += 1;
                message(SpooledMessage { id, meta, host });
                ControlFlow::Continue(())
            })
            .map_err(|e| SpoolOpenError::Spool(self.dir().to_owned(), e))?;
        rec.quarantined = report.quarantined;
        rec.already_ended = done.len() as u64;
        // One synced group: the removals are durable before the journals that justify them
        // are set aside.
        self.spool
            .remove_many(done, Durability::Sync)
            .map_err(|e| SpoolOpenError::Spool(self.dir().to_owned(), e))?;
        Journal::mark_reconciled(&old).map_err(|e| SpoolOpenError::Journal(jdir, e))?;
        self.live.store(rec.messages as i64, Ordering::Relaxed);
        rec.elapsed = started.elapsed();
        Ok((rec, ended))
    }
}

impl Drop for DemoSpool {
    /// Lets the remover thread finish what it was handed, so that the spool is closed (and
    /// unlocked) when this returns.
    fn drop(&mut self) {
        drop(self.removals.take());
        if let Some(h) = self.remover.take() {
            let _ = h.join();
        }
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
