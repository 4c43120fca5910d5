//! Command-line arguments (`clap`), the environment variables and the TOML config file they
//! can come from.
//!
//! # Where a setting comes from
//!
//! Every flag of the node commands (`main-node`, `external-node`) can be given in three ways;
//! the first one present wins (**flag > environment > config file > default**):
//!
//! 1. the flag on the command line (`--port 30303`);
//! 2. the environment variable `ZKS_<FLAG>`: the long flag in upper case, dashes as
//!    underscores (`ZKS_PORT=30303`, `ZKS_VERIFIER_SIGNER`, `ZKS_EXIT_AT_BLOCK`); a repeatable
//!    flag takes a comma-separated list (`ZKS_MAIN_NODE=enode://…,enode://…`);
//! 3. the config file (`--config FILE`), in the command's table, keyed like the long flag;
//!
//! and otherwise the default given in `--help`. The global flags `--config` and `--log-format`
//! come from the command line or from `ZKS_CONFIG` / `ZKS_LOG_FORMAT` (not from the file).
//! The variables are shared by both node commands (`ZKS_PORT` is the port of whichever runs). `--help` lists each flag's variable (and its
//! current value, when set). A repeatable flag is taken whole from the first source that has it:
//! `--main-node` on the command line replaces the file's list, it does not add to it.
//!
//! A config file holds one table per node command:
//!
//! ```toml
//! [main-node]
//! data = "/var/lib/zks"
//! port = 30303
//! key = "/etc/zks/node.key"
//! verifier-signer = ["0x36615cf349d7f6344891b1e7ca7c72883f5dc049"]
//! threshold = 1
//! # EIP-712 batch signatures (all three or none):
//! l1-chain-id = 1
//! validator-timelock = "0x1111111111111111111111111111111111111111"
//! chain-address = "0x2222222222222222222222222222222222222222"
//!
//! [external-node]
//! data = "/var/lib/zks-en"
//! main-node = ["enode://…@10.0.0.1:30303"]
//! ```
//!
//! Unknown keys are an error, naming the key and the file.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde::Deserialize;

/// `zks --version`: the version, and the keccak backend the RLPx MAC was built with (the build's
/// target CPU chooses it; it is most of the framing's CPU).
fn long_version() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| {
        format!(
            "{}\nRLPx MAC keccak: keccak-asm ({})",
            env!("CARGO_PKG_VERSION"),
            zks_devp2p::rlpx::MAC_KECCAK_BACKEND
        )
    })
}

/// zks: main node, external node and tools for the zks replay and verification protocol.
#[derive(Debug, Parser)]
#[command(name = "zks", version, long_version = long_version(), about, propagate_version = true)]
pub struct Cli {
    /// TOML config file; flags and `ZKS_*` variables override it.
    #[arg(long, global = true, value_name = "FILE", env = "ZKS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log lines as human-readable text or as one JSON object per line (to stderr; colour only
    /// when stderr is a terminal and `NO_COLOR` is unset).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t = LogFormat::Text,
        env = "ZKS_LOG_FORMAT"
    )]
    pub log_format: LogFormat,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written (`--log-format`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `fields` (with `message`), `target`,
    /// `span` and `spans`.
    Json,
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
    /// Run a relay: replay from trusted upstreams (the main node, or relays nearer to it) into a
    /// local store, and serve that store to external nodes that list this relay as a main node.
    Relay(ExternalNodeArgs),
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

impl Command {
    /// Whether this command's text logs may be coloured (on a terminal): not `zks bench`,
    /// whose output is a report meant to be kept.
    pub fn logs_may_be_coloured(&self) -> bool {
        !matches!(self, Self::Bench(_))
    }

    /// The log filter when `RUST_LOG` is unset: `info`, except `zks bench` (`warn`), whose
    /// nodes would log every one of their thousands of links at INFO, around the report and
    /// on the CPU it measures.
    pub fn default_log_filter(&self) -> &'static str {
        match self {
            Self::Bench(_) => "warn",
            _ => "info",
        }
    }
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
    /// A tiny run of every measurement, in milliseconds each (for tests; the numbers mean
    /// nothing).
    #[arg(long, hide = true)]
    pub smoke: bool,
    /// A single measurement instead of the whole run.
    #[command(subcommand)]
    pub only: Option<BenchCommand>,
}

