//! Interop: reth nodes running zks-reth and zks-devp2p nodes (the library), chain 270, v3
//! records (the fixture chain around upstream's vector records), each role and direction, on
//! eth/68 and eth/69 (the zks-devp2p side advertises only that version; reth negotiates it).
//!
//! | upstream (MN) | between (relay) | downstream (EN) |
//! |---|---|---|
//! | reth | – | devp2p (dials reth) |
//! | devp2p | – | reth (dials devp2p) |
//! | devp2p | reth | devp2p |
//! | reth | devp2p | reth |
//!
//! Each asserts the EN's store holds exactly blocks 1..=LAST, each record byte-equal to the
//! main node's, and that the reth side's sessions run the eth version asked for. Below the
//! engine, links between the two implementations carry every zks/5 and `zks_2fa/1` id both
//! ways, each side dialing.

use std::sync::Arc;
use std::time::Duration;

use reth_eth_wire::EthVersion as RethEth;
use reth_network_api::Peers;
use tokio::time::timeout;
use zks_api::transport::{Link, LinkReceiver, LinkSender};
use zks_api::wire::Capabilities;
use zks_api::{MemoryReplayStore, Node, NodeSettings, PeerAddr, ReplayRecord};
use zks_devp2p::eth::{ChainIdentity, EthVersion};
use zks_devp2p::{Devp2pConfig, Devp2pTransport, NodeKey};
use zks_wire::zksync_os::V3Record;

use crate::v3_chain::{encoded, v3_chain};
use crate::{CHAIN_ID, LIMIT, ZksyncOsNetwork, enode, reth_net};

/// The fixture chain's last block: two 64-record messages and a short one.
const LAST: u64 = 150;

type Store = Arc<MemoryReplayStore<V3Record>>;

fn eth(v: EthVersion) -> RethEth {
    match v {
        EthVersion::V68 => RethEth::Eth68,
        _ => RethEth::Eth69,
    }
}

/// A zks-devp2p transport of chain 270 advertising only eth version `v`.
fn devp2p(v: EthVersion) -> Devp2pTransport {
    Devp2pTransport::new(
        Devp2pConfig::builder(NodeKey::generate())
            .listen_addr("127.0.0.1:0".parse().unwrap())
            .client_id("zks-devp2p-interop")
            .chain_identity(ChainIdentity::zksync_os(CHAIN_ID))
            .eth_versions([v])
            .require_eth(true)
            .build()
            .unwrap(),
    )
}

/// A store holding the fixture's blocks 1..=LAST.
fn full_store() -> Store {
    let store = Arc::new(MemoryReplayStore::<V3Record>::with_first_block(1));
    store.extend(v3_chain(LAST)).unwrap();
    store
}

fn empty_store() -> Store {
    Arc::new(MemoryReplayStore::<V3Record>::with_first_block(1))
}

/// Redial only after a minute: no test here should need one.
fn settings(max: usize) -> NodeSettings {
    NodeSettings::default()
        .with_max_blocks_per_message(max)
        .with_redial(Duration::from_secs(60), Duration::from_secs(60))
}

async fn main_node(transport: impl zks_api::transport::Transport, store: Store) -> Node {
    Node::builder(transport)
        .capabilities(Capabilities::CURRENT)
        .main_node(store)
        .start()
        .await
        .unwrap()
}

async fn external_node(
    transport: impl zks_api::transport::Transport,
    store: Store,
    mn: PeerAddr,
    max: usize,
) -> Node {
    Node::builder(transport)
        .capabilities(Capabilities::CURRENT)
        .settings(settings(max))
        .external_node(store)
        .trusted_main_node(mn)
        .start()
        .await
        .unwrap()
}

async fn relay(transport: impl zks_api::transport::Transport, store: Store, mn: PeerAddr) -> Node {
    Node::builder(transport)
        .capabilities(Capabilities::CURRENT)
        .settings(settings(64))
        .relay(store)
        .trusted_main_node(mn)
        .start()
        .await
        .unwrap()
}

