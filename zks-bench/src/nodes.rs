//! Starting main and external nodes on a [`Net`] with benchmark settings.

use std::future::Future;
use std::sync::Arc;

use zks_api::middleware::rate_limit::RateLimits;
use zks_api::{MemoryReplayStore, Node, NodeSettings};

use crate::BenchError;
use crate::nets::Net;
use crate::sink::BenchSink;

/// Node settings for every benchmark node: room for 100+ links, and per-link rate limits
/// lifted far above anything a loopback link can carry (the defaults are a production guard
/// against floods, not part of what is measured).
pub(crate) fn settings() -> NodeSettings {
    NodeSettings::default()
        .with_max_active_links(100_000)
        .with_rate_limits(RateLimits {
            control_per_sec: 1e9,
            control_burst: 1e9,
            messages_per_sec: 1e12,
            messages_burst: 1e12,
            bytes_per_sec: 1e15,
            bytes_burst: 1e15,
            results_per_sec: 1e9,
            results_burst: 1e9,
        })
}

/// [`settings`] with a small event buffer: nothing reads an EN's events here, and the default
/// 1,024-slot broadcast buffer (allocated up front, ~95 KiB) would dominate the per-link memory
/// reading.
pub(crate) fn en_settings() -> NodeSettings {
    settings().with_event_capacity(EN_EVENT_CAPACITY)
}

/// Event slots of a benchmark EN.
pub(crate) const EN_EVENT_CAPACITY: usize = 64;

/// A main node `name` serving `source`.
pub(crate) async fn main_node(
    net: &Net,
    name: &str,
    source: Arc<MemoryReplayStore>,
) -> Result<Node, BenchError> {
    Node::builder(net.transport(name)?)
        .settings(settings())
        .main_node(source)
        .start()
        .await
        .map_err(BenchError::node("main node"))
}

/// An external node `name` replaying from main node `mn` into `sink`.
pub(crate) async fn external_node(
    net: &Net,
    name: &str,
    mn: &str,
    sink: Arc<BenchSink>,
) -> Result<Node, BenchError> {
    external_node_with(net, name, mn, sink, en_settings()).await
}

/// [`external_node`] with `settings` (say, another number of records per message).
pub(crate) async fn external_node_with(
    net: &Net,
    name: &str,
    mn: &str,
    sink: Arc<BenchSink>,
    settings: NodeSettings,
) -> Result<Node, BenchError> {
    Node::builder(net.transport(name)?)
        .settings(settings)
        .external_node(sink)
        .trusted_main_node(net.addr(mn)?)
        .rng_seed(7)
        .start()
        .await
        .map_err(BenchError::node("external node"))
}

/// Shuts nodes down, giving up after a few seconds (a stuck close must not hang the run).
pub(crate) async fn shutdown(nodes: impl IntoIterator<Item = Node>) {
    let all = futures_join(nodes.into_iter().map(Node::shutdown).collect());
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), all).await;
}

async fn futures_join(futures: Vec<impl Future<Output = ()> + Send + 'static>) {
    let mut set = tokio::task::JoinSet::new();
    for f in futures {
        set.spawn(f);
    }
    while set.join_next().await.is_some() {}
}
