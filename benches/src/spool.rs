//! `spool` area: `kumo_spool::Spool` with both backends (`Database`, redb; `Files`, one file per
//! data and metadata with group commit) beside two baselines that are not crates but what a
//! simple spool does, all on the same workloads in one process.
//!
//! Baselines (labelled `(baseline, not a crate)` in the report), laid out like kumo's `Files`
//! backend and KumoMTA's local-disk spool: `data/<id>` (the raw data) and `meta/<id>` (the same
//! encoded [`Metadata`] kumo stores), written to `tmp/` first, each writer on its own, nothing
//! shared between writers:
//!
//! * [`NAIVE_FSYNC`]: per message, data: write the temp file, `sync_all`, rename into `data/`,
//!   `sync_all` of `data/`; then the same for the metadata into `meta/` (four syncs per
//!   message, data before metadata so a metadata file always has its data).
//! * [`NAIVE_NOSYNC`]: the same without any sync (KumoMTA's local-disk default, `flush = false`).
//! * [`NAIVE_READDIR`]: the enumeration of a naive spool: `readdir(meta/)`, parse each name,
//!   read the file, [`Metadata::decode`] it.
//!
//! Workloads (`--n N` sets the enumeration size of the database backend, default 1,000,000; the
//! others follow from it; default sizes in parentheses):
//!
//! * `durable_store_msgs_per_s_<backend>`: N/100 messages (10,000) of [`DATA_LEN`] bytes of
//!   data and one [`metadata`] (sender, one recipient, queue: 112 bytes of fields, 149
//!   encoded), stored by [`WRITERS`] threads at once, each store returning only once durable
//!   (kumo: [`Durability::Sync`]). Every contender stores the same messages into a fresh
//!   directory; [`ROUNDS`] rounds, contenders interleaved (their order rotating), and each
//!   contender's median round counts. Before each timed run the file system is synced
//!   (`syncfs`), so no contender pays for another's dirty pages. Printed against both baselines
//!   and database against files; `kumo` and `peer_value` are the absolute msgs/s.
//! * `durable_store_group_size_<backend>`: `stats().ops / stats().groups` in that median run.
//! * `fill_buffered_msgs_per_s_<backend>`: filling the enumeration spools: [`FILL_THREADS`]
//!   threads store [`SMALL_LEN`]-byte messages with [`Durability::Buffered`], then one
//!   [`Durability::Sync`] store (the naive spool: no sync, then one `syncfs`). Database: N
//!   messages; files and the naive spool: N/20 (50,000; a million files take minutes to create
//!   and to delete on the benchmark's VM).
//! * `reopen_ms_<backend>`: drop the filled spool and `Spool::open_with` it again.
//! * `enumerate_msgs_per_s_<backend>`: one full [`Spool::enumerate`] after that reopen, page
//!   cache warm (the fill just wrote the files); median of [`ROUNDS`] restarts. Database: N
//!   entries; files against [`NAIVE_READDIR`] (restarts alternating): N/20 entries.
//!   `enumerate_msgs_per_s_database_cold`: the same after evicting `spool.redb` from the page
//!   cache (`posix_fadvise(DONTNEED)`), alternating with the warm restarts.
//! * `spool_overhead_bytes_per_message_<backend>`: `(disk_bytes() - data bytes - metadata field
//!   bytes) / n` after the first durable-store round (n = N/100, [`DATA_LEN`]-byte data), and
//!   the `_small` variant after the fill ([`SMALL_LEN`]-byte data). `disk_bytes` is file
//!   lengths: for redb the length of `spool.redb`, which redb grows ahead of use (whole
//!   regions, pages in power-of-two runs) and which includes free pages; for files the sum of
//!   the file lengths (not their 4 KiB blocks). The baseline counts its own `data/` and `meta/`
//!   file lengths the same way.
//! * `spool_allocated_overhead_bytes_per_message_<backend>`: the same with the blocks the file
//!   system allocated (`st_blocks * 512` over every file and directory of the spool), which is
//!   what a one-file-per-message layout really costs.
//!
//! All directories live under one temporary directory beside the `compare` executable (in the
//! target directory), not in `/tmp`, which may be a memory file system.
//!
//! The `compare` binary counts every allocation ([`CountingAlloc`] is its global allocator);
//! the enumerations allocate a few times per entry (decoded strings, redb's page buffers), so
//! they run measurably slower here than in a binary with the plain system allocator.

