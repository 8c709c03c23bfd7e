//! A store onto a full file system fails with an error that says so (`is_disk_full`); a batch
//! that does not fit is stored not at all; the entries stored before are still there (with the
//! file backend at once; with the database backend once its file can be reopened, which may need
//! space); once space is freed, without a restart, everything loads and stores work again.
//!
//! The full file system is a real one: a 4 MiB tmpfs mounted over a temporary directory (the
//! tests run as root). Where mounting is impossible the test fails when `CI` is set, and says
//! it skipped otherwise.

use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

use kumo_spool::{BackendKind, Durability, Spool, SpoolError, SpoolId};

use crate::support::{self, Mix, on_both_backends};

/// A small tmpfs, unmounted (lazily, so that nothing open can keep it) when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it), or says why it could not.
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// A 4 MiB tmpfs; `None` (after saying so) where mounting is impossible outside CI.
#[allow(clippy::print_stderr, reason = "a skipped test says so on stderr")]
fn small_file_system() -> Option<Tmpfs> {
    match Tmpfs::mount("4m") {
        Ok(fs) => Some(fs),
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!("CI is set and the disk-full test cannot mount its file system: {why}")
        }
        Err(why) => {
            eprintln!("note: skipping the disk-full test outside CI: {why}");
            None
        }
    }
}

on_both_backends!(store_onto_a_full_disk_fails_and_keeps_the_rest);

/// What a load of a stored entry may give while the disk is full: with the file backend, the
/// entry; with the database backend, the entry or a disk-full error (after an I/O error redb
/// must be opened again, and its repair may need the space that is missing).
fn loads_while_full(spool: &Spool, id: SpoolId) {
    let full_ok =
        |e: &SpoolError| spool.backend_kind() == BackendKind::Database && e.is_disk_full();
    match spool.load_data(id) {
        Ok(data) => assert_eq!(data, support::data_for(id), "{id}"),
        Err(e) if full_ok(&e) => {}
        Err(e) => panic!("load_data({id}) on a full disk: {e:?}"),
    }
    match spool.load_meta(id) {
        Ok(meta) => assert_eq!(meta, support::meta_for(id), "{id}"),
        Err(e) if full_ok(&e) => {}
        Err(e) => panic!("load_meta({id}) on a full disk: {e:?}"),
    }
}

/// Exactly `stored` is in the spool, whole, and none of `failed`.
fn holds_exactly(spool: &Spool, stored: &[SpoolId], failed: &[SpoolId]) {
    for &id in stored {
        assert_eq!(spool.load_data(id).unwrap(), support::data_for(id), "{id}");
        assert_eq!(spool.load_meta(id).unwrap(), support::meta_for(id), "{id}");
    }
    for &id in failed {
        assert!(
            matches!(spool.load_meta(id), Err(SpoolError::NotFound(_))),
            "the failed store of {id} left something"
        );
    }
    let (found, report) = support::enumerate_all(spool);
    assert_eq!(found.into_keys().collect::<Vec<_>>(), stored);
    assert_eq!(report.quarantined, 0);
}

fn store_onto_a_full_disk_fails_and_keeps_the_rest(kind: BackendKind) {
    let Some(fs) = small_file_system() else {
        return;
    };
    // Space that the operator frees later on, beside the spool.
    let ballast = fs.path().join("ballast");
    std::fs::write(&ballast, Mix::new(3).bytes(1 << 20)).unwrap();
    let dir = fs.path().join("spool");
    let spool = support::open(&dir, kind);
    let stored: Vec<SpoolId> = (0..20).map(|_| spool.new_id(SystemTime::now())).collect();
    for &id in &stored {
        let meta = support::meta_for(id);
        spool
            .store(id, support::data_for(id), &meta, Durability::Sync)
            .unwrap();
    }

    // Twice the whole file system.
    let big = spool.new_id(SystemTime::now());
    let e = spool
        .store(
            big,
            Mix::new(1).bytes(8 << 20),
            &support::meta_for(big),
            Durability::Sync,
        )
        .expect_err("an 8 MiB store onto a 4 MiB file system");
    assert!(e.is_disk_full(), "not recognised as a full disk: {e:?}");
    assert!(
        matches!(e, SpoolError::Io { .. } | SpoolError::Engine { .. }),
        "{e:?}"
    );
    // The file backend gives the failed store's space back at once: everything loads.
    if kind == BackendKind::Files {
        holds_exactly(&spool, &stored, &[big]);
    }
    for &id in &stored {
        loads_while_full(&spool, id);
    }

    // A batch that does not fit, though each of its messages would: it fails whole.
    let batch: Vec<SpoolId> = (0..20).map(|_| spool.new_id(SystemTime::now())).collect();
    let entries = batch
        .iter()
        .map(|&id| (id, Mix::new(2).bytes(300 << 10), support::meta_for(id)));
    let e = spool
        .store_many(entries, Durability::Sync)
        .expect_err("20 x 300 KiB onto a 4 MiB file system");
    assert!(e.is_disk_full(), "not recognised as a full disk: {e:?}");
    if kind == BackendKind::Files {
        holds_exactly(&spool, &stored, &batch);
    }

    // Space is freed: without a restart, what was stored before loads, none of what failed
    // was stored, and stores work again.
    std::fs::remove_file(&ballast).unwrap();
    let failed: Vec<SpoolId> = batch.iter().copied().chain([big]).collect();
    holds_exactly(&spool, &stored, &failed);
    let small = spool.new_id(SystemTime::now());
    spool
        .store(small, "small", &support::meta_for(small), Durability::Sync)
        .expect("a small store once space is free");
    spool.remove(small, Durability::Sync).unwrap();
    if kind == BackendKind::Database {
        // Both failed in their group commit (the file backend fails them earlier, while the
        // writer writes its temporary files).
        assert_eq!(spool.stats().failed_groups, 2, "{:?}", spool.stats());
    }
    drop(spool);

    let spool = support::open(&dir, kind);
    holds_exactly(&spool, &stored, &failed);
    drop(spool);
    drop(fs);
}
