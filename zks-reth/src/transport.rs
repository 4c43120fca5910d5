//! [`RethTransport`]: the [`Transport`] whose links are a reth node's zks sessions.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use async_trait::async_trait;
use bytes::BytesMut;
use futures::StreamExt;
use reth_eth_wire::{
    Capability, DisconnectReason as RethReason, capability::SharedCapabilities,
    multiplex::ProtocolConnection, protocol::Protocol as RethProtocol,
};
use reth_network::protocol::{
    ConnectionHandler, IntoRlpxSubProtocol, OnNotSupported, ProtocolHandler, RlpxSubProtocol,
};
use reth_network_api::{
    Direction as RethDirection, PeerId as RethPeerId, PeerKind, Peers,
    events::{NetworkPeersEvents, PeerEvent},
};
use reth_network_peers::NodeRecord;
use tokio::sync::{mpsc, oneshot};
use zks_api::transport::kit::{InboundQueue, Outbound, OutboundQueue};
use zks_api::transport::{
    EthStatus, Incoming, Link, LinkClosed, LinkInfo, Transport, TransportError,
};
use zks_api::wire::{
    Capabilities, Frame, LinkCaps, Protocol, TwoFaVersion, VersionSet, ZksVersion,
};
use zks_api::{Direction, DisconnectReason, PeerAddr, PeerId};

use crate::config::RethTransportConfig;
use crate::session::{Dir, InboundBudget, InboundRx, Slot, ZksConnection, lock};

/// What we need of reth's network handle: dial, disconnect with a reason, our own record.
trait Control: Send + Sync + 'static {
    fn connect(&self, peer: RethPeerId, addr: SocketAddr);
    fn disconnect(&self, peer: RethPeerId, reason: RethReason);
    fn local_record(&self) -> NodeRecord;
    /// Takes a peer we dialed out of reth's peer set again (never a trusted one), so reth does
    /// not redial it on its own behind the engine, which redials as it sees fit.
    fn forget(&self, peer: RethPeerId);
}

impl<H> Control for H
where
    H: Peers + Send + Sync + 'static,
{
    fn connect(&self, peer: RethPeerId, addr: SocketAddr) {
        self.connect_peer(peer, addr);
    }
    fn disconnect(&self, peer: RethPeerId, reason: RethReason) {
        self.disconnect_peer_with_reason(peer, reason);
    }
    fn local_record(&self) -> NodeRecord {
        self.local_node_record()
    }
    fn forget(&self, peer: RethPeerId) {
        self.remove_peer(peer, PeerKind::Static);
    }
}

/// The transport's side of an [`Incoming`].
type IncomingTx = mpsc::Sender<Result<Link, TransportError>>;

/// A pending [`Transport::dial`]: where its link goes, and what it advertised.
struct PendingDial {
    tx: oneshot::Sender<Result<Link, TransportError>>,
    caps: Capabilities,
}

/// A zks [`Transport`] inside a reth node.
///
/// Built before the node's network: register [`sub_protocols`](Self::sub_protocols) with the
/// `NetworkConfigBuilder` (`add_rlpx_sub_protocol`) or the `NetworkManager`
/// (`add_rlpx_sub_protocol`, before it runs), then hand the manager's `NetworkHandle` to
/// [`attach`](Self::attach). The transport is then what `zks_api::Node::builder` takes.
///
/// - Links are reth sessions that negotiated a zks version (and `zks_2fa/1` beside it where both
///   sides offer it); eth stays with reth.
/// - [`dial`](Transport::dial) asks reth to connect (`Peers::connect_peer`) and resolves with the
///   session's link once reth reports it established.
/// - Sessions the peer opened, and sessions reth opened on its own (its static and trusted peers,
///   discovery), go to [`listen`](Transport::listen)'s [`Incoming`].
/// - Closing a link disconnects the reth session with our reason
///   (`Peers::disconnect_peer_with_reason`).
#[derive(Clone)]
pub struct RethTransport {
    shared: Arc<Shared>,
}

impl fmt::Debug for RethTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RethTransport")
            .field("local_id", &self.shared.local_id)
            .field("caps", &self.shared.config.caps)
            .finish_non_exhaustive()
    }
}

