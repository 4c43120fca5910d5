//! [`Node`]: a main node or external node running the engine over a transport.

mod config;
mod dispatch;
mod en;
mod link;
mod mn;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use self::config::{ConfigError, Limits, Role};
use self::dispatch::Dispatch;
pub use self::dispatch::{BatchDispatch, VerifierResult};
use self::en::ExternalNodeDriver;
use self::link::{RoleDriver, serve_link};
use self::mn::MainNodeDriver;
use crate::engine::{
    Backoff, ConnectionRegistry, EventStream, LinkHandle, PeerSession, PeerSessionStore,
    ProtocolEvent,
};
use crate::middleware::connection_limit::{ConnectionLimit, TooManyPeers};
use crate::middleware::{BoxError, InboundMessage, InboundService, LayerFn};
use crate::transport::{DisconnectReason, Incoming, Transport};
use crate::wire::{RecordOverride, RequestId, VerifyBatch, VersionSet};
use crate::{
    BlockNumber, ChallengeSigner, ConnectionId, Error, PeerAddr, PeerId, ReplaySink, ReplaySource,
    SignerAuthenticator, Verifier,
};

/// State shared by a node's tasks.
pub(crate) struct Shared {
    transport: Arc<dyn Transport>,
    versions: VersionSet,
    limits: Limits,
    /// EN: the main nodes replay is accepted from.
    trusted: HashSet<PeerId>,
    connection_limit: ConnectionLimit,
    layers: Vec<LayerFn>,
    events: broadcast::Sender<ProtocolEvent>,
    sessions: Mutex<PeerSessionStore>,
    registry: Mutex<ConnectionRegistry>,
    dispatches: Mutex<HashMap<RequestId, Dispatch>>,
    next_conn: AtomicU64,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
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

    fn next_connection_id(&self) -> ConnectionId {
        ConnectionId(self.next_conn.fetch_add(1, Ordering::Relaxed))
    }

    fn registry_insert(&self, conn: ConnectionId, handle: LinkHandle) {
        lock(&self.registry).insert(conn, handle);
    }

    fn registry_remove(&self, conn: ConnectionId) {
        lock(&self.registry).remove(conn);
    }
}

/// A running zks node: a main node serving replay, or an external node replaying from its
/// trusted main nodes.
///
/// Built with [`Node::builder`]. Dropping it stops every task (links are closed with
/// `ClientQuitting`); [`shutdown`](Self::shutdown) does the same and waits for them.
///
/// ```no_run
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use zks_api::{MemoryReplayStore, Node, PeerAddr, RawRecord, Transport};
/// # async fn transports() -> (Arc<dyn Transport>, Arc<dyn Transport>) { todo!("two zks-memnet nodes") }
/// let (mn_transport, en_transport) = transports().await; // e.g. two zks-memnet nodes
///
/// let chain = Arc::new(MemoryReplayStore::<RawRecord>::new());
/// let mn = Node::builder(mn_transport).main_node(chain.clone()).start().await?;
///
/// let replica = Arc::new(MemoryReplayStore::<RawRecord>::new());
/// let en = Node::builder(en_transport)
///     .external_node(replica.clone())
///     .trusted_main_node(PeerAddr::from("mn"))
///     .start()
///     .await?;
///
/// chain.push(RawRecord::new(0, "genesis"))?;
/// replica.wait_until(1).await; // streamed, pushed, no polling
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct Node {
    shared: Arc<Shared>,
    role: Role,
    local_id: PeerId,
    first_events: Mutex<Option<broadcast::Receiver<ProtocolEvent>>>,
    applied: Option<watch::Receiver<BlockNumber>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("versions", &self.versions)
            .field("limits", &self.limits)
            .field("links", &lock(&self.registry).len())
            .finish_non_exhaustive()
    }
}

impl Node {
    /// Starts configuring a node on `transport`.
    pub fn builder(transport: impl Transport) -> NodeBuilder {
        NodeBuilder {
            transport: Arc::new(transport),
            versions: VersionSet::ALL,
            limits: Limits::default(),
            role: None,
            trusted_main_nodes: Vec::new(),
            trusted_peers: Vec::new(),
            layers: Vec::new(),
            record_overrides: Vec::new(),
            rng_seed: None,
            authenticator: None,
            verifier: None,
        }
    }

    /// Our identity on the transport.
    pub fn local_id(&self) -> &PeerId {
        &self.local_id
    }

