//! [`Eip712CommitBatchesScheme`]: upstream's batch signature, an EIP-712
//! `CommitBatchesMultisig` message that the L1 multisig committer checks.
//!
//! The scheme's documentation (on the type) gives the layout of what is signed.

use alloy_primitives::{Address, Bytes as AbiBytes, U256};
use alloy_sol_types::{Eip712Domain, SolStruct, SolValue};
use zks_api::wire::VerifyBatch;

use crate::commit_abi::{CommitBatchInfo, CommitBatchesMultisig, StoredBatchInfo};
use crate::error::SchemeError;
use crate::scheme::BatchSignatureScheme;

/// Upstream's batch signature: a recoverable secp256k1 signature (`r || s || v`, 65 bytes,
/// `v` 27/28, low-s) over the EIP-712 hash of a `CommitBatchesMultisig` message.
///
/// Built from the values both nodes read from L1: the L1 chain id, the validator timelock
/// (the domain's `verifyingContract`) and the chain's diamond proxy (the message's
/// `chainAddress`).
///
/// # What is signed
///
/// ```text
/// digest       = keccak256(0x19 || 0x01 || domainSeparator || structHash)
/// domain       = EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)
///                { "MultisigCommitter", "1", L1 chain id, validator timelock }   (no salt)
/// message      = CommitBatchesMultisig(address chainAddress,uint256 processBatchFrom,
///                                      uint256 processBatchTo,bytes batchData)
///                { diamond proxy, batch_number, batch_number, batchData }
/// batchData    = version (1 byte) || abi.encode(StoredBatchInfo prev, CommitBatchInfo[] [commit])
/// ```
///
/// The two structs come from the `VerifyBatch`:
///
/// | field | holds | decoded as |
/// |---|---|---|
/// | `prev_commit_data` | the previous batch, exactly 288 bytes | [`StoredBatchInfo`] (9 static words) |
/// | `commit_data` | the batch, ABI-encoded as one dynamic value (a `0x20` offset word, then the struct) | by `execution_protocol_version`, the protocol minor |
///
/// | minor | commit struct | version byte |
/// |---|---|---|
/// | 29 | [`CommitBatchInfoV29`](crate::commit_abi::CommitBatchInfoV29) (12 fields) | 2 |
/// | 30 | [`CommitBatchInfoV30`](crate::commit_abi::CommitBatchInfoV30) (14 fields) | 3 |
/// | 31, 32 | [`CommitBatchInfoV31`](crate::commit_abi::CommitBatchInfoV31) (16 fields) | 4 |
///
/// Any other minor has no digest ([`SchemeError::UnsupportedProtocolVersion`]).
///
/// # Malformed input
///
/// The digest is a function of the decoded values, re-encoded, so what is signed is what was
/// understood. Decoding uses alloy's bounded decoder with type validation: data that ends
/// early or points past its end, or a word out of range for its field (a `uint64`, `uint8` or
/// `address` with high bits set), is a [`SchemeError`], never a panic. Every allocation is
/// bounded by the input's length. Like upstream's decoder (alloy's, not strict), it ignores
/// bytes after the encoding and does not insist on the zero padding after the last `bytes`
/// value; the vectors do not reject either, and the re-encoding signed is canonical anyway. Whether the batch is the right one is the
/// verifier's decision function's business, not the scheme's: the scheme does not compare
/// the decoded batch number with `batch_number`.
///
/// # Example
///
/// ```
/// use alloy_sol_types::SolValue;
/// use zks_api::wire::VerifyBatch;
/// use zks_verifier::commit_abi::{CommitBatchInfoV31, StoredBatchInfo};
/// use zks_verifier::{BatchSignatureScheme, Eip712CommitBatchesScheme, SchemeError, VerifierKey};
///
/// let scheme = Eip712CommitBatchesScheme::new(9, [0xe1; 20], [0xd1; 20]);
/// let batch = VerifyBatch {
///     batch_number: 10,
///     commit_data: CommitBatchInfoV31 { batchNumber: 10, ..Default::default() }.abi_encode().into(),
///     prev_commit_data: StoredBatchInfo { batchNumber: 9, ..Default::default() }.abi_encode().into(),
///     execution_protocol_version: 31,
///     ..Default::default()
/// };
/// let key = VerifierKey::generate();
/// let signature = scheme.sign(&key, &batch)?;
/// assert_eq!(scheme.recover(&batch, &signature), Ok(key.address()));
///
/// // Commit data that does not decode has no digest.
/// let truncated = VerifyBatch { commit_data: batch.commit_data.slice(..100), ..batch };
/// assert!(matches!(scheme.digest(&truncated), Err(SchemeError::MalformedCommitData { minor: 31, .. })));
/// # Ok::<_, SchemeError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Eip712CommitBatchesScheme {
    domain: Eip712Domain,
    chain_address: Address,
}