struct Shared {
    config: RethTransportConfig,
    local_id: RethPeerId,
    /// The connection handlers we registered, in order: (subprotocol, version).
    handlers: Vec<(Protocol, u8)>,
    next_slot: AtomicU64,
    /// The slot the first of our handlers opened for the session reth is setting up now.
    opening: Mutex<Option<Arc<Slot>>>,
    /// Sessions we hold a slot for.
    slots: Mutex<HashMap<u64, Arc<Slot>>>,
    dials: Mutex<HashMap<RethPeerId, PendingDial>>,
    listener: Mutex<Option<(IncomingTx, Capabilities)>>,
    control: OnceLock<Arc<dyn Control>>,
}

impl RethTransport {
    /// A transport for a reth node whose node key has this peer id (`NetworkConfigBuilder::
    /// get_peer_id`, or `reth_network_peers::pk2id` of the key's public key).
    pub fn new(local_id: RethPeerId, config: RethTransportConfig) -> Self {
        let mut handlers: Vec<(Protocol, u8)> = config
            .caps
            .zks
            .iter()
            .rev()
            .map(|v| (Protocol::Zks, v.number()))
            .collect();
        if let Some(v) = config.caps.zks_2fa {
            handlers.push((Protocol::Zks2fa, v.number()));
        }
        Self {
            shared: Arc::new(Shared {
                config,
                local_id,
                handlers,
                next_slot: AtomicU64::new(1),
                opening: Mutex::new(None),
                slots: Mutex::default(),
                dials: Mutex::default(),
                listener: Mutex::new(None),
                control: OnceLock::new(),
            }),
        }
    }

    /// The RLPx subprotocols to register with reth, highest zks version first, then
    /// `zks_2fa/1`: `NetworkConfigBuilder::add_rlpx_sub_protocol` for each (or
    /// `NetworkManager::add_rlpx_sub_protocol` before the manager runs). Register all of them,
    /// once, and nothing between them.
    pub fn sub_protocols(&self) -> Vec<RlpxSubProtocol> {
        let caps = self.shared.config.caps;
        let mut handlers: Vec<(Protocol, u8, u8)> = caps
            .zks
            .iter()
            .rev()
            .map(|v| (Protocol::Zks, v.number(), v.message_count()))
            .collect();
        if let Some(v) = caps.zks_2fa {
            handlers.push((Protocol::Zks2fa, v.number(), v.message_count()));
        }
        handlers
            .into_iter()
            .enumerate()
            .map(|(index, (protocol, version, messages))| {
                ZksProtocolHandler {
                    shared: Arc::clone(&self.shared),
                    index,
                    protocol,
                    version,
                    messages,
                }
                .into_rlpx_sub_protocol()
            })
            .collect()
    }

    /// Connects the transport to the running network: `handle` is the `NetworkHandle` of the
    /// manager the [`sub_protocols`](Self::sub_protocols) were registered with. Spawns the task
    /// that follows reth's peer events (on the current tokio runtime). Call once; later calls
    /// are ignored.
    pub fn attach<H>(&self, handle: H)
    where
        H: Peers + NetworkPeersEvents + Clone + Send + Sync + 'static,
    {
        let mut events = handle.peer_events();
        if self.shared.control.set(Arc::new(handle)).is_err() {
            return;
        }
        let shared = Arc::downgrade(&self.shared);
        tokio::spawn(async move {
            while let Some(event) = events.next().await {
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                shared.on_peer_event(event);
            }
        });
    }

    /// Sessions that currently have a zks slot (set up, linked, or closing).
    pub fn sessions(&self) -> usize {
        lock(&self.shared.slots).len()
    }
}

/// `enode://<id>@<ip>:<port>` to reth's id and address.
fn parse_enode(addr: &PeerAddr) -> Result<NodeRecord, TransportError> {
    addr.as_str()
        .parse::<NodeRecord>()
        .map_err(|e| TransportError::InvalidAddress {
            addr: addr.clone(),
            reason: e.to_string().into(),
        })
}

/// Our peer id for a reth peer id: its 64 bytes, as zks-devp2p has it.
pub fn peer_id(id: &RethPeerId) -> PeerId {
    PeerId::new(id.as_slice())
}

