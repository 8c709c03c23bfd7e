//! At scale (only with `KUMO_SPOOL_1M=1`): 1,000,000 entries stored from several threads in
//! groups of 1,000 (`store_many`) with `Durability::Buffered`, made durable by one `sync`, then
//! the spool is opened again and every entry enumerated. Prints the rates.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kumo_spool::{BackendKind, Durability, Metadata, SpoolId};

use crate::support::{self, on_both_backends};

const ENTRIES: u64 = 1_000_000;
const THREADS: u64 = 4;
const BATCH: u64 = 1_000;

on_both_backends!(a_million_entries_store_and_enumerate);

/// About 100 bytes encoded.
fn meta(i: u64) -> Metadata {
    Metadata {
        sender: "bounce@example.com".into(),
        recipients: vec![format!("user{i}@example.net")],
        queue: format!("tenant-{}:example.net", i % 100),
        attempts: 0,
        due: Some(UNIX_EPOCH + Duration::from_millis(1_733_000_000_000 + i)),
        host: i.to_be_bytes().to_vec().into(),
    }
}

#[allow(clippy::print_stderr, reason = "the rates, for --nocapture")]
fn a_million_entries_store_and_enumerate(kind: BackendKind) {
    // A million entries take minutes and gigabytes (the file backend writes two million
    // files): not part of the default run, which stays within seconds.
    if std::env::var_os("KUMO_SPOOL_1M").is_none_or(|v| v != "1") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spool = Arc::new(support::open(dir.path(), kind));
    let data = b"Subject: small\r\n\r\nA small message body.\r\n".as_slice();
    let started = Instant::now();
    let writers: Vec<_> = (0..THREADS)
        .map(|t| {
            let spool = spool.clone();
            std::thread::spawn(move || {
                let mut sample = Vec::new();
                let mut batch = Vec::with_capacity(BATCH as usize);
                for i in (t..ENTRIES).step_by(THREADS as usize) {
                    let id = spool.new_id(SystemTime::now());
                    if i % 10_007 == 0 {
                        sample.push((id, i));
                    }
                    batch.push((id, data, meta(i)));
                    if batch.len() as u64 == BATCH {
                        spool
                            .store_many(batch.drain(..), Durability::Buffered)
                            .unwrap();
                    }
                }
                spool.store_many(batch, Durability::Buffered).unwrap();
                sample
            })
        })
        .collect();
    let sample: Vec<(SpoolId, u64)> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    spool.sync().unwrap();
    let stored_in = started.elapsed();
    let stats = spool.stats();
    assert_eq!(stats.stored, ENTRIES);
    assert_eq!(stats.failed_groups, 0);
    let disk = spool.disk_bytes().unwrap();
    drop(spool);

    let started = Instant::now();
    let spool = support::open(dir.path(), kind);
    let opened_in = started.elapsed();
    let started = Instant::now();
    let mut count = 0u64;
    let mut last: Option<SpoolId> = None;
    let mut ordered = true;
    let report = spool
        .enumerate(|id, meta| {
            count += 1;
            ordered &= last.is_none_or(|l| l < id);
            last = Some(id);
            assert_eq!(meta.recipients.len(), 1);
            ControlFlow::Continue(())
        })
        .unwrap();
    let enumerated_in = started.elapsed();
    assert_eq!(
        (count, report.entries, report.quarantined),
        (ENTRIES, ENTRIES, 0)
    );
    for (id, i) in sample {
        assert_eq!(spool.load_meta(id).unwrap(), meta(i));
        assert_eq!(spool.load_data(id).unwrap(), data);
    }
    let rate = |d: Duration| ENTRIES as f64 / d.as_secs_f64();
    eprintln!(
        "{kind:?}: stored {ENTRIES} in {stored_in:.2?} ({:.0}/s; {} groups, mean {:.1} ops), \
         {} bytes on disk; opened in {opened_in:.2?}; enumerated in {enumerated_in:.2?} \
         ({:.0}/s, in id order: {ordered})",
        rate(stored_in),
        stats.groups,
        stats.ops as f64 / stats.groups as f64,
        disk,
        rate(enumerated_in),
    );
}
