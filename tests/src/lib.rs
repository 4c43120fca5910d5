//! Shared helpers for the workspace integration tests: fixtures, node constructors, and the
//! [`TestNet`] seam that lets one scenario run over every transport.
#![allow(
    clippy::expect_used,
    reason = "test fixtures fail loudly on broken setups"
)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use zks_api::transport::Transport;
use zks_api::wire::VersionSet;
use zks_api::{
    BlockNumber, MemoryReplayStore, Node, PeerAddr, RawRecord, ReplaySink, ReplaySource,
};
use zks_api::{EventStream, ProtocolEvent};
use zks_memnet::MemNet;

pub mod logs;

pub mod libp2p;
pub use libp2p::Libp2pNet;

/// A network the scenarios run on.
#[async_trait]
pub trait TestNet: Send + Sync {
    /// The transport of a new node called `name`.
    async fn transport(&self, name: &str) -> Arc<dyn Transport>;
    /// The address other nodes dial to reach `name`.
    fn addr(&self, name: &str) -> PeerAddr;
}

#[async_trait]
impl TestNet for MemNet {
    async fn transport(&self, name: &str) -> Arc<dyn Transport> {
        Arc::new(self.node(name))
    }
    fn addr(&self, name: &str) -> PeerAddr {
        PeerAddr::new(name)
    }
}

/// devp2p on 127.0.0.1: every node gets a fresh key and a free port; addresses are enode URLs.
#[derive(Debug, Default)]
pub struct Devp2pNet {
    enodes: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

#[async_trait]
impl TestNet for Devp2pNet {
    async fn transport(&self, name: &str) -> Arc<dyn Transport> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let key = zks_devp2p::NodeKey::generate();
        let config = zks_devp2p::Devp2pConfig::builder(key)
            .listen_addr(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
            .client_id(format!("zks-tests/{name}"))
            // Every devp2p scenario runs with eth on, as between ZKsync OS nodes of one chain.
            .chain_identity(zks_devp2p::eth::ChainIdentity::zksync_os(270))
            .build()
            .expect("valid devp2p config");
        let transport = zks_devp2p::Devp2pTransport::new(config);
        let enode = format!("enode://{}@127.0.0.1:{port}", transport.node_id());
        self.enodes
            .lock()
            .expect("not poisoned")
            .insert(name.to_owned(), enode);
        Arc::new(transport)
    }

    fn addr(&self, name: &str) -> PeerAddr {
        let enodes = self.enodes.lock().expect("not poisoned");
        PeerAddr::new(enodes.get(name).map_or("enode://unknown", String::as_str))
    }
}

/// The record of block `b` in every test chain.
pub fn record(b: BlockNumber) -> RawRecord {
    RawRecord::new(b, format!("block-{b}"))
}

/// A main-node store holding blocks `0..n`.
pub fn chain(n: BlockNumber) -> Arc<MemoryReplayStore> {
    let store = Arc::new(MemoryReplayStore::new());
    store.extend((0..n).map(record)).expect("contiguous");
    store
}

/// Appends blocks `from..to` to a store.
pub fn append(store: &MemoryReplayStore, from: BlockNumber, to: BlockNumber) {
    store.extend((from..to).map(record)).expect("contiguous");
}

/// Starts a main node called `name` on `net`.
pub async fn main_node(
    net: &dyn TestNet,
    name: &str,
    versions: impl Into<VersionSet>,
    source: impl ReplaySource,
) -> Node {
    Node::builder(net.transport(name).await)
        .versions(versions)
        .main_node(source)
        .start()
        .await
        .expect("main node starts")
}

/// Starts an external node called `name` on `net`, trusting main node `mn`.
pub async fn external_node(
    net: &dyn TestNet,
    name: &str,
    versions: impl Into<VersionSet>,
    sink: impl ReplaySink,
    mn: &str,
) -> Node {
    Node::builder(net.transport(name).await)
        .versions(versions)
        .external_node(sink)
        .trusted_main_node(net.addr(mn))
        .rng_seed(7)
        .start()
        .await
        .expect("external node starts")
}

/// Runs `f` with a deadline (virtual under paused time), so a stuck scenario fails instead of
/// hanging.
pub async fn within<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(600), f).await {
        Ok(out) => out,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// The next event `f` picks out.
pub async fn next_matching<T>(
    events: &mut EventStream,
    what: &str,
    f: impl FnMut(&ProtocolEvent) -> Option<T>,
) -> T {
    within(what, events.find(f))
        .await
        .unwrap_or_else(|| panic!("event stream ended before {what}"))
}

/// Why the next link to close ended; with `peer`, only a link to that peer (by its printed id).
pub async fn next_close(events: &mut EventStream, peer: Option<&str>) -> zks_api::CloseCause {
    next_matching(events, "a link to close", |e| match e {
        ProtocolEvent::Closed { peer: p, cause, .. }
            if peer.is_none_or(|name| p.to_string() == name) =>
        {
            Some(cause.clone())
        }
        _ => None,
    })
    .await
}

/// Blocks `from..to`, for comparing with a sink's contents.
pub fn blocks(from: BlockNumber, to: BlockNumber) -> Vec<BlockNumber> {
    (from..to).collect()
}

/// Runs each named scenario (an `async fn(&dyn TestNet)` in the calling module) as one test
/// per transport: memnet under paused time, devp2p and libp2p on 127.0.0.1.
#[macro_export]
macro_rules! on_every_transport {
    ($($scenario:ident),* $(,)?) => {
        mod memnet {
            $(
                #[tokio::test(start_paused = true)]
                async fn $scenario() {
                    super::$scenario(&zks_memnet::MemNet::new()).await;
                }
            )*
        }
        mod devp2p {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(&$crate::Devp2pNet::default()).await;
                }
            )*
        }
        mod libp2p {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(&$crate::Libp2pNet::default()).await;
                }
            )*
        }
    };
}
