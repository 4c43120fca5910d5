//! The transports under test, behind one constructor: memnet, devp2p and libp2p on 127.0.0.1.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use zks_api::PeerAddr;
use zks_api::transport::Transport;
use zks_memnet::MemNet;

use crate::BenchError;

/// Which transport a row measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// Length-prefixed frames on a plain tokio TCP socket (no crypto, no engine).
    RawTcp,
    /// zks-memnet, in process.
    Memnet,
    /// zks-devp2p (RLPx) on 127.0.0.1.
    Devp2p,
    /// zks-libp2p (TCP + noise + yamux) on 127.0.0.1.
    Libp2p,
}

impl TransportKind {
    /// The name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::RawTcp => "raw-tcp",
            Self::Memnet => "memnet",
            Self::Devp2p => "devp2p",
            Self::Libp2p => "libp2p",
        }
    }
}

/// A network of named nodes on one transport.
pub(crate) enum Net {
    Mem(MemNet),
    Devp2p(Mutex<HashMap<String, zks_devp2p::Devp2pTransport>>),
    Libp2p(Mutex<HashMap<String, zks_libp2p::Libp2pTransport>>),
}

impl Net {
    pub(crate) fn new(kind: TransportKind) -> Option<Self> {
        match kind {
            TransportKind::Memnet => Some(Self::Mem(MemNet::new())),
            TransportKind::Devp2p => Some(Self::Devp2p(Mutex::default())),
            TransportKind::Libp2p => Some(Self::Libp2p(Mutex::default())),
            TransportKind::RawTcp => None,
        }
    }

    /// A fresh transport for node `name`, listening on 127.0.0.1 port 0 once a node starts.
    pub(crate) fn transport(&self, name: &str) -> Result<Arc<dyn Transport>, BenchError> {
        match self {
            Self::Mem(net) => Ok(Arc::new(net.node(name))),
            Self::Devp2p(nodes) => {
                let config = zks_devp2p::Devp2pConfig::builder(zks_devp2p::NodeKey::generate())
                    .listen_addr(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
                    .client_id(format!("zks-bench/{name}"))
                    .max_connections(100_000)
                    // Every bench node dials from 127.0.0.1, 100 at once in the fan-out and
                    // the handshake runs: the per-address flood cap does not apply here.
                    .max_pending(100_000)
                    .max_pending_per_ip(100_000)
                    .build()
                    .map_err(|e| BenchError::transport("devp2p config", e))?;
                let transport = zks_devp2p::Devp2pTransport::new(config);
                if let Ok(mut nodes) = nodes.lock() {
                    nodes.insert(name.to_owned(), transport.clone());
                }
                Ok(Arc::new(transport))
            }
            Self::Libp2p(nodes) => {
                let listen = "/ip4/127.0.0.1/tcp/0"
                    .parse()
                    .map_err(|e| BenchError::transport("libp2p address", e))?;
                let config = zks_libp2p::Libp2pConfig::builder(zks_libp2p::key::generate_ed25519())
                    .listen_addr(listen)
                    .max_connections(100_000)
                    .build()
                    .map_err(|e| BenchError::transport("libp2p config", e))?;
                let transport = zks_libp2p::Libp2pTransport::new(config)
                    .map_err(|e| BenchError::transport("libp2p transport", e))?;
                if let Ok(mut nodes) = nodes.lock() {
                    nodes.insert(name.to_owned(), transport.clone());
                }
                Ok(Arc::new(transport))
            }
        }
    }

    /// The address to dial `name` at; valid once its node started (it listens then).
    pub(crate) fn addr(&self, name: &str) -> Result<PeerAddr, BenchError> {
        let missing = || BenchError::transport("address", format!("{name} is not listening"));
        match self {
            Self::Mem(_) => Ok(PeerAddr::new(name)),
            Self::Devp2p(nodes) => {
                let nodes = nodes.lock().map_err(|_| missing())?;
                let enode = nodes
                    .get(name)
                    .and_then(zks_devp2p::Devp2pTransport::local_enode)
                    .ok_or_else(missing)?;
                Ok(PeerAddr::new(enode.to_string()))
            }
            Self::Libp2p(nodes) => {
                let nodes = nodes.lock().map_err(|_| missing())?;
                let addr = nodes
                    .get(name)
                    .and_then(zks_libp2p::Libp2pTransport::local_multiaddr)
                    .ok_or_else(missing)?;
                Ok(PeerAddr::new(addr.to_string()))
            }
        }
    }
}
