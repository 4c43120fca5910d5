//! Serving one link: the part every role shares — registration, the inbound middleware stack,
//! deadlines, closing with the right reason, and reporting.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::{Service, ServiceExt};
use tracing::Instrument;

use super::links::LinkHandle;
use super::sessions::LinkProgress;
use super::shared::Shared;
use super::{CloseCause, ProtocolEvent};
use crate::middleware::{InboundMessage, InboundService, Rejection};
use crate::transport::{Link, LinkInfo, LinkReceiver, LinkSender};
use crate::wire::Frame;
use crate::{ConnectionId, PeerId};

/// A role's behaviour on one link. Object safe, so the node is not generic over record types.
#[async_trait]
pub(crate) trait RoleDriver: Send + Sync + 'static {
    /// Serves the link until it ends; returns why. `control` carries frames the node wants
    /// sent ahead of replay (batch requests).
    async fn serve(
        &self,
        cx: &LinkCx,
        io: &mut LinkIo,
        control: &mut mpsc::Receiver<Frame>,
    ) -> CloseCause;

    /// Whether the peer serves the record for `block` within `timeout`, asked on a short-lived
    /// link of its own (how an external node learns that another upstream is level or ahead:
    /// zks messages carry no head). Roles that do not replay answer `false`.
    async fn probe(
        &self,
        _cx: &LinkCx,
        _io: &mut LinkIo,
        _block: crate::BlockNumber,
        _timeout: std::time::Duration,
    ) -> bool {
        false
    }
}

/// What a role driver knows about the link it serves.
pub(crate) struct LinkCx {
    pub(crate) conn: ConnectionId,
    pub(crate) info: LinkInfo,
    pub(crate) sender: LinkSender,
    pub(crate) trusted: bool,
    pub(crate) shared: Arc<Shared>,
    /// Replay progress, written here and read by the session store.
    progress: Arc<LinkProgress>,
    /// Set once the link did useful work; a redialing EN then starts its backoff over.
    progressed: AtomicBool,
    /// Cancelled to end the link between messages: at shutdown, or when an external node moves
    /// replay to another upstream ([`CloseCause::Superseded`]).
    stop: CancellationToken,
}

impl LinkCx {
    /// The context of a link `role` serves; `stop` ends it between messages.
    pub(crate) fn new(
        shared: Arc<Shared>,
        conn: ConnectionId,
        info: LinkInfo,
        sender: LinkSender,
        progress: Arc<LinkProgress>,
        stop: CancellationToken,
    ) -> Self {
        Self {
            conn,
            progress,
            trusted: shared.trusted.contains(&info.peer),
            info,
            sender,
            shared,
            progressed: AtomicBool::new(false),
            stop,
        }
    }

    /// Why the link is stopping: shutdown, or a handover to another upstream.
    fn stop_cause(&self) -> CloseCause {
        if self.shared.shutdown.is_cancelled() {
            CloseCause::Shutdown
        } else {
            CloseCause::Superseded
        }
    }

    pub(crate) fn peer(&self) -> PeerId {
        self.info.peer.clone()
    }

    /// Publishes `event`. Replay progress (one event per message) is recorded in this link's
    /// own cell and published without the node's session lock; the rest goes through
    /// [`Shared::emit`].
    pub(crate) fn emit(&self, event: ProtocolEvent) {
        match &event {
            ProtocolEvent::ReplayBlockSent { last_block, .. } => {
                self.progress.record_sent(*last_block);
            }
            ProtocolEvent::ReplayApplied { last_block, .. } => {
                self.progress.record_applied(*last_block);
            }
            _ => return self.shared.emit(event),
        }
        let verifier = self.progress.is_verifier();
        self.shared.publish_progress(self.conn, verifier, event);
    }

    pub(crate) fn mark_progress(&self) {
        self.progressed.store(true, Ordering::Relaxed);
    }

