//! The store's unit tests: stand-in and v3 records, roles, formats, damaged and half-made files.

use bytes::Bytes;
use redb::{Database, ReadableDatabase};
use zks_api::ReplayRecord as _;
use zks_api::wire::RecordOverride;
use zks_api::wire::ZksVersion;
use zks_wire::zksync_os::{V3Record, V3RecordBytes};

use super::file::create_initialised;
use super::*;
use crate::files::tests::names;

fn records(range: std::ops::Range<u64>) -> Vec<RawRecord> {
    range
        .map(|b| RawRecord::new(b, format!("block-{b}")))
        .collect()
}

#[tokio::test]
async fn apply_is_atomic_and_contiguous() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbReplayStore::open(dir.path(), Role::ExternalNode).unwrap();
    store.apply(records(0..3)).await.unwrap();
    // A gap in the middle of a batch: nothing of it is stored.
    let mut bad = records(3..5);
    bad.push(RawRecord::new(9, "gap"));
    assert!(store.apply(bad).await.is_err());
    assert_eq!(store.resume_block(), 3);
    // A repeat is refused too.
    assert!(store.apply(records(2..4)).await.is_err());
    let summary = store.summary().unwrap();
    assert_eq!(
        (summary.count, summary.first, summary.last),
        (3, Some(0), Some(2))
    );
    assert!(summary.contiguous);
}

#[tokio::test]
async fn reads_contiguous_with_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbReplayStore::open(dir.path(), Role::MainNode).unwrap();
    store.append(records(0..10)).await.unwrap();
    store
        .set_override(4, b"alt", &RawRecord::new(4, "overridden"))
        .unwrap();
    let overrides: Overrides = [
        RecordOverride {
            block_number: 4,
            db_key: Bytes::from_static(b"alt"),
        },
        RecordOverride {
            block_number: 5,
            db_key: Bytes::from_static(b"missing"),
        },
    ]
    .into_iter()
    .collect();
    let got = store.read(3, 4, &overrides).await.unwrap();
    let payloads: Vec<_> = got.iter().map(|r| r.payload.clone()).collect();
    assert_eq!(
        payloads,
        [
            Bytes::from("block-3"),
            Bytes::from("overridden"),
            Bytes::from("block-5"),
            Bytes::from("block-6")
        ]
    );
    assert_eq!(
        store
            .read(8, 64, &Overrides::default())
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(
        store
            .read(10, 64, &Overrides::default())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn resumes_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = RedbReplayStore::open(dir.path(), Role::ExternalNode).unwrap();
        store.apply(records(0..100)).await.unwrap();
    }
    let store = RedbReplayStore::open(dir.path(), Role::ExternalNode).unwrap();
    assert_eq!(store.resume_block(), 100);
    store.apply(records(100..101)).await.unwrap();
    assert_eq!(store.summary().unwrap().last, Some(100));
    drop(store);
    let any = open_existing(dir.path()).unwrap();
    assert_eq!(any.role(), Role::ExternalNode);
}

#[tokio::test]
async fn a_replica_dir_serves_either_replica_role_never_a_main_node() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = RedbReplayStore::open(dir.path(), Role::ExternalNode).unwrap();
        store.apply(records(0..10)).await.unwrap();
    }
    let relay = RedbReplayStore::open(dir.path(), Role::Relay).unwrap();
    assert_eq!(relay.resume_block(), 10);
    drop(relay);
    assert_eq!(recorded_role(dir.path()).as_deref(), Some("relay"));
    let err = RedbReplayStore::open(dir.path(), Role::MainNode).unwrap_err();
    assert!(
        matches!(&err, StoreError::WrongRole { found, wanted, .. }
            if found == "a relay" && wanted == "a main node"),
        "{err:?}"
    );
    let mn = tempfile::tempdir().unwrap();
    drop(RedbReplayStore::open(mn.path(), Role::MainNode).unwrap());
    assert!(matches!(
        RedbReplayStore::open(mn.path(), Role::Relay),
        Err(StoreError::WrongRole { .. })
    ));
}

