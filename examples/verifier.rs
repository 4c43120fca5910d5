//! A batch verifier of your own, signing upstream's EIP-712 `CommitBatchesMultisig`, and a main
//! node that collects a threshold of signatures for each batch.
//!
//! Everything runs in one process over `zks-memnet`, the in-memory transport CI uses; in
//! production only the transport changes (`zks-devp2p`). The main node accepts the addresses of
//! `--verifiers` keys and needs `--threshold` of their signatures per batch. Each verifier is
//! an external node that authenticates with its secp256k1 key, replays the chain, and answers a
//! batch only after checking its commit data against the blocks it replayed itself.
//!
//! ```text
//! cargo run -p zks-examples --bin verifier -- --verifiers 3 --threshold 2 --batches 2
//! ```
//!
//! What to copy: `ChainChecker`, an `impl zks_api::Verifier`. It decodes the batch's commit
//! data (protocol minor 31), compares it with its own chain, and signs approvals with
//! `Eip712CommitBatchesScheme`, built from the three values both sides read from L1: the L1
//! chain id, the validator timelock and the chain's diamond proxy. Refusals carry a reason the
//! main node records.
//!
//! Dependencies: `zks-api` (feature `test-utils` for `MemoryReplayStore`), `zks-memnet`,
//! `zks-verifier`, `alloy-primitives`, `alloy-sol-types`, `tokio`, `anyhow`, `clap`.

use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::U256;
use alloy_sol_types::SolValue as _;
use anyhow::{Context as _, bail};
use clap::Parser;
use zks_api::wire::{VerifyBatch, VerifyBatchOutcome};
use zks_api::{BlockNumber, MemoryReplayStore, Node, RawRecord, Verifier, async_trait};
use zks_memnet::MemNet;
use zks_verifier::commit_abi::{CommitBatchInfoV31, StoredBatchInfo};
use zks_verifier::{
    AcceptedSigners, BatchSignatureScheme as _, Eip712CommitBatchesScheme, QuorumConfig,
    VerifierKey, collect_quorum,
};

/// The L2 chain the batches belong to.
const CHAIN_ID: u64 = 270;
/// The L1 chain id, validator timelock and diamond proxy: in production, read from L1.
const L1_CHAIN_ID: u64 = 11_155_111;
const VALIDATOR_TIMELOCK: [u8; 20] = [0x7a; 20];
const DIAMOND_PROXY: [u8; 20] = [0xd1; 20];
/// The protocol minor whose commit struct (`CommitBatchInfoV31`) the batches carry.
const PROTOCOL_MINOR: u16 = 31;

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(about = "Verifier external nodes signing EIP-712 batch approvals for a main node")]
struct Args {
    /// Verifier external nodes to start.
    #[arg(long, default_value_t = 3)]
    verifiers: usize,
    /// Signatures the main node needs per batch.
    #[arg(long, default_value_t = 2)]
    threshold: usize,
    /// Batches to verify.
    #[arg(long, default_value_t = 2)]
    batches: u64,
    /// Blocks per batch.
    #[arg(long, default_value_t = 10)]
    batch_size: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !(1..=args.verifiers).contains(&args.threshold) {
        bail!(
            "--threshold must be between 1 and --verifiers ({})",
            args.verifiers
        );
    }
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let scheme = Eip712CommitBatchesScheme::new(L1_CHAIN_ID, VALIDATOR_TIMELOCK, DIAMOND_PROXY);
    let net = MemNet::new();

    // The verifier keys; the main node accepts their addresses.
    let keys: Vec<VerifierKey> = (0..args.verifiers)
        .map(|_| VerifierKey::generate())
        .collect();
    let signers: AcceptedSigners = keys.iter().map(VerifierKey::address).collect();
    for key in &keys {
        println!("verifier {}", key.address());
    }

    let chain = Arc::new(MemoryReplayStore::new());
    let mn = Node::builder(net.node("mn"))
        .main_node(Arc::clone(&chain))
        .verifier_authenticator(signers.clone())
        .start()
        .await?;

    let mut verifiers = Vec::new();
    for (i, key) in keys.into_iter().enumerate() {
        let replica = Arc::new(MemoryReplayStore::new());
        let checker = ChainChecker {
            key: key.clone(),
            scheme: scheme.clone(),
            chain: Arc::clone(&replica),
        };
        let node = Node::builder(net.node(&format!("verifier-{i}")))
            .external_node(replica)
            .trusted_main_node("mn")
            // Authenticates with `key` (the engine's `ChallengeSigner`), answers with `checker`.
            .verifier(key, checker)
            .start()
            .await?;
        verifiers.push(node);
    }

