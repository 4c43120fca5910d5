//! [`Devp2pConfig`]: everything the transport needs, built once and validated.

use std::net::SocketAddr;
use std::time::Duration;

use crate::error::Error;
use crate::eth::{ChainIdentity, EthVersion};
use crate::key::NodeKey;
use crate::rlpx::MAX_FRAME_DATA;

/// Default listen address: all interfaces, the devp2p port.
pub const DEFAULT_LISTEN_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 30303);
/// Default time for TCP connect plus the ECIES handshake.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time to receive the peer's Hello after the handshake.
pub const DEFAULT_HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Default interval between our Pings.
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(15);
/// Default time the peer has to answer a Ping before Disconnect `0x0b`.
pub const DEFAULT_PONG_TIMEOUT: Duration = Duration::from_secs(20);
/// Default cap on the bytes the kernel holds unsent per link (`TCP_NOTSENT_LOWAT`).
pub const DEFAULT_TCP_NOTSENT_LOWAT: u32 = 128 * 1024;
/// Default per-direction queue capacity of each link.
pub const DEFAULT_LINK_CAPACITY: usize = 16;
/// Default cap on established links (inbound and outbound), plus our own dials in progress.
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// Default cap on inbound sockets still setting up (see [`Devp2pConfigBuilder::max_pending`]).
pub const DEFAULT_MAX_PENDING: usize = 128;
/// Default cap on inbound sockets still setting up from one source address.
pub const DEFAULT_MAX_PENDING_PER_IP: usize = 8;
/// Default ECIES handshake deadline of an inbound socket that arrives while more than half of
/// the pending set is taken.
pub const DEFAULT_PRESSURE_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);
/// Default time the peer has to send its `eth` Status after Hello (reth's handshake timeout).
pub const DEFAULT_STATUS_TIMEOUT: Duration = Duration::from_secs(10);
/// zks messages a peer may send before its `eth` Status: reth installs its subprotocol handlers
/// before the Status exchange, so an upstream EN's first requests can arrive first. They are
/// held and handed to the engine once the Status passed; more than this ends the session.
pub const MAX_EARLY_ZKS_MESSAGES: usize = 16;
/// Grace period for flushing a Disconnect and draining the socket when closing.
pub const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Configuration of a [`Devp2pTransport`](crate::Devp2pTransport).
///
/// Built with [`Devp2pConfig::builder`]; every setting has a documented default.
///
/// # Admission of inbound sockets
///
/// An accepted socket is *pending* until it has set up (ECIES handshake, Hello and, with
/// `eth`, the Status). Pending sockets and established links have separate budgets, so idle
/// sockets cannot take the place of links nor keep honest peers out:
///
/// 1. **Per address**: a socket from an address that already has
///    [`max_pending_per_ip`](Devp2pConfigBuilder::max_pending_per_ip) (default 8) pending
///    sockets is dropped at once. Loopback and trusted peers are not exempt.
/// 2. **Eviction**: at most [`max_pending`](Devp2pConfigBuilder::max_pending) (default 128)
///    sockets are pending; when the set is full a new socket evicts the oldest pending one
///    that has not finished its ECIES handshake (the oldest of all when every one has: a peer
///    past ECIES did a k256 key exchange, which a flood of idle sockets never pays), its
///    handshake cancelled and its socket dropped, instead of being refused.
///    Evictions are logged at WARN, one line per 10 s with their count.
/// 3. **Pressure**: a socket arriving while more than half of the pending set is taken gets
///    [`pressure_handshake_timeout`](Devp2pConfigBuilder::pressure_handshake_timeout)
///    (default 2 s) for its ECIES handshake instead of
///    [`handshake_timeout`](Devp2pConfigBuilder::handshake_timeout).
/// 4. **Established links**: a socket that sets up takes one of
///    [`max_connections`](Devp2pConfigBuilder::max_connections) (default 256, shared with our
///    own dials); beyond it the new link is closed. Established links are never evicted.
#[derive(Clone, Debug)]
pub struct Devp2pConfig {
    pub(crate) key: NodeKey,
    pub(crate) listen_addr: SocketAddr,
    pub(crate) client_id: String,
    pub(crate) handshake_timeout: Duration,
    pub(crate) hello_timeout: Duration,
    pub(crate) ping_interval: Duration,
    pub(crate) pong_timeout: Duration,
    pub(crate) tcp_notsent_lowat: Option<u32>,
    pub(crate) link_capacity: usize,
    pub(crate) max_frame_size: usize,
    pub(crate) max_connections: usize,
    pub(crate) max_pending: usize,
    pub(crate) max_pending_per_ip: usize,
    pub(crate) pressure_handshake_timeout: Duration,
    pub(crate) chain: Option<ChainIdentity>,
    pub(crate) eth_versions: Vec<EthVersion>,
    pub(crate) require_eth: bool,
    pub(crate) status_timeout: Duration,
}

