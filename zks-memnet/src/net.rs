//! The network: named nodes, listeners, dials, and fault injection between pairs of nodes.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::mpsc;
use zks_api::transport::{Incoming, LinkInfo, TransportError};
use zks_api::transport::{Link, Transport};
use zks_api::wire::Capabilities;
use zks_api::{Direction, DisconnectReason, PeerAddr, PeerId};

use crate::link::{LinkCtl, Side, Wire, relay};

/// Settings of a [`MemNet`]. Every field has a default ([`MemnetConfig::default`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemnetConfig {
    /// Messages each link queues per direction on each side, and the most in flight on the
    /// "wire". Default: 4.
    pub link_capacity: usize,
    /// Links waiting to be accepted per listener before dialers wait. Default: 64.
    pub accept_backlog: usize,
    /// Seed of the RNG behind latency jitter. Default: 0.
    pub seed: u64,
}

impl Default for MemnetConfig {
    fn default() -> Self {
        Self {
            link_capacity: 4,
            accept_backlog: 64,
            seed: 0,
        }
    }
}

/// An in-memory network of named nodes. Cheap to clone; clones share the network.
#[derive(Clone, Debug)]
pub struct MemNet {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: MemnetConfig,
    state: Mutex<State>,
}

type Listener = (Capabilities, mpsc::Sender<Result<Link, TransportError>>);

#[derive(Debug)]
struct State {
    nodes: HashSet<Arc<str>>,
    listeners: HashMap<Arc<str>, Listener>,
    links: Vec<Arc<LinkCtl>>,
    partitions: HashSet<(Arc<str>, Arc<str>)>,
    latency: HashMap<(Arc<str>, Arc<str>), (Duration, Duration)>,
    rng: StdRng,
}

/// Unordered pair key.
fn pair(x: &str, y: &str) -> (Arc<str>, Arc<str>) {
    if x <= y {
        (x.into(), y.into())
    } else {
        (y.into(), x.into())
    }
}

impl Default for MemNet {
    fn default() -> Self {
        Self::new()
    }
}

impl MemNet {
    /// A network with the default settings.
    pub fn new() -> Self {
        Self::with_config(MemnetConfig::default())
    }

