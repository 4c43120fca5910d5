//! Batches of a ZKsync OS chain, shaped as upstream's: the `VerifyBatch` the binary's main node
//! sends for a batch of v3 records, and the check its verifier external node runs on one.
//!
//! An upstream main node fills a batch's commit struct from executing it (state commitment,
//! logs, priority operations, DA commitment). The binary executes nothing, so it fills what the
//! records tell and makes the rest synthetic, by rules both ends apply to the same records:
//!
//! | field | value |
//! |---|---|
//! | `batchNumber`, block numbers | the batch: `size` blocks from block 1 (`1..=size` is batch 1) |
//! | `firstBlockTimestamp`, `lastBlockTimestamp` | the first and last record's `timestamp` |
//! | `numberOfLayer1Txs` | transactions of type 127 (L1) in the batch's records |
//! | `numberOfLayer2Txs` (minor ≥ 31) | transactions of the standard types (not 125–127) |
//! | `chainId`, `slChainId` | the chain, and the L1 of the EIP-712 domain |
//! | `daCommitmentScheme` | from the pubdata mode: Blobs 4, Calldata 3, Validium 1 |
//! | `newStateCommitment` | **synthetic**: the last record's `block_output_hash` |
//! | previous batch's `batchHash` | **synthetic**: the first record's parent hash (the last `block_output_hash` of the batch before) |
//! | hashes and roots that need execution, `operatorDAInput` | **synthetic**: zero, empty |
//!
//! The struct is the one of the protocol minor the batch's first record names
//! (`protocol_version[1]`; 29, 30, 31 or 32, [`CommitBatchInfo`]), and `commit_data` /
//! `prev_commit_data` are its ABI encodings, as upstream's verifiers decode them.
//!
//! So an upstream verifier decodes the binary's batches and refuses them as a data mismatch
//! (its own execution disagrees with the synthetic fields): that refusal reaches the main
//! node's log as the verifier's reason. A node team's main node fills the synthetic fields
//! from its execution, and our verifier, recomputing from its own records, checks every field
//! the records decide.

use std::ops::RangeInclusive;

use alloy_primitives::{Address, B256, Bytes as AbiBytes, U256};
use alloy_sol_types::SolValue as _;
use bytes::Bytes;
use zks_api::BlockNumber;
use zks_api::wire::VerifyBatch;
use zks_verifier::commit_abi::{
    CommitBatchInfo, CommitBatchInfoV29, CommitBatchInfoV30, CommitBatchInfoV31, StoredBatchInfo,
};
use zks_wire::zksync_os::V3Record;

/// Pubdata mode `Calldata` (upstream's numbering: Blobs 0, Calldata 1, Validium 2): what the
/// binary's main node names in its batches.
pub const PUBDATA_CALLDATA: u8 = 1;

/// The most blocks a batch may span for our verifier to read it (a main node asking for more
/// is refused with a reason): about 90 MB of records to read at 9 KB a record.
pub const MAX_BATCH_BLOCKS: u64 = 10_000;

/// The chain facts a batch's commit struct names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainBatches {
    /// The L2 chain.
    pub chain_id: u64,
    /// The settlement layer (L1) chain, the EIP-712 domain's chain id.
    pub l1_chain_id: u64,
}

/// The blocks of batch `number` (1-based) of `size` blocks each, from block 1.
pub fn blocks(number: u64, size: u64) -> RangeInclusive<BlockNumber> {
    let size = size.max(1);
    let first = number
        .saturating_sub(1)
        .saturating_mul(size)
        .saturating_add(1);
    first..=first.saturating_add(size - 1)
}