impl Devp2pConfig {
    /// A builder for a node with this static key.
    pub fn builder(key: NodeKey) -> Devp2pConfigBuilder {
        Devp2pConfigBuilder {
            config: Self {
                key,
                listen_addr: DEFAULT_LISTEN_ADDR,
                client_id: concat!("zks-devp2p/", env!("CARGO_PKG_VERSION")).to_owned(),
                handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
                hello_timeout: DEFAULT_HELLO_TIMEOUT,
                ping_interval: DEFAULT_PING_INTERVAL,
                pong_timeout: DEFAULT_PONG_TIMEOUT,
                tcp_notsent_lowat: Some(DEFAULT_TCP_NOTSENT_LOWAT),
                link_capacity: DEFAULT_LINK_CAPACITY,
                max_frame_size: MAX_FRAME_DATA,
                max_connections: DEFAULT_MAX_CONNECTIONS,
                max_pending: DEFAULT_MAX_PENDING,
                max_pending_per_ip: DEFAULT_MAX_PENDING_PER_IP,
                pressure_handshake_timeout: DEFAULT_PRESSURE_HANDSHAKE_TIMEOUT,
                chain: None,
                eth_versions: EthVersion::ALL.to_vec(),
                require_eth: false,
                status_timeout: DEFAULT_STATUS_TIMEOUT,
            },
        }
    }

    /// The node's static key.
    pub fn key(&self) -> &NodeKey {
        &self.key
    }

    /// Where [`listen`](zks_api::transport::Transport::listen) binds.
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen_addr
    }

    /// The client id sent in Hello.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// TCP connect plus ECIES handshake deadline.
    pub fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }

    /// Deadline for the peer's Hello after the handshake.
    pub fn hello_timeout(&self) -> Duration {
        self.hello_timeout
    }

    /// Interval between our Pings.
    pub fn ping_interval(&self) -> Duration {
        self.ping_interval
    }

    /// How long the peer has to answer a Ping.
    pub fn pong_timeout(&self) -> Duration {
        self.pong_timeout
    }

    /// The cap on bytes the kernel holds unsent per link; `None`: the kernel's own.
    pub fn tcp_notsent_lowat(&self) -> Option<u32> {
        self.tcp_notsent_lowat
    }

    /// Per-direction queue capacity of each link.
    pub fn link_capacity(&self) -> usize {
        self.link_capacity
    }

    /// Largest frame-data accepted or sent after Hello.
    pub fn max_frame_size(&self) -> usize {
        self.max_frame_size
    }

    /// Cap on established links plus our own dials in progress.
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// Cap on inbound sockets still setting up; a new one evicts the oldest (still in ECIES
    /// first).
    pub fn max_pending(&self) -> usize {
        self.max_pending
    }

    /// Cap on inbound sockets still setting up from one source address.
    pub fn max_pending_per_ip(&self) -> usize {
        self.max_pending_per_ip
    }

    /// ECIES handshake deadline of an inbound socket arriving while more than half of the
    /// pending set is taken.
    pub fn pressure_handshake_timeout(&self) -> Duration {
        self.pressure_handshake_timeout
    }

    /// The chain identity sent in the `eth` Status; `None`: `eth` is not advertised.
    pub fn chain_identity(&self) -> Option<&ChainIdentity> {
        self.chain.as_ref()
    }

    /// The `eth` versions advertised when a chain identity is set; empty without one.
    pub fn eth_versions(&self) -> &[EthVersion] {
        if self.chain.is_some() {
            &self.eth_versions
        } else {
            &[]
        }
    }

    /// Whether sessions that do not share `eth` are refused.
    pub fn require_eth(&self) -> bool {
        self.require_eth
    }

    /// How long the peer has to send its `eth` Status.
    pub fn status_timeout(&self) -> Duration {
        self.status_timeout
    }
}

