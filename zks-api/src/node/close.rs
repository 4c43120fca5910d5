//! How links end: [`CloseCause`].

use crate::engine::{ProtocolError, TimeoutKind};
use crate::middleware::Rejection;
use crate::transport::LinkClosed;
use crate::{BlockNumber, DisconnectReason, SinkError, SourceError};

/// Why a link ended, as reported in [`ProtocolEvent::Closed`](crate::ProtocolEvent::Closed).
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
    /// The main node sent a record that does not follow the last one we applied
    /// ([`ReplayRecord::follows`](crate::ReplayRecord::follows)): it is on another chain. Nothing
    /// from that message was applied; we disconnect it as useless and redial.
    #[error("record for block {block} does not follow our chain (another fork?)")]
    Diverged {
        /// The first block that did not follow.
        block: BlockNumber,
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

impl CloseCause {
    /// The Disconnect reason we send the peer, or `None` when the link is already gone.
    pub fn disconnect_reason(&self) -> Option<DisconnectReason> {
        match self {
            Self::Protocol(_) => Some(DisconnectReason::ProtocolBreach),
            Self::Link(_) => None,
            Self::Source(_) | Self::Sink(_) => Some(DisconnectReason::SubprotocolError),
            Self::Diverged { .. } => Some(DisconnectReason::UselessPeer),
            Self::SinkMoved { .. } | Self::Timeout(TimeoutKind::Idle) => {
                Some(DisconnectReason::Requested)
            }
            Self::Rejected(Rejection::MessageTooLarge(_)) => Some(DisconnectReason::ProtocolBreach),
            Self::Rejected(_) | Self::Timeout(_) => Some(DisconnectReason::SubprotocolError),
            Self::Shutdown => Some(DisconnectReason::ClientQuitting),
        }
    }
}
