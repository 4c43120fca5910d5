//! The `eth` layer's errors and the Disconnect reason each one maps to.
//!
//! The reasons follow what a reth peer sends (reth v2.3.0, `crates/net/eth-wire/src/handshake.rs`
//! and `multiplex.rs`): a Status that does not decode is answered with `DisconnectRequested`
//! ([`DisconnectReason::Requested`]); an oversized Status and every failed check is a protocol
//! breach; an id past every shared capability is a protocol breach; no shared capability makes
//! the peer useless.

use zks_api::DisconnectReason;

use super::B256;
use super::forkid::{ForkId, ForkRejection};
use super::version::EthVersion;

/// Both chains of a [`StatusError::GenesisMismatch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenesisMismatch {
    /// The peer's genesis hash.
    pub got: B256,
    /// Ours.
    pub expected: B256,
    /// The network id in the peer's Status (the chain id on a ZKsync OS chain).
    pub got_network_id: u64,
    /// Ours.
    pub network_id: u64,
}

/// A peer's Status does not decode or does not pass reth's checks.
///
/// Every variant ends the session: the session sends [`StatusError::disconnect_reason`] and
/// closes the link.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StatusError {
    /// The Status's RLP list (header included) is larger than
    /// [`MAX_STATUS_SIZE`](super::MAX_STATUS_SIZE); rejected from the header, before reading
    /// any field. Disconnect: protocol breach.
    #[error("status too large: {got} bytes, max {max}")]
    TooLarge {
        /// The size its RLP header declares (saturated to `usize::MAX`).
        got: usize,
        /// Our cap.
        max: usize,
    },
    /// A field (or the list itself) is not valid RLP of its type: wrong kind, wrong length,
    /// non-canonical or overflowing integer, truncated input. Disconnect: requested (reth's
    /// answer to a Status it cannot decode).
    #[error("malformed status {field}: {reason}")]
    Malformed {
        /// The field: `status`, `version`, `networkid`, `td`, `blockhash`, `genesis`, `forkid`,
        /// `forkhash`, `forknext`, `earliest` or `latest`.
        field: &'static str,
        /// What alloy-rlp found wrong.
        reason: alloy_rlp::Error,
    },
    /// A list holds bytes after its last field. Disconnect: requested (a decoding error).
    #[error("{extra} trailing bytes inside the {list} list")]
    TrailingBytes {
        /// `status` or `forkid`.
        list: &'static str,
        /// How many bytes are left over.
        extra: usize,
    },
    /// The total difficulty (eth/66–68) is wider than
    /// [`MAX_TOTAL_DIFFICULTY_BITS`](super::MAX_TOTAL_DIFFICULTY_BITS). Disconnect: protocol
    /// breach.
    #[error("total difficulty has {bits} bits, max {max}")]
    TotalDifficultyTooLarge {
        /// Its bit length.
        bits: usize,
        /// The cap (160).
        max: usize,
    },
    /// The genesis hash differs from ours: the peer is a node of another chain. Disconnect:
    /// protocol breach.
    #[error(
        "genesis mismatch: the peer's chain has genesis 0x{} (network id {}), ours 0x{} \
         (network id {}): it is a node of another chain; check both nodes' chain id",
        hex::encode(.0.got),
        .0.got_network_id,
        hex::encode(.0.expected),
        .0.network_id
    )]
    GenesisMismatch(Box<GenesisMismatch>),
    /// The Status version differs from the negotiated `eth` version. Disconnect: protocol
    /// breach.
    #[error("status version {got}, negotiated {expected}")]
    VersionMismatch {
        /// The negotiated version.
        expected: u8,
        /// The version in the Status.
        got: u8,
    },
    /// The Status has the other layout (eth/66–68 vs eth/69) than the negotiated version's.
    /// Only a hand-built Status can be in this state: decoding always uses the negotiated
    /// layout. Disconnect: protocol breach.
    #[error("status layout does not match negotiated {negotiated}")]
    LayoutMismatch {
        /// The negotiated version.
        negotiated: EthVersion,
    },
    /// The network id differs from ours (with the same genesis). Disconnect: protocol breach.
    #[error("network id mismatch: the peer's is {got}, ours {expected}")]
    NetworkIdMismatch {
        /// Our network id.
        expected: u64,
        /// The peer's.
        got: u64,
    },
    /// Our EIP-2124 fork filter rejects the peer's fork id. Disconnect: protocol breach.
    #[error("fork id {:08x}/{} rejected: {rejection}", u32::from_be_bytes(got.hash), got.next)]
    ForkIdRejected {
        /// The peer's fork id.
        got: ForkId,
        /// Which rule rejected it.
        rejection: ForkRejection,
    },
    /// eth/69: `earliest` is above `latest`. reth closes without a Disconnect frame; we send
    /// protocol breach.
    #[error("block range {earliest}..={latest} is empty")]
    EarliestAfterLatest {
        /// The earliest available block.
        earliest: u64,
        /// The latest block.
        latest: u64,
    },
    /// eth/69: the latest block hash is zero. reth closes without a Disconnect frame; we send
    /// protocol breach.
    #[error("zero latest block hash")]
    ZeroBlockHash,
}

