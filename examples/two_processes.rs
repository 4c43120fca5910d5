//! A main node and an external node in two processes, linked over devp2p (RLPx on TCP).
//!
//! Start the main node; it prints its `enode://` URL, then produces `--blocks` blocks at
//! `--rate` per second and keeps serving until Ctrl-C:
//!
//! ```text
//! cargo run -p zks-examples --bin two_processes -- main-node --port 30303 --blocks 100000
//! ```
//!
//! In a second terminal, start an external node with that URL. It replays from block 0,
//! prints its progress, and with `--exit-at N` exits once it holds blocks `0..N`:
//!
//! ```text
//! cargo run -p zks-examples --bin two_processes -- external-node --main-node 'enode://…@127.0.0.1:30303'
//! ```
//!
//! Both keep their chain in memory (`MemoryReplayStore`, from `zks-api`'s `test-utils`
//! feature); `custom_store.rs` shows a store of your own. Every block's payload is a function
//! of its number, so the external node can check each record it holds.
//!
//! Dependencies: `zks-api` (feature `test-utils` for `MemoryReplayStore`), `zks-devp2p`,
//! `tokio`, `anyhow`, `clap`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use zks_api::{BlockNumber, MemoryReplayStore, Node, ProtocolEvent, RawRecord, ReplaySink as _};
use zks_devp2p::{Devp2pConfig, Devp2pTransport, NodeKey};

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(about = "A zks main node or external node over devp2p")]
struct Args {
    #[command(subcommand)]
    role: Role,
}

#[derive(Debug, Subcommand)]
enum Role {
    /// Produce blocks and serve them to every external node that asks.
    MainNode {
        /// TCP port to listen on (0: any free port).
        #[arg(long, default_value_t = 30303)]
        port: u16,
        /// Address to listen on.
        #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
        addr: IpAddr,
        /// Blocks to produce.
        #[arg(long, default_value_t = 100_000)]
        blocks: u64,
        /// Blocks produced per second.
        #[arg(long, default_value_t = 1_000)]
        rate: u32,
    },
    /// Replay from a main node and print the progress.
    ExternalNode {
        /// The main node's `enode://` URL (repeat for fail-over, in order).
        #[arg(long, required = true)]
        main_node: Vec<String>,
        /// TCP port to listen on (0: any free port).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Exit once blocks `0..N` are applied.
        #[arg(long)]
        exit_at: Option<BlockNumber>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Args::parse().role {
        Role::MainNode {
            port,
            addr,
            blocks,
            rate,
        } => main_node(SocketAddr::new(addr, port), blocks, rate).await,
        Role::ExternalNode {
            main_node,
            port,
            exit_at,
        } => external_node(&main_node, port, exit_at).await,
    }
}

/// The record of block `number`: the same in both processes.
fn block(number: BlockNumber) -> RawRecord {
    RawRecord::new(number, format!("block {number}").into_bytes())
}

fn transport(listen: SocketAddr) -> anyhow::Result<Devp2pTransport> {
    let config = Devp2pConfig::builder(NodeKey::generate())
        .listen_addr(listen)
        .build()
        .context("invalid devp2p configuration")?;
    Ok(Devp2pTransport::new(config))
}

async fn main_node(listen: SocketAddr, blocks: u64, rate: u32) -> anyhow::Result<()> {
    if rate == 0 {
        bail!("--rate must be at least 1 block per second");
    }
    let chain = Arc::new(MemoryReplayStore::new());
    let mut builder = Node::builder(transport(listen)?).main_node(Arc::clone(&chain));
    let mut events = builder.subscribe();
    let node = builder
        .start()
        .await
        .with_context(|| format!("cannot start a main node on {listen}"))?;
    let enode = node
        .local_addr()
        .context("the main node is not listening")?;
    println!("enode: {enode}");

    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            match event {
                ProtocolEvent::ReplayRequested {
                    peer,
                    starting_block,
                    ..
                } => println!("main node: {peer} asks for blocks from {starting_block} on"),
                ProtocolEvent::Closed { peer, cause, .. } => {
                    println!("main node: link to {peer} closed: {cause}");
                }
                _ => {}
            }
        }
    });

    let producer = async {
        // Production is paced by a clock; replay is not: every block is pushed to the
        // external nodes as soon as it is stored.
        let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
        for number in 0..blocks {
            tick.tick().await;
            chain.push(block(number))?;
        }
        println!("main node: head {blocks}; serving until Ctrl-C");
        std::future::pending::<()>().await;
        anyhow::Ok(())
    };
    tokio::select! {
        done = producer => done?,
        stop = tokio::signal::ctrl_c() => stop.context("cannot listen for Ctrl-C")?,
    }
    node.shutdown().await;
    Ok(())
}

async fn external_node(
    main_nodes: &[String],
    port: u16,
    exit_at: Option<BlockNumber>,
) -> anyhow::Result<()> {
    let sink = Arc::new(MemoryReplayStore::new());
    let mut builder = Node::builder(transport(SocketAddr::new(
        Ipv4Addr::UNSPECIFIED.into(),
        port,
    ))?)
    .external_node(Arc::clone(&sink));
    for enode in main_nodes {
        builder = builder.trusted_main_node(enode.as_str());
    }
    let mut events = builder.subscribe();
    let node = builder
        .start()
        .await
        .context("cannot start the external node")?;

    let start = Instant::now();
    let mut report = tokio::time::interval(Duration::from_secs(1));
    let target = exit_at.unwrap_or(BlockNumber::MAX);
    let mut next = sink.resume_block();
    while next < target {
        tokio::select! {
            event = events.next() => match event.context("the node stopped")? {
                ProtocolEvent::Established { info, .. } => {
                    println!("external node: linked to {} over {}", info.remote_addr, info.caps);
                }
                ProtocolEvent::DialFailed { addr, error, retry_in } => {
                    println!("external node: cannot reach {addr} ({error}); retrying in {retry_in:?}");
                }
                ProtocolEvent::Closed { cause, .. } => {
                    println!("external node: link closed ({cause}); redialing");
                }
                _ => {}
            },
            _ = report.tick() => {
                println!(
                    "external node: {next} blocks after {:.1} s",
                    start.elapsed().as_secs_f64()
                );
            }
        }
        next = sink.resume_block();
    }

    node.shutdown().await;
    // Check what arrived: blocks 0..target, each as the main node made it (the main node may
    // have sent a few more in the meantime).
    let records = sink.records();
    let wrong = (0..target)
        .zip(&records)
        .filter(|(number, record)| **record != block(*number))
        .count();
    if (records.len() as u64) < target || wrong > 0 {
        bail!(
            "expected blocks 0..{target}, got {} records, {wrong} of them wrong",
            records.len()
        );
    }
    println!(
        "external node: reached block {target}: blocks 0..{target} applied in {:.2} s, every record as the main node produced it",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
