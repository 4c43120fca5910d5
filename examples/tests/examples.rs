//! Runs every example binary with small arguments and checks what it printed, line by line.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use zks_api::wire::Capabilities;
use zks_api::{MemoryReplayStore, Node};
use zks_devp2p::eth::ChainIdentity;
use zks_devp2p::{Devp2pConfig, Devp2pTransport, NodeKey};
use zks_wire::zksync_os::V3Record;

/// How long any one example may take; they finish in a few seconds.
const DEADLINE: Duration = Duration::from_secs(60);

/// A running example, its stdout read line by line; killed when dropped.
struct Example {
    name: &'static str,
    child: Child,
    lines: mpsc::Receiver<String>,
    deadline: Instant,
}

impl Example {
    fn start(name: &'static str, path: &str, args: &[&str]) -> Self {
        let mut child = Command::new(path)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Self {
            name,
            child,
            lines,
            deadline: Instant::now() + DEADLINE,
        }
    }

    /// The next line, or `None` at the end of the output.
    fn next_line(&mut self) -> Option<String> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(left) {
            Ok(line) => Some(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("{} took over {DEADLINE:?}", self.name),
        }
    }

    /// The rest of the first line (from here on) that starts with `prefix`.
    fn line_after(&mut self, prefix: &str) -> String {
        loop {
            let line = self
                .next_line()
                .unwrap_or_else(|| panic!("{} ended without printing {prefix:?}", self.name));
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.to_owned();
            }
        }
    }

    /// Every remaining line, once the example exited, and its exit status.
    fn finish(mut self) -> (ExitStatus, Vec<String>) {
        let mut lines = Vec::new();
        while let Some(line) = self.next_line() {
            lines.push(line);
        }
        // Stdout is closed: the process has exited or is about to.
        let status = self.child.wait().expect("wait for the example");
        (status, lines)
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs an example to its end; panics unless it exits with status 0.
fn run(name: &'static str, path: &str, args: &[&str]) -> Vec<String> {
    let (status, lines) = Example::start(name, path, args).finish();
    assert!(
        status.success(),
        "{name} {args:?}: {status}\n{}",
        lines.join("\n")
    );
    lines
}

/// The `a..=b` ranges of the lines starting with `prefix`, checked to be contiguous; returns
/// the first and last block.
fn applied_range(lines: &[String], prefix: &str) -> (u64, u64) {
    let ranges: Vec<(u64, u64)> = lines
        .iter()
        .filter_map(|l| l.strip_prefix(prefix))
        .map(|rest| {
            let range = rest.split(':').next().unwrap();
            let (a, b) = range.split_once("..=").unwrap();
            (a.parse().unwrap(), b.parse().unwrap())
        })
        .collect();
    assert!(
        !ranges.is_empty(),
        "no {prefix:?} lines in\n{}",
        lines.join("\n")
    );
    for pair in ranges.windows(2) {
        assert_eq!(pair[1].0, pair[0].1 + 1, "not contiguous: {ranges:?}");
    }
    (ranges[0].0, ranges[ranges.len() - 1].1)
}

fn expect_line(lines: &[String], line: &str) {
    assert!(
        lines.iter().any(|l| l == line),
        "no line {line:?} in\n{}",
        lines.join("\n")
    );
}

#[test]
fn custom_store_catches_up_resumes_after_a_restart_and_speaks_zks_2() {
    const BIN: &str = env!("CARGO_BIN_EXE_custom_store");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();

    let lines = run("custom_store", BIN, &["--data", data, "--blocks", "40"]);
    assert_eq!(lines[0], "main node: blocks 0..20 stored, producing 20..40");
    assert_eq!(lines[1], "external node: resuming at block 0");
    expect_line(&lines, "external node: linked to the main node over zks/5");
    assert_eq!(
        applied_range(&lines, "external node: applied blocks "),
        (0, 39)
    );
    assert_eq!(
        lines.last().unwrap(),
        "external node: caught up at block 40: 40 blocks, 40 with a header, payloads identical to the main node's"
    );

    // The same files: both stores resume at their committed cursors.
    let lines = run("custom_store", BIN, &["--data", data, "--blocks", "100"]);
    assert_eq!(
        lines[0],
        "main node: blocks 0..70 stored, producing 70..100"
    );
    assert_eq!(lines[1], "external node: resuming at block 40");
    assert_eq!(
        applied_range(&lines, "external node: applied blocks "),
        (40, 99)
    );
    assert_eq!(
        lines.last().unwrap(),
        "external node: caught up at block 100: 100 blocks, 100 with a header, payloads identical to the main node's"
    );

    // zks/2 records carry no header: the versioned encoding drops it, and the sink stores none.
    let old = tempfile::tempdir().unwrap();
    let lines = run(
        "custom_store",
        BIN,
        &[
            "--data",
            old.path().to_str().unwrap(),
            "--blocks",
            "10",
            "--zks",
            "2",
        ],
    );
    expect_line(&lines, "external node: linked to the main node over zks/2");
    assert_eq!(
        applied_range(&lines, "external node: applied blocks "),
        (0, 9)
    );
    assert_eq!(
        lines.last().unwrap(),
        "external node: caught up at block 10: 10 blocks, 0 with a header, payloads identical to the main node's"
    );
}

#[test]
fn two_processes_external_node_reaches_the_main_nodes_head() {
    const BIN: &str = env!("CARGO_BIN_EXE_two_processes");
    let mut mn = Example::start(
        "two_processes main-node",
        BIN,
        &[
            "main-node",
            "--port",
            "0",
            "--blocks",
            "300",
            "--rate",
            "3000",
        ],
    );
    let enode = mn.line_after("enode: ");
    assert!(
        enode.starts_with("enode://") && enode.contains("@127.0.0.1:"),
        "{enode}"
    );
    let id = &enode["enode://".len()..enode.find('@').unwrap()];

    let lines = run(
        "two_processes external-node",
        BIN,
        &["external-node", "--main-node", &enode, "--exit-at", "300"],
    );
    let linked = lines
        .iter()
        .find_map(|l| l.strip_prefix("external node: linked to "))
        .unwrap_or_else(|| panic!("no link in\n{}", lines.join("\n")));
    assert!(linked.contains(id), "{linked}");
    assert!(linked.ends_with(" over zks/5 + zks_2fa/1"), "{linked}");
    let last = lines.last().unwrap();
    assert!(
        last.starts_with("external node: reached block 300: blocks 0..300 applied in ")
            && last.ends_with(" s, every record as the main node produced it"),
        "{last}"
    );
    // The main node saw the request from block 0 (`line_after` fails at the end of output).
    loop {
        let line = mn.line_after("main node: ");
        if line.ends_with(" asks for blocks from 0 on") {
            break;
        }
    }
}

#[test]
fn follow_zksync_os_follows_a_current_generation_main_node_of_its_chain() {
    const BIN: &str = env!("CARGO_BIN_EXE_follow_zksync_os");
    const CHAIN: u64 = 270;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // A main node as upstream runs it: eth Status of chain 270, zks/5 + zks_2fa/1 only, typed
    // v3 records that chain (block n's output hash is block n + 1's parent), from block 1.
    let chain = Arc::new(MemoryReplayStore::<V3Record>::with_first_block(1));
    chain
        .extend((1..=200).map(|n| V3Record::synthetic(n, 2, 120)))
        .unwrap();
    let mn = runtime.block_on(async {
        let config = Devp2pConfig::builder(NodeKey::generate())
            .listen_addr(([127, 0, 0, 1], 0).into())
            .chain_identity(ChainIdentity::zksync_os(CHAIN))
            .require_eth(true)
            .build()
            .unwrap();
        Node::builder(Devp2pTransport::new(config))
            .capabilities(Capabilities::CURRENT)
            .main_node(Arc::clone(&chain))
            .start()
            .await
            .unwrap()
    });
    let enode = mn.local_addr().unwrap().to_string();

    let lines = run(
        "follow_zksync_os",
        BIN,
        &[
            "--chain-id",
            "270",
            "--boot-node",
            &enode,
            "--addr",
            "127.0.0.1",
            "--port",
            "0",
            "--exit-at",
            "201",
        ],
    );
    let identity = ChainIdentity::zksync_os(CHAIN);
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    assert_eq!(
        lines[0],
        format!(
            "chain 270: network id 270, genesis 0x{}, fork id 0x{}/0",
            hex(&identity.genesis),
            hex(&identity.fork_id.hash)
        )
    );
    assert_eq!(lines[1], "advertising {zks/5} + zks_2fa/1");
    let linked = lines
        .iter()
        .find_map(|l| l.strip_prefix("linked to "))
        .unwrap_or_else(|| panic!("no link in\n{}", lines.join("\n")));
    assert!(linked.ends_with(" over zks/5 + zks_2fa/1"), "{linked}");
    assert_eq!(applied_range(&lines, "applied blocks "), (1, 200));
    let last_applied = lines
        .iter()
        .rev()
        .find(|l| l.starts_with("applied blocks "))
        .unwrap();
    let head = V3Record::synthetic(200, 2, 120);
    assert!(
        last_applied.ends_with(&format!(
            ": 400 transactions so far, head timestamp {}, protocol 0.31.0",
            head.block_context.timestamp
        )),
        "{last_applied}"
    );
    assert_eq!(lines.last().unwrap(), "followed the chain to block 200");
    runtime.block_on(mn.shutdown());
}

#[test]
fn verifier_batches_reach_their_threshold_with_eip712_signatures() {
    const BIN: &str = env!("CARGO_BIN_EXE_verifier");
    let lines = run(
        "verifier",
        BIN,
        &[
            "--verifiers",
            "3",
            "--threshold",
            "2",
            "--batches",
            "2",
            "--batch-size",
            "5",
        ],
    );
    let verifiers: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("verifier "))
        .collect();
    assert_eq!(verifiers.len(), 3, "{lines:?}");
    for (number, blocks) in [(1, "0..=4"), (2, "5..=9")] {
        let at = lines
            .iter()
            .position(|l| {
                l.starts_with(&format!(
                    "batch {number} (blocks {blocks}): threshold 2 reached, digest 0x"
                ))
            })
            .unwrap_or_else(|| panic!("batch {number} not verified:\n{}", lines.join("\n")));
        let signed: Vec<&String> = lines[at + 1..]
            .iter()
            .take_while(|l| l.starts_with("  "))
            .filter(|l| l.starts_with("  signed by "))
            .collect();
        assert_eq!(signed.len(), 2, "{signed:?}");
        for line in signed {
            let (signer, recovered) = line["  signed by ".len()..]
                .split_once(" (recovers to ")
                .unwrap();
            assert!(verifiers.contains(&signer), "{signer} is not a verifier");
            assert_eq!(format!("{signer})"), recovered);
        }
    }
}
