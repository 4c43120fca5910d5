//! The Solidity structs behind [`Eip712CommitBatchesScheme`](crate::Eip712CommitBatchesScheme):
//! the commit structs a `VerifyBatch` carries in `commit_data` (one per protocol minor), the
//! previous batch's `StoredBatchInfo` in `prev_commit_data`, and the EIP-712 message.
//!
//! They are [`alloy_sol_types::sol!`] structs: encode them with
//! [`SolValue::abi_encode`](alloy_sol_types::SolValue::abi_encode), which is exactly the form
//! the fields take on the wire (a commit struct is dynamic, so its encoding starts with a
//! `0x20` offset word; `StoredBatchInfo` is static, 288 bytes).
//!
//! ```
//! use alloy_sol_types::SolValue;
//! use zks_verifier::commit_abi::{CommitBatchInfoV31, StoredBatchInfo};
//!
//! assert_eq!(StoredBatchInfo::default().abi_encode().len(), 288);
//! let commit = CommitBatchInfoV31 { batchNumber: 10, ..Default::default() }.abi_encode();
//! assert_eq!(commit[31], 0x20); // the offset word
//! assert_eq!(commit.len(), 32 + 17 * 32); // offset, 16 head words, one length word
//! ```

alloy_sol_types::sol! {
    /// The L1 record of a committed batch (`IExecutor.StoredBatchInfo`): `prev_commit_data`
    /// is one of these, ABI-encoded (static, 9 words).
    #[derive(Debug, Default, PartialEq, Eq)]
    struct StoredBatchInfo {
        /// The batch number.
        uint64 batchNumber;
        /// The state commitment after the batch.
        bytes32 batchHash;
        /// Always 0 on ZKsync OS.
        uint64 indexRepeatedStorageChanges;
        /// Priority (L1 → L2) transactions in the batch.
        uint256 numberOfLayer1Txs;
        /// Rolling hash of the batch's priority operations.
        bytes32 priorityOperationsHash;
        /// Rolling hash of the interop roots the batch depends on.
        bytes32 dependencyRootsRollingHash;
        /// Root of the batch's L2 → L1 logs tree.
        bytes32 l2LogsTreeRoot;
        /// Always 0 on ZKsync OS.
        uint256 timestamp;
        /// The batch's commitment.
        bytes32 commitment;
    }

    /// The commit struct of protocol minor 29 (12 fields).
    #[derive(Debug, Default, PartialEq, Eq)]
    struct CommitBatchInfoV29 {
        /// The batch number.
        uint64 batchNumber;
        /// The state commitment after the batch.
        bytes32 newStateCommitment;
        /// Priority (L1 → L2) transactions in the batch.
        uint256 numberOfLayer1Txs;
        /// Rolling hash of the batch's priority operations.
        bytes32 priorityOperationsHash;
        /// Rolling hash of the interop roots the batch depends on.
        bytes32 dependencyRootsRollingHash;
        /// Root of the batch's L2 → L1 logs tree.
        bytes32 l2LogsTreeRoot;
        /// Always the zero address.
        address l2DaValidator;
        /// The data-availability commitment.
        bytes32 daCommitment;
        /// Timestamp of the first block.
        uint64 firstBlockTimestamp;
        /// Timestamp of the last block.
        uint64 lastBlockTimestamp;
        /// The L2 chain id.
        uint256 chainId;
        /// The operator's data-availability input.
        bytes operatorDAInput;
    }

    /// The commit struct of protocol minor 30 (14 fields).
    #[derive(Debug, Default, PartialEq, Eq)]
    struct CommitBatchInfoV30 {
        /// The batch number.
        uint64 batchNumber;
        /// The state commitment after the batch.
        bytes32 newStateCommitment;
        /// Priority (L1 → L2) transactions in the batch.
        uint256 numberOfLayer1Txs;
        /// Rolling hash of the batch's priority operations.
        bytes32 priorityOperationsHash;
        /// Rolling hash of the interop roots the batch depends on.
        bytes32 dependencyRootsRollingHash;
        /// Root of the batch's L2 → L1 logs tree.
        bytes32 l2LogsTreeRoot;
        /// DA commitment scheme: NONE 0, EMPTY_NO_DA 1, PUBDATA_KECCAK256 2,
        /// BLOBS_AND_PUBDATA_KECCAK256 3, BLOBS_ZKSYNC_OS 4.
        uint8 daCommitmentScheme;
        /// The data-availability commitment.
        bytes32 daCommitment;
        /// Timestamp of the first block.
        uint64 firstBlockTimestamp;
        /// Number of the first block.
        uint64 firstBlockNumber;
        /// Timestamp of the last block.
        uint64 lastBlockTimestamp;
        /// Number of the last block.
        uint64 lastBlockNumber;
        /// The L2 chain id.
        uint256 chainId;
        /// The operator's data-availability input.
        bytes operatorDAInput;
    }

    /// The commit struct of protocol minors 31 and 32 (16 fields): V30 with
    /// `numberOfLayer2Txs` and `slChainId`.
    #[derive(Debug, Default, PartialEq, Eq)]
    struct CommitBatchInfoV31 {
        /// The batch number.
        uint64 batchNumber;
        /// The state commitment after the batch.
        bytes32 newStateCommitment;
        /// Priority (L1 → L2) transactions in the batch.
        uint256 numberOfLayer1Txs;
        /// L2 transactions in the batch.
        uint256 numberOfLayer2Txs;
        /// Rolling hash of the batch's priority operations.
        bytes32 priorityOperationsHash;
        /// Rolling hash of the interop roots the batch depends on.
        bytes32 dependencyRootsRollingHash;
        /// Root of the batch's L2 → L1 logs tree.
        bytes32 l2LogsTreeRoot;
        /// DA commitment scheme: NONE 0, EMPTY_NO_DA 1, PUBDATA_KECCAK256 2,
        /// BLOBS_AND_PUBDATA_KECCAK256 3, BLOBS_ZKSYNC_OS 4.
        uint8 daCommitmentScheme;
        /// The data-availability commitment.
        bytes32 daCommitment;
        /// Timestamp of the first block.
        uint64 firstBlockTimestamp;
        /// Number of the first block.
        uint64 firstBlockNumber;
        /// Timestamp of the last block.
        uint64 lastBlockTimestamp;
        /// Number of the last block.
        uint64 lastBlockNumber;
        /// The L2 chain id.
        uint256 chainId;
        /// The operator's data-availability input.
        bytes operatorDAInput;
        /// Chain id of the settlement layer.
        uint256 slChainId;
    }

    /// The EIP-712 message a verifier signs: commit batches `processBatchFrom` to
    /// `processBatchTo` (one batch here, so both are its number) of the chain at
    /// `chainAddress`, with `batchData` = version byte ‖ ABI
    /// `encode_params((StoredBatchInfo, CommitBatchInfo[]))`.
    #[derive(Debug, Default, PartialEq, Eq)]
    struct CommitBatchesMultisig {
        /// The L2 chain's diamond proxy.
        address chainAddress;
        /// First batch committed.
        uint256 processBatchFrom;
        /// Last batch committed.
        uint256 processBatchTo;
        /// Encoding version byte, then the ABI-encoded previous batch and commit structs.
        bytes batchData;
    }
}
