//! The seam between the engine and a network: [`Transport`] and the [`Link`]s it yields.
//!
//! A transport gives authenticated, version-negotiated, ordered, message-framed links to peers.
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
//! with [`Link::channel`] and the returned [`LinkEnd`].

use std::fmt;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use tokio::sync::{mpsc, watch};

use crate::wire::{Frame, VersionSet, ZksVersion};
use crate::{Direction, PeerAddr, PeerId};

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

    /// Starts accepting links; `versions` is what we advertise to dialing peers.
    ///
    /// Called once per node. Links whose negotiation fails are reported as `Err` items, so the
    /// node can log and count them.
    ///
    /// # Errors
    ///
    /// Failing to bind (address in use, already listening).
    async fn listen(&self, versions: VersionSet) -> Result<Incoming, TransportError>;

    /// Opens a link to `addr`, advertising `versions`; the link carries the highest version both
    /// sides support.
    ///
    /// # Errors
    ///
    /// The peer is unreachable, refuses us, fails authentication, or shares no version
    /// ([`TransportError::NoCommonVersion`]).
    ///
    /// # Cancel safety
    ///
    /// Cancelling drops the half-open connection.
    async fn dial(&self, addr: &PeerAddr, versions: VersionSet) -> Result<Link, TransportError>;
}

#[async_trait]
impl<T: Transport + ?Sized> Transport for Arc<T> {
    fn local_id(&self) -> PeerId {
        (**self).local_id()
    }
    fn peer_id(&self, addr: &PeerAddr) -> Result<PeerId, TransportError> {
        (**self).peer_id(addr)
    }
    async fn listen(&self, versions: VersionSet) -> Result<Incoming, TransportError> {
        (**self).listen(versions).await
    }
    async fn dial(&self, addr: &PeerAddr, versions: VersionSet) -> Result<Link, TransportError> {
        (**self).dial(addr, versions).await
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

    /// The next link (or failed attempt); `None` once the transport has shut down.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: no link is lost.
    pub async fn next(&mut self) -> Option<Result<Link, TransportError>> {
        self.rx.recv().await
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
    /// The negotiated version.
    pub version: ZksVersion,
}

/// A live link to one peer. Dropping every sender closes it with [`DisconnectReason::Requested`].
#[derive(Debug)]
pub struct Link {
    info: LinkInfo,
    sender: LinkSender,
    receiver: LinkReceiver,
}

impl Link {
    /// Creates a link and the transport's end of it; each direction queues at most `capacity`
    /// messages.
    pub fn channel(info: LinkInfo, capacity: usize) -> (Self, LinkEnd) {
        let (out_tx, out_rx) = mpsc::channel(capacity.max(1));
        let (in_tx, in_rx) = mpsc::channel(capacity.max(1));
        let ending = Arc::new(OnceLock::new());
        let (close_tx, close_rx) = watch::channel(None);
        let link = Self {
            info,
            sender: LinkSender {
                tx: out_tx,
                close: Arc::new(close_tx),
            },
            receiver: LinkReceiver {
                rx: in_rx,
                ending: Arc::clone(&ending),
            },
        };
        (
            link,
            LinkEnd {
                outbound: OutboundQueue {
                    frames: out_rx,
                    close: close_rx,
                },
                inbound: InboundQueue { tx: in_tx, ending },
            },
        )
    }

    /// Facts about the link.
    pub fn info(&self) -> &LinkInfo {
        &self.info
    }

    /// Splits the link into its halves.
    pub fn split(self) -> (LinkInfo, LinkSender, LinkReceiver) {
        (self.info, self.sender, self.receiver)
    }
}

/// What the engine hands the transport.
#[derive(Debug)]
pub enum Outbound {
    /// Send this message.
    Frame(Frame),
    /// Tell the peer why, then close the link.
    Close(DisconnectReason),
}

/// The engine's sending half. Cheap to clone; all clones feed one bounded queue.
#[derive(Clone, Debug)]
pub struct LinkSender {
    tx: mpsc::Sender<Frame>,
    /// Out of band, so a close is never stuck behind a full queue.
    close: Arc<watch::Sender<Option<DisconnectReason>>>,
}

/// A reserved slot in a link's send queue; see [`LinkSender::reserve`].
#[derive(Debug)]
pub struct SendPermit<'a>(mpsc::Permit<'a, Frame>);

impl SendPermit<'_> {
    /// Sends `frame` into the reserved slot; never waits.
    pub fn send(self, frame: Frame) {
        self.0.send(frame);
    }
}

