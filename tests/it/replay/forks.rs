//! Two main nodes that disagree: an EN never splices a record from another fork onto its
//! chain. With records that carry their history (ZKsync OS v3 records: the 256 latest block
//! hashes), the continuity check `ReplayRecord::follows` catches the first record whose
//! history differs, and the link ends with `CloseCause::Diverged` instead.

use std::sync::Arc;

use zks_api::{
    CloseCause, DisconnectReason, MemoryReplayStore, Node, ProtocolEvent, ReplayRecord, ReplaySink,
};
use zks_memnet::MemNet;
use zks_tests::{next_matching, within};
use zks_wire::zksync_os::{U256, V3Record};

/// Block `n` of the chain that everyone agrees on up to `fork_at`, and that `lane` 1 rewrites
/// from `fork_at` on (its hashes of those blocks differ).
fn record(n: u64, fork_at: u64, lane: u64) -> V3Record {
    let mut record = V3Record::synthetic(n, 1, 64);
    if lane != 0 {
        for (back, slot) in (1u64..).zip(record.block_context.block_hashes.iter_mut().rev()) {
            let Some(block) = n.checked_sub(back) else {
                break;
            };
            if block >= fork_at {
                let mut bytes = [0xf0; 32];
                bytes[24..].copy_from_slice(&block.to_be_bytes());
                *slot = U256::from_be_bytes(bytes);
            }
        }
    }
    record
}

fn store(
    blocks: std::ops::Range<u64>,
    fork_at: u64,
    lane: u64,
) -> Arc<MemoryReplayStore<V3Record>> {
    let store = Arc::new(MemoryReplayStore::default());
    store
        .extend(blocks.map(|n| record(n, fork_at, lane)))
        .unwrap();
    store
}

#[test]
fn the_fixture_forks_where_it_says() {
    assert!(
        record(100, 100, 1).follows(&record(99, 100, 0)),
        "block 100 itself is the same history"
    );
    assert!(!record(150, 100, 1).follows(&record(149, 100, 0)));
    assert!(record(150, 100, 1).follows(&record(149, 100, 1)));
    assert!(record(150, 100, 0).follows(&record(149, 100, 0)));
}

/// The EN replays 0..150 from main node A; A goes away, and B — on a fork from block 100 on —
/// is the only main node left. B's block 150 carries B's hashes of 100..149, so it does not
/// follow A's block 149: the EN applies nothing from B, ends the link as useless, and keeps
/// exactly A's chain.
#[tokio::test(start_paused = true)]
async fn a_main_node_on_another_fork_is_never_spliced_in() {
    let net = MemNet::new();
    let a = Node::builder(net.node("mn-a"))
        .main_node(store(0..150, 100, 0))
        .start()
        .await
        .unwrap();
    let sink = Arc::new(MemoryReplayStore::<V3Record>::default());
    let en = Node::builder(net.node("en"))
        .external_node(Arc::clone(&sink))
        .trusted_main_node("mn-a")
        .trusted_main_node("mn-b")
        .start()
        .await
        .unwrap();
    let mut events = en.events();
    within("replay from A", sink.wait_until(150)).await;
    a.shutdown().await;

    let _b = Node::builder(net.node("mn-b"))
        .main_node(store(0..300, 100, 1))
        .start()
        .await
        .unwrap();
    let cause = next_matching(&mut events, "B's link closed", |e| match e {
        ProtocolEvent::Closed { peer, cause, .. } if peer.to_string() == "mn-b" => {
            Some(cause.clone())
        }
        _ => None,
    })
    .await;
    assert!(
        matches!(cause, CloseCause::Diverged { block: 150 }),
        "{cause:?}"
    );
    assert_eq!(
        cause.disconnect_reason(),
        Some(DisconnectReason::UselessPeer)
    );
    assert_eq!(sink.resume_block(), 150, "nothing from B was applied");
    assert_eq!(
        sink.records(),
        (0..150).map(|n| record(n, 100, 0)).collect::<Vec<_>>(),
        "exactly A's chain"
    );
}