    /// The role this node plays.
    pub fn role(&self) -> Role {
        self.role
    }

    /// A subscription to the node's events. The first call gets every event since the node
    /// started; later calls get events from the moment of the call.
    pub fn events(&self) -> EventStream {
        let first = lock(&self.first_events).take();
        EventStream::new(first.unwrap_or_else(|| self.shared.events.subscribe()))
    }

    /// A snapshot of every live link's session.
    pub fn sessions(&self) -> Vec<PeerSession> {
        lock(&self.shared.sessions).iter().cloned().collect()
    }

    /// Free slots under the active-link cap.
    pub fn free_link_slots(&self) -> usize {
        self.shared.connection_limit.available()
    }

    /// How many links are live right now.
    pub fn link_count(&self) -> usize {
        lock(&self.shared.registry).len()
    }

    /// Main node (zks/3): sends `batch` to every eligible verifier (live zks/3 link, authorized,
    /// sent replay through `batch.last_block_number`) now and to each peer that becomes
    /// eligible while the returned handle lives; results arrive through it. The caller picks
    /// `batch.request_id` (fresh per attempt: `zks-verifier`'s quorum collector does this).
    ///
    /// # Errors
    ///
    /// [`Error::WrongRole`] on an external node, [`Error::RequestIdInUse`] when a dispatch with
    /// the same request id is open.
    pub fn dispatch(&self, batch: &VerifyBatch) -> Result<BatchDispatch, Error> {
        if self.role != Role::MainNode {
            return Err(Error::WrongRole {
                needed: Role::MainNode,
            });
        }
        self.shared
            .open_dispatch(batch)
            .map_err(Error::RequestIdInUse)
    }

    /// External node: a receiver of the sink's next block as of the engine's last apply.
    pub fn applied(&self) -> Option<watch::Receiver<BlockNumber>> {
        self.applied.clone()
    }

    /// Stops every task, closing links with `ClientQuitting`, and waits until they are done.
    pub async fn shutdown(self) {
        self.shared.shutdown.cancel();
        self.shared.tasks.close();
        self.shared.tasks.wait().await;
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}

/// Settings a role driver is built from at start.
struct DriverSettings {
    record_overrides: Vec<RecordOverride>,
    limits: Limits,
    applied: watch::Sender<BlockNumber>,
    authenticator: Option<Arc<dyn SignerAuthenticator>>,
    verifier: Option<(Arc<dyn ChallengeSigner>, Arc<dyn Verifier>)>,
}

/// Builds the role's driver once every setting is known; erases the record type.
type DriverFactory = Box<dyn FnOnce(DriverSettings) -> Arc<dyn RoleDriver> + Send>;

/// Configures and starts a [`Node`]. Every setting has a default except the role.
#[must_use = "a builder does nothing until `start` is called"]
pub struct NodeBuilder {
    transport: Arc<dyn Transport>,
    versions: VersionSet,
    limits: Limits,
    role: Option<(Role, DriverFactory)>,
    trusted_main_nodes: Vec<PeerAddr>,
    trusted_peers: Vec<PeerAddr>,
    layers: Vec<LayerFn>,
    record_overrides: Vec<RecordOverride>,
    rng_seed: Option<u64>,
    authenticator: Option<Arc<dyn SignerAuthenticator>>,
    verifier: Option<(Arc<dyn ChallengeSigner>, Arc<dyn Verifier>)>,
}

impl std::fmt::Debug for NodeBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeBuilder")
            .field("versions", &self.versions)
            .field("limits", &self.limits)
            .field("trusted_main_nodes", &self.trusted_main_nodes)
            .finish_non_exhaustive()
    }
}

impl NodeBuilder {
    /// Makes this a main node serving replay from `source`.
    pub fn main_node<S: ReplaySource>(mut self, source: S) -> Self {
        self.role = Some((
            Role::MainNode,
            Box::new(move |settings: DriverSettings| {
                Arc::new(MainNodeDriver {
                    source,
                    authenticator: settings.authenticator,
                }) as Arc<dyn RoleDriver>
            }),
        ));
        self
    }

