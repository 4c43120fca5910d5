//! Error types of the crate: key loading, signature checks, and quorum collection.

use std::path::PathBuf;

/// A verifier key could not be loaded.
///
/// The message never contains key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
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
}

/// Why a quorum could not be collected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QuorumError {
    /// The total timeout passed with fewer valid signatures than the threshold.
    #[error("quorum not reached: {got} of {needed} signatures")]
    NotEnoughSigners {
        /// Distinct valid signers collected.
        got: usize,
        /// The threshold.
        needed: usize,
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
    #[error("node cannot dispatch the batch")]
    Dispatch(#[source] zks_api::Error),
}