    for number in 1..=args.batches {
        let first = (number - 1) * args.batch_size;
        let last = number * args.batch_size - 1;
        chain.extend((first..=last).map(block))?;
        let batch = batch(number, first, last);
        let config = QuorumConfig::new(signers.iter().copied(), args.threshold)
            .with_total_timeout(Duration::from_secs(30));
        // Sent to every authorized verifier that has been sent the batch's last block.
        let quorum = collect_quorum(&mn, batch, config, &scheme)
            .await
            .with_context(|| format!("batch {number} did not reach its threshold"))?;
        println!(
            "batch {number} (blocks {first}..={last}): threshold {} reached, digest 0x{}",
            args.threshold,
            hex(&quorum.digest)
        );
        for (signer, signature) in &quorum.signatures {
            // The collector counted only signatures that recover to an accepted signer; a
            // main node submitting them to L1 may check again.
            let recovered = scheme.recover(&quorum.batch, signature)?;
            println!("  signed by {signer} (recovers to {recovered})");
        }
        for (signer, reason) in &quorum.tally.refused {
            println!("  refused by {signer}: {reason}");
        }
    }

    for node in verifiers {
        node.shutdown().await;
    }
    mn.shutdown().await;
    Ok(())
}

/// Block `number`: its payload is its timestamp (8 bytes, big-endian).
fn block(number: BlockNumber) -> RawRecord {
    RawRecord::new(number, timestamp(number).to_be_bytes().to_vec())
}

fn timestamp(number: BlockNumber) -> u64 {
    1_700_000_000 + number
}

/// The `VerifyBatch` of batch `number` over blocks `first..=last`, as a sequencer commits it.
fn batch(number: u64, first: BlockNumber, last: BlockNumber) -> VerifyBatch {
    let commit = CommitBatchInfoV31 {
        batchNumber: number,
        firstBlockNumber: first,
        lastBlockNumber: last,
        firstBlockTimestamp: timestamp(first),
        lastBlockTimestamp: timestamp(last),
        chainId: U256::from(CHAIN_ID),
        ..CommitBatchInfoV31::default()
    };
    let previous = StoredBatchInfo {
        batchNumber: number - 1,
        ..StoredBatchInfo::default()
    };
    VerifyBatch {
        batch_number: number,
        first_block_number: first,
        last_block_number: last,
        commit_data: commit.abi_encode().into(),
        prev_commit_data: previous.abi_encode().into(),
        execution_protocol_version: PROTOCOL_MINOR,
        ..VerifyBatch::default()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The team's verifier: approves a batch whose commit data matches the chain it replayed,
/// signing the EIP-712 digest with its key.
#[derive(Debug)]
struct ChainChecker {
    key: VerifierKey,
    scheme: Eip712CommitBatchesScheme,
    /// The external node's own store (the engine calls `verify` only once it holds the
    /// batch's last block).
    chain: Arc<MemoryReplayStore>,
}

impl ChainChecker {
    fn check(&self, request: &VerifyBatch) -> Result<(), String> {
        if request.execution_protocol_version != PROTOCOL_MINOR {
            return Err(format!(
                "protocol minor {} is not supported",
                request.execution_protocol_version
            ));
        }
        let commit = CommitBatchInfoV31::abi_decode(&request.commit_data)
            .map_err(|e| format!("commit data does not decode: {e}"))?;
        if commit.batchNumber != request.batch_number
            || commit.firstBlockNumber != request.first_block_number
            || commit.lastBlockNumber != request.last_block_number
        {
            return Err("commit data names another batch or block range".to_owned());
        }
        if commit.chainId != U256::from(CHAIN_ID) {
            return Err(format!("commit data is for chain {}", commit.chainId));
        }
        // What a real verifier does here: re-execute, compare state commitments. This one
        // compares the batch's timestamps with the blocks it replayed.
        let records = self.chain.records();
        let replayed = |number: BlockNumber| {
            records
                .iter()
                .find(|r| r.block_number == number)
                .and_then(|r| <[u8; 8]>::try_from(&r.payload[..]).ok())
                .map(u64::from_be_bytes)
        };
        if replayed(commit.firstBlockNumber) != Some(commit.firstBlockTimestamp)
            || replayed(commit.lastBlockNumber) != Some(commit.lastBlockTimestamp)
        {
            return Err("timestamps differ from the replayed blocks".to_owned());
        }
        Ok(())
    }
}

#[async_trait]
impl Verifier for ChainChecker {
    async fn verify(&self, request: &VerifyBatch) -> VerifyBatchOutcome {
        match self.check(request).and_then(|()| {
            self.scheme
                .sign(&self.key, request)
                .map_err(|e| e.to_string())
        }) {
            Ok(signature) => VerifyBatchOutcome::Approved { signature },
            Err(reason) => VerifyBatchOutcome::Refused { reason },
        }
    }
}
