//! Protocol violations and how links end.

use crate::middleware::Rejection;
use crate::transport::{DisconnectReason, LinkClosed};
use crate::wire::{DecodeError, MessageId};
use crate::{BlockNumber, RecordError, SinkError, SourceError};

/// A peer broke the zks protocol. The link is ended with Disconnect
/// [`ProtocolBreach`](DisconnectReason::ProtocolBreach) and nothing from the offending message
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

/// Why a link ended, as reported in [`ProtocolEvent::Closed`](super::ProtocolEvent::Closed).
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CloseCause {
    /// The peer broke the protocol; we disconnected it.
    #[error("protocol violation: {0}")]
    Protocol(#[from] ProtocolError),
    /// The peer or the transport ended the link.
    #[error(transparent)]
    Link(#[from] LinkClosed),
    /// Our replay source failed; we disconnected the peer, which will resume elsewhere or later.
    #[error("replay source failed: {0}")]
    Source(SourceError),
    /// Our replay sink failed; we disconnected and will redial, resuming from the sink.
    #[error("replay sink failed: {0}")]
    Sink(SinkError),
    /// Our sink's resume point moved past what this link delivers (someone else wrote to the
    /// sink); we disconnect and redial from the sink's `next_block`.
    #[error("sink expects block {sink_next}, link delivers from {got}")]
    SinkMoved {
        /// The sink's next block.
        sink_next: BlockNumber,
        /// The first block the link delivered.
        got: BlockNumber,
    },
    /// The inbound middleware refused a message (too large, over budget, or a user layer).
    #[error("refused: {0}")]
    Rejected(#[from] Rejection),
    /// The peer stayed silent past a deadline.
    #[error("timed out: {0}")]
    Timeout(TimeoutKind),
    /// The node is shutting down.
    #[error("node shutting down")]
    Shutdown,
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

impl CloseCause {
    /// The Disconnect reason we send the peer, or `None` when the link is already gone.
    pub fn disconnect_reason(&self) -> Option<DisconnectReason> {
        match self {
            Self::Protocol(_) => Some(DisconnectReason::ProtocolBreach),
            Self::Link(_) => None,
            Self::Source(_) | Self::Sink(_) => Some(DisconnectReason::SubprotocolError),
            Self::SinkMoved { .. } | Self::Timeout(TimeoutKind::Idle) => {
                Some(DisconnectReason::Requested)
            }
            Self::Rejected(Rejection::MessageTooLarge(_)) => Some(DisconnectReason::ProtocolBreach),
            Self::Rejected(_) | Self::Timeout(_) => Some(DisconnectReason::SubprotocolError),
            Self::Shutdown => Some(DisconnectReason::ClientQuitting),
        }
    }
}
