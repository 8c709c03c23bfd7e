//! Data and metadata come back as they were stored, after the spool is closed and opened again;
//! metadata updates leave the data alone; removal and unknown ids are `NotFound`.

use std::sync::{Arc, Barrier};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kumo_spool::{BackendKind, Durability, Metadata, SpoolError, SpoolId};

use crate::support::{self, Mix, on_both_backends};

on_both_backends!(
    data_and_metadata_survive_reopen,
    update_meta_rewrites_metadata_only,
    remove_makes_it_not_found,
    unknown_id_is_not_found,
    buffered_writes_survive_a_clean_close,
    update_racing_remove_leaves_nothing,
    store_many_round_trip,
    remove_many_removes_them_all,
);

fn unicode_meta() -> Metadata {
    Metadata {
        sender: "jörg.müller@bücher.example".into(),
        recipients: vec![
            "用户@例子.广告".into(),
            "δοκιμή@παράδειγμα.δοκιμή".into(),
            "postmaster@[192.0.2.1]".into(),
            "\"quoted local\"@example.net".into(),
            "emoji-📬@example.org".into(),
        ],
        queue: "campaign-7:tenant-3@bücher.example".into(),
        attempts: u32::MAX,
        due: Some(UNIX_EPOCH + Duration::from_millis(1_733_000_000_123)),
        host: vec![0, 0xff, 0x80, b'\r', b'\n', 0x7f].into(),
    }
}

fn many_recipients_meta() -> Metadata {
    Metadata {
        sender: "news@example.com".into(),
        recipients: (0..5_000)
            .map(|i| format!("user{i}@domain{}.example", i % 97))
            .collect(),
        queue: "example.net".into(),
        attempts: 3,
        due: None,
        host: vec![7; 4096].into(),
    }
}

fn data_and_metadata_survive_reopen(kind: BackendKind) {
    let dir = tempfile::tempdir().unwrap();
    let every_byte: Vec<u8> = (0..=255u8).cycle().take(256 * 5 + 3).collect();
    let mib = Mix::new(42).bytes(1 << 20);
    let cases: Vec<(Vec<u8>, Metadata)> = vec![
        (every_byte, unicode_meta()),
        (Vec::new(), Metadata::default()),
        (mib, many_recipients_meta()),
        (
            b"Subject: dot\r\n\r\n.\r\n".to_vec(),
            Metadata {
                recipients: vec![String::new()],
                due: Some(UNIX_EPOCH),
                ..Metadata::default()
            },
        ),
    ];
    let spool = support::open(dir.path(), kind);
    let mut ids = Vec::new();
    for (data, meta) in &cases {
        let id = spool.new_id(SystemTime::now());
        spool
            .store(id, data.clone(), meta, Durability::Sync)
            .unwrap();
        ids.push(id);
    }
    let stats = spool.stats();
    assert_eq!(stats.stored, cases.len() as u64);
    assert!(stats.bytes_written >= (1 << 20), "{stats:?}");
    drop(spool);

    let spool = support::open(dir.path(), kind);
    assert_eq!(spool.backend_kind(), kind);
    for (id, (data, meta)) in ids.iter().zip(&cases) {
        assert_eq!(spool.load_data(*id).unwrap(), &data[..], "data of {id}");
        assert_eq!(&spool.load_meta(*id).unwrap(), meta, "metadata of {id}");
    }
    let (found, report) = support::enumerate_all(&spool);
    assert_eq!(report.quarantined, 0);
    let expected: Vec<(SpoolId, Metadata)> = ids
        .iter()
        .copied()
        .zip(cases.into_iter().map(|c| c.1))
        .collect();
    assert_eq!(found.into_iter().collect::<Vec<_>>(), expected);
}

/// A due time is kept to the millisecond: what is below is dropped, not rounded.
#[test]
fn due_is_kept_to_the_millisecond() {
    for kind in [BackendKind::Database, BackendKind::Files] {
        let dir = tempfile::tempdir().unwrap();
        let spool = support::open(dir.path(), kind);
        let id = spool.new_id(SystemTime::now());
        let meta = Metadata {
            due: Some(UNIX_EPOCH + Duration::new(1_733_000_000, 123_999_999)),
            ..Metadata::default()
        };
        spool.store(id, "x", &meta, Durability::Sync).unwrap();
        assert_eq!(
            spool.load_meta(id).unwrap().due,
            Some(UNIX_EPOCH + Duration::from_millis(1_733_000_000_123)),
            "{kind:?}"
        );
    }
}

