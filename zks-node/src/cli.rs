//! Command-line arguments (`clap`) and the TOML config file they can come from.
//!
//! A `--config FILE` holds one table per node command, keyed like the long flags:
//!
//! ```toml
//! [main-node]
//! data = "/var/lib/zks"
//! port = 30303
//! key = "/etc/zks/node.key"
//! verifier-signer = ["0x36615cf349d7f6344891b1e7ca7c72883f5dc049"]
//! threshold = 1
//!
//! [external-node]
//! data = "/var/lib/zks-en"
//! main-node = ["enode://…@10.0.0.1:30303"]
//! ```
//!
//! Flags given on the command line override the file.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde::Deserialize;

/// zks: main node, external node and tools for the zks replay and verification protocol.
#[derive(Debug, Parser)]
#[command(name = "zks", version, about, propagate_version = true)]
pub struct Cli {
    /// TOML config file; flags override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Node keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Run a main node: store blocks and stream them to external nodes.
    MainNode(MainNodeArgs),
    /// Run an external node: replay blocks from a main node into a local store.
    ExternalNode(ExternalNodeArgs),
    /// RLPx debugging tools.
    #[command(subcommand)]
    Rlpx(RlpxCommand),
    /// Inspect a node's data directory.
    #[command(subcommand)]
    Store(StoreCommand),
    /// One main node and three external nodes on 127.0.0.1, with live progress and a summary.
    Demo(DemoArgs),
    /// Side-by-side performance of every transport against raw TCP and the RLPx framing floor.
    Bench(BenchArgs),
}

/// `zks bench`
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Smaller runs (under 2 minutes instead of under 10); the same measurements.
    #[arg(long)]
    pub quick: bool,
    /// Also write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Leave libp2p out.
    #[arg(long)]
    pub no_libp2p: bool,
}

/// `zks key ...`
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Generate a key. Node key: prints the enode id. Verifier key (`--verifier`): prints the
    /// signer address. Without `--out` the secret goes to stdout and the id to stderr.
    Generate {
        /// Write the key here (mode 0600); refuses to overwrite an existing file.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Generate a verifier (batch signing) key instead of a node key.
        #[arg(long)]
        verifier: bool,
    },
}

/// `zks rlpx ...`
#[derive(Debug, Subcommand)]
pub enum RlpxCommand {
    /// Handshake with any RLPx node, print its Hello and the round-trip time, disconnect.
    Ping {
        /// `enode://<id>@<host>:<port>`.
        enode: String,
        /// Give up on each step after this long.
        #[arg(long, default_value = "10s", value_parser = parse_duration)]
        timeout: Duration,
        /// ZKsync OS chain id: also advertise eth, exchange Status and check the peer's.
        #[arg(long, value_name = "N")]
        chain_id: Option<u64>,
    },
}

/// `zks store ...`
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Print the role, block range and contiguity of a data directory's store.
    Dump {
        /// The data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
    },
}

/// `zks main-node` flags; every one can also come from `[main-node]` in the config file.
#[derive(Debug, Default, Args, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct MainNodeArgs {
    /// Data directory (created if missing).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// RLPx listen port (default: 30303).
    #[arg(long)]
    pub port: Option<u16>,
    /// Listen address (default: 0.0.0.0).
    #[arg(long, value_name = "IP")]
    pub addr: Option<IpAddr>,
    /// Node key file (hex secret) (default: `<data>/node.key`, created if missing).
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// An accepted verifier address (0x + 40 hex digits); repeat for several.
    #[arg(long = "verifier-signer", value_name = "ADDR")]
    pub verifier_signer: Vec<String>,
    /// Signatures needed per batch (default: 1 when signers are given).
    #[arg(long)]
    pub threshold: Option<usize>,
    /// Blocks per verification batch (default: 100).
    #[arg(long)]
    pub batch_size: Option<u64>,
    /// Produce synthetic blocks at this rate (blocks per second) (default: off).
    #[arg(long, value_name = "RATE")]
    pub produce_blocks: Option<f64>,
    /// Stop producing once the chain holds this many blocks.
    #[arg(long, value_name = "N")]
    pub produce_until: Option<u64>,
    /// Serve Prometheus metrics on this address.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
    /// ZKsync OS chain id: advertise eth/66-69 and send this chain's Status, as upstream nodes
    /// do (default: none — no eth, which only our own nodes accept).
    #[arg(long, value_name = "N")]
    pub chain_id: Option<u64>,
}

