//! The `zks` binary, as processes with `--chain-id 270`, against upstream-shaped peers: an
//! independent RLPx implementation (`@ethereumjs/devp2p` driven by `tests/interop/zks-peer.mjs`;
//! run `npm ci --prefix tests/interop` first, else these tests print `SKIPPED` and return)
//! playing an upstream ZKsync OS main node (serving records from a file) or external node
//! (asking `[1, [], 1]`, as upstream's default `Some(1)` does), on eth/68 and on eth/69. The
//! records are the fixture chain of `zks-devp2p/tests/common/v3_chain.rs`: upstream's two vector
//! records as blocks 42 and 43, chained blocks around them.
//!
//! - our external node replays 1..=120 from an upstream MN and stores each record's exact bytes;
//! - an upstream EN replays 1..=120 from our main node's pre-filled store, one record per
//!   message, byte for byte;
//! - our relay between an upstream MN and an upstream EN passes the MN's bytes on, to an EN that
//!   asked before the relay held any block;
//! - a chain of processes, main node → relay → relay → external node, ends with four
//!   byte-identical stores;
//! - our external node refuses upstream's malformed vector record: it keeps the blocks before it,
//!   logs why, and never stores it.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;
#[allow(dead_code, unreachable_pub, reason = "shared with zks-devp2p's tests")]
#[path = "../../zks-devp2p/tests/common/node_peer.rs"]
mod node_peer;
#[path = "../../zks-devp2p/tests/common/v3_chain.rs"]
mod v3_chain;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Proc, dump, zks};
use node_peer::{NodePeer, free_port, is, message};
use serde_json::{Value, json};
use v3_chain::{encoded, upstream_malformed, v3_chain};
use zks_api::{Overrides, Role};
use zks_devp2p::NodeKey;
use zks_devp2p::eth::{ChainIdentity, EthVersion, Status};
use zks_node::store::RedbReplayStore;
use zks_wire::zksync_os::V3RecordBytes;
use zks_wire::{BlockReplays, Bytes, ZksMessage};

/// The chain of every node here.
const CHAIN_ID: u64 = 270;
/// The fixture chain's last block: two 64-record messages for an EN that asks 64.
const LAST: u64 = 120;
/// An upper bound for a process to do what a test waits for (never a schedule).
const LIMIT: Duration = Duration::from_secs(20);

/// The upstream peer's eth version for one run.
#[derive(Clone, Copy, Debug)]
enum Eth {
    V68,
    V69,
}

impl Eth {
    /// `ZKS_PEER_ETH`.
    const fn env(self) -> &'static str {
        match self {
            Self::V68 => "68",
            Self::V69 => "69",
        }
    }

    /// Our Status on this version (an upstream node's of chain 270), as hex.
    fn status(self) -> String {
        let version = match self {
            Self::V68 => EthVersion::V68,
            Self::V69 => EthVersion::V69,
        };
        hex::encode(Status::ours(&ChainIdentity::zksync_os(CHAIN_ID), version).to_vec())
    }

    /// The offsets the peer computes: eth from 0x10, zks/5 next, zks_2fa/1 when both have it.
    fn layout(self, twofa: bool) -> Value {
        let (cap, length) = match self {
            Self::V68 => ("eth/68", 17),
            Self::V69 => ("eth/69", 18),
        };
        let mut layout = vec![
            json!({"cap": cap, "offset": 0x10, "length": length}),
            json!({"cap": "zks/5", "offset": 0x10 + length, "length": 2}),
        ];
        if twofa {
            layout.push(json!({"cap": "zks_2fa/1", "offset": 0x12 + length, "length": 5}));
        }
        Value::Array(layout)
    }

    /// The absolute id of zks/5's message 0.
    const fn zks_offset(self) -> u64 {
        match self {
            Self::V68 => 0x21,
            Self::V69 => 0x22,
        }
    }
}