fn update_meta_rewrites_metadata_only(kind: BackendKind) {
    let dir = tempfile::tempdir().unwrap();
    let spool = support::open(dir.path(), kind);
    let data = Mix::new(7).bytes(64 << 10);
    let id = spool.new_id(SystemTime::now());
    let first = unicode_meta();
    spool
        .store(id, data.clone(), &first, Durability::Sync)
        .unwrap();
    let data_file = dir.path().join("data").join(id.to_string());
    let raw_before = (kind == BackendKind::Files).then(|| std::fs::read(&data_file).unwrap());

    let second = Metadata {
        attempts: 1,
        due: Some(UNIX_EPOCH + Duration::from_millis(1_733_000_600_000)),
        recipients: vec!["用户@例子.广告".into()],
        ..first.clone()
    };
    spool.update_meta(id, &second, Durability::Sync).unwrap();
    assert_eq!(spool.load_meta(id).unwrap(), second);
    assert_eq!(spool.load_data(id).unwrap(), &data[..]);

    // The last update is buffered: a clean close still keeps it.
    let third = Metadata {
        attempts: 2,
        due: None,
        queue: "rebound.example".into(),
        ..second
    };
    spool.update_meta(id, &third, Durability::Buffered).unwrap();
    let stats = spool.stats();
    assert_eq!((stats.stored, stats.updated), (1, 2), "{stats:?}");
    drop(spool);

    let spool = support::open(dir.path(), kind);
    assert_eq!(spool.load_meta(id).unwrap(), third);
    assert_eq!(spool.load_data(id).unwrap(), &data[..]);
    if let Some(raw_before) = raw_before {
        assert_eq!(
            std::fs::read(&data_file).unwrap(),
            raw_before,
            "the data file was rewritten"
        );
    }
    let (found, _) = support::enumerate_all(&spool);
    assert_eq!(found.into_iter().collect::<Vec<_>>(), [(id, third)]);
}

fn remove_makes_it_not_found(kind: BackendKind) {
    let dir = tempfile::tempdir().unwrap();
    let spool = support::open(dir.path(), kind);
    let ids: Vec<SpoolId> = (0..3).map(|_| spool.new_id(SystemTime::now())).collect();
    for &id in &ids {
        spool
            .store(
                id,
                support::data_for(id),
                &support::meta_for(id),
                Durability::Sync,
            )
            .unwrap();
    }
    let gone = ids[1];
    spool.remove(gone, Durability::Sync).unwrap();
    assert!(matches!(spool.load_data(gone), Err(SpoolError::NotFound(i)) if i == gone));
    assert!(matches!(spool.load_meta(gone), Err(SpoolError::NotFound(i)) if i == gone));
    assert!(matches!(
        spool.update_meta(gone, &Metadata::default(), Durability::Sync),
        Err(SpoolError::NotFound(i)) if i == gone
    ));
    // Removing it again is not an error.
    spool.remove(gone, Durability::Sync).unwrap();
    let (found, _) = support::enumerate_all(&spool);
    assert_eq!(found.keys().copied().collect::<Vec<_>>(), [ids[0], ids[2]]);
    assert_eq!(spool.stats().removed, 2);
    drop(spool);

    let spool = support::open(dir.path(), kind);
    assert!(matches!(
        spool.load_data(gone),
        Err(SpoolError::NotFound(_))
    ));
    let (found, report) = support::enumerate_all(&spool);
    assert_eq!(found.keys().copied().collect::<Vec<_>>(), [ids[0], ids[2]]);
    assert_eq!(report.quarantined, 0);
    for id in [ids[0], ids[2]] {
        assert_eq!(spool.load_data(id).unwrap(), support::data_for(id));
    }
    if kind == BackendKind::Files {
        for sub in ["data", "meta"] {
            assert!(
                !dir.path().join(sub).join(gone.to_string()).exists(),
                "{sub}/{gone}"
            );
        }
    }
}

fn unknown_id_is_not_found(kind: BackendKind) {
    let dir = tempfile::tempdir().unwrap();
    let spool = support::open(dir.path(), kind);
    let known = spool.new_id(SystemTime::now());
    spool
        .store(known, "x", &Metadata::default(), Durability::Sync)
        .unwrap();
    let unknown = spool.new_id(SystemTime::now());
    let e = spool
        .update_meta(unknown, &unicode_meta(), Durability::Sync)
        .unwrap_err();
    assert!(
        matches!(e, SpoolError::NotFound(i) if i == unknown),
        "{e:?}"
    );
    assert!(e.to_string().contains(&unknown.to_string()), "{e}");
    assert!(matches!(
        spool.load_meta(unknown),
        Err(SpoolError::NotFound(_))
    ));
    assert!(matches!(
        spool.load_data(unknown),
        Err(SpoolError::NotFound(_))
    ));
    // The failed update created nothing.
    let (found, _) = support::enumerate_all(&spool);
    assert_eq!(found.keys().copied().collect::<Vec<_>>(), [known]);
    assert_eq!(spool.stats().updated, 0);
}