use std::fs::{self, File};
use std::hint::black_box;
use std::io::{self, Write};
use std::ops::ControlFlow;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use kumo_spool::{BackendKind, Durability, Metadata, Spool};

use crate::{Better, CountingAlloc, Options, Reporter};

/// The fsync-per-message baseline, as it appears in the report.
pub const NAIVE_FSYNC: &str = "naive_files_fsync (baseline, not a crate)";
/// The no-sync baseline (KumoMTA's local-disk default).
pub const NAIVE_NOSYNC: &str = "naive_files_nosync (baseline, not a crate)";
/// The baseline's enumeration: `readdir` + read + decode each metadata file.
pub const NAIVE_READDIR: &str = "naive_files_readdir (baseline, not a crate)";
/// kumo's file backend as the peer of its database backend.
pub const KUMO_FILES: &str = "kumo-spool Files";
/// The naive spool's files as the peer of an overhead figure.
pub const NAIVE_FILES: &str = "naive_files (baseline, not a crate)";

/// Bytes of data per message in the durable-store workload.
pub const DATA_LEN: usize = 20_000;
/// Bytes of data per message in the enumeration workload.
pub const SMALL_LEN: usize = 64;
/// Concurrent writers in the durable-store workload.
pub const WRITERS: usize = 64;
/// Threads filling the enumeration spools (as many as the writers: on two cores, 8 threads
/// made groups of under 2 ops and the database fill took twice as long).
pub const FILL_THREADS: usize = WRITERS;
/// Rounds of the durable-store workload; the median counts.
pub const ROUNDS: usize = 3;

/// The message data (the same bytes for every message and contender).
pub static DATA: [u8; DATA_LEN] = body();
/// The enumeration workload's data.
pub static SMALL: [u8; SMALL_LEN] = body();

const fn body<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    let mut i = 0;
    while i < N {
        // Printable, line-broken like a message body.
        b[i] = if i % 78 == 77 {
            b'\n'
        } else {
            b'a' + (i % 26) as u8
        };
        i += 1;
    }
    b
}

/// The metadata of message `i`: sender, one recipient, queue (112 bytes of fields).
pub fn metadata(i: u64) -> Metadata {
    Metadata {
        sender: format!("bounces-{i:010}@newsletters.example.com"),
        recipients: vec![format!("user.{i:010}@customer-domain.example.net")],
        queue: "customer-domain.example.net".into(),
        ..Metadata::default()
    }
}

/// The bytes of a metadata's fields (what the overhead figures subtract).
pub fn field_bytes(m: &Metadata) -> usize {
    m.sender.len()
        + m.queue.len()
        + m.host.len()
        + m.recipients.iter().map(String::len).sum::<usize>()
}

/// Who stores in a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contender {
    /// kumo-spool with this backend.
    Kumo(BackendKind),
    /// The fsync-per-message baseline.
    NaiveFsync,
    /// The no-sync baseline.
    NaiveNosync,
}

impl Contender {
    /// Every contender of the durable-store workload.
    pub const ALL: [Contender; 4] = [
        Contender::Kumo(BackendKind::Database),
        Contender::Kumo(BackendKind::Files),
        Contender::NaiveFsync,
        Contender::NaiveNosync,
    ];

    /// The contender's name in metric names and labels.
    pub fn name(self) -> &'static str {
        match self {
            Contender::Kumo(BackendKind::Files) => "files",
            Contender::Kumo(_) => "database",
            Contender::NaiveFsync => NAIVE_FSYNC,
            Contender::NaiveNosync => NAIVE_NOSYNC,
        }
    }
}

/// The naive spool of the baselines: `data/<id>`, `meta/<id>`, temporary files in `tmp/`.
#[derive(Debug)]
pub struct NaiveSpool {
    data: PathBuf,
    meta: PathBuf,
    tmp: PathBuf,
    next: AtomicU64,
    sync: bool,
}

