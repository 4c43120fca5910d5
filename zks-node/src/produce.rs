//! Synthetic blocks for a main node that has no chain of its own to serve (`--produce-blocks`
//! and the demo): [`Produce`] makes the record of a new block in each record format, and
//! [`produce`] appends them at a rate.
//!
//! A ZKsync OS main node's records come out of its sequencer; the binary has none, so what it
//! produces is synthetic but shaped as upstream's (see [`synthetic_v3`]): an external node or
//! relay of ours, or an upstream one, decodes and chains them as real records.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::watch;
use zks_api::{BlockNumber, RawRecord};
use zks_devp2p::eth::ChainIdentity;
use zks_wire::zksync_os::{U256, V3Record, V3RecordBytes};

use crate::CliError;
use crate::store::{RecordFormat, RedbReplayStore, StoredRecord};

/// Microseconds since the Unix epoch.
pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// A record type the binary can produce synthetic blocks of.
pub trait Produce: StoredRecord {
    /// The record of `block` in a store of `format`, produced at `now` (µs since the epoch),
    /// after `previous` (the record of the block before, if there is one).
    fn produce(format: RecordFormat, block: BlockNumber, previous: Option<&Self>, now: u64)
    -> Self;
}

/// Stand-ins carry [`synthetic_payload`]: 128 bytes starting with the production time.
impl Produce for RawRecord {
    fn produce(_: RecordFormat, block: BlockNumber, _: Option<&Self>, now: u64) -> Self {
        Self::new(block, synthetic_payload(block, now))
    }
}

/// v3 records are [`synthetic_v3`] records of the store's chain, timestamped `now`.
impl Produce for V3RecordBytes {
    fn produce(
        format: RecordFormat,
        block: BlockNumber,
        previous: Option<&Self>,
        now: u64,
    ) -> Self {
        let chain_id = format.chain_id().unwrap_or_default();
        let previous_timestamp = previous
            .and_then(|p| p.to_record().ok())
            .map_or(0, |p| p.block_context.timestamp);
        let timestamp = (now / 1_000_000).max(previous_timestamp);
        Self::from(synthetic_v3(chain_id, block, timestamp, previous_timestamp))
    }
}

/// A synthetic v3 record of block `block` of ZKsync OS chain `chain_id`, as the binary's main
/// node produces them.
///
/// Shaped as upstream's: chain id, protocol version `[0, 31, 0]` (execution version 6), two
/// 120-byte EIP-1559-typed stand-in transactions (not signed transactions), fees and limits of
/// a local chain (about 9 KiB in all). Its 256-hash window is one chain's: slots of blocks
/// before 0 are zero, block 0's is the chain's genesis hash (the hash reth's Status carries for
/// the chain, `upstream.md` §7), and every later block's hash is a deterministic stand-in, which
/// is also that block's `block_output_hash`. So consecutive records
/// [follow](zks_api::ReplayRecord::follows) each other, and every node computes the same chain.
/// `timestamp` is the block's (seconds), `previous_timestamp` its parent's.
pub fn synthetic_v3(
    chain_id: u64,
    block: BlockNumber,
    timestamp: u64,
    previous_timestamp: u64,
) -> V3Record {
    let mut record = V3Record::synthetic(block, 2, 120);
    let genesis = U256::from_be_bytes(ChainIdentity::zksync_os(chain_id).genesis);
    for (back, slot) in (1u64..).zip(record.block_context.block_hashes.iter_mut().rev()) {
        match block.checked_sub(back) {
            None => *slot = U256::ZERO,
            Some(0) => *slot = genesis,
            Some(_) => {}
        }
    }
    record.block_context.chain_id = chain_id;
    record.block_context.timestamp = timestamp;
    record.previous_block_timestamp = previous_timestamp;
    record
}

/// A synthetic block payload: production time (µs since epoch, 8 bytes BE), block number
/// (8 bytes BE), then 112 bytes of filler derived from the block number.
pub fn synthetic_payload(block: BlockNumber, produced_at: u64) -> Bytes {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(&produced_at.to_be_bytes());
    out.extend_from_slice(&block.to_be_bytes());
    let mut x = block.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while out.len() < 128 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(128);
    Bytes::from(out)
}