/// The EN's store reaches block LAST and then holds exactly the fixture's blocks 1..=LAST, each
/// record's bytes equal to the main node's.
async fn assert_replayed(store: &Store, what: &str) {
    timeout(LIMIT, store.wait_until(LAST + 1))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{what}: next block {:?}, not {}",
                store.block_numbers().last(),
                LAST + 1
            )
        });
    assert_eq!(
        store.block_numbers(),
        (1..=LAST).collect::<Vec<_>>(),
        "{what}"
    );
    let chain = v3_chain(LAST);
    for (ours, theirs) in store.records().iter().zip(&chain) {
        assert_eq!(
            encoded(ours),
            encoded(theirs),
            "{what}: block {}",
            theirs.block_number()
        );
    }
}

/// Every session of `net` runs eth version `v`.
async fn assert_eth(net: &ZksyncOsNetwork, v: EthVersion, sessions: usize) {
    let peers = net.handle.get_all_peers().await.unwrap();
    assert_eq!(peers.len(), sessions, "{peers:?}");
    for p in peers {
        assert_eq!(p.eth_version, eth(v), "{}", p.enode);
    }
}

/// A reth MN serves; a zks-devp2p EN dials it and replays 1..=LAST, 64 per message.
async fn reth_mn_devp2p_en(v: EthVersion) {
    let mn = reth_net(Capabilities::CURRENT).await;
    let _mn_node = main_node(mn.transport.clone(), full_store()).await;
    let store = empty_store();
    let _en = external_node(devp2p(v), Arc::clone(&store), enode(&mn), 64).await;
    assert_replayed(&store, "devp2p EN from reth MN").await;
    assert_eth(&mn, v, 1).await;
}

/// A zks-devp2p MN serves; a reth EN dials it and replays 1..=LAST, one record per message (as
/// upstream ENs ask by default).
async fn devp2p_mn_reth_en(v: EthVersion) {
    let mn = main_node(devp2p(v), full_store()).await;
    let en = reth_net(Capabilities::CURRENT).await;
    let store = empty_store();
    let _en_node = external_node(
        en.transport.clone(),
        Arc::clone(&store),
        mn.local_addr().unwrap(),
        1,
    )
    .await;
    assert_replayed(&store, "reth EN from devp2p MN").await;
    assert_eth(&en, v, 1).await;
}

/// zks-devp2p MN → reth relay → zks-devp2p EN.
async fn devp2p_mn_reth_relay_devp2p_en(v: EthVersion) {
    let mn = main_node(devp2p(v), full_store()).await;
    let relay_net = reth_net(Capabilities::CURRENT).await;
    let relay_store = empty_store();
    let _relay = relay(
        relay_net.transport.clone(),
        Arc::clone(&relay_store),
        mn.local_addr().unwrap(),
    )
    .await;
    let store = empty_store();
    let _en = external_node(devp2p(v), Arc::clone(&store), enode(&relay_net), 64).await;
    assert_replayed(&store, "devp2p EN via reth relay").await;
    assert_replayed(&relay_store, "reth relay").await;
    assert_eth(&relay_net, v, 2).await;
}

