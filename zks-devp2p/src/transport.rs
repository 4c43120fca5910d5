//! [`Devp2pTransport`]: [`zks_api::transport::Transport`] over RLPx on TCP.
//!
//! Addresses are `enode://` URLs. One tokio task per connection runs the handshake, the Hello
//! exchange (which negotiates the zks version, and `zks_2fa` where both sides advertise it),
//! then the link loop in [`crate::stream`].
//!
//! Inbound sockets pass [`Admission`] first (a bounded set of sockets still setting up, with
//! a per-address cap and eviction of the oldest, those still in ECIES first); established links take a permit of the
//! `max_connections` semaphore once set up. Our own dials take that permit before dialing.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use async_trait::async_trait;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::time::timeout;
use tracing::Instrument;
use zks_api::transport::kit::RepeatSummary;
use zks_api::transport::{Incoming, Link, LinkInfo, Transport, TransportError};
use zks_api::wire::{Capabilities, VersionSet};
use zks_api::{Direction, PeerAddr, PeerId};

use crate::accept::AcceptBackoff;
use crate::admission::{Admission, AdmissionLimits, Admit};
use crate::config::Devp2pConfig;
use crate::enode::{Enode, NodeId};
use crate::error::{Error, P2pError};
use crate::sockets::{bind, has_sent, tune};
use crate::stream::{self, Role, SetupError};

/// The devp2p/RLPx transport.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use zks_api::transport::Transport;
/// use zks_api::wire::VersionSet;
/// use zks_devp2p::{Devp2pConfig, Devp2pTransport, NodeKey};
///
/// let config = Devp2pConfig::builder(NodeKey::generate())
///     .listen_addr("127.0.0.1:0".parse()?)
///     .build()?;
/// let transport = Devp2pTransport::new(config);
/// let mut incoming = transport.listen(VersionSet::ALL.into()).await?;
/// println!("listening as {}", transport.local_enode().ok_or("not bound")?);
/// while let Some(link) = incoming.next().await {
///     println!("{:?}", link.map(|l| l.info().clone()));
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Devp2pTransport {
    inner: Arc<Inner>,
}

/// The transport's side of an [`Incoming`].
type IncomingSender = mpsc::Sender<Result<Link, TransportError>>;

#[derive(Debug)]
struct Inner {
    config: Arc<Devp2pConfig>,
    /// The bound address, and the sender of the `Incoming` it feeds: closed once the node let go
    /// of the listener, which then counts as stopped.
    bound: Mutex<Option<(SocketAddr, IncomingSender)>>,
    /// Established links plus our own dials in progress.
    connections: Arc<Semaphore>,
    /// Inbound sockets still setting up; dropping a handle cancels that socket's setup.
    admission: Mutex<Admission<oneshot::Sender<()>>>,
    /// Inbound sockets that set up while `connections` was exhausted.
    over_limit: Mutex<RepeatSummary>,
    /// Inbound connections that failed before their link was set up.
    inbound_failed: Mutex<RepeatSummary>,
    eth_ignored: Arc<AtomicU64>,
    /// Message bodies compressed once for every link that sends them.
    compressed: Arc<crate::compressed::CompressedCache>,
}

impl Inner {
    fn admission(&self) -> MutexGuard<'_, Admission<oneshot::Sender<()>>> {
        self.admission
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// An admitted inbound socket's place in the pending set: taken out when its setup ends,
/// however it ends.
struct PendingSlot<'a> {
    inner: &'a Inner,
    id: u64,
    /// Its ECIES handshake deadline.
    deadline: std::time::Duration,
    /// Resolves once it was evicted (its handle dropped).
    cancelled: oneshot::Receiver<()>,
}

impl Drop for PendingSlot<'_> {
    fn drop(&mut self) {
        drop(self.inner.admission().finish(self.id));
    }
}

impl Devp2pTransport {
    /// A transport with this configuration; nothing is bound until
    /// [`listen`](Transport::listen).
    pub fn new(config: Devp2pConfig) -> Self {
        let connections = Arc::new(Semaphore::new(config.max_connections));
        let admission = Admission::new(AdmissionLimits {
            max_pending: config.max_pending,
            max_pending_per_ip: config.max_pending_per_ip,
            handshake_timeout: config.handshake_timeout,
            pressure_handshake_timeout: config.pressure_handshake_timeout,
        });
        Self {
            inner: Arc::new(Inner {
                config: Arc::new(config),
                bound: Mutex::new(None),
                connections,
                admission: Mutex::new(admission),
                over_limit: Mutex::new(RepeatSummary::new(SUMMARY_INTERVAL)),
                inbound_failed: Mutex::new(RepeatSummary::new(SUMMARY_INTERVAL)),
                eth_ignored: Arc::default(),
                compressed: Arc::default(),
            }),
        }
    }