fn buffered_writes_survive_a_clean_close(kind: BackendKind) {
    let dir = tempfile::tempdir().unwrap();
    let spool = support::open(dir.path(), kind);
    // 25 groups: fewer than the 64 buffered groups after which the spool syncs anyway.
    let ids: Vec<SpoolId> = (0..20).map(|_| spool.new_id(SystemTime::now())).collect();
    for &id in &ids {
        let meta = support::meta_for(id);
        spool
            .store(id, support::data_for(id), &meta, Durability::Buffered)
            .unwrap();
    }
    for &id in &ids[..5] {
        spool.remove(id, Durability::Buffered).unwrap();
    }
    let stats = spool.stats();
    assert_eq!(stats.syncs, 0, "nothing asked for a sync: {stats:?}");
    drop(spool);

    let spool = support::open(dir.path(), kind);
    let (found, _) = support::enumerate_all(&spool);
    assert_eq!(found.keys().copied().collect::<Vec<_>>(), ids[5..]);
    for &id in &ids[5..] {
        assert_eq!(spool.load_data(id).unwrap(), support::data_for(id));
        assert_eq!(spool.load_meta(id).unwrap(), support::meta_for(id));
    }
}

/// A metadata update racing a removal of the same message: whichever commits first, once both
/// have returned the message is gone, and no metadata is left behind without its data.
fn update_racing_remove_leaves_nothing(kind: BackendKind) {
    let dir = tempfile::tempdir().unwrap();
    let spool = Arc::new(support::open(dir.path(), kind));
    let rounds = 200;
    let ids: Vec<SpoolId> = (0..rounds)
        .map(|_| spool.new_id(SystemTime::now()))
        .collect();
    for &id in &ids {
        spool
            .store(id, "data", &Metadata::default(), Durability::Buffered)
            .unwrap();
    }
    let start = Arc::new(Barrier::new(2));
    let updater = {
        let (spool, start, ids) = (spool.clone(), start.clone(), ids.clone());
        std::thread::spawn(move || {
            let meta = Metadata {
                attempts: 1,
                ..Metadata::default()
            };
            for id in ids {
                start.wait();
                match spool.update_meta(id, &meta, Durability::Buffered) {
                    Ok(()) | Err(SpoolError::NotFound(_)) => {}
                    Err(e) => panic!("update {id}: {e:?}"),
                }
            }
        })
    };
    for &id in &ids {
        start.wait();
        spool.remove(id, Durability::Buffered).unwrap();
    }
    updater.join().unwrap();
    for &id in &ids {
        assert!(
            matches!(spool.load_meta(id), Err(SpoolError::NotFound(_))),
            "{id}: metadata outlived the removal"
        );
    }
    let (found, report) = support::enumerate_all(&spool);
    assert_eq!((found.len(), report.quarantined), (0, 0));
}

fn store_many_round_trip(kind: BackendKind) {
    let dir = tempfile::tempdir().unwrap();
    let spool = support::open(dir.path(), kind);
    let ids: Vec<SpoolId> = (0..100).map(|_| spool.new_id(SystemTime::now())).collect();
    let entries = ids
        .iter()
        .map(|&id| (id, support::data_for(id), support::meta_for(id)));
    spool.store_many(entries, Durability::Sync).unwrap();
    // An empty batch is no error and stores nothing.
    spool
        .store_many(Vec::<(SpoolId, Vec<u8>, Metadata)>::new(), Durability::Sync)
        .unwrap();
    assert_eq!(spool.stats().stored, 100);
    drop(spool);

    let spool = support::open(dir.path(), kind);
    for &id in &ids {
        assert_eq!(spool.load_data(id).unwrap(), support::data_for(id), "{id}");
        assert_eq!(spool.load_meta(id).unwrap(), support::meta_for(id), "{id}");
    }
    let (found, _) = support::enumerate_all(&spool);
    assert_eq!(found.into_keys().collect::<Vec<_>>(), ids);
}

fn remove_many_removes_them_all(kind: BackendKind) {
    let dir = tempfile::tempdir().unwrap();
    let spool = support::open(dir.path(), kind);
    let ids: Vec<SpoolId> = (0..10).map(|_| spool.new_id(SystemTime::now())).collect();
    let entries = ids
        .iter()
        .map(|&id| (id, support::data_for(id), support::meta_for(id)));
    spool.store_many(entries, Durability::Sync).unwrap();
    let groups = spool.stats().groups;
    // Every other one, and an id that was never stored (not an error).
    let never = spool.new_id(SystemTime::now());
    let gone: Vec<SpoolId> = ids.iter().copied().step_by(2).chain([never]).collect();
    spool.remove_many(gone.clone(), Durability::Sync).unwrap();
    let stats = spool.stats();
    assert_eq!(stats.groups, groups + 1, "one group commit: {stats:?}");
    assert_eq!(stats.removed, gone.len() as u64, "{stats:?}");
    drop(spool);

    let spool = support::open(dir.path(), kind);
    for &id in &gone {
        assert!(
            matches!(spool.load_meta(id), Err(SpoolError::NotFound(_))),
            "{id}"
        );
        assert!(
            matches!(spool.load_data(id), Err(SpoolError::NotFound(_))),
            "{id}"
        );
    }
    let kept: Vec<SpoolId> = ids.iter().copied().skip(1).step_by(2).collect();
    let (found, _) = support::enumerate_all(&spool);
    assert_eq!(found.into_keys().collect::<Vec<_>>(), kept);
    for &id in &kept {
        assert_eq!(spool.load_data(id).unwrap(), support::data_for(id), "{id}");
    }
}
