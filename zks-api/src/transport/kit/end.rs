//! The transport author's half of a link: what the node wants sent, and where received
//! messages go.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::{mpsc, watch};

use crate::DisconnectReason;
use crate::transport::close::{LinkClosed, LinkGone};
use crate::wire::Frame;

/// What the node hands the transport.
#[derive(Debug)]
pub enum Outbound {
    /// Send this message.
    Frame(Frame),
    /// Tell the peer why, then close the link.
    Close(DisconnectReason),
}

/// The transport's end of a link, from [`Link::channel`](crate::transport::Link::channel).
///
/// [`split`](Self::split) it when reading and writing happen in different tasks.
#[derive(Debug)]
pub struct LinkEnd {
    pub(in crate::transport) outbound: OutboundQueue,
    pub(in crate::transport) inbound: InboundQueue,
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
    /// [`LinkGone`] when the node has dropped its receiver.
    pub async fn deliver(&self, frame: Frame) -> Result<(), LinkGone> {
        self.inbound.deliver(frame).await
    }

    /// See [`InboundQueue::reserve`].
    ///
    /// # Errors
    ///
    /// [`LinkGone`] when the node has dropped its receiver.
    pub async fn reserve(&self) -> Result<DeliverPermit<'_>, LinkGone> {
        self.inbound.reserve().await
    }

    /// See [`InboundQueue::close`].
    pub fn close(self, closed: LinkClosed) {
        self.inbound.close(closed);
    }

    /// Whether the node has dropped its receiver.
    pub fn is_node_gone(&self) -> bool {
        self.inbound.is_node_gone()
    }

    /// The old name of [`is_node_gone`](Self::is_node_gone).
    #[deprecated(since = "0.1.0", note = "renamed is_node_gone")]
    pub fn is_engine_gone(&self) -> bool {
        self.is_node_gone()
    }

    /// The node's cap on this link's inbound messages ([`InboundQueue::size_cap`]).
    pub fn size_cap(&self) -> MessageSizeCap {
        self.inbound.size_cap()
    }

    /// The two halves: what the node wants sent, and where received messages go.
    pub fn split(self) -> (OutboundQueue, InboundQueue) {
        (self.outbound, self.inbound)
    }
}

/// What the node wants sent on a link (the transport's reading half of the send queue).
#[derive(Debug)]
pub struct OutboundQueue {
    pub(in crate::transport) frames: mpsc::Receiver<Frame>,
    pub(in crate::transport) close: watch::Receiver<Option<DisconnectReason>>,
}

impl OutboundQueue {
    /// The next thing the node wants done. A close request comes first, ahead of queued
    /// messages. `None` once the node dropped every sender and the queue is drained: close the
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

    /// The reason the node asked to close with, if it did. A transport that finds the node
    /// gone should check this first: the node may close with a reason and let go of the link
    /// at once, and the reason must still reach the peer.
    pub fn close_reason(&self) -> Option<DisconnectReason> {
        *self.close.borrow()
    }

    /// Messages waiting in the queue right now.
    pub fn queued(&self) -> usize {
        self.frames.len()
    }
}

/// Where a transport puts what it received on a link (the node's receive queue).
#[derive(Debug)]
pub struct InboundQueue {
    pub(in crate::transport) tx: mpsc::Sender<Frame>,
    /// Out of band, so the reason is never lost behind a full queue.
    pub(in crate::transport) ending: Arc<OnceLock<LinkClosed>>,
    pub(in crate::transport) size_cap: MessageSizeCap,
}

impl InboundQueue {
    /// The node's cap on this link's inbound messages, for the decoder to check before it
    /// allocates for one (see [`MessageSizeCap`](MessageSizeCap)).
    pub fn size_cap(&self) -> MessageSizeCap {
        self.size_cap.clone()
    }

    /// Hands a received message to the node, waiting while its queue is full (stop reading
    /// from the wire meanwhile: that is the backpressure).
    ///
    /// # Errors
    ///
    /// [`LinkGone`] when the node has dropped its receiver.
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
    /// [`LinkGone`] when the node has dropped its receiver.
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

    /// Reserves room for one delivery if the node's queue has room now; `Ok(None)` when it is
    /// full. Never waits: a transport that decoded several messages from one read hands them
    /// over in one pass this way, and waits with [`reserve`](Self::reserve) only when full.
    ///
    /// # Errors
    ///
    /// [`LinkGone`] when the node has dropped its receiver.
    pub fn try_reserve(&self) -> Result<Option<DeliverPermit<'_>>, LinkGone> {
        match self.tx.try_reserve() {
            Ok(permit) => Ok(Some(DeliverPermit(permit))),
            Err(mpsc::error::TrySendError::Full(())) => Ok(None),
            Err(mpsc::error::TrySendError::Closed(())) => Err(LinkGone),
        }
    }

    /// Reports how the link ended and lets go of it. Never waits; the node still receives the
    /// messages delivered before, then `closed`.
    pub fn close(self, closed: LinkClosed) {
        let _ = self.ending.set(closed);
    }

    /// Whether the node has dropped its receiver.
    pub fn is_node_gone(&self) -> bool {
        self.tx.is_closed()
    }

    /// Resolves once the node has dropped its receiver.
    pub async fn node_gone(&self) {
        self.tx.closed().await;
    }

    /// The old name of [`is_node_gone`](Self::is_node_gone).
    #[deprecated(since = "0.1.0", note = "renamed is_node_gone")]
    pub fn is_engine_gone(&self) -> bool {
        self.is_node_gone()
    }

    /// The old name of [`node_gone`](Self::node_gone).
    #[deprecated(since = "0.1.0", note = "renamed node_gone")]
    pub async fn engine_gone(&self) {
        self.node_gone().await;
    }
}

/// A reserved slot in the node's receive queue; see [`LinkEnd::reserve`].
#[derive(Debug)]
pub struct DeliverPermit<'a>(mpsc::Permit<'a, Frame>);

impl DeliverPermit<'_> {
    /// Delivers `frame` into the reserved slot.
    pub fn deliver(self, frame: Frame) {
        self.0.send(frame);
    }
}

/// The largest inbound message (id plus body, as [`Frame::len`]) the node takes on one link,
/// shared by the node, which sets it by what the link is for
/// ([`LinkReceiver::limit_message_size`](crate::transport::LinkReceiver::limit_message_size)), and the transport, which checks it
/// ([`InboundQueue::size_cap`]) before it decompresses or buffers a message of the link's
/// subprotocols. Unlimited (the transport's own cap) until set.
#[derive(Clone, Debug)]
pub struct MessageSizeCap(Arc<AtomicUsize>);

impl MessageSizeCap {
    /// No cap of the node's (the transport's own applies).
    pub(in crate::transport) fn unlimited() -> Self {
        Self(Arc::new(AtomicUsize::new(usize::MAX)))
    }

    /// Sets the cap (the node's side).
    pub(in crate::transport) fn set(&self, max: usize) {
        self.0.store(max, Ordering::Relaxed);
    }

    /// The cap now.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}
