//! One reth session's zks side: the per-subprotocol connections reth hands us, joined into one
//! [`Slot`], and the queues between them and the link task.
//!
//! reth gives one [`ProtocolConnection`] per subprotocol (zks/N, `zks_2fa/1`), each a stream of
//! its inbound messages, and polls a stream of ours per subprotocol for outbound messages. The
//! seam wants one link per peer carrying both. The join: reth creates the connection handlers of
//! one session together, in one synchronous call (`on_incoming` / `on_outgoing` for every
//! registered subprotocol in turn, on the network manager's task), so the first of our handlers
//! opens a [`Slot`] and the others take the same one; `into_connection` then fills it in, on the
//! session's task, before reth's eth Status exchange. The slot becomes a link once reth reports
//! the session established (`PeerEvent::SessionEstablished`).
//!
//! Bounds (reth's subprotocol channels are unbounded):
//! - inbound: reth pushes every message it reads into the [`ProtocolConnection`]'s unbounded
//!   channel as soon as it reads it, whatever we do. A task per subprotocol and session
//!   ([`drain`]) empties that channel as fast as reth fills it into one queue per slot whose
//!   bytes and messages are counted ([`InboundBudget`]); past the budget the link is closed and
//!   what still comes is dropped. So at most the budget (plus what reth reads before the drain
//!   task runs again) is held between the wire and the engine's bounded queue.
//! - outbound: reth pulls from our streams only while its own bounded write buffer has room;
//!   our streams pull from one [`OutQueue`] per slot of `capacity` frames, which the link task
//!   fills from the engine's bounded queue. Frames go out in the order the engine queued them,
//!   across both subprotocols: a stream yields only the frame at the head of the queue.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use bytes::BytesMut;
use futures::{Stream, StreamExt};
use reth_eth_wire::multiplex::ProtocolConnection;
use reth_network_api::PeerId as RethPeerId;
use tokio::sync::{Notify, mpsc, watch};
use zks_api::wire::{Protocol, VersionSet};

/// Locks, ignoring poisoning (no invariant spans a panic here).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Index of a protocol in per-protocol arrays.
pub(crate) const fn index(protocol: Protocol) -> usize {
    match protocol {
        Protocol::Zks2fa => 1,
        _ => 0,
    }
}

/// Who opened a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dir {
    /// The peer dialed us.
    Incoming,
    /// We dialed the peer.
    Outgoing,
}

/// How much a slot may hold between reth and the engine's queue.
#[derive(Debug)]
pub(crate) struct InboundBudget {
    bytes: AtomicUsize,
    messages: AtomicUsize,
    max_bytes: usize,
    max_messages: usize,
    /// Set once the budget was exceeded; the link task closes the link.
    exceeded: AtomicBool,
    wake: Notify,
}

impl InboundBudget {
    pub(crate) fn new(max_bytes: usize, max_messages: usize) -> Self {
        Self {
            bytes: AtomicUsize::new(0),
            messages: AtomicUsize::new(0),
            max_bytes,
            max_messages: max_messages.max(1),
            exceeded: AtomicBool::new(false),
            wake: Notify::new(),
        }
    }

    /// Takes `len` bytes; false (and the budget marked exceeded) when over.
    fn take(&self, len: usize) -> bool {
        let bytes = self
            .bytes
            .fetch_add(len, Ordering::AcqRel)
            .saturating_add(len);
        let messages = self
            .messages
            .fetch_add(1, Ordering::AcqRel)
            .saturating_add(1);
        if bytes > self.max_bytes || messages > self.max_messages {
            self.exceeded.store(true, Ordering::Release);
            self.wake.notify_one();
            return false;
        }
        true
    }

    /// Gives back one message of `len` bytes.
    pub(crate) fn release(&self, len: usize) {
        self.bytes.fetch_sub(len, Ordering::AcqRel);
        self.messages.fetch_sub(1, Ordering::AcqRel);
    }

    pub(crate) fn is_exceeded(&self) -> bool {
        self.exceeded.load(Ordering::Acquire)
    }

    /// Resolves once the budget was exceeded.
    pub(crate) async fn exceeded(&self) {
        loop {
            let notified = self.wake.notified();
            if self.is_exceeded() {
                return;
            }
            notified.await;
        }
    }