/// `zks bench <measurement>`
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// One run of one message shape over a fresh devp2p link, one message per send; prints one
    /// JSON line (the format of reth's runner, `zks-reth/bench`).
    PerMessage {
        /// random-256, random-16k, v3-1 (one ZKsync OS v3 record per message) or v3-64.
        #[arg(long)]
        shape: zks_bench::Shape,
        /// MiB of message bodies to send.
        #[arg(long, default_value_t = 128)]
        mib: u64,
        /// Worker threads of the run's own tokio runtime (reth's runner is given the same).
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// The codec alone, no link around it: one task seals frames and writes every 64 KiB,
        /// another reads and opens them (the bound under any work on the link's queues and
        /// tasks).
        #[arg(long)]
        codec_only: bool,
    },
    /// zks-devp2p beside reth's own RLPx stack (`reth-rlpx-bench`, built from `zks-reth/bench`):
    /// the four shapes of `per-message`, each run in a process of its own, zks, its codec alone
    /// and reth in rotating order; ratios of medians with their spread.
    VersusReth {
        /// reth's runner binary.
        #[arg(long, value_name = "FILE")]
        runner: PathBuf,
        /// Rounds per shape, at least 3 (each runs zks, its codec alone and reth).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// MiB of message bodies per run.
        #[arg(long, default_value_t = 128)]
        mib: u64,
        /// Only these shapes (comma-separated); default all four.
        #[arg(long, value_delimiter = ',')]
        shapes: Vec<zks_bench::Shape>,
        /// Also write the comparison as JSON to this file.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
    },
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
        /// Also ask the peer for the replay record of block N (one `GetBlockReplays`, one
        /// record per message) and print which record encoding its first `BlockReplays`
        /// carries: ZKsync OS v3 (block, chain, protocol), our stand-in `[block_number,
        /// payload]`, or neither; and, with `--chain-id`, whether the record is of that chain.
        #[arg(long, value_name = "N")]
        fetch: Option<u64>,
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

/// Flags every node command shares: its data, where it listens, its key, its metrics. The
/// same keys in each config-file table.
#[derive(Debug, Default, Args, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct NodeArgs {
    /// Data directory (created if missing).
    #[arg(long, value_name = "DIR", env = "ZKS_DATA")]
    pub data: Option<PathBuf>,
    /// RLPx listen port (default: 3060 with --chain-id, as upstream ZKsync OS nodes; without
    /// it 30303 for a main node, 30304 for an external node or relay; 0 picks a free one).
    #[arg(long, env = "ZKS_PORT")]
    pub port: Option<u16>,
    /// Listen address (default: 0.0.0.0).
    #[arg(long, value_name = "IP", env = "ZKS_ADDR")]
    pub addr: Option<IpAddr>,
    /// Node key file (hex secret) (default: `<data>/node.key`, created if missing).
    #[arg(long, value_name = "FILE", env = "ZKS_KEY")]
    pub key: Option<PathBuf>,
    /// Serve Prometheus metrics on this address.
    #[arg(long, value_name = "ADDR", env = "ZKS_METRICS")]
    pub metrics: Option<SocketAddr>,
}

impl NodeArgs {
    /// Flags (and environment variables) override the file.
    #[must_use]
    pub fn merge(self, file: Self) -> Self {
        Self {
            data: self.data.or(file.data),
            port: self.port.or(file.port),
            addr: self.addr.or(file.addr),
            key: self.key.or(file.key),
            metrics: self.metrics.or(file.metrics),
        }
    }
}

/// The chain a node is on: its id (eth Status, v3 records) and the EIP-712 domain of batch
/// signatures.
#[derive(Debug, Default, Args, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct ChainArgs {
    /// ZKsync OS chain id: advertise eth/66-69 and send this chain's Status, as upstream nodes
    /// do, and carry its v3 records (default: none — no eth and stand-in records, which only
    /// our own nodes accept).
    #[arg(long, value_name = "N", env = "ZKS_CHAIN_ID")]
    pub chain_id: Option<u64>,
    /// EIP-712 batch signatures: the L1's chain id (with --validator-timelock and
    /// --chain-address; default: our own signature scheme).
    #[arg(long, value_name = "N", env = "ZKS_L1_CHAIN_ID")]
    pub l1_chain_id: Option<u64>,
    /// EIP-712 batch signatures: the validator timelock on L1, the domain's verifying contract.
    #[arg(long, value_name = "ADDR", env = "ZKS_VALIDATOR_TIMELOCK")]
    pub validator_timelock: Option<String>,
    /// EIP-712 batch signatures: the chain's diamond proxy on L1, the message's chainAddress.
    #[arg(long, value_name = "ADDR", env = "ZKS_CHAIN_ADDRESS")]
    pub chain_address: Option<String>,
}

