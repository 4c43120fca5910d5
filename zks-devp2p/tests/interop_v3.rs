//! Interop of the current generation with typed v3 records, against an independent RLPx
//! implementation (`@ethereumjs/devp2p` driven by `tests/interop/zks-peer.mjs`; run
//! `npm ci --prefix tests/interop` first, else these tests print `SKIPPED` and return) playing
//! an upstream ZKsync OS main node or external node, on eth/68 and on eth/69.
//!
//! - eth/69 Status and capability offsets (eth 0x10–0x21, zks/5 0x22–0x23, zks_2fa/1
//!   0x24–0x28) as both sides compute them, frames at both ends of each range, both directions;
//! - our `Node` as an EN replaying the fixture chain (`common::v3_chain`, built around
//!   upstream's vector records) from the peer as an upstream MN, asking 1 or 64 records per
//!   message: exactly blocks 1..=last, byte for byte;
//! - the peer as an upstream EN (asking `[1, [], 1]`) replaying the same chain from our `Node`
//!   as MN: one record per `BlockReplays`, byte for byte, in order;
//! - our EN refusing upstream's malformed vector record from the peer: the link ends with a
//!   protocol breach and the sink keeps only the blocks before it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::node_peer::{self, LIMIT, NodePeer, free_port, is, message};
use common::v3_chain::{self, encoded, upstream_malformed, upstream_pair, v3_chain};
use serde_json::{Value, json};
use tokio::time::timeout;
use zks_api::engine::ProtocolError;
use zks_api::transport::{LinkReceiver, Transport};
use zks_api::wire::{
    BlockReplays, Capabilities, Frame, LinkCaps, Protocol, TwoFaVersion, VersionSet, ZksMessage,
    ZksVersion,
};
use zks_api::{
    CloseCause, DisconnectReason, EventStream, MemoryReplayStore, Node, NodeSettings, PeerAddr,
    ProtocolEvent, ReplayRecord,
};
use zks_devp2p::eth::{ChainIdentity, EthVersion, Status};
use zks_devp2p::{Devp2pConfig, Devp2pTransport, NodeKey};
use zks_wire::zksync_os::V3Record;

/// The fixture chain's last block: more than one 64-record message, so a request for 64
/// gets two messages.
const LAST: u64 = 120;

/// The peer's eth version for one run, with what both sides must then agree on.
#[derive(Clone, Copy, Debug)]
enum Eth {
    V68,
    V69,
}

impl Eth {
    /// `ZKS_PEER_ETH`.
    fn env(self) -> &'static str {
        match self {
            Self::V68 => "68",
            Self::V69 => "69",
        }
    }

    /// Our Status on this version, as an upstream node of chain 270 sends it, as hex.
    fn status(self) -> String {
        let version = match self {
            Self::V68 => EthVersion::V68,
            Self::V69 => EthVersion::V69,
        };
        hex::encode(Status::ours(&ChainIdentity::zksync_os(270), version).to_vec())
    }

    /// The offsets the peer must compute: eth from 0x10 (17 or 18 ids), zks/5 (2 ids) next,
    /// then zks_2fa/1 (5 ids) when both sides have it.
    fn layout(self, twofa: bool) -> Value {
        let (cap, length) = match self {
            Self::V68 => ("eth/68", 17),
            Self::V69 => ("eth/69", 18),
        };
        let zks = 0x10 + length;
        let mut layout = vec![
            json!({"cap": cap, "offset": 0x10, "length": length}),
            json!({"cap": "zks/5", "offset": zks, "length": 2}),
        ];
        if twofa {
            layout.push(json!({"cap": "zks_2fa/1", "offset": zks + 2, "length": 5}));
        }
        Value::Array(layout)
    }

    /// The absolute id of zks/5 message 0.
    fn zks_offset(self) -> u64 {
        match self {
            Self::V68 => 0x21,
            Self::V69 => 0x22,
        }
    }
}

/// A devp2p transport of ZKsync OS chain 270 (so eth is on), pinging often.
fn eth_transport() -> Devp2pTransport {
    Devp2pTransport::new(
        Devp2pConfig::builder(NodeKey::generate())
            .listen_addr("127.0.0.1:0".parse().unwrap())
            .client_id("zks-devp2p-interop")
            .chain_identity(ChainIdentity::zksync_os(270))
            .ping_interval(Duration::from_millis(100))
            .pong_timeout(Duration::from_millis(1500))
            .build()
            .unwrap(),
    )
}