    /// Our node id.
    pub fn node_id(&self) -> NodeId {
        self.inner.config.key.id()
    }

    /// The configuration.
    pub fn config(&self) -> &Devp2pConfig {
        &self.inner.config
    }

    /// The bound listen address while listening: `None` before
    /// [`listen`](Transport::listen) and once whoever took the [`Incoming`] dropped it.
    /// Clones of a transport share its one listener (and its key, config and counters).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        let slot = self.inner.bound.lock().ok()?;
        slot.as_ref()
            .filter(|(_, tx)| !tx.is_closed())
            .map(|(addr, _)| *addr)
    }

    /// Our enode URL, once listening (an unspecified listen IP is shown as loopback).
    pub fn local_enode(&self) -> Option<Enode> {
        let addr = self.local_addr()?;
        let ip = if addr.ip().is_unspecified() {
            match addr {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            }
        } else {
            addr.ip()
        };
        Some(Enode::new(self.node_id(), ip, addr.port()))
    }

    /// Well-formed `eth` messages peers sent after their Status, which a passive `eth` node
    /// accepts and ignores (block range updates, announcements, requests left unanswered as
    /// upstream nodes leave them).
    pub fn eth_messages_ignored(&self) -> u64 {
        self.inner.eth_ignored.load(Ordering::Relaxed)
    }

    fn listen_port(&self) -> u16 {
        self.local_addr().map_or(0, |a| a.port())
    }
}

fn parse_addr(addr: &PeerAddr) -> Result<Enode, TransportError> {
    addr.as_str()
        .parse::<Enode>()
        .map_err(|e| TransportError::InvalidAddress {
            addr: addr.clone(),
            reason: e.to_string().into(),
        })
}

/// Maps a setup failure to the seam's error.
fn transport_error(peer: &PeerAddr, local: VersionSet, failure: &SetupError) -> TransportError {
    match (&failure.error, failure.remote_id) {
        (Error::P2p(P2pError::NoSharedCapability), Some(id)) => TransportError::NoCommonVersion {
            peer: id.to_peer_id(),
            local,
            remote: failure.remote_versions.unwrap_or_default(),
        },
        (Error::Disconnected(reason), _) => TransportError::Refused {
            peer: peer.clone(),
            reason: *reason,
        },
        (error, _) => TransportError::Handshake {
            peer: peer.clone(),
            reason: error.to_string().into(),
        },
    }
}

fn link_info(
    id: NodeId,
    remote: SocketAddr,
    direction: Direction,
    e: &stream::Established,
) -> LinkInfo {
    let info = LinkInfo::new(
        id.to_peer_id(),
        PeerAddr::new(Enode::new(id, remote.ip(), remote.port()).to_string()),
        direction,
        e.caps,
    );
    match &e.peer_status {
        Some(status) => info.with_eth(status.summary()),
        None => info,
    }
}

fn span(id: &NodeId, direction: Direction) -> tracing::Span {
    let short = id.to_peer_id().to_string();
    tracing::info_span!("devp2p", peer = %short, %direction)
}

#[async_trait]
impl Transport for Devp2pTransport {
    fn local_id(&self) -> PeerId {
        self.node_id().to_peer_id()
    }

    fn peer_id(&self, addr: &PeerAddr) -> Result<PeerId, TransportError> {
        Ok(parse_addr(addr)?.id.to_peer_id())
    }

    fn local_peer_addr(&self) -> Option<PeerAddr> {
        self.local_enode().map(|e| PeerAddr::new(e.to_string()))
    }

    async fn listen(&self, caps: Capabilities) -> Result<Incoming, TransportError> {
        if self.local_addr().is_some() {
            return Err(TransportError::Listen("already listening".into()));
        }
        let listener = bind(self.inner.config.listen_addr)
            .map_err(|e| TransportError::Listen(e.to_string().into()))?;
        let bound = listener.local_addr()?;
        let (tx, incoming) = Incoming::channel(self.inner.config.link_capacity);
        if let Ok(mut slot) = self.inner.bound.lock() {
            *slot = Some((bound, tx.clone()));
        }
        let this = self.clone();
        tokio::spawn(
            async move { this.accept_loop(listener, tx, caps).await }
                .instrument(tracing::info_span!("devp2p-listener", %bound)),
        );
        match self.inner.config.chain_identity() {
            Some(chain) => tracing::info!(
                %bound,
                node = %self.node_id(),
                %caps,
                network_id = chain.network_id,
                eth = ?self.inner.config.eth_versions(),
                "listening, speaking eth"
            ),
            None => tracing::info!(
                %bound,
                node = %self.node_id(),
                %caps,
                "listening; no chain identity, so no eth (reth-based nodes will drop sessions)"
            ),
        }
        Ok(incoming)
    }