    /// Makes this an external node replaying into `sink` from its trusted main nodes.
    pub fn external_node<K: ReplaySink>(mut self, sink: K) -> Self {
        self.role = Some((
            Role::ExternalNode,
            Box::new(move |settings: DriverSettings| {
                settings.applied.send_replace(sink.next_block());
                Arc::new(ExternalNodeDriver {
                    sink,
                    apply_lock: tokio::sync::Mutex::new(()),
                    overrides: settings.record_overrides,
                    limits: settings.limits,
                    applied: settings.applied,
                    verifier: settings.verifier,
                }) as Arc<dyn RoleDriver>
            }),
        ));
        self
    }

    /// Main node (zks/3): judges `VerifierAuth` signatures; peers it authorizes can be sent
    /// batches. Default: none (every verifier ends unauthorized).
    pub fn verifier_authenticator(mut self, authenticator: impl SignerAuthenticator) -> Self {
        self.authenticator = Some(Arc::new(authenticator));
        self
    }

    /// External node (zks/3): authenticate as a verifier toward trusted main nodes with
    /// `signer`, and answer their batch requests with `verifier`. Default: not a verifier.
    pub fn verifier(mut self, signer: impl ChallengeSigner, verifier: impl Verifier) -> Self {
        self.verifier = Some((Arc::new(signer), Arc::new(verifier)));
        self
    }

    /// The protocol versions to advertise. Default: every version (`zks/1`, `zks/2`, `zks/3`).
    pub fn versions(mut self, versions: impl Into<VersionSet>) -> Self {
        self.versions = versions.into();
        self
    }

    /// Engine limits. Default: [`Limits::default`].
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// External node: a main node to dial, keep dialing, and accept replay from. Inbound links
    /// from the same identity are trusted too. Default: none (an EN needs at least one).
    pub fn trusted_main_node(mut self, addr: impl Into<PeerAddr>) -> Self {
        self.trusted_main_nodes.push(addr.into());
        self
    }

    /// A peer exempt from the active-link cap (e.g. an MN's own verifiers): it is never refused
    /// for lack of slots and never takes one. An EN's main nodes are exempt already.
    /// Default: none.
    pub fn trusted_peer(mut self, addr: impl Into<PeerAddr>) -> Self {
        self.trusted_peers.push(addr.into());
        self
    }

    /// Adds a [`tower::Layer`] around every link's inbound handling. Layers added first are
    /// outermost; all of them wrap the shipped size cap and rate limits, so they see every
    /// message. A layer fails a call to refuse the message: the link is then closed with
    /// `SubprotocolError` and [`Rejection::Other`](crate::middleware::Rejection::Other).
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: tower::Layer<InboundService> + Send + Sync + 'static,
        L::Service: tower::Service<InboundMessage, Response = InboundMessage, Error = BoxError>
            + Send
            + 'static,
        <L::Service as tower::Service<InboundMessage>>::Future: Send + 'static,
    {
        self.layers.push(Arc::new(move |inner| {
            InboundService::new(layer.layer(inner))
        }));
        self
    }

    /// External node: record overrides to ask every main node for. Default: none.
    pub fn record_overrides(mut self, overrides: impl IntoIterator<Item = RecordOverride>) -> Self {
        self.record_overrides.extend(overrides);
        self
    }

    /// Seeds the redial jitter, for reproducible tests. Default: seeded from the OS.
    pub fn rng_seed(mut self, seed: u64) -> Self {
        self.rng_seed = Some(seed);
        self
    }

