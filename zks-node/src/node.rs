//! Building blocks of the node commands and the demo: starting a main or external node over
//! devp2p on a [`RedbReplayStore`], the synthetic block producer, and the batch loop that asks
//! verifiers for a quorum every N blocks.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy_primitives::{Address, U256, keccak256};
use alloy_sol_types::SolValue as _;
use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::watch;
use zks_api::wire::VerifyBatch;
use zks_api::{BlockNumber, Node, RawRecord, Role, SignerAddress};
use zks_api::{Overrides, ReplayRecord as _, ReplaySink, ReplaySource, SinkError, SourceError};
use zks_devp2p::eth::ChainIdentity;
use zks_devp2p::{Devp2pConfig, Devp2pTransport, Enode, NodeKey, NodeKeyError};
use zks_verifier::commit_abi::{CommitBatchInfoV31, StoredBatchInfo};
use zks_verifier::{
    AcceptedSigners, BatchSignatureScheme, Eip712CommitBatchesScheme, Quorum, QuorumConfig,
    QuorumError, Secp256k1BatchScheme, SigningVerifier, VerifierKey, collect_quorum,
};

use crate::store::{RedbReplayStore, StoreError};

/// The client id we announce in Hello.
pub const CLIENT_ID: &str = concat!("zks/v", env!("CARGO_PKG_VERSION"));

/// A user-facing error: one line.
pub type CliError = String;

/// The node key's file name inside a data directory (when no `--key` is given).
pub const NODE_KEY_FILE: &str = "node.key";

/// Loads the node key file the user named (`--key`); never creates it.
///
/// # Errors
///
/// One line naming the file.
pub fn load_key_file(path: &Path) -> Result<NodeKey, CliError> {
    if !path.exists() {
        return Err(format!("node key file {} does not exist", path.display()));
    }
    NodeKey::load(path).map_err(|e| match e {
        NodeKeyError::Io { .. } => format!("cannot load node key: {e}"),
        e => format!("cannot load node key {}: {e}", path.display()),
    })
}

