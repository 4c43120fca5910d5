//! Batch verification in the binary: the signature scheme the flags select, the batches a
//! main node asks its verifiers to sign, the verifier an external node runs, and the loop that
//! asks for a quorum every N blocks.

use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, U256, keccak256};
use alloy_sol_types::SolValue as _;
use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::watch;
use zks_api::wire::{VerifyBatch, VerifyBatchOutcome};
use zks_api::{BlockNumber, Node, Overrides, RawRecord, Verifier};
use zks_verifier::commit_abi::{CommitBatchInfoV31, StoredBatchInfo};
use zks_verifier::{
    AcceptedSigners, BatchSignatureScheme, Eip712CommitBatchesScheme, Quorum, QuorumConfig,
    QuorumError, Secp256k1BatchScheme, SigningVerifier, VerifierKey, collect_quorum,
};
use zks_wire::zksync_os::V3RecordBytes;

use crate::CliError;
use crate::chain_batch::{self, BatchRecords, ChainBatches};
use crate::store::{RecordFormat, RedbReplayStore, StoredRecord};

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

/// A record type the binary's main node can build batches of, and its verifiers check.
pub trait BatchSource: StoredRecord {
    /// The blocks of batch `number` (1-based) of `size` blocks in a store of `format`.
    fn batch_blocks(format: RecordFormat, number: u64, size: u64) -> RangeInclusive<BlockNumber>;

    /// The `VerifyBatch` of batch `number` of `size` blocks, which `store` holds, under
    /// `scheme`.
    ///
    /// # Errors
    ///
    /// When the batch cannot be built (the store fails, the scheme does not fit the records).
    fn build_batch(
        store: &RedbReplayStore<Self>,
        number: u64,
        size: u64,
        scheme: &BatchScheme,
    ) -> Result<VerifyBatch, String>;

    /// The verifier an external node or relay holding `store` runs, signing with `key` under
    /// `scheme`.
    ///
    /// # Errors
    ///
    /// When `scheme` cannot sign this chain's batches.
    fn verifier(
        key: VerifierKey,
        scheme: &BatchScheme,
        store: RedbReplayStore<Self>,
    ) -> Result<Arc<dyn Verifier>, String>;
}

/// Stand-in chains start at block 0, and their batches are [`BatchScheme::batch`]'s: the
/// records carry nothing a batch is made of.
impl BatchSource for RawRecord {
    fn batch_blocks(_: RecordFormat, number: u64, size: u64) -> RangeInclusive<BlockNumber> {
        let size = size.max(1);
        let first = number.saturating_sub(1).saturating_mul(size);
        first..=first.saturating_add(size - 1)
    }

    fn build_batch(
        _: &RedbReplayStore<Self>,
        number: u64,
        size: u64,
        scheme: &BatchScheme,
    ) -> Result<VerifyBatch, String> {
        Ok(scheme.batch(number, size.max(1)))
    }

    fn verifier(
        key: VerifierKey,
        scheme: &BatchScheme,
        _: RedbReplayStore<Self>,
    ) -> Result<Arc<dyn Verifier>, String> {
        Ok(Arc::new(signing_verifier(key, scheme)))
    }
}

/// v3 chains start at block 1, and their batches are upstream-shaped, built from the records
/// ([`chain_batch`]); they are signed under EIP-712 only.
impl BatchSource for V3RecordBytes {
    fn batch_blocks(_: RecordFormat, number: u64, size: u64) -> RangeInclusive<BlockNumber> {
        chain_batch::blocks(number, size)
    }

    fn build_batch(
        store: &RedbReplayStore<Self>,
        number: u64,
        size: u64,
        scheme: &BatchScheme,
    ) -> Result<VerifyBatch, String> {
        let chain = chain_of(store, scheme)?;
        let range = chain_batch::blocks(number, size);
        read_batch(store, *range.start(), *range.end())?.verify_batch(number, chain)
    }

    fn verifier(
        key: VerifierKey,
        scheme: &BatchScheme,
        store: RedbReplayStore<Self>,
    ) -> Result<Arc<dyn Verifier>, String> {
        Ok(Arc::new(ChainVerifier::new(key, scheme, store)?))
    }
}

/// The chain facts of a v3 store under an EIP-712 scheme.
fn chain_of(
    store: &RedbReplayStore<V3RecordBytes>,
    scheme: &BatchScheme,
) -> Result<ChainBatches, String> {
    let BatchScheme::Eip712(eip712) = scheme else {
        return Err("batches of a ZKsync OS chain are signed under EIP-712 only".to_owned());
    };
    Ok(ChainBatches {
        chain_id: store.format().chain_id().unwrap_or_default(),
        l1_chain_id: eip712.l1_chain_id(),
    })
}

/// Folds the stored records `first..=last` into a batch, 64 at a time (blocking).
///
/// # Errors
///
/// "Missing records for block N" (upstream's wording) when the store does not hold them, or
/// the store's error.
pub fn read_batch(
    store: &RedbReplayStore<V3RecordBytes>,
    first: BlockNumber,
    last: BlockNumber,
) -> Result<BatchRecords, String> {
    let mut batch = BatchRecords::default();
    let mut next = first;
    while next <= last {
        let want = usize::try_from((last - next + 1).min(64)).unwrap_or(64);
        let records = store
            .read_blocking(next, want, &Overrides::default())
            .map_err(|e| e.to_string())?;
        if records.is_empty() {
            return Err(format!("Missing records for block {next}"));
        }
        for record in records {
            let record = record
                .to_record()
                .map_err(|e| format!("our record of block {next}: {e}"))?;
            batch.add(&record)?;
            next += 1;
        }
    }
    Ok(batch)
}

