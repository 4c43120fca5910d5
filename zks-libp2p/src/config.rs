//! [`Libp2pConfig`]: everything the transport needs, built once and validated.

use std::collections::HashSet;
use std::time::Duration;

use libp2p::identity::Keypair;
use libp2p::{Multiaddr, PeerId};
use zks_api::wire::limits::MAX_MESSAGE_BYTES;

use crate::error::Error;

/// Default listen address: all IPv4 interfaces, TCP port 30304.
pub const DEFAULT_LISTEN_ADDR: &str = "/ip4/0.0.0.0/tcp/30304";
/// Default per-direction queue capacity of each link, in messages.
pub const DEFAULT_LINK_CAPACITY: usize = 16;
/// Default cap on inbound libp2p connections (pending and established); trusted peers are
/// exempt. How many links are served is the node's cap (`zks_api::NodeSettings`).
pub const DEFAULT_MAX_CONNECTIONS: usize = 520;
/// Default time to connect, secure, multiplex and open the zks stream.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a libp2p connection with no open stream is kept before it closes.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Grace period for flushing a close message and draining the stream when a link ends.
pub const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Configuration of a [`Libp2pTransport`](crate::Libp2pTransport).
///
/// Built with [`Libp2pConfig::builder`]; every setting has a documented default.
#[derive(Clone, Debug)]
pub struct Libp2pConfig {
    pub(crate) keypair: Keypair,
    pub(crate) listen_addr: Multiaddr,
    pub(crate) link_capacity: usize,
    pub(crate) max_message_size: usize,
    pub(crate) max_connections: usize,
    pub(crate) trusted_peers: HashSet<PeerId>,
    pub(crate) handshake_timeout: Duration,
    pub(crate) idle_timeout: Duration,
}

impl Libp2pConfig {
    /// A builder for a node with this identity (see [`crate::key`] for loading one from a file).
    pub fn builder(keypair: Keypair) -> Libp2pConfigBuilder {
        Libp2pConfigBuilder {
            config: Self {
                keypair,
                listen_addr: default_listen_addr(),
                link_capacity: DEFAULT_LINK_CAPACITY,
                max_message_size: MAX_MESSAGE_BYTES,
                max_connections: DEFAULT_MAX_CONNECTIONS,
                trusted_peers: HashSet::new(),
                handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
                idle_timeout: DEFAULT_IDLE_TIMEOUT,
            },
        }
    }

    /// The node's identity.
    pub fn keypair(&self) -> &Keypair {
        &self.keypair
    }

    /// Our libp2p peer id.
    pub fn peer_id(&self) -> PeerId {
        self.keypair.public().to_peer_id()
    }

    /// Where [`listen`](zks_api::transport::Transport::listen) binds.
    pub fn listen_addr(&self) -> &Multiaddr {
        &self.listen_addr
    }

    /// Per-direction queue capacity of each link.
    pub fn link_capacity(&self) -> usize {
        self.link_capacity
    }

    /// Largest zks message body accepted or sent.
    pub fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// Cap on live links and on inbound connections.
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// Peers exempt from the caps.
    pub fn trusted_peers(&self) -> &HashSet<PeerId> {
        &self.trusted_peers
    }

    /// Deadline for connecting and opening the zks stream.
    pub fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }

    /// How long a connection without streams is kept.
    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }
}

fn default_listen_addr() -> Multiaddr {
    Multiaddr::empty()
        .with(libp2p::multiaddr::Protocol::Ip4(
            std::net::Ipv4Addr::UNSPECIFIED,
        ))
        .with(libp2p::multiaddr::Protocol::Tcp(30304))
}

/// Builds a [`Libp2pConfig`]; by-value setters, validated by [`build`](Self::build).
#[derive(Clone, Debug)]
#[must_use = "call build() to get the config"]
pub struct Libp2pConfigBuilder {
    config: Libp2pConfig,
}