/// Our reason as reth's (the same code).
fn to_reth(reason: DisconnectReason) -> RethReason {
    RethReason::try_from(reason.code()).unwrap_or(RethReason::SubprotocolSpecific)
}

/// reth's reason as ours (the same code).
fn from_reth(reason: RethReason) -> DisconnectReason {
    DisconnectReason::from_code(reason as u8).unwrap_or(DisconnectReason::SubprotocolError)
}

#[async_trait]
impl Transport for RethTransport {
    fn local_id(&self) -> PeerId {
        peer_id(&self.shared.local_id)
    }

    fn peer_id(&self, addr: &PeerAddr) -> Result<PeerId, TransportError> {
        parse_enode(addr).map(|r| peer_id(&r.id))
    }

    fn local_peer_addr(&self) -> Option<PeerAddr> {
        let listening = lock(&self.shared.listener)
            .as_ref()
            .is_some_and(|(tx, _)| !tx.is_closed());
        let control = self.shared.control.get()?;
        listening.then(|| PeerAddr::new(control.local_record().to_string()))
    }

    async fn listen(&self, caps: Capabilities) -> Result<Incoming, TransportError> {
        let mut slot = lock(&self.shared.listener);
        if slot.as_ref().is_some_and(|(tx, _)| !tx.is_closed()) {
            return Err(TransportError::Listen("already listening".into()));
        }
        let (tx, incoming) = Incoming::channel(self.shared.config.incoming_capacity);
        *slot = Some((tx, caps));
        Ok(incoming)
    }

    async fn dial(&self, addr: &PeerAddr, caps: Capabilities) -> Result<Link, TransportError> {
        let record = parse_enode(addr)?;
        let control = self
            .shared
            .control
            .get()
            .cloned()
            .ok_or(TransportError::Shutdown)?;
        let already = lock(&self.shared.slots).values().any(|s| {
            let st = s.state();
            st.peer == Some(record.id) && st.established
        });
        if already {
            return Err(TransportError::Refused {
                peer: addr.clone(),
                reason: DisconnectReason::AlreadyConnected,
            });
        }
        let (tx, rx) = oneshot::channel();
        {
            let mut dials = lock(&self.shared.dials);
            if dials.contains_key(&record.id) {
                return Err(TransportError::Refused {
                    peer: addr.clone(),
                    reason: DisconnectReason::AlreadyConnected,
                });
            }
            if dials.len() >= self.shared.config.max_pending_dials {
                return Err(TransportError::Unreachable {
                    addr: addr.clone(),
                    reason: "too many dials in progress".into(),
                });
            }
            dials.insert(record.id, PendingDial { tx, caps });
        }
        // Cancel safety: a dropped dial takes its entry out again.
        let guard = DialGuard {
            shared: &self.shared,
            peer: record.id,
        };
        control.connect(record.id, record.tcp_addr());
        let result = tokio::time::timeout(self.shared.config.dial_timeout, rx).await;
        drop(guard);
        match result {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(TransportError::Shutdown),
            Err(_) => Err(TransportError::Unreachable {
                addr: addr.clone(),
                reason: format!(
                    "no zks session within {:?} (reth reports no dial failures)",
                    self.shared.config.dial_timeout
                )
                .into(),
            }),
        }
    }
}

struct DialGuard<'a> {
    shared: &'a Shared,
    peer: RethPeerId,
}

impl Drop for DialGuard<'_> {
    fn drop(&mut self) {
        lock(&self.shared.dials).remove(&self.peer);
    }
}

impl Shared {
    /// What a session offers: a pending dial's capabilities for a peer we dial, the
    /// listener's for others, each within what was registered.
    fn session_caps(&self, peer: Option<RethPeerId>) -> Capabilities {
        let dial = peer.and_then(|p| lock(&self.dials).get(&p).map(|d| d.caps));
        let caps = dial.or_else(|| lock(&self.listener).as_ref().map(|(_, caps)| *caps));
        let registered = self.config.caps;
        caps.map_or(registered, |c| Capabilities {
            zks: c.zks.intersection(registered.zks),
            zks_2fa: c.zks_2fa.and(registered.zks_2fa),
        })
    }

