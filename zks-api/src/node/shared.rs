//! [`Shared`]: the state a node's tasks share, and every operation on it.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::NodeSettings;
use super::events::ProtocolEvent;
use super::links::{LinkHandle, LinkTable};
use super::sessions::LinkProgress;
use crate::admission::ConnectionLimit;
use crate::engine::VerifierStatus;
use crate::middleware::{Deliver, InboundService, LayerFn};
use crate::transport::{LinkInfo, Transport};
use crate::wire::Capabilities;
use crate::{BlockNumber, ConnectionId, PeerId};

/// How long a link must have been silent before admission may close it for a newcomer.
pub(super) const SILENT_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// State shared by a node's tasks: its configuration, its links ([`LinkTable`]: the one owner
/// of per-link state), and the event channel those changes are reported on.
pub(crate) struct Shared {
    pub(super) transport: Arc<dyn Transport>,
    pub(super) role: crate::Role,
    pub(super) caps: Capabilities,
    pub(super) settings: NodeSettings,
    /// EN: the main nodes replay is accepted from.
    pub(super) trusted: HashSet<PeerId>,
    pub(super) connection_limit: ConnectionLimit,
    pub(super) layers: Vec<LayerFn>,
    pub(super) events: broadcast::Sender<ProtocolEvent>,
    pub(super) links: LinkTable,
    pub(super) next_conn: AtomicU64,
    pub(super) shutdown: CancellationToken,
    pub(super) tasks: TaskTracker,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Publishes `event`. Events are the node's output: every change they report was made in
    /// the link table before, so a subscriber that reads [`Node::sessions`](crate::Node::sessions)
    /// on an event sees at least that change.
    pub(crate) fn emit(&self, event: ProtocolEvent) {
        let _ = self.events.send(event);
    }

    /// Adds a served link to the table and publishes its `Established`; returns the progress
    /// cell its task writes.
    pub(super) fn establish(
        &self,
        conn: ConnectionId,
        info: LinkInfo,
        trusted: bool,
        handle: LinkHandle,
    ) -> Arc<LinkProgress> {
        let progress = self.links.insert(conn, info.clone(), trusted, handle);
        self.emit(ProtocolEvent::Established {
            conn,
            info,
            trusted,
        });
        progress
    }

    /// MN: the peer on `conn` asked for replay from `block`; it may now be eligible for an
    /// open batch.
    pub(super) fn replay_requested(
        &self,
        conn: ConnectionId,
        block: BlockNumber,
        event: ProtocolEvent,
    ) {
        self.links.replay_requested(conn, block);
        self.emit(event);
        self.redispatch(conn);
    }

    /// MN: the peer on `conn` moved in verifier authentication (`event` says how); an
    /// authorized one may now be eligible for an open batch.
    pub(super) fn verifier_status(
        &self,
        conn: ConnectionId,
        status: VerifierStatus,
        event: ProtocolEvent,
    ) {
        let authorized = matches!(status, VerifierStatus::Authorized(_));
        self.links.set_verifier(conn, status);
        self.emit(event);
        if authorized {
            self.redispatch(conn);
        }
    }

    /// The per-message path: `event` is a `ReplayBlockSent` or `ReplayApplied` whose progress
    /// the link's task has already recorded in its cell. Published without the table's lock;
    /// an authorized verifier may just have become eligible for an open batch (the ordering
    /// this relies on is in the [`LinkTable`] docs).
    pub(crate) fn publish_progress(
        &self,
        conn: ConnectionId,
        verifier: bool,
        event: ProtocolEvent,
    ) {
        self.emit(event);
        if verifier && self.links.any_dispatch_open() {
            self.redispatch(conn);
        }
    }

    pub(super) fn next_connection_id(&self) -> ConnectionId {
        ConnectionId(self.next_conn.fetch_add(1, Ordering::Relaxed))
    }

    /// Admission under a full link cap: closes the oldest inbound link that holds a slot and
    /// has been silent — not a single request (replay or verifier role) — for at least
    /// [`SILENT_GRACE`], with `TooManyPeers`, so silent sessions cannot keep a peer that has work
    /// out for the whole first-message timeout (and links that all just arrived do not evict
    /// each other). `false` when no link qualifies.
    pub(super) fn evict_silent_link(&self) -> bool {
        self.links
            .evict_silent(SILENT_GRACE, |peer| !self.connection_limit.is_trusted(peer))
    }

    /// Sends every open dispatch `conn` is now eligible for and has not had, and reports each.
    pub(crate) fn redispatch(&self, conn: ConnectionId) {
        let sent = self.links.send_due(conn);
        let Some(peer) = sent.peer else {
            return;
        };
        for request_id in sent.requests {
            self.emit(ProtocolEvent::BatchDispatched {
                conn,
                peer: peer.clone(),
                request_id,
            });
        }
    }

    /// The largest message a link in `direction` may carry to us: records only come on links
    /// we serve as an external node (the ones a relay dials, every one of an EN); on the
    /// others peers send requests ([`NodeSettings::max_request_bytes`]).
    pub(super) fn inbound_cap(&self, direction: crate::Direction) -> usize {
        let requests_only = match self.role {
            crate::Role::MainNode => true,
            crate::Role::Relay => direction == crate::Direction::Inbound,
            crate::Role::ExternalNode => false,
        };
        let max = self.settings.max_message_bytes();
        if requests_only {
            max.min(self.settings.max_request_bytes())
        } else {
            max
        }
    }

    /// A fresh inbound stack for one link: user layers outermost, then the size cap (`max`)
    /// and the rate limits, then [`Deliver`].
    pub(super) fn inbound_stack(&self, max: usize) -> InboundService {
        let shipped = tower::ServiceBuilder::new()
            .layer(crate::middleware::size_limit::MessageSizeLimitLayer::new(
                max,
            ))
            .layer(crate::middleware::rate_limit::RateLimitLayer::new(
                self.settings.rate_limits(),
            ))
            .service(Deliver);
        let mut stack = InboundService::new(shipped);
        for layer in self.layers.iter().rev() {
            stack = layer(stack);
        }
        stack
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("caps", &self.caps)
            .field("settings", &self.settings)
            .field("links", &self.links.len())
            .finish_non_exhaustive()
    }
}
