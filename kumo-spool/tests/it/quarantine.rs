//! Damaged entries are moved to quarantine and counted, never a panic, and the other entries
//! still load.
//!
//! The damage is done behind the spool's back, on its files (truncated and bit-flipped data,
//! truncated and garbage metadata, data deleted, a stray file) or, for the database, on its
//! tables with redb itself. Metadata is checked when the spool is enumerated (at startup), data
//! when it is loaded: enumeration reads every entry's metadata but no data, so an entry whose
//! data is damaged is still enumerated, and quarantined when its data is loaded.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::SystemTime;

use kumo_spool::{BackendKind, CorruptEntry, DecodeError, Durability, SpoolError, SpoolId};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use crate::support::{self, on_both_backends};

/// The database backend's tables, as the spool defines them (key: `SpoolId::as_u128`).
const DATA: TableDefinition<'_, u128, &[u8]> = TableDefinition::new("data");
const META: TableDefinition<'_, u128, &[u8]> = TableDefinition::new("meta");
const QUARANTINE_DATA: TableDefinition<'_, u128, &[u8]> = TableDefinition::new("quarantine_data");
const QUARANTINE_META: TableDefinition<'_, u128, &[u8]> = TableDefinition::new("quarantine_meta");

/// The entries of one test, by what is done to them.
struct Victims {
    truncated_data: SpoolId,
    flipped_data: SpoolId,
    missing_data: SpoolId,
    truncated_meta: SpoolId,
    garbage_meta: SpoolId,
    good: Vec<SpoolId>,
}

impl Victims {
    fn bad_data(&self) -> [SpoolId; 3] {
        [self.truncated_data, self.flipped_data, self.missing_data]
    }

    fn bad_meta(&self) -> [SpoolId; 2] {
        [self.truncated_meta, self.garbage_meta]
    }
}

/// Stores 13 entries in a fresh spool in `dir` and closes it.
fn populate(dir: &Path, kind: BackendKind) -> Victims {
    let spool = support::open(dir, kind);
    let ids: Vec<SpoolId> = (0..13).map(|_| spool.new_id(SystemTime::now())).collect();
    for &id in &ids {
        let meta = support::meta_for(id);
        spool
            .store(id, support::data_for(id), &meta, Durability::Sync)
            .unwrap();
    }
    Victims {
        truncated_data: ids[0],
        flipped_data: ids[3],
        missing_data: ids[5],
        truncated_meta: ids[7],
        garbage_meta: ids[9],
        good: [1, 2, 4, 6, 8, 10, 11, 12].map(|i| ids[i]).to_vec(),
    }
}

const GARBAGE: &[u8] = b"\x01this is not metadata, though it starts like it\n";

/// Damages the file backend's files; returns the stray file's name.
fn damage_files(dir: &Path, v: &Victims) -> &'static str {
    let data = |id: SpoolId| dir.join("data").join(id.to_string());
    let meta = |id: SpoolId| dir.join("meta").join(id.to_string());
    let truncate = |path: &Path| {
        let len = std::fs::metadata(path).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        f.set_len(len / 2).unwrap();
        f.sync_all().unwrap();
    };
    truncate(&data(v.truncated_data));
    let mut bytes = std::fs::read(data(v.flipped_data)).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x10;
    std::fs::write(data(v.flipped_data), bytes).unwrap();
    std::fs::remove_file(data(v.missing_data)).unwrap();
    truncate(&meta(v.truncated_meta));
    std::fs::write(meta(v.garbage_meta), GARBAGE).unwrap();
    let stray = "notes.txt";
    std::fs::write(dir.join("meta").join(stray), "left here by someone\n").unwrap();
    stray
}