/// Our Hello's capabilities with `--chain-id`: eth/66-69 and the zks versions that carry v3
/// records; zks_2fa/1 on a main node (an external node or relay without a verifier key has
/// none, as upstream's).
fn our_caps(main_node: bool) -> Value {
    let mut caps = vec!["eth/69", "eth/68", "eth/67", "eth/66", "zks/4", "zks/5"];
    if main_node {
        caps.push("zks_2fa/1");
    }
    json!(caps)
}

/// The fixture chain's blocks 1..=`last` (at least 43) with their encodings: what an upstream
/// MN's records file holds.
fn chain_lines(last: u64) -> Vec<(u64, Vec<u8>)> {
    v3_chain(last)
        .iter()
        .map(|r| (r.block_context.block_number, encoded(r)))
        .collect()
}

/// Writes the peer's records file (`<block> <hex>` per line) in `dir`.
fn records_file(dir: &Path, lines: &[(u64, Vec<u8>)]) -> PathBuf {
    let path = dir.join("upstream.records");
    let text: String = lines
        .iter()
        .map(|(block, item)| format!("{block} {}\n", hex::encode(item)))
        .collect();
    std::fs::write(&path, text).unwrap();
    path
}

/// The peer as an upstream MN (eth, zks/5, zks_2fa/1) serving `records` on `port` with node key
/// `key`, plus `env`; once it listens. Its enode is [`enode_of`]`(key, port)`.
async fn upstream_main_node(
    eth: Eth,
    records: &Path,
    port: u16,
    key: &NodeKey,
    env: &[(&str, &str)],
) -> NodePeer {
    let mut all = vec![
        ("ZKS_PEER_ETH", eth.env()),
        ("ZKS_PEER_ZKS", "5"),
        ("ZKS_PEER_2FA", "1"),
        ("ZKS_PEER_RECORDS", records.to_str().unwrap()),
    ];
    all.extend_from_slice(env);
    let mut node = NodePeer::spawn(&["listen", &port.to_string(), &key.to_hex()], &all);
    let listening = node.event("listening", is("listening")).await;
    assert_eq!(listening["enode"], enode_of(key, port));
    node
}

/// The enode URL of a node with `key` listening on 127.0.0.1:`port`.
fn enode_of(key: &NodeKey, port: u16) -> String {
    format!("enode://{}@127.0.0.1:{port}", key.id())
}

/// The peer as an upstream EN (eth, zks/5, no zks_2fa: batch verification off) with node key
/// `key` dialing `enode` and asking `[1, [], 1]` once the link is up.
/// The peer as an upstream EN (zks/5, no zks_2fa) dialing `enode` and asking `[1, [], per]`.
fn upstream_external_node(eth: Eth, enode: &str, key: &NodeKey, per: u8) -> NodePeer {
    let open = format!("0:c301c0{per:02x}");
    NodePeer::spawn(
        &["dial", enode, &key.to_hex()],
        &[
            ("ZKS_PEER_ETH", eth.env()),
            ("ZKS_PEER_ZKS", "5"),
            ("ZKS_PEER_ZKS_OPEN", open.as_str()),
            ("ZKS_PEER_ZKS_REPLY", ""),
        ],
    )
}

/// The handshake as an upstream peer saw it: our Hello's capabilities, the offsets it computed,
/// and our Status of chain 270 on `eth`.
async fn saw_our_handshake(node: &mut NodePeer, eth: Eth, main_node: bool, twofa: bool) {
    let hello = node.event("hello", is("hello")).await;
    assert_eq!(hello["caps"], our_caps(main_node), "{hello}");
    let seen = node
        .events_any_order(&[
            ("protocols", &is("protocols")),
            ("our Status", &message("eth", 0)),
        ])
        .await;
    let [layout, status] = <[Value; 2]>::try_from(seen).unwrap();
    assert_eq!(layout["layout"], eth.layout(twofa));
    assert_eq!(status["payload_hex"], eth.status());
}