    /// A network with these settings.
    pub fn with_config(config: MemnetConfig) -> Self {
        let state = State {
            nodes: HashSet::new(),
            listeners: HashMap::new(),
            links: Vec::new(),
            partitions: HashSet::new(),
            latency: HashMap::new(),
            rng: StdRng::seed_from_u64(config.seed),
        };
        Self {
            inner: Arc::new(Inner {
                config,
                state: Mutex::new(state),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        let mut state = self
            .inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        state.links.retain(|l| !l.is_done());
        state
    }

    /// The transport of node `name` (creating the node if needed).
    pub fn node(&self, name: &str) -> MemTransport {
        self.state().nodes.insert(name.into());
        MemTransport {
            net: self.clone(),
            name: name.into(),
        }
    }

    /// Live links, in either direction, between `x` and `y`.
    pub fn links_between(&self, x: &str, y: &str) -> usize {
        self.state()
            .links
            .iter()
            .filter(|l| l.connects(x, y))
            .count()
    }

    /// Live links in the whole network.
    pub fn link_count(&self) -> usize {
        self.state().links.len()
    }

    /// Sets the one-way latency between `x` and `y` (both directions), plus up to `jitter` more
    /// per message drawn from the seeded RNG. Applies to live and future links.
    pub fn set_latency(&self, x: &str, y: &str, latency: Duration, jitter: Duration) {
        let mut state = self.state();
        state.latency.insert(pair(x, y), (latency, jitter));
        for link in state.links.iter().filter(|l| l.connects(x, y)) {
            link.set_latency(latency, jitter);
        }
    }

    /// Kills every live link between `x` and `y`; both engines see
    /// [`LinkClosed::ByTransport`](zks_api::transport::LinkClosed::ByTransport) with
    /// `TcpSubsystemError`. Returns how many links were killed. New dials still work.
    pub fn kill(&self, x: &str, y: &str) -> usize {
        let state = self.state();
        let mut killed = 0;
        for link in state.links.iter().filter(|l| l.connects(x, y)) {
            link.end(None, DisconnectReason::TcpSubsystemError);
            killed += 1;
        }
        killed
    }

    /// Cuts `x` off from `y`: kills their links and makes dials between them fail as
    /// unreachable until [`heal`](Self::heal).
    pub fn partition(&self, x: &str, y: &str) {
        self.state().partitions.insert(pair(x, y));
        self.kill(x, y);
    }

    /// Undoes [`partition`](Self::partition).
    pub fn heal(&self, x: &str, y: &str) {
        self.state().partitions.remove(&pair(x, y));
    }

    /// Stops delivering messages from `from` to `to` on their live links, without closing them:
    /// once the in-flight window fills, `from`'s sends wait.
    pub fn stall(&self, from: &str, to: &str) {
        self.set_stalled(from, to, true);
    }

    /// Resumes delivery stopped by [`stall`](Self::stall).
    pub fn unstall(&self, from: &str, to: &str) {
        self.set_stalled(from, to, false);
    }

    fn set_stalled(&self, from: &str, to: &str, stalled: bool) {
        for link in self.state().links.iter().filter(|l| l.connects(from, to)) {
            link.set_stalled(from, stalled);
        }
    }

    async fn dial(
        &self,
        from: &Arc<str>,
        addr: &PeerAddr,
        caps: Capabilities,
    ) -> Result<Link, TransportError> {
        let to: Arc<str> = addr.as_str().into();
        let unreachable = |reason: &str| TransportError::Unreachable {
            addr: addr.clone(),
            reason: reason.into(),
        };
        let (listener_caps, accept, latency, rng) = {
            let mut state = self.state();
            if state.partitions.contains(&pair(from, &to)) {
                return Err(unreachable("partitioned"));
            }
            let Some((listener_caps, accept)) = state.listeners.get(&to).cloned() else {
                return Err(unreachable(if state.nodes.contains(&to) {
                    "node is not listening"
                } else {
                    "no such node"
                }));
            };
            let latency = state
                .latency
                .get(&pair(from, &to))
                .copied()
                .unwrap_or_default();
            let rng = StdRng::seed_from_u64(state.rng.random());
            (listener_caps, accept, latency, rng)
        };
        let Some(negotiated) = caps.negotiate(listener_caps) else {
            let _ = accept
                .send(Err(TransportError::NoCommonVersion {
                    peer: PeerId::new(&**from),
                    local: listener_caps.zks,
                    remote: caps.zks,
                }))
                .await;
            return Err(TransportError::NoCommonVersion {
                peer: PeerId::new(&*to),
                local: caps.zks,
                remote: listener_caps.zks,
            });
        };

        let capacity = self.inner.config.link_capacity;
        let info = |peer: &Arc<str>, direction| {
            LinkInfo::new(
                PeerId::new(&**peer),
                PeerAddr::new(&**peer),
                direction,
                negotiated,
            )
        };
        let (dialer_link, dialer_end) = Link::channel(info(&to, Direction::Outbound), capacity);
        let (listener_link, listener_end) = Link::channel(info(from, Direction::Inbound), capacity);
        let ctl = Arc::new(LinkCtl::new(
            Arc::clone(from),
            Arc::clone(&to),
            latency,
            rng,
        ));
        let (a_out, a_in) = dialer_end.split();
        let (b_out, b_in) = listener_end.split();
        let wire = Wire {
            caps: negotiated,
            window: capacity,
        };
        tokio::spawn(relay(Arc::clone(&ctl), Side::A, a_out, b_in, wire));
        tokio::spawn(relay(Arc::clone(&ctl), Side::B, b_out, a_in, wire));
        self.state().links.push(Arc::clone(&ctl));

        if accept.send(Ok(listener_link)).await.is_err() {
            ctl.end(Some(Side::B), DisconnectReason::ClientQuitting);
            return Err(unreachable("node stopped listening"));
        }
        tracing::trace!(from = %from, to = %to, caps = %negotiated, "memnet link up");
        Ok(dialer_link)
    }
}

/// One node's view of a [`MemNet`]: its [`Transport`]. Addresses are node names.
#[derive(Clone, Debug)]
pub struct MemTransport {
    net: MemNet,
    name: Arc<str>,
}

impl MemTransport {
    /// This node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The network this node is on.
    pub fn net(&self) -> &MemNet {
        &self.net
    }
}

#[async_trait]
impl Transport for MemTransport {
    fn local_id(&self) -> PeerId {
        PeerId::new(&*self.name)
    }

    fn peer_id(&self, addr: &PeerAddr) -> Result<PeerId, TransportError> {
        if addr.as_str().is_empty() {
            return Err(TransportError::InvalidAddress {
                addr: addr.clone(),
                reason: "empty node name".into(),
            });
        }
        Ok(PeerId::new(addr.as_str()))
    }

    fn local_peer_addr(&self) -> Option<PeerAddr> {
        let state = self.net.state();
        let (_, tx) = state.listeners.get(&self.name)?;
        (!tx.is_closed()).then(|| PeerAddr::new(&*self.name))
    }

    async fn listen(&self, caps: Capabilities) -> Result<Incoming, TransportError> {
        let mut state = self.net.state();
        if let Some((_, tx)) = state.listeners.get(&self.name)
            && !tx.is_closed()
        {
            return Err(TransportError::Listen(
                format!("memnet node {} is already listening", self.name).into(),
            ));
        }
        let (tx, incoming) = Incoming::channel(self.net.inner.config.accept_backlog);
        state.listeners.insert(Arc::clone(&self.name), (caps, tx));
        Ok(incoming)
    }

    async fn dial(&self, addr: &PeerAddr, caps: Capabilities) -> Result<Link, TransportError> {
        self.net.dial(&self.name, addr, caps).await
    }
}