impl NaiveSpool {
    /// Creates the directories under `dir`; `sync` picks fsync-per-message or no sync.
    pub fn open(dir: &Path, sync: bool) -> io::Result<Self> {
        let s = Self {
            data: dir.join("data"),
            meta: dir.join("meta"),
            tmp: dir.join("tmp"),
            next: AtomicU64::new(1),
            sync,
        };
        for d in [&s.data, &s.meta, &s.tmp] {
            fs::create_dir_all(d)?;
        }
        Ok(s)
    }

    /// Stores one message under a new id, durably when the spool syncs.
    pub fn store(&self, data: &[u8], meta: &Metadata) -> io::Result<()> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let name = format!("{n:032x}");
        self.put(
            &format!("{name}.data"),
            &self.data.join(&name),
            data,
            &self.data,
        )?;
        let meta = meta.encode();
        self.put(
            &format!("{name}.meta"),
            &self.meta.join(&name),
            &meta,
            &self.meta,
        )
    }

    fn put(&self, tmp_name: &str, to: &Path, bytes: &[u8], dir: &Path) -> io::Result<()> {
        let tmp = self.tmp.join(tmp_name);
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        if self.sync {
            f.sync_all()?;
        }
        drop(f);
        fs::rename(&tmp, to)?;
        if self.sync {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    }

    /// `readdir(meta/)`, read and decode every metadata file; returns how many decoded.
    pub fn enumerate(&self, mut visit: impl FnMut(u128, Metadata)) -> io::Result<u64> {
        let mut count = 0;
        for entry in fs::read_dir(&self.meta)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(id) = name.to_str().and_then(|s| u128::from_str_radix(s, 16).ok()) else {
                continue;
            };
            let bytes = match fs::read(entry.path()) {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if let Ok(m) = Metadata::decode(&bytes) {
                count += 1;
                visit(id, m);
            }
        }
        Ok(count)
    }

    /// The lengths of the files in `data/` and `meta/` (the analogue of `Spool::disk_bytes`).
    pub fn disk_bytes(&self) -> io::Result<u64> {
        let mut total = 0;
        for d in [&self.data, &self.meta] {
            for e in fs::read_dir(d)? {
                total += e?.metadata()?.len();
            }
        }
        Ok(total)
    }
}

/// An open store of any contender.
#[derive(Debug)]
pub enum Store {
    /// kumo-spool.
    Kumo(Spool),
    /// A naive spool.
    Naive(NaiveSpool),
}

impl Store {
    /// Opens (creating it) the contender's store in `dir`.
    pub fn open(c: Contender, dir: &Path) -> Store {
        match c {
            Contender::Kumo(kind) => Store::Kumo(Spool::open_with(dir, kind).expect("open spool")),
            Contender::NaiveFsync => Store::Naive(NaiveSpool::open(dir, true).expect("open")),
            Contender::NaiveNosync => Store::Naive(NaiveSpool::open(dir, false).expect("open")),
        }
    }

    /// Stores message `i` with `data` (kumo: with `durability`; a naive spool: as it is made).
    pub fn store(&self, i: u64, data: &'static [u8], durability: Durability) {
        let meta = metadata(i);
        match self {
            Store::Kumo(s) => s
                .store(s.new_id(SystemTime::now()), data, &meta, durability)
                .expect("kumo store"),
            Store::Naive(s) => s.store(data, &meta).expect("naive store"),
        }
    }

    /// File lengths of the stored entries.
    pub fn disk_bytes(&self) -> u64 {
        match self {
            Store::Kumo(s) => s.disk_bytes().expect("disk_bytes"),
            Store::Naive(s) => s.disk_bytes().expect("disk_bytes"),
        }
    }

    /// Mean group size so far (kumo), 1 for a naive spool.
    pub fn group_size(&self) -> f64 {
        match self {
            Store::Kumo(s) => {
                let st = s.stats();
                st.ops as f64 / st.groups.max(1) as f64
            }
            Store::Naive(_) => 1.0,
        }
    }
}