#[tokio::test]
async fn overrides_are_held_only_when_every_one_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbReplayStore::open(dir.path(), Role::Relay).unwrap();
    store.apply(records(0..10)).await.unwrap();
    store
        .set_override(3, b"alt", &RawRecord::new(3, "other"))
        .unwrap();
    let ask = |keys: &[(u64, &'static [u8])]| -> Overrides {
        keys.iter()
            .map(|(b, k)| RecordOverride {
                block_number: *b,
                db_key: Bytes::from_static(k),
            })
            .collect()
    };
    assert!(store.holds_overrides(&Overrides::default()));
    assert!(store.holds_overrides(&ask(&[(3, b"alt")])));
    assert!(!store.holds_overrides(&ask(&[(3, b"alt"), (4, b"alt")])));
    assert!(!store.holds_overrides(&ask(&[(3, b"other-key")])));
}

#[tokio::test]
async fn refuses_the_other_role() {
    let dir = tempfile::tempdir().unwrap();
    drop(RedbReplayStore::open(dir.path(), Role::MainNode).unwrap());
    let err = RedbReplayStore::open(dir.path(), Role::ExternalNode).unwrap_err();
    assert!(matches!(err, StoreError::WrongRole { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("belongs to a main node; refusing to open it for an external node")
    );
}

#[tokio::test]
async fn second_open_is_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let _first = RedbReplayStore::open(dir.path(), Role::MainNode).unwrap();
    let err = RedbReplayStore::open(dir.path(), Role::MainNode).unwrap_err();
    assert!(matches!(err, StoreError::InUse { .. }), "{err}");
}

#[tokio::test]
async fn wait_for_is_pushed() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbReplayStore::open(dir.path(), Role::MainNode).unwrap();
    let waiter = {
        let store = store.clone();
        tokio::spawn(async move { store.wait_for(1).await })
    };
    store.append(records(0..1)).await.unwrap();
    tokio::task::yield_now().await;
    assert!(!waiter.is_finished());
    store.append(records(1..2)).await.unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
        .await
        .unwrap()
        .unwrap();
}

/// What an older version's first start left when killed after redb sized the file but
/// before it wrote the magic number: 73,728 zero bytes.
const ZEROED_LEN: usize = 73_728;

/// The role recorded in `dir`'s store, read with redb directly.
fn recorded_role(dir: &Path) -> Option<String> {
    let db = Database::open(dir.join(DB_FILE)).unwrap();
    let txn = db.begin_read().unwrap();
    let meta = txn.open_table(META).unwrap();
    meta.get(ROLE_KEY).unwrap().map(|v| v.value().to_owned())
}

#[tokio::test]
async fn a_new_store_is_complete_when_it_appears() {
    let dir = tempfile::tempdir().unwrap();
    drop(RedbReplayStore::open(dir.path(), Role::ExternalNode).unwrap());
    // No temporary file is left, and the file already carries the role.
    assert_eq!(names(dir.path()), [DB_FILE]);
    assert_eq!(recorded_role(dir.path()).as_deref(), Some("external-node"));
}

#[tokio::test]
async fn a_zeroed_store_file_is_recreated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    std::fs::write(&path, vec![0u8; ZEROED_LEN]).unwrap();
    // Read-only inspection reports it as never initialised, and leaves it alone.
    let err = open_existing(dir.path()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "data dir {} holds no zks store: replay.redb was never initialised \
             (73728 bytes, all zero); a node started on this data dir recreates it",
            dir.path().display()
        )
    );
    assert_eq!(std::fs::read(&path).unwrap(), vec![0u8; ZEROED_LEN]);
    // A node recreates it.
    let store = RedbReplayStore::open(dir.path(), Role::MainNode).unwrap();
    assert_eq!(store.next_block(), 0);
    store.append(records(0..3)).await.unwrap();
    drop(store);
    assert_eq!(names(dir.path()), [DB_FILE]);
    let again = open_existing(dir.path()).unwrap();
    assert_eq!(again.role(), Role::MainNode);
    assert_eq!(again.summary().unwrap().last, Some(2));
}

#[tokio::test]
async fn an_empty_store_file_is_recreated() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(DB_FILE), b"").unwrap();
    let err = open_existing(dir.path()).unwrap_err();
    assert!(
        matches!(&err, StoreError::Uninitialised { why, .. } if why == "the file is empty"),
        "{err}"
    );
    let store = RedbReplayStore::open(dir.path(), Role::ExternalNode).unwrap();
    assert_eq!(store.role(), Role::ExternalNode);
    drop(store);
    assert_eq!(recorded_role(dir.path()).as_deref(), Some("external-node"));
}

