//! Serving one link: the part every role shares.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use tokio::sync::mpsc;
use tracing::Instrument;

use super::Shared;
use crate::engine::{CloseCause, LinkHandle, ProtocolEvent};
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
        rx: &mut LinkReceiver,
        control: &mut mpsc::Receiver<Frame>,
    ) -> CloseCause;
}

/// What a role driver knows about the link it serves.
pub(crate) struct LinkCx {
    pub(crate) conn: ConnectionId,
    pub(crate) info: LinkInfo,
    pub(crate) sender: LinkSender,
    pub(crate) trusted: bool,
    pub(crate) shared: Arc<Shared>,
    /// Set once the link did useful work; a redialing EN then starts its backoff over.
    pub(crate) progressed: AtomicBool,
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

    /// The next frame, or why the link ended (including node shutdown).
    ///
    /// Cancel safe.
    pub(crate) async fn recv(&self, rx: &mut LinkReceiver) -> Result<Frame, CloseCause> {
        tokio::select! {
            frame = rx.recv() => frame.map_err(CloseCause::Link),
            () = self.shared.shutdown.cancelled() => Err(CloseCause::Shutdown),
        }
    }

    /// Sends a frame, waiting for room; if the link is gone, returns why it ended.
    pub(crate) async fn send(&self, rx: &mut LinkReceiver, frame: Frame) -> Result<(), CloseCause> {
        tokio::select! {
            sent = self.sender.send(frame) => match sent {
                Ok(()) => Ok(()),
                Err(_) => Err(self.closed_cause(rx).await),
            },
            () = self.shared.shutdown.cancelled() => Err(CloseCause::Shutdown),
        }
    }

    /// Why the link ended, once the transport has let go of it.
    pub(crate) async fn closed_cause(&self, rx: &mut LinkReceiver) -> CloseCause {
        loop {
            if let Err(cause) = self.recv(rx).await {
                return cause;
            }
        }
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
    let (info, sender, mut rx) = link.split();
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

        let cx = LinkCx {
            conn,
            info,
            sender,
            trusted,
            shared: Arc::clone(&shared),
            progressed: AtomicBool::new(false),
        };
        let cause = role.serve(&cx, &mut rx, &mut control_rx).await;
        if let Some(reason) = cause.disconnect_reason() {
            cx.sender.close(reason);
        }
        match &cause {
            CloseCause::Protocol(e) => tracing::warn!(error = %e, "peer broke the protocol"),
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
