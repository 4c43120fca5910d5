//! Building blocks of the node commands and the demo: starting a main or external node over
//! devp2p on a [`RedbReplayStore`], the synthetic block producer, and the batch loop that asks
//! verifiers for a quorum every N blocks.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::watch;
use zks_api::wire::VerifyBatch;
use zks_api::{BlockNumber, Node, RawRecord, Role, SignerAddress};
use zks_devp2p::eth::ChainIdentity;
use zks_devp2p::{Devp2pConfig, Devp2pTransport, Enode, NodeKey};
use zks_verifier::{
    AcceptedSigners, Quorum, QuorumConfig, QuorumError, Secp256k1BatchScheme, SigningVerifier,
    VerifierKey, collect_quorum,
};

use crate::store::{RedbReplayStore, StoreError};

/// The client id we announce in Hello.
pub const CLIENT_ID: &str = concat!("zks/v", env!("CARGO_PKG_VERSION"));

/// A user-facing error: one line.
pub type CliError = String;

/// Loads `path` as a node key, or (no path) loads or creates `<data>/node.key`.
///
/// # Errors
///
/// One line naming the file.
pub fn load_node_key(path: Option<&Path>, data: &Path) -> Result<NodeKey, CliError> {
    match path {
        Some(path) => {
            if !path.exists() {
                return Err(format!("node key file {} does not exist", path.display()));
            }
            NodeKey::load(path).map_err(|e| format!("cannot load node key: {e}"))
        }
        None => {
            std::fs::create_dir_all(data)
                .map_err(|e| format!("cannot create data dir {}: {e}", data.display()))?;
            NodeKey::load_or_generate(data.join("node.key"))
                .map_err(|e| format!("cannot load node key: {e}"))
        }
    }
}

/// Opens the store of `data` for `role`, as one line on error.
///
/// # Errors
///
/// The store's error, one line.
pub fn open_store(data: &Path, role: Role, durable: bool) -> Result<RedbReplayStore, CliError> {
    RedbReplayStore::open_with(data, role, durable).map_err(|e: StoreError| e.to_string())
}

/// A devp2p transport listening on `ip:port`; with `chain_id`, it speaks `eth` as a ZKsync OS
/// node of that chain does.
///
/// # Errors
///
/// When the config is invalid (it never is for these settings).
pub fn transport(
    key: NodeKey,
    ip: IpAddr,
    port: u16,
    chain_id: Option<u64>,
) -> Result<Devp2pTransport, CliError> {
    let mut builder = Devp2pConfig::builder(key)
        .listen_addr(SocketAddr::new(ip, port))
        .client_id(CLIENT_ID);
    if let Some(id) = chain_id {
        builder = builder.chain_identity(ChainIdentity::zksync_os(id));
    }
    let config = builder.build().map_err(|e| format!("devp2p config: {e}"))?;
    Ok(Devp2pTransport::new(config))
}

/// Says at start-up which chain identity the node's `eth` Status carries, or that it
/// advertises no `eth` (so reth-based nodes will not keep a session with it).
pub fn log_chain(chain_id: Option<u64>) {
    match chain_id {
        Some(id) => {
            let identity = ChainIdentity::zksync_os(id);
            tracing::info!(
                chain_id = id,
                genesis = %hex::encode(identity.genesis),
                fork_hash = %hex::encode(identity.fork_id.hash),
                "eth/66-69 advertised with this chain's Status"
            );
        }
        None => tracing::info!(
            "no --chain-id: eth is not advertised; reth-based ZKsync OS nodes will drop the session"
        ),
    }
}

/// Maps a node start failure to one line (`port in use` in particular).
pub fn start_error(addr: SocketAddr, error: &zks_api::Error) -> CliError {
    match error {
        zks_api::Error::Transport(zks_api::transport::TransportError::Listen(reason)) => {
            format!("cannot listen on {addr}: {reason}")
        }
        other => format!("cannot start the node: {other}"),
    }
}

/// Parses a verifier address `0x` + 40 hex digits.
///
/// # Errors
///
/// One line naming the text.
pub fn parse_signer(text: &str) -> Result<SignerAddress, CliError> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    let mut bytes = [0u8; 20];
    hex::decode_to_slice(digits, &mut bytes)
        .map_err(|_| format!("invalid verifier address {text:?}: want 0x + 40 hex digits"))?;
    Ok(SignerAddress(bytes))
}

/// Parses and checks an enode URL, as the transport will.
///
/// # Errors
///
/// One line naming the text.
pub fn parse_enode(text: &str) -> Result<Enode, CliError> {
    let enode: Enode = text
        .parse()
        .map_err(|e| format!("invalid enode URL {text:?}: {e}"))?;
    enode
        .dial_target()
        .map_err(|e| format!("invalid enode URL {text:?}: {e}"))?;
    Ok(enode)
}