#[tokio::test]
async fn a_store_without_tables_is_recreated() {
    // Killed after redb initialised the file, before the first commit: no meta table.
    let dir = tempfile::tempdir().unwrap();
    drop(Database::create(dir.path().join(DB_FILE)).unwrap());
    let err = open_existing(dir.path()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "data dir {} holds no zks store: replay.redb was never initialised \
             (a redb file without tables); a node started on this data dir recreates it",
            dir.path().display()
        )
    );
    let store = RedbReplayStore::open(dir.path(), Role::ExternalNode).unwrap();
    store.apply(records(0..2)).await.unwrap();
    drop(store);
    assert_eq!(recorded_role(dir.path()).as_deref(), Some("external-node"));
    assert_eq!(names(dir.path()), [DB_FILE]);
}

#[tokio::test]
async fn a_store_with_data_but_no_role_is_corrupt_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(RECORDS)
            .unwrap()
            .insert(0, &b"r"[..])
            .unwrap();
        txn.commit().unwrap();
    }
    let want = format!(
        "{} is damaged or not a zks store: it has tables (records) but no meta table; \
         refusing to use it (move it away to start from an empty store)",
        path.display()
    );
    let err = RedbReplayStore::open(dir.path(), Role::ExternalNode).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert_eq!(err.to_string(), want);
    assert_eq!(open_existing(dir.path()).unwrap_err().to_string(), want);
    // The record is still there.
    let db = Database::open(&path).unwrap();
    let txn = db.begin_read().unwrap();
    assert!(txn.open_table(RECORDS).unwrap().get(0).unwrap().is_some());
}

#[tokio::test]
async fn a_store_file_that_is_not_redb_is_corrupt_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    let mut bytes = vec![0u8; ZEROED_LEN];
    bytes[4096] = 1;
    std::fs::write(&path, &bytes).unwrap();
    let err = RedbReplayStore::open(dir.path(), Role::MainNode).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{} is damaged or not a zks store: I/O error: Not a redb database: magic number mismatch; \
             refusing to use it (move it away to start from an empty store)",
            path.display()
        )
    );
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[tokio::test]
async fn a_store_with_an_unknown_role_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::create(dir.path().join(DB_FILE)).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(ROLE_KEY, "archive")
            .unwrap();
        txn.commit().unwrap();
    }
    let err = open_existing(dir.path()).unwrap_err();
    assert!(
        err.to_string()
            .contains("is damaged or not a zks store: unknown role \"archive\""),
        "{err}"
    );
}

#[tokio::test]
async fn a_creation_killed_before_the_rename_leaves_no_store_and_its_temp_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    // A killed creation: initialised under the temporary name, never renamed; and an older
    // leftover with garbage in it.
    let temp = create_initialised(dir.path(), Role::MainNode, RecordFormat::StandIn).unwrap();
    std::fs::write(
        dir.path().join(".replay.redb.tmp-1-0000000000000000"),
        b"junk",
    )
    .unwrap();
    assert!(matches!(
        open_existing(dir.path()).unwrap_err(),
        StoreError::Missing { .. }
    ));
    // The next start ignores both (it makes its own store, of its own role) and removes them.
    let store = RedbReplayStore::open(dir.path(), Role::ExternalNode).unwrap();
    assert_eq!(store.role(), Role::ExternalNode);
    assert!(!temp.exists());
    drop(store);
    assert_eq!(names(dir.path()), [DB_FILE]);
}

// --- ZKsync OS v3 records ---

/// The accepted v3 records of upstream's vectors (`zks5.json` and `zks4.json`), by case.
fn vector_records() -> Vec<(String, Vec<Bytes>)> {
    let files = [
        include_str!("../../tests/vectors/upstream/zks5.json"),
        include_str!("../../tests/vectors/upstream/zks4.json"),
    ];
    let mut out = Vec::new();
    for text in files {
        let cases: Vec<serde_json::Value> = serde_json::from_str(text).unwrap();
        for case in cases {
            let name = case["name"].as_str().unwrap().to_owned();
            if !name.contains("v3 record") || case["expect"] != "accept" {
                continue;
            }
            let frame = hex::decode(case["frame"].as_str().unwrap()).unwrap();
            let frame = zks_api::wire::Frame::from_wire(Bytes::from(frame)).unwrap();
            let zks_api::wire::ZksMessage::BlockReplays(replays) =
                zks_api::wire::ZksMessage::decode(ZksVersion::V5, &frame).unwrap()
            else {
                panic!("{name}: not a BlockReplays");
            };
            out.push((name, replays.records));
        }
    }
    out
}

