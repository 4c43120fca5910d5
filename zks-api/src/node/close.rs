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
    /// sink); we disconnect and redial from the sink's `resume_block`.
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
    /// We do not serve what the peer asked for (a relay's limits, or blocks before our first);
    /// we disconnect it as useless so it asks its next upstream.
    #[error("not served: {0}")]
    NotServed(NotServed),
    /// The inbound middleware refused a message (too large, over budget, or a user layer).
    #[error("refused: {0}")]
    Rejected(#[from] Rejection),
    /// The peer stayed silent past a deadline.
    #[error("timed out: {0}")]
    Timeout(TimeoutKind),
    /// Code serving the link panicked (a store, verifier or layer of the node team's, or a
    /// bug of ours); only this link ended. An external node redials.
    #[error("panicked while serving the link: {0}")]
    Panicked(String),
    /// The node is shutting down.
    #[error("node shutting down")]
    Shutdown,
    /// External node: replay moved to another trusted upstream (a higher-priority one is level
    /// again, or this one stalled while another is ahead); see
    /// [`ProtocolEvent::UpstreamSwitched`](crate::ProtocolEvent::UpstreamSwitched).
    #[error("replay moved to another upstream")]
    Superseded,
}

impl CloseCause {
    /// The Disconnect reason we send the peer, or `None` when the link is already gone.
    pub fn disconnect_reason(&self) -> Option<DisconnectReason> {
        match self {
            Self::Protocol(_) => Some(DisconnectReason::ProtocolBreach),
            Self::Link(_) => None,
            Self::Source(_) | Self::Sink(_) | Self::Panicked(_) => {
                Some(DisconnectReason::SubprotocolError)
            }
            Self::Diverged { .. } | Self::NotServed(_) => Some(DisconnectReason::UselessPeer),
            Self::SinkMoved { .. } | Self::Superseded | Self::Timeout(TimeoutKind::Idle) => {
                Some(DisconnectReason::Requested)
            }
            Self::Rejected(Rejection::MessageTooLarge(_)) => Some(DisconnectReason::ProtocolBreach),
            Self::Rejected(_) | Self::Timeout(_) => Some(DisconnectReason::SubprotocolError),
            Self::Shutdown => Some(DisconnectReason::ClientQuitting),
        }
    }
}

/// What a main node or relay does not serve ([`CloseCause::NotServed`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotServed {
    /// Verifiers authenticate with the main node itself; a relay does not take or pass on the
    /// verifier role.
    #[error("verification is not relayed: verifiers must link to the main node")]
    VerifierRole,
    /// The request carries record overrides the relay's store does not hold
    /// ([`ReplaySource::holds_overrides`](crate::ReplaySource::holds_overrides)); serving
    /// canonical records instead would ignore them silently.
    #[error("record overrides for {count} block(s) from {first} on are not held by this relay")]
    Overrides {
        /// The lowest block with an override.
        first: BlockNumber,
        /// How many blocks have overrides.
        count: usize,
    },
    /// Replay was asked from a block before the source's first
    /// ([`ReplaySource::first_block`](crate::ReplaySource::first_block)): a ZKsync OS chain's
    /// records start at block 1, block 0 being the genesis every node has.
    #[error("replay from block {asked} was asked for; this node's records start at block {first}")]
    BeforeFirstBlock {
        /// The block asked for.
        asked: BlockNumber,
        /// The source's first block.
        first: BlockNumber,
    },
}