    /// Sends a frame, waiting for room; if the link is gone, returns why it ended.
    pub(crate) async fn send(&self, io: &mut LinkIo, frame: Frame) -> Result<(), CloseCause> {
        tokio::select! {
            sent = self.sender.send(frame) => match sent {
                Ok(()) => Ok(()),
                Err(_) => Err(io.closed_cause(self).await),
            },
            () = self.stop.cancelled() => Err(self.stop_cause()),
        }
    }
}

/// The engine's clock, as the sans-IO sessions take it.
pub(crate) fn now() -> std::time::Instant {
    Instant::now().into_std()
}

/// Sleeps until a session's next deadline; forever when it has none.
pub(crate) async fn sleep_until(at: Option<std::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}

/// The receiving side of a link: the transport's receiver and the inbound middleware stack.
pub(crate) struct LinkIo {
    rx: LinkReceiver,
    inbound: InboundService,
}

impl LinkIo {
    /// The receiving side of a link in `direction`, with a fresh inbound middleware stack and
    /// the link's size cap set for the transport as well.
    pub(crate) fn new(shared: &Shared, rx: LinkReceiver, direction: crate::Direction) -> Self {
        let max = shared.inbound_cap(direction);
        rx.limit_message_size(max);
        Self {
            rx,
            inbound: shared.inbound_stack(max),
        }
    }

    /// The next message that passed the middleware stack, or why the link ended (including a
    /// refusal by middleware, node shutdown and a handover). Deadlines belong to the session.
    ///
    /// Cancel safe up to the middleware call: a message is never lost while waiting for one.
    pub(crate) async fn recv(&mut self, cx: &LinkCx) -> Result<Frame, CloseCause> {
        let frame = tokio::select! {
            frame = self.rx.recv() => frame.map_err(CloseCause::Link)?,
            () = cx.stop.cancelled() => return Err(cx.stop_cause()),
        };
        self.filter(cx, frame).await
    }

    /// The next message if one has arrived already (through the middleware stack, as
    /// [`recv`](Self::recv)); `Ok(None)` when none is waiting.
    pub(crate) async fn try_recv(&mut self, cx: &LinkCx) -> Result<Option<Frame>, CloseCause> {
        match self.rx.try_recv().map_err(CloseCause::Link)? {
            Some(frame) => self.filter(cx, frame).await.map(Some),
            None => Ok(None),
        }
    }

    async fn filter(&mut self, cx: &LinkCx, frame: Frame) -> Result<Frame, CloseCause> {
        let message = InboundMessage {
            conn: cx.conn,
            peer: cx.peer(),
            version: cx.info.caps.zks,
            trusted: cx.trusted,
            frame,
        };
        let service = self.inbound.ready().await.map_err(reject)?;
        let message = service.call(message).await.map_err(reject)?;
        Ok(message.frame)
    }

    /// Why the link ended, once the transport has let go of it.
    pub(crate) async fn closed_cause(&mut self, cx: &LinkCx) -> CloseCause {
        tokio::select! {
            cause = async {
                loop {
                    if let Err(closed) = self.rx.recv().await {
                        return CloseCause::Link(closed);
                    }
                }
            } => cause,
            () = cx.stop.cancelled() => cx.stop_cause(),
        }
    }
}

fn reject(error: crate::middleware::BoxError) -> CloseCause {
    CloseCause::Rejected(Rejection::from_box(error))
}

/// Batch requests waiting to be sent on one link.
const CONTROL_QUEUE: usize = 16;

/// How a served link ended.
pub(crate) struct LinkOutcome {
    pub(crate) cause: CloseCause,
    pub(crate) progressed: bool,
}

/// Registers the link, runs the role on it until it ends or the node shuts down, closes it
/// with the right reason, and reports it.
pub(crate) async fn serve_link(
    shared: Arc<Shared>,
    role: Arc<dyn RoleDriver>,
    link: Link,
) -> LinkOutcome {
    let stop = shared.shutdown.child_token();
    serve_link_until(shared, role, link, stop).await
}

