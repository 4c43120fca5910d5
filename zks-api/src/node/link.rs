//! Serving one link: the part every role shares — registration, the inbound middleware stack,
//! deadlines, closing with the right reason, and reporting.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tower::{Service, ServiceExt};
use tracing::Instrument;

use super::Shared;
use crate::engine::{CloseCause, LinkHandle, ProtocolEvent, TimeoutKind};
use crate::middleware::{Deliver, InboundMessage, InboundService, Rejection};
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
}

/// What a role driver knows about the link it serves (shared by its concurrent parts).
pub(crate) struct LinkCx {
    pub(crate) conn: ConnectionId,
    pub(crate) info: LinkInfo,
    pub(crate) sender: LinkSender,
    pub(crate) trusted: bool,
    pub(crate) shared: Arc<Shared>,
    /// Set once the link did useful work; a redialing EN then starts its backoff over.
    progressed: AtomicBool,
    started: Instant,
    /// When we last sent, in microseconds since `started` (for the idle deadline).
    last_sent_us: AtomicU64,
}

impl LinkCx {
    pub(crate) fn peer(&self) -> PeerId {
        self.info.peer.clone()
    }

    pub(crate) fn emit(&self, event: ProtocolEvent) {
        self.shared.emit(event);
    }

    pub(crate) fn mark_progress(&self) {
        self.progressed.store(true, Ordering::Relaxed);
    }

    /// Records that we just handed the link a message.
    pub(crate) fn mark_sent(&self) {
        let us = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.last_sent_us.fetch_max(us, Ordering::Relaxed);
    }

    fn last_sent(&self) -> Instant {
        self.started + Duration::from_micros(self.last_sent_us.load(Ordering::Relaxed))
    }

    /// Sends a frame, waiting for room; if the link is gone, returns why it ended.
    pub(crate) async fn send(&self, io: &mut LinkIo, frame: Frame) -> Result<(), CloseCause> {
        tokio::select! {
            sent = self.sender.send(frame) => match sent {
                Ok(()) => {
                    self.mark_sent();
                    Ok(())
                }
                Err(_) => Err(io.closed_cause(self).await),
            },
            () = self.shared.shutdown.cancelled() => Err(CloseCause::Shutdown),
        }
    }
}

/// The receiving side of a link: the transport's receiver, the inbound middleware stack, and
/// the deadlines that end a silent link.
pub(crate) struct LinkIo {
    rx: LinkReceiver,
    inbound: InboundService,
    last_received: Instant,
    deadline: Option<(Instant, TimeoutKind)>,
    idle_timeout: Option<Duration>,
}

impl LinkIo {
    /// Ends the link unless a message arrives within `after` (the role's handshake steps).
    pub(crate) fn set_deadline(&mut self, after: Duration, kind: TimeoutKind) {
        self.deadline = Some((Instant::now() + after, kind));
    }

    /// Lifts the deadline set by [`set_deadline`](Self::set_deadline).
    pub(crate) fn clear_deadline(&mut self) {
        self.deadline = None;
    }