/// Appends synthetic blocks at `rate` per second until the store's next block is `until` (if
/// set: the chain then holds `until` blocks, a v3 chain's genesis included) or `stop` turns
/// true. Blocks due within one tick are committed together; `committed` is told each commit
/// (first block, one past the last, µs since the epoch).
///
/// # Errors
///
/// When the store fails.
pub async fn produce<R: Produce>(
    store: RedbReplayStore<R>,
    rate: f64,
    until: Option<BlockNumber>,
    mut stop: watch::Receiver<bool>,
    mut committed: impl FnMut(BlockNumber, BlockNumber, u64) + Send,
) -> Result<(), CliError> {
    if rate <= 0.0 || !rate.is_finite() {
        return Ok(());
    }
    let format = store.format();
    let fail = |e: &dyn std::fmt::Display| format!("block producer: {e}");
    let tick = Duration::from_secs_f64((1.0 / rate).max(0.005));
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let start = tokio::time::Instant::now();
    let base = store.next_block();
    let mut previous = match base.checked_sub(1).filter(|b| *b >= format.first_block()) {
        Some(last) => store
            .read_blocking(last, 1, &Default::default())
            .map_err(|e| fail(&e))?
            .pop(),
        None => None,
    };
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.wait_for(|s| *s) => return Ok(()),
        }
        let due = base + (start.elapsed().as_secs_f64() * rate) as u64;
        let due = until.map_or(due, |u| due.min(u));
        let next = store.next_block();
        if next >= due {
            if until.is_some_and(|u| next >= u) {
                return Ok(());
            }
            continue;
        }
        let now = now_micros();
        let mut records = Vec::new();
        for block in next..due {
            let record = R::produce(format, block, previous.as_ref(), now);
            previous = Some(record.clone());
            records.push(record);
        }
        store.append(records).await.map_err(|e| fail(&e))?;
        committed(next, due, now);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use zks_api::{ReplayRecord as _, Role};

    use super::*;

    #[test]
    fn synthetic_v3_records_chain_from_the_genesis() {
        let genesis = U256::from_be_bytes(ChainIdentity::zksync_os(270).genesis);
        let one = synthetic_v3(270, 1, 100, 0);
        assert_eq!(one.parent_hash(), genesis);
        assert!(
            one.block_context.block_hashes[..255]
                .iter()
                .all(U256::is_zero)
        );
        let two = synthetic_v3(270, 2, 101, 100);
        assert!(two.follows(&one));
        let three = synthetic_v3(270, 3, 101, 101);
        assert!(three.follows(&two));
        assert_eq!(
            three.parent_hash(),
            U256::from_be_bytes(two.block_output_hash)
        );
        // Far from the genesis every slot is a block's hash, and the chain still follows.
        assert!(synthetic_v3(270, 1001, 5, 5).follows(&synthetic_v3(270, 1000, 5, 5)));
        // Another chain's record is not this chain's.
        assert!(!synthetic_v3(271, 2, 101, 100).follows(&one));
        assert_eq!(one.block_context.chain_id, 270);
        assert_eq!(one.protocol_version, [0, 31, 0]);
    }

    #[tokio::test]
    async fn the_producer_continues_a_v3_chain_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (_stop_tx, stop) = watch::channel(false);
        for until in [6, 11] {
            let store = RedbReplayStore::open_chain(dir.path(), Role::MainNode, 270, true).unwrap();
            let mut commits = Vec::new();
            produce(
                store.clone(),
                1000.0,
                Some(until),
                stop.clone(),
                |a, b, _| {
                    commits.push((a, b));
                },
            )
            .await
            .unwrap();
            assert_eq!(store.next_block(), until);
            assert_eq!(commits.first().map(|c| c.0), Some(until - 5));
            assert_eq!(commits.last().map(|c| c.1), Some(until));
        }
        let store = RedbReplayStore::open_chain(dir.path(), Role::MainNode, 270, true).unwrap();
        let records = store.read_blocking(1, 64, &Default::default()).unwrap();
        assert_eq!(records.len(), 10);
        for pair in records.windows(2) {
            assert!(pair[1].follows(&pair[0]), "{:?}", pair[1]);
            let (a, b) = (pair[0].to_record().unwrap(), pair[1].to_record().unwrap());
            assert_eq!(b.previous_block_timestamp, a.block_context.timestamp);
        }
    }
}
