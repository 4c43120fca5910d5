//! zks-reth's tests, one binary (each test binary links all of reth): the chain spec against
//! upstream's facts and zks-devp2p's Status, the transport conformance kit over two reth
//! networks, and interop between reth nodes running zks-reth and zks-devp2p nodes (library and
//! the `zks` binary), each role, eth/68 and eth/69, v3 records byte for byte. Loopback only.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub,
    reason = "tests fail loudly"
)]

#[path = "../../../zks-devp2p/tests/common/v3_chain.rs"]
mod v3_chain;

// The main workspace's scenarios name their helpers `zks_tests::...`: here, `scenarios`.
extern crate self as zks_tests;

mod binary;
mod chain;
mod conformance;
mod interop;
pub mod scenarios;

pub use scenarios::{
    TestNet, append, blocks, chain, external_node, main_node, next_matching, within,
};

use std::time::Duration;

use reth_network::config::rng_secret_key;
use reth_network_api::PeersInfo;
use zks_api::PeerAddr;
use zks_api::wire::Capabilities;
use zks_reth::{RethTransportConfig, ZksyncOsNetwork, start_zksync_os_network};

/// The chain of every node here.
pub const CHAIN_ID: u64 = 270;

/// An upper bound for what a test waits for (never a schedule).
pub const LIMIT: Duration = Duration::from_secs(60);

/// A reth network of chain 270 on loopback offering `caps`.
pub async fn reth_net(caps: Capabilities) -> ZksyncOsNetwork {
    start_zksync_os_network(
        rng_secret_key(),
        CHAIN_ID,
        "127.0.0.1:0".parse().unwrap(),
        RethTransportConfig::default()
            .with_caps(caps)
            .with_dial_timeout(Duration::from_secs(20)),
    )
    .await
    .unwrap()
}

/// The network's enode.
pub fn enode(net: &ZksyncOsNetwork) -> PeerAddr {
    PeerAddr::new(net.handle.local_node_record().to_string())
}
