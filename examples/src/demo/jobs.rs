//! A durable [`JobStore`] on kumo-spool: `deferred_generation` batches survive a crash of the
//! demo and are resumed at the next start, with no duplicate and no missing recipient.
//!
//! A job is one spool entry (the request JSON as data, synced before the client is answered).
//! The demo's sink holds a job's messages and stores them in one group commit at each of
//! kumo-inject's checkpoints ([`MessageSink::flush`](kumo_inject::MessageSink::flush), every
//! 1,000 recipients and at the end), before the job is completed. So the per-recipient records
//! need not be durable: after a crash the job is generated again from the start, and every
//! message id already held (in the spool, or ended in the delivery journal) is recognised and
//! skipped. Records are kept in memory only.
//!
//! A job answered `200` is never refused midway by the `[admission]` limits: kumo-inject asks
//! the demo's admission for room before the job's first recipient and after each checkpoint,
//! and the job waits there while the limits are reached (`super::admission`). A job waiting
//! when the demo stops is stopped after its last checkpoint, stays in the spool, and resumes
//! at the next start.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use kumo_inject::{BatchId, JobStore, JobStoreError, PendingJob, RecipientOutcome, StoredJob};
use kumo_spool::{Durability, Metadata, Spool, SpoolId};
use parking_lot::Mutex;

use super::spool::{JOB_QUEUE, unix_ms};

#[derive(Debug)]
struct Entry {
    spool_id: SpoolId,
    /// The job as found in the spool at start (`None` for a job this run accepted).
    job: Option<StoredJob>,
}

/// Jobs and records kept in the demo's spool.
#[derive(Debug)]
pub(crate) struct SpoolJobStore {
    spool: Arc<Spool>,
    jobs: Mutex<HashMap<BatchId, Entry>>,
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

impl SpoolJobStore {
    pub(crate) fn new(spool: Arc<Spool>) -> Self {
        Self {
            spool,
            jobs: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a job entry met while the spool is enumerated at start.
    pub(crate) fn found(&self, id: SpoolId, meta: Metadata) {
        if meta.queue != JOB_QUEUE {
            return;
        }
        let (Ok(batch), Some((peer, accepted_at))) =
            (BatchId::new(&meta.sender), decode_job(&meta.host))
        else {
            // Not a job this demo wrote: leave it.
            return;
        };
        let job = StoredJob {
            id: batch.clone(),
            // The request itself is loaded when the jobs are listed.
            request: Bytes::new(),
            peer,
            accepted_at,
        };
        self.jobs.lock().insert(
            batch,
            Entry {
                spool_id: id,
                job: Some(job),
            },
        );
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
            },
        );
        Ok(())
    }

    fn record(
        &self,
        _id: &BatchId,
        _index: u32,
        _outcome: &RecipientOutcome,
    ) -> Result<(), JobStoreError> {
        // In memory only: see the module's documentation.
        Ok(())
    }

    fn complete(&self, id: &BatchId) -> Result<(), JobStoreError> {
        let Some(e) = self.jobs.lock().remove(id) else {
            return Ok(());
        };
        self.spool
            .remove(e.spool_id, Durability::Sync)
            .map_err(store_err)
    }

    fn pending(&self) -> Result<Vec<PendingJob>, JobStoreError> {
        let jobs = self.jobs.lock();
        let mut out = Vec::new();
        for e in jobs.values() {
            // Jobs accepted by this run are running, not pending.
            let Some(job) = &e.job else { continue };
            let request = self.spool.load_data(e.spool_id).map_err(store_err)?;
            out.push(PendingJob {
                job: StoredJob {
                    request,
                    ..job.clone()
                },
                done: Vec::new(),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn job_bytes_decode_or_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_job(&bytes);
        }
    }

    #[test]
    fn job_bytes_round_trip() {
        let job = StoredJob {
            id: BatchId::new("b1").unwrap(),
            request: Bytes::new(),
            peer: Some("192.0.2.1".parse().unwrap()),
            accepted_at: UNIX_EPOCH + Duration::from_millis(1_733_000_000_123),
        };
        assert_eq!(
            decode_job(&encode_job(&job)),
            Some((job.peer, job.accepted_at))
        );
        assert_eq!(
            decode_job(b"J\t-\t5"),
            Some((None, UNIX_EPOCH + Duration::from_millis(5)))
        );
        assert_eq!(decode_job(b"J\tnot-an-ip\t5"), None);
    }
}
