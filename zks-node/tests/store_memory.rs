//! A store's memory does not grow with its size: redb keeps a page cache of its own (1 GiB by
//! default), and a node's resident memory grew toward it as the chain grew (the soak measured
//! +250 % RSS over 45 minutes on every node). The store caps that cache at
//! `store::CACHE_BYTES`. Each nextest test runs in its own process, so the RSS read here is
//! this test's.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use zks_api::{RawRecord, ReplaySource as _, Role};
use zks_node::store::{CACHE_BYTES, RedbReplayStore};

const MIB: usize = 1 << 20;
const RECORD: usize = 64 * 1024;

fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// Appends blocks `from..to` (64 KiB each, 64 per transaction), then reads them back.
async fn write_and_read(store: &RedbReplayStore, from: u64, to: u64) {
    let mut next = from;
    while next < to {
        let batch: Vec<RawRecord> = (next..(next + 64).min(to))
            .map(|b| RawRecord::new(b, vec![(b % 251) as u8; RECORD]))
            .collect();
        next += batch.len() as u64;
        store.append(batch).await.unwrap();
    }
    let mut at = from;
    while at < to {
        let read = store.read(at, 64, &Default::default()).await.unwrap();
        assert_eq!(read.first().map(|r| r.block_number), Some(at));
        at += read.len() as u64;
    }
}

/// Twice the cache written and read, then twice the cache again: the second round adds less
/// than the cache to resident memory (the cache is full and evicts; measured 0–49 MiB, the
/// allocator's arenas vary). Uncapped, a round added about twice what it stored (401 MiB for
/// 192 MiB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_twice_as_big_costs_no_more_memory() {
    let round = (2 * CACHE_BYTES / RECORD) as u64;
    let dir = tempfile::tempdir().unwrap();
    let store = RedbReplayStore::open(dir.path(), Role::MainNode).unwrap();
    write_and_read(&store, 0, round).await;
    let warm = resident_bytes();
    write_and_read(&store, round, 2 * round).await;
    let grown = resident_bytes().saturating_sub(warm);
    assert!(
        grown < CACHE_BYTES,
        "RSS grew {} MiB while the store grew by {} MiB (cache {} MiB)",
        grown / MIB,
        2 * CACHE_BYTES / MIB,
        CACHE_BYTES / MIB
    );
}