/// A decision that approves: [`ChainVerifier`] decides before it signs.
type Approve = fn(&VerifyBatch) -> Result<(), String>;

/// The verifier of a v3 external node: for each batch it reads the batch's blocks from its
/// own store, checks the request against them ([`BatchRecords::check`]), and signs an approval
/// under EIP-712; anything else is refused with the reason.
#[derive(Debug)]
pub struct ChainVerifier {
    signer: SigningVerifier<Approve>,
    store: RedbReplayStore<V3RecordBytes>,
    chain: ChainBatches,
}

impl ChainVerifier {
    /// A verifier signing with `key` under `scheme` (EIP-712), checking against `store`.
    ///
    /// # Errors
    ///
    /// When `scheme` is not EIP-712.
    pub fn new(
        key: VerifierKey,
        scheme: &BatchScheme,
        store: RedbReplayStore<V3RecordBytes>,
    ) -> Result<Self, String> {
        let chain = chain_of(&store, scheme)?;
        let approve: Approve = |_| Ok(());
        Ok(Self {
            signer: SigningVerifier::with_scheme(key, scheme.scheme(), approve),
            store,
            chain,
        })
    }
}

#[async_trait]
impl Verifier for ChainVerifier {
    async fn verify(&self, request: &VerifyBatch) -> VerifyBatchOutcome {
        let (first, last) = (request.first_block_number, request.last_block_number);
        let checked = if first > last || first == 0 {
            Err(format!("invalid block range {first}..={last}"))
        } else if last - first >= chain_batch::MAX_BATCH_BLOCKS {
            Err(format!(
                "a batch of {} blocks is more than this verifier reads ({})",
                last - first + 1,
                chain_batch::MAX_BATCH_BLOCKS
            ))
        } else {
            let store = self.store.clone();
            tokio::task::spawn_blocking(move || read_batch(&store, first, last))
                .await
                .unwrap_or_else(|e| Err(format!("reading the batch failed: {e}")))
                .and_then(|records| records.check(request, self.chain))
        };
        match checked {
            Ok(()) => self.signer.decide(request),
            Err(reason) => {
                tracing::info!(batch = request.batch_number, %reason, "refusing a batch");
                refused(reason)
            }
        }
    }
}

/// A refusal with `reason`, cut to what a `VerifyBatchResult` carries.
fn refused(mut reason: String) -> VerifyBatchOutcome {
    let max = zks_api::wire::limits::MAX_REASON_BYTES;
    if reason.len() > max {
        let mut end = max;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    VerifyBatchOutcome::Refused { reason }
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
    /// How long one batch's quorum is sought before the loop gives up on it and goes on to
    /// the next; `None` asks until the quorum comes, as upstream's main node does.
    pub quorum_timeout: Option<Duration>,
}

/// How long a verifier has to answer one attempt, and the wait before the next attempt under
/// a fresh request id: upstream's defaults (`request_timeout`, `retry_delay`).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
const RETRY_DELAY: Duration = Duration::from_secs(1);

/// Every time the chain grows by `plan.size` blocks, asks the verifiers for a quorum on the
/// new batch (one at a time, in order, built and checked under `plan.scheme`) and reports each
/// outcome through `report`; returns when `stop` turns true and the batches for blocks stored
/// by then are done — or at once, when `stop` turns true while a batch without a quorum
/// timeout is still asked for.
pub async fn batch_loop<R: BatchSource>(
    node: Arc<Node>,
    store: RedbReplayStore<R>,
    plan: BatchPlan,
    mut stop: watch::Receiver<bool>,
    mut report: impl FnMut(BatchOutcome) + Send,
) {
    let BatchPlan {
        signers,
        threshold,
        size,
        scheme,
        quorum_timeout,
    } = plan;
    let checker = scheme.scheme();
    let size = size.max(1);
    let format = store.format();
    let mut heads = store.subscribe();
    // The first batch whose last block is not stored yet.
    let mut number = 1;
    while *R::batch_blocks(format, number, size).end() < store.next_block() {
        number += 1;
    }
    loop {
        let last = *R::batch_blocks(format, number, size).end();
        if *heads.borrow_and_update() <= last {
            if *stop.borrow() {
                return;
            }
            tokio::select! {
                changed = heads.changed() => if changed.is_err() { return },
                _ = stop.wait_for(|s| *s) => {}
            }
            continue;
        }
        let batch = {
            let store = store.clone();
            let scheme = scheme.clone();
            tokio::task::spawn_blocking(move || R::build_batch(&store, number, size, &scheme))
                .await
                .unwrap_or_else(|e| Err(format!("building the batch failed: {e}")))
        };
        let batch = match batch {
            Ok(batch) => batch,
            Err(error) => {
                tracing::error!(batch = number, %error, "cannot build the batch; no more batches are verified");
                return;
            }
        };
        let config = QuorumConfig::new(signers.iter().copied(), threshold)
            .with_request_timeout(REQUEST_TIMEOUT)
            .with_retry_delay(RETRY_DELAY);
        let config = match quorum_timeout {
            Some(timeout) => config.with_total_timeout(timeout),
            None => config.without_total_timeout(),
        };
        let started = tokio::time::Instant::now();
        crate::metrics::record_quorum_waiting(Some(std::time::SystemTime::now()));
        let result = tokio::select! {
            result = collect_quorum(&node, batch, config, &*checker) => result,
            _ = stop.wait_for(|s| *s), if quorum_timeout.is_none() => return,
        };
        crate::metrics::record_quorum_waiting(None);
        crate::metrics::record_quorum(result.is_ok());
        report(BatchOutcome {
            number,
            last_block: last,
            result,
            elapsed: started.elapsed(),
        });
        number += 1;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use zks_api::Verifier as _;
    use zks_api::wire::VerifyBatchOutcome;

    use super::*;

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