/// Damages the database backend's tables through redb.
fn damage_database(dir: &Path, v: &Victims) {
    let db = redb::Database::create(dir.join("spool.redb")).unwrap();
    let tx = db.begin_write().unwrap();
    {
        let mut data = tx.open_table(DATA).unwrap();
        let mut meta = tx.open_table(META).unwrap();
        let value = |t: &redb::Table<'_, u128, &[u8]>, id: SpoolId| -> Vec<u8> {
            t.get(id.as_u128()).unwrap().unwrap().value().to_vec()
        };
        let d = value(&data, v.truncated_data);
        data.insert(v.truncated_data.as_u128(), &d[..d.len() / 2])
            .unwrap();
        let mut d = value(&data, v.flipped_data);
        let last = d.len() - 1;
        d[last] ^= 0x10;
        d[20] ^= 0x01;
        data.insert(v.flipped_data.as_u128(), d.as_slice()).unwrap();
        data.remove(v.missing_data.as_u128()).unwrap();
        let m = value(&meta, v.truncated_meta);
        meta.insert(v.truncated_meta.as_u128(), &m[..m.len() / 2])
            .unwrap();
        meta.insert(v.garbage_meta.as_u128(), GARBAGE).unwrap();
    }
    tx.commit().unwrap();
}

/// The ids in one of the database's tables.
fn table_ids(dir: &Path, table: TableDefinition<'_, u128, &[u8]>) -> BTreeSet<SpoolId> {
    let db = redb::Database::create(dir.join("spool.redb")).unwrap();
    let tx = db.begin_read().unwrap();
    let t = tx.open_table(table).unwrap();
    t.iter()
        .unwrap()
        .map(|row| SpoolId::from_bytes(row.unwrap().0.value().to_be_bytes()))
        .collect()
}

/// The names of the files in `dir`.
fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

on_both_backends!(
    damaged_entries_are_quarantined,
    damaged_metadata_fails_its_load
);

