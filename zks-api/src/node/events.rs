//! Protocol events: what happened on which link, in order.

use std::time::Duration;

use tokio::sync::broadcast;
use tokio_util::sync::ReusableBoxFuture;

use super::CloseCause;
use crate::transport::{LinkInfo, TransportError};
use crate::wire::RequestId;
use crate::{BlockNumber, ConnectionId, PeerAddr, PeerId, SignerAddress};

/// Why the main node dropped a verifier's result ([`ProtocolEvent::BatchResultDropped`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DroppedResult {
    /// The peer is not an authorized verifier on this link (current rules; under the seed
    /// generation's rules such a result ends the link). Upstream forwards these; we never count
    /// them.
    NotAuthorized,
    /// The result names another batch than the request it answers.
    WrongBatch {
        /// The batch the request was for.
        expected: u64,
    },
}

impl std::fmt::Display for DroppedResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotAuthorized => f.write_str("peer is not an authorized verifier"),
            Self::WrongBatch { expected } => {
                write!(
                    f,
                    "result names another batch than its request ({expected})"
                )
            }
        }
    }
}

/// Why an external node moved replay to another upstream
/// ([`ProtocolEvent::UpstreamSwitched`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SwitchReason {
    /// A higher-priority upstream holds our last block again: back to it.
    Failback,
    /// The active upstream sent nothing new for this long while the new one has our next block.
    Stalled {
        /// How long the active upstream had made no progress.
        idle: Duration,
    },
    /// The active link sent nothing new for this long, yet a fresh link to the same upstream
    /// got our next block: the link's stream went silent (a lost wakeup in the main node's
    /// replay source, say) while the link stayed up. The link is replaced by a fresh one to
    /// the same upstream (`from == to`).
    Silent {
        /// How long the link had made no progress.
        idle: Duration,
    },
    /// The active link sent nothing new for [`NodeSettings::upstream_watchdog`] and the upstream
    /// could not be probed (a second link to it was refused or failed), so a silent stream
    /// could not be told from an idle chain: the link is replaced by a fresh one to the same
    /// upstream (`from == to`), in case its stream was stuck.
    ///
    /// [`NodeSettings::upstream_watchdog`]: super::NodeSettings::upstream_watchdog
    Watchdog {
        /// How long the link had made no progress.
        idle: Duration,
    },
}

impl std::fmt::Display for SwitchReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Failback => f.write_str("a higher-priority upstream is level again"),
            Self::Stalled { idle } => write!(
                f,
                "no progress for {idle:?} while the other upstream has our next block"
            ),
            Self::Silent { idle } => write!(
                f,
                "the link delivered nothing for {idle:?} while a fresh link to the same \
                 upstream got our next block; the link is replaced"
            ),
            Self::Watchdog { idle } => write!(
                f,
                "the link delivered nothing for {idle:?} and the upstream cannot be probed \
                 (a second link is refused); the link is replaced in case its stream is stuck"
            ),
        }
    }
}