/// Loads `<data>/node.key`, or creates it crash-safely (complete or absent after any kill).
///
/// An empty file — what an older version's interrupted first start could leave — held no key
/// yet (no node ever ran with it), so it is replaced by a new key, with a warning. A file with
/// any other content that is not a key is an error: it might be a damaged identity, and is left
/// as it is. Temporary files of an interrupted creation are removed first; call this only while
/// holding the data dir's store, so no other process is creating the key.
///
/// # Errors
///
/// One line naming the file.
pub fn data_dir_node_key(data: &Path) -> Result<NodeKey, CliError> {
    let path = data.join(NODE_KEY_FILE);
    match crate::files::remove_stale_temps(data, NODE_KEY_FILE) {
        Ok(removed) => {
            for temp in removed {
                tracing::info!(file = %temp.display(), "removed a temporary file left by an interrupted start");
            }
        }
        Err(e) => {
            tracing::warn!(dir = %data.display(), error = %e, "cannot remove leftover temporary key files")
        }
    }
    let write_error = |e: std::io::Error| format!("cannot write node key {}: {e}", path.display());
    // Twice at most: another creator may win the race to create the file.
    for _ in 0..2 {
        match std::fs::read(&path) {
            Ok(bytes) if bytes.is_empty() => {
                tracing::warn!(
                    file = %path.display(),
                    "the node key file is empty (an interrupted first start left it); \
                     generating a new node key"
                );
                let key = NodeKey::generate();
                crate::files::replace(&path, key_text(&key).as_bytes(), true)
                    .map_err(write_error)?;
                return Ok(key);
            }
            Ok(bytes) => {
                let parsed = match std::str::from_utf8(&bytes) {
                    Ok(text) => NodeKey::from_hex(text),
                    Err(_) => Err(NodeKeyError::NotHex),
                };
                return parsed.map_err(|e| format!("cannot load node key {}: {e}", path.display()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = NodeKey::generate();
                match crate::files::create_new(&path, key_text(&key).as_bytes(), true) {
                    Ok(()) => {
                        tracing::info!(file = %path.display(), id = %key.id(), "generated a new node key");
                        return Ok(key);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(write_error(e)),
                }
            }
            Err(e) => return Err(format!("cannot read node key {}: {e}", path.display())),
        }
    }
    Err(format!(
        "cannot load node key {}: it keeps changing under us",
        path.display()
    ))
}

/// A key file's content: the hex secret and a newline.
fn key_text(key: &NodeKey) -> String {
    format!("{}\n", key.to_hex())
}

/// The node's listen address, bound before the node creates any file and held until the
/// transport binds it: a busy port (or an address not on this host) is reported before the
/// data dir is touched.
///
/// The transport binds its own socket, so the reservation is released just before the node
/// starts ([`release`](Self::release)); between the two, another process could take the port,
/// and the node's start then fails with the same message.
#[derive(Debug)]
pub struct PortReservation {
    addr: SocketAddr,
    listener: Option<std::net::TcpListener>,
}

impl PortReservation {
    /// Binds `addr`.
    ///
    /// # Errors
    ///
    /// `cannot listen on ADDR: REASON`.
    pub fn bind(addr: SocketAddr) -> Result<Self, CliError> {
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        Ok(Self {
            addr,
            listener: Some(listener),
        })
    }

    /// The address asked for.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Frees the port for the transport.
    pub fn release(mut self) {
        drop(self.listener.take());
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
/// `key` under `scheme`.
pub fn signing_verifier(
    key: VerifierKey,
    scheme: &BatchScheme,
) -> SigningVerifier<impl Fn(&VerifyBatch) -> Result<(), String> + Send + Sync + 'static> {
    SigningVerifier::with_scheme(key, scheme.scheme(), |batch: &VerifyBatch| {
        if batch.commit_data.is_empty() {
            Err("empty commit data".to_owned())
        } else {
            Ok(())
        }
    })
}

/// The batch signature scheme a node signs (external node) or checks (main node) approvals
/// under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BatchScheme {
    /// [`Secp256k1BatchScheme`], our own: the default.
    Zks,
    /// Upstream's EIP-712 `CommitBatchesMultisig` signature, with its domain.
    Eip712(Eip712CommitBatchesScheme),
}

/// The flags naming the EIP-712 domain, for messages.
const EIP712_FLAGS: [&str; 3] = ["--l1-chain-id", "--validator-timelock", "--chain-address"];

impl BatchScheme {
    /// The scheme the flags select: EIP-712 with all three values, ours with none.
    ///
    /// # Errors
    ///
    /// One line naming the flags when only some are given, or naming the flag whose value is
    /// invalid.
    pub fn from_flags(
        l1_chain_id: Option<u64>,
        validator_timelock: Option<&str>,
        chain_address: Option<&str>,
    ) -> Result<Self, CliError> {
        let given = [
            l1_chain_id.is_some(),
            validator_timelock.is_some(),
            chain_address.is_some(),
        ];
        let (Some(l1_chain_id), Some(timelock), Some(chain)) =
            (l1_chain_id, validator_timelock, chain_address)
        else {
            if given.iter().all(|g| !g) {
                return Ok(Self::Zks);
            }
            let missing: Vec<_> = EIP712_FLAGS
                .iter()
                .zip(given)
                .filter(|(_, g)| !g)
                .map(|(flag, _)| *flag)
                .collect();
            return Err(format!(
                "EIP-712 batch signatures need {} together; missing {}",
                EIP712_FLAGS.join(", "),
                missing.join(" and ")
            ));
        };
        if l1_chain_id == 0 {
            return Err("--l1-chain-id must not be 0".to_owned());
        }
        let timelock = parse_contract_address("--validator-timelock", timelock)?;
        let chain = parse_contract_address("--chain-address", chain)?;
        Ok(Self::Eip712(Eip712CommitBatchesScheme::new(
            l1_chain_id,
            timelock,
            chain,
        )))
    }

    /// The scheme, to sign or check with.
    pub fn scheme(&self) -> Arc<dyn BatchSignatureScheme> {
        match self {
            Self::Zks => Arc::new(Secp256k1BatchScheme),
            Self::Eip712(scheme) => Arc::new(scheme.clone()),
        }
    }

    /// Says at start-up (INFO) which scheme is active, with the EIP-712 domain's values.
    pub fn log(&self) {
        match self {
            Self::Zks => tracing::info!(
                scheme = "zks",
                "batch signatures: our own scheme (secp256k1 over keccak256 of the \
                 zksync-os:verify-batch:v1 encoding); give --l1-chain-id, \
                 --validator-timelock and --chain-address for upstream's EIP-712 signatures"
            ),
            Self::Eip712(scheme) => {
                let domain = scheme.domain();
                tracing::info!(
                    scheme = "eip712",
                    name = Eip712CommitBatchesScheme::DOMAIN_NAME,
                    version = Eip712CommitBatchesScheme::DOMAIN_VERSION,
                    l1_chain_id = %domain.chain_id.unwrap_or_default(),
                    validator_timelock = %domain.verifying_contract.unwrap_or_default(),
                    chain_address = %scheme.chain_address(),
                    domain_separator = %format!("0x{}", hex::encode(scheme.domain_separator())),
                    "batch signatures: EIP-712 CommitBatchesMultisig"
                );
            }
        }
    }

    /// The `VerifyBatch` for batch `number` (1-based) of `size` synthetic blocks, in the form
    /// the scheme can digest: opaque commit data for ours, ABI-encoded protocol-31
    /// `CommitBatchInfo` and `StoredBatchInfo` for EIP-712.
    pub fn batch(&self, number: u64, size: u64) -> VerifyBatch {
        match self {
            Self::Zks => batch(number, size),
            Self::Eip712(_) => eip712_batch(number, size),
        }
    }
}

/// Parses a contract address (`0x` + 40 hex digits; a mixed-case one must carry a valid
/// EIP-55 checksum) given to `flag`; the zero address is refused.
///
/// # Errors
///
/// One line naming the flag and the text.
pub fn parse_contract_address(flag: &str, text: &str) -> Result<Address, CliError> {
    let bad = |why: &str| format!("invalid {flag} {text:?}: {why}");
    let digits = text.strip_prefix("0x").unwrap_or(text);
    let mut bytes = [0u8; 20];
    hex::decode_to_slice(digits, &mut bytes).map_err(|_| bad("want 0x + 40 hex digits"))?;
    let address = Address::from(bytes);
    let mixed = digits.bytes().any(|b| b.is_ascii_uppercase())
        && digits.bytes().any(|b| b.is_ascii_lowercase());
    if mixed && Address::parse_checksummed(format!("0x{digits}"), None).is_err() {
        return Err(bad(&format!(
            "EIP-55 checksum mismatch (the checksummed form is {})",
            address.to_checksum(None)
        )));
    }
    if address.is_zero() {
        return Err(bad("the zero address"));
    }
    Ok(address)
}

/// Batch `number` as ABI-encoded protocol-31 structs, so the EIP-712 scheme can digest it:
/// the commit info names its blocks, the previous batch is `number - 1`.
fn eip712_batch(number: u64, size: u64) -> VerifyBatch {
    let plain = batch(number, size);
    let commit = CommitBatchInfoV31 {
        batchNumber: number,
        newStateCommitment: keccak256(&plain.commit_data),
        numberOfLayer2Txs: U256::from(size),
        firstBlockNumber: plain.first_block_number,
        lastBlockNumber: plain.last_block_number,
        ..Default::default()
    };
    let prev = StoredBatchInfo {
        batchNumber: number - 1,
        ..Default::default()
    };
    VerifyBatch {
        commit_data: Bytes::from(commit.abi_encode()),
        prev_commit_data: Bytes::from(prev.abi_encode()),
        execution_protocol_version: 31,
        ..plain
    }
}

/// A sink that applies blocks up to `last` and refuses every block after it, for
/// `--exit-at-block`: records past `last` are never applied.
///
/// Records arrive in batches that need not end at `last`; a batch that crosses it has its part
/// up to `last` applied (one atomic apply of the inner sink) and the rest refused with a
/// [`SinkError`], which ends the link (the node is about to stop anyway).
#[derive(Clone, Debug)]
pub struct StopAfter<S> {
    inner: S,
    last: BlockNumber,
}

/// Why [`StopAfter`] refused records.
#[derive(Debug, thiserror::Error)]
#[error(
    "--exit-at-block {last}: not applying blocks {first}..={end} (stopping after block {last})"
)]
pub struct StoppedAt {
    /// The last block applied.
    pub last: BlockNumber,
    /// The first block refused.
    pub first: BlockNumber,
    /// The last block refused.
    pub end: BlockNumber,
}

impl<S> StopAfter<S> {
    /// `inner`, applying nothing after block `last`.
    pub fn new(inner: S, last: BlockNumber) -> Self {
        Self { inner, last }
    }
}

#[async_trait]
impl<S: ReplaySink> ReplaySink for StopAfter<S> {
    type Record = S::Record;

    fn next_block(&self) -> BlockNumber {
        self.inner.next_block()
    }

    async fn apply(&self, mut records: Vec<S::Record>) -> Result<(), SinkError> {
        let keep = records
            .iter()
            .take_while(|r| r.block_number() <= self.last)
            .count();
        let refused = records.split_off(keep);
        if !records.is_empty() {
            self.inner.apply(records).await?;
        }
        match (refused.first(), refused.last()) {
            (Some(first), Some(end)) => Err(SinkError::new(StoppedAt {
                last: self.last,
                first: first.block_number(),
                end: end.block_number(),
            })),
            _ => Ok(()),
        }
    }
}

/// A relay serves what it applied: reads go to the store as they are.
#[async_trait]
impl<S: ReplaySource> ReplaySource for StopAfter<S> {
    type Record = S::Record;

    fn next_block(&self) -> BlockNumber {
        self.inner.next_block()
    }

    async fn read(
        &self,
        from: BlockNumber,
        max: usize,
        overrides: &Overrides,
    ) -> Result<Vec<S::Record>, SourceError> {
        self.inner.read(from, max, overrides).await
    }

    async fn wait_for(&self, block: BlockNumber) {
        self.inner.wait_for(block).await;
    }

    fn holds_overrides(&self, overrides: &Overrides) -> bool {
        self.inner.holds_overrides(overrides)
    }
}

/// Microseconds since the Unix epoch.
pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// What a produced block's record carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Payload {
    /// 128 bytes: the production time, the block number, filler.
    #[default]
    Small,
    /// The production time and block number, then an encoded ZKsync OS v3 record of the block
    /// (256 block hashes, two 120-byte transactions: about 9 KiB), so the bytes on the wire are
    /// as large as a current upstream main node's.
    ZksyncOs,
}