    /// Validates the configuration, starts listening, and (external node) starts dialing.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an unusable configuration, [`Error::Transport`] when the transport
    /// cannot listen.
    pub async fn start(self) -> Result<Node, Error> {
        let (role, factory) = self.role.ok_or(ConfigError::NoRole)?;
        if self.versions.is_empty() {
            return Err(ConfigError::NoVersions.into());
        }
        self.limits.validate()?;
        match role {
            Role::MainNode if !self.trusted_main_nodes.is_empty() => {
                return Err(ConfigError::TrustedMainNodesOnMainNode.into());
            }
            Role::ExternalNode if self.trusted_main_nodes.is_empty() => {
                return Err(ConfigError::NoTrustedMainNodes.into());
            }
            _ => {}
        }
        let resolve = |addrs: &[PeerAddr]| {
            addrs
                .iter()
                .map(|addr| self.transport.peer_id(addr))
                .collect::<Result<HashSet<_>, _>>()
                .map_err(ConfigError::InvalidTrustedPeer)
        };
        let trusted = resolve(&self.trusted_main_nodes)?;
        let exempt = resolve(&self.trusted_peers)?;
        let connection_limit = ConnectionLimit::new(
            self.limits.max_active_links,
            trusted.iter().chain(exempt.iter()).cloned(),
        );

        let (applied_tx, applied_rx) = watch::channel(0);
        let driver = factory(DriverSettings {
            record_overrides: self.record_overrides,
            limits: self.limits.clone(),
            applied: applied_tx,
            authenticator: self.authenticator,
            verifier: self.verifier,
        });
        let incoming = self.transport.listen(self.versions).await?;
        let (events, first_events) = broadcast::channel(self.limits.event_capacity);
        let local_id = self.transport.local_id();
        let shared = Arc::new(Shared {
            transport: self.transport,
            versions: self.versions,
            limits: self.limits,
            trusted,
            connection_limit,
            layers: self.layers,
            events,
            sessions: Mutex::new(PeerSessionStore::default()),
            registry: Mutex::new(ConnectionRegistry::default()),
            dispatches: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(0),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
        });
        let span = tracing::info_span!("zks_node", id = %local_id, ?role);
        shared.tasks.spawn(tracing::Instrument::instrument(
            accept_loop(Arc::clone(&shared), Arc::clone(&driver), incoming),
            span.clone(),
        ));
        let seed = self.rng_seed.unwrap_or_else(rand::random);
        for (i, addr) in self.trusted_main_nodes.into_iter().enumerate() {
            let dial = dial_loop(
                Arc::clone(&shared),
                Arc::clone(&driver),
                addr,
                seed ^ i as u64,
            );
            shared
                .tasks
                .spawn(tracing::Instrument::instrument(dial, span.clone()));
        }
        tracing::info!(parent: &span, versions = %shared.versions, "node started");
        Ok(Node {
            shared,
            role,
            local_id,
            first_events: Mutex::new(Some(first_events)),
            applied: (role == Role::ExternalNode).then_some(applied_rx),
        })
    }
}

/// Serves every link peers open to us.
async fn accept_loop(shared: Arc<Shared>, driver: Arc<dyn RoleDriver>, mut incoming: Incoming) {
    loop {
        let next = tokio::select! {
            next = incoming.next() => next,
            () = shared.shutdown.cancelled() => return,
        };
        match next {
            Some(Ok(link)) => {
                let peer = link.info().peer.clone();
                match shared.connection_limit.try_admit(&peer) {
                    Ok(permit) => {
                        let serve = serve_link(Arc::clone(&shared), Arc::clone(&driver), link);
                        shared.tasks.spawn(async move {
                            let _slot = permit; // held exactly while the link is served
                            serve.await;
                        });
                    }
                    Err(TooManyPeers { limit }) => {
                        tracing::debug!(%peer, limit, "link refused: too many peers");
                        let (_, sender, _) = link.split();
                        sender.close(DisconnectReason::TooManyPeers);
                        shared.emit(ProtocolEvent::MaxActiveConnectionsExceeded { peer, limit });
                    }
                }
            }
            Some(Err(error)) => {
                tracing::debug!(%error, "incoming link failed");
                shared.emit(ProtocolEvent::IncomingFailed { error });
            }
            None => return,
        }
    }
}

/// Keeps one trusted main node linked: dial, serve until the link ends, back off, redial.
/// Every link resumes from the sink's `next_block()`.
async fn dial_loop(shared: Arc<Shared>, driver: Arc<dyn RoleDriver>, addr: PeerAddr, seed: u64) {
    let mut backoff = Backoff::new(shared.limits.redial_initial, shared.limits.redial_max, seed);
    loop {
        let dialed = tokio::select! {
            dialed = shared.transport.dial(&addr, shared.versions) => dialed,
            () = shared.shutdown.cancelled() => return,
        };
        let delay = match dialed {
            Ok(link) => {
                let outcome = serve_link(Arc::clone(&shared), Arc::clone(&driver), link).await;
                if matches!(outcome.cause, crate::engine::CloseCause::Shutdown) {
                    return;
                }
                if outcome.progressed {
                    backoff.reset();
                }
                backoff.next_delay()
            }
            Err(error) => {
                let retry_in = backoff.next_delay();
                tracing::debug!(%addr, %error, ?retry_in, "dial failed");
                shared.emit(ProtocolEvent::DialFailed {
                    addr: addr.clone(),
                    error,
                    retry_in,
                });
                retry_in
            }
        };
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shared.shutdown.cancelled() => return,
        }
    }
}