/// Our Hello's capability list, as the peer prints it, with or without zks_2fa/1.
fn our_hello_caps(twofa: bool) -> Value {
    let mut caps = vec!["eth/69", "eth/68", "eth/67", "eth/66", "zks/5"];
    if twofa {
        caps.push("zks_2fa/1");
    }
    json!(caps)
}

fn env_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Writes the peer's records file (`<block> <hex>` per line) under the target's temporary
/// directory, as `<name>-<pid>.records`.
fn records_file(name: &str, lines: &[(u64, Vec<u8>)]) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{name}-{}.records", std::process::id()));
    let text: String = lines
        .iter()
        .map(|(block, item)| format!("{block} {}\n", hex::encode(item)))
        .collect();
    std::fs::write(&path, text).unwrap();
    path
}

/// The fixture chain's blocks 1..=`last` with their encodings.
fn chain_lines(last: u64) -> Vec<(u64, Vec<u8>)> {
    v3_chain(last)
        .iter()
        .map(|r| (r.block_number(), encoded(r)))
        .collect()
}

/// The next event, within [`LIMIT`].
async fn next_event(events: &mut EventStream, what: &str) -> ProtocolEvent {
    timeout(LIMIT, events.next())
        .await
        .unwrap_or_else(|_| panic!("no {what} in time"))
        .expect("node gone")
}

// ---------------------------------------------------------------------------------------------
// The fixture.

/// The fixture chain: blocks 1..=LAST in order, each following the one before, 42 and 43
/// byte-identical to upstream's vector items, every record byte-exact through decode and
/// encode; the malformed vector record does not decode.
#[test]
fn the_v3_fixture_chain_is_upstreams_pair_with_a_chain_around_it() {
    let chain = v3_chain(LAST);
    assert_eq!(
        chain
            .iter()
            .map(ReplayRecord::block_number)
            .collect::<Vec<_>>(),
        (1..=LAST).collect::<Vec<_>>()
    );
    for pair in chain.windows(2) {
        assert!(
            pair[1].follows(&pair[0]),
            "block {} does not follow block {}",
            pair[1].block_number(),
            pair[0].block_number()
        );
        // The window's last slot is the previous block's output hash.
        assert_eq!(
            pair[1].parent_hash().to_be_bytes(),
            pair[0].block_output_hash,
            "block {}",
            pair[1].block_number()
        );
    }
    assert!(chain.iter().all(|r| r.block_context.chain_id == 270));
    // Block 1's window holds only the genesis hash, in its last slot.
    let first = &chain[0].block_context.block_hashes;
    assert!(first[..255].iter().all(|h| h.is_zero()));
    assert!(!first[255].is_zero());

    let [item42, item43] = upstream_pair();
    assert_eq!(encoded(&chain[41]), item42);
    assert_eq!(encoded(&chain[42]), item43);
    assert_eq!(chain[41].block_number(), v3_chain::VECTOR_BLOCK);
    for record in &chain {
        let bytes = encoded(record);
        let back = V3Record::decode(ZksVersion::V5, &bytes.clone().into()).unwrap();
        assert_eq!(&back, record, "block {}", record.block_number());
        assert_eq!(encoded(&back), bytes, "block {}", record.block_number());
    }
    // A shorter chain is a prefix of a longer one.
    assert_eq!(v3_chain(43), chain[..43]);

    assert_eq!(
        V3Record::decode(ZksVersion::V5, &upstream_malformed())
            .unwrap_err()
            .to_string(),
        "invalid replay record: block_context.block_hashes: expected array of length 256, got 255"
    );
}

// ---------------------------------------------------------------------------------------------
// eth/69 and the offsets, at the transport.

/// What the peer sends at the ends of each range: GetBlockReplays `[42, [], 64]` on opening
/// (zks 0), BlockReplays with two raw records for our GetBlockReplays (zks 1),
/// VerifierRoleRequest on opening (zks_2fa 0), and a frame with the last zks_2fa id (4) for
/// our challenge (zks_2fa 1).
const GET_BLOCK_REPLAYS: &str = "c32ac040";
const BLOCK_REPLAYS: &str = "c9c8c40582aabbc20680";
const LAST_2FA_BODY: &str = "01028080";

