//! `zks rlpx ping --fetch N`, the real binary against our own main nodes (v3 records with
//! `--chain-id`, stand-in records without) and an independent RLPx peer scripted as an
//! upstream main node: which record encoding the first `BlockReplays` carries, whether it is of
//! `--chain-id`'s chain, and every way of getting none.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use common::{Proc, free_port, generate_key, main_node, run, stderr, stdout};
use zks_api::wire::ZksVersion;
use zks_api::{RawRecord, ReplayRecord};
use zks_node::produce::{synthetic_payload, synthetic_v3};
use zks_wire::zksync_os::V3Record;

/// The lines after `ping rtt:` (the `fetch:`, `record:`, `fits:` and `session:` lines).
fn after_ping(out: &Output) -> Vec<String> {
    assert!(out.status.success(), "{}", stderr(out));
    let report = stdout(out);
    let lines: Vec<String> = report
        .lines()
        .skip_while(|l| !l.starts_with("ping rtt:"))
        .skip(1)
        .map(str::to_owned)
        .collect();
    assert!(report.contains("\nping rtt:"), "{report}");
    lines
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Against our main node of chain 270: block 1's v3 record, of the chain `--chain-id` names;
/// without `--chain-id` the same record and no `fits:` line; a block the chain does not hold
/// yet gets nothing within `--timeout`; and with another chain id the eth Status mismatch ends
/// the session before the request, which is then not sent.
#[test]
fn fetch_reports_the_v3_records_of_a_chain_id_main_node() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("mn.key");
    generate_key(&key);
    let (_mn, enode) = main_node(
        &dir.path().join("mn"),
        &key,
        &[
            "--chain-id",
            "270",
            "--produce-blocks",
            "500",
            "--produce-until",
            "50",
        ],
    );
    // Block 1 is the chain's first record (block 0 is the genesis): no parent timestamp, and
    // its own timestamp takes 4 bytes as any time this century does.
    let size = synthetic_v3(270, 1, now_secs(), 0).encoded_len();

    let out = run(&["rlpx", "ping", &enode, "--chain-id", "270", "--fetch", "1"]);
    assert_eq!(
        after_ping(&out),
        [
            "fetch:        block 1 on zks/5, 1 record in the message".to_owned(),
            format!(
                "record:       ZKsync OS v3 record: block 1, chain 270, protocol 0.31.0, {size} bytes"
            ),
            "fits:         yes, a record of chain 270 as --chain-id says".to_owned(),
        ]
    );

    let out = run(&["rlpx", "ping", &enode, "--fetch", "1"]);
    assert_eq!(
        after_ping(&out),
        [
            "fetch:        block 1 on zks/5, 1 record in the message".to_owned(),
            format!(
                "record:       ZKsync OS v3 record: block 1, chain 270, protocol 0.31.0, {size} bytes"
            ),
        ]
    );

    let out = run(&[
        "rlpx",
        "ping",
        &enode,
        "--chain-id",
        "270",
        "--fetch",
        "10000",
        "--timeout",
        "2s",
    ]);
    assert_eq!(
        after_ping(&out),
        [
            "fetch:        block 10000 on zks/5, no BlockReplays",
            "record:       none within the timeout (the peer holds no block 10000 yet, or does \
             not serve replay)",
        ]
    );

    // Another chain: ping's own report of the mismatch, and no request on a session that
    // is over.
    let out = run(&["rlpx", "ping", &enode, "--chain-id", "271", "--fetch", "1"]);
    let lines = after_ping(&out);
    assert!(stdout(&out).contains("\nping rtt:     n/a\n"), "{lines:?}");
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0], "fetch:        block 1, not sent");
    assert_eq!(
        lines[1],
        "record:       none: the session ended before the request (see session:)"
    );
    assert!(
        lines[2].starts_with("session:      ended after Hello: eth status: genesis mismatch"),
        "{lines:?}"
    );
}