impl Libp2pConfigBuilder {
    /// Listen address. Default: `/ip4/0.0.0.0/tcp/30304` ([`DEFAULT_LISTEN_ADDR`]); use
    /// `/tcp/0` for any free port.
    pub fn listen_addr(mut self, addr: Multiaddr) -> Self {
        self.config.listen_addr = addr;
        self
    }

    /// Per-direction queue capacity of each link, in messages. Default: 16.
    pub fn link_capacity(mut self, capacity: usize) -> Self {
        self.config.link_capacity = capacity;
        self
    }

    /// Largest zks message body accepted or sent. Default and maximum: 16 MiB
    /// ([`MAX_MESSAGE_BYTES`], the same cap as every transport).
    pub fn max_message_size(mut self, max: usize) -> Self {
        self.config.max_message_size = max;
        self
    }

    /// Cap on inbound libp2p connections, pending and established (excess ones are closed at
    /// once, logged); trusted peers are exempt. This is a raw socket cap: which links are served
    /// is the node's active-link cap (`zks_api::NodeSettings::max_active_links`), which refuses
    /// the rest with `TooManyPeers`. Default: 520.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.config.max_connections = max;
        self
    }

    /// Adds a peer exempt from the connection cap. Default: none.
    pub fn trusted_peer(mut self, peer: PeerId) -> Self {
        self.config.trusted_peers.insert(peer);
        self
    }

    /// Adds peers exempt from the connection cap.
    pub fn trusted_peers(mut self, peers: impl IntoIterator<Item = PeerId>) -> Self {
        self.config.trusted_peers.extend(peers);
        self
    }

    /// Deadline for connecting, the noise and yamux upgrades and opening the zks stream.
    /// Default: 10 s.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.config.handshake_timeout = timeout;
        self
    }

    /// How long a connection with no open stream is kept before it closes. Default: 30 s.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.config.idle_timeout = timeout;
        self
    }

    /// Validates and returns the config.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for a zero capacity or timeout, a message cap of 0 or above
    /// 16 MiB, or a listen address that is not `/ip4|ip6/<ip>/tcp/<port>`.
    pub fn build(self) -> Result<Libp2pConfig, Error> {
        let c = &self.config;
        let invalid = |reason| Err(Error::InvalidConfig { reason });
        if c.link_capacity == 0 || c.max_connections == 0 {
            return invalid("capacities must be at least 1");
        }
        if c.handshake_timeout.is_zero() || c.idle_timeout.is_zero() {
            return invalid("timeouts must be non-zero");
        }
        if !(1..=MAX_MESSAGE_BYTES).contains(&c.max_message_size) {
            return invalid("max_message_size must be within 1..=16 MiB");
        }
        if crate::addr::socket_addr(&c.listen_addr).is_none() {
            return invalid("listen_addr must be /ip4/<ip>/tcp/<port> or /ip6/<ip>/tcp/<port>");
        }
        Ok(self.config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let key = Keypair::generate_ed25519();
        let c = Libp2pConfig::builder(key.clone()).build().unwrap();
        assert_eq!(c.max_message_size(), MAX_MESSAGE_BYTES);
        assert_eq!(c.listen_addr().to_string(), DEFAULT_LISTEN_ADDR);
        assert_eq!(c.link_capacity(), DEFAULT_LINK_CAPACITY);
        assert!(matches!(
            Libp2pConfig::builder(key.clone()).link_capacity(0).build(),
            Err(Error::InvalidConfig { .. })
        ));
        assert!(matches!(
            Libp2pConfig::builder(key.clone())
                .max_message_size(MAX_MESSAGE_BYTES + 1)
                .build(),
            Err(Error::InvalidConfig { .. })
        ));
        let udp: Multiaddr = "/ip4/127.0.0.1/udp/1".parse().unwrap();
        assert!(matches!(
            Libp2pConfig::builder(key).listen_addr(udp).build(),
            Err(Error::InvalidConfig { .. })
        ));
    }
}
