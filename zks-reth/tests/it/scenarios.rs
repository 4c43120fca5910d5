//! The main workspace's transport-agnostic scenarios (`tests/it/all_transports/{api,replay,verify}.rs`,
//! written against `TestNet`), included unchanged and run over
//! reth: every node is its own reth network of chain 270 on 127.0.0.1 with zks/1–5 and `zks_2fa/1`
//! registered. The `zks_tests` helpers they name are the few below (the main workspace's
//! `zks-tests` crate would bring libp2p into this build).
//!
//! Scenarios that cannot hold over reth run as a test that says why and returns
//! ([`KNOWN_DIFFERENCES`]).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use zks_api::transport::Transport;
use zks_api::wire::{Capabilities, VersionSet};
use zks_api::{
    BlockNumber, EventStream, MemoryReplayStore, Node, PeerAddr, ProtocolEvent, RawRecord,
    ReplaySink, ReplaySource,
};
use zks_reth::ZksyncOsNetwork;

#[path = "../../../tests/it/all_transports/api.rs"]
mod api;
#[path = "../../../tests/it/all_transports/replay.rs"]
mod replay;
#[path = "../../../tests/it/all_transports/verify.rs"]
mod verify_net;

/// Scenarios whose premise reth does not share, with the reason.
pub const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    (
        "negotiates_versions",
        "reth shows a subprotocol handler only the capabilities both sides share, so a \
         NoCommonVersion cannot name the versions the peer offered (its `remote` is empty), and \
         a session refused at the Hello never reaches the listener as an error",
    ),
    (
        "refuses_strangers_beyond_the_cap",
        "a main node that refuses a link right after the eth Status (TooManyPeers) has its \
         Disconnect read by reth's satellite handshake loop on the dialing side, which drops an \
         Err from the connection while the Status exchange finishes (reth-eth-wire \
         multiplex.rs `Some(Ok(msg)) = self.inner.conn.next()`): the dialer's link ends \
         Dropped, not ByPeer(TooManyPeers); the main node's side holds",
    ),
];

/// A network the scenarios run on (the main workspace's `zks_tests::TestNet`).
#[async_trait]
pub trait TestNet: Send + Sync {
    /// The transport of a new node called `name`.
    async fn transport(&self, name: &str) -> Arc<dyn Transport>;
    /// The address other nodes dial to reach `name`.
    fn addr(&self, name: &str) -> PeerAddr;
}

/// One reth network per node name.
#[derive(Debug, Default)]
pub struct RethNet {
    nets: Mutex<HashMap<String, ZksyncOsNetwork>>,
}

#[async_trait]
impl TestNet for RethNet {
    async fn transport(&self, name: &str) -> Arc<dyn Transport> {
        let net = crate::reth_net(Capabilities::ALL).await;
        let transport = Arc::new(net.transport.clone());
        self.nets.lock().unwrap().insert(name.to_owned(), net);
        transport
    }

    fn addr(&self, name: &str) -> PeerAddr {
        self.nets
            .lock()
            .unwrap()
            .get(name)
            .map_or_else(|| PeerAddr::new("enode://unknown"), crate::enode)
    }
}

/// The record of block `b` in every test chain.
pub fn record(b: BlockNumber) -> RawRecord {
    RawRecord::new(b, format!("block-{b}"))
}

/// A main-node store holding blocks `0..n`.
pub fn chain(n: BlockNumber) -> Arc<MemoryReplayStore> {
    let store = Arc::new(MemoryReplayStore::new());
    store.extend((0..n).map(record)).unwrap();
    store
}

/// Appends blocks `from..to` to a store.
pub fn append(store: &MemoryReplayStore, from: BlockNumber, to: BlockNumber) {
    store.extend((from..to).map(record)).unwrap();
}

/// Blocks `from..to`.
pub fn blocks(from: BlockNumber, to: BlockNumber) -> Vec<BlockNumber> {
    (from..to).collect()
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
        .unwrap()
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
        .unwrap()
}

/// Runs `f` with a deadline, so a stuck scenario fails instead of hanging.
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

/// The main workspace's `on_every_transport!`, here for reth only: one test per scenario.
#[macro_export]
macro_rules! on_every_transport {
    ($($scenario:ident),* $(,)?) => {
        mod reth {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let name = stringify!($scenario);
                    if let Some((_, why)) = $crate::scenarios::KNOWN_DIFFERENCES
                        .iter()
                        .find(|(n, _)| *n == name)
                    {
                        eprintln!("NOT RUN over reth: {name}: {why}");
                        return;
                    }
                    super::$scenario(&$crate::scenarios::RethNet::default()).await;
                }
            )*
        }
    };
}