/// Builds a [`Devp2pConfig`]; by-value setters, validated by [`build`](Self::build).
#[derive(Clone, Debug)]
#[must_use = "call build() to get the config"]
pub struct Devp2pConfigBuilder {
    config: Devp2pConfig,
}

impl Devp2pConfigBuilder {
    /// Listen address. Default: `0.0.0.0:30303` ([`DEFAULT_LISTEN_ADDR`]); use port 0 for any.
    pub fn listen_addr(mut self, addr: SocketAddr) -> Self {
        self.config.listen_addr = addr;
        self
    }

    /// Client id sent in Hello. Default: `zks-devp2p/<crate version>`.
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.config.client_id = id.into();
        self
    }

    /// TCP connect plus ECIES handshake deadline. Default: 10 s.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.config.handshake_timeout = timeout;
        self
    }

    /// Deadline for the peer's Hello. Default: 10 s.
    pub fn hello_timeout(mut self, timeout: Duration) -> Self {
        self.config.hello_timeout = timeout;
        self
    }

    /// Interval between our Pings. Default: 15 s.
    pub fn ping_interval(mut self, interval: Duration) -> Self {
        self.config.ping_interval = interval;
        self
    }

    /// How long the peer has to answer a Ping before Disconnect `0x0b`. Default: 20 s.
    pub fn pong_timeout(mut self, timeout: Duration) -> Self {
        self.config.pong_timeout = timeout;
        self
    }

    /// Caps the bytes the kernel holds unsent on each link's socket (`TCP_NOTSENT_LOWAT`, on
    /// Linux; elsewhere ignored). Bytes beyond it wait in the link's own write buffer, so a
    /// Ping sent behind replay toward a slow peer waits behind at most that buffer (256 KiB),
    /// this cap and what is in flight, instead of the several hundred KiB the kernel's
    /// autotuned send buffer takes: the Pong then comes within its timeout while the peer
    /// keeps reading. `None` leaves the kernel's setting (unbounded by default).
    /// Default: 128 KiB.
    pub fn tcp_notsent_lowat(mut self, lowat: Option<u32>) -> Self {
        self.config.tcp_notsent_lowat = lowat;
        self
    }

    /// Per-direction queue capacity of each link. Default: 16.
    pub fn link_capacity(mut self, capacity: usize) -> Self {
        self.config.link_capacity = capacity;
        self
    }

    /// Largest frame-data accepted or sent after Hello. Default and maximum: 2^24 − 1.
    pub fn max_frame_size(mut self, max: usize) -> Self {
        self.config.max_frame_size = max;
        self
    }

    /// Cap on established links, inbound and outbound, plus our own dials in progress. A dial
    /// beyond it fails at once; an inbound socket that finishes setting up beyond it is
    /// closed. Inbound sockets still setting up do not count here (see
    /// [`max_pending`](Self::max_pending)), so a flood of them never takes a link's place.
    /// Default: 256.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.config.max_connections = max;
        self
    }

    /// Cap on inbound sockets still setting up (ECIES handshake, Hello, `eth` Status). When
    /// it is reached, a new socket evicts the oldest pending one still in its ECIES handshake
    /// (the oldest of all when every one is past it; the evicted socket is dropped) instead of
    /// being refused, so idle sockets cannot lock honest peers out; evictions are
    /// logged at WARN once per 10 s with their count. Default: 128.
    pub fn max_pending(mut self, max: usize) -> Self {
        self.config.max_pending = max;
        self
    }

    /// Cap on inbound sockets still setting up from one source address (IPv4-mapped IPv6
    /// counts as IPv4); a further socket from that address is dropped at once. Loopback and
    /// trusted peers are not exempt. Default: 8.
    pub fn max_pending_per_ip(mut self, max: usize) -> Self {
        self.config.max_pending_per_ip = max;
        self
    }

    /// ECIES handshake deadline, instead of [`handshake_timeout`](Self::handshake_timeout),
    /// of an inbound socket that arrives while more than half of the
    /// [`max_pending`](Self::max_pending) set is taken. Default: 2 s.
    pub fn pressure_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.config.pressure_handshake_timeout = timeout;
        self
    }

    /// The chain this node belongs to: with it the node advertises `eth` (see
    /// [`eth_versions`](Self::eth_versions)), sends this identity in its Status after Hello and
    /// checks the peer's as reth does. For a ZKsync OS chain use
    /// [`ChainIdentity::zksync_os`]. Default: none (no `eth`, as between our own nodes).
    pub fn chain_identity(mut self, identity: ChainIdentity) -> Self {
        self.config.chain = Some(identity);
        self
    }

    /// The `eth` versions to advertise with a chain identity. Default: eth/69, 68, 67, 66 (as
    /// reth does).
    pub fn eth_versions(mut self, versions: impl IntoIterator<Item = EthVersion>) -> Self {
        self.config.eth_versions = versions.into_iter().collect();
        self
    }

    /// Refuse sessions that do not share `eth` (reth's rule; needs a chain identity). Default:
    /// off, so our own nodes and the seed generation's peers, which speak no `eth`, keep
    /// working.
    pub fn require_eth(mut self, require: bool) -> Self {
        self.config.require_eth = require;
        self
    }

    /// How long the peer has to send its `eth` Status after Hello. Default: 10 s.
    pub fn status_timeout(mut self, timeout: Duration) -> Self {
        self.config.status_timeout = timeout;
        self
    }

    /// Validates and returns the config.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for a zero capacity or duration, a frame cap below the 2 KiB
    /// Hello limit or above 2^24 − 1, a client id longer than 256 bytes, a chain identity with
    /// no `eth` version, or `require_eth` without a chain identity.
    pub fn build(self) -> Result<Devp2pConfig, Error> {
        let c = &self.config;
        let invalid = |reason| Err(Error::InvalidConfig { reason });
        if c.link_capacity == 0
            || c.max_connections == 0
            || c.max_pending == 0
            || c.max_pending_per_ip == 0
        {
            return invalid("capacities must be at least 1");
        }
        if [
            c.handshake_timeout,
            c.hello_timeout,
            c.ping_interval,
            c.pong_timeout,
            c.status_timeout,
            c.pressure_handshake_timeout,
        ]
        .contains(&Duration::ZERO)
        {
            return invalid("timeouts and intervals must be non-zero");
        }
        if !(crate::p2p::MAX_HELLO_SIZE..=MAX_FRAME_DATA).contains(&c.max_frame_size) {
            return invalid("max_frame_size must be within 2048..=16777215");
        }
        if c.client_id.len() > 256 {
            return invalid("client_id must be at most 256 bytes");
        }
        if c.chain.is_some() && c.eth_versions.is_empty() {
            return invalid("a chain identity needs at least one eth version");
        }
        if c.require_eth && c.chain.is_none() {
            return invalid("require_eth needs a chain identity");
        }
        Ok(self.config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let key = NodeKey::generate();
        let c = Devp2pConfig::builder(key.clone()).build();
        let Ok(c) = c else {
            panic!("defaults are valid")
        };
        assert_eq!(c.ping_interval(), DEFAULT_PING_INTERVAL);
        assert_eq!(c.max_frame_size(), MAX_FRAME_DATA);
        assert!(matches!(
            Devp2pConfig::builder(key.clone()).link_capacity(0).build(),
            Err(Error::InvalidConfig { .. })
        ));
        assert_eq!(c.max_pending(), DEFAULT_MAX_PENDING);
        assert_eq!(c.max_pending_per_ip(), DEFAULT_MAX_PENDING_PER_IP);
        assert_eq!(
            c.pressure_handshake_timeout(),
            DEFAULT_PRESSURE_HANDSHAKE_TIMEOUT
        );
        for invalid in [
            Devp2pConfig::builder(key.clone()).max_pending(0),
            Devp2pConfig::builder(key.clone()).max_pending_per_ip(0),
            Devp2pConfig::builder(key.clone()).pressure_handshake_timeout(Duration::ZERO),
        ] {
            assert!(matches!(invalid.build(), Err(Error::InvalidConfig { .. })));
        }
        assert!(matches!(
            Devp2pConfig::builder(key).max_frame_size(100).build(),
            Err(Error::InvalidConfig { .. })
        ));
    }
}