/// Stores messages `0..n` from `threads` threads at once (message `i` on thread `i % threads`)
/// and returns the wall time from the common start to the last store's return.
pub fn store_all(
    store: &Store,
    n: u64,
    threads: usize,
    data: &'static [u8],
    durability: Durability,
) -> Duration {
    let start = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads as u64)
            .map(|t| {
                let start = &start;
                s.spawn(move || {
                    start.wait();
                    let mut i = t;
                    while i < n {
                        store.store(i, data, durability);
                        i += threads as u64;
                    }
                })
            })
            .collect();
        start.wait();
        let t = Instant::now();
        for h in handles {
            h.join().expect("writer");
        }
        t.elapsed()
    })
}

/// Syncs the file system holding `dir` (every dirty page of it), so that the next timed run
/// does not pay for earlier runs' writes.
pub fn settle(dir: &Path) {
    let d = File::open(dir).expect("open directory");
    rustix::fs::syncfs(&d).expect("syncfs");
}

/// Blocks allocated (`st_blocks * 512`) by every file and directory under `dir`.
pub fn allocated_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).expect("read_dir").flatten() {
            let Ok(m) = e.metadata() else { continue };
            total += m.blocks() * 512;
            if m.is_dir() {
                stack.push(e.path());
            }
        }
    }
    total
}

/// One durable-store run's figures.
#[derive(Debug, Clone, Copy)]
pub struct StoreRun {
    /// Messages per second.
    pub rate: f64,
    /// Mean group size (kumo).
    pub group_size: f64,
}

/// The root of the area's scratch directories: beside the executable (the target directory),
/// else the system's temporary directory.
pub fn scratch_root() -> tempfile::TempDir {
    let base = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_owned))
        .unwrap_or_else(std::env::temp_dir);
    tempfile::Builder::new()
        .prefix("kumo-spool-bench-")
        .tempdir_in(base)
        .expect("scratch directory")
}

/// One durable-store run of `c` with `n` messages in a fresh `dir`; `inspect` sees the store
/// before it is dropped. The directory stays: see [`run`] on why nothing is deleted until the
/// end of the area.
pub fn durable_run(c: Contender, dir: &Path, n: u64, inspect: impl FnOnce(&Store)) -> StoreRun {
    let store = Store::open(c, dir);
    settle(dir);
    let took = store_all(&store, n, WRITERS, &DATA, Durability::Sync);
    let run = StoreRun {
        rate: n as f64 / took.as_secs_f64(),
        group_size: store.group_size(),
    };
    inspect(&store);
    drop(store);
    run
}

fn overhead(disk: u64, n: u64, data_len: usize) -> f64 {
    let fields: u64 = (0..n).map(|i| field_bytes(&metadata(i)) as u64).sum();
    (disk as f64 - (n * data_len as u64) as f64 - fields as f64) / n as f64
}

/// Fills `dir` with `n` small messages ([`FILL_THREADS`] threads, buffered, then one synced
/// store; a naive spool is synced with `syncfs` instead) and returns the store and the fill
/// rate in msgs/s.
pub fn fill(c: Contender, dir: &Path, n: u64) -> (Store, f64) {
    let store = Store::open(c, dir);
    settle(dir);
    let t = Instant::now();
    store_all(&store, n - 1, FILL_THREADS, &SMALL, Durability::Buffered);
    store.store(n - 1, &SMALL, Durability::Sync);
    if let Store::Naive(_) = store {
        settle(dir);
    }
    let rate = n as f64 / t.elapsed().as_secs_f64();
    (store, rate)
}

/// Enumerates every entry of a kumo spool; returns the count.
pub fn kumo_enumerate(spool: &Spool) -> u64 {
    let mut bytes = 0usize;
    let report = spool
        .enumerate(|id, meta| {
            bytes += meta.queue.len();
            black_box((id, meta));
            ControlFlow::Continue(())
        })
        .expect("enumerate");
    black_box(bytes);
    report.entries
}

/// Enumerates every entry of a naive spool; returns the count.
pub fn naive_enumerate(spool: &NaiveSpool) -> u64 {
    let mut bytes = 0usize;
    let n = spool
        .enumerate(|id, meta| {
            bytes += meta.queue.len();
            black_box((id, meta));
        })
        .expect("enumerate");
    black_box(bytes);
    n
}