    /// Whether handler `index` takes part in a session offering `caps`.
    fn active(&self, index: usize, caps: Capabilities) -> bool {
        match self.handlers.get(index) {
            Some((Protocol::Zks2fa, _)) => caps.zks_2fa.is_some(),
            Some((_, version)) => {
                ZksVersion::from_number(*version).is_some_and(|v| caps.zks.contains(v))
            }
            None => false,
        }
    }

    /// Our handler number `index` is asked for a session. It takes part only in what the
    /// session offers (reth then leaves the others out of the Hello, so a dial or listener
    /// narrows the versions per session); the first that takes part opens the session's slot,
    /// the others join it.
    fn open(
        &self,
        index: usize,
        remote_addr: SocketAddr,
        direction: Dir,
        peer: Option<RethPeerId>,
    ) -> Option<Arc<Slot>> {
        let caps = self.session_caps(peer);
        if !self.active(index, caps) {
            return None;
        }
        let first = (0..self.handlers.len()).find(|&i| self.active(i, caps));
        let mut opening = lock(&self.opening);
        if first != Some(index)
            && let Some(slot) = opening.as_ref()
            && slot.remote_addr == remote_addr
            && slot.direction == direction
        {
            return Some(Arc::clone(slot));
        }
        // The first handler, or (defensively) a session whose first handler we did not see:
        // this slot then waits only for the handlers from here on.
        let id = self.next_slot.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot::new(
            id,
            remote_addr,
            direction,
            (index..self.handlers.len())
                .filter(|&i| self.active(i, caps))
                .count(),
            self.config.link_capacity,
            InboundBudget::new(
                self.config.max_inbound_bytes,
                self.config.max_inbound_messages,
            ),
        ));
        {
            let mut st = slot.state();
            st.peer = peer;
            st.offered = caps.zks;
        }
        lock(&self.slots).insert(id, Arc::clone(&slot));
        *opening = Some(Arc::clone(&slot));
        Some(slot)
    }

    /// One of the slot's handlers is used up (installed, not supported, or dropped).
    fn resolved(&self, slot: &Arc<Slot>) {
        let failed = {
            let mut st = slot.state();
            st.unresolved = st.unresolved.saturating_sub(1);
            if st.unresolved > 0 {
                return;
            }
            // Every handler is used up: only our streams hold the inbound sender now.
            st.inbound_tx = None;
            if st.zks.is_none() || st.streams == 0 {
                st.taken = true;
                Some((st.peer, st.no_common_zks, st.offered))
            } else {
                None
            }
        };
        let mut opening = lock(&self.opening);
        if opening.as_ref().is_some_and(|s| s.id == slot.id) {
            *opening = None;
        }
        drop(opening);
        if let Some((peer, no_common, offered)) = failed {
            lock(&self.slots).remove(&slot.id);
            if let Some(peer) = peer {
                let error = if no_common {
                    TransportError::NoCommonVersion {
                        peer: peer_id(&peer),
                        local: offered,
                        // reth shows a handler only the capabilities both sides share.
                        remote: VersionSet::EMPTY,
                    }
                } else {
                    TransportError::Unreachable {
                        addr: PeerAddr::new(NodeRecord::new(slot.remote_addr, peer).to_string()),
                        reason: "reth gave up on the session before its Hello".into(),
                    }
                };
                self.fail_dial(peer, slot.direction, error);
            }
        }
    }

    fn fail_dial(&self, peer: RethPeerId, direction: Dir, error: TransportError) {
        if direction != Dir::Outgoing {
            return;
        }
        if let Some(dial) = lock(&self.dials).remove(&peer) {
            let _ = dial.tx.send(Err(error));
        }
    }

    /// reth dropped one of our streams: the session ended, or never got established.
    fn stream_dropped(self: &Arc<Self>, slot: &Arc<Slot>) {
        {
            let mut st = slot.state();
            st.streams = st.streams.saturating_sub(1);
            if st.streams > 0 || st.taken {
                return;
            }
        }
        // reth may have established the session and ended it at once (a peer refusing us
        // right after its Status) before its SessionEstablished event reached us: the link
        // then still comes, and ends with the peer's reason. Without that event in time, the
        // session never got established (eth Status refused, timeout).
        let mut established = slot.established.subscribe();
        let wait = self.config.close_reason_wait;
        let (shared, slot) = (Arc::downgrade(self), Arc::clone(slot));
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    let came = tokio::time::timeout(wait, established.wait_for(|e| *e))
                        .await
                        .is_ok_and(|r| r.is_ok());
                    if !came && let Some(shared) = shared.upgrade() {
                        shared.never_established(&slot);
                    }
                });
            }
            Err(_) => self.never_established(&slot),
        }
    }

    /// A session whose streams are gone and that reth never reported established.
    fn never_established(&self, slot: &Arc<Slot>) {
        let peer = {
            let mut st = slot.state();
            if st.taken {
                return;
            }
            st.taken = true;
            st.peer
        };
        lock(&self.slots).remove(&slot.id);
        if let Some(peer) = peer {
            let error = TransportError::Handshake {
                peer: PeerAddr::new(NodeRecord::new(slot.remote_addr, peer).to_string()),
                reason: "the session ended before reth established it (eth Status?)".into(),
            };
            self.fail_dial(peer, slot.direction, error);
        }
    }

    fn on_peer_event(self: &Arc<Self>, event: PeerEvent) {
        match event {
            PeerEvent::SessionEstablished(info) => {
                let slot = lock(&self.slots)
                    .values()
                    .find(|s| {
                        let st = s.state();
                        st.peer == Some(info.peer_id)
                            && s.remote_addr == info.remote_addr
                            && !st.established
                            && !st.taken
                    })
                    .cloned();
                if let Some(slot) = slot {
                    self.established(&slot, info.peer_id, eth_status(&info.status));
                }
            }
            PeerEvent::SessionClosed { peer_id, reason } => {
                let code = reason.map(|r| r as u8);
                for slot in lock(&self.slots).values() {
                    let st = slot.state();
                    if st.peer == Some(peer_id) && st.established {
                        slot.closed.send_replace(Some(code));
                    }
                }
            }
            _ => {}
        }
    }

    /// reth established the session: hand its link to the dial waiting for it, or to the
    /// listener.
    fn established(self: &Arc<Self>, slot: &Arc<Slot>, peer: RethPeerId, eth: EthStatus) {
        let (version, twofa, inbound_rx) = {
            let mut st = slot.state();
            st.established = true;
            st.taken = true;
            (st.zks, st.twofa, st.inbound_rx.take())
        };
        slot.established.send_replace(true);
        let (Some(version), Some(inbound_rx)) =
            (version.and_then(ZksVersion::from_number), inbound_rx)
        else {
            self.refuse(slot, peer, DisconnectReason::UselessPeer);
            return;
        };
        let remote_addr = PeerAddr::new(NodeRecord::new(slot.remote_addr, peer).to_string());
        let dial = if slot.direction == Dir::Outgoing {
            lock(&self.dials).remove(&peer)
        } else {
            None
        };
        let (caps, deliver): (Capabilities, Deliver) = match dial {
            Some(d) => (d.caps, Deliver::Dial(d.tx)),
            None => match lock(&self.listener).as_ref() {
                Some((tx, caps)) if !tx.is_closed() => (*caps, Deliver::Listener(tx.clone())),
                _ => {
                    self.refuse(slot, peer, DisconnectReason::UselessPeer);
                    return;
                }
            },
        };
        if !caps.zks.contains(version) {
            self.refuse(slot, peer, DisconnectReason::UselessPeer);
            let error = TransportError::NoCommonVersion {
                peer: peer_id(&peer),
                local: caps.zks,
                remote: VersionSet::only(version),
            };
            deliver.send(Err(error));
            return;
        }
        let link_caps = LinkCaps {
            zks: version,
            zks_2fa: (twofa && caps.zks_2fa.is_some()).then_some(TwoFaVersion::V1),
        };
        let direction = match slot.direction {
            Dir::Incoming => Direction::Inbound,
            Dir::Outgoing => Direction::Outbound,
        };
        let info = LinkInfo::new(peer_id(&peer), remote_addr, direction, link_caps).with_eth(eth);
        let (link, end) = Link::channel(info, self.config.link_capacity);
        let (outbound, inbound) = end.split();
        let task = LinkTask {
            shared: Arc::downgrade(self),
            slot: Arc::clone(slot),
            peer,
            caps: link_caps,
            close_wait: self.config.close_reason_wait,
        };
        tokio::spawn(task.run(outbound, inbound, inbound_rx));
        deliver.send(Ok(link));
    }

    /// Ends a session we will not use, telling the peer why.
    fn refuse(&self, slot: &Arc<Slot>, peer: RethPeerId, reason: DisconnectReason) {
        lock(&self.slots).remove(&slot.id);
        self.disconnect(slot, peer, reason);
    }

    /// Disconnects the session with `reason`; without a network handle (never attached), our
    /// streams end instead, and reth closes the session without a Disconnect.
    fn disconnect(&self, slot: &Arc<Slot>, peer: RethPeerId, reason: DisconnectReason) {
        match self.control.get() {
            Some(control) => control.disconnect(peer, to_reth(reason)),
            None => slot.out.end(),
        }
    }
}

