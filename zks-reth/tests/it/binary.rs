//! Interop with the `zks` binary (zks-devp2p inside; `cargo build --release -p zks-node` in the
//! main workspace: `../target/release/zks`, or `ZKS_BIN`). Without it these tests print
//! `SKIPPED` and pass, unless `ZKS_REQUIRE_RETH=1` (CI), which builds it first.
//!
//! The binary advertises eth/69–66, so reth negotiates eth/69 with it; eth/68 is covered by the
//! library cells (`interop`).
//!
//! - reth MN (fixture chain 1..=150) → `zks external-node --exit-at-block 150`: exits 0 at
//!   block 150, its store holds exactly 1..=150, contiguous (`zks store dump`);
//! - reth MN → `zks relay` → reth EN: the reth EN holds exactly 1..=150, byte for byte the reth
//!   MN's (the relay passed reth's bytes on unchanged);
//! - `zks main-node --produce-until 151` → reth EN and a zks-devp2p EN (library): both hold
//!   exactly 1..=150, byte-identical to each other, each record following the one before;
//! - `zks main-node` → reth relay → `zks external-node`: exits 0 at block 150, store 1..=150.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::time::timeout;
use zks_api::wire::Capabilities;
use zks_api::{MemoryReplayStore, Node, NodeSettings, PeerAddr, ReplayRecord};
use zks_devp2p::eth::ChainIdentity;
use zks_devp2p::{Devp2pConfig, Devp2pTransport, NodeKey};
use zks_wire::zksync_os::V3Record;

use crate::v3_chain::{encoded, v3_chain};
use crate::{CHAIN_ID, LIMIT, enode, reth_net};

const LAST: u64 = 150;

type Store = Arc<MemoryReplayStore<V3Record>>;

/// The `zks` binary, or `None` (after printing SKIPPED) when it is not built.
fn zks_bin() -> Option<PathBuf> {
    let path = std::env::var_os("ZKS_BIN").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/zks"),
        PathBuf::from,
    );
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var("ZKS_REQUIRE_RETH").as_deref() != Ok("1"),
        "ZKS_REQUIRE_RETH=1 but no zks binary at {}",
        path.display()
    );
    eprintln!(
        "SKIPPED: no zks binary at {} (cargo build --release -p zks-node)",
        path.display()
    );
    None
}

/// A scratch directory under the target's temporary directory.
fn scratch(name: &str) -> PathBuf {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `zks <command> --chain-id 270 --data <data> --port 0 --addr 127.0.0.1 [--main-node <up>]`.
fn node_cmd(bin: &Path, command: &str, data: &Path, upstream: Option<&str>) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env("RUST_LOG", "warn")
        .env_remove("ZKS_REQUIRE_RETH")
        .stdin(Stdio::null())
        .arg(command)
        .arg("--data")
        .arg(data)
        .args(["--chain-id", "270", "--port", "0", "--addr", "127.0.0.1"]);
    if let Some(up) = upstream {
        cmd.args(["--main-node", up]);
    }
    cmd
}

/// A running `zks` process, killed when dropped.
struct Proc {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Proc {
    fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        Self {
            child,
            lines: BufReader::new(stdout).lines(),
        }
    }

    /// The rest of the first stdout line starting with `prefix`.
    async fn line_after(&mut self, prefix: &str) -> String {
        loop {
            let line = timeout(LIMIT, self.lines.next_line())
                .await
                .unwrap_or_else(|_| panic!("no {prefix:?} line in time"))
                .unwrap()
                .unwrap_or_else(|| panic!("exited before printing {prefix:?}"));
            if let Some(rest) = line.trim_end().strip_prefix(prefix) {
                return rest.trim().to_owned();
            }
        }
    }

    async fn exits_ok(&mut self) {
        let status = timeout(LIMIT, self.child.wait()).await.unwrap().unwrap();
        assert!(status.success(), "{status}");
    }
}

