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
use zks_api::engine::{EventStream, ProtocolEvent};
use zks_api::wire::VersionSet;
use zks_api::{
    BlockNumber, MemoryReplayStore, Node, PeerAddr, RawRecord, ReplaySink, ReplaySource, Transport,
};
use zks_memnet::MemNet;

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

/// Blocks `from..to`, for comparing with a sink's contents.
pub fn blocks(from: BlockNumber, to: BlockNumber) -> Vec<BlockNumber> {
    (from..to).collect()
}