impl LinkSender {
    /// Queues `frame`, waiting while the queue is full.
    ///
    /// # Errors
    ///
    /// [`LinkGone`] when the link has closed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a cancelled call queued nothing.
    pub async fn send(&self, frame: Frame) -> Result<(), LinkGone> {
        self.tx.send(frame).await.map_err(|_| LinkGone)
    }

    /// Waits for room in the queue and holds it, so a producer can prepare a message only once
    /// it can be sent (this is how replay production is tied to the link's send capacity).
    ///
    /// # Errors
    ///
    /// [`LinkGone`] when the link has closed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn reserve(&self) -> Result<SendPermit<'_>, LinkGone> {
        self.tx
            .reserve()
            .await
            .map(SendPermit)
            .map_err(|_| LinkGone)
    }

    /// Queues `frame` if there is room now.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] or [`TrySendError::Gone`].
    pub fn try_send(&self, frame: Frame) -> Result<(), TrySendError> {
        self.tx.try_send(frame).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => TrySendError::Full,
            mpsc::error::TrySendError::Closed(_) => TrySendError::Gone,
        })
    }

    /// Asks the transport to tell the peer `reason` and close the link, at once: messages still
    /// queued are dropped, and a full queue does not delay the close. The first reason wins.
    pub fn close(&self, reason: DisconnectReason) {
        self.close.send_if_modified(|slot| {
            let first = slot.is_none();
            if first {
                *slot = Some(reason);
            }
            first
        });
    }

    /// Whether the transport has let go of the link.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Resolves once the transport has let go of the link.
    pub async fn closed(&self) {
        self.tx.closed().await;
    }

    /// Free slots in the send queue right now.
    pub fn capacity(&self) -> usize {
        self.tx.capacity()
    }

    /// Total slots in the send queue.
    pub fn max_capacity(&self) -> usize {
        self.tx.max_capacity()
    }
}

/// The engine's receiving half.
#[derive(Debug)]
pub struct LinkReceiver {
    rx: mpsc::Receiver<Frame>,
    ending: Arc<OnceLock<LinkClosed>>,
}

impl LinkReceiver {
    /// The next message from the peer.
    ///
    /// # Errors
    ///
    /// How the link ended, once it has; every later call returns the same.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: no message is lost.
    pub async fn recv(&mut self) -> Result<Frame, LinkClosed> {
        match self.rx.recv().await {
            Some(frame) => Ok(frame),
            None => Err(self.ending.get().cloned().unwrap_or(LinkClosed::Dropped)),
        }
    }
}

/// The transport's end of a link, from [`Link::channel`].
///
/// [`split`](Self::split) it when reading and writing happen in different tasks.
#[derive(Debug)]
pub struct LinkEnd {
    outbound: OutboundQueue,
    inbound: InboundQueue,
}

impl LinkEnd {
    /// See [`OutboundQueue::next_outbound`].
    pub async fn next_outbound(&mut self) -> Option<Outbound> {
        self.outbound.next_outbound().await
    }

    /// See [`OutboundQueue::try_next_outbound`].
    pub fn try_next_outbound(&mut self) -> Option<Outbound> {
        self.outbound.try_next_outbound()
    }

    /// See [`InboundQueue::deliver`].
    ///
    /// # Errors
    ///
    /// [`LinkGone`] when the engine has dropped its receiver.
    pub async fn deliver(&self, frame: Frame) -> Result<(), LinkGone> {
        self.inbound.deliver(frame).await
    }

    /// See [`InboundQueue::reserve`].
    ///
    /// # Errors
    ///
    /// [`LinkGone`] when the engine has dropped its receiver.
    pub async fn reserve(&self) -> Result<DeliverPermit<'_>, LinkGone> {
        self.inbound.reserve().await
    }

    /// See [`InboundQueue::close`].
    pub fn close(self, closed: LinkClosed) {
        self.inbound.close(closed);
    }

    /// Whether the engine has dropped its receiver.
    pub fn is_engine_gone(&self) -> bool {
        self.inbound.is_engine_gone()
    }

    /// The two halves: what the engine wants sent, and where received messages go.
    pub fn split(self) -> (OutboundQueue, InboundQueue) {
        (self.outbound, self.inbound)
    }
}

