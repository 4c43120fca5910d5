//! Damage to `replay.redb`: bytes flipped in a record, in the B-tree's
//! branch pages (the index), in the header, and the file truncated. What redb itself finds,
//! and what the record checksums catch; in every case the store never hands out a record
//! that differs from what was stored.

use std::path::PathBuf;

use redb::{Database, ReadableDatabase};
use zks_api::ReplayRecord as _;

use super::*;

const PAGE: usize = 4096;
const BLOCKS: u64 = 200;

/// Block `b`'s payload: a marker naming the block, repeated (~560 bytes).
fn payload(b: u64) -> String {
    format!("RECORD-{b:06}-").repeat(40)
}

fn marker(b: u64) -> Vec<u8> {
    format!("RECORD-{b:06}-").into_bytes()
}

/// A closed main-node store of blocks `0..BLOCKS` (one commit per 10 blocks); its file.
async fn made(dir: &Path) -> PathBuf {
    let store = RedbReplayStore::open(dir, Role::MainNode).unwrap();
    for first in (0..BLOCKS).step_by(10) {
        let records = (first..first + 10)
            .map(|b| RawRecord::new(b, payload(b)))
            .collect();
        store.append(records).await.unwrap();
    }
    dir.join(DB_FILE)
}

/// Flips one bit inside every copy of block `b`'s marker in `file` (redb copies pages on
/// write, so older copies may linger in free pages); how many copies there were.
fn flip_record(file: &Path, b: u64) -> usize {
    let mut bytes = std::fs::read(file).unwrap();
    let needle = marker(b);
    let hits: Vec<usize> = bytes
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle.as_slice())
        .map(|(i, _)| i)
        .collect();
    for &at in &hits {
        bytes[at + 3] ^= 0x01; // "RECORD" -> "RECNRD"
    }
    std::fs::write(file, bytes).unwrap();
    hits.len()
}

/// Every record `read` hands out from 0 on, in one call: `Err` or records identical to the
/// stored ones, contiguous from 0.
async fn served(store: &RedbReplayStore) -> Result<Vec<u64>, String> {
    let got = store
        .read(0, BLOCKS as usize + 10, &Overrides::default())
        .await
        .map_err(|e| e.to_string())?;
    for (i, record) in got.iter().enumerate() {
        assert_eq!(record.block_number(), i as u64);
        assert_eq!(
            &record.payload[..],
            payload(i as u64).as_bytes(),
            "a damaged record served"
        );
    }
    Ok(got.iter().map(|r| r.block_number).collect())
}

#[tokio::test]
async fn a_flipped_byte_in_a_record_is_caught_by_its_checksum_and_never_served() {
    let dir = tempfile::tempdir().unwrap();
    let file = made(dir.path()).await;
    assert!(flip_record(&file, 120) >= 1);
    // redb does not notice: its page checksums are checked on repair only.
    let store = RedbReplayStore::open(dir.path(), Role::MainNode).unwrap();
    // The records before the damaged one are served; the damaged one is an error.
    assert_eq!(served(&store).await, Ok((0..120).collect()));
    let err = store
        .read_blocking(120, 10, &Overrides::default())
        .unwrap_err()
        .to_string();
    let want = format!(
        "{} is damaged or not a zks store: the record of block 120 fails its checksum",
        file.display()
    );
    assert!(err.starts_with(&want), "{err}");
    assert!(err.contains("its bytes were changed on disk"), "{err}");
    assert_eq!(store.summary().unwrap().damaged, [120]);
    assert!(
        store
            .summary()
            .unwrap()
            .to_string()
            .ends_with("\ndamaged: 1 record(s) fail their checksum, the first of block 120")
    );
    // The chain still grows: the damage is behind its end.
    store
        .append(vec![RawRecord::new(BLOCKS, payload(BLOCKS))])
        .await
        .unwrap();
}

#[tokio::test]
async fn a_damaged_last_record_refuses_the_start_naming_the_file_and_the_block() {
    let dir = tempfile::tempdir().unwrap();
    let file = made(dir.path()).await;
    assert!(flip_record(&file, BLOCKS - 1) >= 1);
    let err = RedbReplayStore::open(dir.path(), Role::MainNode).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    let err = err.to_string();
    assert!(
        err.starts_with(&format!(
            "{} is damaged or not a zks store: the record of block {} fails its checksum",
            file.display(),
            BLOCKS - 1
        )),
        "{err}"
    );
    assert!(
        err.ends_with("(move it away to start from an empty store)"),
        "{err}"
    );
}

#[tokio::test]
async fn a_damaged_header_refuses_the_start_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = made(dir.path()).await;
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[..9].copy_from_slice(b"not-redb!");
    std::fs::write(&file, bytes).unwrap();
    let err = RedbReplayStore::open(dir.path(), Role::MainNode)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!(
            "{} is damaged or not a zks store: ",
            file.display()
        )),
        "{err}"
    );
}