/// Where an established link goes.
enum Deliver {
    Dial(oneshot::Sender<Result<Link, TransportError>>),
    Listener(IncomingTx),
}

impl Deliver {
    fn send(self, result: Result<Link, TransportError>) {
        match self {
            Self::Dial(tx) => {
                let _ = tx.send(result);
            }
            Self::Listener(tx) => {
                // Bounded: a listener that does not keep up loses links, which then close.
                let _ = tx.try_send(result);
            }
        }
    }
}

/// Why a link task ended.
enum End {
    /// We close: tell the peer `reason`.
    Close(DisconnectReason, Arc<str>),
    /// reth ended the session.
    SessionGone,
    /// The engine dropped its receiver.
    EngineGone,
}

/// Moves frames between one slot and the engine's link.
struct LinkTask {
    shared: Weak<Shared>,
    slot: Arc<Slot>,
    peer: RethPeerId,
    caps: LinkCaps,
    close_wait: Duration,
}

impl LinkTask {
    async fn run(
        self,
        mut outbound: OutboundQueue,
        inbound: InboundQueue,
        mut inbound_rx: InboundRx,
    ) {
        let end = {
            let from_peer = self.pump_inbound(&inbound, &mut inbound_rx);
            let to_peer = self.pump_outbound(&mut outbound);
            // Biased: what reth handed us moves into the engine's queue, as far as it has room,
            // before an exceeded budget closes the link.
            tokio::select! {
                biased;
                end = from_peer => end,
                end = to_peer => end,
                () = self.slot.budget.exceeded() => {
                    let (bytes, messages) = self.slot.budget.held();
                    End::Close(
                        DisconnectReason::Requested,
                        format!("the engine fell behind: {messages} messages, {bytes} bytes held from reth").into(),
                    )
                }
            }
        };
        let closed = match end {
            End::Close(reason, detail) => {
                self.close(reason);
                LinkClosed::ByTransport { reason, detail }
            }
            End::EngineGone => {
                let reason = match outbound.close_reason() {
                    Some(reason) => reason,
                    None => {
                        // Let go without a reason: what was sent before goes out first (as on
                        // every transport), bounded by the close wait.
                        let _ =
                            tokio::time::timeout(self.close_wait, self.slot.out.drained()).await;
                        DisconnectReason::Requested
                    }
                };
                self.close(reason);
                LinkClosed::ByTransport {
                    reason,
                    detail: "the engine let go of the link".into(),
                }
            }
            End::SessionGone => self.session_gone().await,
        };
        inbound.close(closed);
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        lock(&shared.slots).remove(&self.slot.id);
        if self.slot.direction == Dir::Outgoing {
            // Once reth has closed the session (the peer is idle in its set then, so taking it
            // out sends nothing more), unless another session with the peer is up.
            let mut closed = self.slot.closed.subscribe();
            let _ = tokio::time::timeout(self.close_wait, closed.wait_for(Option::is_some)).await;
            let other = lock(&shared.slots)
                .values()
                .any(|s| s.state().peer == Some(self.peer));
            if !other && let Some(control) = shared.control.get() {
                control.forget(self.peer);
            }
        }
    }