/// `zks external-node` flags; every one can also come from `[external-node]`.
#[derive(Debug, Default, Args, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct ExternalNodeArgs {
    /// Data directory (created if missing).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// The trusted main node's enode URL; repeat for several.
    #[arg(long = "main-node", value_name = "ENODE")]
    pub main_node: Vec<String>,
    /// Verifier key file (hex secret): authenticate as a verifier and sign batches.
    #[arg(long, value_name = "FILE")]
    pub verifier_key: Option<PathBuf>,
    /// RLPx listen port (default: 30304; 0 picks a free one).
    #[arg(long)]
    pub port: Option<u16>,
    /// Listen address (default: 0.0.0.0).
    #[arg(long, value_name = "IP")]
    pub addr: Option<IpAddr>,
    /// Node key file (default: `<data>/node.key`, created if missing).
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Exit (status 0) once block N is stored.
    #[arg(long, value_name = "N")]
    pub exit_at_block: Option<u64>,
    /// Serve Prometheus metrics on this address.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
    /// ZKsync OS chain id: advertise eth/66-69 and send this chain's Status, as upstream nodes
    /// do (default: none — no eth, which only our own nodes accept).
    #[arg(long, value_name = "N")]
    pub chain_id: Option<u64>,
}

/// `zks demo` flags.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How long blocks are produced before the summary.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Blocks per second the main node produces.
    #[arg(long, default_value_t = 500.0)]
    pub rate: f64,
    /// Blocks per verification batch.
    #[arg(long, default_value_t = 100)]
    pub batch_size: u64,
    /// Serve the main node's Prometheus metrics on this address.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
    /// ZKsync OS chain id every node of the demo uses for its eth Status.
    #[arg(long, value_name = "N", default_value_t = 270)]
    pub chain_id: u64,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e} (try e.g. 20s, 2m)"))
}

/// The config file's tables.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct ConfigFile {
    /// `[main-node]`.
    pub main_node: MainNodeArgs,
    /// `[external-node]`.
    pub external_node: ExternalNodeArgs,
}

impl ConfigFile {
    /// Reads and parses `path`.
    ///
    /// # Errors
    ///
    /// One line naming the file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| {
            let msg = e.message().to_owned();
            format!("config file {}: {msg}", path.display())
        })
    }
}

impl MainNodeArgs {
    /// Flags override the file.
    #[must_use]
    pub fn merge(self, file: Self) -> Self {
        Self {
            data: self.data.or(file.data),
            port: self.port.or(file.port),
            addr: self.addr.or(file.addr),
            key: self.key.or(file.key),
            verifier_signer: if self.verifier_signer.is_empty() {
                file.verifier_signer
            } else {
                self.verifier_signer
            },
            threshold: self.threshold.or(file.threshold),
            batch_size: self.batch_size.or(file.batch_size),
            produce_blocks: self.produce_blocks.or(file.produce_blocks),
            produce_until: self.produce_until.or(file.produce_until),
            metrics: self.metrics.or(file.metrics),
            chain_id: self.chain_id.or(file.chain_id),
        }
    }
}

impl ExternalNodeArgs {
    /// Flags override the file.
    #[must_use]
    pub fn merge(self, file: Self) -> Self {
        Self {
            data: self.data.or(file.data),
            main_node: if self.main_node.is_empty() {
                file.main_node
            } else {
                self.main_node
            },
            verifier_key: self.verifier_key.or(file.verifier_key),
            port: self.port.or(file.port),
            addr: self.addr.or(file.addr),
            key: self.key.or(file.key),
            exit_at_block: self.exit_at_block.or(file.exit_at_block),
            metrics: self.metrics.or(file.metrics),
            chain_id: self.chain_id.or(file.chain_id),
        }
    }
}