/// What the engine wants sent on a link (the transport's reading half of the send queue).
#[derive(Debug)]
pub struct OutboundQueue {
    frames: mpsc::Receiver<Frame>,
    close: watch::Receiver<Option<DisconnectReason>>,
}

impl OutboundQueue {
    /// The next thing the engine wants done. A close request comes first, ahead of queued
    /// messages. `None` once the engine dropped every sender and the queue is drained: close the
    /// link with [`DisconnectReason::Requested`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn next_outbound(&mut self) -> Option<Outbound> {
        let mut close_open = true;
        loop {
            if let Some(reason) = *self.close.borrow_and_update() {
                return Some(Outbound::Close(reason));
            }
            tokio::select! {
                biased;
                changed = self.close.changed(), if close_open => {
                    // Err: every sender is gone; drain the queue, which then ends too.
                    close_open = changed.is_ok();
                }
                frame = self.frames.recv() => return frame.map(Outbound::Frame),
            }
        }
    }

    /// Like [`next_outbound`](Self::next_outbound) but never waits: `None` when nothing is
    /// pending right now (use it to batch writes).
    pub fn try_next_outbound(&mut self) -> Option<Outbound> {
        if let Some(reason) = *self.close.borrow() {
            return Some(Outbound::Close(reason));
        }
        self.frames.try_recv().ok().map(Outbound::Frame)
    }

    /// The reason the engine asked to close with, if it did. A transport that finds the engine
    /// gone should check this first: the engine may close with a reason and let go of the link
    /// at once, and the reason must still reach the peer.
    pub fn close_reason(&self) -> Option<DisconnectReason> {
        *self.close.borrow()
    }

    /// Messages waiting in the queue right now.
    pub fn queued(&self) -> usize {
        self.frames.len()
    }
}

/// Where a transport puts what it received on a link (the engine's receive queue).
#[derive(Debug)]
pub struct InboundQueue {
    tx: mpsc::Sender<Frame>,
    /// Out of band, so the reason is never lost behind a full queue.
    ending: Arc<OnceLock<LinkClosed>>,
}

impl InboundQueue {
    /// Hands a received message to the engine, waiting while its queue is full (stop reading
    /// from the wire meanwhile: that is the backpressure).
    ///
    /// # Errors
    ///
    /// [`LinkGone`] when the engine has dropped its receiver.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a cancelled call delivered nothing.
    pub async fn deliver(&self, frame: Frame) -> Result<(), LinkGone> {
        self.tx.send(frame).await.map_err(|_| LinkGone)
    }

    /// Reserves room for one delivery; see [`deliver`](Self::deliver).
    ///
    /// # Errors
    ///
    /// [`LinkGone`] when the engine has dropped its receiver.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn reserve(&self) -> Result<DeliverPermit<'_>, LinkGone> {
        self.tx
            .reserve()
            .await
            .map(DeliverPermit)
            .map_err(|_| LinkGone)
    }

    /// Reports how the link ended and lets go of it. Never waits; the engine still receives the
    /// messages delivered before, then `closed`.
    pub fn close(self, closed: LinkClosed) {
        let _ = self.ending.set(closed);
    }

    /// Whether the engine has dropped its receiver.
    pub fn is_engine_gone(&self) -> bool {
        self.tx.is_closed()
    }

    /// Resolves once the engine has dropped its receiver.
    pub async fn engine_gone(&self) {
        self.tx.closed().await;
    }
}

/// A reserved slot in the engine's receive queue; see [`LinkEnd::reserve`].
#[derive(Debug)]
pub struct DeliverPermit<'a>(mpsc::Permit<'a, Frame>);

impl DeliverPermit<'_> {
    /// Delivers `frame` into the reserved slot.
    pub fn deliver(self, frame: Frame) {
        self.0.send(frame);
    }
}

/// The link is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("link is closed")]
pub struct LinkGone;

/// Why [`LinkSender::try_send`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TrySendError {
    /// The queue is full; try again later.
    #[error("link send queue is full")]
    Full,
    /// The link is closed.
    #[error("link is closed")]
    Gone,
}