    fn close(&self, reason: DisconnectReason) {
        match self.shared.upgrade() {
            Some(shared) => shared.disconnect(&self.slot, self.peer, reason),
            None => self.slot.out.end(),
        }
    }

    /// reth's side ended: how, as reth reports it (the peer's Disconnect reason, if it sent one).
    async fn session_gone(&self) -> LinkClosed {
        let mut closed = self.slot.closed.subscribe();
        let code = tokio::time::timeout(self.close_wait, closed.wait_for(Option::is_some))
            .await
            .ok()
            .and_then(Result::ok)
            .and_then(|c| *c);
        match code {
            Some(Some(code)) => match RethReason::try_from(code) {
                Ok(reason) => LinkClosed::ByPeer(from_reth(reason)),
                Err(_) => LinkClosed::Dropped,
            },
            _ => LinkClosed::Dropped,
        }
    }

    async fn pump_inbound(&self, inbound: &InboundQueue, rx: &mut InboundRx) -> End {
        let cap = inbound.size_cap();
        loop {
            let Some((protocol, mut message)) = rx.recv().await else {
                return End::SessionGone;
            };
            let len = message.len();
            let permit = inbound.reserve().await;
            self.slot.budget.release(len);
            let Ok(permit) = permit else {
                return End::EngineGone;
            };
            if !self.caps.carries(protocol) {
                return End::Close(
                    DisconnectReason::SubprotocolError,
                    format!("{protocol} message on a link without {protocol}").into(),
                );
            }
            if len == 0 {
                return End::Close(DisconnectReason::ProtocolBreach, "empty message".into());
            }
            if len > cap.get() {
                return End::Close(
                    DisconnectReason::ProtocolBreach,
                    format!("{len}-byte message over the link's {} cap", cap.get()).into(),
                );
            }
            let body = message.split_off(1).freeze();
            let id = message[0];
            permit.deliver(Frame::new(protocol, id, body));
        }
    }