/// The page-aligned offsets of the file's B-tree branch pages (type byte 2): the index above
/// the leaves.
fn branch_pages(bytes: &[u8]) -> Vec<usize> {
    (PAGE..bytes.len())
        .step_by(PAGE)
        .filter(|&at| bytes[at] == 2)
        .collect()
}

#[tokio::test]
async fn damaged_index_pages_never_yield_a_wrong_record() {
    let dir = tempfile::tempdir().unwrap();
    let file = made(dir.path()).await;
    let clean = std::fs::read(&file).unwrap();
    let branches = branch_pages(&clean);
    assert!(
        !branches.is_empty(),
        "200 records of 560 bytes need branch pages"
    );
    let mut outcomes = Vec::new();
    // Each branch page in turn: everything after its header garbled (child checksums, child
    // page numbers, keys).
    for &at in &branches {
        let mut bytes = clean.clone();
        for b in &mut bytes[at + 8..at + PAGE] {
            *b ^= 0x5a;
        }
        std::fs::write(&file, &bytes).unwrap();
        let outcome = match RedbReplayStore::open(dir.path(), Role::MainNode) {
            Err(e) => format!("refused at open: {e}"),
            Ok(store) => match served(&store).await {
                Ok(blocks) if blocks.len() as u64 == BLOCKS => "unaffected".to_owned(),
                Ok(blocks) => format!("served the first {} blocks, then stopped", blocks.len()),
                Err(e) => format!("read failed: {e}"),
            },
        };
        outcomes.push(format!("branch page at {at}: {outcome}"));
    }
    println!("{}", outcomes.join("\n"));
    // The live ones are found (the others are older copies, free since).
    assert!(
        outcomes.iter().any(|o| o.contains(": refused at open: ")),
        "{outcomes:#?}"
    );
}

#[tokio::test]
async fn a_truncated_file_never_yields_a_wrong_record() {
    let dir = tempfile::tempdir().unwrap();
    let file = made(dir.path()).await;
    let clean = std::fs::read(&file).unwrap();
    let mut outcomes = Vec::new();
    for cut in [1, 100, PAGE, 8 * PAGE, clean.len() / 2] {
        std::fs::write(&file, &clean[..clean.len() - cut]).unwrap();
        let outcome = match RedbReplayStore::open(dir.path(), Role::MainNode) {
            Err(e) => format!("refused at open: {e}"),
            Ok(store) => match served(&store).await {
                Ok(blocks) if blocks.len() as u64 == BLOCKS => "unaffected".to_owned(),
                Ok(blocks) => format!("served the first {} blocks, then stopped", blocks.len()),
                Err(e) => format!("read failed: {e}"),
            },
        };
        outcomes.push(format!("{cut} bytes cut from {}: {outcome}", clean.len()));
    }
    println!("{}", outcomes.join("\n"));
}

#[tokio::test]
async fn a_store_made_before_checksums_is_read_unchecked_and_stays_bare() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut meta = txn.open_table(META).unwrap();
            meta.insert(ROLE_KEY, "main-node").unwrap();
            txn.open_table(OVERRIDES).unwrap();
            let mut records = txn.open_table(RECORDS).unwrap();
            records.insert(0, &b"bare-0"[..]).unwrap();
        }
        txn.commit().unwrap();
    }
    let store = RedbReplayStore::open(dir.path(), Role::MainNode).unwrap();
    store
        .append(vec![RawRecord::new(1, "bare-1")])
        .await
        .unwrap();
    let got = store.read_blocking(0, 5, &Overrides::default()).unwrap();
    assert_eq!(
        got,
        vec![RawRecord::new(0, "bare-0"), RawRecord::new(1, "bare-1")]
    );
    drop(store);
    let db = Database::open(&path).unwrap();
    let txn = db.begin_read().unwrap();
    let records = txn.open_table(RECORDS).unwrap();
    assert_eq!(records.get(1).unwrap().unwrap().value(), b"bare-1");
    // A new store's values carry the checksum.
    let dir = tempfile::tempdir().unwrap();
    let store = RedbReplayStore::open(dir.path(), Role::MainNode).unwrap();
    store.append(vec![RawRecord::new(0, "x")]).await.unwrap();
    drop(store);
    let db = Database::open(dir.path().join(DB_FILE)).unwrap();
    let txn = db.begin_read().unwrap();
    let records = txn.open_table(RECORDS).unwrap();
    assert_eq!(
        records.get(0).unwrap().unwrap().value(),
        checksum::seal(0, b"x").as_slice()
    );
}
