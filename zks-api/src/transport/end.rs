//! The transport author's half of a link: what the engine wants sent, and where received
//! messages go.

use std::sync::{Arc, OnceLock};

use tokio::sync::{mpsc, watch};

use super::link::{LinkClosed, LinkGone};
use crate::DisconnectReason;
use crate::wire::Frame;

/// What the engine hands the transport.
#[derive(Debug)]
pub enum Outbound {
    /// Send this message.
    Frame(Frame),
    /// Tell the peer why, then close the link.
    Close(DisconnectReason),
}

/// The transport's end of a link, from [`Link::channel`](super::Link::channel).
///
/// [`split`](Self::split) it when reading and writing happen in different tasks.
#[derive(Debug)]
pub struct LinkEnd {
    pub(super) outbound: OutboundQueue,
    pub(super) inbound: InboundQueue,
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

    /// The engine's cap on this link's inbound messages ([`InboundQueue::size_cap`]).
    pub fn size_cap(&self) -> super::MessageSizeCap {
        self.inbound.size_cap()
    }

    /// The two halves: what the engine wants sent, and where received messages go.
    pub fn split(self) -> (OutboundQueue, InboundQueue) {
        (self.outbound, self.inbound)
    }
}

/// What the engine wants sent on a link (the transport's reading half of the send queue).
#[derive(Debug)]
pub struct OutboundQueue {
    pub(super) frames: mpsc::Receiver<Frame>,
    pub(super) close: watch::Receiver<Option<DisconnectReason>>,
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
    pub(super) tx: mpsc::Sender<Frame>,
    /// Out of band, so the reason is never lost behind a full queue.
    pub(super) ending: Arc<OnceLock<LinkClosed>>,
    pub(super) size_cap: super::MessageSizeCap,
}

impl InboundQueue {
    /// The engine's cap on this link's inbound messages, for the decoder to check before it
    /// allocates for one (see [`MessageSizeCap`](super::MessageSizeCap)).
    pub fn size_cap(&self) -> super::MessageSizeCap {
        self.size_cap.clone()
    }

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
