//! Quorum latency: 3-of-5 verifiers that approve at once, over memnet; submit → quorum.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use zks_api::ProtocolEvent;
use zks_api::wire::{RequestId, VerifyBatch};
use zks_api::{MemoryReplayStore, Node, RawRecord};
use zks_memnet::MemNet;
use zks_verifier::{
    AcceptedSigners, QuorumConfig, Secp256k1BatchScheme, SigningVerifier, VerifierKey,
    collect_quorum,
};

use crate::error::within;
use crate::stats::Percentiles;
use crate::{BenchError, nodes};

const VERIFIERS: usize = 5;
const THRESHOLD: usize = 3;

/// Collects `batches` quorums one after another; returns submit → quorum percentiles.
pub(crate) async fn quorum_latency(batches: u64) -> Result<Percentiles, BenchError> {
    let net = MemNet::new();
    let keys: Vec<VerifierKey> = (0..VERIFIERS).map(|_| VerifierKey::generate()).collect();
    let accepted: AcceptedSigners = keys.iter().map(VerifierKey::address).collect();
    let chain = Arc::new(MemoryReplayStore::new());
    chain
        .extend((0..16).map(|b| RawRecord::new(b, vec![0u8; 32])))
        .map_err(|e| BenchError::transport("quorum chain", e))?;
    let mn = Node::builder(net.node("mn"))
        .settings(nodes::settings())
        .main_node(chain)
        .verifier_authenticator(accepted)
        .start()
        .await
        .map_err(BenchError::node("quorum main node"))?;
    let mut events = mn.events();
    let mut ens = Vec::with_capacity(VERIFIERS);
    for (i, key) in keys.iter().enumerate() {
        let en = Node::builder(net.node(&format!("v{i}")))
            .settings(nodes::settings())
            .external_node(Arc::new(MemoryReplayStore::new()))
            .trusted_main_node("mn")
            .verifier(key.clone(), SigningVerifier::new(key.clone(), |_| Ok(())))
            .rng_seed(7)
            .start()
            .await
            .map_err(BenchError::node("quorum verifier"))?;
        ens.push(en);
    }
    let mut authorized = 0;
    within(
        "quorum: verifiers authorized",
        Duration::from_secs(30),
        async {
            while authorized < VERIFIERS {
                match events.next().await {
                    Some(ProtocolEvent::VerifierAuthorized { .. }) => authorized += 1,
                    Some(_) => {}
                    None => break,
                }
            }
        },
    )
    .await?;
    let signers: Vec<_> = keys.iter().map(VerifierKey::address).collect();
    let mut samples = Vec::with_capacity(usize::try_from(batches).unwrap_or(0));
    for n in 0..batches {
        let batch = VerifyBatch {
            request_id: RequestId(0),
            batch_number: n,
            first_block_number: 0,
            last_block_number: 15,
            pubdata_mode: 0,
            commit_data: Bytes::from_static(b"commit"),
            prev_commit_data: Bytes::from_static(b"prev"),
            execution_protocol_version: 31,
        };
        let config = QuorumConfig::new(signers.iter().copied(), THRESHOLD);
        let start = Instant::now();
        within(
            "quorum",
            Duration::from_secs(60),
            collect_quorum(&mn, batch, config, &Secp256k1BatchScheme),
        )
        .await??;
        samples.push(start.elapsed());
    }
    ens.push(mn);
    nodes::shutdown(ens).await;
    Ok(Percentiles::of(&mut samples))
}
