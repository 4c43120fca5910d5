//! Relays: external nodes that serve their store to other external nodes. Exactly once through
//! relay chains, failover and fail-back by priority, stalls, refusals (overrides, verifier
//! role), loops, and the "main node outage leaves the EN idle forever" case.

use std::sync::Arc;
use std::time::Duration;

use zks_api::wire::{RecordOverride, VerifyBatch};
use zks_api::{
    CloseCause, MemoryReplayStore, Node, NodeBuilder, NodeSettings, NotServed, ProtocolEvent,
    SwitchReason,
};
use zks_memnet::MemNet;
use zks_tests::{append, blocks, chain, next_close, next_matching, record, within};
use zks_verifier::{AcceptedSigners, SigningVerifier, VerifierKey};

/// Short probe and stall times, so scenarios read at a glance (time is paused anyway).
fn settings() -> NodeSettings {
    NodeSettings::default()
        .with_redial(Duration::from_millis(20), Duration::from_millis(500))
        .with_upstream_checks(Duration::from_secs(1), Duration::from_secs(3))
        .with_upstream_probe_timeout(Duration::from_millis(500))
}

fn replica() -> Arc<MemoryReplayStore> {
    Arc::new(MemoryReplayStore::new())
}

fn upstreams(mut builder: NodeBuilder, names: &[&str]) -> NodeBuilder {
    for name in names {
        builder = builder.trusted_main_node(*name);
    }
    builder.settings(settings()).rng_seed(3)
}

async fn relay(net: &MemNet, name: &str, store: Arc<MemoryReplayStore>, up: &[&str]) -> Node {
    upstreams(Node::builder(net.node(name)).relay(store), up)
        .start()
        .await
        .unwrap()
}

async fn en(net: &MemNet, name: &str, sink: Arc<MemoryReplayStore>, up: &[&str]) -> Node {
    upstreams(Node::builder(net.node(name)).external_node(sink), up)
        .start()
        .await
        .unwrap()
}

async fn mn(net: &MemNet, source: Arc<MemoryReplayStore>) -> Node {
    Node::builder(net.node("mn"))
        .main_node(source)
        .start()
        .await
        .unwrap()
}

fn switched(e: &ProtocolEvent) -> Option<(String, String, SwitchReason)> {
    match e {
        ProtocolEvent::UpstreamSwitched { from, to, reason } => {
            Some((from.to_string(), to.to_string(), *reason))
        }
        _ => None,
    }
}

/// MN → relay → relay → EN: the EN gets exactly the MN's chain, blocks that land later are
/// pushed through both hops, and a relay never hands on a block its own store lacks.
#[tokio::test(start_paused = true)]
async fn a_chain_of_relays_delivers_exactly_once() {
    let net = MemNet::new();
    let source = chain(300);
    let _mn = mn(&net, source.clone()).await;
    let (r1_store, r2_store, sink) = (replica(), replica(), replica());
    let _r1 = relay(&net, "r1", r1_store.clone(), &["mn"]).await;
    let r2 = relay(&net, "r2", r2_store.clone(), &["r1"]).await;
    let mut r2_events = r2.events();
    let _en = en(&net, "en", sink.clone(), &["r2"]).await;
    within("EN at 300", sink.wait_until(300)).await;
    append(&source, 300, 600);
    within("EN at 600", sink.wait_until(600)).await;
    assert_eq!(sink.records(), source.records());
    assert_eq!(r1_store.block_numbers(), blocks(0, 600));
    // Every block r2 sent downstream, it had applied first.
    let mut applied_through = None;
    loop {
        match next_matching(&mut r2_events, "r2 events", |e| Some(e.clone())).await {
            ProtocolEvent::ReplayApplied { last_block, .. } => applied_through = Some(last_block),
            ProtocolEvent::ReplayBlockSent { last_block, .. } => {
                assert!(
                    applied_through.is_some_and(|a| a >= last_block),
                    "r2 sent through {last_block} having applied through {applied_through:?}"
                );
                if last_block == 599 {
                    break;
                }
            }
            _ => {}
        }
    }
}