/// What a batch's commit struct takes from its records, folded one record at a time (so a
/// batch is never held in memory whole).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchRecords {
    first: Option<First>,
    last: Option<Last>,
    layer1_txs: u64,
    layer2_txs: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct First {
    block: BlockNumber,
    timestamp: u64,
    parent_hash: [u8; 32],
    minor: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Last {
    block: BlockNumber,
    timestamp: u64,
    output_hash: [u8; 32],
}

impl BatchRecords {
    /// Adds the next record of the batch.
    ///
    /// # Errors
    ///
    /// When it is not the block after the last one added.
    pub fn add(&mut self, record: &V3Record) -> Result<(), String> {
        let block = record.block_context.block_number;
        if let Some(last) = &self.last
            && last.block.checked_add(1) != Some(block)
        {
            return Err(format!(
                "records of a batch must be consecutive: block {block} after block {}",
                last.block
            ));
        }
        self.first.get_or_insert_with(|| First {
            block,
            timestamp: record.block_context.timestamp,
            parent_hash: record.parent_hash().to_be_bytes(),
            minor: record.protocol_version[1],
        });
        self.last = Some(Last {
            block,
            timestamp: record.block_context.timestamp,
            output_hash: record.block_output_hash,
        });
        for tx in &record.transactions {
            match tx_type(tx) {
                Some(127) => self.layer1_txs += 1,
                Some(125 | 126) => {}
                _ => self.layer2_txs += 1,
            }
        }
        Ok(())
    }

    /// The blocks added, if any.
    pub fn range(&self) -> Option<RangeInclusive<BlockNumber>> {
        Some(self.first.as_ref()?.block..=self.last.as_ref()?.block)
    }

    /// The protocol minor of the batch: its first record's.
    pub fn minor(&self) -> Option<u64> {
        self.first.as_ref().map(|f| f.minor)
    }

    /// The commit struct of batch `number` over these records, of the batch's minor, with
    /// `pubdata_mode`'s DA commitment scheme.
    ///
    /// # Errors
    ///
    /// When no record was added, or the minor has no commit struct.
    pub fn commit(
        &self,
        number: u64,
        chain: ChainBatches,
        pubdata_mode: u8,
    ) -> Result<CommitBatchInfo, String> {
        let (Some(first), Some(last)) = (&self.first, &self.last) else {
            return Err("a batch needs at least one record".to_owned());
        };
        let state = B256::from(last.output_hash);
        let chain_id = U256::from(chain.chain_id);
        let layer1 = U256::from(self.layer1_txs);
        let scheme = da_commitment_scheme(pubdata_mode)?;
        Ok(match first.minor {
            29 => CommitBatchInfo::V29(CommitBatchInfoV29 {
                batchNumber: number,
                newStateCommitment: state,
                numberOfLayer1Txs: layer1,
                l2DaValidator: Address::ZERO,
                firstBlockTimestamp: first.timestamp,
                lastBlockTimestamp: last.timestamp,
                chainId: chain_id,
                operatorDAInput: AbiBytes::new(),
                ..Default::default()
            }),
            30 => CommitBatchInfo::V30(CommitBatchInfoV30 {
                batchNumber: number,
                newStateCommitment: state,
                numberOfLayer1Txs: layer1,
                daCommitmentScheme: scheme,
                firstBlockTimestamp: first.timestamp,
                firstBlockNumber: first.block,
                lastBlockTimestamp: last.timestamp,
                lastBlockNumber: last.block,
                chainId: chain_id,
                operatorDAInput: AbiBytes::new(),
                ..Default::default()
            }),
            31 | 32 => CommitBatchInfo::V31(CommitBatchInfoV31 {
                batchNumber: number,
                newStateCommitment: state,
                numberOfLayer1Txs: layer1,
                numberOfLayer2Txs: U256::from(self.layer2_txs),
                daCommitmentScheme: scheme,
                firstBlockTimestamp: first.timestamp,
                firstBlockNumber: first.block,
                lastBlockTimestamp: last.timestamp,
                lastBlockNumber: last.block,
                chainId: chain_id,
                operatorDAInput: AbiBytes::new(),
                slChainId: U256::from(chain.l1_chain_id),
                ..Default::default()
            }),
            other => {
                return Err(format!(
                    "protocol minor {other} of block {} has no commit struct (29 to 32 have)",
                    first.block
                ));
            }
        })
    }

    /// The previous batch as its `StoredBatchInfo`: number `number - 1`, its state
    /// commitment the batch's first parent hash (the synthetic rule), the rest zero.
    pub fn previous(&self, number: u64) -> StoredBatchInfo {
        StoredBatchInfo {
            batchNumber: number.saturating_sub(1),
            batchHash: self
                .first
                .as_ref()
                .map_or(B256::ZERO, |f| B256::from(f.parent_hash)),
            ..Default::default()
        }
    }

    /// The `VerifyBatch` of batch `number` over these records (request id 0: the collector
    /// sets it).
    ///
    /// # Errors
    ///
    /// As [`commit`](Self::commit).
    pub fn verify_batch(&self, number: u64, chain: ChainBatches) -> Result<VerifyBatch, String> {
        let commit = self.commit(number, chain, PUBDATA_CALLDATA)?;
        let range = self
            .range()
            .ok_or_else(|| "a batch needs at least one record".to_owned())?;
        let minor = self.minor().unwrap_or_default();
        Ok(VerifyBatch {
            batch_number: number,
            first_block_number: *range.start(),
            last_block_number: *range.end(),
            pubdata_mode: PUBDATA_CALLDATA,
            commit_data: Bytes::from(commit.abi_encode()),
            prev_commit_data: Bytes::from(self.previous(number).abi_encode()),
            execution_protocol_version: u16::try_from(minor).unwrap_or(u16::MAX),
            ..Default::default()
        })
    }

    /// Checks `request` against these records (the request's blocks, read from our own
    /// store) as a verifier: it must decode as upstream's verifiers decode it, name our
    /// records' protocol minor, and carry the commit struct these records give, field for
    /// field. `Err` is the refusal reason.
    ///
    /// # Errors
    ///
    /// The reason to refuse the batch.
    pub fn check(&self, request: &VerifyBatch, chain: ChainBatches) -> Result<(), String> {
        if request.pubdata_mode > 2 {
            return Err(format!("unknown pubdata mode {}", request.pubdata_mode));
        }
        let minor = request.execution_protocol_version;
        let theirs =
            CommitBatchInfo::decode(minor, &request.commit_data).map_err(|e| e.to_string())?;
        StoredBatchInfo::decode_prev(&request.prev_commit_data).map_err(|e| e.to_string())?;
        if let Some(ours) = self.minor()
            && ours != u64::from(minor)
        {
            return Err(format!(
                "the batch is for protocol minor {minor}; our record of block {} is of minor {ours}",
                request.first_block_number
            ));
        }
        let ours = self.commit(request.batch_number, chain, request.pubdata_mode)?;
        let differences = differences(&ours, &theirs);
        if differences.is_empty() {
            Ok(())
        } else {
            Err(format!("Batch data mismatch: {}", differences.join(", ")))
        }
    }
}

/// The type of a transaction in alloy's network encoding: the first byte of a typed envelope
/// (an RLP string), `None` for a legacy one (an RLP list) or anything else.
fn tx_type(item: &[u8]) -> Option<u8> {
    let mut buf = item;
    let header = zks_api::alloy_rlp::Header::decode(&mut buf).ok()?;
    if header.list {
        return None;
    }
    buf.first().copied()
}

/// The DA commitment scheme of a pubdata mode (upstream's `lib/types/src/pubdata_mode.rs`).
fn da_commitment_scheme(pubdata_mode: u8) -> Result<u8, String> {
    match pubdata_mode {
        0 => Ok(4),
        1 => Ok(3),
        2 => Ok(1),
        other => Err(format!("unknown pubdata mode {other}")),
    }
}

/// The fields where `theirs` differs from `ours`, as `name theirs (ours ours)`.
fn differences(ours: &CommitBatchInfo, theirs: &CommitBatchInfo) -> Vec<String> {
    macro_rules! fields {
        ($ours:expr, $theirs:expr, $($field:ident),+ $(,)?) => {{
            let mut out = Vec::new();
            $(
                if $ours.$field != $theirs.$field {
                    out.push(format!(
                        "{} {} (ours {})",
                        stringify!($field),
                        $theirs.$field,
                        $ours.$field
                    ));
                }
            )+
            out
        }};
    }
    match (ours, theirs) {
        (CommitBatchInfo::V29(a), CommitBatchInfo::V29(b)) => fields!(
            a,
            b,
            batchNumber,
            newStateCommitment,
            numberOfLayer1Txs,
            priorityOperationsHash,
            dependencyRootsRollingHash,
            l2LogsTreeRoot,
            l2DaValidator,
            daCommitment,
            firstBlockTimestamp,
            lastBlockTimestamp,
            chainId,
            operatorDAInput,
        ),
        (CommitBatchInfo::V30(a), CommitBatchInfo::V30(b)) => fields!(
            a,
            b,
            batchNumber,
            newStateCommitment,
            numberOfLayer1Txs,
            priorityOperationsHash,
            dependencyRootsRollingHash,
            l2LogsTreeRoot,
            daCommitmentScheme,
            daCommitment,
            firstBlockTimestamp,
            firstBlockNumber,
            lastBlockTimestamp,
            lastBlockNumber,
            chainId,
            operatorDAInput,
        ),
        (CommitBatchInfo::V31(a), CommitBatchInfo::V31(b)) => fields!(
            a,
            b,
            batchNumber,
            newStateCommitment,
            numberOfLayer1Txs,
            numberOfLayer2Txs,
            priorityOperationsHash,
            dependencyRootsRollingHash,
            l2LogsTreeRoot,
            daCommitmentScheme,
            daCommitment,
            firstBlockTimestamp,
            firstBlockNumber,
            lastBlockTimestamp,
            lastBlockNumber,
            chainId,
            operatorDAInput,
            slChainId,
        ),
        _ => vec!["the commit struct is of another protocol minor".to_owned()],
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::produce::synthetic_v3;

    const CHAIN: ChainBatches = ChainBatches {
        chain_id: 270,
        l1_chain_id: 1,
    };

    fn records(range: RangeInclusive<u64>, minor: u64) -> BatchRecords {
        let mut batch = BatchRecords::default();
        for block in range {
            let mut record = synthetic_v3(270, block, 1_000 + block, 999 + block);
            record.protocol_version[1] = minor;
            // One L1 and one L2 transaction besides the two synthetic L2 ones.
            record
                .transactions
                .push(Bytes::from(zks_api::alloy_rlp::encode(
                    [0x7f_u8, 1, 2].as_slice(),
                )));
            record
                .transactions
                .push(Bytes::from(zks_api::alloy_rlp::encode(
                    [0x02_u8, 9].as_slice(),
                )));
            batch.add(&record).unwrap();
        }
        batch
    }

    #[test]
    fn batches_count_from_block_one() {
        assert_eq!(blocks(1, 100), 1..=100);
        assert_eq!(blocks(3, 10), 21..=30);
        assert_eq!(blocks(1, 0), 1..=1);
    }

    #[test]
    fn a_batch_takes_its_fields_from_its_records_and_checks_against_the_same() {
        for minor in [29, 30, 31, 32] {
            let batch = records(11..=20, minor);
            let request = batch.verify_batch(2, CHAIN).unwrap();
            assert_eq!(
                (
                    request.first_block_number,
                    request.last_block_number,
                    request.execution_protocol_version
                ),
                (11, 20, u16::try_from(minor).unwrap())
            );
            assert_eq!(request.prev_commit_data.len(), 288);
            assert_eq!(batch.check(&request, CHAIN), Ok(()), "minor {minor}");
            let commit =
                CommitBatchInfo::decode(request.execution_protocol_version, &request.commit_data)
                    .unwrap();
            assert_eq!(commit.batch_number(), 2);
            if let CommitBatchInfo::V31(v31) = commit {
                assert_eq!(v31.numberOfLayer1Txs, U256::from(10));
                assert_eq!(v31.numberOfLayer2Txs, U256::from(30));
                assert_eq!(
                    (v31.firstBlockTimestamp, v31.lastBlockTimestamp),
                    (1011, 1020)
                );
                assert_eq!(v31.daCommitmentScheme, 3);
                assert_eq!(v31.slChainId, U256::from(1));
            }
        }
    }

    #[test]
    fn a_verifier_names_what_differs() {
        let ours = records(1..=5, 31);
        // The main node's records end a second later than ours.
        let mut theirs = BatchRecords::default();
        for block in 1..=5 {
            let ts = if block == 5 { 1_010 } else { 1_000 + block };
            let mut record = synthetic_v3(270, block, ts, 999 + block);
            record
                .transactions
                .push(Bytes::from(zks_api::alloy_rlp::encode(
                    [0x7f_u8, 1, 2].as_slice(),
                )));
            record
                .transactions
                .push(Bytes::from(zks_api::alloy_rlp::encode(
                    [0x02_u8, 9].as_slice(),
                )));
            theirs.add(&record).unwrap();
        }
        let request = theirs.verify_batch(1, CHAIN).unwrap();
        assert_eq!(
            ours.check(&request, CHAIN),
            Err("Batch data mismatch: lastBlockTimestamp 1010 (ours 1005)".to_owned())
        );
        // Another chain: the chain id differs.
        let other = ChainBatches {
            chain_id: 271,
            l1_chain_id: 1,
        };
        let request = ours.verify_batch(1, other).unwrap();
        assert_eq!(
            ours.check(&request, CHAIN),
            Err("Batch data mismatch: chainId 271 (ours 270)".to_owned())
        );
    }

    #[test]
    fn a_verifier_refuses_what_upstream_would_not_decode() {
        let ours = records(1..=2, 31);
        let good = ours.verify_batch(1, CHAIN).unwrap();
        let refuse = |request: VerifyBatch| ours.check(&request, CHAIN).unwrap_err();
        // The binary's own demo batches (text commit data, minor 1).
        assert_eq!(
            refuse(crate::batch::batch(1, 2)),
            "unsupported protocol minor 1: commit data is defined for minors 29 to 32"
        );
        assert_eq!(
            refuse(VerifyBatch {
                commit_data: Bytes::from_static(b"zks-demo-commit:"),
                ..good.clone()
            }),
            "malformed commit data for protocol minor 31: truncated: an offset or length points \
             past the end of the data"
        );
        assert_eq!(
            refuse(VerifyBatch {
                prev_commit_data: Bytes::from_static(b"zks-demo-prev"),
                ..good.clone()
            }),
            "malformed previous commit data: 13 bytes, expected 288"
        );
        assert_eq!(
            refuse(VerifyBatch {
                pubdata_mode: 3,
                ..good.clone()
            }),
            "unknown pubdata mode 3"
        );
        // A V30 struct for a batch of minor-31 records.
        let v30 = records(1..=2, 30).verify_batch(1, CHAIN).unwrap();
        assert_eq!(
            refuse(v30),
            "the batch is for protocol minor 30; our record of block 1 is of minor 31"
        );
    }

    #[test]
    fn records_of_a_batch_must_be_consecutive() {
        let mut batch = BatchRecords::default();
        batch.add(&synthetic_v3(270, 4, 1, 0)).unwrap();
        assert_eq!(
            batch.add(&synthetic_v3(270, 6, 1, 1)),
            Err("records of a batch must be consecutive: block 6 after block 4".to_owned())
        );
        assert_eq!(
            BatchRecords::default().verify_batch(1, CHAIN).unwrap_err(),
            "a batch needs at least one record"
        );
    }
}