/// One restart: reopen the spool in `dir` (when `cold`, after evicting `spool.redb` from the
/// page cache) and enumerate it. Returns (reopen ms, entries/s).
pub fn restart(kind: BackendKind, dir: &Path, n: u64, cold: bool) -> (f64, f64) {
    if cold {
        let file = File::open(dir.join("spool.redb")).expect("spool.redb");
        rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed).expect("fadvise");
    }
    let t = Instant::now();
    let spool = Spool::open_with(dir, kind).expect("reopen");
    let reopen_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let found = kumo_enumerate(&spool);
    let rate = n as f64 / t.elapsed().as_secs_f64();
    assert_eq!(found, n, "kumo {kind:?} enumerated {found} of {n}");
    (reopen_ms, rate)
}

/// The naive restart: `readdir` + read + decode; entries/s.
pub fn naive_restart(dir: &Path, n: u64) -> f64 {
    let naive = NaiveSpool::open(dir, false).expect("reopen");
    let t = Instant::now();
    let found = naive_enumerate(&naive);
    let rate = n as f64 / t.elapsed().as_secs_f64();
    assert_eq!(found, n, "naive enumerated {found} of {n}");
    rate
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Deletes every file under `dir` from [`WRITERS`] threads, then the directories. One thread
/// unlinks about 1,500 files/s on the benchmark's VM (the `discard` mount option makes each
/// unlink wait for the device); many at once go about seven times faster.
pub fn remove_tree(dir: &Path) {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                _ => files.push(e.path()),
            }
        }
    }
    let chunk = files.len().div_ceil(WRITERS).max(1);
    std::thread::scope(|s| {
        for part in files.chunks(chunk) {
            s.spawn(move || {
                for f in part {
                    let _ = fs::remove_file(f);
                }
            });
        }
    });
    let _ = fs::remove_dir_all(dir);
}

