//! Small shared types: block numbers, peer identities and addresses, link directions.

use std::fmt;
use std::sync::Arc;

/// A transport-neutral peer identity.
///
/// For devp2p it is the 64-byte secp256k1 node id, for libp2p the peer id bytes, for memnet the
/// node's name. It is printable (UTF-8 names as is, anything else as abbreviated hex) and cheap
/// to clone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(Arc<[u8]>);

impl PeerId {
    /// A peer id from its raw bytes.
    pub fn new(bytes: impl AsRef<[u8]>) -> Self {
        Self(Arc::from(bytes.as_ref()))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<&str> for PeerId {
    fn from(name: &str) -> Self {
        Self::new(name)
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(&self.0) {
            Ok(s) if !s.is_empty() && s.chars().all(|c| c.is_ascii_graphic()) => f.write_str(s),
            _ if self.0.len() > 8 => {
                for b in &self.0[..4] {
                    write!(f, "{b:02x}")?;
                }
                f.write_str("…")?;
                for b in &self.0[self.0.len() - 4..] {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
            _ => self.0.iter().try_for_each(|b| write!(f, "{b:02x}")),
        }
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({self})")
    }
}

/// Where to reach a peer, in the transport's own syntax: a memnet name, an `enode://` URL, a
/// libp2p multiaddr. The transport parses it; the engine treats it as opaque.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerAddr(Arc<str>);

impl PeerAddr {
    /// An address from its text.
    pub fn new(addr: impl AsRef<str>) -> Self {
        Self(Arc::from(addr.as_ref()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for PeerAddr {
    fn from(addr: &str) -> Self {
        Self::new(addr)
    }
}

impl From<String> for PeerAddr {
    fn from(addr: String) -> Self {
        Self(Arc::from(addr))
    }
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerAddr({})", self.0)
    }
}

/// Which side opened a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// We dialed the peer.
    Outbound,
    /// The peer dialed us.
    Inbound,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Outbound => "outbound",
            Self::Inbound => "inbound",
        })
    }
}

/// Identifies one link of one node, unique for the node's lifetime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn-{}", self.0)
    }
}

/// What a node does on every zks link. Chosen locally; the wire carries no role negotiation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Serves replay from a [`ReplaySource`](crate::ReplaySource).
    MainNode,
    /// Replays from trusted main nodes into a [`ReplaySink`](crate::ReplaySink).
    ExternalNode,
    /// Both, over one store: an external node toward its trusted upstreams (links it dials)
    /// and a main node toward its downstream external nodes (links it accepts).
    Relay,
}
