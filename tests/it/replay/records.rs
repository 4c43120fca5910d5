//! Record types and the versions that carry them (`ReplayRecord::VERSIONS`): a node
//! advertises only the versions its records travel on, so ZKsync OS v3 records never reach a
//! peer limited to zks/1–3, and a configuration with no such version does not start.

use std::sync::Arc;

use zks_api::transport::{Transport, TransportError};
use zks_api::wire::{Capabilities, VersionSet, ZksVersion};
use zks_api::{ConfigError, Error, MemoryReplayStore, Node, PeerAddr, ProtocolEvent, RawRecord};
use zks_memnet::MemNet;
use zks_tests::{next_matching, within};
use zks_wire::zksync_os::{V3Record, V3RecordBytes};

fn v3_chain(blocks: std::ops::Range<u64>) -> Arc<MemoryReplayStore<V3Record>> {
    let store = Arc::new(MemoryReplayStore::with_first_block(blocks.start));
    store
        .extend(blocks.map(|n| V3Record::synthetic(n, 1, 64)))
        .unwrap();
    store
}

const V4_V5: VersionSet = zks_wire::zksync_os::VERSIONS;

/// A main node serving v3 records with the default capabilities (every version) advertises
/// zks/4 and zks/5 only: an external node limited to the seed generation shares no version
/// with it and is refused at the handshake — before, it negotiated zks/3 and was sent v3
/// records it cannot read.
#[tokio::test(start_paused = true)]
async fn a_v3_main_node_refuses_a_seed_generation_peer_at_the_handshake() {
    let net = MemNet::new();
    let _mn = Node::builder(net.node("mn"))
        .main_node(v3_chain(1..10))
        .start()
        .await
        .unwrap();
    let seed_peer = net.node("seed-en");
    let error = seed_peer
        .dial(&PeerAddr::from("mn"), Capabilities::SEED)
        .await
        .unwrap_err();
    let TransportError::NoCommonVersion { local, remote, .. } = error else {
        panic!("expected NoCommonVersion, got {error:?}");
    };
    assert_eq!((local, remote), (VersionSet::SEED, V4_V5));
    // zks/3 with zks_2fa beside it is refused as well: the record layout is what matters.
    let error = seed_peer
        .dial(
            &PeerAddr::from("mn"),
            Capabilities::from(ZksVersion::V3).with_2fa(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, TransportError::NoCommonVersion { remote, .. } if remote == V4_V5),
        "{error:?}"
    );
}

/// The same holds on the external node's side: a v3 EN advertises zks/4 and zks/5, and one
/// configured for the seed generation only has no version for its records and does not start.
#[tokio::test(start_paused = true)]
async fn a_v3_node_with_only_seed_versions_does_not_start() {
    let net = MemNet::new();
    let error = Node::builder(net.node("en"))
        .versions(VersionSet::SEED)
        .external_node(Arc::new(MemoryReplayStore::<V3RecordBytes>::default()))
        .trusted_main_node("mn")
        .start()
        .await
        .unwrap_err();
    let Error::Config(ConfigError::NoVersionsForRecords {
        configured,
        carried,
    }) = error
    else {
        panic!("expected NoVersionsForRecords, got {error:?}");
    };
    assert_eq!((configured, carried), (VersionSet::SEED, V4_V5));
    assert_eq!(
        error_text(configured, carried),
        "none of the configured zks versions {zks/1, zks/2, zks/3} carries this node's records \
         (they travel on {zks/4, zks/5} only)"
    );
}

fn error_text(configured: VersionSet, carried: VersionSet) -> String {
    ConfigError::NoVersionsForRecords {
        configured,
        carried,
    }
    .to_string()
}

