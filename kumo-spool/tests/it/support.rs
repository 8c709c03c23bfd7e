//! Shared helpers: the two backends, messages derived from their ids, opening and listing.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use kumo_spool::{BackendKind, EnumerateReport, Metadata, Spool, SpoolId};

/// Generates `mod $name { fn database(); fn files() }`: the behaviour `$name(kind)` run once on
/// each backend, as two tests named `<module>::$name::database` and `<module>::$name::files`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn database() {
                super::$name(kumo_spool::BackendKind::Database);
            }

            #[test]
            fn files() {
                super::$name(kumo_spool::BackendKind::Files);
            }
        }
    )*};
}
pub(crate) use on_both_backends;

/// The backend's name, as passed to a child process.
pub(crate) fn backend_name(kind: BackendKind) -> &'static str {
    match kind {
        BackendKind::Database => "database",
        BackendKind::Files => "files",
        _ => unreachable!("a backend this test suite does not know"),
    }
}

/// The backend named `name` by [`backend_name`].
pub(crate) fn backend_named(name: &str) -> BackendKind {
    match name {
        "database" => BackendKind::Database,
        "files" => BackendKind::Files,
        other => panic!("unknown backend name {other:?}"),
    }
}

/// Opens the spool in `dir` with `kind`, or fails the test saying why.
pub(crate) fn open(dir: &Path, kind: BackendKind) -> Spool {
    Spool::open_with(dir, kind)
        .unwrap_or_else(|e| panic!("open {kind:?} spool in {}: {e:?}", dir.display()))
}

/// Every entry an enumeration hands out, by id (a duplicate fails the test), and the report.
pub(crate) fn enumerate_all(spool: &Spool) -> (BTreeMap<SpoolId, Metadata>, EnumerateReport) {
    let mut found = BTreeMap::new();
    let report = spool
        .enumerate(|id, meta| {
            assert!(found.insert(id, meta).is_none(), "{id} enumerated twice");
            ControlFlow::Continue(())
        })
        .expect("enumerate");
    assert_eq!(report.entries, found.len() as u64, "report.entries");
    (found, report)
}

/// A 64-bit generator (splitmix64): deterministic bytes from a seed.
pub(crate) struct Mix(u64);

impl Mix {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// `len` bytes.
    pub(crate) fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}

fn seed(id: SpoolId) -> u64 {
    let n = id.as_u128();
    (n as u64) ^ ((n >> 64) as u64)
}

/// The data stored under `id` by the tests that must recompute it later (the crash test's
/// parent checks what its child wrote): a header naming the id, then 0 to 3 KiB of
/// pseudo-random binary bytes.
pub(crate) fn data_for(id: SpoolId) -> Vec<u8> {
    let mut mix = Mix::new(seed(id));
    let len = (mix.next() % 3072) as usize;
    let mut data = format!("Message-ID: <{id}@spool.example>\r\n\r\n").into_bytes();
    data.extend_from_slice(&mix.bytes(len));
    data
}

/// The metadata stored under `id` with [`data_for`]: every field set, and which of them vary
/// (recipient count, attempts, due or not) depends on the id.
pub(crate) fn meta_for(id: SpoolId) -> Metadata {
    let mut mix = Mix::new(seed(id) ^ 0x5eed);
    let hex = id.to_string();
    let x = mix.next();
    let created_ms = id
        .created_at()
        .duration_since(UNIX_EPOCH)
        .expect("ids are made after 1970")
        .as_millis() as u64;
    Metadata {
        sender: format!("bounce-{}@example.com", &hex[..12]),
        recipients: (0..1 + x % 4)
            .map(|i| format!("rcpt{i}.{}@example.net", &hex[20..]))
            .collect(),
        queue: format!("tenant-{}:example.net", x % 7),
        attempts: (x % 5) as u32,
        due: (x % 2 == 1)
            .then(|| UNIX_EPOCH + Duration::from_millis(created_ms + mix.next() % 86_400_000)),
        host: id.to_bytes().to_vec().into(),
    }
}
