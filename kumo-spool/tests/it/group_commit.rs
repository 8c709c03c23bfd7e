//! Concurrent synced stores share commits: 32 threads storing 50 messages each with
//! `Durability::Sync` need fewer group commits than stores, and every message is there after the
//! spool is opened again. One `store_many` is one group commit and one sync. Buffered writes
//! that nobody syncs are synced with the 64th group commit in a row anyway.

use std::sync::{Arc, Barrier};
use std::time::SystemTime;

use kumo_spool::{BackendKind, Durability, SpoolId};

use crate::support::{self, on_both_backends};

const THREADS: usize = 32;
const PER_THREAD: usize = 50;

on_both_backends!(
    concurrent_sync_stores_share_commits,
    store_many_is_one_commit,
    every_64th_buffered_group_syncs,
);

fn concurrent_sync_stores_share_commits(kind: BackendKind) {
    let dir = tempfile::tempdir().unwrap();
    let spool = Arc::new(support::open(dir.path(), kind));
    let start = Arc::new(Barrier::new(THREADS));
    let writers: Vec<_> = (0..THREADS)
        .map(|_| {
            let (spool, start) = (spool.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                let mut ids = Vec::with_capacity(PER_THREAD);
                for _ in 0..PER_THREAD {
                    let id = spool.new_id(SystemTime::now());
                    let meta = support::meta_for(id);
                    spool
                        .store(id, support::data_for(id), &meta, Durability::Sync)
                        .unwrap();
                    ids.push(id);
                }
                ids
            })
        })
        .collect();
    let ids: Vec<SpoolId> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    let stores = (THREADS * PER_THREAD) as u64;
    let stats = spool.stats();
    assert_eq!(stats.stored, stores, "{stats:?}");
    assert_eq!(
        stats.ops, stores,
        "every store went through a group: {stats:?}"
    );
    assert_eq!(stats.failed_groups, 0, "{stats:?}");
    assert!(stats.syncs >= 1, "{stats:?}");
    assert!(
        stats.groups < stores,
        "no two of {stores} concurrent synced stores shared a commit: {stats:?}"
    );
    drop(spool);

    let spool = support::open(dir.path(), kind);
    for &id in &ids {
        assert_eq!(spool.load_data(id).unwrap(), support::data_for(id), "{id}");
        assert_eq!(spool.load_meta(id).unwrap(), support::meta_for(id), "{id}");
    }
    let (found, report) = support::enumerate_all(&spool);
    assert_eq!(report.quarantined, 0);
    let mut sorted = ids;
    sorted.sort();
    assert_eq!(found.into_keys().collect::<Vec<_>>(), sorted);
}

fn store_many_is_one_commit(kind: BackendKind) {
    let dir = tempfile::tempdir().unwrap();
    let spool = support::open(dir.path(), kind);
    let ids: Vec<SpoolId> = (0..200).map(|_| spool.new_id(SystemTime::now())).collect();
    let entries = ids
        .iter()
        .map(|&id| (id, support::data_for(id), support::meta_for(id)));
    spool.store_many(entries, Durability::Sync).unwrap();
    let stats = spool.stats();
    assert_eq!(
        (stats.stored, stats.ops, stats.groups, stats.syncs),
        (200, 200, 1, 1),
        "{stats:?}"
    );
    spool.sync().unwrap();
    let stats = spool.stats();
    assert_eq!(
        (stats.groups, stats.syncs),
        (2, 2),
        "sync is one more: {stats:?}"
    );
}

fn every_64th_buffered_group_syncs(kind: BackendKind) {
    let dir = tempfile::tempdir().unwrap();
    let spool = support::open(dir.path(), kind);
    let store = || {
        let id = spool.new_id(SystemTime::now());
        spool
            .store(id, "x", &support::meta_for(id), Durability::Buffered)
            .unwrap();
    };
    // One thread: one group per store.
    for _ in 0..63 {
        store();
    }
    let stats = spool.stats();
    assert_eq!((stats.groups, stats.syncs), (63, 0), "{stats:?}");
    store();
    let stats = spool.stats();
    assert_eq!((stats.groups, stats.syncs), (64, 1), "{stats:?}");
    // A synced write starts the count again.
    spool.sync().unwrap();
    for _ in 0..63 {
        store();
    }
    let stats = spool.stats();
    assert_eq!((stats.groups, stats.syncs), (128, 2), "{stats:?}");
}
