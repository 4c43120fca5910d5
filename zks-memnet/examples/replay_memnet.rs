//! Streams blocks from a main node to two external nodes over memnet and prints progress.
//!
//! ```text
//! cargo run --release -p zks-memnet --example replay_memnet
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use zks_api::ProtocolEvent;
use zks_api::wire::{VersionSet, ZksVersion};
use zks_api::{MemoryReplayStore, Node, RawRecord, ReplaySource as _};
use zks_memnet::MemNet;

const INITIAL_BLOCKS: u64 = 50_000;
const LIVE_BLOCKS: u64 = 10_000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let net = MemNet::new();

    let chain = Arc::new(MemoryReplayStore::new());
    chain.extend((0..INITIAL_BLOCKS).map(block))?;
    let mn = Node::builder(net.node("mn"))
        .main_node(chain.clone())
        .start()
        .await?;
    let mut mn_events = mn.events();

    // One EN on the newest version (batched replay), one that only speaks zks/2.
    let mut ens = Vec::new();
    for (name, versions) in [
        ("en-new", VersionSet::ALL),
        ("en-old", ZksVersion::V2.into()),
    ] {
        let sink = Arc::new(MemoryReplayStore::new());
        let node = Node::builder(net.node(name))
            .versions(versions)
            .external_node(sink.clone())
            .trusted_main_node("mn")
            .start()
            .await?;
        ens.push((name, node, sink));
    }
    tokio::spawn(async move {
        while let Some(event) = mn_events.next().await {
            if let ProtocolEvent::Established { info, .. } = event {
                println!("mn: link to {} up, negotiated {}", info.peer, info.caps);
            }
        }
    });

    let start = Instant::now();
    let producer = {
        let chain = chain.clone();
        tokio::spawn(async move {
            for b in INITIAL_BLOCKS..INITIAL_BLOCKS + LIVE_BLOCKS {
                chain.push(block(b))?;
                if b % 100 == 0 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            Ok::<_, zks_api::SinkError>(())
        })
    };
    let head = INITIAL_BLOCKS + LIVE_BLOCKS;
    let mut ticker = tokio::time::interval(Duration::from_millis(250));
    loop {
        ticker.tick().await;
        let line: Vec<String> = ens
            .iter()
            .map(|(name, _, sink)| format!("{name} {:>6}/{head}", sink.next_block()))
            .collect();
        println!(
            "[{:>6.2}s] mn head {:>6} | {}",
            start.elapsed().as_secs_f64(),
            chain.next_block(),
            line.join(" | ")
        );
        if ens.iter().all(|(_, _, sink)| sink.next_block() == head) {
            break;
        }
    }
    producer.await??;
    let elapsed = start.elapsed();
    for (name, node, sink) in ens {
        assert_eq!(sink.records(), chain.records(), "{name} diverged");
        node.shutdown().await;
    }
    println!(
        "done: {head} blocks replayed to 2 external nodes in {:.2}s ({:.0} blocks/s per node), every record identical",
        elapsed.as_secs_f64(),
        head as f64 / elapsed.as_secs_f64()
    );
    mn.shutdown().await;
    Ok(())
}

fn block(b: u64) -> RawRecord {
    RawRecord::new(b, format!("replay record of block {b}").into_bytes())
}