/// Against our main node without a chain id: stand-in records, which `--chain-id` says are
/// not what a ZKsync OS chain serves (the node shares no eth, so the session itself stands).
#[test]
fn fetch_reports_the_stand_in_records_of_a_main_node_without_chain_id() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("mn.key");
    generate_key(&key);
    let (_mn, enode) = main_node(
        &dir.path().join("mn"),
        &key,
        &["--produce-blocks", "500", "--produce-until", "50"],
    );
    let mut item = Vec::new();
    RawRecord::new(7, synthetic_payload(7, 0)).encode(ZksVersion::V5, &mut item);
    let size = item.len();
    assert_eq!(size, 133);

    let out = run(&["rlpx", "ping", &enode, "--fetch", "7"]);
    assert_eq!(
        after_ping(&out),
        [
            "fetch:        block 7 on zks/5, 1 record in the message".to_owned(),
            format!("record:       stand-in record [block_number, payload]: block 7, {size} bytes"),
        ]
    );

    let out = run(&["rlpx", "ping", &enode, "--chain-id", "270", "--fetch", "7"]);
    assert!(!stdout(&out).contains("eth status:"), "{}", stdout(&out));
    assert_eq!(
        after_ping(&out),
        [
            "fetch:        block 7 on zks/5, 1 record in the message".to_owned(),
            format!("record:       stand-in record [block_number, payload]: block 7, {size} bytes"),
            "fits:         no: --chain-id 270 wants ZKsync OS v3 records".to_owned(),
        ]
    );
}

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/interop")
}

/// The ethereumjs peer of `tests/interop`, on zks/5 with an eth/68 that echoes our Status,
/// scripted by `env`; returns it and its enode.
fn js_peer(env: &[(&str, &str)]) -> (Proc, String) {
    let dir = interop_dir();
    assert!(
        dir.join("node_modules/@ethereumjs/devp2p").is_dir(),
        "{}/node_modules is missing: run `npm ci --prefix tests/interop` before this test",
        dir.display()
    );
    let mut cmd = Command::new("node");
    cmd.args(["zks-peer.mjs", "listen", &free_port().to_string()])
        .current_dir(&dir)
        .env("ZKS_PEER_SECONDS", "30")
        .env("ZKS_PEER_ZKS", "5")
        .env("ZKS_PEER_ETH", "68")
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    let mut peer = Proc::spawn(cmd);
    let listening = peer.line_after("{\"event\":\"listening\"");
    let enode = listening
        .split('"')
        .find(|s| s.starts_with("enode://"))
        .unwrap_or_else(|| panic!("no enode in {listening}"))
        .to_owned();
    (peer, enode)
}

/// An independent implementation scripted as an upstream main node: a v3 record of another
/// chain than `--chain-id` (its eth Status echoes ours, so only the record tells), an item of
/// neither layout, and an empty `BlockReplays`.
#[test]
fn fetch_reports_what_an_ethereumjs_main_node_serves() {
    let dir = tempfile::tempdir().unwrap();
    let v3 = {
        let mut out = Vec::new();
        synthetic_v3(270, 5, 1_754_000_005, 1_754_000_004).encode(ZksVersion::V5, &mut out);
        out
    };
    // One list of 13 bytes, neither layout: more than the 8 bytes the report shows.
    let neither = hex::decode("cdc0ffee0102030405060708090a").unwrap();
    let error = V3Record::decode(ZksVersion::V5, &Bytes::from(neither.clone()))
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "invalid replay record: block_context.chain_id: missing"
    );
    let records = dir.path().join("records");
    std::fs::write(
        &records,
        format!("5 {}\n6 {}\n", hex::encode(&v3), hex::encode(&neither)),
    )
    .unwrap();
    let (_mn, enode) = js_peer(&[("ZKS_PEER_RECORDS", records.to_str().unwrap())]);

    let out = run(&["rlpx", "ping", &enode, "--chain-id", "271", "--fetch", "5"]);
    assert!(
        stdout(&out).contains("eth status:   eth/68, network id 271"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        after_ping(&out),
        [
            "fetch:        block 5 on zks/5, 1 record in the message".to_owned(),
            format!(
                "record:       ZKsync OS v3 record: block 5, chain 270, protocol 0.31.0, {} bytes",
                v3.len()
            ),
            "fits:         no: a record of chain 270, not of --chain-id 271".to_owned(),
        ]
    );

    let out = run(&["rlpx", "ping", &enode, "--fetch", "6"]);
    assert_eq!(
        after_ping(&out),
        [
            "fetch:        block 6 on zks/5, 1 record in the message".to_owned(),
            format!(
                "record:       an RLP item of neither layout (14 bytes, starts cdc0ffee01020304…): \
                 {error}"
            ),
        ]
    );

    // A peer that answers every request with an empty BlockReplays.
    let (_empty, enode) = js_peer(&[
        ("ZKS_PEER_ZKS_OPEN", ""),
        ("ZKS_PEER_ZKS_REPLY", "0>1:c1c0"),
    ]);
    let out = run(&["rlpx", "ping", &enode, "--fetch", "1"]);
    assert_eq!(
        after_ping(&out),
        [
            "fetch:        block 1 on zks/5, 0 records in the message",
            "record:       none: the peer sent an empty BlockReplays",
        ]
    );
}