    async fn pump_outbound(&self, outbound: &mut OutboundQueue) -> End {
        loop {
            match outbound.next_outbound().await {
                Some(Outbound::Frame(frame)) => {
                    if !self.caps.carries(frame.protocol)
                        || frame.id >= self.caps.message_count(frame.protocol)
                    {
                        return End::Close(
                            DisconnectReason::SubprotocolError,
                            format!(
                                "refused to send {} message {} on a {} link",
                                frame.protocol, frame.id, self.caps
                            )
                            .into(),
                        );
                    }
                    let mut wire = BytesMut::with_capacity(frame.len());
                    wire.extend_from_slice(&[frame.id]);
                    wire.extend_from_slice(&frame.body);
                    self.slot.out.push(frame.protocol, wire).await;
                }
                Some(Outbound::Close(reason)) => {
                    return End::Close(reason, "closed by the engine".into());
                }
                None => return End::EngineGone,
            }
        }
    }
}

/// Offers one subprotocol (a zks version, or `zks_2fa/1`) on every reth session.
struct ZksProtocolHandler {
    shared: Arc<Shared>,
    /// Our handlers' order of registration: 0 opens each session's slot.
    index: usize,
    protocol: Protocol,
    version: u8,
    messages: u8,
}

impl fmt::Debug for ZksProtocolHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ZksProtocolHandler({}/{})", self.protocol, self.version)
    }
}

impl ProtocolHandler for ZksProtocolHandler {
    type ConnectionHandler = ZksConnectionHandler;

    fn on_incoming(&self, socket_addr: SocketAddr) -> Option<Self::ConnectionHandler> {
        let slot = self
            .shared
            .open(self.index, socket_addr, Dir::Incoming, None)?;
        Some(self.handler(slot))
    }

    fn on_outgoing(
        &self,
        socket_addr: SocketAddr,
        peer_id: RethPeerId,
    ) -> Option<Self::ConnectionHandler> {
        let slot = self
            .shared
            .open(self.index, socket_addr, Dir::Outgoing, Some(peer_id))?;
        Some(self.handler(slot))
    }
}