/// [`serve_link`], also ended (between messages, never during an apply) when `stop` is
/// cancelled.
pub(crate) async fn serve_link_until(
    shared: Arc<Shared>,
    role: Arc<dyn RoleDriver>,
    link: Link,
    stop: CancellationToken,
) -> LinkOutcome {
    let conn = shared.next_connection_id();
    let (info, sender, rx) = link.split();
    let trusted = shared.trusted.contains(&info.peer);
    let span = tracing::info_span!(
        "zks_link",
        %conn,
        peer = %info.peer,
        direction = %info.direction,
        caps = %info.caps,
    );
    async move {
        let (control, mut control_rx) = mpsc::channel(CONTROL_QUEUE);
        let handle = LinkHandle {
            control,
            sender: sender.clone(),
        };
        let progress = shared.establish(conn, info.clone(), trusted, handle);
        // Lifecycle at INFO: an operator sees every link come and go with its peer, version
        // and reason (the span carries peer, direction and caps).
        match &info.eth {
            Some(eth) => {
                tracing::info!(trusted, addr = %info.remote_addr, %eth, "link established");
            }
            None => tracing::info!(trusted, addr = %info.remote_addr, "link established"),
        }

        let direction = info.direction;
        let cx = LinkCx::new(Arc::clone(&shared), conn, info, sender, progress, stop);
        let mut io = LinkIo::new(&shared, rx, direction);
        // A panic in the node team's code (store, verifier, layer) ends this link only: the
        // registry and session store stay true, and an EN's dial loop redials.
        let served = std::panic::AssertUnwindSafe(role.serve(&cx, &mut io, &mut control_rx));
        let cause = futures::FutureExt::catch_unwind(served)
            .await
            .unwrap_or_else(|panic| CloseCause::Panicked(panic_message(&*panic)));
        if let Some(reason) = cause.disconnect_reason() {
            cx.sender.close(reason);
        }
        log_close(&cause, cx.trusted, &cx.info);
        shared.links.remove(conn);
        shared.emit(ProtocolEvent::Closed {
            conn,
            peer: cx.peer(),
            cause: cause.clone(),
        });
        LinkOutcome {
            cause,
            progressed: cx.progressed.load(Ordering::Relaxed),
        }
    }
    .instrument(span)
    .await
}

/// One line per link end, at one level for one kind of end whichever layer found it: a
/// breach found by the transport (a bad frame, an oversized message) reads like one found by
/// the engine. What a peer does wrong is INFO — nothing to act on for one hostile stranger —
/// and WARN from a trusted peer (our main node or upstream: a version or configuration
/// mismatch the operator must fix). Our own store or code failing is ERROR. The lines name the
/// peer themselves, so they say whose link it was at any log level (the link's span, which
/// carries the same, is recorded only from INFO on).
fn log_close(cause: &CloseCause, trusted: bool, info: &LinkInfo) {
    use crate::transport::LinkClosed;
    let breach = match cause {
        CloseCause::Protocol(_) | CloseCause::Rejected(_) => true,
        CloseCause::Link(LinkClosed::ByTransport { reason, .. }) => {
            *reason == crate::DisconnectReason::ProtocolBreach
        }
        _ => false,
    };
    let (peer, addr) = (&info.peer, &info.remote_addr);
    match cause {
        _ if breach && trusted => {
            tracing::warn!(%cause, %peer, %addr, "peer broke the protocol");
        }
        _ if breach => tracing::info!(%cause, %peer, %addr, "peer broke the protocol"),
        CloseCause::Sink(e) if e.is_local_fault() => {
            // The sink's owner reports its own storage failing; this is the consequence.
            tracing::warn!(
                %cause, %peer, %addr,
                "link closed: our replay sink failed (not the peer's fault); replication stopped"
            );
        }
        CloseCause::Source(_) | CloseCause::Sink(_) | CloseCause::Panicked(_) => {
            tracing::error!(%cause, %peer, %addr, "link closed");
        }
        CloseCause::Shutdown | CloseCause::Superseded => tracing::debug!(%cause, "link closed"),
        _ => tracing::info!(%cause, "link closed"),
    }
}

/// The text of a panic payload, when it has one.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}
