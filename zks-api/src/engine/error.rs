//! Protocol violations and how links end.

use crate::wire::{DecodeError, MessageId, Protocol, TwoFaMessageId};
use crate::{BlockNumber, RecordError};

/// A peer broke the zks protocol. The link is ended with Disconnect
/// [`ProtocolBreach`](crate::DisconnectReason::ProtocolBreach) and nothing from the offending message
/// is applied.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The message did not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A replay record did not decode.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// A message our role never accepts from this peer (e.g. `BlockReplays` sent to a main node).
    #[error("unexpected {id:?} message")]
    UnexpectedMessage {
        /// The message received.
        id: MessageId,
    },
    /// A `zks_2fa` message our role never accepts from this peer (e.g. `VerifyBatch` sent to a
    /// main node).
    #[error("unexpected zks_2fa {id:?} message")]
    UnexpectedTwoFaMessage {
        /// The message received.
        id: TwoFaMessageId,
    },
    /// A frame on a subprotocol this link did not negotiate (a transport bug or a forged tag).
    #[error("frame on {protocol}, which this link did not negotiate")]
    NotNegotiated {
        /// The subprotocol the frame was tagged with.
        protocol: Protocol,
    },
    /// zks/5: the first zks message was not `GetBlockReplays`.
    #[error("first zks message is {id:?}, not GetBlockReplays")]
    FirstMessageNotReplayRequest {
        /// The message received.
        id: MessageId,
    },
    /// More verifier role requests than [`ROLE_REQUEST_BURST`](super::ROLE_REQUEST_BURST) per
    /// [`ROLE_REQUEST_REFILL`](super::ROLE_REQUEST_REFILL) allow.
    #[error("verifier role requests arrive faster than allowed")]
    RoleRequestFlood,
    /// A second `GetBlockReplays` on one link.
    #[error("second GetBlockReplays on one link")]
    DuplicateReplayRequest,
    /// `BlockReplays` from a peer we did not ask for replay (untrusted, or before our request).
    #[error("unsolicited BlockReplays")]
    UnsolicitedReplay,
    /// A second `VerifierRoleRequest` on one link.
    #[error("second VerifierRoleRequest on one link")]
    DuplicateRoleRequest,
    /// `VerifierAuth` with no challenge pending.
    #[error("VerifierAuth without a pending challenge")]
    AuthWithoutChallenge,
    /// `VerifyBatchResult` from a peer that is not an authorized verifier.
    #[error("VerifyBatchResult from a peer that is not an authorized verifier")]
    ResultFromUnauthorizedPeer,
    /// More `VerifyBatch` requests pending on one link than we queue.
    #[error("more than {max} VerifyBatch requests pending")]
    TooManyPendingVerifications {
        /// The limit.
        max: usize,
    },
    /// The `VerifyBatch` requests pending on one link would hold more commit data than we
    /// queue ([`NodeSettings::max_pending_verification_bytes`](crate::NodeSettings::max_pending_verification_bytes)).
    #[error("VerifyBatch requests pending would hold more than {max_bytes} bytes")]
    TooManyPendingVerificationBytes {
        /// The limit.
        max_bytes: usize,
    },
    /// A record skipped ahead of the next expected block.
    #[error("replay gap: expected block {expected}, got {got}")]
    ReplayGap {
        /// The block that had to come next.
        expected: BlockNumber,
        /// The block that came.
        got: BlockNumber,
    },
    /// The previous block was sent again.
    #[error("repeated block {got} (expected {expected})")]
    ReplayRepeat {
        /// The block that had to come next.
        expected: BlockNumber,
        /// The block that came.
        got: BlockNumber,
    },
    /// A block from further back than the previous one.
    #[error("out-of-order block {got} (expected {expected})")]
    ReplayOutOfOrder {
        /// The block that had to come next.
        expected: BlockNumber,
        /// The block that came.
        got: BlockNumber,
    },
}

impl ProtocolError {
    /// Classifies a record whose number is not the expected next block.
    pub(crate) fn not_next(expected: BlockNumber, got: BlockNumber) -> Self {
        if got > expected {
            Self::ReplayGap { expected, got }
        } else if got.checked_add(1) == Some(expected) {
            Self::ReplayRepeat { expected, got }
        } else {
            Self::ReplayOutOfOrder { expected, got }
        }
    }
}

/// Which deadline a silent link missed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimeoutKind {
    /// MN: no replay or verifier-role request in time.
    FirstMessage,
    /// A verifier handshake step did not come in time.
    Handshake,
    /// No message in either direction for the idle timeout.
    Idle,
}

impl std::fmt::Display for TimeoutKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::FirstMessage => "no first message",
            Self::Handshake => "verifier handshake stalled",
            Self::Idle => "idle link",
        })
    }
}
