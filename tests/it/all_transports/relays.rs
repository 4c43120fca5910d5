//! Relays on every transport: a chain MN → relay → EN delivers exactly once, and a relay refuses
//! what it does not serve (record overrides it lacks, the verifier role) with `UselessPeer`, so
//! the EN is served by its next upstream, the MN.

use std::sync::Arc;

use zks_api::wire::{RecordOverride, VerifyBatch};
use zks_api::{CloseCause, MemoryReplayStore, Node, NotServed, ProtocolEvent, RawRecord};
use zks_tests::{TestNet, append, blocks, chain, next_matching, within};
use zks_verifier::{AcceptedSigners, SigningVerifier, VerifierKey};

async fn relay(net: &dyn TestNet, name: &str, store: Arc<MemoryReplayStore>) -> Node {
    Node::builder(net.transport(name).await)
        .relay(store)
        .trusted_main_node(net.addr("mn"))
        .start()
        .await
        .expect("relay starts")
}

fn not_served(e: &ProtocolEvent) -> Option<NotServed> {
    match e {
        ProtocolEvent::Closed {
            cause: CloseCause::NotServed(what),
            ..
        } => Some(what.clone()),
        _ => None,
    }
}

async fn a_relay_chain_delivers_exactly_once(net: &dyn TestNet) {
    let source = chain(200);
    let _mn = zks_tests::main_node(net, "mn", zks_api::wire::VersionSet::ALL, source.clone()).await;
    let relay_store = Arc::new(MemoryReplayStore::new());
    let _relay = relay(net, "relay", relay_store.clone()).await;
    let sink = Arc::new(MemoryReplayStore::new());
    let _en = Node::builder(net.transport("en").await)
        .external_node(sink.clone())
        .trusted_main_node(net.addr("relay"))
        .start()
        .await
        .unwrap();
    within("EN at 200", sink.wait_until(200)).await;
    append(&source, 200, 400);
    within("EN at 400", sink.wait_until(400)).await;
    assert_eq!(sink.block_numbers(), blocks(0, 400));
    assert_eq!(sink.records(), source.records());
}

async fn a_relay_refuses_overrides_and_verifiers_and_the_main_node_serves_them(net: &dyn TestNet) {
    let source = chain(30);
    source.set_override(7, "alt", RawRecord::new(7, "alternative"));
    let key = VerifierKey::from_bytes(&[5; 32]).unwrap();
    let signers: AcceptedSigners = [key.address()].into_iter().collect();
    let mn = Node::builder(net.transport("mn").await)
        .main_node(source.clone())
        .verifier_authenticator(signers)
        .start()
        .await
        .unwrap();
    let mut mn_events = mn.events();
    let r = relay(net, "relay", chain(30)).await;
    let mut relay_events = r.events();

    let sink = Arc::new(MemoryReplayStore::new());
    let _en = Node::builder(net.transport("en").await)
        .external_node(sink.clone())
        .trusted_main_node(net.addr("relay"))
        .trusted_main_node(net.addr("mn"))
        .record_overrides([RecordOverride {
            block_number: 7,
            db_key: "alt".into(),
        }])
        .start()
        .await
        .unwrap();
    assert_eq!(
        next_matching(&mut relay_events, "overrides refused", not_served).await,
        NotServed::Overrides { first: 7, count: 1 }
    );
    within("EN at 30 via the MN", sink.wait_until(30)).await;
    assert_eq!(sink.records()[7].payload, "alternative");

    let verifier_sink = Arc::new(MemoryReplayStore::new());
    let _verifier = Node::builder(net.transport("verifier").await)
        .external_node(verifier_sink.clone())
        .trusted_main_node(net.addr("relay"))
        .trusted_main_node(net.addr("mn"))
        .verifier(
            key.clone(),
            SigningVerifier::new(key, |_: &VerifyBatch| Ok(())),
        )
        .start()
        .await
        .unwrap();
    assert_eq!(
        next_matching(&mut relay_events, "verifier refused", not_served).await,
        NotServed::VerifierRole
    );
    next_matching(&mut mn_events, "verifier authorized at the MN", |e| {
        matches!(e, ProtocolEvent::VerifierAuthorized { .. }).then_some(())
    })
    .await;
    within("verifier at 30", verifier_sink.wait_until(30)).await;
}

zks_tests::on_every_transport!(
    a_relay_chain_delivers_exactly_once,
    a_relay_refuses_overrides_and_verifiers_and_the_main_node_serves_them,
);