/// The EN prefers its relay; when the relay goes away it fails over to the MN at once, and when
/// the relay is back and level it fails back (probing, not guessing), with no gap or duplicate.
#[tokio::test(start_paused = true)]
async fn failover_to_the_main_node_and_failback_to_the_relay() {
    let net = MemNet::new();
    let source = chain(200);
    let mn_node = mn(&net, source.clone()).await;
    let mut mn_events = mn_node.events();
    let (relay_store, sink) = (replica(), replica());
    let r = relay(&net, "relay", relay_store.clone(), &["mn"]).await;
    let en_node = en(&net, "en", sink.clone(), &["relay", "mn"]).await;
    let mut en_events = en_node.events();
    within("EN at 200 via the relay", sink.wait_until(200)).await;
    assert_eq!(
        mn_node.sessions().len(),
        1,
        "only the relay links to the MN"
    );

    r.shutdown().await;
    append(&source, 200, 400);
    within("EN at 400 via the MN", sink.wait_until(400)).await;
    let from_en = |e: &ProtocolEvent| match e {
        ProtocolEvent::ReplayRequested {
            peer,
            starting_block,
            ..
        } if peer.to_string() == "en" => Some(*starting_block),
        _ => None,
    };
    assert_eq!(
        next_matching(&mut mn_events, "EN asks MN", from_en).await,
        200
    );

    let _r = relay(&net, "relay", relay_store.clone(), &["mn"]).await;
    let (from, to, reason) = next_matching(&mut en_events, "fail-back", switched).await;
    assert_eq!(
        (from.as_str(), to.as_str(), reason),
        ("mn", "relay", SwitchReason::Failback)
    );
    append(&source, 400, 500);
    within("EN at 500 via the relay again", sink.wait_until(500)).await;
    assert_eq!(sink.block_numbers(), blocks(0, 500));
    assert_eq!(sink.records(), source.records());
    let en_links: Vec<_> = en_node
        .sessions()
        .into_iter()
        .map(|s| s.info.peer.to_string())
        .collect();
    assert_eq!(en_links, ["relay"]);
}

/// The active upstream is linked but delivers nothing (its own upstream is cut off) while the
/// next one has our next block: after the stall timeout the EN moves. An idle chain (no new
/// blocks anywhere) is not a stall: nothing moves.
#[tokio::test(start_paused = true)]
async fn a_stalled_upstream_is_left_for_one_that_is_ahead() {
    let net = MemNet::new();
    let source = chain(100);
    let _mn = mn(&net, source.clone()).await;
    let (relay_store, sink) = (replica(), replica());
    let _r = relay(&net, "relay", relay_store.clone(), &["mn"]).await;
    let en_node = en(&net, "en", sink.clone(), &["relay", "mn"]).await;
    let mut en_events = en_node.events();
    within("EN at 100", sink.wait_until(100)).await;

    // Idle chain: no switch however long we wait.
    let idle = tokio::time::timeout(
        Duration::from_secs(30),
        next_matching(&mut en_events, "a switch", switched),
    )
    .await;
    assert!(idle.is_err(), "switched on an idle chain: {idle:?}");

    net.partition("relay", "mn");
    append(&source, 100, 150);
    let (from, to, reason) = next_matching(&mut en_events, "stall switch", switched).await;
    assert_eq!((from.as_str(), to.as_str()), ("relay", "mn"));
    let SwitchReason::Stalled { idle } = reason else {
        panic!("expected a stall, got {reason:?}");
    };
    assert!(idle >= Duration::from_secs(3), "{idle:?}");
    within("EN at 150 via the MN", sink.wait_until(150)).await;
    assert_eq!(sink.block_numbers(), blocks(0, 150));
    assert_eq!(relay_store.block_numbers(), blocks(0, 100));

    // The relay catches up once healed, and the EN fails back to it.
    net.heal("relay", "mn");
    let (_, to, reason) = next_matching(&mut en_events, "fail-back", switched).await;
    assert_eq!((to.as_str(), reason), ("relay", SwitchReason::Failback));
    append(&source, 150, 160);
    within("EN at 160", sink.wait_until(160)).await;
    assert_eq!(sink.records(), source.records());
}

