//! [`Shared`]: the state a node's tasks share, and every operation on it.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Limits;
use super::dispatch::{BatchDispatch, Dispatch, RESULT_QUEUE, Routing, VerifierResult};
use super::events::ProtocolEvent;
use super::registry::{ConnectionRegistry, LinkHandle};
use super::sessions::{LinkProgress, PeerSessionStore};
use crate::engine::VerifierChannel;
use crate::middleware::connection_limit::ConnectionLimit;
use crate::middleware::{Deliver, InboundService, LayerFn};
use crate::transport::Transport;
use crate::wire::{Capabilities, RequestId, VerifyBatch};
use crate::{ConnectionId, PeerId};

/// How long a link must have been silent before admission may close it for a newcomer.
pub(super) const SILENT_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// State shared by a node's tasks.
pub(crate) struct Shared {
    pub(super) transport: Arc<dyn Transport>,
    pub(super) role: crate::Role,
    pub(super) caps: Capabilities,
    pub(super) limits: Limits,
    /// EN: the main nodes replay is accepted from.
    pub(super) trusted: HashSet<PeerId>,
    pub(super) connection_limit: ConnectionLimit,
    pub(super) layers: Vec<LayerFn>,
    pub(super) events: broadcast::Sender<ProtocolEvent>,
    pub(super) sessions: Mutex<PeerSessionStore>,
    pub(super) registry: Mutex<ConnectionRegistry>,
    pub(super) dispatches: Mutex<HashMap<RequestId, Dispatch>>,
    /// How many dispatches are open: the per-message path checks it instead of taking the
    /// dispatch lock (changed only under that lock).
    pub(super) dispatches_open: AtomicUsize,
    /// Links closed by admission that have not ended yet (so each is chosen once).
    pub(super) evicting: Mutex<HashSet<ConnectionId>>,
    pub(super) next_conn: AtomicU64,
    pub(super) shutdown: CancellationToken,
    pub(super) tasks: TaskTracker,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Derives the session store from `event`, then publishes it, in one order for both.
    /// A peer that just became eligible for verification gets the open batch requests.
    pub(crate) fn emit(&self, event: ProtocolEvent) {
        let eligible = match &event {
            ProtocolEvent::ReplayBlockSent { conn, .. }
            | ProtocolEvent::ReplayRequested { conn, .. }
            | ProtocolEvent::VerifierAuthorized { conn, .. } => Some(*conn),
            _ => None,
        };
        {
            let mut sessions = lock(&self.sessions);
            sessions.apply(&event);
            let _ = self.events.send(event);
        }
        if let Some(conn) = eligible {
            self.redispatch(conn);
        }
    }

    /// Publishes a link's `Established` and hands back the progress cell its task writes.
    pub(super) fn establish(
        &self,
        conn: ConnectionId,
        info: crate::transport::LinkInfo,
        trusted: bool,
    ) -> Arc<LinkProgress> {
        let event = ProtocolEvent::Established {
            conn,
            info,
            trusted,
        };
        let mut sessions = lock(&self.sessions);
        sessions.apply(&event);
        let progress = sessions.progress(conn).unwrap_or_default();
        let _ = self.events.send(event);
        progress
    }

    /// The per-message path: `event` is a `ReplayBlockSent` or `ReplayApplied` whose progress
    /// the link's task has already recorded in its cell. Published without the session lock;
    /// an authorized verifier may just have become eligible for an open batch.
    ///
    /// The cell is written before the open-dispatch count is read here, and `open_dispatch`
    /// counts the dispatch before it reads the cells: one of the two sees the other, so a
    /// verifier is never left without a batch it became eligible for.
    pub(crate) fn publish_progress(
        &self,
        conn: ConnectionId,
        verifier: bool,
        event: ProtocolEvent,
    ) {
        let _ = self.events.send(event);
        if verifier && self.dispatches_open.load(Ordering::SeqCst) > 0 {
            self.redispatch(conn);
        }
    }

    pub(super) fn next_connection_id(&self) -> ConnectionId {
        ConnectionId(self.next_conn.fetch_add(1, Ordering::Relaxed))
    }

    pub(super) fn registry_insert(&self, conn: ConnectionId, handle: LinkHandle) {
        lock(&self.registry).insert(conn, handle);
    }

    pub(super) fn registry_remove(&self, conn: ConnectionId) {
        lock(&self.registry).remove(conn);
        lock(&self.evicting).remove(&conn);
    }