fn damaged_entries_are_quarantined(kind: BackendKind) {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let v = populate(dir, kind);
    let stray = match kind {
        BackendKind::Files => Some(damage_files(dir, &v)),
        _ => {
            damage_database(dir, &v);
            None
        }
    };

    let spool = support::open(dir, kind);
    // Startup: the entries whose metadata is damaged (and the stray file) are quarantined; the
    // others, including those whose data is damaged, are enumerated.
    let (found, report) = support::enumerate_all(&spool);
    let expected: BTreeSet<SpoolId> = v.good.iter().copied().chain(v.bad_data()).collect();
    assert_eq!(found.keys().copied().collect::<BTreeSet<_>>(), expected);
    let stray_count = u64::from(stray.is_some());
    assert_eq!(report.quarantined, 2 + stray_count, "{report:?}");
    assert_eq!(spool.stats().quarantined, 2 + stray_count);
    for id in v.bad_meta() {
        assert!(
            matches!(spool.load_meta(id), Err(SpoolError::NotFound(_))),
            "{id}"
        );
        assert!(
            matches!(spool.load_data(id), Err(SpoolError::NotFound(_))),
            "{id}"
        );
    }

    // Loading a damaged entry's data is an error naming what is wrong, and quarantines it.
    let expect = [
        (v.truncated_data, "DataLength"),
        (v.flipped_data, "DataChecksum"),
        (v.missing_data, "DataMissing"),
    ];
    for (id, what) in expect {
        let e = spool.load_data(id).unwrap_err();
        let SpoolError::Corrupt {
            id: eid,
            what: "data",
            source,
        } = &e
        else {
            panic!("load_data({id}): expected Corrupt data, got {e:?}");
        };
        assert_eq!(*eid, id);
        let ok = match what {
            "DataLength" => matches!(source, CorruptEntry::DataLength { .. }),
            "DataChecksum" => matches!(source, CorruptEntry::DataChecksum),
            _ => matches!(source, CorruptEntry::DataMissing),
        };
        assert!(ok, "load_data({id}): expected {what}, got {source:?}");
        assert!(e.to_string().contains("quarantined"), "{e}");
        // Quarantined: no longer an entry.
        assert!(
            matches!(spool.load_data(id), Err(SpoolError::NotFound(_))),
            "{id}"
        );
        assert!(
            matches!(spool.load_meta(id), Err(SpoolError::NotFound(_))),
            "{id}"
        );
    }
    assert_eq!(spool.stats().quarantined, 5 + stray_count);

    // The good entries are untouched.
    for &id in &v.good {
        assert_eq!(spool.load_data(id).unwrap(), support::data_for(id), "{id}");
        assert_eq!(spool.load_meta(id).unwrap(), support::meta_for(id), "{id}");
    }
    let (found, report) = support::enumerate_all(&spool);
    assert_eq!(found.keys().copied().collect::<Vec<_>>(), v.good);
    assert_eq!(report.quarantined, 0);
    drop(spool);

    // The damaged bytes are kept aside, out of the live spool, for inspection.
    let damaged: BTreeSet<SpoolId> = v.bad_data().into_iter().chain(v.bad_meta()).collect();
    match kind {
        BackendKind::Files => {
            let kept = names(&dir.join("quarantine"));
            for id in &damaged {
                assert!(
                    kept.contains(&format!("{id}.meta")),
                    "{id}.meta not in {kept:?}"
                );
                if *id != v.missing_data {
                    assert!(
                        kept.contains(&format!("{id}.data")),
                        "{id}.data not in {kept:?}"
                    );
                }
            }
            let stray = stray.unwrap();
            assert!(
                kept.iter().any(|n| n.starts_with(stray)),
                "{stray} not in {kept:?}"
            );
            // Two files per damaged entry, but no data for the one whose data was deleted;
            // and the stray file.
            assert_eq!(kept.len(), 2 * damaged.len() - 1 + 1, "{kept:?}");
            let good: BTreeSet<String> = v.good.iter().map(|id| id.to_string()).collect();
            assert_eq!(names(&dir.join("meta")), good);
            assert_eq!(names(&dir.join("data")), good);
        }
        _ => {
            assert_eq!(table_ids(dir, QUARANTINE_META), damaged);
            let with_data: BTreeSet<SpoolId> = damaged
                .iter()
                .copied()
                .filter(|&id| id != v.missing_data)
                .collect();
            assert_eq!(table_ids(dir, QUARANTINE_DATA), with_data);
            let good: BTreeSet<SpoolId> = v.good.iter().copied().collect();
            assert_eq!(table_ids(dir, META), good);
            assert_eq!(table_ids(dir, DATA), good);
        }
    }

    // And they stay out after a restart.
    let spool = support::open(dir, kind);
    let (found, report) = support::enumerate_all(&spool);
    assert_eq!(found.keys().copied().collect::<Vec<_>>(), v.good);
    assert_eq!(report.quarantined, 0);
}

/// Loading damaged metadata directly (before any enumeration) is an error too, and quarantines
/// the entry.
fn damaged_metadata_fails_its_load(kind: BackendKind) {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let v = populate(dir, kind);
    match kind {
        BackendKind::Files => {
            damage_files(dir, &v);
        }
        _ => damage_database(dir, &v),
    }
    let spool = support::open(dir, kind);
    for id in v.bad_meta() {
        let e = spool.load_meta(id).unwrap_err();
        assert!(
            matches!(
                &e,
                SpoolError::Corrupt {
                    what: "metadata",
                    source: CorruptEntry::Metadata(DecodeError::Checksum { .. }),
                    ..
                }
            ),
            "load_meta({id}): {e:?}"
        );
        assert!(
            matches!(spool.load_meta(id), Err(SpoolError::NotFound(_))),
            "{id}"
        );
    }
    assert_eq!(spool.stats().quarantined, 2);
    let (found, _) = support::enumerate_all(&spool);
    assert!(v.bad_meta().iter().all(|id| !found.contains_key(id)));
    assert!(v.good.iter().all(|id| found.contains_key(id)));
}
