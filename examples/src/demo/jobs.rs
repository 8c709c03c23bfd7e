//! A durable [`JobStore`] on kumo-spool: `deferred_generation` batches survive a crash of the
//! demo and are resumed at the next start, with no duplicate and no missing recipient.
//!
//! A job is one spool entry (the request JSON as data, synced before the client is answered);
//! each recipient's outcome is a small entry of its own, written buffered: the message it
//! records was written before it into the same spool, and the sync of the next message (or
//! the job's flush) makes both durable, so a crash loses at most the last records, whose
//! recipients are offered again with the same message ids and recognised.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use kumo_inject::{BatchId, JobStore, JobStoreError, PendingJob, RecipientOutcome, StoredJob};
use kumo_spool::{Durability, Metadata, Spool, SpoolId};
use parking_lot::Mutex;

use super::spool::{JOB_QUEUE, RECORD_QUEUE, unix_ms};

#[derive(Debug)]
struct Entry {
    spool_id: SpoolId,
    job: Option<StoredJob>,
    /// `(recipient index, outcome, the record's spool id)`.
    done: Vec<(u32, RecipientOutcome, SpoolId)>,
}

/// Jobs and records kept in the demo's spool.
#[derive(Debug)]
pub(crate) struct SpoolJobStore {
    spool: Arc<Spool>,
    jobs: Mutex<HashMap<BatchId, Entry>>,
    /// Records found at start whose job was not (yet) seen.
    orphans: Mutex<Vec<(BatchId, u32, RecipientOutcome, SpoolId)>>,
}

fn encode_job(job: &StoredJob) -> Bytes {
    let peer = job.peer.map_or_else(|| "-".to_owned(), |p| p.to_string());
    Bytes::from(format!("J\t{peer}\t{}", unix_ms(job.accepted_at)))
}

fn decode_job(host: &[u8]) -> Option<(Option<IpAddr>, SystemTime)> {
    let s = std::str::from_utf8(host).ok()?;
    let mut p = s.splitn(3, '\t');
    if p.next()? != "J" {
        return None;
    }
    let peer = match p.next()? {
        "-" => None,
        ip => Some(ip.parse().ok()?),
    };
    let ms: u64 = p.next()?.parse().ok()?;
    Some((peer, UNIX_EPOCH + Duration::from_millis(ms)))
}

fn encode_outcome(o: &RecipientOutcome) -> Bytes {
    Bytes::from(match o {
        RecipientOutcome::Accepted { message_id } => format!("A\t{message_id}"),
        RecipientOutcome::Failed { error } => format!("F\t{error}"),
    })
}

fn decode_outcome(host: &[u8]) -> Option<RecipientOutcome> {
    let s = std::str::from_utf8(host).ok()?;
    match s.split_once('\t')? {
        ("A", id) => Some(RecipientOutcome::Accepted {
            message_id: id.to_owned(),
        }),
        ("F", e) => Some(RecipientOutcome::Failed {
            error: e.to_owned(),
        }),
        _ => None,
    }
}

impl SpoolJobStore {
    pub(crate) fn new(spool: Arc<Spool>) -> Self {
        Self {
            spool,
            jobs: Mutex::new(HashMap::new()),
            orphans: Mutex::new(Vec::new()),
        }
    }

    /// Takes a job or record entry met while the spool is enumerated at start.
    pub(crate) fn found(&self, id: SpoolId, meta: Metadata) {
        let Ok(batch) = BatchId::new(&meta.sender) else {
            return;
        };
        if meta.queue == JOB_QUEUE {
            let mut jobs = self.jobs.lock();
            let e = jobs.entry(batch.clone()).or_insert_with(|| Entry {
                spool_id: id,
                job: None,
                done: Vec::new(),
            });
            e.spool_id = id;
            // The request itself is loaded when the jobs are listed.
            e.job = decode_job(&meta.host).map(|(peer, accepted_at)| StoredJob {
                id: batch,
                request: Bytes::new(),
                peer,
                accepted_at,
            });
        } else if let Some(outcome) = decode_outcome(&meta.host) {
            self.orphans
                .lock()
                .push((batch, meta.attempts, outcome, id));
        }
    }

    /// Jobs known now.
    pub(crate) fn len(&self) -> usize {
        self.jobs.lock().len()
    }
}

fn store_err(e: impl std::error::Error + Send + Sync + 'static) -> JobStoreError {
    JobStoreError::new(e)
}

impl JobStore for SpoolJobStore {
    fn persist(&self, job: &StoredJob) -> Result<(), JobStoreError> {
        let id = self.spool.new_id(SystemTime::now());
        let meta = Metadata {
            sender: job.id.to_string(),
            queue: JOB_QUEUE.to_owned(),
            host: encode_job(job),
            ..Metadata::default()
        };
        self.spool
            .store(id, job.request.clone(), &meta, Durability::Sync)
            .map_err(store_err)?;
        self.jobs.lock().insert(
            job.id.clone(),
            Entry {
                spool_id: id,
                job: None,
                done: Vec::new(),
            },
        );
        Ok(())
    }

    fn record(
        &self,
        id: &BatchId,
        index: u32,
        outcome: &RecipientOutcome,
    ) -> Result<(), JobStoreError> {
        let sid = self.spool.new_id(SystemTime::now());
        let meta = Metadata {
            sender: id.to_string(),
            queue: RECORD_QUEUE.to_owned(),
            attempts: index,
            host: encode_outcome(outcome),
            ..Metadata::default()
        };
        self.spool
            .store(sid, Bytes::new(), &meta, Durability::Buffered)
            .map_err(store_err)?;
        if let Some(e) = self.jobs.lock().get_mut(id) {
            e.done.push((index, outcome.clone(), sid));
        }
        Ok(())
    }

    fn complete(&self, id: &BatchId) -> Result<(), JobStoreError> {
        let Some(e) = self.jobs.lock().remove(id) else {
            return Ok(());
        };
        for (_, _, sid) in &e.done {
            self.spool
                .remove(*sid, Durability::Buffered)
                .map_err(store_err)?;
        }
        self.spool
            .remove(e.spool_id, Durability::Sync)
            .map_err(store_err)
    }

    fn pending(&self) -> Result<Vec<PendingJob>, JobStoreError> {
        let orphans = std::mem::take(&mut *self.orphans.lock());
        let mut jobs = self.jobs.lock();
        for (batch, index, outcome, sid) in orphans {
            match jobs.get_mut(&batch) {
                Some(e) => e.done.push((index, outcome, sid)),
                // The job was completed before the crash but its records' removal was lost.
                None => {
                    let _ = self.spool.remove(sid, Durability::Buffered);
                }
            }
        }
        let mut out = Vec::new();
        for (batch, e) in jobs.iter() {
            // Jobs persisted by this run carry no decoded job: they are running, not pending.
            let Some(job) = &e.job else { continue };
            let request = self.spool.load_data(e.spool_id).map_err(store_err)?;
            let mut done: Vec<(u32, RecipientOutcome)> =
                e.done.iter().map(|(i, o, _)| (*i, o.clone())).collect();
            done.sort_by_key(|(i, _)| *i);
            done.dedup_by_key(|(i, _)| *i);
            out.push(PendingJob {
                job: StoredJob {
                    id: batch.clone(),
                    request,
                    peer: job.peer,
                    accepted_at: job.accepted_at,
                },
                done,
            });
        }
        Ok(out)
    }
}
