//! `zks relay` as real processes over devp2p on loopback: MN → relay → EN, the relay SIGKILLed
//! mid-stream (the EN fails over to the MN, its second upstream, and back once the relay
//! returns), and a relay that stalls because its own upstream froze (the EN moves to the MN).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::path::Path;
use std::process::Command;

use common::{Proc, dump, free_port, generate_key, main_node, records_in, stderr, zks};

/// Blocks the MN produces (at 300/s: ten seconds).
const HEAD: u64 = 3000;

fn relay_cmd(data: &Path, port: u16, upstreams: &[&str]) -> Command {
    let mut cmd = zks();
    cmd.arg("relay").arg("--data").arg(data).args([
        "--port",
        &port.to_string(),
        "--addr",
        "127.0.0.1",
    ]);
    for up in upstreams {
        cmd.args(["--main-node", up]);
    }
    cmd
}

/// Starts a relay; returns it and its enode.
fn relay(data: &Path, port: u16, upstreams: &[&str]) -> (Proc, String) {
    let mut proc = Proc::spawn(relay_cmd(data, port, upstreams));
    let line = proc.line_after("relay");
    let enode = line
        .split_whitespace()
        .next()
        .expect("the relay prints its enode")
        .to_owned();
    assert!(enode.starts_with("enode://"), "{line}");
    (proc, enode)
}

/// An EN with JSON logs at INFO, short upstream checks, exiting at the MN's last block.
fn external_node(data: &Path, upstreams: &[&str]) -> Proc {
    let mut cmd = zks();
    cmd.env("RUST_LOG", "info")
        .args(["--log-format", "json", "external-node", "--data"])
        .arg(data)
        .args(["--port", "0", "--addr", "127.0.0.1"])
        .args(["--upstream-probe-interval", "200ms"])
        .args(["--upstream-stall-timeout", "1s"])
        .args(["--exit-at-block", &(HEAD - 1).to_string()]);
    for up in upstreams {
        cmd.args(["--main-node", up]);
    }
    Proc::spawn_logged(cmd)
}

/// The node id of an enode URL.
fn id_of(enode: &str) -> &str {
    enode
        .strip_prefix("enode://")
        .and_then(|rest| rest.split('@').next())
        .expect("an enode URL")
}

/// The peer of the next link the EN's log says is established.
fn next_link(en: &mut Proc) -> String {
    let line = en.log("link established");
    line["span"]["peer"]
        .as_str()
        .unwrap_or_else(|| panic!("no peer in {line}"))
        .to_owned()
}

/// Waits for the EN to exit at the head; checks it holds exactly blocks `0..HEAD`.
fn ends_at_the_head(en: &mut Proc, data: &Path) {
    let status = en.child.wait().unwrap();
    assert!(status.success(), "the EN failed: {status}");
    let reached = en.line_after("reached block");
    assert!(reached.starts_with(&(HEAD - 1).to_string()), "{reached}");
    let summary = dump(data);
    assert!(
        summary.contains(&format!("blocks: 0..={}", HEAD - 1)),
        "{summary}"
    );
    assert!(summary.contains(&format!("records: {HEAD}")), "{summary}");
    assert!(summary.contains("contiguous: yes"), "{summary}");
}

/// Whether a peer as logs print it (`9ea0c0bc…78ef061a`, or in full) names `enode`'s node.
fn same_node(peer: &str, enode: &str) -> bool {
    let id = id_of(enode);
    match peer.split_once('…') {
        Some((head, tail)) => !head.is_empty() && id.starts_with(head) && id.ends_with(tail),
        None => peer == id,
    }
}

/// A main node in `dir/mn` producing blocks `0..HEAD` at 300/s; its enode.
fn producing_main_node(dir: &Path) -> (Proc, String) {
    let key = dir.join("mn.key");
    generate_key(&key);
    let until = HEAD.to_string();
    main_node(
        &dir.join("mn"),
        &key,
        &["--produce-blocks", "300", "--produce-until", &until],
    )
}

#[test]
fn a_relay_killed_mid_stream_hands_over_to_the_main_node_and_takes_back() {
    let dir = tempfile::tempdir().unwrap();
    let (_mn, mn_enode) = producing_main_node(dir.path());
    let relay_data = dir.path().join("relay");
    let relay_port = free_port();
    let (mut relay_proc, relay_enode) = relay(&relay_data, relay_port, &[&mn_enode]);
    let en_data = dir.path().join("en");
    let mut en = external_node(&en_data, &[&relay_enode, &mn_enode]);

    let first = next_link(&mut en);
    assert!(same_node(&first, &relay_enode), "first link to {first}");
    // Not synchronisation: where the kill lands is checked right after it (mid-stream).
    std::thread::sleep(std::time::Duration::from_millis(1500));
    relay_proc.kill();
    let relay_held = records_in(&dump(&relay_data));
    assert!(
        relay_held > 0 && relay_held < HEAD,
        "the kill did not land mid-stream: the relay held {relay_held} blocks"
    );

    let second = next_link(&mut en);
    assert!(same_node(&second, &mn_enode), "failover link to {second}");
    let (_relay_again, enode_again) = relay(&relay_data, relay_port, &[&mn_enode]);
    assert_eq!(enode_again, relay_enode, "same key, same port");
    let switched = en.log("replay upstream switched");
    assert_eq!(switched["fields"]["from"], mn_enode.as_str(), "{switched}");
    assert_eq!(switched["fields"]["to"], relay_enode.as_str(), "{switched}");
    assert_eq!(
        switched["fields"]["reason"],
        "a higher-priority upstream is level again"
    );
    let third = next_link(&mut en);
    assert!(same_node(&third, &relay_enode), "fail-back link to {third}");
    ends_at_the_head(&mut en, &en_data);
}

#[test]
fn an_external_node_leaves_a_relay_whose_upstream_froze() {
    let dir = tempfile::tempdir().unwrap();
    let (_mn, mn_enode) = producing_main_node(dir.path());
    let (r0, r0_enode) = relay(&dir.path().join("r0"), free_port(), &[&mn_enode]);
    let (_r1, r1_enode) = relay(&dir.path().join("r1"), free_port(), &[&r0_enode]);
    let en_data = dir.path().join("en");
    let mut en = external_node(&en_data, &[&r1_enode, &mn_enode]);
    let first = next_link(&mut en);
    assert!(same_node(&first, &r1_enode), "first link to {first}");

    // r0 stops (SIGSTOP): r1's links stay up at the TCP level but nothing new reaches it.
    let pid = r0.child.id().to_string();
    let out = Command::new("kill").args(["-STOP", &pid]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let switched = en.log("replay upstream switched");
    assert_eq!(switched["fields"]["from"], r1_enode.as_str(), "{switched}");
    assert_eq!(switched["fields"]["to"], mn_enode.as_str(), "{switched}");
    let reason = switched["fields"]["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("no progress for"), "{reason}");
    ends_at_the_head(&mut en, &en_data);
    let _ = Command::new("kill").args(["-CONT", &pid]).output();
}