/// What an upstream MN saw of one of our replicas: the handshake (no zks_2fa: no verifier
/// key), then GetBlockReplays `[1, [], 64]` at zks/5's first id.
async fn upstream_mn_saw_our_request(node: &mut NodePeer, eth: Eth) {
    saw_our_handshake(node, eth, false, false).await;
    let get = node.event("our GetBlockReplays", message("zks", 0)).await;
    assert_eq!(get["wire_id"], eth.zks_offset(), "{get}");
    assert_eq!(get["payload_hex"], "c301c040", "{get}");
}

/// The upstream MN's `sent` events for blocks `first..=last`, `per` records a message.
async fn upstream_mn_sent(node: &mut NodePeer, first: u64, last: u64, per: u64) {
    let mut next = first;
    while next <= last {
        let count = per.min(last + 1 - next);
        let sent = node.event("sent", is("sent")).await;
        assert_eq!(
            sent,
            json!({"event": "sent", "first": next, "count": count})
        );
        next += count;
    }
}

/// An upstream EN received `lines` in order, `per` records a BlockReplays (the last shorter; at
/// zks/5's id 1), each message and each record byte for byte. A message of more than 64 KiB
/// comes Snappy-compressed with the whole body as the window: snappyjs decodes it.
async fn upstream_en_received(node: &mut NodePeer, eth: Eth, lines: &[(u64, Vec<u8>)], per: u8) {
    let replay = |e: &Value| e["event"] == "zks" || e["event"] == "record";
    for message in lines.chunks(usize::from(per)) {
        let block = message[0].0;
        let body = ZksMessage::BlockReplays(BlockReplays {
            records: message
                .iter()
                .map(|(_, item)| Bytes::from(item.clone()))
                .collect(),
        })
        .to_frame()
        .body;
        let got = node.event("BlockReplays", replay).await;
        assert_eq!(
            got["event"], "zks",
            "block {block}: a record beyond {per} per message"
        );
        assert_eq!(got["id"], 1, "block {block}");
        assert_eq!(got["wire_id"], eth.zks_offset() + 1, "block {block}");
        assert_eq!(got["payload_hex"], hex::encode(&body), "block {block}");
        for (index, (block, item)) in message.iter().enumerate() {
            let got = node.event("record", replay).await;
            assert_eq!(
                got,
                json!({"event": "record", "index": index, "hex": hex::encode(item)}),
                "block {block}"
            );
        }
    }
}

/// After the node serving it is gone: the upstream EN's link ends with no further zks message.
async fn upstream_en_got_nothing_more(node: &mut NodePeer) {
    let end = node
        .event("disconnect", |e| {
            e["event"] == "disconnect" || e["event"] == "zks" || e["event"] == "record"
        })
        .await;
    assert_eq!(
        end["event"], "disconnect",
        "more after the last block: {end}"
    );
}

/// Every record of the v3 store of chain 270 in `data` (opened for `role` once its process has
/// stopped), with its stored bytes.
fn stored(data: &Path, role: Role) -> Vec<(u64, Vec<u8>)> {
    let store = RedbReplayStore::open_chain(data, role, CHAIN_ID, true).unwrap();
    // Contiguous from block 1 (the genesis is no record), as far as the store goes.
    let records = store
        .read_blocking(1, usize::MAX, &Overrides::default())
        .unwrap();
    let held: Vec<(u64, Vec<u8>)> = records
        .iter()
        .map(|r| (r.block_number(), r.as_bytes().to_vec()))
        .collect();
    // And nothing else: no record outside that run.
    let summary = store.summary().unwrap();
    assert_eq!(summary.count, held.len() as u64, "{summary}");
    assert_eq!(
        store.next_block(),
        held.last().map_or(1, |(block, _)| block + 1),
        "the store's next block"
    );
    held
}

