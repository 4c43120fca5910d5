//! The node's half of a link: [`Link`] and its sending and receiving halves.

use std::sync::{Arc, OnceLock};

use tokio::sync::{mpsc, watch};

use super::LinkInfo;
use super::close::{LinkClosed, LinkGone};
use super::kit::{InboundQueue, LinkEnd, MessageSizeCap, OutboundQueue};
use crate::DisconnectReason;
use crate::wire::Frame;

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
        let size_cap = MessageSizeCap::unlimited();
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
                size_cap: size_cap.clone(),
            },
        };
        (
            link,
            LinkEnd {
                outbound: OutboundQueue {
                    frames: out_rx,
                    close: close_rx,
                },
                inbound: InboundQueue {
                    tx: in_tx,
                    ending,
                    size_cap,
                },
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

/// The node's sending half. Cheap to clone; all clones feed one bounded queue.
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

/// A reserved slot that does not borrow the sender; see [`LinkSender::reserve_owned`].
#[derive(Debug)]
pub struct OwnedSendPermit(mpsc::OwnedPermit<Frame>);

impl OwnedSendPermit {
    /// Sends `frame` into the reserved slot; never waits.
    pub fn send(self, frame: Frame) {
        let _ = self.0.send(frame);
    }
}

impl LinkSender {
    /// Like [`reserve`](Self::reserve), for a producer that holds the slot across awaits of
    /// its own (the permit owns a handle to the queue).
    ///
    /// # Errors
    ///
    /// [`LinkGone`] when the link has closed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn reserve_owned(&self) -> Result<OwnedSendPermit, LinkGone> {
        self.tx
            .clone()
            .reserve_owned()
            .await
            .map(OwnedSendPermit)
            .map_err(|_| LinkGone)
    }

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

/// The node's receiving half.
#[derive(Debug)]
pub struct LinkReceiver {
    rx: mpsc::Receiver<Frame>,
    ending: Arc<OnceLock<LinkClosed>>,
    size_cap: MessageSizeCap,
}

impl LinkReceiver {
    /// Asks the transport to refuse any later message of this link larger than `max` bytes
    /// (id plus body) before decoding it: a main node's peers send requests of a few KiB, so
    /// there is no reason to buffer or decompress 16 MiB for them. Transports that buffer
    /// messages (devp2p, libp2p) check it; the node's size cap checks every message anyway.
    pub fn limit_message_size(&self, max: usize) {
        self.size_cap.set(max);
    }

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

    /// The next message if one has arrived already; `Ok(None)` when none is waiting.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv), once the link has ended and every message was taken.
    pub fn try_recv(&mut self) -> Result<Option<Frame>, LinkClosed> {
        match self.rx.try_recv() {
            Ok(frame) => Ok(Some(frame)),
            Err(mpsc::error::TryRecvError::Empty) => Ok(None),
            Err(mpsc::error::TryRecvError::Disconnected) => {
                Err(self.ending.get().cloned().unwrap_or(LinkClosed::Dropped))
            }
        }
    }
}

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