    /// Admission under a full link cap: closes the oldest inbound link that holds a slot and
    /// has been silent — not a single request (replay or verifier role) — for at least
    /// [`SILENT_GRACE`], with `TooManyPeers`, so silent sessions cannot keep a peer that has work
    /// out for the whole first-message timeout (and links that all just arrived do not evict
    /// each other). `false` when no link qualifies.
    pub(super) fn evict_silent_link(&self) -> bool {
        let mut evicting = lock(&self.evicting);
        let silent: Vec<ConnectionId> = lock(&self.sessions)
            .iter()
            .filter(|s| {
                s.info.direction == crate::Direction::Inbound
                    && s.replay_from.is_none()
                    && s.verifier == crate::engine::VerifierStatus::None
                    && !self.connection_limit.is_trusted(&s.info.peer)
                    && !evicting.contains(&s.conn)
            })
            .map(|s| s.conn)
            .collect();
        let now = tokio::time::Instant::now();
        let victim = {
            let registry = lock(&self.registry);
            silent
                .into_iter()
                .filter_map(|conn| registry.get(conn).map(|h| (h.since, conn, h.clone())))
                .filter(|(since, _, _)| now.saturating_duration_since(*since) >= SILENT_GRACE)
                .min_by_key(|(since, conn, _)| (*since, *conn))
        };
        let Some((_, victim, handle)) = victim else {
            return false;
        };
        evicting.insert(victim);
        handle.sender.close(crate::DisconnectReason::TooManyPeers);
        true
    }

    /// Whether we hold a link we dialed to `peer` (an upstream we replay from).
    pub(super) fn replays_from(&self, peer: &PeerId) -> bool {
        lock(&self.sessions)
            .iter()
            .any(|s| s.info.direction == crate::Direction::Outbound && &s.info.peer == peer)
    }

    /// Opens a dispatch and sends it to every peer eligible now.
    pub(crate) fn open_dispatch(
        self: &Arc<Self>,
        batch: &VerifyBatch,
    ) -> Result<BatchDispatch, RequestId> {
        let (tx, rx) = mpsc::channel(RESULT_QUEUE);
        {
            let mut dispatches = lock(&self.dispatches);
            if dispatches.contains_key(&batch.request_id) {
                return Err(batch.request_id);
            }
            self.dispatches_open.fetch_add(1, Ordering::SeqCst);
            dispatches.insert(
                batch.request_id,
                Dispatch {
                    batch: batch.clone(),
                    frames: HashMap::new(),
                    sent_to: HashSet::new(),
                    results: tx,
                },
            );
        }
        let conns: Vec<_> = lock(&self.sessions).iter().map(|s| s.conn).collect();
        for conn in conns {
            self.redispatch(conn);
        }
        Ok(BatchDispatch {
            shared: Arc::clone(self),
            request_id: batch.request_id,
            results: rx,
        })
    }

    /// Sends every open dispatch this link is now eligible for and has not had.
    pub(crate) fn redispatch(&self, conn: ConnectionId) {
        let mut dispatches = lock(&self.dispatches);
        if dispatches.is_empty() {
            return;
        }
        let Some(session) = lock(&self.sessions).get(conn) else {
            return;
        };
        let Some(channel) = VerifierChannel::for_link(session.info.caps) else {
            return;
        };
        let Some(control) = lock(&self.registry).get(conn).map(|h| h.control.clone()) else {
            return;
        };
        let mut sent = Vec::new();
        for (request_id, dispatch) in dispatches.iter_mut() {
            if dispatch.sent_to.contains(&conn)
                || session
                    .can_verify(dispatch.batch.last_block_number)
                    .is_none()
            {
                continue;
            }
            // Full: the link is swamped; the next event on it retries.
            if control.try_send(dispatch.frame(channel)).is_ok() {
                dispatch.sent_to.insert(conn);
                sent.push(*request_id);
            }
        }
        drop(dispatches);
        for request_id in sent {
            self.emit(ProtocolEvent::BatchDispatched {
                conn,
                peer: session.info.peer.clone(),
                request_id,
            });
        }
    }

    /// Hands a verifier's result to its dispatch, if one is open for it and the result names
    /// the dispatch's batch.
    pub(crate) fn route_result(&self, result: VerifierResult) -> Routing {
        let dispatches = lock(&self.dispatches);
        let Some(dispatch) = dispatches.get(&result.result.request_id) else {
            return Routing::NoDispatch;
        };
        if result.result.batch_number != dispatch.batch.batch_number {
            return Routing::WrongBatch {
                expected: dispatch.batch.batch_number,
            };
        }
        if dispatch.results.try_send(result).is_err() {
            tracing::warn!("result queue of a batch dispatch is full; dropping a result");
        }
        Routing::Routed
    }

    /// The largest message a link in `direction` may carry to us: records only come on links
    /// we serve as an external node (the ones a relay dials, every one of an EN); on the
    /// others peers send requests ([`Limits::max_request_bytes`]).
    pub(super) fn inbound_cap(&self, direction: crate::Direction) -> usize {
        let requests_only = match self.role {
            crate::Role::MainNode => true,
            crate::Role::Relay => direction == crate::Direction::Inbound,
            crate::Role::ExternalNode => false,
        };
        let max = self.limits.max_message_bytes;
        if requests_only {
            max.min(self.limits.max_request_bytes)
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

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("caps", &self.caps)
            .field("limits", &self.limits)
            .field("links", &lock(&self.registry).len())
            .finish_non_exhaustive()
    }
}