/// Runs the `spool` area.
///
/// Nothing is deleted before the end (then [`remove_tree`] deletes everything, a few GB at the
/// default size): on an ext4 file system without a journal (this benchmark's VM), creating a
/// file scans past every inode deleted in the last 5 to 35 seconds (`recently_deleted`), so
/// deleting one run's files would slow the next run's creates.
pub fn run(opts: &Options, _alloc: &CountingAlloc, r: &mut Reporter) {
    let n_db = opts.n.unwrap_or(1_000_000).max(1_000);
    let n_files = n_db / 20;
    let n_store = (n_db / 100).max(10 * WRITERS as u64);
    let root = scratch_root();

    // 1. Durable store, contenders interleaved, order rotating per round.
    let mut runs: Vec<Vec<StoreRun>> = vec![Vec::new(); Contender::ALL.len()];
    let mut disk = [0u64; 4];
    let mut allocated = [0u64; 4];
    for round in 0..ROUNDS {
        for k in 0..Contender::ALL.len() {
            let ci = (k + round) % Contender::ALL.len();
            let c = Contender::ALL[ci];
            let dir = root.path().join(format!("store-{round}-{ci}"));
            let run = durable_run(c, &dir, n_store, |s| {
                if round == 0 {
                    disk[ci] = s.disk_bytes();
                    allocated[ci] = allocated_bytes(&dir);
                }
            });
            runs[ci].push(run);
        }
    }
    let median_run: Vec<StoreRun> = runs
        .into_iter()
        .map(|mut v| {
            v.sort_by(|a, b| a.rate.total_cmp(&b.rate));
            v[v.len() / 2]
        })
        .collect();
    let [db, files, fsync, nosync] = [median_run[0], median_run[1], median_run[2], median_run[3]];
    for (name, k) in [("database", db), ("files", files)] {
        let m = format!("durable_store_msgs_per_s_{name}");
        r.peer(&m, n_store, k.rate, NAIVE_FSYNC, fsync.rate, Better::Higher);
        r.peer(
            &m,
            n_store,
            k.rate,
            NAIVE_NOSYNC,
            nosync.rate,
            Better::Higher,
        );
    }
    r.peer(
        "durable_store_msgs_per_s_database",
        n_store,
        db.rate,
        KUMO_FILES,
        files.rate,
        Better::Higher,
    );
    r.solo(
        "durable_store_group_size_database",
        n_store,
        db.group_size,
        Better::Higher,
    );
    r.solo(
        "durable_store_group_size_files",
        n_store,
        files.group_size,
        Better::Higher,
    );
    let naive_over = overhead(disk[3], n_store, DATA_LEN);
    let naive_alloc = overhead(allocated[3], n_store, DATA_LEN);
    for (name, i) in [("database", 0), ("files", 1)] {
        r.peer(
            &format!("spool_overhead_bytes_per_message_{name}"),
            n_store,
            overhead(disk[i], n_store, DATA_LEN),
            NAIVE_FILES,
            naive_over,
            Better::Lower,
        );
        r.peer(
            &format!("spool_allocated_overhead_bytes_per_message_{name}"),
            n_store,
            overhead(allocated[i], n_store, DATA_LEN),
            NAIVE_FILES,
            naive_alloc,
            Better::Lower,
        );
    }

    // 2. Enumeration. Database: n_db entries; restarts warm and cold alternate.
    let dir = root.path().join("enum-database");
    let (store, fill_rate) = fill(Contender::Kumo(BackendKind::Database), &dir, n_db);
    let disk = store.disk_bytes();
    drop(store);
    let (mut reopen, mut warm, mut cold) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let (ms, rate) = restart(BackendKind::Database, &dir, n_db, false);
        reopen.push(ms);
        warm.push(rate);
        cold.push(restart(BackendKind::Database, &dir, n_db, true).1);
    }
    r.solo(
        "fill_buffered_msgs_per_s_database",
        n_db,
        fill_rate,
        Better::Higher,
    );
    r.solo("reopen_ms_database", n_db, median(reopen), Better::Lower);
    r.solo(
        "enumerate_msgs_per_s_database",
        n_db,
        median(warm),
        Better::Higher,
    );
    r.solo(
        "enumerate_msgs_per_s_database_cold",
        n_db,
        median(cold),
        Better::Higher,
    );
    r.solo(
        "spool_overhead_bytes_per_message_small_database",
        n_db,
        overhead(disk, n_db, SMALL_LEN),
        Better::Lower,
    );
    r.solo(
        "spool_allocated_overhead_bytes_per_message_small_database",
        n_db,
        overhead(allocated_bytes(&dir), n_db, SMALL_LEN),
        Better::Lower,
    );

    // Files against the naive spool: n_files entries each, restarts alternating.
    let kdir = root.path().join("enum-files");
    let (store, k_fill) = fill(Contender::Kumo(BackendKind::Files), &kdir, n_files);
    let k_disk = store.disk_bytes();
    drop(store);
    let ndir = root.path().join("enum-naive");
    let (store, n_fill) = fill(Contender::NaiveNosync, &ndir, n_files);
    let n_disk = store.disk_bytes();
    drop(store);
    let (mut reopen, mut kumo, mut naive) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let (ms, rate) = restart(BackendKind::Files, &kdir, n_files, false);
        reopen.push(ms);
        kumo.push(rate);
        naive.push(naive_restart(&ndir, n_files));
    }
    r.peer(
        "fill_buffered_msgs_per_s_files",
        n_files,
        k_fill,
        NAIVE_NOSYNC,
        n_fill,
        Better::Higher,
    );
    r.solo("reopen_ms_files", n_files, median(reopen), Better::Lower);
    r.peer(
        "enumerate_msgs_per_s_files",
        n_files,
        median(kumo),
        NAIVE_READDIR,
        median(naive),
        Better::Higher,
    );
    r.peer(
        "spool_overhead_bytes_per_message_small_files",
        n_files,
        overhead(k_disk, n_files, SMALL_LEN),
        NAIVE_FILES,
        overhead(n_disk, n_files, SMALL_LEN),
        Better::Lower,
    );
    r.peer(
        "spool_allocated_overhead_bytes_per_message_small_files",
        n_files,
        overhead(allocated_bytes(&kdir), n_files, SMALL_LEN),
        NAIVE_FILES,
        overhead(allocated_bytes(&ndir), n_files, SMALL_LEN),
        Better::Lower,
    );
    remove_tree(root.path());
}