/// reth MN → zks-devp2p relay → reth EN.
async fn reth_mn_devp2p_relay_reth_en(v: EthVersion) {
    let mn = reth_net(Capabilities::CURRENT).await;
    let _mn_node = main_node(mn.transport.clone(), full_store()).await;
    let relay_store = empty_store();
    let relay_node = relay(devp2p(v), Arc::clone(&relay_store), enode(&mn)).await;
    let en = reth_net(Capabilities::CURRENT).await;
    let store = empty_store();
    let _en_node = external_node(
        en.transport.clone(),
        Arc::clone(&store),
        relay_node.local_addr().unwrap(),
        64,
    )
    .await;
    assert_replayed(&store, "reth EN via devp2p relay").await;
    assert_replayed(&relay_store, "devp2p relay").await;
    assert_eth(&mn, v, 1).await;
    assert_eth(&en, v, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reth_mn_to_devp2p_en_eth68() {
    reth_mn_devp2p_en(EthVersion::V68).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reth_mn_to_devp2p_en_eth69() {
    reth_mn_devp2p_en(EthVersion::V69).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devp2p_mn_to_reth_en_eth68() {
    devp2p_mn_reth_en(EthVersion::V68).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devp2p_mn_to_reth_en_eth69() {
    devp2p_mn_reth_en(EthVersion::V69).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devp2p_mn_reth_relay_devp2p_en_eth68() {
    devp2p_mn_reth_relay_devp2p_en(EthVersion::V68).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devp2p_mn_reth_relay_devp2p_en_eth69() {
    devp2p_mn_reth_relay_devp2p_en(EthVersion::V69).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reth_mn_devp2p_relay_reth_en_eth68() {
    reth_mn_devp2p_relay_reth_en(EthVersion::V68).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reth_mn_devp2p_relay_reth_en_eth69() {
    reth_mn_devp2p_relay_reth_en(EthVersion::V69).await;
}

// ---------------------------------------------------------------------------------------------
// Links between the two implementations, below the engine.

/// Every message id of zks/5 and `zks_2fa/1`, each way, arrives as sent (protocol, id, body):
/// reth's offsets and zks-devp2p's agree (eth/69: zks 0x22–0x23, `zks_2fa` 0x24–0x28; eth/68
/// one lower).
/// Returns both links' halves, which keep them open.
async fn exchange_every_id(
    a: Link,
    b: Link,
) -> (LinkSender, LinkReceiver, LinkSender, LinkReceiver) {
    use zks_api::wire::{Frame, Protocol};
    assert_eq!(a.info().caps, b.info().caps);
    assert!(a.info().caps.carries(Protocol::Zks2fa), "{}", a.info());
    let (_, a_tx, mut a_rx) = a.split();
    let (_, b_tx, mut b_rx) = b.split();
    let frames: Vec<Frame> = (0..2u8)
        .map(|id| Frame::zks(id, vec![0xc2, 0x80 | id, id]))
        .chain((0..5u8).map(|id| Frame::new(Protocol::Zks2fa, id, vec![0xc1, 0x10 + id])))
        .collect();
    for frame in &frames {
        a_tx.send(frame.clone()).await.unwrap();
        assert_eq!(
            timeout(LIMIT, b_rx.recv()).await.unwrap().as_ref(),
            Ok(frame)
        );
        b_tx.send(frame.clone()).await.unwrap();
        assert_eq!(
            timeout(LIMIT, a_rx.recv()).await.unwrap().as_ref(),
            Ok(frame)
        );
    }
    (a_tx, a_rx, b_tx, b_rx)
}

/// reth dials zks-devp2p, and zks-devp2p dials reth: zks/5 + `zks_2fa/1` links on both ends.
async fn links_both_ways(v: EthVersion) {
    use zks_api::transport::Transport;
    let net = reth_net(Capabilities::CURRENT).await;
    let mut reth_incoming = net.transport.listen(Capabilities::CURRENT).await.unwrap();
    let d = devp2p(v);
    let mut d_incoming = d.listen(Capabilities::CURRENT).await.unwrap();
    let d_addr = PeerAddr::new(d.local_enode().unwrap().to_string());

    let dialed = net
        .transport
        .dial(&d_addr, Capabilities::CURRENT)
        .await
        .unwrap();
    let accepted = timeout(LIMIT, d_incoming.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    // Each side's link names the other's eth Status: reth's, the zks-devp2p node's exactly as
    // sent; zks-devp2p's, reth's (same chain; the head is reth's own).
    let ours = zks_devp2p::eth::Status::ours(&ChainIdentity::zksync_os(CHAIN_ID), v).summary();
    assert_eq!(dialed.info().eth, Some(ours));
    let theirs = accepted.info().eth.expect("reth's Status");
    assert_eq!(
        (
            theirs.version,
            theirs.network_id,
            theirs.genesis,
            theirs.fork_hash,
            theirs.fork_next
        ),
        (
            ours.version,
            ours.network_id,
            ours.genesis,
            ours.fork_hash,
            ours.fork_next
        )
    );
    assert_eq!(theirs.blocks.is_some(), v == EthVersion::V69);
    let first = exchange_every_id(dialed, accepted).await;

    let d2 = devp2p(v);
    let dialed = d2.dial(&enode(&net), Capabilities::CURRENT).await.unwrap();
    let accepted = timeout(LIMIT, reth_incoming.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let second = exchange_every_id(dialed, accepted).await;
    // Both sessions up, each on the eth version asked for.
    assert_eth(&net, v, 2).await;
    drop((first, second));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reth_and_devp2p_links_carry_every_zks_and_zks_2fa_id_eth68() {
    links_both_ways(EthVersion::V68).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reth_and_devp2p_links_carry_every_zks_and_zks_2fa_id_eth69() {
    links_both_ways(EthVersion::V69).await;
}

/// A reth node whose engine does not listen: a zks-devp2p peer's session is refused with
/// `UselessPeer` once reth established it (the peer's dial fails, or its link ends, with
/// exactly that reason), and the reth side holds nothing for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reth_node_without_a_listener_refuses_sessions_with_useless_peer() {
    use zks_api::DisconnectReason;
    use zks_api::transport::{LinkClosed, Transport, TransportError};
    let net = reth_net(Capabilities::CURRENT).await;
    let d = devp2p(EthVersion::V69);
    match d.dial(&enode(&net), Capabilities::CURRENT).await {
        Err(TransportError::Refused { reason, .. }) => {
            assert_eq!(reason, DisconnectReason::UselessPeer);
        }
        Ok(link) => {
            let (_, _tx, mut rx) = link.split();
            let end = timeout(LIMIT, rx.recv()).await.unwrap();
            assert_eq!(end, Err(LinkClosed::ByPeer(DisconnectReason::UselessPeer)));
        }
        Err(other) => panic!("{other:?}"),
    }
    assert_eq!(net.transport.sessions(), 0);
}

/// Backpressure from a zks-devp2p peer that reads nothing, through reth: the devp2p side stops
/// reading its socket, reth's write buffer fills, reth stops taking from our outbound queue,
/// and our sender is held back (the kit's check, 16 KiB frames, before 4,096); once the peer
/// reads, every frame arrives in order. (The other way, a node that reads nothing behind reth
/// is cut off at the inbound budget instead: reth's channel to us is unbounded, see
/// `an_engine_that_falls_behind_closes_the_link_at_the_budget`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_devp2p_peer_that_reads_nothing_holds_back_a_reth_sender() {
    use zks_api::transport::Transport;
    let net = reth_net(Capabilities::CURRENT).await;
    let d = devp2p(EthVersion::V69);
    let mut d_incoming = d.listen(Capabilities::CURRENT).await.unwrap();
    let d_addr = PeerAddr::new(d.local_enode().unwrap().to_string());
    let dialed = net
        .transport
        .dial(&d_addr, Capabilities::CURRENT)
        .await
        .unwrap();
    let accepted = timeout(LIMIT, d_incoming.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    zks_api::conformance::backpressure_holds_a_sender_back(
        dialed,
        accepted,
        // 4,096 frames of 16 KiB (64 MiB, incompressible): more than the sockets can hold (the
        // receiver's buffer grows to 32 MiB here; reth's send side has no TCP_NOTSENT_LOWAT).
        // Held at ~230 when run alone, but under CI's load 1,024 frames all went into the
        // buffers within the stall.
        4096,
        Duration::from_secs(3),
    )
    .await;
}
