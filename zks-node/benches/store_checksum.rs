//! What the per-record CRC-32 costs a read: reading 64 records of 9 KiB (a
//! v3 record's size) from a store whose values carry checksums, against the same read from a
//! store made before them (bare values, read unchecked), and the checksum alone.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use redb::{Database, TableDefinition};
use zks_api::{Overrides, RawRecord, Role};
use zks_node::store::{RecordFormat, RedbReplayStore, checksum};

const RECORDS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("records");
const OVERRIDES: TableDefinition<'_, (u64, &[u8]), &[u8]> = TableDefinition::new("overrides");
const META: TableDefinition<'_, &str, &str> = TableDefinition::new("meta");
const BLOCKS: u64 = 1024;
const LEN: usize = 9 * 1024;
const READ: usize = 64;

fn payload(block: u64) -> Vec<u8> {
    (0..LEN).map(|i| (block as usize * 31 + i) as u8).collect()
}

/// A store as a version before checksums made it: no `checksum` in meta, bare values.
fn bare_store(dir: &Path) {
    let db = Database::create(dir.join("replay.redb")).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut meta = txn.open_table(META).unwrap();
        meta.insert("role", "main-node").unwrap();
        txn.open_table(OVERRIDES).unwrap();
        let mut records = txn.open_table(RECORDS).unwrap();
        for block in 0..BLOCKS {
            records.insert(block, payload(block).as_slice()).unwrap();
        }
    }
    txn.commit().unwrap();
}

fn checked_store(dir: &Path) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let store = RedbReplayStore::open(dir, Role::MainNode).unwrap();
    let records = (0..BLOCKS).map(|b| RawRecord::new(b, payload(b))).collect();
    runtime.block_on(store.append(records)).unwrap();
}

fn store_read(c: &mut Criterion) {
    let mut g = c.benchmark_group("store_read_64x9KiB");
    g.throughput(Throughput::Bytes((READ * LEN) as u64));
    let overrides = Overrides::default();
    for (name, make) in [
        ("bare", bare_store as fn(&Path)),
        ("crc32", checked_store as fn(&Path)),
    ] {
        let dir = tempfile::tempdir().unwrap();
        make(dir.path());
        let store: RedbReplayStore<RawRecord> =
            RedbReplayStore::open_format(dir.path(), Role::MainNode, RecordFormat::StandIn, true)
                .unwrap();
        let mut from = 0;
        g.bench_function(name, |b| {
            b.iter(|| {
                let got = store.read_blocking(from, READ, &overrides).unwrap();
                assert_eq!(got.len(), READ);
                from = (from + READ as u64) % (BLOCKS - READ as u64);
                got
            });
        });
    }
    g.finish();

    let mut g = c.benchmark_group("checksum_9KiB");
    g.throughput(Throughput::Bytes(LEN as u64));
    let value = checksum::seal(7, &payload(7));
    g.bench_function("unseal", |b| {
        b.iter(|| checksum::unseal(7, &value).unwrap().len());
    });
    g.finish();
}

criterion_group!(benches, store_read);
criterion_main!(benches);
