//! An external node with several trusted main nodes: one link at a time (no double traffic),
//! failover on an outage, exactly once across it.

use std::sync::Arc;
use std::time::Duration;

use zks_api::{MemoryReplayStore, Node, ProtocolEvent};
use zks_memnet::MemNet;
use zks_tests::{append, blocks, chain, next_matching, within};

/// Two main nodes serve the same chain. The EN replays everything from the first and never
/// asks the second; when the first goes away, it fails over to the second, which is asked
/// exactly once, from exactly the next block.
#[tokio::test(start_paused = true)]
async fn one_main_node_at_a_time_and_failover_on_an_outage() {
    let net = MemNet::new();
    let source = chain(500);
    let a = Node::builder(net.node("mn-a"))
        .main_node(Arc::clone(&source))
        .start()
        .await
        .unwrap();
    let b = Node::builder(net.node("mn-b"))
        .main_node(Arc::clone(&source))
        .start()
        .await
        .unwrap();
    let mut b_events = b.events();
    let sink = Arc::new(MemoryReplayStore::new());
    let _en = Node::builder(net.node("en"))
        .external_node(Arc::clone(&sink))
        .trusted_main_node("mn-a")
        .trusted_main_node("mn-b")
        .start()
        .await
        .unwrap();
    within("replay from A", sink.wait_until(500)).await;
    let requested = |e: &ProtocolEvent| match e {
        ProtocolEvent::ReplayRequested { starting_block, .. } => Some(*starting_block),
        _ => None,
    };
    assert!(
        tokio::time::timeout(
            Duration::from_secs(30),
            next_matching(&mut b_events, "a request to B", requested)
        )
        .await
        .is_err(),
        "B was asked for replay while A served"
    );
    assert!(b.sessions().is_empty(), "the EN holds no link to B");

    append(&source, 500, 1_000);
    a.shutdown().await;
    within("replay from B", sink.wait_until(1_000)).await;
    assert_eq!(
        next_matching(&mut b_events, "B's request", requested).await,
        500
    );
    assert_eq!(sink.block_numbers(), blocks(0, 1_000));
    assert_eq!(b.sessions().len(), 1);
}