/// `zks store dump` of a store holding exactly blocks 1..=`last` of chain 270.
fn dump_of(role: &str, last: u64) -> String {
    format!(
        "role: {role}\nformat: ZKsync OS v3 records of chain 270\nblocks: 1..={last}\n\
         records: {last}\ncontiguous: yes\n"
    )
}

/// `zks <command> --chain-id 270 --data <data> --port 0 --addr 127.0.0.1`, plus `--main-node`
/// for each upstream.
fn node_cmd(command: &str, data: &Path, upstreams: &[&str]) -> Command {
    let mut cmd = zks();
    cmd.arg(command).arg("--data").arg(data).args([
        "--chain-id",
        "270",
        "--port",
        "0",
        "--addr",
        "127.0.0.1",
    ]);
    for up in upstreams {
        cmd.args(["--main-node", up]);
    }
    cmd
}

/// The enode a relay prints at start (`relay <enode> resuming at block N`).
fn relay_enode(relay: &mut Proc, resuming_at: u64) -> String {
    let line = relay.line_after("relay");
    let (enode, rest) = line.split_once(' ').unwrap();
    assert!(enode.starts_with("enode://"), "{line}");
    assert_eq!(rest, format!("resuming at block {resuming_at}"));
    enode.to_owned()
}

/// A JSON log line was logged on a zks/5 link (`direction`) with the peer of node key `peer`
/// (its id as logs shorten it: 8 hex digits, `…`, the last 8).
fn assert_link_span(line: &Value, direction: &str, peer: &NodeKey) {
    let id = peer.id().to_string();
    let span = &line["span"];
    assert_eq!(span["name"], "zks_link", "{line}");
    assert_eq!(span["direction"], direction, "{line}");
    assert_eq!(span["caps"], "zks/5", "{line}");
    assert_eq!(
        span["peer"],
        format!("{}…{}", &id[..8], &id[id.len() - 8..]),
        "{line}"
    );
}

// ---------------------------------------------------------------------------------------------
// 1. Our external node, an upstream main node.

