//! Criterion benchmarks of the `spool` area: durable stores of 20,000-byte messages from 64
//! writers into `kumo_spool::Spool` (both backends) beside the naive one-file-per-message
//! baselines (fsync per message, no sync), and a full enumeration of 10,000 entries.
//!
//! ```text
//! cargo bench -p kumo-benches --no-default-features --features spool --bench spool
//! ```
//!
//! Files are kept until the end of the run (see `kumo_benches::spool::run` on why), under a
//! scratch directory in the target directory.
#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use kumo_benches::spool::{
    Contender, DATA, NaiveSpool, Store, WRITERS, fill, kumo_enumerate, naive_enumerate,
    remove_tree, scratch_root, store_all,
};
use kumo_spool::{BackendKind, Durability};

/// Entries in the enumerated spools (the `compare` binary uses 1M for the database).
const N: u64 = 10_000;

fn durable_store(c: &mut Criterion) {
    let root = scratch_root();
    let mut g = c.benchmark_group("spool/durable_store_20KB_64_writers");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (i, contender) in Contender::ALL.into_iter().enumerate() {
        let store = Store::open(contender, &root.path().join(format!("store-{i}")));
        let label = match contender {
            Contender::Kumo(BackendKind::Files) => "kumo_files",
            Contender::Kumo(_) => "kumo_database",
            Contender::NaiveFsync => "naive_files_fsync",
            Contender::NaiveNosync => "naive_files_nosync",
        };
        // One criterion iteration = one message; at least one per writer per sample.
        g.bench_function(label, |b| {
            b.iter_custom(|iters| {
                let n = iters.max(WRITERS as u64);
                let took = store_all(&store, n, WRITERS, &DATA, Durability::Sync);
                took.mul_f64(iters as f64 / n as f64)
            })
        });
    }
    g.finish();
    remove_tree(root.path());
}

fn enumerate(c: &mut Criterion) {
    let root = scratch_root();
    let mut g = c.benchmark_group("spool/enumerate_10k");
    g.sample_size(20);
    for (label, kind) in [
        ("kumo_database", BackendKind::Database),
        ("kumo_files", BackendKind::Files),
    ] {
        let (store, _) = fill(Contender::Kumo(kind), &root.path().join(label), N);
        let Store::Kumo(spool) = store else {
            unreachable!("a kumo contender")
        };
        g.bench_function(label, |b| b.iter(|| assert_eq!(kumo_enumerate(&spool), N)));
    }
    let dir = root.path().join("naive");
    drop(fill(Contender::NaiveNosync, &dir, N));
    let naive = NaiveSpool::open(&dir, false).expect("open");
    g.bench_function("naive_files_readdir", |b| {
        b.iter(|| assert_eq!(naive_enumerate(&naive), N))
    });
    g.finish();
    remove_tree(root.path());
}

criterion_group!(benches, durable_store, enumerate);
criterion_main!(benches);