/// A relay whose store lacks the EN's record overrides refuses the request with a reason; the EN
/// gets them from the MN, and never fails back to the relay (its probes carry the overrides).
#[tokio::test(start_paused = true)]
async fn overrides_the_relay_does_not_hold_are_refused() {
    let net = MemNet::new();
    let source = chain(50);
    source.set_override(7, "alt", zks_api::RawRecord::new(7, "alternative"));
    let _mn = mn(&net, source.clone()).await;
    let r = relay(&net, "relay", chain(50), &["mn"]).await;
    let mut relay_events = r.events();
    let sink = replica();
    let en_node = upstreams(
        Node::builder(net.node("en")).external_node(sink.clone()),
        &["relay", "mn"],
    )
    .record_overrides([RecordOverride {
        block_number: 7,
        db_key: "alt".into(),
    }])
    .start()
    .await
    .unwrap();
    let mut en_events = en_node.events();
    let cause = next_close(&mut relay_events, Some("en")).await;
    assert!(
        matches!(
            cause,
            CloseCause::NotServed(NotServed::Overrides { first: 7, count: 1 })
        ),
        "{cause:?}"
    );
    within("EN at 50 via the MN", sink.wait_until(50)).await;
    assert_eq!(sink.records()[7].payload, "alternative");
    let back = tokio::time::timeout(
        Duration::from_secs(30),
        next_matching(&mut en_events, "a switch", switched),
    )
    .await;
    assert!(
        back.is_err(),
        "failed back to a relay that refuses: {back:?}"
    );
}

/// A verifier that lists a relay first is refused there (verification is not relayed) and
/// authenticates with the MN, its next upstream.
#[tokio::test(start_paused = true)]
async fn a_relay_refuses_the_verifier_role() {
    let net = MemNet::new();
    let source = chain(20);
    let key = VerifierKey::from_bytes(&[9; 32]).unwrap();
    let signers: AcceptedSigners = [key.address()].into_iter().collect();
    let mn_node = Node::builder(net.node("mn"))
        .main_node(source.clone())
        .verifier_authenticator(signers)
        .start()
        .await
        .unwrap();
    let mut mn_events = mn_node.events();
    let r = relay(&net, "relay", replica(), &["mn"]).await;
    let mut relay_events = r.events();
    let sink = replica();
    let _v = upstreams(
        Node::builder(net.node("verifier")).external_node(sink.clone()),
        &["relay", "mn"],
    )
    .verifier(
        key.clone(),
        SigningVerifier::new(key, |_: &VerifyBatch| Ok(())),
    )
    .start()
    .await
    .unwrap();
    let cause = next_close(&mut relay_events, Some("verifier")).await;
    assert!(
        matches!(cause, CloseCause::NotServed(NotServed::VerifierRole)),
        "{cause:?}"
    );
    let authorized = next_matching(&mut mn_events, "authorized at the MN", |e| match e {
        ProtocolEvent::VerifierAuthorized { peer, .. } => Some(peer.to_string()),
        _ => None,
    })
    .await;
    assert_eq!(authorized, "verifier");
    within("verifier synced", sink.wait_until(20)).await;
}

/// Two relays that list each other (after their MN): when the MN goes away they replay from
/// each other — the loop is reported, no block is applied twice, and the idle loop sends
/// nothing. When the MN is back, both fail back to it and reach its head.
#[tokio::test(start_paused = true)]
async fn a_loop_of_relays_is_harmless() {
    let net = MemNet::new();
    let source = chain(100);
    let mn_node = mn(&net, source.clone()).await;
    let (a_store, b_store) = (replica(), replica());
    let a = relay(&net, "a", a_store.clone(), &["mn", "b"]).await;
    let b = relay(&net, "b", b_store.clone(), &["mn", "a"]).await;
    let (mut a_events, mut b_events) = (a.events(), b.events());
    within("a at 100", a_store.wait_until(100)).await;
    within("b at 100", b_store.wait_until(100)).await;

    mn_node.shutdown().await;
    let looped = |e: &ProtocolEvent| matches!(e, ProtocolEvent::ReplayLoop { .. }).then_some(());
    tokio::select! {
        () = next_matching(&mut a_events, "a loop at a", looped) => {}
        () = next_matching(&mut b_events, "a loop at b", looped) => {}
    }
    // An idle loop: nothing is sent either way for a long while.
    let sent = |e: &ProtocolEvent| match e {
        ProtocolEvent::ReplayBlockSent { last_block, .. } => Some(*last_block),
        _ => None,
    };
    let quiet = tokio::time::timeout(Duration::from_secs(60), async {
        tokio::select! {
            b = next_matching(&mut a_events, "a sends", sent) => b,
            b = next_matching(&mut b_events, "b sends", sent) => b,
        }
    })
    .await;
    assert!(quiet.is_err(), "the loop sent block {quiet:?}");

    let _mn = mn(&net, source.clone()).await;
    append(&source, 100, 200);
    within("a at 200", a_store.wait_until(200)).await;
    within("b at 200", b_store.wait_until(200)).await;
    assert_eq!(a_store.records(), source.records());
    assert_eq!(b_store.records(), source.records());
}