impl Payload {
    /// The payload of `block`, produced at `produced_at` (µs since the epoch).
    pub fn of(self, block: BlockNumber, produced_at: u64) -> Bytes {
        match self {
            Self::Small => synthetic_payload(block, produced_at),
            Self::ZksyncOs => {
                use zks_api::ReplayRecord;
                let record = zks_wire::zksync_os::V3Record::synthetic(block, 2, 120);
                let mut out = Vec::with_capacity(16 + record.encoded_len());
                out.extend_from_slice(&produced_at.to_be_bytes());
                out.extend_from_slice(&block.to_be_bytes());
                record.encode(zks_api::wire::ZksVersion::V5, &mut out);
                Bytes::from(out)
            }
        }
    }
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
    payload: Payload,
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
            .map(|b| RawRecord::new(b, payload.of(b, now)))
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

/// What [`batch_loop`] asks for.
#[derive(Clone, Debug)]
pub struct BatchPlan {
    /// The verifiers whose signatures count.
    pub signers: AcceptedSigners,
    /// Signatures needed per batch.
    pub threshold: usize,
    /// Blocks per batch.
    pub size: u64,
    /// How batches are built and their signatures checked.
    pub scheme: BatchScheme,
}

/// Every time the chain grows by `plan.size` blocks, asks the verifiers for a quorum on the
/// new batch (one at a time, in order, built and checked under `plan.scheme`) and reports each
/// outcome through `report`; returns when `stop` turns true and the batches for blocks stored
/// by then are done.
pub async fn batch_loop(
    node: Arc<Node>,
    store: RedbReplayStore,
    plan: BatchPlan,
    mut stop: watch::Receiver<bool>,
    mut report: impl FnMut(BatchOutcome) + Send,
) {
    let BatchPlan {
        signers,
        threshold,
        size,
        scheme,
    } = plan;
    let checker = scheme.scheme();
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
        let result = collect_quorum(&node, scheme.batch(number, size), config, &*checker).await;
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::fs;

    use zks_api::Verifier as _;
    use zks_api::wire::VerifyBatchOutcome;

    use super::*;
    use crate::files::tests::names;

    // --- the node key ---

    #[test]
    fn a_missing_node_key_is_created_complete_and_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let key = data_dir_node_key(dir.path()).unwrap();
        let path = dir.path().join(NODE_KEY_FILE);
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!("{}\n", key.to_hex())
        );
        assert_eq!(names(dir.path()), [NODE_KEY_FILE]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        assert_eq!(data_dir_node_key(dir.path()).unwrap().id(), key.id());
    }