    async fn dial(&self, addr: &PeerAddr, caps: Capabilities) -> Result<Link, TransportError> {
        let enode = parse_addr(addr)?;
        let (host, port) = enode
            .dial_target()
            .map_err(|e| TransportError::InvalidAddress {
                addr: addr.clone(),
                reason: e.to_string().into(),
            })?;
        let config = &self.inner.config;
        let permit = Arc::clone(&self.inner.connections)
            .try_acquire_owned()
            .map_err(|_| TransportError::Unreachable {
                addr: addr.clone(),
                reason: "connection limit reached".into(),
            })?;
        let unreachable = |reason: String| TransportError::Unreachable {
            addr: addr.clone(),
            reason: reason.into(),
        };
        let tcp = match timeout(
            config.handshake_timeout,
            TcpStream::connect((host.as_str(), port)),
        )
        .await
        {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(e)) => return Err(unreachable(e.to_string())),
            Err(_) => return Err(unreachable("connect timed out".to_owned())),
        };
        tune(&tcp, config);
        let remote = tcp.peer_addr()?;
        let span = span(&enode.id, Direction::Outbound);
        let setup = stream::setup(
            tcp,
            Role::Dial(enode.id),
            config,
            caps,
            self.listen_port(),
            config.handshake_timeout,
            || {},
        )
        .instrument(span.clone())
        .await;
        match setup {
            Ok(established) => {
                let info = link_info(enode.id, remote, Direction::Outbound, &established);
                tracing::debug!(parent: &span, caps = %info.caps, "link established");
                let (link, end) = Link::channel(info, config.link_capacity);
                let config = Arc::clone(config);
                let eth_ignored = Arc::clone(&self.inner.eth_ignored);
                let compressed = Arc::clone(&self.inner.compressed);
                tokio::spawn(
                    async move {
                        stream::run_link(established, end, config, eth_ignored, compressed).await;
                        drop(permit);
                    }
                    .instrument(span),
                );
                Ok(link)
            }
            Err(mut failure) => {
                let err = transport_error(addr, caps.zks, &failure);
                tracing::info!(parent: &span, error = %failure.error, "dial failed");
                if let Some(tcp) = failure.linger.take() {
                    tokio::spawn(async move {
                        stream::linger(tcp).await;
                        drop(permit);
                    });
                }
                Err(err)
            }
        }
    }
}

/// How often a repeated accept-loop event (a failing `accept()`, sockets dropped at the
/// per-address cap or the connection limit, evicted handshakes) is logged at most.
const SUMMARY_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

impl Devp2pTransport {
    async fn accept_loop(
        self,
        listener: TcpListener,
        tx: mpsc::Sender<Result<Link, TransportError>>,
        caps: Capabilities,
    ) {
        let mut backoff = AcceptBackoff::new();
        let mut accept_errors = RepeatSummary::new(SUMMARY_INTERVAL);
        let mut refused = RepeatSummary::new(SUMMARY_INTERVAL);
        let mut evictions = RepeatSummary::new(SUMMARY_INTERVAL);
        loop {
            let accepted = tokio::select! {
                () = tx.closed() => break,
                accepted = listener.accept() => accepted,
            };
            let (tcp, remote) = match accepted {
                Ok(pair) => {
                    backoff.succeeded();
                    pair
                }
                Err(e) => {
                    // A full fd table fails every accept until something closes: pause
                    // instead of spinning, and say so once per interval.
                    let retry_in = backoff.failed();
                    if let Some(times) = accept_errors.record(Instant::now()) {
                        tracing::warn!(error = %e, times, ?retry_in, "accept failed; backing off");
                    }
                    tokio::select! {
                        () = tx.closed() => break,
                        () = tokio::time::sleep(retry_in) => continue,
                    }
                }
            };
            let (cancel, cancelled) = oneshot::channel();
            let now = Instant::now();
            let spoke = has_sent(&tcp);
            let admitted = self
                .inner
                .admission()
                .admit(remote.ip(), now, spoke, cancel);
            let (id, deadline) = match admitted {
                Admit::Refused => {
                    drop(tcp);
                    if let Some(sockets) = refused.record(now) {
                        tracing::warn!(
                            %remote,
                            sockets,
                            limit = self.inner.config.max_pending_per_ip(),
                            "too many handshakes from one address: dropping its new sockets"
                        );
                    }
                    continue;
                }
                Admit::Admitted {
                    id,
                    deadline,
                    evicted,
                } => {
                    if let Some(evicted) = evicted {
                        // Dropping the handle ends that socket's setup, closing it.
                        drop(evicted.handle);
                        if let Some(sockets) = evictions.record(now) {
                            tracing::warn!(
                                oldest = %evicted.ip,
                                age = ?evicted.age,
                                sockets,
                                limit = self.inner.config.max_pending(),
                                "pending handshakes full: evicting the oldest for new sockets"
                            );
                        }
                    }
                    (id, deadline)
                }
            };
            tune(&tcp, &self.inner.config);
            let this = self.clone();
            let tx = tx.clone();
            tokio::spawn(
                async move {
                    let slot = PendingSlot {
                        inner: &this.inner,
                        id,
                        deadline,
                        cancelled,
                    };
                    this.serve_inbound(tcp, remote, tx, caps, slot).await;
                }
                .instrument(tracing::debug_span!("devp2p-inbound", %remote)),
            );
        }
        tracing::debug!("listener stopped: incoming links are no longer taken");
    }