impl ChainArgs {
    /// Flags (and environment variables) override the file.
    #[must_use]
    pub fn merge(self, file: Self) -> Self {
        Self {
            chain_id: self.chain_id.or(file.chain_id),
            l1_chain_id: self.l1_chain_id.or(file.l1_chain_id),
            validator_timelock: self.validator_timelock.or(file.validator_timelock),
            chain_address: self.chain_address.or(file.chain_address),
        }
    }
}

/// `zks main-node` flags; every one can also come from `ZKS_<FLAG>` or `[main-node]` in the
/// config file.
#[derive(Debug, Default, Args, Deserialize)]
// Unknown keys are refused by `ConfigFile::load`, against the flags (serde's flatten cannot
// deny them).
#[serde(default, rename_all = "kebab-case")]
pub struct MainNodeArgs {
    /// Data, listen address, key, metrics.
    #[command(flatten)]
    #[serde(flatten)]
    pub node: NodeArgs,
    /// Chain id and EIP-712 domain.
    #[command(flatten)]
    #[serde(flatten)]
    pub chain: ChainArgs,
    /// An accepted verifier address (0x + 40 hex digits); repeat (or separate with commas) for
    /// several.
    #[arg(
        long = "verifier-signer",
        value_name = "ADDR",
        env = "ZKS_VERIFIER_SIGNER",
        value_delimiter = ','
    )]
    pub verifier_signer: Vec<String>,
    /// Signatures needed per batch (default: 1 when signers are given).
    #[arg(long, env = "ZKS_THRESHOLD")]
    pub threshold: Option<usize>,
    /// Blocks per verification batch (default: 100).
    #[arg(long, env = "ZKS_BATCH_SIZE")]
    pub batch_size: Option<u64>,
    /// Give up on a batch's quorum after this long and go on to the next batch; `never` keeps
    /// asking (every 5 s under a fresh request id) until the quorum is reached, as upstream
    /// main nodes do (default: never).
    #[arg(long, value_name = "DURATION|never", env = "ZKS_QUORUM_TIMEOUT", value_parser = parse_limit)]
    #[serde(default, deserialize_with = "de_limit")]
    pub quorum_timeout: Option<Limit>,
    /// Send an idle replay stream an empty BlockReplays after this long without one, so
    /// upstream external nodes (which drop a peer silent for 300 s) keep their links on an
    /// idle chain; `off` sends none (default: off).
    #[arg(long, value_name = "DURATION|off", env = "ZKS_REPLAY_KEEPALIVE", value_parser = parse_limit)]
    #[serde(default, deserialize_with = "de_limit")]
    pub replay_keepalive: Option<Limit>,
    /// Produce synthetic blocks at this rate (blocks per second) (default: off).
    #[arg(long, value_name = "RATE", env = "ZKS_PRODUCE_BLOCKS")]
    pub produce_blocks: Option<f64>,
    /// Stop producing once the chain holds this many blocks.
    #[arg(long, value_name = "N", env = "ZKS_PRODUCE_UNTIL")]
    pub produce_until: Option<u64>,
}