fn eth69_env() -> Vec<(&'static str, String)> {
    vec![
        ("ZKS_PEER_ETH", "69".into()),
        ("ZKS_PEER_ZKS", "5".into()),
        ("ZKS_PEER_2FA", "1".into()),
        ("ZKS_PEER_2FA_OPEN", "0:c0".into()),
        ("ZKS_PEER_2FA_REPLY", format!("1>4:{LAST_2FA_BODY}")),
    ]
}

async fn recv(rx: &mut LinkReceiver) -> Frame {
    timeout(LIMIT, rx.recv())
        .await
        .expect("recv timed out")
        .expect("link closed")
}

/// Both sides on eth/69: the peer got our Hello and computed eth/69 0x10–0x21, zks/5
/// 0x22–0x23, zks_2fa/1 0x24–0x28; our eth/69 Status reached it byte for byte (and its echo
/// passed our check, or the link would not be up). Then frames at the first and last id of
/// zks/5 and zks_2fa/1 cross both ways, each arriving under its own protocol and id.
async fn eth69_exchange(
    tx: &zks_api::transport::LinkSender,
    rx: &mut LinkReceiver,
    node: &mut NodePeer,
) {
    let hello = node.event("hello", is("hello")).await;
    assert_eq!(hello["client"], "zks-devp2p-interop");
    assert_eq!(hello["caps"], our_hello_caps(true));
    let layout = node.event("protocols", is("protocols")).await;
    assert_eq!(
        layout["layout"],
        json!([
            {"cap": "eth/69", "offset": 0x10, "length": 18},
            {"cap": "zks/5", "offset": 0x22, "length": 2},
            {"cap": "zks_2fa/1", "offset": 0x24, "length": 5},
        ])
    );
    assert_eq!(layout["layout"], Eth::V69.layout(true));
    let status = node.event("our Status", message("eth", 0)).await;
    assert_eq!(status["payload_hex"], Eth::V69.status());

    // Its openings (0x22, 0x24), from two timers: either may come first.
    let mut first = vec![recv(rx).await, recv(rx).await];
    first.sort_by_key(|f| f.protocol);
    assert_eq!(
        first,
        [
            Frame::zks(0x00, hex::decode(GET_BLOCK_REPLAYS).unwrap()),
            Frame::new(Protocol::Zks2fa, 0x00, vec![0xc0]),
        ]
    );

    // Ours: zks 0 and 1 (0x22, 0x23), zks_2fa 1 and 4 (0x25, 0x28).
    tx.send(Frame::zks(0x00, hex::decode(GET_BLOCK_REPLAYS).unwrap()))
        .await
        .unwrap();
    tx.send(Frame::zks(0x01, hex::decode(BLOCK_REPLAYS).unwrap()))
        .await
        .unwrap();
    let challenge = format!("e1a0{}", "5a".repeat(32));
    tx.send(Frame::new(
        Protocol::Zks2fa,
        0x01,
        hex::decode(&challenge).unwrap(),
    ))
    .await
    .unwrap();
    tx.send(Frame::new(
        Protocol::Zks2fa,
        0x04,
        hex::decode(LAST_2FA_BODY).unwrap(),
    ))
    .await
    .unwrap();
    for (kind, id, wire_id, body) in [
        ("zks", 0, 0x22, GET_BLOCK_REPLAYS),
        ("zks", 1, 0x23, BLOCK_REPLAYS),
        ("zks_2fa", 1, 0x25, challenge.as_str()),
        ("zks_2fa", 4, 0x28, LAST_2FA_BODY),
    ] {
        let got = node
            .event("our frame", |e| {
                e["event"] == "zks" || e["event"] == "zks_2fa"
            })
            .await;
        assert_eq!(
            (
                &got["event"],
                &got["id"],
                &got["wire_id"],
                &got["payload_hex"]
            ),
            (&json!(kind), &json!(id), &json!(wire_id), &json!(body)),
            "{got}"
        );
    }

    // Its answers (0x23 to our GetBlockReplays, 0x28 to our challenge), in either order.
    let mut answers = vec![recv(rx).await, recv(rx).await];
    answers.sort_by_key(|f| f.protocol);
    assert_eq!(
        answers,
        [
            Frame::zks(0x01, hex::decode(BLOCK_REPLAYS).unwrap()),
            Frame::new(Protocol::Zks2fa, 0x04, hex::decode(LAST_2FA_BODY).unwrap()),
        ]
    );
}

