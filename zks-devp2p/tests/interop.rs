//! Interop with an independent RLPx implementation: `@ethereumjs/devp2p` driven by
//! `tests/interop/zks-peer.mjs` (run `npm ci --prefix tests/interop` first).
//!
//! Both directions: handshake, Hello, negotiation to zks/3, its GetBlockReplays decoded by us,
//! our GetBlockReplays answered with its BlockReplays, Ping/Pong, and a Disconnect reason seen
//! by both sides; eth/68 with the Status; and eth/68 + zks/5 + zks_2fa/1 at the offsets the
//! peer computes itself, with zks_2fa frames both ways.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::node_peer::{LIMIT, NodePeer, free_port, is};
use tokio::time::timeout;
use zks_api::transport::{LinkClosed, LinkReceiver, Transport, TransportError};
use zks_api::wire::{
    BlockReplays, Capabilities, Frame, GetBlockReplays, LinkCaps, Protocol, TwoFaMessage,
    TwoFaVersion, VerifierAuth, VerifierChallenge, VersionSet, ZksMessage, ZksVersion,
};
use zks_api::{DisconnectReason, PeerAddr};
use zks_devp2p::eth::{ChainIdentity, EthVersion, Status};
use zks_devp2p::{Devp2pConfig, Devp2pTransport, NodeKey};

const GET_BLOCK_REPLAYS: &str = "c32ac040";
const BLOCK_REPLAYS: &str = "c9c8c40582aabbc20680";

fn transport() -> Devp2pTransport {
    transport_with(|b| b)
}

fn transport_with(
    tweak: impl FnOnce(zks_devp2p::Devp2pConfigBuilder) -> zks_devp2p::Devp2pConfigBuilder,
) -> Devp2pTransport {
    let builder = Devp2pConfig::builder(NodeKey::generate())
        .listen_addr("127.0.0.1:0".parse().unwrap())
        .client_id("zks-devp2p-interop")
        // Ping often and demand Pongs quickly, so liveness is exercised within the test.
        .ping_interval(Duration::from_millis(100))
        .pong_timeout(Duration::from_millis(1500));
    Devp2pTransport::new(tweak(builder).build().unwrap())
}

/// A node of ZKsync OS chain 270, speaking eth.
fn eth_transport() -> Devp2pTransport {
    transport_with(|b| b.chain_identity(ChainIdentity::zksync_os(270)))
}

/// The Status an upstream node of chain 270 sends on eth/68, as hex.
fn our_status_68() -> String {
    hex::encode(Status::ours(&ChainIdentity::zksync_os(270), EthVersion::V68).to_vec())
}

async fn recv(rx: &mut LinkReceiver) -> Frame {
    timeout(LIMIT, rx.recv())
        .await
        .expect("recv timed out")
        .expect("link closed")
}

/// Its GetBlockReplays reaches us and decodes; ours is answered with its BlockReplays.
async fn replay_exchange(
    tx: &zks_api::transport::LinkSender,
    rx: &mut LinkReceiver,
    node: &mut NodePeer,
) {
    let theirs = recv(rx).await;
    assert_eq!(theirs.id, 0x00);
    assert_eq!(hex::encode(&theirs.body), GET_BLOCK_REPLAYS);
    assert_eq!(
        ZksMessage::decode(ZksVersion::V3, &theirs),
        Ok(ZksMessage::GetBlockReplays(GetBlockReplays {
            starting_block: 42,
            record_overrides: vec![],
            max_blocks_per_message: Some(64),
        }))
    );
    tx.send(Frame::zks(
        0x00,
        Bytes::from(hex::decode(GET_BLOCK_REPLAYS).unwrap()),
    ))
    .await
    .unwrap();
    let got = node.event("zks from us", is("zks")).await;
    assert_eq!(got["id"], 0);
    assert_eq!(got["payload_hex"], GET_BLOCK_REPLAYS);
    let answer = recv(rx).await;
    assert_eq!(answer.id, 0x01);
    assert_eq!(hex::encode(&answer.body), BLOCK_REPLAYS);
    assert!(matches!(
        ZksMessage::decode(ZksVersion::V3, &answer),
        Ok(ZksMessage::BlockReplays(BlockReplays { .. }))
    ));
}