/// `zks store dump` of `data`.
async fn dump(bin: &Path, data: &Path) -> String {
    let out = Command::new(bin)
        .args(["store", "dump", "--data"])
        .arg(data)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn dump_of(role: &str) -> String {
    format!(
        "role: {role}\nformat: ZKsync OS v3 records of chain 270\nblocks: 1..={LAST}\n\
         records: {LAST}\ncontiguous: yes\n"
    )
}

fn full_store() -> Store {
    let store = Arc::new(MemoryReplayStore::<V3Record>::with_first_block(1));
    store.extend(v3_chain(LAST)).unwrap();
    store
}

fn empty_store() -> Store {
    Arc::new(MemoryReplayStore::<V3Record>::with_first_block(1))
}

fn settings() -> NodeSettings {
    NodeSettings::default().with_redial(Duration::from_secs(60), Duration::from_secs(60))
}

async fn en(transport: impl zks_api::transport::Transport, store: Store, mn: PeerAddr) -> Node {
    Node::builder(transport)
        .capabilities(Capabilities::CURRENT)
        .settings(settings())
        .external_node(store)
        .trusted_main_node(mn)
        .start()
        .await
        .unwrap()
}

async fn reached(store: &Store) {
    timeout(LIMIT, store.wait_until(LAST + 1))
        .await
        .unwrap_or_else(|_| panic!("stopped at {:?}", store.block_numbers().last()));
    assert_eq!(store.block_numbers(), (1..=LAST).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reth_mn_to_zks_external_node_binary() {
    let Some(bin) = zks_bin() else { return };
    let mn = reth_net(Capabilities::CURRENT).await;
    let _mn_node = Node::builder(mn.transport.clone())
        .capabilities(Capabilities::CURRENT)
        .main_node(full_store())
        .start()
        .await
        .unwrap();
    let data = scratch("bin-en");
    let mut cmd = node_cmd(&bin, "external-node", &data, Some(enode(&mn).as_str()));
    cmd.args(["--exit-at-block", &LAST.to_string()]);
    let mut proc = Proc::spawn(cmd);
    assert_eq!(
        proc.line_after("reached block").await,
        format!("{LAST}; next block {}", LAST + 1)
    );
    proc.exits_ok().await;
    assert_eq!(dump(&bin, &data).await, dump_of("external-node"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reth_mn_to_zks_relay_binary_to_reth_en() {
    let Some(bin) = zks_bin() else { return };
    let mn = reth_net(Capabilities::CURRENT).await;
    let _mn_node = Node::builder(mn.transport.clone())
        .capabilities(Capabilities::CURRENT)
        .main_node(full_store())
        .start()
        .await
        .unwrap();
    let data = scratch("bin-relay");
    let mut relay = Proc::spawn(node_cmd(&bin, "relay", &data, Some(enode(&mn).as_str())));
    let line = relay.line_after("relay").await;
    let (relay_enode, _) = line.split_once(' ').unwrap();
    let en_net = reth_net(Capabilities::CURRENT).await;
    let store = empty_store();
    let _en = en(
        en_net.transport.clone(),
        Arc::clone(&store),
        PeerAddr::new(relay_enode),
    )
    .await;
    reached(&store).await;
    for (ours, theirs) in store.records().iter().zip(v3_chain(LAST).iter()) {
        assert_eq!(
            encoded(ours),
            encoded(theirs),
            "block {}",
            theirs.block_number()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zks_main_node_binary_to_reth_en_and_devp2p_en() {
    let Some(bin) = zks_bin() else { return };
    let data = scratch("bin-mn");
    let mut cmd = node_cmd(&bin, "main-node", &data, None);
    cmd.args([
        "--produce-blocks",
        "500",
        "--produce-until",
        &(LAST + 1).to_string(),
    ]);
    let mut mn = Proc::spawn(cmd);
    let mn_enode = PeerAddr::new(mn.line_after("enode:").await);
    let en_net = reth_net(Capabilities::CURRENT).await;
    let reth_store = empty_store();
    let _reth_en = en(
        en_net.transport.clone(),
        Arc::clone(&reth_store),
        mn_enode.clone(),
    )
    .await;
    let devp2p = Devp2pTransport::new(
        Devp2pConfig::builder(NodeKey::generate())
            .listen_addr("127.0.0.1:0".parse().unwrap())
            .chain_identity(ChainIdentity::zksync_os(CHAIN_ID))
            .build()
            .unwrap(),
    );
    let devp2p_store = empty_store();
    let _devp2p_en = en(devp2p, Arc::clone(&devp2p_store), mn_enode).await;
    reached(&reth_store).await;
    reached(&devp2p_store).await;
    let ours = reth_store.records();
    let theirs = devp2p_store.records();
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!(encoded(a), encoded(b), "block {}", a.block_number());
        assert_eq!(a.block_context.chain_id, CHAIN_ID);
    }
    for pair in ours.windows(2) {
        assert!(
            pair[1].follows(&pair[0]),
            "block {}",
            pair[1].block_number()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zks_main_node_binary_to_reth_relay_to_zks_external_node_binary() {
    let Some(bin) = zks_bin() else { return };
    let mn_data = scratch("bin-mn2");
    let mut cmd = node_cmd(&bin, "main-node", &mn_data, None);
    cmd.args([
        "--produce-blocks",
        "500",
        "--produce-until",
        &(LAST + 1).to_string(),
    ]);
    let mut mn = Proc::spawn(cmd);
    let mn_enode = PeerAddr::new(mn.line_after("enode:").await);
    let relay_net = reth_net(Capabilities::CURRENT).await;
    let relay_store = empty_store();
    let _relay = Node::builder(relay_net.transport.clone())
        .capabilities(Capabilities::CURRENT)
        .settings(settings())
        .relay(Arc::clone(&relay_store))
        .trusted_main_node(mn_enode)
        .start()
        .await
        .unwrap();
    let en_data = scratch("bin-en2");
    let mut cmd = node_cmd(
        &bin,
        "external-node",
        &en_data,
        Some(enode(&relay_net).as_str()),
    );
    cmd.args(["--exit-at-block", &LAST.to_string()]);
    let mut en = Proc::spawn(cmd);
    assert_eq!(
        en.line_after("reached block").await,
        format!("{LAST}; next block {}", LAST + 1)
    );
    en.exits_ok().await;
    assert_eq!(dump(&bin, &en_data).await, dump_of("external-node"));
    reached(&relay_store).await;
}