/// Typed records on one side and byte records on the other interoperate: the EN keeps the
/// main node's bytes, and the link negotiates the highest version both carry (zks/5; zks/4
/// when the EN stops there).
#[tokio::test(start_paused = true)]
async fn v3_records_replay_on_zks5_and_zks4_and_arrive_byte_for_byte() {
    for (en_versions, expected) in [
        (VersionSet::ALL, ZksVersion::V5),
        (VersionSet::SEED.with(ZksVersion::V4), ZksVersion::V4),
    ] {
        let net = MemNet::new();
        let chain = v3_chain(1..40);
        let _mn = Node::builder(net.node("mn"))
            .main_node(Arc::clone(&chain))
            .start()
            .await
            .unwrap();
        let sink = Arc::new(MemoryReplayStore::<V3RecordBytes>::with_first_block(1));
        let en = Node::builder(net.node("en"))
            .versions(en_versions)
            .external_node(Arc::clone(&sink))
            .trusted_main_node("mn")
            .start()
            .await
            .unwrap();
        let mut events = en.events();
        let version = next_matching(&mut events, "established", |e| match e {
            ProtocolEvent::Established { info, .. } => Some(info.caps.zks),
            _ => None,
        })
        .await;
        assert_eq!(version, expected);
        within("replay", sink.wait_until(40)).await;
        let got: Vec<V3RecordBytes> = sink.records();
        let want: Vec<V3RecordBytes> = chain.records().iter().map(V3RecordBytes::from).collect();
        assert_eq!(got, want);
    }
}

/// Record types that say nothing keep every version: `RawRecord` nodes still speak both
/// generations.
#[test]
fn records_that_say_nothing_travel_on_every_version() {
    use zks_api::ReplayRecord as _;
    assert_eq!(
        <RawRecord as zks_api::ReplayRecord>::VERSIONS,
        VersionSet::ALL
    );
    assert_eq!(RawRecord::new(1, "x").block_number(), 1);
}

/// A request for blocks before the source's first one (block 0 of a ZKsync OS chain is its
/// genesis, which no record carries) is the peer's mistake: the link is refused with
/// `UselessPeer` and `NotServed::BeforeFirstBlock`, logged as a refusal — not a failure of our
/// own store.
#[tokio::test(start_paused = true)]
async fn a_request_before_the_first_block_is_refused_not_a_source_failure() {
    use zks_api::wire::{Frame, GetBlockReplays, ZksMessage};
    use zks_api::{CloseCause, DisconnectReason, NotServed, ReplaySource as _};

    let (logs, _logging) = zks_tests::logs::capture();
    let net = MemNet::new();
    let chain = v3_chain(1..10);
    assert_eq!(chain.first_block(), 1);
    let mn = Node::builder(net.node("mn"))
        .main_node(Arc::clone(&chain))
        .start()
        .await
        .unwrap();
    let mut events = mn.events();
    let (_, tx, mut rx) = net
        .node("asks-for-0")
        .dial(&PeerAddr::from("mn"), Capabilities::CURRENT)
        .await
        .unwrap()
        .split();
    let request = |from| -> Frame {
        ZksMessage::GetBlockReplays(GetBlockReplays {
            starting_block: from,
            record_overrides: vec![],
            max_blocks_per_message: Some(1),
        })
        .to_frame()
    };
    tx.send(request(0)).await.unwrap();
    let cause = zks_tests::next_close(&mut events, Some("asks-for-0")).await;
    assert!(
        matches!(
            cause,
            CloseCause::NotServed(NotServed::BeforeFirstBlock { asked: 0, first: 1 })
        ),
        "{cause:?}"
    );
    assert_eq!(
        cause.to_string(),
        "not served: replay from block 0 was asked for; this node's records start at block 1"
    );
    assert_eq!(
        within("close", rx.recv()).await.unwrap_err(),
        zks_api::transport::LinkClosed::ByPeer(DisconnectReason::UselessPeer)
    );
    assert!(logs.lines_at("ERROR").is_empty(), "{}", logs.text());
    // Asking from block 1 is served.
    let (_, tx, mut rx) = net
        .node("asks-for-1")
        .dial(&PeerAddr::from("mn"), Capabilities::CURRENT)
        .await
        .unwrap()
        .split();
    tx.send(request(1)).await.unwrap();
    let frame = within("block 1", rx.recv()).await.unwrap();
    assert_eq!(frame.id, 0x01);
}
