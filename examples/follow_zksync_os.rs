//! An external node that joins a ZKsync OS network and follows its chain.
//!
//! A ZKsync OS node (`zksync-os-server` since v0.21.0) is reth-based. To keep a session with
//! it, a peer must:
//!
//! - speak `eth` and pass its Status handshake: same network id (the chain id), genesis hash
//!   and fork id. `ChainIdentity::zksync_os(chain_id)` computes the values an upstream node of
//!   that chain announces;
//! - speak the current generation of zks: `zks/5` for replay and `zks_2fa/1` beside it for
//!   batch verification (`Capabilities::CURRENT`);
//! - understand its records: the typed v3 `ReplayRecord` (`zks_wire::zksync_os::V3Record`,
//!   feature `zksync-os`), whose `follows` compares the 256-block hash window, so a main node
//!   on another fork is disconnected instead of being applied.
//!
//! An upstream EN trusts only its boot nodes (`network.boot_nodes`) and asks for replay from
//! its next local block. Block 0, the genesis, is one constant block on every ZKsync OS chain,
//! so this example starts from block 1 (`--from-block`).
//!
//! ```text
//! cargo run -p zks-examples --bin follow_zksync_os -- \
//!     --chain-id 270 --boot-node 'enode://<128 hex digits>@10.0.0.1:3060'
//! ```
//!
//! It prints the identity it announces, each link, and every batch of blocks it applies; with
//! `--exit-at N` it exits once it holds blocks up to `N - 1`, otherwise at Ctrl-C.
//!
//! Dependencies: `zks-api`, `zks-devp2p`, `zks-wire` (feature `zksync-os`), `tokio`, `anyhow`,
//! `clap`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context as _;
use clap::Parser;
use tokio::sync::watch;
use zks_api::wire::Capabilities;
use zks_api::{BlockNumber, Node, ProtocolEvent, ReplaySink, SinkError, async_trait};
use zks_devp2p::eth::ChainIdentity;
use zks_devp2p::{Devp2pConfig, Devp2pTransport, NodeKey};
use zks_wire::zksync_os::V3Record;

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(about = "Follow a ZKsync OS chain from its boot nodes")]
struct Args {
    /// The L2 chain id (the `eth` network id).
    #[arg(long)]
    chain_id: u64,
    /// A boot node's `enode://` URL; repeat for several (used in order, with fail-over).
    #[arg(long, required = true)]
    boot_node: Vec<String>,
    /// Address to listen on.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::UNSPECIFIED))]
    addr: IpAddr,
    /// TCP port to listen on (upstream's default is 3060; 0: any free port).
    #[arg(long, default_value_t = 3060)]
    port: u16,
    /// The first block to replay: where a fresh node's chain resumes.
    #[arg(long, default_value_t = 1)]
    from_block: BlockNumber,
    /// Exit once every block before this one is applied.
    #[arg(long)]
    exit_at: Option<BlockNumber>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let identity = ChainIdentity::zksync_os(args.chain_id);
    println!(
        "chain {}: network id {}, genesis 0x{}, fork id 0x{}/{}",
        args.chain_id,
        identity.network_id,
        hex(&identity.genesis),
        hex(&identity.fork_id.hash),
        identity.fork_id.next
    );

    let config = Devp2pConfig::builder(NodeKey::generate())
        .listen_addr(SocketAddr::new(args.addr, args.port))
        .chain_identity(identity)
        // Refuse peers without `eth`, as reth does: every ZKsync OS node speaks it.
        .require_eth(true)
        .build()
        .context("invalid devp2p configuration")?;
    let chain = Arc::new(Follower::starting_at(args.from_block));
    let mut builder = Node::builder(Devp2pTransport::new(config))
        .capabilities(Capabilities::CURRENT)
        .external_node(Arc::clone(&chain));
    for boot_node in &args.boot_node {
        builder = builder.trusted_main_node(boot_node.as_str());
    }
    let mut events = builder.subscribe();
    let node = builder
        .start()
        .await
        .context("cannot start the external node")?;
    println!("advertising {}", Capabilities::CURRENT);

    // Links come and go in the background; replay progress is printed by the sink. The stream
    // ends when the node has shut down.
    let printer = tokio::spawn(async move {
        while let Some(event) = events.next().await {
            match event {
                ProtocolEvent::Established { info, .. } => {
                    println!("linked to {} over {}", info.remote_addr, info.caps);
                }
                ProtocolEvent::DialFailed {
                    addr,
                    error,
                    retry_in,
                } => println!("cannot link to {addr}: {error}; retrying in {retry_in:?}"),
                ProtocolEvent::Closed { cause, .. } => println!("link closed: {cause}"),
                _ => {}
            }
        }
    });

    let mut applied = chain.subscribe();
    match args.exit_at {
        Some(target) => {
            // Cannot fail: the sender lives in `chain`, which lives until the end of `main`.
            let _ = applied.wait_for(|next| *next >= target).await;
            node.shutdown().await;
            // Every event is printed (the last link's close too) before the summary.
            let _ = printer.await;
            println!("followed the chain to block {}", target.saturating_sub(1));
        }
        None => {
            tokio::signal::ctrl_c()
                .await
                .context("cannot listen for Ctrl-C")?;
            node.shutdown().await;
        }
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The node's state, as far as this example keeps it: where replay resumes and what the
/// blocks held. A real node executes each block here and stores the result atomically.
#[derive(Debug)]
struct Follower {
    state: Mutex<State>,
    /// The next block, after every apply.
    next: watch::Sender<BlockNumber>,
}

#[derive(Debug, Default)]
struct State {
    transactions: u64,
}

impl Follower {
    fn starting_at(next_block: BlockNumber) -> Self {
        Self {
            state: Mutex::new(State::default()),
            next: watch::Sender::new(next_block),
        }
    }

    fn subscribe(&self) -> watch::Receiver<BlockNumber> {
        self.next.subscribe()
    }
}

#[async_trait]
impl ReplaySink for Follower {
    type Record = V3Record;

    fn resume_block(&self) -> BlockNumber {
        *self.next.borrow()
    }

    async fn apply(&self, records: Vec<V3Record>) -> Result<(), SinkError> {
        // The engine hands over records that start at `resume_block`, are contiguous, and each
        // follow the one before (hash window); execution would go here.
        let (Some(first), Some(last)) = (records.first(), records.last()) else {
            return Ok(());
        };
        let transactions = {
            // Nothing panics while the lock is held, so even a poisoned lock holds a whole state.
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.transactions += records
                .iter()
                .map(|r| r.transactions.len() as u64)
                .sum::<u64>();
            state.transactions
        };
        let [major, minor, patch] = last.protocol_version;
        println!(
            "applied blocks {}..={}: {transactions} transactions so far, head timestamp {}, protocol {major}.{minor}.{patch}",
            first.block_context.block_number,
            last.block_context.block_number,
            last.block_context.timestamp,
        );
        self.next.send_replace(last.block_context.block_number + 1);
        Ok(())
    }
}