/// An MN outage of 40 hours leaves the EN redialing, never idle: when the MN is back, replay
/// resumes within the redial cap, at exactly the next block.
#[tokio::test(start_paused = true)]
async fn an_external_node_outlives_a_long_main_node_outage() {
    let net = MemNet::new();
    let source = chain(100);
    let first = mn(&net, source.clone()).await;
    let sink = replica();
    // The default redial cap (10 s): ~14,400 dials over the outage.
    let en_node = Node::builder(net.node("en"))
        .external_node(sink.clone())
        .trusted_main_node("mn")
        .start()
        .await
        .unwrap();
    let mut en_events = en_node.events();
    within("EN at 100", sink.wait_until(100)).await;
    first.shutdown().await;
    tokio::time::sleep(Duration::from_secs(40 * 3600)).await;
    append(&source, 100, 150);
    let _back = mn(&net, source.clone()).await;
    let back_at = tokio::time::Instant::now();
    let applied = next_matching(&mut en_events, "replay resumes", |e| match e {
        ProtocolEvent::ReplayApplied { first_block, .. } => Some(*first_block),
        _ => None,
    })
    .await;
    assert_eq!(applied, 100);
    assert!(
        back_at.elapsed() <= NodeSettings::default().redial_max() + Duration::from_millis(100),
        "resumed {:?} after the MN returned",
        back_at.elapsed()
    );
    within("EN at 150", sink.wait_until(150)).await;
    assert_eq!(sink.block_numbers(), blocks(0, 150));
}

/// A sink that panics on one apply ends that link only: the EN redials and goes on, nothing is
/// lost or applied twice.
#[tokio::test(start_paused = true)]
async fn a_panicking_sink_ends_one_link_not_the_node() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use zks_api::{RawRecord, ReplaySink, SinkError, async_trait};

    struct PanicsOnce {
        inner: MemoryReplayStore,
        panicked: AtomicBool,
    }
    #[async_trait]
    impl ReplaySink for PanicsOnce {
        type Record = RawRecord;
        fn resume_block(&self) -> u64 {
            self.inner.resume_block()
        }
        async fn apply(&self, records: Vec<RawRecord>) -> Result<(), SinkError> {
            if records.iter().any(|r| r.block_number == 50)
                && !self.panicked.swap(true, Ordering::SeqCst)
            {
                panic!("the node team's sink panicked");
            }
            self.inner.apply(records).await
        }
    }

    let net = MemNet::new();
    let source = chain(0);
    let _mn = mn(&net, source.clone()).await;
    let sink = Arc::new(PanicsOnce {
        inner: MemoryReplayStore::new(),
        panicked: AtomicBool::new(false),
    });
    let en_node = upstreams(
        Node::builder(net.node("en")).external_node(sink.clone()),
        &["mn"],
    )
    .settings(settings().with_max_blocks_per_message(1))
    .start()
    .await
    .unwrap();
    let mut en_events = en_node.events();
    for b in 0..100 {
        source.push(record(b)).unwrap();
    }
    let cause = next_close(&mut en_events, Some("mn")).await;
    assert!(
        matches!(&cause, CloseCause::Panicked(m) if m == "the node team's sink panicked"),
        "{cause:?}"
    );
    within("EN at 100", sink.inner.wait_until(100)).await;
    assert_eq!(sink.inner.block_numbers(), blocks(0, 100));
}