/// Synthetic records `1..first`, each followed by the next, the last followed by `first`.
fn chain_up_to(first: &V3Record) -> Vec<V3RecordBytes> {
    let mut back = vec![first.synthetic_parent()];
    while back.last().unwrap().block_context.block_number > 1 {
        let parent = back.last().unwrap().synthetic_parent();
        back.push(parent);
    }
    back.iter().rev().map(V3RecordBytes::from).collect()
}

/// Every accepted v3 vector record goes through the store as it is: what is appended (by a
/// main node) or applied (by a replica), stored, read and served is byte-identical, on a
/// chain that starts at block 1.
#[tokio::test]
async fn v3_vector_records_are_stored_read_and_served_byte_for_byte() {
    let cases = vector_records();
    assert_eq!(cases.len(), 4);
    for (name, items) in cases {
        let first = V3Record::decode(ZksVersion::V5, &items[0]).unwrap();
        let mut chain = chain_up_to(&first);
        for item in &items {
            chain.push(V3RecordBytes::decode(ZksVersion::V5, item).unwrap());
        }
        let last = chain.last().unwrap().block_number();
        for role in [Role::MainNode, Role::ExternalNode, Role::Relay] {
            let dir = tempfile::tempdir().unwrap();
            let store = RedbReplayStore::open_chain(dir.path(), role, 270, false).unwrap();
            assert_eq!(store.next_block(), 1, "{name}: genesis is no record");
            store.append(chain.clone()).await.unwrap();
            assert_eq!(store.next_block(), last + 1);
            drop(store);
            // Reopened: the bytes are what was stored, read back without decoding.
            let store = RedbReplayStore::open_chain(dir.path(), role, 270, true).unwrap();
            let read = store.read(1, 64, &Overrides::default()).await.unwrap();
            assert_eq!(read, chain, "{name}");
            let from = first.block_context.block_number;
            let served = store
                .read(from, items.len(), &Overrides::default())
                .await
                .unwrap();
            for (record, item) in served.iter().zip(&items) {
                let mut wire = Vec::new();
                record.encode(ZksVersion::V5, &mut wire);
                assert_eq!(wire, item.as_ref(), "{name}: served bytes");
                wire.clear();
                record.encode(ZksVersion::V4, &mut wire);
                assert_eq!(wire, item.as_ref(), "{name}: served bytes on zks/4");
            }
            let summary = store.summary().unwrap();
            assert_eq!(
                (
                    summary.format,
                    summary.first,
                    summary.last,
                    summary.contiguous
                ),
                (
                    RecordFormat::ZksyncOsV3 { chain_id: 270 },
                    Some(1),
                    Some(last),
                    true
                )
            );
        }
    }
}

/// A replica refuses, atomically, a record of another chain and a record that does not follow
/// the last stored one — across a restart, where the engine has no record to compare with.
#[tokio::test]
async fn a_v3_store_refuses_other_chains_and_forks_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let chain: Vec<V3RecordBytes> = {
        let mut records = vec![V3Record::synthetic(1, 0, 0)];
        for _ in 1..5 {
            let child = records.last().unwrap().synthetic_child();
            records.push(child);
        }
        records.iter().map(V3RecordBytes::from).collect()
    };
    {
        let store = RedbReplayStore::open_chain(dir.path(), Role::ExternalNode, 270, true).unwrap();
        store.apply(chain[..3].to_vec()).await.unwrap();
    }
    let store = RedbReplayStore::open_chain(dir.path(), Role::ExternalNode, 270, true).unwrap();
    assert_eq!(store.next_block(), 4);
    // Block 4 of another history: its window differs from what block 3 says.
    let mut fork = chain[3].to_record().unwrap();
    fork.block_context.block_hashes[100] = zks_wire::zksync_os::U256::from(5);
    let err = store
        .append(vec![V3RecordBytes::from(&fork)])
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "refusing block 4: it does not follow block 3 (its history of earlier blocks differs: \
         another fork)"
    );
    // Block 5 of chain 271, after a good block 4: the batch is refused whole.
    let mut other = chain[4].to_record().unwrap();
    other.block_context.chain_id = 271;
    let err = store
        .append(vec![chain[3].clone(), V3RecordBytes::from(&other)])
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "refusing block 5: the record of block 5 is of chain 271, this store holds chain 270"
    );
    assert_eq!(
        store.next_block(),
        4,
        "nothing of a refused batch is stored"
    );
    store.append(chain[3..].to_vec()).await.unwrap();
    assert_eq!(store.summary().unwrap().last, Some(5));
}