impl Eip712CommitBatchesScheme {
    /// The domain's `name`.
    pub const DOMAIN_NAME: &'static str = "MultisigCommitter";
    /// The domain's `version`.
    pub const DOMAIN_VERSION: &'static str = "1";
    /// Length of `prev_commit_data`: one ABI-encoded [`StoredBatchInfo`].
    pub const STORED_BATCH_INFO_BYTES: usize = 9 * 32;

    /// The scheme of the chain whose diamond proxy is `chain_address`, committing through
    /// `validator_timelock` on the L1 with chain id `l1_chain_id`.
    pub fn new(
        l1_chain_id: u64,
        validator_timelock: impl Into<Address>,
        chain_address: impl Into<Address>,
    ) -> Self {
        Self {
            domain: Eip712Domain::new(
                Some(Self::DOMAIN_NAME.into()),
                Some(Self::DOMAIN_VERSION.into()),
                Some(U256::from(l1_chain_id)),
                Some(validator_timelock.into()),
                None,
            ),
            chain_address: chain_address.into(),
        }
    }

    /// The EIP-712 domain: name, version, chain id and verifying contract, no salt.
    pub fn domain(&self) -> &Eip712Domain {
        &self.domain
    }

    /// The L1's chain id, the domain's `chainId`.
    pub fn l1_chain_id(&self) -> u64 {
        self.domain
            .chain_id
            .and_then(|id| u64::try_from(id).ok())
            .unwrap_or_default()
    }

    /// The domain separator, `hashStruct(domain)`.
    pub fn domain_separator(&self) -> [u8; 32] {
        self.domain.separator().0
    }

    /// The chain's diamond proxy, the message's `chainAddress`.
    pub fn chain_address(&self) -> Address {
        self.chain_address
    }

    /// The `batchData` version byte of protocol minor `minor`: 2 for 29, 3 for 30, 4 for 31
    /// and 32.
    ///
    /// # Errors
    ///
    /// [`SchemeError::UnsupportedProtocolVersion`] for any other minor.
    pub fn encoding_version(minor: u16) -> Result<u8, SchemeError> {
        match minor {
            29 => Ok(2),
            30 => Ok(3),
            31 | 32 => Ok(4),
            other => Err(SchemeError::UnsupportedProtocolVersion(other)),
        }
    }

    /// The message's `batchData` for `batch`: the version byte, then ABI
    /// `encode_params((prev, [commit]))` of the decoded structs.
    ///
    /// # Errors
    ///
    /// [`SchemeError::UnsupportedProtocolVersion`], then
    /// [`SchemeError::PrevCommitDataLength`] or [`SchemeError::MalformedPrevCommitData`], then
    /// [`SchemeError::MalformedCommitData`], checked in that order.
    pub fn batch_data(batch: &VerifyBatch) -> Result<Vec<u8>, SchemeError> {
        let minor = batch.execution_protocol_version;
        let version = Self::encoding_version(minor)?;
        let prev = StoredBatchInfo::decode_prev(&batch.prev_commit_data)?;
        let params = match CommitBatchInfo::decode(minor, &batch.commit_data)? {
            CommitBatchInfo::V29(commit) => (prev, vec![commit]).abi_encode_params(),
            CommitBatchInfo::V30(commit) => (prev, vec![commit]).abi_encode_params(),
            CommitBatchInfo::V31(commit) => (prev, vec![commit]).abi_encode_params(),
        };
        let mut out = Vec::with_capacity(1 + params.len());
        out.push(version);
        out.extend_from_slice(&params);
        Ok(out)
    }