/// With Pings every 100 ms and a 1.5 s Pong deadline, the link only survives this long if the
/// peer answers our Pings (waiting for the absence of a failure needs a wait).
async fn survives_pings(rx: &mut LinkReceiver) {
    let quiet = timeout(Duration::from_secs(2), rx.recv()).await;
    assert!(
        quiet.is_err(),
        "link ended or got traffic while idle: {quiet:?}"
    );
}

#[tokio::test]
async fn we_dial_the_ethereumjs_peer() {
    let port = free_port();
    let mut node = NodePeer::spawn(&["listen", &port.to_string()], &[]);
    let listening = node.event("listening", is("listening")).await;
    let enode = PeerAddr::new(listening["enode"].as_str().unwrap());
    let ours = transport();
    let link = ours.dial(&enode, VersionSet::ALL.into()).await.unwrap();
    assert_eq!(link.info().caps.zks, ZksVersion::V3);
    assert_eq!(link.info().peer, ours.peer_id(&enode).unwrap());
    let hello = node.event("hello", is("hello")).await;
    assert_eq!(hello["client"], "zks-devp2p-interop");
    assert_eq!(hello["protocolVersion"], 5);
    assert_eq!(
        hello["caps"],
        serde_json::json!(["zks/1", "zks/2", "zks/3", "zks/4", "zks/5"])
    );
    let (_, tx, mut rx) = link.split();
    replay_exchange(&tx, &mut rx, &mut node).await;
    survives_pings(&mut rx).await;
    // Our Disconnect (compressed [0x08]) is understood.
    tx.close(DisconnectReason::ClientQuitting);
    let gone = node.event("disconnect", is("disconnect")).await;
    assert_eq!(gone["reason"], 8, "{gone}");
    assert_eq!(gone["by_us"], false);
    let closed = timeout(LIMIT, rx.recv()).await.unwrap();
    assert!(matches!(
        closed,
        Err(LinkClosed::ByTransport {
            reason: DisconnectReason::ClientQuitting,
            ..
        })
    ));
}