impl ZksProtocolHandler {
    fn handler(&self, slot: Arc<Slot>) -> ZksConnectionHandler {
        ZksConnectionHandler {
            shared: Arc::clone(&self.shared),
            slot: Some(slot),
            protocol: self.protocol,
            version: self.version,
            messages: self.messages,
        }
    }
}

/// One subprotocol of one session, until reth installs it (or does not).
#[derive(Debug)]
pub struct ZksConnectionHandler {
    shared: Arc<Shared>,
    /// `None` once used up.
    slot: Option<Arc<Slot>>,
    protocol: Protocol,
    version: u8,
    messages: u8,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("local_id", &self.local_id)
            .finish_non_exhaustive()
    }
}

impl ConnectionHandler for ZksConnectionHandler {
    type Connection = ZksConnection;

    fn protocol(&self) -> RethProtocol {
        RethProtocol::new(
            Capability::new(self.protocol.name().to_owned(), usize::from(self.version)),
            self.messages,
        )
    }

    fn on_unsupported_by_peer(
        mut self,
        supported: &SharedCapabilities,
        _direction: RethDirection,
        peer_id: RethPeerId,
    ) -> OnNotSupported {
        let Some(slot) = self.slot.take() else {
            return OnNotSupported::KeepAlive;
        };
        let verdict = match self.protocol {
            Protocol::Zks => {
                let ours = slot.state().offered;
                let shared_zks = supported.iter_caps().any(|c| {
                    c.name() == "zks"
                        && ZksVersion::from_number(c.version()).is_some_and(|v| ours.contains(v))
                });
                if shared_zks {
                    OnNotSupported::KeepAlive
                } else {
                    slot.state().no_common_zks = true;
                    OnNotSupported::Disconnect
                }
            }
            _ => OnNotSupported::KeepAlive,
        };
        slot.state().peer = Some(peer_id);
        self.shared.resolved(&slot);
        verdict
    }

    fn into_connection(
        mut self,
        _direction: RethDirection,
        peer_id: RethPeerId,
        conn: ProtocolConnection,
    ) -> Self::Connection {
        let slot = self.slot.take();
        let (slot, inbound) = match slot {
            Some(slot) => {
                let tx = {
                    let mut st = slot.state();
                    st.peer = Some(peer_id);
                    match self.protocol {
                        Protocol::Zks => st.zks = Some(self.version),
                        _ => st.twofa = true,
                    }
                    st.streams += 1;
                    st.inbound_tx.clone()
                };
                self.shared.resolved(&slot);
                (slot, tx)
            }
            // Not reachable (reth uses a handler once); a detached stream that drops its input.
            None => (
                Arc::new(Slot::new(
                    0,
                    SocketAddr::from(([0, 0, 0, 0], 0)),
                    Dir::Incoming,
                    0,
                    1,
                    InboundBudget::new(0, 1),
                )),
                None,
            ),
        };
        let shared = Arc::downgrade(&self.shared);
        // reth calls this on the session's task, inside its tokio runtime.
        let (conn, inbound) = match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(crate::session::drain(
                    self.protocol,
                    conn,
                    inbound,
                    Arc::clone(&slot.budget),
                ));
                (None, None)
            }
            Err(_) => (Some(conn), inbound),
        };
        ZksConnection {
            protocol: self.protocol,
            conn,
            inbound,
            slot,
            on_drop: Some(Box::new(move |slot| {
                if let Some(shared) = shared.upgrade() {
                    shared.stream_dropped(slot);
                }
            })),
        }
    }
}

impl Drop for ZksConnectionHandler {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            self.shared.resolved(&slot);
        }
    }
}

/// The peer's Status as reth received and checked it, for [`LinkInfo::eth`].
fn eth_status(status: &reth_eth_wire::UnifiedStatus) -> EthStatus {
    let summary = EthStatus::new(
        u8::from(status.version),
        status.chain.id(),
        status.genesis.0,
        status.forkid.hash.0,
        status.forkid.next,
    );
    match (status.earliest_block, status.latest_block) {
        (Some(earliest), Some(latest)) => summary.with_blocks(earliest, latest),
        _ => summary,
    }
}