/// `zks external-node` and `zks relay` flags; every one can also come from `ZKS_<FLAG>` or the
/// config file's `[external-node]` / `[relay]` table.
#[derive(Debug, Default, Args, Deserialize)]
// Unknown keys: as `MainNodeArgs`.
#[serde(default, rename_all = "kebab-case")]
pub struct ExternalNodeArgs {
    /// Data, listen address, key, metrics.
    #[command(flatten)]
    #[serde(flatten)]
    pub node: NodeArgs,
    /// Chain id and EIP-712 domain (verifiers sign in it).
    #[command(flatten)]
    #[serde(flatten)]
    pub chain: ChainArgs,
    /// A trusted main node's (or relay's) enode URL; repeat (or separate with commas) for
    /// several: one is used at a time, in this order of priority, failing over when the active
    /// one ends our link or stalls, and back when a preferred one is level again.
    #[arg(
        long = "main-node",
        value_name = "ENODE",
        env = "ZKS_MAIN_NODE",
        value_delimiter = ','
    )]
    pub main_node: Vec<String>,
    /// Verifier key file (hex secret): authenticate as a verifier and sign batches.
    #[arg(long, value_name = "FILE", env = "ZKS_VERIFIER_KEY")]
    pub verifier_key: Option<PathBuf>,
    /// Apply blocks up to N, never beyond, then exit (status 0) once block N is stored.
    #[arg(long, value_name = "N", env = "ZKS_EXIT_AT_BLOCK")]
    pub exit_at_block: Option<u64>,
    /// With several --main-node: how often the other upstreams are probed (one short link
    /// asking for one block) for fail-back, and for a stalled upstream's replacement
    /// (default: 10s).
    #[arg(long, value_name = "DURATION", env = "ZKS_UPSTREAM_PROBE_INTERVAL", value_parser = parse_duration)]
    #[serde(default, deserialize_with = "de_duration")]
    pub upstream_probe_interval: Option<Duration>,
    /// The active upstream is stalled after delivering nothing for this long: it is probed
    /// (a short second link asking for our next block), and a fresh link replaces the silent
    /// one when it has the block (with several --main-node, another that has it may take
    /// over). An idle chain is probed ever more rarely, at most every 8 times this (default:
    /// 30s).
    #[arg(long, value_name = "DURATION", env = "ZKS_UPSTREAM_STALL_TIMEOUT", value_parser = parse_duration)]
    #[serde(default, deserialize_with = "de_duration")]
    pub upstream_stall_timeout: Option<Duration>,
    /// When the active upstream refuses our probes (reth-based nodes refuse a second session
    /// from one peer), a link that delivered nothing for this long is replaced by a fresh one,
    /// as upstream external nodes do; `off` never replaces it (default: 300s).
    #[arg(long, value_name = "DURATION|off", env = "ZKS_UPSTREAM_WATCHDOG", value_parser = parse_limit)]
    #[serde(default, deserialize_with = "de_limit")]
    pub upstream_watchdog: Option<Limit>,
    /// Relay: send an idle replay stream to an external node an empty BlockReplays after this
    /// long without one (see `main-node --replay-keepalive`); `off` sends none (default: off).
    #[arg(long, value_name = "DURATION|off", env = "ZKS_REPLAY_KEEPALIVE", value_parser = parse_limit)]
    #[serde(default, deserialize_with = "de_limit")]
    pub replay_keepalive: Option<Limit>,
}

/// A duration that may be switched off (`off` or `never` on the command line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// No limit.
    Off,
    /// This long.
    After(Duration),
}

impl Limit {
    /// The duration, `None` when off.
    pub fn duration(self) -> Option<Duration> {
        match self {
            Self::Off => None,
            Self::After(d) => Some(d),
        }
    }
}

fn parse_limit(text: &str) -> Result<Limit, String> {
    match text {
        "off" | "never" | "none" => Ok(Limit::Off),
        _ => parse_duration(text)
            .map(Limit::After)
            .map_err(|e| format!("{e}, or off")),
    }
}

/// A [`Limit`] in the config file, written as on the command line (`300s`, `off`).
fn de_limit<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<Limit>, D::Error> {
    let text = String::deserialize(de)?;
    parse_limit(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// A duration in the config file, written as on the command line (`10s`, `2m`).
fn de_duration<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(de)?;
    parse_duration(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
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
    /// ZKsync OS chain id of the current generation's nodes: their eth Status and records.
    #[arg(long, value_name = "N", default_value_t = 270)]
    pub chain_id: u64,
    /// Which protocol generation the nodes speak: `current` is a ZKsync OS chain (`--chain-id`)
    /// as upstream nodes run it — eth, v3 records on zks/5, verification on zks_2fa/1 with
    /// EIP-712 batch signatures over upstream-shaped batches; `seed` is zks/1–3 with stand-in
    /// records, our own batch signatures and verification in-band on zks/3 (no chain id, no
    /// eth).
    #[arg(long, value_enum, default_value_t = Generation::Current)]
    pub generation: Generation,
}

/// A protocol generation, for `zks demo --generation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Generation {
    /// zks/5 + zks_2fa/1, as current upstream nodes speak.
    Current,
    /// zks/1–3, verification in-band on zks/3.
    Seed,
}

impl Generation {
    /// What an external node of this generation advertises: `zks_2fa/1` beside zks/5 only on
    /// a verifier, as upstream external nodes do.
    pub fn capabilities(self, verifier: bool) -> zks_api::wire::Capabilities {
        match self {
            Self::Current if verifier => zks_api::wire::Capabilities::CURRENT,
            Self::Current => zks_api::wire::VersionSet::CURRENT.into(),
            Self::Seed => zks_api::wire::Capabilities::SEED,
        }
    }
}

impl std::fmt::Display for Generation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Current => "current",
            Self::Seed => "seed",
        })
    }
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
    /// `[relay]`.
    pub relay: ExternalNodeArgs,
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
        let error = |msg: &str| format!("config file {}: {msg}", path.display());
        let table: toml::Table = toml::from_str(&text).map_err(|e| error(e.message()))?;
        for (name, keys) in [
            ("main-node", flag_names::<MainNodeArgs>()),
            ("external-node", flag_names::<ExternalNodeArgs>()),
            ("relay", flag_names::<ExternalNodeArgs>()),
        ] {
            if let Some(toml::Value::Table(given)) = table.get(name)
                && let Some(unknown) = given.keys().find(|k| !keys.contains(k))
            {
                return Err(error(&format!(
                    "unknown field `{unknown}` in [{name}], expected one of {}",
                    keys.join(", ")
                )));
            }
        }
        table
            .try_into()
            .map_err(|e: toml::de::Error| error(e.message()))
    }
}

