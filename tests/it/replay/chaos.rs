//! Seeded chaos over memnet: 1 MN, 5 ENs (3 verifiers, threshold 2), blocks and batches
//! flowing while links are killed, partitioned, stalled, slowed and ENs restart. After
//! healing, every EN holds exactly the MN's chain, every batch reached quorum, and nothing
//! leaked.

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use zks_api::ProtocolEvent;
use zks_api::wire::VerifyBatch;
use zks_api::{MemoryReplayStore, Node, NodeSettings};
use zks_memnet::{MemNet, MemnetConfig};
use zks_tests::{record, within};
use zks_verifier::{
    AcceptedSigners, QuorumConfig, Secp256k1BatchScheme, SigningVerifier, VerifierKey,
    collect_quorum,
};

const ENS: usize = 5;
const VERIFIERS: usize = 3;
const HEAD: u64 = 600;
const BATCH: u64 = 100;

fn key(i: usize) -> VerifierKey {
    VerifierKey::from_bytes(&[u8::try_from(i + 1).unwrap(); 32]).unwrap()
}

fn en_name(i: usize) -> String {
    format!("en{i}")
}

async fn start_en(net: &MemNet, i: usize, sink: Arc<MemoryReplayStore>, seed: u64) -> Node {
    let mut builder = Node::builder(net.node(&en_name(i)))
        .external_node(sink)
        .trusted_main_node("mn")
        .settings(
            NodeSettings::default()
                .with_redial(Duration::from_millis(20), Duration::from_millis(500)),
        )
        .rng_seed(seed ^ i as u64);
    if i < VERIFIERS {
        builder = builder.verifier(
            key(i),
            SigningVerifier::new(key(i), |_: &VerifyBatch| Ok(())),
        );
    }
    builder.start().await.unwrap()
}

/// One seeded run; panics (with the seed) on any broken promise.
async fn run(seed: u64) {
    let net = MemNet::with_config(MemnetConfig {
        seed,
        ..MemnetConfig::default()
    });
    let chain = Arc::new(MemoryReplayStore::new());
    let signers: AcceptedSigners = (0..VERIFIERS).map(|i| key(i).address()).collect();
    let mn = Arc::new(
        Node::builder(net.node("mn"))
            .main_node(chain.clone())
            .verifier_authenticator(signers.clone())
            .start()
            .await
            .unwrap(),
    );
    let mut mn_events = mn.events();
    let closed_links = tokio::spawn(async move {
        let mut closed = 0u32;
        while let Some(event) = mn_events.next().await {
            if matches!(event, ProtocolEvent::Closed { .. }) {
                closed += 1;
            }
        }
        closed
    });
    let sinks: Vec<_> = (0..ENS)
        .map(|_| Arc::new(MemoryReplayStore::new()))
        .collect();
    let mut ens = Vec::new();
    for (i, sink) in sinks.iter().enumerate() {
        ens.push(Some(start_en(&net, i, sink.clone(), seed).await));
    }

    let producer = {
        let chain = chain.clone();
        tokio::spawn(async move {
            for b in 0..HEAD {
                chain.push(record(b)).unwrap();
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let mut batches = Vec::new();
    for k in 0..HEAD / BATCH {
        let (mn, chain) = (Arc::clone(&mn), chain.clone());
        let config = QuorumConfig::new(signers.iter().copied(), 2)
            .with_request_timeout(Duration::from_millis(300))
            .with_retry_delay(Duration::from_millis(50))
            .with_total_timeout(Duration::from_secs(60));
        batches.push(tokio::spawn(async move {
            let last = (k + 1) * BATCH - 1;
            chain.wait_until(last + 1).await;
            let batch = VerifyBatch {
                batch_number: k,
                first_block_number: k * BATCH,
                last_block_number: last,
                commit_data: vec![u8::try_from(k).unwrap(); 8].into(),
                ..VerifyBatch::default()
            };
            collect_quorum(&mn, batch, config, &Secp256k1BatchScheme).await
        }));
    }

    // The chaos schedule: ~30 faults over the first ~1.2 s, each undone after a while.
    let mut rng = StdRng::seed_from_u64(seed);
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..80))).await;
        let i = rng.random_range(0..ENS);
        let en = en_name(i);
        let undo_after = Duration::from_millis(rng.random_range(10..300));
        let net2 = net.clone();
        match rng.random_range(0..5) {
            0 => {
                net.kill("mn", &en);
            }
            1 => {
                net.partition("mn", &en);
                tokio::spawn(async move {
                    tokio::time::sleep(undo_after).await;
                    net2.heal("mn", &en);
                });
            }
            2 => {
                let from_mn = rng.random_bool(0.5);
                let (a, b) = if from_mn {
                    ("mn".to_owned(), en)
                } else {
                    (en, "mn".to_owned())
                };
                net.stall(&a, &b);
                tokio::spawn(async move {
                    tokio::time::sleep(undo_after).await;
                    net2.unstall(&a, &b);
                });
            }
            3 => {
                let spike = Duration::from_millis(rng.random_range(5..60));
                net.set_latency("mn", &en, spike, Duration::from_millis(5));
                tokio::spawn(async move {
                    tokio::time::sleep(undo_after).await;
                    net2.set_latency("mn", &en, Duration::ZERO, Duration::ZERO);
                });
            }
            _ => {
                // Restart the EN, keeping its sink.
                if let Some(node) = ens[i].take() {
                    node.shutdown().await;
                }
                ens[i] = Some(start_en(&net, i, sinks[i].clone(), seed + 1).await);
            }
        }
    }
    // Heal everything once the undo tasks had their time.
    tokio::time::sleep(Duration::from_millis(400)).await;
    for i in 0..ENS {
        let en = en_name(i);
        net.heal("mn", &en);
        net.unstall("mn", &en);
        net.unstall(&en, "mn");
        net.set_latency("mn", &en, Duration::ZERO, Duration::ZERO);
    }

    producer.await.unwrap();
    for (i, sink) in sinks.iter().enumerate() {
        within(
            &format!("seed {seed}: en{i} at head"),
            sink.wait_until(HEAD),
        )
        .await;
        assert_eq!(
            sink.records(),
            chain.records(),
            "seed {seed}: en{i} diverged"
        );
    }
    for (k, batch) in batches.into_iter().enumerate() {
        let quorum = within("quorum", batch).await.unwrap();
        let quorum = quorum.unwrap_or_else(|e| panic!("seed {seed}: batch {k}: {e}"));
        assert!(quorum.signatures.len() >= 2, "seed {seed}: batch {k}");
    }

    for node in ens.into_iter().flatten() {
        node.shutdown().await;
    }
    Arc::into_inner(mn)
        .expect("no other owner")
        .shutdown()
        .await;
    within("links to drain", async {
        while net.link_count() > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    let closed = closed_links.await.unwrap();
    assert!(
        closed >= 5,
        "seed {seed}: the schedule closed only {closed} links"
    );
}

macro_rules! seeds {
    ($($name:ident: $range:expr),* $(,)?) => {$(
        #[tokio::test(start_paused = true)]
        async fn $name() {
            for seed in $range {
                run(seed).await;
            }
        }
    )*};
}

seeds!(
    chaos_seeds_00_to_24: 0..25,
    chaos_seeds_25_to_49: 25..50,
    chaos_seeds_50_to_74: 50..75,
    chaos_seeds_75_to_99: 75..100,
);
