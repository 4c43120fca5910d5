//! The seam between the engine and a network: [`Transport`] and the [`Link`]s it yields.
//!
//! A transport gives authenticated, capability-negotiated, ordered, message-framed links to peers.
//! Each [`Link`] is a pair of bounded queues between the engine and the transport's own task for
//! that connection:
//!
//! ```text
//!   engine ── LinkSender ──[bounded]──▶ transport task ──▶ wire
//!   engine ◀─ LinkReceiver ◀─[bounded]── transport task ◀── wire
//! ```
//!
//! Backpressure is real end to end: the engine's `send` waits while the queue is full, and the
//! queue only drains as fast as the transport writes to the peer. A transport implements its side
//! with [`Link::channel`] and the returned [`LinkEnd`]; a byte-stream transport runs the
//! returned end with the generic [`pump`] over its own `tokio_util` codec.
//!
//! What lives where: this module holds the trait, its errors and [`LinkInfo`]; `link` the
//! engine's half ([`Link`], [`LinkSender`], [`LinkReceiver`], [`LinkClosed`]); `end` the
//! transport author's half ([`LinkEnd`] and its queues); [`pump`] the one link loop every
//! byte transport shares. Disconnect reasons are a wire fact: [`DisconnectReason`].

mod end;
mod link;
pub mod pump;
mod summary;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::mpsc;

pub use self::end::{DeliverPermit, InboundQueue, LinkEnd, Outbound, OutboundQueue};
pub use self::link::{
    Link, LinkClosed, LinkGone, LinkReceiver, LinkSender, MessageSizeCap, OwnedSendPermit,
    SendPermit, TrySendError,
};
pub use self::summary::RepeatSummary;
use crate::wire::VersionSet;
pub use crate::wire::{Capabilities, LinkCaps};
use crate::{Direction, DisconnectReason, PeerAddr, PeerId};

/// Gives authenticated, capability-negotiated, ordered, message-framed links to peers.
///
/// Implemented by `zks-memnet` (in memory), `zks-devp2p` (RLPx over TCP) and `zks-libp2p`.
/// Object safe: the node holds an `Arc<dyn Transport>`.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    /// Our own identity on this transport.
    fn local_id(&self) -> PeerId;

    /// The identity an address names, so a node can recognise trusted peers on inbound links.
    ///
    /// # Errors
    ///
    /// [`TransportError::InvalidAddress`] when the address does not parse or names no identity.
    fn peer_id(&self, addr: &PeerAddr) -> Result<PeerId, TransportError>;

    /// Where peers reach us, in this transport's address syntax, while it listens; `None`
    /// before [`listen`](Self::listen) and after the listener stopped (the node that took its
    /// [`Incoming`] let go of it). Default: `None`.
    fn local_peer_addr(&self) -> Option<PeerAddr> {
        None
    }

    /// Starts accepting links; `caps` is what we advertise to dialing peers.
    ///
    /// Called once per node. Links whose negotiation fails are reported as `Err` items, so the
    /// node can log and count them.
    ///
    /// # Errors
    ///
    /// Failing to bind (address in use, already listening).
    async fn listen(&self, caps: Capabilities) -> Result<Incoming, TransportError>;

    /// Opens a link to `addr`, advertising `caps`; the link carries the highest zks version both
    /// sides support, and `zks_2fa` where both speak it.
    ///
    /// # Errors
    ///
    /// The peer is unreachable, refuses us, fails authentication, or shares no version
    /// ([`TransportError::NoCommonVersion`]).
    ///
    /// # Cancel safety
    ///
    /// Cancelling drops the half-open connection.
    async fn dial(&self, addr: &PeerAddr, caps: Capabilities) -> Result<Link, TransportError>;
}

#[async_trait]
impl<T: Transport + ?Sized> Transport for Arc<T> {
    fn local_id(&self) -> PeerId {
        (**self).local_id()
    }
    fn peer_id(&self, addr: &PeerAddr) -> Result<PeerId, TransportError> {
        (**self).peer_id(addr)
    }
    fn local_peer_addr(&self) -> Option<PeerAddr> {
        (**self).local_peer_addr()
    }
    async fn listen(&self, caps: Capabilities) -> Result<Incoming, TransportError> {
        (**self).listen(caps).await
    }
    async fn dial(&self, addr: &PeerAddr, caps: Capabilities) -> Result<Link, TransportError> {
        (**self).dial(addr, caps).await
    }
}

/// The stream of links peers opened to us, from [`Transport::listen`].
#[derive(Debug)]
pub struct Incoming {
    rx: mpsc::Receiver<Result<Link, TransportError>>,
}

impl Incoming {
    /// A bounded queue of incoming links: the transport keeps the sender.
    pub fn channel(capacity: usize) -> (mpsc::Sender<Result<Link, TransportError>>, Self) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (tx, Self { rx })
    }

    /// The next link (or failed attempt); `None` once the transport has shut down. `Incoming`
    /// is also a [`futures::Stream`] of the same items.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: no link is lost.
    pub async fn next(&mut self) -> Option<Result<Link, TransportError>> {
        self.rx.recv().await
    }
}

impl futures::Stream for Incoming {
    type Item = Result<Link, TransportError>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

/// Facts about one link, fixed when it is established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkInfo {
    /// The authenticated identity of the peer.
    pub peer: PeerId,
    /// The peer's address as the transport sees it.
    pub remote_addr: PeerAddr,
    /// Who opened the link.
    pub direction: Direction,
    /// The negotiated subprotocols: the zks version, and `zks_2fa` where both sides speak it.
    pub caps: LinkCaps,
}

/// Why a transport could not give us a link.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The address does not parse, or names no identity.
    #[error("invalid address {addr}: {reason}")]
    InvalidAddress {
        /// The address.
        addr: PeerAddr,
        /// What is wrong with it.
        reason: Arc<str>,
    },
    /// Nobody answers at the address (connection refused, no such node, partitioned).
    #[error("{addr} is unreachable: {reason}")]
    Unreachable {
        /// The address.
        addr: PeerAddr,
        /// What happened.
        reason: Arc<str>,
    },
    /// The two sides share no zks version.
    #[error("no common zks version with {peer}: we support {local}, it supports {remote}")]
    NoCommonVersion {
        /// The other side.
        peer: PeerId,
        /// What we advertised.
        local: VersionSet,
        /// What the peer advertised.
        remote: VersionSet,
    },
    /// The peer disconnected during setup, telling us why.
    #[error("{peer} refused the link: {reason}")]
    Refused {
        /// The other side (as far as known).
        peer: PeerAddr,
        /// Its reason.
        reason: DisconnectReason,
    },
    /// Authentication or setup failed (bad handshake, wrong identity, timeout).
    #[error("handshake with {peer} failed: {reason}")]
    Handshake {
        /// The other side (as far as known).
        peer: PeerAddr,
        /// What went wrong.
        reason: Arc<str>,
    },
    /// `listen` was called twice, or the address is taken.
    #[error("cannot listen: {0}")]
    Listen(Arc<str>),
    /// An I/O error.
    #[error("i/o error: {0}")]
    Io(Arc<std::io::Error>),
    /// The transport has shut down.
    #[error("transport is shut down")]
    Shutdown,
}

impl From<std::io::Error> for TransportError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(Arc::new(e))
    }
}

impl fmt::Display for LinkInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} ({})",
            self.peer, self.direction, self.remote_addr, self.caps
        )
    }
}