/// The long flag names of a command's arguments: its config table's keys.
fn flag_names<A: Args>() -> Vec<String> {
    A::augment_args(clap::Command::new("zks"))
        .get_arguments()
        .filter_map(clap::Arg::get_long)
        .map(str::to_owned)
        .collect()
}

impl MainNodeArgs {
    /// Flags (and environment variables, which clap has already folded into them) override the
    /// file.
    #[must_use]
    pub fn merge(self, file: Self) -> Self {
        Self {
            node: self.node.merge(file.node),
            chain: self.chain.merge(file.chain),
            verifier_signer: if self.verifier_signer.is_empty() {
                file.verifier_signer
            } else {
                self.verifier_signer
            },
            threshold: self.threshold.or(file.threshold),
            batch_size: self.batch_size.or(file.batch_size),
            quorum_timeout: self.quorum_timeout.or(file.quorum_timeout),
            replay_keepalive: self.replay_keepalive.or(file.replay_keepalive),
            produce_blocks: self.produce_blocks.or(file.produce_blocks),
            produce_until: self.produce_until.or(file.produce_until),
        }
    }
}

impl ExternalNodeArgs {
    /// Flags (and environment variables) override the file.
    #[must_use]
    pub fn merge(self, file: Self) -> Self {
        Self {
            node: self.node.merge(file.node),
            chain: self.chain.merge(file.chain),
            main_node: if self.main_node.is_empty() {
                file.main_node
            } else {
                self.main_node
            },
            verifier_key: self.verifier_key.or(file.verifier_key),
            exit_at_block: self.exit_at_block.or(file.exit_at_block),
            upstream_probe_interval: self
                .upstream_probe_interval
                .or(file.upstream_probe_interval),
            upstream_stall_timeout: self.upstream_stall_timeout.or(file.upstream_stall_timeout),
            upstream_watchdog: self.upstream_watchdog.or(file.upstream_watchdog),
            replay_keepalive: self.replay_keepalive.or(file.replay_keepalive),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use clap::Parser as _;

    use super::*;

    #[test]
    fn bench_logs_are_never_coloured() {
        let bench = Cli::try_parse_from(["zks", "bench", "--quick"]).unwrap();
        assert!(!bench.command.logs_may_be_coloured());
        let node = Cli::try_parse_from(["zks", "main-node"]).unwrap();
        assert!(node.command.logs_may_be_coloured());
    }

    #[test]
    fn log_format_is_global_and_text_by_default() {
        let cli = Cli::try_parse_from(["zks", "store", "dump", "--data", "d"]).unwrap();
        assert_eq!(cli.log_format, LogFormat::Text);
        let cli = Cli::try_parse_from([
            "zks",
            "store",
            "dump",
            "--data",
            "d",
            "--log-format",
            "json",
        ])
        .unwrap();
        assert_eq!(cli.log_format, LogFormat::Json);
    }

    #[test]
    fn eip712_keys_are_read_from_the_config_file_and_flags_win() {
        let file: ConfigFile = toml::from_str(
            "[main-node]\nl1-chain-id = 1\nvalidator-timelock = \"0xaa\"\nchain-address = \"0xbb\"\n\
             [external-node]\nl1-chain-id = 2\nvalidator-timelock = \"0xcc\"\nchain-address = \"0xdd\"\n",
        )
        .unwrap();
        let flags = MainNodeArgs {
            chain: ChainArgs {
                l1_chain_id: Some(5),
                ..Default::default()
            },
            ..Default::default()
        };
        let merged = flags.merge(file.main_node).chain;
        assert_eq!(merged.l1_chain_id, Some(5));
        assert_eq!(merged.validator_timelock.as_deref(), Some("0xaa"));
        assert_eq!(merged.chain_address.as_deref(), Some("0xbb"));
        let merged = ExternalNodeArgs::default().merge(file.external_node).chain;
        assert_eq!(
            (
                merged.l1_chain_id,
                merged.validator_timelock.as_deref(),
                merged.chain_address.as_deref()
            ),
            (Some(2), Some("0xcc"), Some("0xdd"))
        );
    }

    #[test]
    fn limits_are_durations_or_off_on_the_command_line_and_in_the_file() {
        let cli =
            Cli::try_parse_from(["zks", "external-node", "--upstream-watchdog", "off"]).unwrap();
        let Command::ExternalNode(args) = cli.command else {
            panic!("external-node")
        };
        assert_eq!(args.upstream_watchdog, Some(Limit::Off));
        let cli = Cli::try_parse_from(["zks", "main-node", "--quorum-timeout", "2m"]).unwrap();
        let Command::MainNode(args) = cli.command else {
            panic!("main-node")
        };
        assert_eq!(
            args.quorum_timeout,
            Some(Limit::After(Duration::from_secs(120)))
        );
        assert_eq!(Limit::Off.duration(), None);
        let err = Cli::try_parse_from(["zks", "main-node", "--quorum-timeout", "soon"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("or off"), "{err}");
        let file: ConfigFile = toml::from_str(
            "[main-node]\nquorum-timeout = \"never\"\n[relay]\nupstream-watchdog = \"90s\"\n",
        )
        .unwrap();
        assert_eq!(file.main_node.quorum_timeout, Some(Limit::Off));
        assert_eq!(
            file.relay.upstream_watchdog,
            Some(Limit::After(Duration::from_secs(90)))
        );
    }

    #[test]
    fn shared_flags_come_from_one_group_on_the_command_line_and_in_the_file() {
        let cli = Cli::try_parse_from([
            "zks",
            "relay",
            "--data",
            "d",
            "--port",
            "7",
            "--chain-id",
            "270",
            "--metrics",
            "127.0.0.1:9",
        ])
        .unwrap();
        let Command::Relay(args) = cli.command else {
            panic!("relay")
        };
        assert_eq!(args.node.data.as_deref(), Some(Path::new("d")));
        assert_eq!(args.node.port, Some(7));
        assert_eq!(args.chain.chain_id, Some(270));
        assert_eq!(args.node.metrics, "127.0.0.1:9".parse().ok());
        let file: ConfigFile = toml::from_str(
            "[main-node]\ndata = \"m\"\nport = 3\nchain-id = 271\nthreshold = 2\n\
             [relay]\nkey = \"k\"\nupstream-stall-timeout = \"5s\"\n",
        )
        .unwrap();
        assert_eq!(file.main_node.node.data.as_deref(), Some(Path::new("m")));
        assert_eq!(file.main_node.node.port, Some(3));
        assert_eq!(file.main_node.chain.chain_id, Some(271));
        assert_eq!(file.main_node.threshold, Some(2));
        assert_eq!(file.relay.node.key.as_deref(), Some(Path::new("k")));
        assert_eq!(
            file.relay.upstream_stall_timeout,
            Some(Duration::from_secs(5))
        );
    }

    #[test]
    fn a_config_key_that_is_no_flag_of_its_table_is_refused_by_name() {
        let dir = std::env::temp_dir().join(format!("zks-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.toml");
        std::fs::write(&path, "[relay]\nthreshold = 2\n").unwrap();
        let err = ConfigFile::load(&path).unwrap_err();
        assert!(
            err.contains("unknown field `threshold` in [relay], expected one of data, port,"),
            "{err}"
        );
        std::fs::write(&path, "[main-node]\nport = 3\n").unwrap();
        assert_eq!(
            ConfigFile::load(&path).unwrap().main_node.node.port,
            Some(3)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