    #[test]
    fn an_empty_node_key_left_by_a_kill_is_replaced_by_a_new_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(NODE_KEY_FILE);
        fs::write(&path, b"").unwrap();
        let key = data_dir_node_key(dir.path()).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!("{}\n", key.to_hex())
        );
        assert_eq!(names(dir.path()), [NODE_KEY_FILE]);
        assert_eq!(data_dir_node_key(dir.path()).unwrap().id(), key.id());
    }

    #[test]
    fn a_damaged_node_key_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(NODE_KEY_FILE);
        fs::write(&path, b"abc\n").unwrap();
        assert_eq!(
            data_dir_node_key(dir.path()).unwrap_err(),
            format!(
                "cannot load node key {}: secret key must be 64 hex characters, got 3",
                path.display()
            )
        );
        assert_eq!(fs::read(&path).unwrap(), b"abc\n");
        // Not even text.
        fs::write(&path, [0xff; 64]).unwrap();
        assert_eq!(
            data_dir_node_key(dir.path()).unwrap_err(),
            format!(
                "cannot load node key {}: secret key is not hex",
                path.display()
            )
        );
        assert_eq!(fs::read(&path).unwrap(), [0xff; 64]);
    }

    #[test]
    fn leftover_temporary_key_files_are_removed_and_never_read() {
        let dir = tempfile::tempdir().unwrap();
        let leftover = dir.path().join(".node.key.tmp-77-00000000000000aa");
        fs::write(&leftover, b"half a ke").unwrap();
        let key = data_dir_node_key(dir.path()).unwrap();
        assert!(!leftover.exists());
        assert_eq!(names(dir.path()), [NODE_KEY_FILE]);
        assert_eq!(
            NodeKey::load(dir.path().join(NODE_KEY_FILE)).unwrap().id(),
            key.id()
        );
    }

    #[test]
    fn a_named_key_file_must_exist_and_parse() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mn.key");
        assert_eq!(
            load_key_file(&path).unwrap_err(),
            format!("node key file {} does not exist", path.display())
        );
        fs::write(&path, b"").unwrap();
        assert_eq!(
            load_key_file(&path).unwrap_err(),
            format!(
                "cannot load node key {}: secret key must be 64 hex characters, got 0",
                path.display()
            )
        );
        // Never replaced: the user's file is the user's.
        assert_eq!(fs::read(&path).unwrap(), b"");
    }

    // --- the port ---

    #[test]
    fn a_busy_port_is_reported_with_its_address() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let err = PortReservation::bind(addr).unwrap_err();
        assert!(
            err.starts_with(&format!("cannot listen on {addr}: ")),
            "{err}"
        );
        assert!(err.to_lowercase().contains("in use"), "{err}");
        drop(taken);
        // Held until released, then free for the transport.
        let reserved = PortReservation::bind(addr).unwrap();
        assert!(std::net::TcpListener::bind(addr).is_err());
        reserved.release();
        drop(std::net::TcpListener::bind(addr).unwrap());
    }

    // --- --exit-at-block ---

    fn records(range: std::ops::Range<u64>) -> Vec<RawRecord> {
        range.map(|b| RawRecord::new(b, format!("b{b}"))).collect()
    }

    #[tokio::test]
    async fn stop_after_applies_up_to_the_last_block_and_refuses_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbReplayStore::open(dir.path(), Role::ExternalNode).unwrap();
        let sink = StopAfter::new(store.clone(), 5);
        sink.apply(records(0..3)).await.unwrap();
        assert_eq!(store.next_block(), 3);
        // A batch across the boundary: 3..=5 applied, 6..=9 refused.
        let err = sink.apply(records(3..10)).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "--exit-at-block 5: not applying blocks 6..=9 (stopping after block 5)"
        );
        assert_eq!(store.next_block(), 6);
        assert_eq!(ReplaySink::next_block(&sink), 6);
        // A batch wholly past it: nothing applied.
        let err = sink.apply(records(6..8)).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "--exit-at-block 5: not applying blocks 6..=7 (stopping after block 5)"
        );
        assert_eq!(store.summary().unwrap().last, Some(5));
    }

    #[tokio::test]
    async fn stop_after_the_last_possible_block_applies_everything() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbReplayStore::open(dir.path(), Role::ExternalNode).unwrap();
        let sink = StopAfter::new(store.clone(), BlockNumber::MAX);
        sink.apply(records(0..100)).await.unwrap();
        assert_eq!(store.next_block(), 100);
    }

    // --- batch signature schemes ---

    const TIMELOCK: &str = "0x1111111111111111111111111111111111111111";
    const CHAIN: &str = "0x2222222222222222222222222222222222222222";

    #[test]
    fn no_eip712_flag_selects_our_scheme() {
        assert_eq!(
            BatchScheme::from_flags(None, None, None).unwrap(),
            BatchScheme::Zks
        );
        // Its batches are the plain ones.
        assert_eq!(BatchScheme::Zks.batch(3, 10), batch(3, 10));
    }

    #[test]
    fn all_three_eip712_flags_select_that_domain() {
        let scheme = BatchScheme::from_flags(Some(324), Some(TIMELOCK), Some(CHAIN)).unwrap();
        let expected = Eip712CommitBatchesScheme::new(324, [0x11; 20], [0x22; 20]);
        assert_eq!(scheme, BatchScheme::Eip712(expected.clone()));
        // The scheme handed out is that one: same digest.
        let b = scheme.batch(1, 10);
        assert_eq!(scheme.scheme().digest(&b), expected.digest(&b));
        // Ours cannot digest-compare equal to it.
        assert_ne!(
            BatchScheme::Zks.scheme().digest(&b).unwrap(),
            expected.digest(&b).unwrap()
        );
    }

    #[test]
    fn some_eip712_flags_without_the_others_are_an_error_naming_the_missing() {
        let cases = [
            (
                (Some(1), None, None),
                "missing --validator-timelock and --chain-address",
            ),
            (
                (None, Some(TIMELOCK), None),
                "missing --l1-chain-id and --chain-address",
            ),
            (
                (None, None, Some(CHAIN)),
                "missing --l1-chain-id and --validator-timelock",
            ),
            ((Some(1), Some(TIMELOCK), None), "missing --chain-address"),
            ((None, Some(TIMELOCK), Some(CHAIN)), "missing --l1-chain-id"),
        ];
        for ((l1, timelock, chain), missing) in cases {
            assert_eq!(
                BatchScheme::from_flags(l1, timelock, chain).unwrap_err(),
                format!(
                    "EIP-712 batch signatures need --l1-chain-id, --validator-timelock, \
                     --chain-address together; {missing}"
                )
            );
        }
    }

    #[test]
    fn eip712_flag_values_are_checked() {
        let err = |l1, timelock, chain| {
            BatchScheme::from_flags(Some(l1), Some(timelock), Some(chain)).unwrap_err()
        };
        assert_eq!(err(0, TIMELOCK, CHAIN), "--l1-chain-id must not be 0");
        assert_eq!(
            err(1, "0x1234", CHAIN),
            "invalid --validator-timelock \"0x1234\": want 0x + 40 hex digits"
        );
        assert_eq!(
            err(1, TIMELOCK, "0x000000000000000000000000000000000000000g"),
            "invalid --chain-address \"0x000000000000000000000000000000000000000g\": want 0x + 40 hex digits"
        );
        assert_eq!(
            err(1, TIMELOCK, "0x0000000000000000000000000000000000000000"),
            "invalid --chain-address \"0x0000000000000000000000000000000000000000\": the zero address"
        );
        // EIP-55: the checksummed form is accepted, a mixed-case typo is not.
        let good = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
        assert!(parse_contract_address("--chain-address", good).is_ok());
        assert!(parse_contract_address("--chain-address", &good.to_lowercase()).is_ok());
        let typo = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD";
        assert_eq!(
            err(1, TIMELOCK, typo),
            format!(
                "invalid --chain-address \"{typo}\": EIP-55 checksum mismatch (the checksummed \
                 form is {good})"
            )
        );
    }

    #[tokio::test]
    async fn an_eip712_verifier_signs_what_an_eip712_main_node_counts_and_only_that() {
        let scheme = BatchScheme::from_flags(Some(9), Some(TIMELOCK), Some(CHAIN)).unwrap();
        let key = VerifierKey::generate();
        let verifier = signing_verifier(key.clone(), &scheme);
        let batch = scheme.batch(4, 25);
        assert_eq!(
            (
                batch.first_block_number,
                batch.last_block_number,
                batch.execution_protocol_version
            ),
            (75, 99, 31)
        );
        let VerifyBatchOutcome::Approved { signature } = verifier.verify(&batch).await else {
            panic!("refused");
        };
        assert_eq!(
            scheme.scheme().recover(&batch, &signature),
            Ok(key.address())
        );
        // Another domain (another chain address) recovers someone else: not counted.
        let other = BatchScheme::from_flags(Some(9), Some(TIMELOCK), Some(TIMELOCK)).unwrap();
        assert_ne!(
            other.scheme().recover(&batch, &signature),
            Ok(key.address())
        );
        // Our scheme's plain batches do not decode under EIP-712: the verifier refuses them.
        let VerifyBatchOutcome::Refused { reason } =
            verifier.verify(&BatchScheme::Zks.batch(4, 25)).await
        else {
            panic!("approved");
        };
        assert_eq!(
            reason,
            "unsupported protocol minor 1: commit data is defined for minors 29 to 32"
        );
    }
}
