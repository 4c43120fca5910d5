//! What a node team reaches for first, on every transport: subscriptions that see a node's
//! whole life, events and incoming links as `futures::Stream`s, and the node's own address.

use std::sync::Arc;

use futures::StreamExt;
use zks_api::{MemoryReplayStore, Node, ProtocolEvent};
use zks_tests::{TestNet, chain, within};

zks_tests::on_every_transport!(subscriptions_streams_and_the_nodes_own_address,);

/// Two subscriptions made on the builder both see the first link; an EN dials the address the
/// main node reports for itself; after shutdown the transport no longer reports one.
pub(crate) async fn subscriptions_streams_and_the_nodes_own_address(net: &dyn TestNet) {
    let transport = net.transport("mn").await;
    let mut builder = Node::builder(Arc::clone(&transport)).main_node(chain(5));
    let first = builder.subscribe();
    let second = builder.subscribe();
    assert_eq!(transport.local_peer_addr(), None, "not listening yet");
    let mn = builder.start().await.unwrap();
    let addr = mn.local_addr().expect("a listening node has an address");
    assert_eq!(transport.local_peer_addr(), Some(addr.clone()));

    let sink = Arc::new(MemoryReplayStore::new());
    let en = Node::builder(net.transport("en").await)
        .external_node(sink.clone())
        .trusted_main_node(addr)
        .start()
        .await
        .unwrap();
    within("5 blocks", sink.wait_until(5)).await;
    for events in [first, second] {
        let established = within(
            "the first link on each subscription",
            events
                .filter(|e| std::future::ready(matches!(e, ProtocolEvent::Established { .. })))
                .map(|_| ())
                .boxed()
                .next(),
        )
        .await;
        assert_eq!(established, Some(()));
    }
    en.shutdown().await;
    mn.shutdown().await;
    assert_eq!(transport.local_peer_addr(), None, "the listener stopped");
}
