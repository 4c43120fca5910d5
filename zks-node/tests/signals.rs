//! A supervisor's SIGTERM stops a node cleanly (status 0, its store closed, so the next start
//! needs no repair) whenever it comes — also the instant the node has said it started. The
//! node listens for it from the start of the command; before, it listened only once running,
//! and a SIGTERM in between killed it mid-start (seen once in CI, in the full-disk test).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Proc, generate_key, zks};

fn sigterm(proc: &Proc) {
    let sent = Command::new("kill")
        .args(["-TERM", &proc.child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

#[test]
fn sigterm_the_moment_a_node_has_started_is_a_clean_stop() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("node.key");
    let id = generate_key(&key);
    // Nobody listens there: the external node and the relay start and keep redialing.
    let upstream = format!("enode://{id}@127.0.0.1:9");
    for round in 0..10 {
        let mut cmd = zks();
        cmd.args(["main-node", "--port", "0", "--addr", "127.0.0.1", "--data"])
            .arg(dir.path().join("mn"));
        let mut mn = Proc::spawn(cmd);
        mn.line_after("enode:");
        sigterm(&mn);
        assert!(
            mn.wait_within(Duration::from_secs(30)).success(),
            "main node, round {round}"
        );

        for (role, said) in [("external-node", "external node "), ("relay", "relay ")] {
            let mut cmd = zks();
            cmd.args([role, "--port", "0", "--addr", "127.0.0.1", "--main-node"])
                .arg(&upstream)
                .arg("--data")
                .arg(dir.path().join(role));
            let mut node = Proc::spawn(cmd);
            node.line_after(said);
            sigterm(&node);
            assert!(
                node.wait_within(Duration::from_secs(30)).success(),
                "{role}, round {round}"
            );
        }
    }
}