    /// The EIP-712 message for `batch`: this scheme's chain address, the batch number as
    /// both ends of the range, and [`batch_data`](Self::batch_data).
    ///
    /// # Errors
    ///
    /// As [`batch_data`](Self::batch_data).
    pub fn message(&self, batch: &VerifyBatch) -> Result<CommitBatchesMultisig, SchemeError> {
        let number = U256::from(batch.batch_number);
        Ok(CommitBatchesMultisig {
            chainAddress: self.chain_address,
            processBatchFrom: number,
            processBatchTo: number,
            batchData: AbiBytes::from(Self::batch_data(batch)?),
        })
    }
}

impl BatchSignatureScheme for Eip712CommitBatchesScheme {
    /// The EIP-712 signing hash of [`message`](Self::message) under [`domain`](Self::domain).
    fn digest(&self, batch: &VerifyBatch) -> Result<[u8; 32], SchemeError> {
        Ok(self.message(batch)?.eip712_signing_hash(&self.domain).0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;
    use crate::DecodeFault;
    use crate::commit_abi::{
        CommitBatchInfoV29, CommitBatchInfoV30, CommitBatchInfoV31, decode_value as decode,
    };

    fn batch(minor: u16) -> VerifyBatch {
        let commit = match minor {
            29 => CommitBatchInfoV29::default().abi_encode(),
            30 => CommitBatchInfoV30::default().abi_encode(),
            _ => CommitBatchInfoV31::default().abi_encode(),
        };
        VerifyBatch {
            batch_number: 1,
            commit_data: commit.into(),
            prev_commit_data: StoredBatchInfo::default().abi_encode().into(),
            execution_protocol_version: minor,
            ..Default::default()
        }
    }

    #[test]
    fn stored_batch_info_is_288_bytes() {
        assert_eq!(
            StoredBatchInfo::default().abi_encode().len(),
            Eip712CommitBatchesScheme::STORED_BATCH_INFO_BYTES
        );
    }

    #[test]
    fn every_supported_minor_has_a_digest_with_its_version_byte() {
        for (minor, version) in [(29, 2), (30, 3), (31, 4), (32, 4)] {
            let data = Eip712CommitBatchesScheme::batch_data(&batch(minor)).unwrap();
            assert_eq!(data[0], version, "minor {minor}");
        }
    }

    #[test]
    fn minors_31_and_32_share_the_struct_but_not_the_batch() {
        let scheme = Eip712CommitBatchesScheme::new(1, [0x22; 20], [0; 20]);
        // Same bytes, same digest: the minor only selects the struct.
        assert_eq!(
            scheme.digest(&batch(31)).unwrap(),
            scheme.digest(&batch(32)).unwrap()
        );
        assert_ne!(
            scheme.digest(&batch(30)).unwrap(),
            scheme.digest(&batch(31)).unwrap()
        );
    }

    #[test]
    fn alloy_errors_map_to_faults() {
        let commit = CommitBatchInfoV31::default().abi_encode();
        assert_eq!(
            decode::<CommitBatchInfoV31>(&commit[..commit.len() - 1]),
            Err(DecodeFault::Truncated)
        );
        let mut dirty = StoredBatchInfo::default().abi_encode();
        dirty[0] = 1; // high byte of the uint64 batchNumber
        assert_eq!(
            decode::<StoredBatchInfo>(&dirty),
            Err(DecodeFault::OutOfRange)
        );
    }
}