#[tokio::test]
async fn the_ethereumjs_peer_dials_us() {
    let ours = transport();
    let mut incoming = ours.listen(VersionSet::ALL.into()).await.unwrap();
    let enode = ours.local_enode().unwrap().to_string();
    let mut node = NodePeer::spawn(
        &["dial", &enode],
        &[("ZKS_PEER_DISCONNECT_ON_REPLAYS", "8")],
    );
    let link = timeout(LIMIT, incoming.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(link.info().caps.zks, ZksVersion::V3);
    let hello = node.event("hello", is("hello")).await;
    assert_eq!(hello["client"], "zks-devp2p-interop");
    let (_, tx, mut rx) = link.split();
    replay_exchange(&tx, &mut rx, &mut node).await;
    survives_pings(&mut rx).await;
    // Its Disconnect (bare, uncompressed 0x08) is understood by us.
    tx.send(Frame::zks(
        0x01,
        Bytes::from(hex::decode(BLOCK_REPLAYS).unwrap()),
    ))
    .await
    .unwrap();
    let closed = timeout(LIMIT, rx.recv()).await.unwrap();
    assert_eq!(
        closed,
        Err(LinkClosed::ByPeer(DisconnectReason::ClientQuitting))
    );
    let gone = node.event("disconnect", is("disconnect")).await;
    assert_eq!(gone["reason"], 8, "{gone}");
    assert_eq!(gone["by_us"], true);
}

#[tokio::test]
async fn no_shared_version_with_the_ethereumjs_peer() {
    // It speaks only zks/3; we offer zks/1 and zks/2.
    let port = free_port();
    let mut node = NodePeer::spawn(&["listen", &port.to_string()], &[]);
    let listening = node.event("listening", is("listening")).await;
    let enode = PeerAddr::new(listening["enode"].as_str().unwrap());
    let ours = transport();
    let err = ours
        .dial(
            &enode,
            VersionSet::from([ZksVersion::V1, ZksVersion::V2]).into(),
        )
        .await
        .unwrap_err();
    // Its Hello arrives before its Disconnect 0x03, so we know what it speaks.
    match err {
        TransportError::NoCommonVersion {
            peer,
            local,
            remote,
        } => {
            assert_eq!(peer, ours.peer_id(&enode).unwrap());
            assert_eq!(local, VersionSet::from([ZksVersion::V1, ZksVersion::V2]));
            assert_eq!(remote, VersionSet::only(ZksVersion::V3));
        }
        other => panic!("{other:?}"),
    }
}

/// eth/68 next to zks/3 against an independent implementation: it computes the capability
/// offsets itself (eth 0x10–0x20, zks 0x21–0x27), receives our Status byte for byte as an
/// upstream node of chain 270 sends it, answers with a matching one, and replay runs — in both
/// directions.
#[tokio::test]
async fn eth68_status_and_zks_offsets_with_the_ethereumjs_peer_both_ways() {
    let port = free_port();
    let mut node = NodePeer::spawn(&["listen", &port.to_string()], &[("ZKS_PEER_ETH", "1")]);
    let listening = node.event("listening", is("listening")).await;
    let enode = PeerAddr::new(listening["enode"].as_str().unwrap());
    let ours = eth_transport();
    let link = ours.dial(&enode, VersionSet::ALL.into()).await.unwrap();
    let hello = node.event("hello", is("hello")).await;
    assert_eq!(
        hello["caps"],
        serde_json::json!([
            "eth/69", "eth/68", "eth/67", "eth/66", "zks/1", "zks/2", "zks/3", "zks/4", "zks/5"
        ])
    );
    let status = node.event("our status", is("eth")).await;
    assert_eq!(status["id"], 0);
    assert_eq!(status["payload_hex"], our_status_68());
    let (_, tx, mut rx) = link.split();
    // Its GetBlockReplays may come before its Status: held, then delivered.
    replay_exchange(&tx, &mut rx, &mut node).await;
    survives_pings(&mut rx).await;
    assert_eq!(ours.eth_messages_ignored(), 0);
    drop((tx, rx, node));

    let mut incoming = ours.listen(VersionSet::ALL.into()).await.unwrap();
    let enode = ours.local_enode().unwrap().to_string();
    let mut node = NodePeer::spawn(&["dial", &enode], &[("ZKS_PEER_ETH", "1")]);
    let link = timeout(LIMIT, incoming.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let status = node.event("our status", is("eth")).await;
    assert_eq!(status["payload_hex"], our_status_68());
    let (_, tx, mut rx) = link.split();
    replay_exchange(&tx, &mut rx, &mut node).await;
}

/// A Status of another network, genesis, fork or version ends the session with a protocol
/// breach the peer sees, and a typed error on our side; a healthy session of the same
/// transport is untouched.
#[tokio::test]
async fn a_mismatched_status_from_the_ethereumjs_peer_ends_the_session() {
    let ours = eth_transport();
    let port = free_port();
    let mut healthy = NodePeer::spawn(&["listen", &port.to_string()], &[("ZKS_PEER_ETH", "1")]);
    let listening = healthy.event("listening", is("listening")).await;
    let enode = PeerAddr::new(listening["enode"].as_str().unwrap());
    let (_, healthy_tx, mut healthy_rx) = ours
        .dial(&enode, VersionSet::ALL.into())
        .await
        .unwrap()
        .split();
    for (tamper, expected) in [
        (
            "network",
            "network id mismatch: the peer's is 999999, ours 270",
        ),
        ("genesis", "genesis mismatch"),
        ("fork", "fork id deadbeef"),
        ("version", "status version 67"),
    ] {
        let port = free_port();
        let mut node = NodePeer::spawn(
            &["listen", &port.to_string()],
            &[("ZKS_PEER_ETH", "1"), ("ZKS_PEER_ETH_TAMPER", tamper)],
        );
        let listening = node.event("listening", is("listening")).await;
        let enode = PeerAddr::new(listening["enode"].as_str().unwrap());
        let err = ours.dial(&enode, VersionSet::ALL.into()).await.unwrap_err();
        match &err {
            TransportError::Handshake { reason, .. } => {
                assert!(reason.contains(expected), "{tamper}: {reason}");
            }
            other => panic!("{tamper}: {other:?}"),
        }
        let gone = node.event("disconnect", is("disconnect")).await;
        assert_eq!(gone["reason"], 2, "{tamper}: {gone}");
    }
    replay_exchange(&healthy_tx, &mut healthy_rx, &mut healthy).await;
}

const V5_2FA: Capabilities = Capabilities {
    zks: VersionSet::only(ZksVersion::V5),
    zks_2fa: Some(TwoFaVersion::V1),
};

/// A zks_2fa/1 VerifierAuth body: `[signature]`, 65 bytes (not a real signature: the peer is
/// scripted, and this layer does not check it).
fn auth_body() -> String {
    format!("f843b841{}", "11".repeat(65))
}

/// The peer as a verifier EN beside eth/68 and zks/5: it sends VerifierRoleRequest (`c0`) as
/// soon as zks_2fa is up, answers a VerifierChallenge with a VerifierAuth, and (zks defaults)
/// sends GetBlockReplays and answers ours with BlockReplays.
fn verifier_en_env(auth: &str) -> Vec<(&'static str, String)> {
    vec![
        ("ZKS_PEER_ETH", "1".into()),
        ("ZKS_PEER_ZKS", "5".into()),
        ("ZKS_PEER_2FA", "1".into()),
        ("ZKS_PEER_2FA_OPEN", "0:c0".into()),
        ("ZKS_PEER_2FA_REPLY", format!("1>2:{auth}")),
    ]
}

fn env_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// What the peer says once the Hellos are exchanged: our Hello's list, then the offsets it
/// computed (eth/68 0x10 + 17 = 0x21 for zks/5, + 2 = 0x23 for zks_2fa/1), then our Status.
async fn eth68_zks5_zks2fa1_hello(node: &mut NodePeer) {
    let hello = node.event("hello", is("hello")).await;
    assert_eq!(hello["client"], "zks-devp2p-interop");
    assert_eq!(
        hello["caps"],
        serde_json::json!(["eth/69", "eth/68", "eth/67", "eth/66", "zks/5", "zks_2fa/1"])
    );
    let layout = node.event("protocols", is("protocols")).await;
    assert_eq!(
        layout["layout"],
        serde_json::json!([
            {"cap": "eth/68", "offset": 0x10, "length": 17},
            {"cap": "zks/5", "offset": 0x21, "length": 2},
            {"cap": "zks_2fa/1", "offset": 0x23, "length": 5},
        ])
    );
    let status = node.event("our status", is("eth")).await;
    assert_eq!(status["id"], 0);
    assert_eq!(status["payload_hex"], our_status_68());
}

/// The peer's own frames arrive tagged with their protocol (GetBlockReplays on zks/5 at 0x21,
/// VerifierRoleRequest on zks_2fa/1 at 0x23), ours reach it at the absolute ids it computed
/// (VerifierChallenge 0x24, VerifyBatchResult's id 0x27, BlockReplays 0x22), and its
/// VerifierAuth answer (0x25) comes back as zks_2fa id 2.
async fn twofa_exchange(
    tx: &zks_api::transport::LinkSender,
    rx: &mut LinkReceiver,
    node: &mut NodePeer,
) {
    // Its two opening messages, sent from two timers: either may come first.
    let mut first = vec![recv(rx).await, recv(rx).await];
    first.sort_by_key(|f| f.protocol);
    assert_eq!(
        first,
        [
            Frame::zks(0x00, hex::decode(GET_BLOCK_REPLAYS).unwrap()),
            Frame::new(Protocol::Zks2fa, 0x00, vec![0xc0]),
        ]
    );
    assert_eq!(
        ZksMessage::decode(ZksVersion::V5, &first[0]),
        Ok(ZksMessage::GetBlockReplays(GetBlockReplays {
            starting_block: 42,
            record_overrides: vec![],
            max_blocks_per_message: Some(64),
        }))
    );
    assert_eq!(
        TwoFaMessage::decode(TwoFaVersion::V1, &first[1]),
        Ok(TwoFaMessage::VerifierRoleRequest)
    );

    // Our challenge, a VerifyBatchResult-id frame (the last zks_2fa id), then BlockReplays.
    let challenge = TwoFaMessage::VerifierChallenge(VerifierChallenge { nonce: [0x5a; 32] });
    tx.send(challenge.to_frame()).await.unwrap();
    let result_id = Frame::new(Protocol::Zks2fa, 0x04, hex::decode("01028080").unwrap());
    tx.send(result_id).await.unwrap();
    tx.send(Frame::zks(0x01, hex::decode(BLOCK_REPLAYS).unwrap()))
        .await
        .unwrap();
    let got = node.event("our challenge", is("zks_2fa")).await;
    assert_eq!(got["id"], 1);
    assert_eq!(got["wire_id"], 0x24);
    assert_eq!(got["payload_hex"], format!("e1a0{}", "5a".repeat(32)));
    let got = node.event("our result-id frame", is("zks_2fa")).await;
    assert_eq!(got["id"], 4);
    assert_eq!(got["wire_id"], 0x27);
    assert_eq!(got["payload_hex"], "01028080");
    let got = node.event("our BlockReplays", is("zks")).await;
    assert_eq!(got["id"], 1);
    assert_eq!(got["wire_id"], 0x22);
    assert_eq!(got["payload_hex"], BLOCK_REPLAYS);

    // Its answer to the challenge.
    let auth = recv(rx).await;
    assert_eq!(
        auth,
        Frame::new(Protocol::Zks2fa, 0x02, hex::decode(auth_body()).unwrap())
    );
    assert_eq!(
        TwoFaMessage::decode(TwoFaVersion::V1, &auth),
        Ok(TwoFaMessage::VerifierAuth(VerifierAuth {
            signature: Bytes::from(vec![0x11; 65])
        }))
    );

    // And zks still answers: our GetBlockReplays (0x21) gets its BlockReplays.
    tx.send(Frame::zks(0x00, hex::decode(GET_BLOCK_REPLAYS).unwrap()))
        .await
        .unwrap();
    let got = node.event("our GetBlockReplays", is("zks")).await;
    assert_eq!(got["wire_id"], 0x21);
    assert_eq!(got["payload_hex"], GET_BLOCK_REPLAYS);
    assert_eq!(
        recv(rx).await,
        Frame::zks(0x01, hex::decode(BLOCK_REPLAYS).unwrap())
    );
}

/// eth/68 + zks/5 + zks_2fa/1 against an independent implementation, both directions: it
/// computes the offsets itself, sees our zks_2fa frames at its absolute ids, and its zks_2fa
/// frames reach the engine tagged `Zks2fa` with relative ids.
#[tokio::test]
async fn zks5_and_zks_2fa_with_the_ethereumjs_peer_both_ways() {
    let env = verifier_en_env(&auth_body());
    let both = LinkCaps {
        zks: ZksVersion::V5,
        zks_2fa: Some(TwoFaVersion::V1),
    };

    // We dial it.
    let port = free_port();
    let mut node = NodePeer::spawn(&["listen", &port.to_string()], &env_refs(&env));
    let listening = node.event("listening", is("listening")).await;
    let enode = PeerAddr::new(listening["enode"].as_str().unwrap());
    let ours = eth_transport();
    let link = ours.dial(&enode, V5_2FA).await.unwrap();
    assert_eq!(link.info().caps, both);
    eth68_zks5_zks2fa1_hello(&mut node).await;
    let (_, tx, mut rx) = link.split();
    twofa_exchange(&tx, &mut rx, &mut node).await;
    survives_pings(&mut rx).await;
    tx.close(DisconnectReason::ClientQuitting);
    let gone = node.event("disconnect", is("disconnect")).await;
    assert_eq!(gone["reason"], 8, "{gone}");
    drop((tx, rx, node));

    // It dials us.
    let mut incoming = ours.listen(V5_2FA).await.unwrap();
    let enode = ours.local_enode().unwrap().to_string();
    let mut node = NodePeer::spawn(&["dial", &enode], &env_refs(&env));
    let link = timeout(LIMIT, incoming.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(link.info().caps, both);
    eth68_zks5_zks2fa1_hello(&mut node).await;
    let (_, tx, mut rx) = link.split();
    twofa_exchange(&tx, &mut rx, &mut node).await;
}

/// Either side without zks_2fa: the link is zks/5 only, the peer's layout has no zks_2fa, and
/// replay still runs.
#[tokio::test]
async fn zks_2fa_is_left_out_when_one_side_lacks_it_with_the_ethereumjs_peer() {
    let plain = [("ZKS_PEER_ETH", "1"), ("ZKS_PEER_ZKS", "5")];
    let with = verifier_en_env(&auth_body());
    let with = env_refs(&with);
    let v5 = Capabilities::from(ZksVersion::V5);
    for (env, caps, our_caps) in [
        (
            &plain[..],
            V5_2FA,
            serde_json::json!(["eth/69", "eth/68", "eth/67", "eth/66", "zks/5", "zks_2fa/1"]),
        ),
        (
            &with[..],
            v5,
            serde_json::json!(["eth/69", "eth/68", "eth/67", "eth/66", "zks/5"]),
        ),
    ] {
        let port = free_port();
        let mut node = NodePeer::spawn(&["listen", &port.to_string()], env);
        let listening = node.event("listening", is("listening")).await;
        let enode = PeerAddr::new(listening["enode"].as_str().unwrap());
        let ours = eth_transport();
        let link = ours.dial(&enode, caps).await.unwrap();
        assert_eq!(link.info().caps, LinkCaps::zks(ZksVersion::V5));
        let hello = node.event("hello", is("hello")).await;
        assert_eq!(hello["caps"], our_caps);
        let layout = node.event("protocols", is("protocols")).await;
        assert_eq!(
            layout["layout"],
            serde_json::json!([
                {"cap": "eth/68", "offset": 0x10, "length": 17},
                {"cap": "zks/5", "offset": 0x21, "length": 2},
            ])
        );
        let (_, tx, mut rx) = link.split();
        // Only its GetBlockReplays comes (its zks_2fa side never opened).
        assert_eq!(
            recv(&mut rx).await,
            Frame::zks(0x00, hex::decode(GET_BLOCK_REPLAYS).unwrap())
        );
        tx.send(Frame::zks(0x00, hex::decode(GET_BLOCK_REPLAYS).unwrap()))
            .await
            .unwrap();
        let got = node.event("our GetBlockReplays", is("zks")).await;
        assert_eq!(got["wire_id"], 0x21);
        assert_eq!(
            recv(&mut rx).await,
            Frame::zks(0x01, hex::decode(BLOCK_REPLAYS).unwrap())
        );
    }
}