    /// The next message that passed the middleware stack, or why the link ended (including a
    /// deadline, an idle link, a refusal by middleware, and node shutdown).
    ///
    /// Cancel safe up to the middleware call: a message is never lost while waiting for one.
    pub(crate) async fn recv(&mut self, cx: &LinkCx) -> Result<Frame, CloseCause> {
        loop {
            let idle = self.idle_timeout.map(|t| {
                (
                    self.last_received.max(cx.last_sent()) + t,
                    TimeoutKind::Idle,
                )
            });
            let next_deadline = match (self.deadline, idle) {
                (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
                (a, b) => a.or(b),
            };
            let frame = tokio::select! {
                frame = self.rx.recv() => frame.map_err(CloseCause::Link)?,
                () = sleep_until(next_deadline.map(|d| d.0)), if next_deadline.is_some() => {
                    let Some((_, kind)) = next_deadline else { continue };
                    // The idle clock may have been reset by a send meanwhile: look again.
                    if kind == TimeoutKind::Idle
                        && self.idle_timeout.is_some_and(|t| {
                            self.last_received.max(cx.last_sent()) + t > Instant::now()
                        })
                    {
                        continue;
                    }
                    return Err(CloseCause::Timeout(kind));
                }
                () = cx.shared.shutdown.cancelled() => return Err(CloseCause::Shutdown),
            };
            self.last_received = Instant::now();
            return self.filter(cx, frame).await;
        }
    }

    async fn filter(&mut self, cx: &LinkCx, frame: Frame) -> Result<Frame, CloseCause> {
        let message = InboundMessage {
            conn: cx.conn,
            peer: cx.peer(),
            version: cx.info.version,
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
            () = cx.shared.shutdown.cancelled() => CloseCause::Shutdown,
        }
    }
}

fn reject(error: crate::middleware::BoxError) -> CloseCause {
    CloseCause::Rejected(Rejection::from_box(error))
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Batch requests waiting to be sent on one link.
const CONTROL_QUEUE: usize = 16;

/// How a served link ended.
pub(crate) struct LinkOutcome {
    pub(crate) cause: CloseCause,
    pub(crate) progressed: bool,
}

/// Registers the link, runs the role on it, closes it with the right reason, and reports it.
pub(crate) async fn serve_link(
    shared: Arc<Shared>,
    role: Arc<dyn RoleDriver>,
    link: Link,
) -> LinkOutcome {
    let conn = shared.next_connection_id();
    let (info, sender, rx) = link.split();
    let trusted = shared.trusted.contains(&info.peer);
    let span = tracing::info_span!(
        "zks_link",
        %conn,
        peer = %info.peer,
        direction = %info.direction,
        version = %info.version,
    );
    async move {
        let (control, mut control_rx) = mpsc::channel(CONTROL_QUEUE);
        shared.registry_insert(
            conn,
            LinkHandle {
                info: info.clone(),
                sender: sender.clone(),
                control,
            },
        );
        shared.emit(ProtocolEvent::Established {
            conn,
            info: info.clone(),
            trusted,
        });
        tracing::debug!(trusted, addr = %info.remote_addr, "link established");

        let now = Instant::now();
        let cx = LinkCx {
            conn,
            info,
            sender,
            trusted,
            shared: Arc::clone(&shared),
            progressed: AtomicBool::new(false),
            started: now,
            last_sent_us: AtomicU64::new(0),
        };
        let mut io = LinkIo {
            rx,
            inbound: shared.inbound_stack(),
            last_received: now,
            deadline: None,
            idle_timeout: shared.limits.idle_timeout,
        };
        let cause = role.serve(&cx, &mut io, &mut control_rx).await;
        if let Some(reason) = cause.disconnect_reason() {
            cx.sender.close(reason);
        }
        match &cause {
            CloseCause::Protocol(e) => tracing::warn!(error = %e, "peer broke the protocol"),
            CloseCause::Rejected(e) => tracing::warn!(error = %e, "peer refused by middleware"),
            CloseCause::Source(_) | CloseCause::Sink(_) => tracing::error!(%cause, "link closed"),
            _ => tracing::debug!(%cause, "link closed"),
        }
        shared.registry_remove(conn);
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

impl Shared {
    /// A fresh inbound stack for one link: user layers outermost, then the size cap and the
    /// rate limits, then [`Deliver`].
    fn inbound_stack(&self) -> InboundService {
        let shipped = tower::ServiceBuilder::new()
            .layer(crate::middleware::size_limit::MessageSizeLimitLayer::new(
                self.limits.max_message_bytes,
            ))
            .layer(crate::middleware::rate_limit::RateLimitLayer::new(
                self.limits.rate_limits,
            ))
            .service(Deliver);
        let mut stack = InboundService::new(shipped);
        for layer in self.layers.iter().rev() {
            stack = layer(stack);
        }
        stack
    }
}