    /// What is held now: (bytes, messages).
    pub(crate) fn held(&self) -> (usize, usize) {
        (
            self.bytes.load(Ordering::Acquire),
            self.messages.load(Ordering::Acquire),
        )
    }
}

/// The frames the engine wants sent on one slot, in order, across both subprotocols.
#[derive(Debug)]
pub(crate) struct OutQueue {
    state: Mutex<OutState>,
    space: Notify,
    capacity: usize,
}

#[derive(Debug, Default)]
struct OutState {
    frames: VecDeque<(Protocol, BytesMut)>,
    wakers: [Option<Waker>; 2],
    /// Our streams end (reth then closes the session without a Disconnect): only when the link
    /// is gone and no network handle can send a Disconnect.
    end: bool,
}

impl OutQueue {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::default(),
            space: Notify::new(),
            capacity: capacity.max(1),
        }
    }

    /// Queues a message (`id || body`, id relative to its subprotocol), waiting for room.
    pub(crate) async fn push(&self, protocol: Protocol, message: BytesMut) {
        let mut message = Some((protocol, message));
        loop {
            let notified = self.space.notified();
            {
                let mut state = lock(&self.state);
                if state.frames.len() < self.capacity {
                    if let Some(m) = message.take() {
                        state.frames.push_back(m);
                    }
                    for waker in state.wakers.iter_mut().filter_map(Option::take) {
                        waker.wake();
                    }
                    return;
                }
            }
            notified.await;
        }
    }

    /// Resolves once reth has taken every queued frame (for a graceful close: what the node
    /// sent before it let go goes out before the Disconnect).
    pub(crate) async fn drained(&self) {
        loop {
            let notified = self.space.notified();
            if lock(&self.state).frames.is_empty() {
                return;
            }
            notified.await;
        }
    }

    /// Lets our streams end (see [`OutState::end`]).
    pub(crate) fn end(&self) {
        let mut state = lock(&self.state);
        state.end = true;
        for waker in state.wakers.iter_mut().filter_map(Option::take) {
            waker.wake();
        }
    }

    fn poll_pop(&self, protocol: Protocol, cx: &mut Context<'_>) -> Poll<Option<BytesMut>> {
        let mut state = lock(&self.state);
        if state.frames.front().is_some_and(|(p, _)| *p == protocol) {
            let popped = state.frames.pop_front().map(|(_, m)| m);
            drop(state);
            self.space.notify_one();
            return Poll::Ready(popped);
        }
        if state.end {
            return Poll::Ready(None);
        }
        state.wakers[index(protocol)] = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// What the link task receives from one slot.
pub(crate) type InboundRx = mpsc::UnboundedReceiver<(Protocol, BytesMut)>;

/// One reth session, as far as zks is concerned.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) id: u64,
    pub(crate) remote_addr: SocketAddr,
    pub(crate) direction: Dir,
    pub(crate) out: Arc<OutQueue>,
    pub(crate) budget: Arc<InboundBudget>,
    pub(crate) state: Mutex<SlotState>,
    /// `Some(reason)` once reth reported the session closed (the reason it gives, if any).
    pub(crate) closed: watch::Sender<Option<Option<u8>>>,
    /// Set once reth reported the session established.
    pub(crate) established: watch::Sender<bool>,
}

/// What a slot knows so far.
#[derive(Debug)]
pub(crate) struct SlotState {
    /// Our connection handlers of this session reth has not yet used up.
    pub(crate) unresolved: usize,
    pub(crate) peer: Option<RethPeerId>,
    /// The zks version reth installed.
    pub(crate) zks: Option<u8>,
    /// Whether `zks_2fa/1` was installed.
    pub(crate) twofa: bool,
    /// A zks handler found no zks version shared and asked reth to disconnect.
    pub(crate) no_common_zks: bool,
    /// The zks versions offered on this session (its dial's or the listener's).
    pub(crate) offered: VersionSet,
    /// reth reported the session established.
    pub(crate) established: bool,
    /// Handed to the engine (or refused); nothing more to do with it.
    pub(crate) taken: bool,
    /// Our streams reth still holds.
    pub(crate) streams: usize,
    /// The sender half of the inbound queue, cloned into each stream.
    pub(crate) inbound_tx: Option<mpsc::UnboundedSender<(Protocol, BytesMut)>>,
    /// The receiver half, for the link task.
    pub(crate) inbound_rx: Option<InboundRx>,
}

