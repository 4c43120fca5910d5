//! The seam between a node and a network: [`Transport`] and the [`Link`]s it yields.
//!
//! A transport gives authenticated, capability-negotiated, ordered, message-framed links to peers.
//! Each [`Link`] is a pair of bounded queues between the node and the transport's own task for
//! that connection:
//!
//! ```text
//!   node ── LinkSender ──[bounded]──▶ transport task ──▶ wire
//!   node ◀─ LinkReceiver ◀─[bounded]── transport task ◀── wire
//! ```
//!
//! Backpressure is real end to end: the node's `send` waits while the queue is full, and the
//! queue only drains as fast as the transport writes to the peer.
//!
//! What lives where: this module holds the trait and its errors; `info` what a link is
//! ([`LinkInfo`], with the peer's [`EthStatus`] where the transport runs `eth`); `link` the
//! node's half ([`Link`], [`LinkSender`], [`LinkReceiver`]); `close` how a link ends
//! ([`LinkClosed`], [`LinkGone`]). Writing a transport takes the [`kit`] too: the transport's
//! half of a link ([`kit::LinkEnd`] and its queues) and [`kit::pump`], the one link loop every
//! byte transport shares. Disconnect reasons are a wire fact: [`DisconnectReason`].

mod close;
mod info;
pub mod kit;
mod link;

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::mpsc;

pub use self::close::{LinkClosed, LinkGone};
pub use self::info::{EthStatus, LinkInfo};
pub use self::link::{Link, LinkReceiver, LinkSender, OwnedSendPermit, SendPermit, TrySendError};
use crate::wire::VersionSet;
pub use crate::wire::{Capabilities, LinkCaps};
use crate::{DisconnectReason, PeerAddr, PeerId};

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

/// The transport author's kit at its old place; see [`kit`]. These names go in the next
/// release.
#[deprecated(since = "0.1.0", note = "moved to zks_api::transport::kit::pump")]
pub mod pump {
    pub use super::kit::pump::*;
}

/// Moved to [`kit::LinkEnd`].
#[deprecated(since = "0.1.0", note = "moved to zks_api::transport::kit::LinkEnd")]
pub type LinkEnd = kit::LinkEnd;
/// Moved to [`kit::InboundQueue`].
#[deprecated(
    since = "0.1.0",
    note = "moved to zks_api::transport::kit::InboundQueue"
)]
pub type InboundQueue = kit::InboundQueue;
/// Moved to [`kit::OutboundQueue`].
#[deprecated(
    since = "0.1.0",
    note = "moved to zks_api::transport::kit::OutboundQueue"
)]
pub type OutboundQueue = kit::OutboundQueue;
/// Moved to [`kit::Outbound`].
#[deprecated(since = "0.1.0", note = "moved to zks_api::transport::kit::Outbound")]
pub type Outbound = kit::Outbound;
/// Moved to [`kit::DeliverPermit`].
#[deprecated(
    since = "0.1.0",
    note = "moved to zks_api::transport::kit::DeliverPermit"
)]
pub type DeliverPermit<'a> = kit::DeliverPermit<'a>;
/// Moved to [`kit::MessageSizeCap`].
#[deprecated(
    since = "0.1.0",
    note = "moved to zks_api::transport::kit::MessageSizeCap"
)]
pub type MessageSizeCap = kit::MessageSizeCap;
/// Moved to [`kit::RepeatSummary`].
#[deprecated(
    since = "0.1.0",
    note = "moved to zks_api::transport::kit::RepeatSummary"
)]
pub type RepeatSummary = kit::RepeatSummary;
