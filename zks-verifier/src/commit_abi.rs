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

/// The commit struct of a `VerifyBatch`, whichever protocol minor it is for.
///
/// `commit_data` is the ABI encoding of the struct of the batch's minor
/// (`execution_protocol_version`): [`CommitBatchInfoV29`] for 29, [`CommitBatchInfoV30`] for 30,
/// [`CommitBatchInfoV31`] for 31 and 32. [`decode`](Self::decode) picks and checks it as an
/// upstream verifier does; a main node builds one and [`abi_encode`](Self::abi_encode)s it.
///
/// ```
/// use zks_verifier::commit_abi::{CommitBatchInfo, CommitBatchInfoV30};
///
/// let commit = CommitBatchInfo::V30(CommitBatchInfoV30 { batchNumber: 3, ..Default::default() });
/// let data = commit.abi_encode();
/// assert_eq!(CommitBatchInfo::decode(30, &data), Ok(commit));
/// assert!(CommitBatchInfo::decode(31, &data).is_err()); // a V30 struct is no V31 struct
/// assert!(CommitBatchInfo::decode(28, &data).is_err()); // no struct for minor 28
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommitBatchInfo {
    /// Protocol minor 29.
    V29(CommitBatchInfoV29),
    /// Protocol minor 30.
    V30(CommitBatchInfoV30),
    /// Protocol minors 31 and 32.
    V31(CommitBatchInfoV31),
}

impl CommitBatchInfo {
    /// Decodes `commit_data` as the commit struct of protocol minor `minor` (one ABI value,
    /// type-checked; trailing bytes are allowed, as upstream's decoder allows them).
    ///
    /// # Errors
    ///
    /// [`SchemeError::UnsupportedProtocolVersion`] for a minor outside 29..=32,
    /// [`SchemeError::MalformedCommitData`] when the bytes are not that struct.
    ///
    /// [`SchemeError::UnsupportedProtocolVersion`]: crate::SchemeError::UnsupportedProtocolVersion
    /// [`SchemeError::MalformedCommitData`]: crate::SchemeError::MalformedCommitData
    pub fn decode(minor: u16, data: &[u8]) -> Result<Self, crate::SchemeError> {
        let fault = |fault| crate::SchemeError::MalformedCommitData { minor, fault };
        match minor {
            29 => decode_value(data).map(Self::V29).map_err(fault),
            30 => decode_value(data).map(Self::V30).map_err(fault),
            31 | 32 => decode_value(data).map(Self::V31).map_err(fault),
            other => Err(crate::SchemeError::UnsupportedProtocolVersion(other)),
        }
    }

    /// The struct's ABI encoding as one value: what `commit_data` carries.
    pub fn abi_encode(&self) -> Vec<u8> {
        use alloy_sol_types::SolValue as _;
        match self {
            Self::V29(commit) => commit.abi_encode(),
            Self::V30(commit) => commit.abi_encode(),
            Self::V31(commit) => commit.abi_encode(),
        }
    }

    /// The batch number it commits.
    pub fn batch_number(&self) -> u64 {
        match self {
            Self::V29(commit) => commit.batchNumber,
            Self::V30(commit) => commit.batchNumber,
            Self::V31(commit) => commit.batchNumber,
        }
    }
}

impl StoredBatchInfo {
    /// Decodes `prev_commit_data`: exactly one ABI-encoded `StoredBatchInfo` (288 bytes).
    ///
    /// # Errors
    ///
    /// [`SchemeError::PrevCommitDataLength`] for another length,
    /// [`SchemeError::MalformedPrevCommitData`] for bytes that are not one.
    ///
    /// [`SchemeError::PrevCommitDataLength`]: crate::SchemeError::PrevCommitDataLength
    /// [`SchemeError::MalformedPrevCommitData`]: crate::SchemeError::MalformedPrevCommitData
    pub fn decode_prev(data: &[u8]) -> Result<Self, crate::SchemeError> {
        let expected = crate::Eip712CommitBatchesScheme::STORED_BATCH_INFO_BYTES;
        if data.len() != expected {
            return Err(crate::SchemeError::PrevCommitDataLength {
                got: data.len(),
                expected,
            });
        }
        decode_value(data).map_err(crate::SchemeError::MalformedPrevCommitData)
    }
}

/// One ABI value of type `T`, type-checked; trailing bytes are allowed.
pub(crate) fn decode_value<T>(data: &[u8]) -> Result<T, crate::DecodeFault>
where
    T: alloy_sol_types::SolValue + From<<T::SolType as alloy_sol_types::SolType>::RustType>,
{
    let config = alloy_sol_types::abi::AbiDecoderConfig::new().validate(true);
    T::abi_decode_with_config(data, config).map_err(|error| match error {
        alloy_sol_types::Error::Overrun => crate::DecodeFault::Truncated,
        alloy_sol_types::Error::TypeCheckFail { .. }
        | alloy_sol_types::Error::InvalidEnumValue { .. } => crate::DecodeFault::OutOfRange,
        _ => crate::DecodeFault::Invalid,
    })
}