impl Slot {
    pub(crate) fn new(
        id: u64,
        remote_addr: SocketAddr,
        direction: Dir,
        handlers: usize,
        out_capacity: usize,
        budget: InboundBudget,
    ) -> Self {
        #[allow(
            clippy::disallowed_methods,
            reason = "bounded by the slot's InboundBudget: ZksConnection counts every message it \
                      queues and queues none past the budget (reth's own channel before it is \
                      unbounded, which is what the budget is for)"
        )]
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            id,
            remote_addr,
            direction,
            out: Arc::new(OutQueue::new(out_capacity)),
            budget: Arc::new(budget),
            state: Mutex::new(SlotState {
                unresolved: handlers,
                peer: None,
                zks: None,
                twofa: false,
                no_common_zks: false,
                offered: VersionSet::EMPTY,
                established: false,
                taken: false,
                streams: 0,
                inbound_tx: Some(tx),
                inbound_rx: Some(rx),
            }),
            closed: watch::channel(None).0,
            established: watch::channel(false).0,
        }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, SlotState> {
        lock(&self.state)
    }
}

/// What a stream does when reth drops it.
pub(crate) type OnDrop = Box<dyn FnOnce(&Arc<Slot>) + Send>;

/// Our stream for one subprotocol of one session, polled by reth's session task: it drains
/// reth's inbound channel into the slot's counted queue and yields the slot's outbound frames
/// of its subprotocol.
pub struct ZksConnection {
    pub(crate) protocol: Protocol,
    pub(crate) conn: Option<ProtocolConnection>,
    pub(crate) inbound: Option<mpsc::UnboundedSender<(Protocol, BytesMut)>>,
    pub(crate) slot: Arc<Slot>,
    pub(crate) on_drop: Option<OnDrop>,
}

impl std::fmt::Debug for ZksConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZksConnection")
            .field("protocol", &self.protocol)
            .field("slot", &self.slot.id)
            .finish_non_exhaustive()
    }
}

impl Stream for ZksConnection {
    type Item = BytesMut;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<BytesMut>> {
        let this = &mut *self;
        // Inbound, when no drain task took reth's channel: everything reth delegated so far.
        while let Some(conn) = this.conn.as_mut() {
            match conn.poll_next_unpin(cx) {
                Poll::Ready(Some(message)) => {
                    queue(&this.slot.budget, &mut this.inbound, this.protocol, message);
                }
                Poll::Ready(None) => {
                    this.conn = None;
                    this.inbound = None;
                }
                Poll::Pending => break,
            }
        }
        this.slot.out.poll_pop(this.protocol, cx)
    }
}

/// Counts one inbound message against the budget and queues it for the link task; past the
/// budget (or with the link task gone) it is dropped, and so is everything after it.
fn queue(
    budget: &InboundBudget,
    inbound: &mut Option<mpsc::UnboundedSender<(Protocol, BytesMut)>>,
    protocol: Protocol,
    message: BytesMut,
) {
    if budget.is_exceeded() {
        // The link is being closed; hold nothing more.
        *inbound = None;
        return;
    }
    if !budget.take(message.len()) {
        *inbound = None;
        return;
    }
    if let Some(tx) = inbound.as_ref()
        && tx.send((protocol, message)).is_err()
    {
        *inbound = None;
    }
}

/// Drains reth's inbound channel of one subprotocol as fast as reth fills it, into the slot's
/// counted queue. Its own task: reth polls our stream only while its write buffer has room, so
/// a drain inside the stream would stop, and reth's unbounded channel grow uncounted, while a
/// peer does not read.
pub(crate) async fn drain(
    protocol: Protocol,
    mut conn: ProtocolConnection,
    mut inbound: Option<mpsc::UnboundedSender<(Protocol, BytesMut)>>,
    budget: Arc<InboundBudget>,
) {
    while let Some(message) = conn.next().await {
        queue(&budget, &mut inbound, protocol, message);
    }
}

impl Drop for ZksConnection {
    fn drop(&mut self) {
        if let Some(f) = self.on_drop.take() {
            f(&self.slot);
        }
    }
}