/// eth/69 against an independent implementation, both directions: the same Status and the
/// same offsets on both sides, the ones an upstream node uses on eth/69 (eth 0x10–0x21, zks/5
/// 0x22–0x23, zks_2fa/1 0x24–0x28).
#[tokio::test]
async fn eth69_status_and_offsets_with_the_ethereumjs_peer_both_ways() {
    if !node_peer::available("eth69_status_and_offsets_with_the_ethereumjs_peer_both_ways") {
        return;
    }
    let env = eth69_env();
    let caps = Capabilities {
        zks: VersionSet::only(ZksVersion::V5),
        zks_2fa: Some(TwoFaVersion::V1),
    };
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
    let link = ours.dial(&enode, caps).await.unwrap();
    assert_eq!(link.info().caps, both);
    let (_, tx, mut rx) = link.split();
    eth69_exchange(&tx, &mut rx, &mut node).await;
    assert_eq!(ours.eth_messages_ignored(), 0);
    drop((tx, rx, node));

    // It dials us.
    let mut incoming = ours.listen(caps).await.unwrap();
    let enode = ours.local_enode().unwrap().to_string();
    let mut node = NodePeer::spawn(&["dial", &enode], &env_refs(&env));
    let link = timeout(LIMIT, incoming.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(link.info().caps, both);
    let (_, tx, mut rx) = link.split();
    eth69_exchange(&tx, &mut rx, &mut node).await;
    assert_eq!(ours.eth_messages_ignored(), 0);
}

// ---------------------------------------------------------------------------------------------
// Our external node, the peer as an upstream main node.

/// The peer as an upstream MN (eth, zks/5, zks_2fa/1, serving `records` from a file), listening.
async fn upstream_main_node(
    eth: Eth,
    name: &str,
    records: &[(u64, Vec<u8>)],
) -> (NodePeer, PeerAddr) {
    let path = records_file(name, records);
    let env = [
        ("ZKS_PEER_ETH", eth.env().to_owned()),
        ("ZKS_PEER_ZKS", "5".to_owned()),
        ("ZKS_PEER_2FA", "1".to_owned()),
        ("ZKS_PEER_RECORDS", path.to_str().unwrap().to_owned()),
    ];
    let port = free_port();
    let mut node = NodePeer::spawn(&["listen", &port.to_string()], &env_refs(&env));
    let listening = node.event("listening", is("listening")).await;
    // Read at start, before it listens.
    std::fs::remove_file(&path).unwrap();
    let enode = PeerAddr::new(listening["enode"].as_str().unwrap());
    (node, enode)
}

/// Our EN of chain 270 (zks/5 + zks_2fa/1, no verifier key) with an empty v3 store whose next
/// block is 1, asking `max` records per message of `mn`, its only trusted main node. A link
/// that ends is redialled only after a minute (beyond every test here).
async fn our_external_node(
    mn: PeerAddr,
    max: usize,
) -> (Node, Arc<MemoryReplayStore<V3Record>>, EventStream) {
    let store = Arc::new(MemoryReplayStore::<V3Record>::with_first_block(1));
    let settings = NodeSettings::default()
        .with_max_blocks_per_message(max)
        .with_redial(Duration::from_secs(60), Duration::from_secs(60));
    let mut builder = Node::builder(eth_transport())
        .settings(settings)
        .capabilities(Capabilities::CURRENT)
        .external_node(Arc::clone(&store))
        .trusted_main_node(mn);
    let events = builder.subscribe();
    let en = builder.start().await.unwrap();
    (en, store, events)
}

/// The handshake as the peer saw it: our Hello, the offsets it computed for `eth` + zks/5 +
/// zks_2fa/1, our Status, and our GetBlockReplays `[1, [], max]` at zks/5's first id.
async fn upstream_mn_saw_our_request(node: &mut NodePeer, eth: Eth, max: u8) {
    let hello = node.event("hello", is("hello")).await;
    assert_eq!(hello["client"], "zks-devp2p-interop");
    assert_eq!(hello["caps"], our_hello_caps(true));
    let seen = node
        .events_any_order(&[
            ("protocols", &is("protocols")),
            ("our Status", &message("eth", 0)),
            ("our GetBlockReplays", &message("zks", 0)),
        ])
        .await;
    let [layout, status, get] = <[Value; 3]>::try_from(seen).unwrap();
    assert_eq!(layout["layout"], eth.layout(true));
    assert_eq!(status["payload_hex"], eth.status());
    assert_eq!(get["wire_id"], eth.zks_offset());
    assert_eq!(get["payload_hex"], format!("c301c0{max:02x}"));
}

/// Our EN replays blocks 1..=LAST from the upstream MN: the MN sends them in messages of
/// `max` (the last one shorter), our node applies them in contiguous runs with no link
/// ending, and the store ends with exactly blocks 1..=LAST, each encoding to the MN's line.
async fn our_en_replays_from_an_upstream_mn(eth: Eth, max: u8) {
    let lines = chain_lines(LAST);
    let name = format!("en-from-upstream-mn-{}-{max}", eth.env());
    let (mut node, enode) = upstream_main_node(eth, &name, &lines).await;
    let (en, store, mut events) = our_external_node(enode, max.into()).await;
    upstream_mn_saw_our_request(&mut node, eth, max).await;

    let mut first = 1;
    while first <= LAST {
        let count = u64::from(max).min(LAST + 1 - first);
        let sent = node.event("sent", is("sent")).await;
        assert_eq!(
            sent,
            json!({"event": "sent", "first": first, "count": count})
        );
        first += count;
    }

    let mut next = 1;
    while next <= LAST {
        match next_event(&mut events, "ReplayApplied").await {
            ProtocolEvent::ReplayApplied {
                first_block,
                last_block,
                ..
            } => {
                assert_eq!(first_block, next);
                assert!(last_block >= first_block && last_block <= LAST);
                next = last_block + 1;
            }
            ProtocolEvent::Closed { cause, .. } => panic!("link closed: {cause}"),
            _ => {}
        }
    }
    assert_eq!(store.block_numbers(), (1..=LAST).collect::<Vec<_>>());
    let got: Vec<(u64, Vec<u8>)> = store
        .records()
        .iter()
        .map(|r| (r.block_number(), encoded(r)))
        .collect();
    assert_eq!(got, lines);
    assert_eq!(en.sessions().len(), 1, "the link is still up");
}

#[tokio::test]
async fn our_en_replays_the_v3_chain_from_an_upstream_mn_eth68_max1() {
    if node_peer::available("our_en_replays_the_v3_chain_from_an_upstream_mn_eth68_max1") {
        our_en_replays_from_an_upstream_mn(Eth::V68, 1).await;
    }
}

#[tokio::test]
async fn our_en_replays_the_v3_chain_from_an_upstream_mn_eth69_max1() {
    if node_peer::available("our_en_replays_the_v3_chain_from_an_upstream_mn_eth69_max1") {
        our_en_replays_from_an_upstream_mn(Eth::V69, 1).await;
    }
}

#[tokio::test]
async fn our_en_replays_the_v3_chain_from_an_upstream_mn_eth68_max64() {
    if node_peer::available("our_en_replays_the_v3_chain_from_an_upstream_mn_eth68_max64") {
        our_en_replays_from_an_upstream_mn(Eth::V68, 64).await;
    }
}

#[tokio::test]
async fn our_en_replays_the_v3_chain_from_an_upstream_mn_eth69_max64() {
    if node_peer::available("our_en_replays_the_v3_chain_from_an_upstream_mn_eth69_max64") {
        our_en_replays_from_an_upstream_mn(Eth::V69, 64).await;
    }
}

/// The upstream MN holds blocks 1..=41 of the chain, then upstream's malformed vector record
/// as block 42. Our EN applies what came before it and ends the link on it: `Closed` with the
/// record's decode error (a protocol violation), Disconnect `ProtocolBreach` (0x02) as the
/// peer sees it. Asking 1 per message, the sink keeps 1..=41; asking 64, the one message
/// holding blocks 1..=42 is refused whole and the sink stays empty.
async fn our_en_refuses_the_malformed_record(eth: Eth, max: u8) {
    let mut lines = chain_lines(LAST);
    lines.truncate(41);
    lines.push((42, upstream_malformed().to_vec()));
    let name = format!("en-refuses-malformed-{}-{max}", eth.env());
    let (mut node, enode) = upstream_main_node(eth, &name, &lines).await;
    let (_en, store, mut events) = our_external_node(enode, max.into()).await;
    upstream_mn_saw_our_request(&mut node, eth, max).await;

    let valid: Vec<u64> = if max == 1 {
        (1..=41).collect()
    } else {
        Vec::new()
    };
    let mut applied = Vec::new();
    let cause = loop {
        match next_event(&mut events, "Closed").await {
            ProtocolEvent::ReplayApplied {
                first_block,
                last_block,
                ..
            } => applied.extend(first_block..=last_block),
            ProtocolEvent::Closed { cause, .. } => break cause,
            _ => {}
        }
    };
    assert!(
        matches!(&cause, CloseCause::Protocol(ProtocolError::Record(_))),
        "{cause:?}"
    );
    assert_eq!(
        cause.to_string(),
        "protocol violation: invalid replay record where block 42 was due: block_context.block_hashes: expected array of length 256, got 255"
    );
    assert_eq!(
        cause.disconnect_reason(),
        Some(DisconnectReason::ProtocolBreach)
    );
    let gone = node.event("disconnect", is("disconnect")).await;
    assert_eq!(
        gone["reason"],
        DisconnectReason::ProtocolBreach as u8,
        "{gone}"
    );
    assert_eq!(gone["by_us"], false);

    assert_eq!(applied, valid);
    assert_eq!(store.block_numbers(), valid);
    let kept: Vec<Vec<u8>> = store.records().iter().map(encoded).collect();
    let expected: Vec<Vec<u8>> = lines[..valid.len()]
        .iter()
        .map(|(_, b)| b.clone())
        .collect();
    assert_eq!(kept, expected);
}

#[tokio::test]
async fn our_en_refuses_upstreams_malformed_v3_record_eth68_max1() {
    if node_peer::available("our_en_refuses_upstreams_malformed_v3_record_eth68_max1") {
        our_en_refuses_the_malformed_record(Eth::V68, 1).await;
    }
}

#[tokio::test]
async fn our_en_refuses_upstreams_malformed_v3_record_eth69_max1() {
    if node_peer::available("our_en_refuses_upstreams_malformed_v3_record_eth69_max1") {
        our_en_refuses_the_malformed_record(Eth::V69, 1).await;
    }
}

#[tokio::test]
async fn our_en_refuses_upstreams_malformed_v3_record_eth68_max64() {
    if node_peer::available("our_en_refuses_upstreams_malformed_v3_record_eth68_max64") {
        our_en_refuses_the_malformed_record(Eth::V68, 64).await;
    }
}

#[tokio::test]
async fn our_en_refuses_upstreams_malformed_v3_record_eth69_max64() {
    if node_peer::available("our_en_refuses_upstreams_malformed_v3_record_eth69_max64") {
        our_en_refuses_the_malformed_record(Eth::V69, 64).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Our main node, the peer as an upstream external node.

/// The peer as an upstream EN (eth, zks/5, no zks_2fa: batch verification off) dials our MN
/// serving the chain 1..=LAST from a v3 store and asks `[1, [], max]`: our MN reports the
/// request (from 1, `max` per message, no overrides) and `max` blocks per `BlockReplays`
/// (the last shorter), through LAST; the peer receives, at zks/5's id 1, exactly those
/// messages, each byte-equal to ours once decompressed, blocks 1..=LAST in order. With 64 per
/// message a body is ~566 KB, which our MN compresses with a window over the whole body
/// (copies reaching past 64 KiB): snappyjs decodes it.
async fn an_upstream_en_replays_from_our_mn(eth: Eth, max: u8) {
    let chain = v3_chain(LAST);
    let store = Arc::new(MemoryReplayStore::<V3Record>::with_first_block(1));
    store.extend(chain.iter().cloned()).unwrap();
    let mut builder = Node::builder(eth_transport())
        .capabilities(Capabilities::CURRENT)
        .main_node(Arc::clone(&store));
    let mut events = builder.subscribe();
    let mn = builder.start().await.unwrap();
    let enode = mn.local_addr().unwrap().to_string();

    let open = format!("0:c301c0{max:02x}");
    let env = [
        ("ZKS_PEER_ETH", eth.env()),
        ("ZKS_PEER_ZKS", "5"),
        ("ZKS_PEER_ZKS_OPEN", open.as_str()),
        ("ZKS_PEER_ZKS_REPLY", ""),
    ];
    let mut node = NodePeer::spawn(&["dial", &enode], &env);
    let hello = node.event("hello", is("hello")).await;
    assert_eq!(hello["client"], "zks-devp2p-interop");
    assert_eq!(hello["caps"], our_hello_caps(true));
    let seen = node
        .events_any_order(&[
            ("protocols", &is("protocols")),
            ("our Status", &message("eth", 0)),
        ])
        .await;
    let [layout, status] = <[Value; 2]>::try_from(seen).unwrap();
    assert_eq!(layout["layout"], eth.layout(false));
    assert_eq!(status["payload_hex"], eth.status());

    // What the peer received: BlockReplays, then its records, per message.
    for message in chain.chunks(usize::from(max)) {
        let first = message[0].block_number();
        let items: Vec<_> = message.iter().map(encoded).collect();
        let body = ZksMessage::BlockReplays(BlockReplays {
            records: items.iter().cloned().map(Into::into).collect(),
        })
        .to_frame()
        .body;
        let got = node
            .event("BlockReplays", |e| {
                e["event"] == "zks" || e["event"] == "record"
            })
            .await;
        assert_eq!(
            got["event"], "zks",
            "block {first}: a record beyond {max} per message"
        );
        assert_eq!(got["id"], 1, "block {first}");
        assert_eq!(got["wire_id"], eth.zks_offset() + 1, "block {first}");
        assert_eq!(got["payload_hex"], hex::encode(&body), "block {first}");
        for (index, item) in items.iter().enumerate() {
            let got = node
                .event("record", |e| e["event"] == "zks" || e["event"] == "record")
                .await;
            assert_eq!(
                got,
                json!({"event": "record", "index": index, "hex": hex::encode(item)}),
                "block {first} + {index}"
            );
        }
    }

    // What our MN reports: the request, then one block per message, 1..=LAST.
    let mut requested = false;
    let mut next = 1;
    while next <= LAST {
        match next_event(&mut events, "ReplayBlockSent").await {
            ProtocolEvent::ReplayRequested {
                starting_block,
                max_blocks_per_message,
                overrides,
                ..
            } => {
                assert!(!requested && next == 1, "one request, before any block");
                requested = true;
                assert_eq!(
                    (starting_block, max_blocks_per_message, overrides),
                    (1, usize::from(max), 0)
                );
            }
            ProtocolEvent::ReplayBlockSent {
                first_block,
                last_block,
                ..
            } => {
                assert!(requested, "a block before the request");
                let last = (next + u64::from(max) - 1).min(LAST);
                assert_eq!((first_block, last_block), (next, last));
                next = last + 1;
            }
            ProtocolEvent::Closed { cause, .. } => panic!("link closed: {cause}"),
            _ => {}
        }
    }
    let sessions = mn.sessions();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].sent_through, Some(LAST));
}

#[tokio::test]
async fn an_upstream_en_replays_the_v3_chain_from_our_mn_eth68() {
    if node_peer::available("an_upstream_en_replays_the_v3_chain_from_our_mn_eth68") {
        an_upstream_en_replays_from_our_mn(Eth::V68, 1).await;
    }
}

#[tokio::test]
async fn an_upstream_en_replays_the_v3_chain_from_our_mn_eth69() {
    if node_peer::available("an_upstream_en_replays_the_v3_chain_from_our_mn_eth69") {
        an_upstream_en_replays_from_our_mn(Eth::V69, 1).await;
    }
}

#[tokio::test]
async fn an_upstream_en_replays_the_v3_chain_from_our_mn_eth69_max64() {
    if node_peer::available("an_upstream_en_replays_the_v3_chain_from_our_mn_eth69_max64") {
        an_upstream_en_replays_from_our_mn(Eth::V69, 64).await;
    }
}