/// The verifier of the demo and the CLI: approves every batch with commit data, signs with
/// `key`.
pub fn signing_verifier(
    key: VerifierKey,
) -> SigningVerifier<impl Fn(&VerifyBatch) -> Result<(), String> + Send + Sync + 'static> {
    SigningVerifier::new(key, |batch: &VerifyBatch| {
        if batch.commit_data.is_empty() {
            Err("empty commit data".to_owned())
        } else {
            Ok(())
        }
    })
}

/// Microseconds since the Unix epoch.
pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// A synthetic block payload: production time (µs since epoch, 8 bytes BE), block number
/// (8 bytes BE), then 112 bytes of filler derived from the block number.
pub fn synthetic_payload(block: BlockNumber, produced_at: u64) -> Bytes {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(&produced_at.to_be_bytes());
    out.extend_from_slice(&block.to_be_bytes());
    let mut x = block.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while out.len() < 128 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(128);
    Bytes::from(out)
}

/// The production time of a synthetic payload, if it is one.
pub fn produced_at(payload: &[u8]) -> Option<u64> {
    let bytes: [u8; 8] = payload.get(..8)?.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

/// Appends synthetic blocks at `rate` per second until `until` blocks exist (if set) or
/// `stop` turns true. Blocks due within one tick are committed together.
///
/// # Errors
///
/// When the store fails.
pub async fn produce(
    store: RedbReplayStore,
    rate: f64,
    until: Option<BlockNumber>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), CliError> {
    if rate <= 0.0 || !rate.is_finite() {
        return Ok(());
    }
    let tick = Duration::from_secs_f64((1.0 / rate).max(0.005));
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let start = tokio::time::Instant::now();
    let base = store.next_block();
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.wait_for(|s| *s) => return Ok(()),
        }
        let due = base + (start.elapsed().as_secs_f64() * rate) as u64;
        let due = until.map_or(due, |u| due.min(u));
        let next = store.next_block();
        if next >= due {
            if until.is_some_and(|u| next >= u) {
                return Ok(());
            }
            continue;
        }
        let now = now_micros();
        let records = (next..due)
            .map(|b| RawRecord::new(b, synthetic_payload(b, now)))
            .collect();
        store
            .append(records)
            .await
            .map_err(|e| format!("block producer: {e}"))?;
    }
}

/// The `VerifyBatch` for batch `number` (1-based) of `size` blocks.
pub fn batch(number: u64, size: u64) -> VerifyBatch {
    let first = (number - 1) * size;
    let last = number * size - 1;
    let mut commit = Vec::with_capacity(32);
    commit.extend_from_slice(b"zks-demo-commit:");
    commit.extend_from_slice(&number.to_be_bytes());
    commit.extend_from_slice(&last.to_be_bytes());
    VerifyBatch {
        batch_number: number,
        first_block_number: first,
        last_block_number: last,
        commit_data: Bytes::from(commit),
        prev_commit_data: Bytes::from_static(b"zks-demo-prev"),
        execution_protocol_version: 1,
        ..Default::default()
    }
}

/// One batch's verification, as reported by [`batch_loop`].
#[derive(Debug)]
pub struct BatchOutcome {
    /// The batch number.
    pub number: u64,
    /// Its last block.
    pub last_block: BlockNumber,
    /// The quorum or why none was reached.
    pub result: Result<Quorum, QuorumError>,
    /// From submission to the quorum.
    pub elapsed: Duration,
}

/// Every time the chain grows by `size` blocks, asks the verifiers for a quorum on the new
/// batch (one at a time, in order) and reports each outcome through `report`; returns when
/// `stop` turns true and the batches for blocks stored by then are done.
pub async fn batch_loop(
    node: Arc<Node>,
    store: RedbReplayStore,
    signers: AcceptedSigners,
    threshold: usize,
    size: u64,
    mut stop: watch::Receiver<bool>,
    mut report: impl FnMut(BatchOutcome) + Send,
) {
    let size = size.max(1);
    let mut heads = store.subscribe();
    let mut number = store.next_block() / size + 1;
    loop {
        let needed = number * size;
        if *heads.borrow_and_update() < needed {
            if *stop.borrow() {
                return;
            }
            tokio::select! {
                changed = heads.changed() => if changed.is_err() { return },
                _ = stop.wait_for(|s| *s) => {}
            }
            continue;
        }
        let config = QuorumConfig::new(signers.iter().copied(), threshold)
            .with_request_timeout(Duration::from_secs(5))
            .with_total_timeout(Duration::from_secs(15));
        let started = tokio::time::Instant::now();
        let result =
            collect_quorum(&node, batch(number, size), config, &Secp256k1BatchScheme).await;
        crate::metrics::record_quorum(result.is_ok());
        report(BatchOutcome {
            number,
            last_block: needed - 1,
            result,
            elapsed: started.elapsed(),
        });
        number += 1;
    }
}
