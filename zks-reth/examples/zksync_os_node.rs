//! A reth `NetworkManager` for a ZKsync OS chain running zks as main node, external node or
//! relay, on the node's one RLPx port (eth by reth, zks/5 + `zks_2fa/1` by our engine).
//!
//! ```text
//! cargo run --example zksync_os_node -- main-node 127.0.0.1:30303 [blocks]
//! cargo run --example zksync_os_node -- external-node 127.0.0.1:0 <main node enode>
//! cargo run --example zksync_os_node -- relay 127.0.0.1:0 <main node enode>
//! ```
//!
//! Chain 270. The main node serves `blocks` (default 100) synthetic v3 records from memory; a
//! real node team puts its own storage behind `zks_api::ReplaySource` / `ReplaySink`. Prints
//! its enode, then every protocol event.
#![allow(clippy::print_stdout, reason = "an example")]

use std::net::SocketAddr;
use std::sync::Arc;

use reth_network::config::rng_secret_key;
use reth_network_api::PeersInfo;
use zks_api::wire::Capabilities;
use zks_api::{MemoryReplayStore, Node, PeerAddr};
use zks_reth::{RethTransportConfig, start_zksync_os_network};
use zks_wire::zksync_os::V3Record;

const CHAIN_ID: u64 = 270;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(role), Some(listen)) = (args.first(), args.get(1)) else {
        return Err("usage: zksync_os_node main-node|external-node|relay <listen addr> [blocks | <main node enode>]".into());
    };
    let listen: SocketAddr = listen.parse()?;
    let net = start_zksync_os_network(
        rng_secret_key(),
        CHAIN_ID,
        listen,
        RethTransportConfig::default(),
    )
    .await?;
    println!("enode: {}", net.handle.local_node_record());

    let store = Arc::new(MemoryReplayStore::<V3Record>::with_first_block(1));
    let builder = Node::builder(net.transport.clone()).capabilities(Capabilities::CURRENT);
    let mut builder = match role.as_str() {
        "main-node" => {
            let blocks: u64 = args.get(2).map_or(Ok(100), |b| b.parse())?;
            let mut record = V3Record::synthetic(1, 1, 64);
            for _ in 0..blocks {
                let next = record.synthetic_child();
                store.push(std::mem::replace(&mut record, next))?;
            }
            builder.main_node(Arc::clone(&store))
        }
        "external-node" | "relay" => {
            let mn = PeerAddr::new(args.get(2).ok_or("the main node's enode")?);
            let builder = if role == "relay" {
                builder.relay(Arc::clone(&store))
            } else {
                builder.external_node(Arc::clone(&store))
            };
            builder.trusted_main_node(mn)
        }
        other => return Err(format!("unknown role {other}").into()),
    };
    let mut events = builder.subscribe();
    let node = builder.start().await?;
    println!(
        "{role} of chain {CHAIN_ID}, listening: {:?}",
        node.local_addr()
    );
    while let Some(event) = events.next().await {
        println!("{event:?}");
    }
    node.shutdown().await;
    Ok(())
}
