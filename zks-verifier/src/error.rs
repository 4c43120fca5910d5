//! Error types of the crate: key loading, batch digests, signature checks, and quorum
//! collection.

use std::path::PathBuf;

/// A verifier key could not be loaded.
///
/// The message never contains key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifierKeyError {
    /// The text is not 32 bytes of hex (with or without `0x`).
    #[error("verifier key is not 32 bytes of hex")]
    NotHex,
    /// The 32 bytes are zero or not below the curve order.
    #[error("verifier key is not a valid secp256k1 secret")]
    OutOfRange,
    /// The key file could not be read.
    #[error("cannot read verifier key file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A signature could not be turned into a signer address.
///
/// When a collector sees this for an approval it records the result as rejected; the signer
/// is not counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The signature has the wrong length for the scheme.
    #[error("signature is {got} bytes, expected {expected}")]
    Length {
        /// Bytes received.
        got: usize,
        /// Bytes the scheme produces.
        expected: usize,
    },
    /// `v` is not one of 0, 1, 27, 28.
    #[error("signature recovery byte {0} is not 0, 1, 27 or 28")]
    RecoveryByte(u8),
    /// `s` is in the upper half of the curve order; signers must normalise it.
    #[error("signature s is not low-s normalised")]
    HighS,
    /// `r`/`s` are out of range, or no public key recovers from them.
    #[error("signature does not recover to a public key")]
    Unrecoverable,
    /// The scheme cannot digest the batch, so no signature over it can be checked.
    #[error("batch cannot be digested: {0}")]
    Batch(SchemeError),
}

/// A [`BatchSignatureScheme`](crate::BatchSignatureScheme) cannot compute the digest of a
/// batch: the batch's data does not fit the scheme.
///
/// The default [`Secp256k1BatchScheme`](crate::Secp256k1BatchScheme) digests every batch;
/// [`Eip712CommitBatchesScheme`](crate::Eip712CommitBatchesScheme) decodes the commit data
/// and fails with this on data it cannot decode.
///
/// What happens next: a [`SigningVerifier`](crate::SigningVerifier) refuses the batch with
/// this error's text as the reason; a [`QuorumCollector`](crate::QuorumCollector) rejects
/// every approval of it as [`ApprovalRejection::Undigestable`](crate::ApprovalRejection::Undigestable), so the
/// collection times out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemeError {
    /// `execution_protocol_version` is a protocol minor with no known commit struct.
    #[error("unsupported protocol minor {0}: commit data is defined for minors 29 to 32")]
    UnsupportedProtocolVersion(u16),
    /// `prev_commit_data` is not one `StoredBatchInfo` (288 bytes).
    #[error("malformed previous commit data: {got} bytes, expected {expected}")]
    PrevCommitDataLength {
        /// Bytes received.
        got: usize,
        /// Bytes a `StoredBatchInfo` takes.
        expected: usize,
    },
    /// `prev_commit_data` has the right length but does not decode as a `StoredBatchInfo`.
    #[error("malformed previous commit data: {0}")]
    MalformedPrevCommitData(DecodeFault),
    /// `commit_data` does not decode as the commit struct of the batch's protocol minor.
    #[error("malformed commit data for protocol minor {minor}: {fault}")]
    MalformedCommitData {
        /// The protocol minor whose struct was expected.
        minor: u16,
        /// What is wrong with it.
        fault: DecodeFault,
    },
}

/// Why ABI-encoded bytes do not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeFault {
    /// The bytes end, or an offset or length points, past the end of the input.
    #[error("truncated: an offset or length points past the end of the data")]
    Truncated,
    /// A word is out of range for what it holds: a field's value for its type (for example a
    /// `uint64` with high bits set), or an offset or length for the address space.
    #[error("a value is out of range for its type")]
    OutOfRange,
    /// Any other violation of the ABI encoding.
    #[error("not a valid ABI encoding")]
    Invalid,
}

/// Why a quorum could not be collected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QuorumError {
    /// The total timeout passed with fewer valid signatures than the threshold. Its text names
    /// what each accepted signer did: refused (with its reason), approved with a signature that
    /// did not count (and why), or never answered.
    #[error(
        "quorum not reached: {got} of {needed} signatures{}",
        crate::quorum::shortfall(tally, silent)
    )]
    NotEnoughSigners {
        /// Distinct valid signers collected.
        got: usize,
        /// The threshold.
        needed: usize,
        /// Everything that was received.
        tally: Box<crate::Tally>,
        /// The accepted signers that never answered.
        silent: Vec<zks_api::SignerAddress>,
    },
    /// The threshold is zero or larger than the accepted-signer set, so no quorum can exist.
    #[error("threshold {threshold} is not reachable with {signers} accepted signers")]
    InvalidThreshold {
        /// The configured threshold.
        threshold: usize,
        /// How many signers are accepted.
        signers: usize,
    },
    /// The node refused to dispatch the batch (for example, it is not a main node).
    #[error("node cannot dispatch the batch: {0}")]
    Dispatch(#[source] zks_api::Error),
}
