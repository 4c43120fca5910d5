//! Admission when the link cap is full: links that never sent a request are the first to go,
//! so silent sessions cannot keep honest external nodes out until their first-message timeout.

use std::sync::Arc;
use std::time::Duration;

use zks_api::transport::{LinkClosed, LinkReceiver, LinkSender, Transport};
use zks_api::wire::VersionSet;
use zks_api::{DisconnectReason, MemoryReplayStore, Node, NodeSettings};
use zks_memnet::MemNet;
use zks_tests::{chain, external_node};

/// The MN admits 3 untrusted links; 3 silent links take them all. An honest EN still syncs at
/// once (well inside the 30 s first-message timeout that would otherwise free a slot): the
/// oldest link silent for over a second is closed with `TooManyPeers` to make room, the
/// others stay. (Links that all just arrived do not evict each other: see the cap test in
/// `limits`.)
#[tokio::test(start_paused = true)]
async fn silent_links_make_room_for_an_honest_external_node() {
    let net = MemNet::new();
    let _mn = Node::builder(net.node("mn"))
        .main_node(chain(100))
        .settings(NodeSettings::default().with_max_active_links(3))
        .start()
        .await
        .unwrap();
    let mut silent: Vec<(LinkSender, LinkReceiver)> = Vec::new();
    for i in 0..3 {
        let (_, tx, rx) = net
            .node(&format!("silent-{i}"))
            .dial(&"mn".into(), VersionSet::SEED.into())
            .await
            .unwrap()
            .split();
        silent.push((tx, rx));
        // Distinct arrival times, so "oldest" is well defined.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Silent for longer than the grace admission gives a new link.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sink = Arc::new(MemoryReplayStore::new());
    let _en = external_node(&net, "honest", VersionSet::ALL, Arc::clone(&sink), "mn").await;
    tokio::time::timeout(Duration::from_secs(5), sink.wait_until(100))
        .await
        .expect("the honest EN synced while silent links held every slot");

    let (_, oldest) = &mut silent[0];
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(1), oldest.recv()).await,
        Ok(Err(LinkClosed::ByPeer(DisconnectReason::TooManyPeers)))
    );
    for (_, rx) in &mut silent[1..] {
        assert!(
            tokio::time::timeout(Duration::from_secs(1), rx.recv())
                .await
                .is_err(),
            "only the oldest silent link was closed"
        );
    }
}