/// A data dir holds one kind of records for good: v3 records of one chain, or stand-ins.
#[tokio::test]
async fn a_data_dir_keeps_its_records_format() {
    let v3 = tempfile::tempdir().unwrap();
    drop(RedbReplayStore::open_chain(v3.path(), Role::Relay, 270, true).unwrap());
    let err = RedbReplayStore::open_chain(v3.path(), Role::Relay, 271, true).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "data dir {} holds ZKsync OS v3 records of chain 270; refusing to open it for \
             ZKsync OS v3 records of chain 271",
            v3.path().display()
        )
    );
    let err = RedbReplayStore::open(v3.path(), Role::Relay).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::WrongRecords {
                found: RecordFormat::ZksyncOsV3 { chain_id: 270 },
                wanted: RecordFormat::StandIn,
                ..
            }
        ),
        "{err:?}"
    );
    let existing = open_existing(v3.path()).unwrap();
    assert_eq!(
        existing.format(),
        RecordFormat::ZksyncOsV3 { chain_id: 270 }
    );
    assert_eq!(existing.next_block(), 1);
    assert_eq!(
        existing.summary().unwrap().to_string(),
        "role: relay\nformat: ZKsync OS v3 records of chain 270\nblocks: none\nrecords: 0\n\
         contiguous: yes"
    );
    drop(existing);
    let stand_in = tempfile::tempdir().unwrap();
    drop(RedbReplayStore::open(stand_in.path(), Role::MainNode).unwrap());
    let err = RedbReplayStore::open_chain(stand_in.path(), Role::MainNode, 270, true).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::WrongRecords {
                found: RecordFormat::StandIn,
                ..
            }
        ),
        "{err:?}"
    );
}

/// A store made before the format was recorded (no `records` key) holds stand-ins.
#[tokio::test]
async fn a_store_without_a_recorded_format_holds_stand_ins() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::create(dir.path().join(DB_FILE)).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(ROLE_KEY, "main-node")
            .unwrap();
        txn.open_table(RECORDS)
            .unwrap()
            .insert(0, &b"payload"[..])
            .unwrap();
        txn.commit().unwrap();
    }
    let store = RedbReplayStore::open(dir.path(), Role::MainNode).unwrap();
    assert_eq!(store.format(), RecordFormat::StandIn);
    assert_eq!(
        store.read(0, 1, &Overrides::default()).await.unwrap(),
        [RawRecord::new(0, "payload")]
    );
}

/// A stored record that is not one (damaged bytes) is never served: the read fails, naming
/// the file and the block.
#[tokio::test]
async fn a_damaged_v3_record_is_not_served() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbReplayStore::open_chain(dir.path(), Role::MainNode, 270, true).unwrap();
    store
        .append(vec![V3RecordBytes::from(V3Record::synthetic(1, 0, 0))])
        .await
        .unwrap();
    {
        let txn = store.inner.db.begin_write().unwrap();
        txn.open_table(RECORDS)
            .unwrap()
            // Its checksum verifies: the bytes are what was written, but no v3 record.
            .insert(1, checksum::seal(1, &[0xc1, 0x80]).as_slice())
            .unwrap();
        txn.commit().unwrap();
    }
    let err = store
        .read_blocking(1, 1, &Overrides::default())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{} is damaged or not a zks store: the record of block 1: invalid replay record: \
             record: not a list holding a block_context list; refusing to use it (move it away \
             to start from an empty store)",
            dir.path().join(DB_FILE).display()
        )
    );
}