impl StatusError {
    /// The Disconnect reason a reth peer sends for this error.
    pub const fn disconnect_reason(&self) -> DisconnectReason {
        match self {
            Self::Malformed { .. } | Self::TrailingBytes { .. } => DisconnectReason::Requested,
            Self::TooLarge { .. }
            | Self::TotalDifficultyTooLarge { .. }
            | Self::GenesisMismatch(_)
            | Self::VersionMismatch { .. }
            | Self::LayoutMismatch { .. }
            | Self::NetworkIdMismatch { .. }
            | Self::ForkIdRejected { .. }
            | Self::EarliestAfterLatest { .. }
            | Self::ZeroBlockHash => DisconnectReason::ProtocolBreach,
        }
    }
}

/// An `eth` message (other than Status) is invalid for the negotiated version.
///
/// Every variant is a protocol breach: reth ends the session on an invalid `eth` message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EthMessageError {
    /// The relative id is not a message of the negotiated version (an unused id, a message the
    /// version removed or one it does not have yet).
    #[error("eth message id {id:#04x} is not in {version}")]
    UnknownId {
        /// The relative id.
        id: u8,
        /// The negotiated version.
        version: EthVersion,
    },
    /// The message is larger than its cap; rejected from the RLP header.
    #[error("{message} too large: {got} bytes, max {max}")]
    TooLarge {
        /// The message.
        message: &'static str,
        /// The size its RLP header declares (saturated to `usize::MAX`).
        got: usize,
        /// Our cap.
        max: usize,
    },
    /// A field (or the message's list) is not valid RLP of its type.
    #[error("malformed {field}: {reason}")]
    Malformed {
        /// The field or message.
        field: &'static str,
        /// What alloy-rlp found wrong.
        reason: alloy_rlp::Error,
    },
    /// The message's list holds bytes after its last field.
    #[error("{extra} trailing bytes inside {message}")]
    TrailingBytes {
        /// The message.
        message: &'static str,
        /// How many bytes are left over.
        extra: usize,
    },
    /// BlockRangeUpdate: `earliest` is above `latest`.
    #[error("block range {earliest}..={latest} is empty")]
    InvalidBlockRange {
        /// The earliest available block.
        earliest: u64,
        /// The latest block.
        latest: u64,
    },
}

impl EthMessageError {
    /// The Disconnect reason (always protocol breach).
    pub const fn disconnect_reason(&self) -> DisconnectReason {
        DisconnectReason::ProtocolBreach
    }
}

/// Capability negotiation failed, or a message id has no capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OffsetsError {
    /// No capability is shared. Disconnect: useless peer.
    #[error("no shared capability")]
    NoSharedCapability,
    /// The shared capabilities need more message ids than a `u16` offset holds (only a local
    /// list of thousands of capabilities gets here). Disconnect: subprotocol error.
    #[error("shared capabilities need more than 65536 message ids")]
    IdSpaceExhausted,
    /// An id below [`BASE_PROTOCOL_LENGTH`](super::BASE_PROTOCOL_LENGTH) belongs to `p2p`, not
    /// to a capability. Disconnect: protocol breach (reth's answer to an unused `p2p` id).
    #[error("message id {id:#04x} belongs to the base protocol")]
    BaseProtocolId {
        /// The absolute id.
        id: u64,
    },
    /// An id past every shared capability. Disconnect: protocol breach.
    #[error("message id {id:#04x} is past every shared capability")]
    UnknownMessageId {
        /// The absolute id.
        id: u64,
    },
    /// We asked for the id of a capability that is not shared (our bug). Disconnect:
    /// subprotocol error.
    #[error("capability is not shared")]
    NotShared,
    /// We asked for a relative id past the capability's message count (our bug). Disconnect:
    /// subprotocol error.
    #[error("relative id {id} is past the capability's {count} messages")]
    RelativeIdOutOfRange {
        /// The relative id.
        id: u8,
        /// The capability's message count.
        count: u8,
    },
}

impl OffsetsError {
    /// The Disconnect reason this error maps to.
    pub const fn disconnect_reason(&self) -> DisconnectReason {
        match self {
            Self::NoSharedCapability => DisconnectReason::UselessPeer,
            Self::BaseProtocolId { .. } | Self::UnknownMessageId { .. } => {
                DisconnectReason::ProtocolBreach
            }
            Self::IdSpaceExhausted | Self::NotShared | Self::RelativeIdOutOfRange { .. } => {
                DisconnectReason::SubprotocolError
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_stay_small() {
        assert!(
            size_of::<StatusError>() <= 48,
            "{}",
            size_of::<StatusError>()
        );
        assert!(size_of::<EthMessageError>() <= 40);
        assert!(size_of::<OffsetsError>() <= 16);
    }
}