    /// Sets an admitted inbound socket up (unless it is evicted first), then runs its link if
    /// the connection limit allows.
    async fn serve_inbound(
        &self,
        tcp: TcpStream,
        remote: SocketAddr,
        tx: mpsc::Sender<Result<Link, TransportError>>,
        caps: Capabilities,
        mut slot: PendingSlot<'_>,
    ) {
        let config = &self.inner.config;
        let id = slot.id;
        let setup = stream::setup(
            tcp,
            Role::Accept,
            config,
            caps,
            self.listen_port(),
            slot.deadline,
            // Past ECIES: evicted only after every pending socket that is not.
            || self.inner.admission().authenticated(id),
        );
        let setup = tokio::select! {
            biased;
            _ = &mut slot.cancelled => {
                tracing::debug!("evicted before finishing its handshake");
                return;
            }
            setup = setup => setup,
        };
        match setup {
            Ok(established) => {
                drop(slot);
                let Ok(permit) = Arc::clone(&self.inner.connections).try_acquire_owned() else {
                    let summary = self
                        .inner
                        .over_limit
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .record(Instant::now());
                    if let Some(links) = summary {
                        tracing::warn!(
                            peer = %established.remote_id,
                            links,
                            limit = config.max_connections(),
                            "connection limit reached: refusing newly set-up inbound links"
                        );
                    }
                    established
                        .refuse(zks_api::DisconnectReason::TooManyPeers)
                        .await;
                    return;
                };
                let id = established.remote_id;
                let span = span(&id, Direction::Inbound);
                let info = link_info(id, remote, Direction::Inbound, &established);
                tracing::debug!(parent: &span, caps = %info.caps, "link established");
                let (link, end) = Link::channel(info, config.link_capacity);
                if tx.send(Ok(link)).await.is_err() {
                    return;
                }
                stream::run_link(
                    established,
                    end,
                    Arc::clone(config),
                    Arc::clone(&self.inner.eth_ignored),
                    Arc::clone(&self.inner.compressed),
                )
                .instrument(span)
                .await;
                drop(permit);
            }
            Err(mut failure) => {
                let peer = match failure.remote_id {
                    Some(id) => {
                        PeerAddr::new(Enode::new(id, remote.ip(), remote.port()).to_string())
                    }
                    None => PeerAddr::new(remote.to_string()),
                };
                tracing::debug!(%peer, error = %failure.error, "inbound connection failed");
                let summary = self
                    .inner
                    .inbound_failed
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .record(Instant::now());
                if let Some(connections) = summary {
                    // Summarised: a flood of failing handshakes is one line per interval.
                    tracing::info!(
                        %peer,
                        error = %failure.error,
                        connections,
                        "inbound connections failed before their link was set up"
                    );
                }
                let err = transport_error(&peer, caps.zks, &failure);
                // Never block the connection task on a full queue of failure reports.
                let _ = tx.try_send(Err(err));
                // Lingering (bounded by the close grace) still counts as pending.
                if let Some(tcp) = failure.linger.take() {
                    stream::linger(tcp).await;
                }
                drop(slot);
            }
        }
    }
}