/// `zks external-node --chain-id 270 --exit-at-block 120` replays from the peer as an upstream
/// MN holding blocks 1..=120: the MN sees our Hello, Status and `[1, [], 64]`, sends two
/// messages (64 + 56); the EN exits 0 at block 120 with exactly blocks 1..=120 stored, each as
/// the MN's bytes, and `zks store dump` names the chain.
async fn our_en_replays_from_an_upstream_mn(eth: Eth) {
    let dir = tempfile::tempdir().unwrap();
    let lines = chain_lines(LAST);
    let file = records_file(dir.path(), &lines);
    let (key, port) = (NodeKey::generate(), free_port());
    let mut mn = upstream_main_node(eth, &file, port, &key, &[]).await;

    let data = dir.path().join("en");
    let mut cmd = node_cmd("external-node", &data, &[&enode_of(&key, port)]);
    cmd.args(["--exit-at-block", &LAST.to_string()]);
    let mut en = Proc::spawn(cmd);
    upstream_mn_saw_our_request(&mut mn, eth).await;
    upstream_mn_sent(&mut mn, 1, LAST, 64).await;

    let status = en.wait_within(LIMIT);
    assert!(status.success(), "the external node failed: {status}");
    assert_eq!(en.line_after("reached block"), "120; next block 121");
    assert_eq!(stored(&data, Role::ExternalNode), lines);
    assert_eq!(dump(&data), dump_of("external-node", LAST));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_en_binary_replays_the_v3_chain_from_an_upstream_mn_eth68() {
    if node_peer::available("our_en_binary_replays_the_v3_chain_from_an_upstream_mn_eth68") {
        our_en_replays_from_an_upstream_mn(Eth::V68).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_en_binary_replays_the_v3_chain_from_an_upstream_mn_eth69() {
    if node_peer::available("our_en_binary_replays_the_v3_chain_from_an_upstream_mn_eth69") {
        our_en_replays_from_an_upstream_mn(Eth::V69).await;
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Our main node, an upstream external node.

/// A main-node store of chain 270 pre-filled through the library with the fixture's blocks
/// 1..=120; `zks main-node --chain-id 270` on it says head 121. The peer as an upstream EN
/// dials it and asks `[1, [], 1]`: it sees our Hello and Status, then gets exactly one record
/// per BlockReplays, blocks 1..=120 in order, each the fixture's bytes, and nothing more
/// before its link ends (our MN killed).
async fn an_upstream_en_replays_from_our_mn(eth: Eth, per: u8) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("mn");
    let lines = chain_lines(LAST);
    {
        let store = RedbReplayStore::open_chain(&data, Role::MainNode, CHAIN_ID, true).unwrap();
        let records = lines
            .iter()
            .map(|(_, item)| V3RecordBytes::new(Bytes::from(item.clone())).unwrap())
            .collect();
        store.append(records).await.unwrap();
        assert_eq!(store.next_block(), LAST + 1);
    }
    let mut mn = Proc::spawn(node_cmd("main-node", &data, &[]));
    let enode = mn.line_after("enode:");
    assert_eq!(mn.line_after("head:"), "121");

    let mut en = upstream_external_node(eth, &enode, &NodeKey::generate(), per);
    saw_our_handshake(&mut en, eth, true, false).await;
    upstream_en_received(&mut en, eth, &lines, per).await;
    mn.kill();
    upstream_en_got_nothing_more(&mut en).await;
    assert_eq!(stored(&data, Role::MainNode), lines);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_en_replays_the_v3_chain_from_our_mn_binary_eth68() {
    if node_peer::available("an_upstream_en_replays_the_v3_chain_from_our_mn_binary_eth68") {
        an_upstream_en_replays_from_our_mn(Eth::V68, 1).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_en_replays_the_v3_chain_from_our_mn_binary_eth69() {
    if node_peer::available("an_upstream_en_replays_the_v3_chain_from_our_mn_binary_eth69") {
        an_upstream_en_replays_from_our_mn(Eth::V69, 1).await;
    }
}

/// As above, the upstream EN asking 64 records per message: our main node binary sends
/// 64 + 56 records of ~566 and ~495 KB, compressed with the whole body as the window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_en_replays_the_v3_chain_64_per_message_from_our_mn_binary_eth69() {
    if node_peer::available(
        "an_upstream_en_replays_the_v3_chain_64_per_message_from_our_mn_binary_eth69",
    ) {
        an_upstream_en_replays_from_our_mn(Eth::V69, 64).await;
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Our relay between an upstream main node and an upstream external node.

/// Upstream MN → `zks relay --chain-id 270` ← upstream EN, in this order: the relay starts with
/// an empty store and an upstream that is not listening yet; the upstream EN dials it and asks
/// `[1, [], 1]` (the relay logs the request, from block 1, one per message, on the inbound
/// link); only then does the upstream MN start, holding 1..=120. The MN sees the relay's
/// `[1, [], 64]` and sends 64 + 56; the EN receives exactly the MN's bytes, one record per
/// message, blocks 1..=120 in order, and nothing more; the relay's store holds them too.
async fn our_relay_passes_upstream_bytes_on(eth: Eth, per: u8) {
    let dir = tempfile::tempdir().unwrap();
    let lines = chain_lines(LAST);
    let file = records_file(dir.path(), &lines);
    let (mn_key, mn_port) = (NodeKey::generate(), free_port());

    let data = dir.path().join("relay");
    let mut cmd = node_cmd("relay", &data, &[&enode_of(&mn_key, mn_port)]);
    // INFO (the default, so lines carry their link's span), and the serving side's requests.
    cmd.env("RUST_LOG", "info,zks_api::node::mn=debug")
        .args(["--log-format", "json"]);
    let mut relay = Proc::spawn_logged(cmd);
    let enode = relay_enode(&mut relay, 1);

    let en_key = NodeKey::generate();
    let mut en = upstream_external_node(eth, &enode, &en_key, per);
    saw_our_handshake(&mut en, eth, false, false).await;
    let requested = relay.log("replay requested");
    assert_eq!(requested["level"], "DEBUG", "{requested}");
    assert_eq!(
        requested["fields"],
        json!({"message": "replay requested", "from": 1, "batch": per}),
        "{requested}"
    );
    assert_link_span(&requested, "inbound", &en_key);

    // Only now does the relay's upstream exist: it holds no block yet.
    let mut mn = upstream_main_node(eth, &file, mn_port, &mn_key, &[]).await;
    upstream_mn_saw_our_request(&mut mn, eth).await;
    upstream_mn_sent(&mut mn, 1, LAST, 64).await;
    upstream_en_received(&mut en, eth, &lines, per).await;
    relay.kill();
    upstream_en_got_nothing_more(&mut en).await;
    assert_eq!(stored(&data, Role::Relay), lines);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_relay_binary_passes_upstream_mn_bytes_to_an_upstream_en_eth68() {
    if node_peer::available("our_relay_binary_passes_upstream_mn_bytes_to_an_upstream_en_eth68") {
        our_relay_passes_upstream_bytes_on(Eth::V68, 1).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_relay_binary_passes_upstream_mn_bytes_to_an_upstream_en_eth69() {
    if node_peer::available("our_relay_binary_passes_upstream_mn_bytes_to_an_upstream_en_eth69") {
        our_relay_passes_upstream_bytes_on(Eth::V69, 1).await;
    }
}

/// As above, the upstream EN asking 64 records per message of our relay binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_relay_binary_passes_upstream_mn_bytes_64_per_message_to_an_upstream_en_eth69() {
    if node_peer::available(
        "our_relay_binary_passes_upstream_mn_bytes_64_per_message_to_an_upstream_en_eth69",
    ) {
        our_relay_passes_upstream_bytes_on(Eth::V69, 64).await;
    }
}

// ---------------------------------------------------------------------------------------------
// 4. A chain of our processes.

/// Blocks the main node's chain ends with (`--produce-until`: the genesis counts).
const PRODUCE_UNTIL: u64 = 1000;

/// `zks main-node --chain-id 270 --produce-blocks 500 --produce-until 1000` → `zks relay` →
/// `zks relay` → `zks external-node --exit-at-block 999`, all of chain 270 (so speaking eth
/// with each other, as upstream nodes do): the EN exits 0 at block 999; once every process has
/// stopped (the main node first), the four stores hold exactly blocks 1..=999, byte for byte
/// the main node's records.
#[test]
fn a_relay_chain_of_processes_passes_the_main_nodes_bytes_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let last = PRODUCE_UNTIL - 1;
    let mn_data = dir.path().join("mn");
    let mut cmd = node_cmd("main-node", &mn_data, &[]);
    cmd.args(["--produce-blocks", "500"])
        .args(["--produce-until", &PRODUCE_UNTIL.to_string()]);
    let mut mn = Proc::spawn(cmd);
    let mn_enode = mn.line_after("enode:");
    let r1_data = dir.path().join("r1");
    let mut r1 = Proc::spawn(node_cmd("relay", &r1_data, &[&mn_enode]));
    let r1_enode = relay_enode(&mut r1, 1);
    let r2_data = dir.path().join("r2");
    let mut r2 = Proc::spawn(node_cmd("relay", &r2_data, &[&r1_enode]));
    let r2_enode = relay_enode(&mut r2, 1);
    let en_data = dir.path().join("en");
    let mut cmd = node_cmd("external-node", &en_data, &[&r2_enode]);
    cmd.args(["--exit-at-block", &last.to_string()]);
    let mut en = Proc::spawn(cmd);

    let status = en.wait_within(LIMIT);
    assert!(status.success(), "the external node failed: {status}");
    assert_eq!(
        en.line_after("reached block"),
        format!("{last}; next block {PRODUCE_UNTIL}")
    );
    // The main node first: the relays have everything the EN has.
    mn.kill();
    r1.kill();
    r2.kill();

    let chain = stored(&mn_data, Role::MainNode);
    assert_eq!(
        chain.iter().map(|(block, _)| *block).collect::<Vec<_>>(),
        (1..=last).collect::<Vec<_>>()
    );
    for (data, role) in [
        (&r1_data, Role::Relay),
        (&r2_data, Role::Relay),
        (&en_data, Role::ExternalNode),
    ] {
        let held = stored(data, role);
        assert_eq!(held.len(), chain.len(), "{}", data.display());
        for (ours, theirs) in held.iter().zip(&chain) {
            assert_eq!(ours, theirs, "{} block {}", data.display(), theirs.0);
        }
    }
    assert_eq!(dump(&en_data), dump_of("external-node", last));
}

// ---------------------------------------------------------------------------------------------
// 5. Our external node refusing upstream's malformed record.

/// The peer as an upstream MN holds the fixture's blocks 1..=41, then upstream's malformed
/// vector record (255 block hashes) as block 42, and sends one record per message (as an MN
/// whose blocks come one at a time). `zks external-node --chain-id 270` applies 1..=41, then
/// ends the link on block 42's message: the MN sees Disconnect ProtocolBreach (0x02), the EN
/// logs at WARN, on the link to that MN, "peer broke the protocol" with the record's decode
/// error, and its store holds exactly blocks 1..=41, the MN's bytes.
async fn our_en_refuses_upstreams_malformed_record(eth: Eth) {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = chain_lines(43);
    lines.truncate(41);
    let mut served = lines.clone();
    served.push((42, upstream_malformed().to_vec()));
    let file = records_file(dir.path(), &served);
    let (key, port) = (NodeKey::generate(), free_port());
    let mut mn = upstream_main_node(eth, &file, port, &key, &[("ZKS_PEER_RECORDS_MAX", "1")]).await;

    let data = dir.path().join("en");
    let mut cmd = node_cmd("external-node", &data, &[&enode_of(&key, port)]);
    // The binary's default filter (INFO), under which lines carry their link's span.
    cmd.env_remove("RUST_LOG").args(["--log-format", "json"]);
    let mut en = Proc::spawn_logged(cmd);
    upstream_mn_saw_our_request(&mut mn, eth).await;
    upstream_mn_sent(&mut mn, 1, 42, 1).await;
    let gone = mn.event("disconnect", is("disconnect")).await;
    assert_eq!(
        gone,
        json!({"event": "disconnect", "reason": 2, "by_us": false})
    );

    let line = en.log("peer broke the protocol");
    assert_eq!(line["level"], "WARN", "{line}");
    let id = key.id().to_string();
    assert_eq!(
        line["fields"],
        json!({
            "message": "peer broke the protocol",
            "cause": "protocol violation: invalid replay record where block 42 was due: \
                      block_context.block_hashes: expected array of length 256, got 255",
            // The line names the peer itself, at any log level.
            "peer": format!("{}…{}", &id[..8], &id[id.len() - 8..]),
            "addr": enode_of(&key, port),
        }),
        "{line}"
    );
    assert_link_span(&line, "outbound", &key);
    en.kill();
    assert_eq!(stored(&data, Role::ExternalNode), lines);
    assert_eq!(dump(&data), dump_of("external-node", 41));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_en_binary_refuses_upstreams_malformed_v3_record_eth68() {
    if node_peer::available("our_en_binary_refuses_upstreams_malformed_v3_record_eth68") {
        our_en_refuses_upstreams_malformed_record(Eth::V68).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_en_binary_refuses_upstreams_malformed_v3_record_eth69() {
    if node_peer::available("our_en_binary_refuses_upstreams_malformed_v3_record_eth69") {
        our_en_refuses_upstreams_malformed_record(Eth::V69).await;
    }
}