/// How a link ended, as the engine's receiver sees it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkClosed {
    /// The peer closed it, telling us why.
    #[error("peer disconnected: {0}")]
    ByPeer(DisconnectReason),
    /// Our transport closed it (I/O error, ping timeout, bad frame, killed by fault injection);
    /// `reason` is what the peer was told, `detail` says what happened.
    #[error("transport closed the link ({reason}): {detail}")]
    ByTransport {
        /// The Disconnect reason sent to the peer, if the transport could send one.
        reason: DisconnectReason,
        /// What went wrong, for logs.
        detail: Arc<str>,
    },
    /// The transport let go of the link without saying why.
    #[error("link dropped")]
    Dropped,
}

/// Why a link is being closed: the devp2p Disconnect reasons, which every transport maps to its
/// own means (memnet carries them as is; libp2p logs them before resetting the stream).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// `0x00`: the application asked to disconnect.
    Requested = 0x00,
    /// `0x01`: a network or I/O error.
    TcpSubsystemError = 0x01,
    /// `0x02`: the peer broke the protocol (bad message, violation).
    ProtocolBreach = 0x02,
    /// `0x03`: no shared capability, or the peer is of no use to us.
    UselessPeer = 0x03,
    /// `0x04`: we are at our connection limit.
    TooManyPeers = 0x04,
    /// `0x05`: we already have a link to this peer.
    AlreadyConnected = 0x05,
    /// `0x06`: incompatible base protocol version.
    IncompatibleVersion = 0x06,
    /// `0x07`: the peer's identity is invalid.
    InvalidIdentity = 0x07,
    /// `0x08`: we are shutting down.
    ClientQuitting = 0x08,
    /// `0x09`: the peer's identity is not the one we dialed.
    UnexpectedIdentity = 0x09,
    /// `0x0a`: we dialed ourselves.
    ConnectedToSelf = 0x0a,
    /// `0x0b`: the peer did not answer a ping in time.
    PingTimeout = 0x0b,
    /// `0x10`: a subprotocol-specific reason.
    SubprotocolError = 0x10,
}

impl DisconnectReason {
    /// The devp2p reason code.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The reason with this devp2p code, if it is one.
    pub const fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0x00 => Self::Requested,
            0x01 => Self::TcpSubsystemError,
            0x02 => Self::ProtocolBreach,
            0x03 => Self::UselessPeer,
            0x04 => Self::TooManyPeers,
            0x05 => Self::AlreadyConnected,
            0x06 => Self::IncompatibleVersion,
            0x07 => Self::InvalidIdentity,
            0x08 => Self::ClientQuitting,
            0x09 => Self::UnexpectedIdentity,
            0x0a => Self::ConnectedToSelf,
            0x0b => Self::PingTimeout,
            0x10 => Self::SubprotocolError,
            _ => return None,
        })
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Self::Requested => "disconnect requested",
            Self::TcpSubsystemError => "network error",
            Self::ProtocolBreach => "breach of protocol",
            Self::UselessPeer => "useless peer",
            Self::TooManyPeers => "too many peers",
            Self::AlreadyConnected => "already connected",
            Self::IncompatibleVersion => "incompatible p2p protocol version",
            Self::InvalidIdentity => "invalid node identity",
            Self::ClientQuitting => "client quitting",
            Self::UnexpectedIdentity => "unexpected identity",
            Self::ConnectedToSelf => "connected to self",
            Self::PingTimeout => "ping timeout",
            Self::SubprotocolError => "subprotocol error",
        };
        write!(f, "{text} ({:#04x})", self.code())
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

impl fmt::Display for LinkInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} ({})",
            self.peer, self.direction, self.remote_addr, self.version
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn _object_safe(_: &dyn Transport) {}

    #[test]
    fn disconnect_codes_round_trip() {
        for code in 0..=0xff {
            if let Some(reason) = DisconnectReason::from_code(code) {
                assert_eq!(reason.code(), code);
            }
        }
        assert_eq!(DisconnectReason::from_code(0x0c), None);
        assert_eq!(
            DisconnectReason::TooManyPeers.to_string(),
            "too many peers (0x04)"
        );
    }
}