/// Something that happened in the engine.
///
/// Events go to a bounded broadcast channel ([`Node::events`](crate::Node::events)); a consumer
/// that falls behind loses the oldest events, never slows the protocol. Events are output only:
/// the node's own view ([`Node::sessions`](crate::Node::sessions)) is updated before each event
/// is published, so a consumer that reads it on an event sees at least that event's change.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ProtocolEvent {
    /// A link is up and the engine is serving it.
    Established {
        /// The link.
        conn: ConnectionId,
        /// Peer, direction, address, negotiated versions and, where the transport ran `eth`,
        /// the peer's Status ([`LinkInfo::eth`]).
        info: LinkInfo,
        /// Whether the peer is one of our trusted main nodes (EN only).
        trusted: bool,
    },
    /// A link ended.
    Closed {
        /// The link.
        conn: ConnectionId,
        /// The peer.
        peer: PeerId,
        /// Why.
        cause: CloseCause,
    },
    /// An EN's dial to a trusted main node failed; it retries after `retry_in`.
    DialFailed {
        /// Where we dialed.
        addr: PeerAddr,
        /// What went wrong.
        error: TransportError,
        /// The backoff before the next attempt.
        retry_in: Duration,
    },
    /// EN or relay: replay moved from the active upstream to another one, which is dialed
    /// next — or, for [`SwitchReason::Silent`] and [`SwitchReason::Watchdog`], to a fresh
    /// link to the same upstream (`from == to`). The link to `from` ends with
    /// [`CloseCause::Superseded`]; exactly-once holds across the move (the new link resumes
    /// from the sink's next block).
    UpstreamSwitched {
        /// The upstream replay came from.
        from: PeerAddr,
        /// The upstream it moves to.
        to: PeerAddr,
        /// Why.
        reason: SwitchReason,
    },
    /// Relay: a peer asking us for replay is also an upstream we replay from (a loop in the
    /// nodes' trusted main nodes). Harmless — no block is applied twice and an idle link sends
    /// nothing — but that peer cannot give us anything new.
    ReplayLoop {
        /// The downstream link.
        conn: ConnectionId,
        /// The peer.
        peer: PeerId,
    },
    /// A link beyond the active-link cap was refused with `TooManyPeers`.
    MaxActiveConnectionsExceeded {
        /// The refused peer.
        peer: PeerId,
        /// The cap.
        limit: usize,
    },
    /// A peer's attempt to link to us failed during setup.
    IncomingFailed {
        /// What went wrong.
        error: TransportError,
    },
    /// MN: a peer asked for replay.
    ReplayRequested {
        /// The link.
        conn: ConnectionId,
        /// The peer.
        peer: PeerId,
        /// First block asked for.
        starting_block: BlockNumber,
        /// Records per message we will send (after clamping).
        max_blocks_per_message: usize,
        /// How many record overrides the peer asked for.
        overrides: usize,
    },
    /// MN: one `BlockReplays` was handed to the link.
    ReplayBlockSent {
        /// The link.
        conn: ConnectionId,
        /// The peer.
        peer: PeerId,
        /// First block in the message.
        first_block: BlockNumber,
        /// Last block in the message.
        last_block: BlockNumber,
    },
    /// MN: a peer asked for the verifier role.
    VerifierRoleRequested {
        /// The link.
        conn: ConnectionId,
        /// The peer.
        peer: PeerId,
    },
    /// MN: we challenged the peer with a fresh nonce.
    VerifierChallengeSent {
        /// The link.
        conn: ConnectionId,
        /// The peer.
        peer: PeerId,
    },
    /// MN: the peer proved an accepted verifier key.
    VerifierAuthorized {
        /// The link.
        conn: ConnectionId,
        /// The peer.
        peer: PeerId,
        /// Its verifier address.
        signer: SignerAddress,
    },
    /// MN: the peer's signature does not prove an accepted key.
    VerifierUnauthorized {
        /// The link.
        conn: ConnectionId,
        /// The peer.
        peer: PeerId,
        /// The address its signature recovers to, if any.
        signer: Option<SignerAddress>,
    },
    /// MN: a `VerifyBatch` was handed to an eligible verifier's link.
    BatchDispatched {
        /// The link.
        conn: ConnectionId,
        /// The peer.
        peer: PeerId,
        /// The request.
        request_id: RequestId,
    },
    /// MN: an authorized verifier answered.
    BatchResultReceived {
        /// The link.
        conn: ConnectionId,
        /// The peer.
        peer: PeerId,
        /// The request it answers.
        request_id: RequestId,
        /// Whether it approved.
        approved: bool,
        /// Whether a dispatch was still waiting for it (stale results are dropped).
        routed: bool,
    },
    /// MN: an authorized verifier refused a batch, with its reason (emitted before the
    /// [`BatchResultReceived`](Self::BatchResultReceived) or
    /// [`BatchResultDropped`](Self::BatchResultDropped) of the same result).
    BatchRefused {
        /// The link.
        conn: ConnectionId,
        /// The peer.
        peer: PeerId,
        /// The address the peer authenticated with.
        signer: SignerAddress,
        /// The request it answers.
        request_id: RequestId,
        /// The batch it names.
        batch_number: u64,
        /// The verifier's reason (at most 1 KiB, as the wire allows).
        reason: String,
    },
    /// MN: a verifier's result was dropped before it reached a dispatch, and the link goes on
    /// (a result that cannot be counted is not a reason to stop replay).
    BatchResultDropped {
        /// The link.
        conn: ConnectionId,
        /// The peer.
        peer: PeerId,
        /// The request it claims to answer.
        request_id: RequestId,
        /// The batch it claims to answer.
        batch_number: u64,
        /// Why it was dropped.
        reason: DroppedResult,
    },
    /// EN: we answered a `VerifyBatch`.
    BatchAnswered {
        /// The link.
        conn: ConnectionId,
        /// The main node.
        peer: PeerId,
        /// The request.
        request_id: RequestId,
        /// Whether we approved.
        approved: bool,
    },
    /// EN: records from a link were applied to the sink.
    ReplayApplied {
        /// The link.
        conn: ConnectionId,
        /// The peer.
        peer: PeerId,
        /// First block applied.
        first_block: BlockNumber,
        /// Last block applied.
        last_block: BlockNumber,
    },
}

/// A subscription to a node's events: a [`futures::Stream`] of [`ProtocolEvent`]s (use
/// `StreamExt`), or [`next`](Self::next) directly.
pub struct EventStream {
    next: ReusableBoxFuture<'static, Received>,
    lagged: u64,
}

type Received = (
    Result<ProtocolEvent, broadcast::error::RecvError>,
    broadcast::Receiver<ProtocolEvent>,
);

async fn receive(mut rx: broadcast::Receiver<ProtocolEvent>) -> Received {
    let event = rx.recv().await;
    (event, rx)
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("lagged", &self.lagged)
            .finish_non_exhaustive()
    }
}

impl EventStream {
    pub(crate) fn new(rx: broadcast::Receiver<ProtocolEvent>) -> Self {
        Self {
            next: ReusableBoxFuture::new(receive(rx)),
            lagged: 0,
        }
    }

    /// The next event; `None` once the node is gone. Events lost because this subscriber fell
    /// behind are skipped and counted in [`lagged`](Self::lagged).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn next(&mut self) -> Option<ProtocolEvent> {
        futures::StreamExt::next(self).await
    }

    /// The next event that `f` maps to `Some`, skipping the others.
    pub async fn find<T>(&mut self, mut f: impl FnMut(&ProtocolEvent) -> Option<T>) -> Option<T> {
        while let Some(event) = self.next().await {
            if let Some(found) = f(&event) {
                return Some(found);
            }
        }
        None
    }

    /// How many events this subscriber has missed by falling behind.
    pub fn lagged(&self) -> u64 {
        self.lagged
    }
}

impl futures::Stream for EventStream {
    type Item = ProtocolEvent;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<ProtocolEvent>> {
        use broadcast::error::RecvError;
        loop {
            let (event, rx) = std::task::ready!(self.next.poll(cx));
            self.next.set(receive(rx));
            match event {
                Ok(event) => return std::task::Poll::Ready(Some(event)),
                Err(RecvError::Lagged(n)) => self.lagged += n,
                Err(RecvError::Closed) => return std::task::Poll::Ready(None),
            }
        }
    }
}
