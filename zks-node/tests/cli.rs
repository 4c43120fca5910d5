//! The real `zks` binary, run as OS processes on loopback: replay across SIGKILLs, `rlpx ping`
//! against our main node and an independent RLPx implementation, user errors, and the demo.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{
    Proc, dump, free_port, generate_key, hermetic, main_node, records_in, run, scrape, stderr,
    stdout, zks,
};

#[test]
fn external_node_survives_five_sigkills_and_ends_with_exactly_blocks_0_to_999() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("mn.key");
    let id = generate_key(&key);
    let (_mn, enode) = main_node(
        &dir.path().join("mn"),
        &key,
        &["--produce-blocks", "200", "--produce-until", "1000"],
    );
    assert!(
        enode.starts_with(&format!("enode://{id}@127.0.0.1:")),
        "{enode}"
    );
    let en_data = dir.path().join("en");
    let en = |extra: &[&str]| {
        let mut cmd = zks();
        cmd.arg("external-node")
            .arg("--data")
            .arg(&en_data)
            .args(["--main-node", &enode, "--port", "0", "--addr", "127.0.0.1"])
            .args(extra);
        cmd
    };

    let mut progress = Vec::new();
    for round in 0..5u64 {
        let mut node = Proc::spawn(en(&[]));
        node.line_after("external node");
        std::thread::sleep(Duration::from_millis(250 + 60 * round));
        node.kill();
        let summary = dump(&en_data);
        assert!(summary.contains("contiguous: yes"), "{summary}");
        progress.push(records_in(&summary));
    }
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "progress went back: {progress:?}"
    );
    assert!(
        progress.iter().any(|&n| n > 0 && n < 1000),
        "no kill landed mid-stream: {progress:?}"
    );

    let started = Instant::now();
    let out = en(&["--exit-at-block", "999"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("reached block 999"),
        "{}",
        stdout(&out)
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    let summary = dump(&en_data);
    assert!(summary.contains("role: external-node"), "{summary}");
    assert!(summary.contains("blocks: 0..=999"), "{summary}");
    assert!(summary.contains("records: 1000"), "{summary}");
    assert!(summary.contains("contiguous: yes"), "{summary}");
}

fn assert_hello(report: &str, client: &str, caps: &str, zks: &str) {
    let line = |name: &str| {
        report
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {name:?} in\n{report}"))
            .to_owned()
    };
    assert!(line("client:").contains(client), "{report}");
    assert!(line("capabilities:").contains(caps), "{report}");
    assert_eq!(line("zks:"), zks, "{report}");
    assert_eq!(line("p2p version:"), "5", "{report}");
    assert!(line("handshake rtt:").ends_with("ms"), "{report}");
    assert!(line("ping rtt:").ends_with("ms"), "{report}");
}

#[test]
fn version_names_the_mac_keccak_backend() {
    let long = run(&["--version"]);
    assert!(long.status.success(), "{}", stderr(&long));
    let backend = zks_devp2p::rlpx::MAC_KECCAK_BACKEND;
    assert_eq!(
        stdout(&long),
        format!(
            "zks {}\nRLPx MAC keccak: keccak-asm ({backend})\n",
            env!("CARGO_PKG_VERSION")
        )
    );
    // The short form stays one line.
    let short = run(&["-V"]);
    assert_eq!(
        stdout(&short),
        format!("zks {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn rlpx_ping_prints_our_main_nodes_hello() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("mn.key");
    generate_key(&key);
    let (_mn, enode) = main_node(&dir.path().join("mn"), &key, &[]);
    let out = run(&["rlpx", "ping", &enode]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = stdout(&out);
    eprintln!("{report}");
    assert_hello(
        &report,
        "zks/v",
        "zks/1, zks/2, zks/3, zks/4, zks/5, zks_2fa/1",
        "zks/5 + zks_2fa/1",
    );
}

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/interop")
}

#[test]
fn rlpx_ping_prints_the_hello_of_an_ethereumjs_peer() {
    let dir = interop_dir();
    assert!(
        dir.join("node_modules/@ethereumjs/devp2p").is_dir(),
        "{}/node_modules is missing: run `npm ci --prefix tests/interop` before this test",
        dir.display()
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new("node");
    cmd.args(["zks-peer.mjs", "listen", &port.to_string()])
        .current_dir(&dir)
        .env("ZKS_PEER_SECONDS", "20")
        .stdin(Stdio::null());
    let mut peer = Proc::spawn(cmd);
    let listening = peer.line_after("{\"event\":\"listening\"");
    let enode = listening
        .split('"')
        .find(|s| s.starts_with("enode://"))
        .unwrap_or_else(|| panic!("no enode in {listening}"))
        .to_owned();
    let out = run(&["rlpx", "ping", &enode]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = stdout(&out);
    eprintln!("{report}");
    assert_hello(&report, "ethereumjs", "zks/3", "zks/3");
}

/// Exit code 1 and exactly one line on stderr, containing `message`.
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn assert_user_error(out: &Output, message: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    let lines: Vec<_> = err.lines().collect();
    assert_eq!(lines.len(), 1, "want one line, got: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    assert!(lines[0].contains(message), "want {message:?} in {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn user_errors_print_one_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let d = |p: &str| dir.path().join(p).display().to_string();

    // A bad enode, to the external node and to ping.
    let out = run(&[
        "external-node",
        "--data",
        &d("en"),
        "--main-node",
        "enode://nope",
    ]);
    assert_user_error(&out, "invalid enode URL \"enode://nope\"");
    let out = run(&["rlpx", "ping", "127.0.0.1:30303"]);
    assert_user_error(
        &out,
        "invalid enode URL \"127.0.0.1:30303\": missing enode:// scheme",
    );

    // A missing key file.
    let missing = d("no-such.key");
    let out = run(&["main-node", "--data", &d("mn"), "--key", &missing]);
    assert_user_error(&out, &format!("node key file {missing} does not exist"));
    let out = run(&[
        "external-node",
        "--data",
        &d("en"),
        "--main-node",
        &format!("enode://{}@127.0.0.1:1", "ab".repeat(64)),
    ]);
    // (an id that is not a curve point is a bad enode too)
    assert_user_error(&out, "invalid enode URL");

    // A key file that would be overwritten.
    let key = dir.path().join("node.key");
    generate_key(&key);
    let out = zks()
        .args(["key", "generate", "--out"])
        .arg(&key)
        .output()
        .unwrap();
    assert_user_error(&out, "already exists; not overwriting it");

    // The port is in use.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = run(&[
        "main-node",
        "--data",
        &d("mn-port"),
        "--addr",
        "127.0.0.1",
        "--port",
        &port,
    ]);
    assert_user_error(&out, &format!("cannot listen on 127.0.0.1:{port}"));
    assert!(
        stderr(&out).to_lowercase().contains("in use"),
        "{}",
        stderr(&out)
    );

    // A data dir of the wrong role.
    let mn_data = dir.path().join("mn-role");
    let (mut mn, enode) = main_node(&mn_data, &key, &[]);
    mn.kill();
    let out = zks()
        .args(["external-node", "--data"])
        .arg(&mn_data)
        .args(["--main-node", &enode, "--port", "0"])
        .output()
        .unwrap();
    assert_user_error(
        &out,
        &format!(
            "data dir {} belongs to a main node; refusing to open it for an external node",
            mn_data.display()
        ),
    );

    // A missing verifier key, a bad signer address, a bad threshold.
    let out = run(&[
        "external-node",
        "--data",
        &d("en2"),
        "--main-node",
        &enode,
        "--verifier-key",
        &missing,
    ]);
    assert_user_error(&out, "cannot load verifier key");
    let out = run(&[
        "main-node",
        "--data",
        &d("mn3"),
        "--verifier-signer",
        "0x1234",
    ]);
    assert_user_error(&out, "invalid verifier address \"0x1234\"");
    let signer = format!("0x{}", "11".repeat(20));
    let out = run(&[
        "main-node",
        "--data",
        &d("mn3"),
        "--verifier-signer",
        &signer,
        "--threshold",
        "2",
    ]);
    assert_user_error(&out, "--threshold 2 is not within 1..=1");

    // A store dump of a directory without a store.
    let out = run(&["store", "dump", "--data", &d("empty")]);
    assert_user_error(&out, "holds no zks store");
}

#[test]
fn config_file_is_read_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("zks.toml");
    std::fs::write(
        &config,
        format!(
            "[external-node]\ndata = {:?}\nmain-node = [\"enode://from-file\"]\n",
            dir.path().join("en").display().to_string()
        ),
    )
    .unwrap();
    let cfg = config.display().to_string();
    // From the file.
    let out = run(&["--config", &cfg, "external-node"]);
    assert_user_error(&out, "invalid enode URL \"enode://from-file\"");
    // The flag wins.
    let out = run(&[
        "external-node",
        "--config",
        &cfg,
        "--main-node",
        "enode://from-flag",
    ]);
    assert_user_error(&out, "invalid enode URL \"enode://from-flag\"");
    // An unknown key.
    std::fs::write(&config, "[main-node]\nprot = 1\n").unwrap();
    let out = run(&["--config", &cfg, "main-node"]);
    assert_user_error(&out, "unknown field `prot`");
    // A missing file.
    let out = run(&["--config", &format!("{cfg}.missing"), "main-node"]);
    assert_user_error(&out, "cannot read config file");
}

#[test]
fn demo_runs_five_seconds_and_every_external_node_reaches_the_head() {
    // v3 records of chain 270 (about 9 KiB): a debug build on a busy CI machine keeps up with
    // 100 blocks/s for three ENs. Only the verifier (en-1) speaks zks_2fa, as upstream ENs.
    let summary = demo_generation(
        &["demo", "--duration", "5s", "--rate", "100"],
        ["zks/5 + zks_2fa/1", "zks/5", "zks/5"],
    );
    assert!(
        summary.contains("main node head ") && summary.contains(" (blocks 1..="),
        "a v3 chain starts at block 1: {summary}"
    );
}

#[test]
fn demo_runs_the_seed_generation_on_request() {
    let summary = demo_generation(
        &["demo", "--duration", "3s", "--generation", "seed"],
        ["zks/3"; 3],
    );
    assert!(summary.contains(" (blocks 0..="), "{summary}");
}

/// Runs the demo and checks every external node reached the head over its `links`, and every
/// batch was verified; returns the summary.
fn demo_generation(args: &[&str], links: [&str; 3]) -> String {
    let out = run(args);
    let summary = stdout(&out);
    eprintln!("{summary}\n{}", stderr(&out));
    assert!(out.status.success());
    assert!(summary.contains("zks demo summary"), "{summary}");
    let en_rows: Vec<_> = summary.lines().filter(|l| l.starts_with("en-")).collect();
    assert_eq!(en_rows.len(), 3, "{summary}");
    for (row, link) in en_rows.iter().zip(links) {
        assert!(row.trim_end().ends_with(&format!("yes  {link}")), "{row}");
    }
    assert!(
        summary.contains("all external nodes at the main node's head: yes"),
        "{summary}"
    );
    let verified = summary
        .lines()
        .find_map(|l| l.strip_prefix("batches verified: "))
        .expect("batches line");
    let (done, submitted) = verified
        .split_whitespace()
        .next()
        .and_then(|s| s.split_once('/'))
        .expect("n/m");
    assert_eq!(done, submitted, "{verified}");
    assert!(done.parse::<u64>().unwrap() > 0, "{verified}");
    summary
}

#[test]
fn metrics_endpoint_reports_replay_from_protocol_events() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("mn.key");
    generate_key(&key);
    let addr = format!("127.0.0.1:{}", free_port());
    let (_mn, enode) = main_node(
        &dir.path().join("mn"),
        &key,
        &[
            "--produce-blocks",
            "500",
            "--produce-until",
            "200",
            "--metrics",
            &addr,
        ],
    );
    let out = zks()
        .args(["external-node", "--data"])
        .arg(dir.path().join("en"))
        .args([
            "--main-node",
            &enode,
            "--port",
            "0",
            "--exit-at-block",
            "199",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let body = scrape(&addr);
    assert!(body.contains("zks_links_established_total 1"), "{body}");
    let sent = body
        .lines()
        .find(|l| l.starts_with("zks_replay_blocks_sent_total{peer="))
        .unwrap_or_else(|| panic!("{body}"));
    assert!(sent.ends_with(" 200"), "{sent}");
    assert!(body.contains("zks_replay_lag_blocks{peer="), "{body}");
    assert!(body.contains("zks_replay_head 200"), "{body}");
}

/// An external node's `zks_replay_head` is its store's next block from its start, not 0 until
/// its first apply: the soak read a node restarted a moment before as 16,061 blocks behind.
#[test]
fn an_external_nodes_replay_head_metric_starts_at_its_store() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("mn.key");
    generate_key(&key);
    let (mut mn, enode) = main_node(
        &dir.path().join("mn"),
        &key,
        &["--produce-blocks", "500", "--produce-until", "200"],
    );
    let out = zks()
        .args(["external-node", "--data"])
        .arg(dir.path().join("en"))
        .args([
            "--main-node",
            &enode,
            "--port",
            "0",
            "--exit-at-block",
            "199",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // No upstream any more: nothing is applied after the restart.
    mn.kill();
    let addr = format!("127.0.0.1:{}", free_port());
    let mut cmd = zks();
    cmd.args(["external-node", "--data"])
        .arg(dir.path().join("en"))
        .args(["--main-node", &enode, "--port", "0", "--metrics", &addr]);
    let mut en = Proc::spawn(cmd);
    let started = en.line_after("external node");
    assert!(started.ends_with("resuming at block 200"), "{started}");
    let body = scrape(&addr);
    assert!(body.lines().any(|l| l == "zks_replay_head 200"), "{body}");
    en.kill();
}

/// `--chain-id`: a main node and an external node of one ZKsync OS chain speak eth and replay;
/// `rlpx ping --chain-id` prints the main node's Status, and explains another chain's mismatch.
#[test]
fn chain_id_nodes_speak_eth_and_ping_shows_the_status() {
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
            "100",
        ],
    );

    let out = run(&["rlpx", "ping", &enode, "--chain-id", "270"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = stdout(&out);
    assert!(
        report.contains("capabilities: eth/69, eth/68, eth/67, eth/66, zks/4, zks/5, zks_2fa/1\n"),
        "{report}"
    );
    let status = report
        .lines()
        .find_map(|l| l.strip_prefix("eth status:"))
        .unwrap_or_else(|| panic!("no eth status in\n{report}"));
    // The genesis and fork id upstream nodes of chain 270 send (the eth-status vectors).
    let chain = zks_devp2p::eth::ChainIdentity::zksync_os(270);
    let expected = format!(
        "eth/69, network id 270, genesis 0x{}, fork id 0x{}/0",
        hex::encode(chain.genesis),
        hex::encode(chain.fork_id.hash)
    );
    assert_eq!(status.trim(), expected);
    assert!(!report.contains("session:"), "{report}");
    assert!(
        report.contains("ping rtt:") && report.contains(" ms"),
        "{report}"
    );

    let out = run(&["rlpx", "ping", &enode, "--chain-id", "506"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = stdout(&out);
    assert!(report.contains("network id 270"), "{report}");
    assert!(
        report.contains("session:      ended after Hello: eth status: genesis mismatch"),
        "{report}"
    );

    let en_data = dir.path().join("en");
    let out = zks()
        .arg("external-node")
        .arg("--data")
        .arg(&en_data)
        .args(["--main-node", &enode, "--port", "0", "--addr", "127.0.0.1"])
        .args(["--chain-id", "270", "--exit-at-block", "99"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // The chain's v3 records, from block 1 (block 0 is the genesis, no record).
    assert_eq!(
        dump(&en_data),
        "role: external-node\nformat: ZKsync OS v3 records of chain 270\nblocks: 1..=99\n\
         records: 99\ncontiguous: yes\n"
    );
}

/// A node of a ZKsync OS chain listens on upstream's port, 3060, unless told otherwise.
#[test]
fn a_zksync_os_node_listens_on_3060_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = zks();
    cmd.args(["main-node", "--data"]).arg(dir.path()).args([
        "--addr",
        "127.0.0.1",
        "--chain-id",
        "270",
    ]);
    let mut mn = Proc::spawn(cmd);
    let enode = mn.line_after("enode:");
    assert!(enode.ends_with("@127.0.0.1:3060"), "{enode}");
}

// --- crash-safe first start ---

/// What an older version's first start left in `replay.redb` when killed after redb sized the
/// file but before it wrote its magic number.
const ZEROED_STORE_LEN: usize = 73_728;

fn dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A main node on `data` with its own `<data>/node.key`; its enode.
fn main_node_on(data: &Path) -> (Proc, String) {
    let mut cmd = zks();
    cmd.arg("main-node")
        .arg("--data")
        .arg(data)
        .args(["--port", "0", "--addr", "127.0.0.1"]);
    let mut mn = Proc::spawn(cmd);
    let enode = mn.line_after("enode:");
    (mn, enode)
}

#[test]
fn a_zeroed_store_and_an_empty_node_key_from_a_killed_first_start_are_recreated() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("mn");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("replay.redb"), vec![0u8; ZEROED_STORE_LEN]).unwrap();
    std::fs::write(data.join("node.key"), b"").unwrap();

    // Inspection reports it as never initialised, not as corrupt, and changes nothing.
    let out = run(&["store", "dump", "--data", &data.display().to_string()]);
    assert_user_error(
        &out,
        &format!(
            "data dir {} holds no zks store: replay.redb was never initialised (73728 bytes, \
             all zero); a node started on this data dir recreates it",
            data.display()
        ),
    );
    assert_eq!(
        std::fs::metadata(data.join("replay.redb")).unwrap().len(),
        ZEROED_STORE_LEN as u64
    );

    // The node starts afresh, saying why: a new store, a new key (the one it announces).
    let mut cmd = zks();
    cmd.args(["--log-format", "json", "main-node", "--data"])
        .arg(&data)
        .args(["--port", "0", "--addr", "127.0.0.1"]);
    let mut mn = Proc::spawn_logged(cmd);
    let store_warning = mn.log(
        "the store file was never initialised (an interrupted first start left it); recreating it",
    );
    assert_eq!(store_warning["level"], "WARN");
    assert_eq!(store_warning["fields"]["found"], "73728 bytes, all zero");
    assert_eq!(
        store_warning["fields"]["file"],
        data.join("replay.redb").display().to_string()
    );
    let key_warning = mn.log(
        "the node key file is empty (an interrupted first start left it); generating a new node key",
    );
    assert_eq!(key_warning["level"], "WARN");
    let enode = mn.line_after("enode:");
    mn.kill();
    let key = std::fs::read_to_string(data.join("node.key")).unwrap();
    assert_eq!(key.len(), 65, "{key:?}");
    let id = zks_devp2p::NodeKey::from_hex(&key)
        .unwrap()
        .id()
        .to_string();
    assert!(enode.starts_with(&format!("enode://{id}@")), "{enode}");
    assert_eq!(
        dump(&data),
        "role: main-node\nformat: stand-in records (no chain id)\nblocks: none\nrecords: 0\ncontiguous: yes\n"
    );
    assert_eq!(dir_names(&data), ["node.key", "replay.redb"]);
}

#[test]
fn a_store_without_its_meta_table_is_recreated_not_reported_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("mn.key");
    generate_key(&key);
    let (_mn, enode) = main_node(
        &dir.path().join("mn"),
        &key,
        &["--produce-blocks", "1000", "--produce-until", "10"],
    );
    // Killed after redb initialised the file, before the first commit.
    let data = dir.path().join("en");
    std::fs::create_dir(&data).unwrap();
    drop(redb::Database::create(data.join("replay.redb")).unwrap());
    let out = run(&["store", "dump", "--data", &data.display().to_string()]);
    assert_user_error(
        &out,
        "replay.redb was never initialised (a redb file without tables)",
    );
    assert!(!stderr(&out).contains("does not exist"), "{}", stderr(&out));

    let out = zks()
        .arg("external-node")
        .arg("--data")
        .arg(&data)
        .args(["--main-node", &enode, "--port", "0", "--addr", "127.0.0.1"])
        .args(["--exit-at-block", "9"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        dump(&data),
        "role: external-node\nformat: stand-in records (no chain id)\nblocks: 0..=9\nrecords: 10\ncontiguous: yes\n"
    );
}

#[test]
fn a_store_or_key_with_damaged_content_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    // A store file that is not all zeros and not redb.
    let data = dir.path().join("mn");
    std::fs::create_dir(&data).unwrap();
    let mut junk = vec![0u8; ZEROED_STORE_LEN];
    junk[100] = 7;
    std::fs::write(data.join("replay.redb"), &junk).unwrap();
    let out = run(&[
        "main-node",
        "--data",
        &data.display().to_string(),
        "--port",
        "0",
        "--addr",
        "127.0.0.1",
    ]);
    assert_user_error(
        &out,
        &format!(
            "{} is damaged or not a zks store: I/O error: Not a redb database: magic number \
             mismatch; refusing to use it (move it away to start from an empty store)",
            data.join("replay.redb").display()
        ),
    );
    assert_eq!(std::fs::read(data.join("replay.redb")).unwrap(), junk);
    let out = run(&["store", "dump", "--data", &data.display().to_string()]);
    assert_user_error(&out, "is damaged or not a zks store");

    // A node key that holds something, but not a key.
    let data = dir.path().join("mn2");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("node.key"), b"0123\n").unwrap();
    set_mode(&data.join("node.key"), 0o600);
    let out = run(&[
        "main-node",
        "--data",
        &data.display().to_string(),
        "--port",
        "0",
        "--addr",
        "127.0.0.1",
    ]);
    assert_user_error(
        &out,
        &format!(
            "cannot load node key {}: secret key must be 64 hex characters, got 4",
            data.join("node.key").display()
        ),
    );
    assert_eq!(std::fs::read(data.join("node.key")).unwrap(), b"0123\n");

    // An empty key file the user named is theirs: refused, never regenerated.
    let named = dir.path().join("named.key");
    std::fs::write(&named, b"").unwrap();
    set_mode(&named, 0o600);
    let out = run(&[
        "main-node",
        "--data",
        &dir.path().join("mn3").display().to_string(),
        "--key",
        &named.display().to_string(),
    ]);
    assert_user_error(
        &out,
        &format!(
            "cannot load node key {}: secret key must be 64 hex characters, got 0",
            named.display()
        ),
    );
    assert!(!dir.path().join("mn3").exists());
}

#[test]
fn temporary_files_left_by_a_killed_start_are_ignored_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("mn");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join(".replay.redb.tmp-4242-00000000deadbeef"), b"half").unwrap();
    std::fs::write(data.join(".node.key.tmp-4242-00000000deadbeef"), b"0123").unwrap();
    let (mut mn, _) = main_node_on(&data);
    mn.kill();
    assert_eq!(dir_names(&data), ["node.key", "replay.redb"]);
    assert!(dump(&data).starts_with("role: main-node\n"));
}

#[test]
fn a_node_killed_at_any_moment_of_its_first_start_leaves_a_usable_data_dir() {
    // SIGKILLs spread over the first ~50 ms of fresh starts of both roles. What each kill
    // found is measured, not assumed: the files the dead process left (nothing yet, a
    // temporary, the key, both), tallied and printed. Whatever it left, the next start works
    // and `store dump` reads the dir.
    let dir = tempfile::tempdir().unwrap();
    let id = generate_key(&dir.path().join("nobody.key"));
    let unreachable = format!("enode://{id}@127.0.0.1:9");
    let mut found = std::collections::BTreeMap::<String, u32>::new();
    let mut kills = 0;
    for role in ["main-node", "external-node"] {
        for (round, delay_us) in (0..50_000u64).step_by(2_500).enumerate() {
            let data = dir.path().join(format!("{role}-{round}"));
            let start = |data: &Path| {
                let mut cmd = zks();
                cmd.arg(role)
                    .arg("--data")
                    .arg(data)
                    .args(["--port", "0", "--addr", "127.0.0.1"]);
                if role == "external-node" {
                    cmd.args(["--main-node", &unreachable]);
                }
                Proc::spawn(cmd)
            };
            let mut node = start(&data);
            std::thread::sleep(Duration::from_micros(delay_us));
            node.kill();
            kills += 1;
            let left: Vec<String> = if data.exists() {
                dir_names(&data)
                    .into_iter()
                    .map(|n| {
                        if n.starts_with('.') {
                            ".tmp".to_owned()
                        } else {
                            n
                        }
                    })
                    .collect()
            } else {
                Vec::new()
            };
            *found.entry(format!("{left:?}")).or_default() += 1;
            // Nothing, or complete files only (temporaries are never read).
            if data.join("node.key").exists() {
                let key = std::fs::read_to_string(data.join("node.key")).unwrap();
                assert_eq!(key.len(), 65, "{role} round {round}: {key:?}");
            }
            let mut again = start(&data);
            again.line_after(if role == "main-node" {
                "enode:"
            } else {
                "external node"
            });
            again.kill();
            assert!(
                dump(&data).starts_with(&format!("role: {role}\n")),
                "{role} round {round}"
            );
            assert_eq!(
                dir_names(&data),
                ["node.key", "replay.redb"],
                "{role} round {round}"
            );
        }
    }
    eprintln!(
        "first-start kills: {kills}, all restarted and dumped; the dirs they left: {found:?}"
    );
    assert!(
        found.len() >= 2,
        "every kill found the same state, so the kills did not spread over the start: {found:?}"
    );
}

// --- the port before the files ---

#[test]
fn a_busy_port_fails_the_node_before_it_creates_any_file() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let listen = ["--addr", "127.0.0.1", "--port", &port];
    let enode = format!(
        "enode://{}@127.0.0.1:1",
        zks_devp2p::NodeKey::generate().id()
    );
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let missing = dir.path().join("missing");
    for data in [&empty, &missing] {
        let data_arg = data.display().to_string();
        let out = zks()
            .args(["main-node", "--data", &data_arg])
            .args(listen)
            .output()
            .unwrap();
        assert_user_error(&out, &format!("cannot listen on 127.0.0.1:{port}: "));
        assert!(
            stderr(&out).to_lowercase().contains("in use"),
            "{}",
            stderr(&out)
        );
        let out = zks()
            .args(["external-node", "--data", &data_arg, "--main-node", &enode])
            .args(listen)
            .output()
            .unwrap();
        assert_user_error(&out, &format!("cannot listen on 127.0.0.1:{port}: "));
    }
    assert!(dir_names(&empty).is_empty(), "{:?}", dir_names(&empty));
    assert!(!missing.exists());
}

// --- --exit-at-block ---

#[test]
fn exit_at_block_applies_exactly_up_to_block_n() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("mn.key");
    generate_key(&key);
    // Far ahead of the external node, which then gets full 64-block messages: 384..=447
    // crosses 400.
    let (_mn, enode) = main_node(
        &dir.path().join("mn"),
        &key,
        &["--produce-blocks", "100000", "--produce-until", "1000"],
    );
    let data = dir.path().join("en");
    let en = |exit: &str| {
        zks()
            .arg("external-node")
            .arg("--data")
            .arg(&data)
            .args(["--main-node", &enode, "--port", "0", "--addr", "127.0.0.1"])
            .args(["--exit-at-block", exit])
            .output()
            .unwrap()
    };
    let out = en("400");
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<_> = stdout(&out).lines().map(str::to_owned).collect();
    assert_eq!(
        lines.last().map(String::as_str),
        Some("reached block 400; next block 401"),
        "{lines:?}"
    );
    assert_eq!(
        dump(&data),
        "role: external-node\nformat: stand-in records (no chain id)\nblocks: 0..=400\nrecords: 401\ncontiguous: yes\n"
    );

    // Already past a lower target: nothing to do, the store is unchanged.
    let out = en("300");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "reached block 300; next block 401\n");
    assert!(dump(&data).contains("blocks: 0..=400\n"));

    // And on from there, again exactly.
    let out = en("777");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).ends_with("reached block 777; next block 778\n"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        dump(&data),
        "role: external-node\nformat: stand-in records (no chain id)\nblocks: 0..=777\nrecords: 778\ncontiguous: yes\n"
    );
}

// --- logs ---

#[test]
fn logs_to_a_pipe_or_file_carry_no_colour_and_json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("mn.key");
    generate_key(&key);
    let enode = format!(
        "enode://{}@127.0.0.1:1",
        zks_devp2p::NodeKey::generate().id()
    );
    let data = dir.path().join("en");
    // A store that already holds block 0: the node logs a warning and exits.
    {
        let store =
            zks_node::store::RedbReplayStore::open(&data, zks_api::Role::ExternalNode).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(store.append(vec![zks_api::RawRecord::new(0, "b0")]))
            .unwrap();
    }
    let en = |extra: &[&str]| {
        let mut cmd = zks();
        cmd.env("RUST_LOG", "info")
            .arg("external-node")
            .arg("--data")
            .arg(&data)
            .args(["--main-node", &enode, "--port", "0", "--addr", "127.0.0.1"])
            .args(["--exit-at-block", "0"])
            .args(extra);
        cmd
    };

    // Text to a pipe.
    let out = en(&[]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the store already holds block 0; not starting"),
        "{}",
        stderr(&out)
    );
    assert!(!out.stderr.contains(&0x1b), "{}", stderr(&out));

    // Text to a file, from a node that runs (several log lines).
    let log = dir.path().join("mn.log");
    let mut cmd = zks();
    cmd.env("RUST_LOG", "info")
        .arg("main-node")
        .arg("--data")
        .arg(dir.path().join("mn"))
        .arg("--key")
        .arg(&key)
        .args(["--port", "0", "--addr", "127.0.0.1"]);
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("head:") {
        line.clear();
        assert!(lines.read_line(&mut line).unwrap() > 0, "exited early");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let text = std::fs::read(&log).unwrap();
    let text_str = String::from_utf8_lossy(&text);
    assert!(text_str.contains(" INFO "), "{text_str}");
    assert!(text_str.contains("node started"), "{text_str}");
    assert!(!text.contains(&0x1b), "{text_str}");

    // JSON, from the flag and from the environment.
    for out in [
        en(&["--log-format", "json"]).output().unwrap(),
        en(&[]).env("ZKS_LOG_FORMAT", "json").output().unwrap(),
    ] {
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(!out.stderr.contains(&0x1b), "{}", stderr(&out));
        let lines: Vec<serde_json::Value> = stderr(&out)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        let warn = lines
            .iter()
            .find(|l| l["fields"]["message"] == "the store already holds block 0; not starting")
            .unwrap_or_else(|| panic!("{lines:?}"));
        assert_eq!(warn["level"], "WARN");
        assert_eq!(warn["fields"]["exit_at_block"], 0);
        assert_eq!(warn["fields"]["next_block"], 1);
        assert_eq!(warn["target"], "zks_node::commands");
    }
    let out = run(&["--log-format", "yaml", "main-node"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("invalid value 'yaml' for '--log-format <LOG_FORMAT>'"),
        "{}",
        stderr(&out)
    );
}

// --- environment variables ---

#[test]
fn node_flags_come_from_zks_variables_between_the_command_line_and_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("zks.toml");
    let signer = format!("0x{}", "11".repeat(20));
    std::fs::write(
        &config,
        format!(
            "[external-node]\ndata = {en:?}\nmain-node = [\"enode://from-file\"]\n\n\
             [main-node]\ndata = {mn:?}\nverifier-signer = [{signer:?}]\nthreshold = 3\n",
            en = dir.path().join("en").display().to_string(),
            mn = dir.path().join("mn").display().to_string(),
        ),
    )
    .unwrap();
    let cfg = config.display().to_string();

    // external-node --main-node: file < ZKS_MAIN_NODE < flag.
    let out = run(&["--config", &cfg, "external-node"]);
    assert_user_error(&out, "invalid enode URL \"enode://from-file\"");
    let out = zks()
        .args(["--config", &cfg, "external-node"])
        .env("ZKS_MAIN_NODE", "enode://from-env")
        .output()
        .unwrap();
    assert_user_error(&out, "invalid enode URL \"enode://from-env\"");
    let out = zks()
        .args([
            "--config",
            &cfg,
            "external-node",
            "--main-node",
            "enode://from-flag",
        ])
        .env("ZKS_MAIN_NODE", "enode://from-env")
        .output()
        .unwrap();
    assert_user_error(&out, "invalid enode URL \"enode://from-flag\"");
    // A list, comma-separated.
    let out = zks()
        .args(["--config", &cfg, "external-node"])
        .env("ZKS_MAIN_NODE", "enode://first,enode://second")
        .output()
        .unwrap();
    assert_user_error(&out, "invalid enode URL \"enode://first\"");

    // main-node --threshold: file < ZKS_THRESHOLD < flag.
    let out = run(&["--config", &cfg, "main-node"]);
    assert_user_error(&out, "--threshold 3 is not within 1..=1");
    let out = zks()
        .args(["--config", &cfg, "main-node"])
        .env("ZKS_THRESHOLD", "5")
        .output()
        .unwrap();
    assert_user_error(&out, "--threshold 5 is not within 1..=1");
    let out = zks()
        .args(["--config", &cfg, "main-node", "--threshold", "4"])
        .env("ZKS_THRESHOLD", "5")
        .output()
        .unwrap();
    assert_user_error(&out, "--threshold 4 is not within 1..=1");

    // Without a config file: ZKS_DATA is the data dir, ZKS_VERIFIER_SIGNER the signers.
    let out = zks()
        .args(["main-node"])
        .env("ZKS_VERIFIER_SIGNER", "0x1234")
        .output()
        .unwrap();
    assert_user_error(&out, "main-node needs --data DIR");
    let out = zks()
        .args(["main-node"])
        .env("ZKS_DATA", dir.path().join("mn2"))
        .env("ZKS_VERIFIER_SIGNER", "0x1234")
        .output()
        .unwrap();
    assert_user_error(&out, "invalid verifier address \"0x1234\"");
    // The config file itself, from ZKS_CONFIG.
    let out = zks()
        .arg("main-node")
        .env("ZKS_CONFIG", &config)
        .output()
        .unwrap();
    assert_user_error(&out, "--threshold 3 is not within 1..=1");
    // A value clap cannot parse names the variable's flag.
    let out = zks()
        .args(["main-node", "--data", "x"])
        .env("ZKS_PORT", "http")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("invalid value 'http' for '--port <PORT>'"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn help_lists_the_variable_of_every_node_flag() {
    let flags: &[(&str, &[&str])] = &[
        (
            "main-node",
            &[
                "data",
                "port",
                "addr",
                "key",
                "verifier-signer",
                "threshold",
                "batch-size",
                "produce-blocks",
                "produce-until",
                "metrics",
                "chain-id",
                "l1-chain-id",
                "validator-timelock",
                "chain-address",
                "config",
                "log-format",
            ],
        ),
        (
            "external-node",
            &[
                "data",
                "main-node",
                "verifier-key",
                "port",
                "addr",
                "key",
                "exit-at-block",
                "metrics",
                "chain-id",
                "l1-chain-id",
                "validator-timelock",
                "chain-address",
                "config",
                "log-format",
            ],
        ),
    ];
    for (command, flags) in flags {
        let out = run(&[command, "--help"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let help = stdout(&out);
        for flag in *flags {
            let var = format!("ZKS_{}", flag.to_uppercase().replace('-', "_"));
            assert!(
                help.contains(&format!("[env: {var}=]")),
                "{command} --help does not list {var}:\n{help}"
            );
        }
    }
    // A set variable shows its value.
    let out = zks()
        .args(["main-node", "--help"])
        .env("ZKS_PORT", "31000")
        .output()
        .unwrap();
    assert!(
        stdout(&out).contains("[env: ZKS_PORT=31000]"),
        "{}",
        stdout(&out)
    );
}

// --- EIP-712 batch signatures ---

const TIMELOCK: &str = "0x1111111111111111111111111111111111111111";
const CHAIN: &str = "0x2222222222222222222222222222222222222222";

#[test]
fn eip712_flags_are_all_or_none_and_checked_before_any_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("mn");
    let d = data.display().to_string();
    let signer = format!("0x{}", "11".repeat(20));
    let out = run(&[
        "main-node",
        "--data",
        &d,
        "--verifier-signer",
        &signer,
        "--l1-chain-id",
        "1",
    ]);
    assert_user_error(
        &out,
        "EIP-712 batch signatures need --l1-chain-id, --validator-timelock, --chain-address \
         together; missing --validator-timelock and --chain-address",
    );
    let enode = format!(
        "enode://{}@127.0.0.1:1",
        zks_devp2p::NodeKey::generate().id()
    );
    let out = run(&[
        "external-node",
        "--data",
        &d,
        "--main-node",
        &enode,
        "--chain-address",
        CHAIN,
    ]);
    assert_user_error(&out, "missing --l1-chain-id and --validator-timelock");
    assert!(!data.exists());

    // From the config file, keyed like the flags.
    let config = dir.path().join("zks.toml");
    std::fs::write(
        &config,
        format!(
            "[main-node]\ndata = {d:?}\nl1-chain-id = 1\nvalidator-timelock = \"0x12\"\n\
             chain-address = {CHAIN:?}\n\n[external-node]\nl1-chain-id = 0\n\
             validator-timelock = {TIMELOCK:?}\nchain-address = {CHAIN:?}\n"
        ),
    )
    .unwrap();
    let cfg = config.display().to_string();
    let out = run(&["--config", &cfg, "main-node"]);
    assert_user_error(
        &out,
        "invalid --validator-timelock \"0x12\": want 0x + 40 hex digits",
    );
    let out = run(&[
        "--config",
        &cfg,
        "external-node",
        "--data",
        &d,
        "--main-node",
        &enode,
    ]);
    assert_user_error(&out, "--l1-chain-id must not be 0");
    // And from the environment, over the file.
    let out = zks()
        .args(["--config", &cfg, "main-node"])
        .env("ZKS_VALIDATOR_TIMELOCK", "0x34")
        .output()
        .unwrap();
    assert_user_error(&out, "invalid --validator-timelock \"0x34\"");
    assert!(!data.exists());
}

fn generate_verifier_key(path: &Path) -> String {
    let out = zks()
        .args(["key", "generate", "--verifier", "--out"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).trim().to_owned()
}

#[test]
fn an_eip712_main_node_and_verifier_agree_on_batches_and_say_so_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("mn.key");
    generate_key(&key);
    let vkey = dir.path().join("verifier.key");
    let signer = generate_verifier_key(&vkey);
    let eip712 = [
        "--l1-chain-id",
        "11155111",
        "--validator-timelock",
        TIMELOCK,
        "--chain-address",
        CHAIN,
    ];
    let mut cmd = zks();
    cmd.env("RUST_LOG", "info")
        .args(["--log-format", "json", "main-node", "--data"])
        .arg(dir.path().join("mn"))
        .arg("--key")
        .arg(&key)
        .args(["--port", "0", "--addr", "127.0.0.1"])
        .args(["--verifier-signer", &signer, "--batch-size", "20"])
        .args(["--produce-blocks", "1000", "--produce-until", "40"])
        .args(eip712);
    let mut mn = Proc::spawn_logged(cmd);
    let enode = mn.line_after("enode:");

    let expected = zks_verifier::Eip712CommitBatchesScheme::new(11_155_111, [0x11; 20], [0x22; 20]);
    let separator = format!("0x{}", hex::encode(expected.domain_separator()));
    let check_start_up = |line: &serde_json::Value| {
        let f = &line["fields"];
        assert_eq!(line["level"], "INFO", "{line}");
        assert_eq!(f["scheme"], "eip712", "{line}");
        assert_eq!(f["name"], "MultisigCommitter", "{line}");
        assert_eq!(f["version"], "1", "{line}");
        assert_eq!(f["l1_chain_id"], "11155111", "{line}");
        assert_eq!(f["validator_timelock"], TIMELOCK, "{line}");
        assert_eq!(f["chain_address"], CHAIN, "{line}");
        assert_eq!(f["domain_separator"], separator.as_str(), "{line}");
    };
    check_start_up(&mn.log("batch signatures: EIP-712 CommitBatchesMultisig"));

    let mut cmd = zks();
    cmd.env("RUST_LOG", "info")
        .args(["--log-format", "json", "external-node", "--data"])
        .arg(dir.path().join("en"))
        .args(["--main-node", &enode, "--port", "0", "--addr", "127.0.0.1"])
        .arg("--verifier-key")
        .arg(&vkey)
        .args(eip712);
    let mut en = Proc::spawn_logged(cmd);
    check_start_up(&en.log("batch signatures: EIP-712 CommitBatchesMultisig"));

    for batch in [1, 2] {
        let verified = mn.log("batch verified");
        assert_eq!(verified["fields"]["batch"], batch, "{verified}");
        assert_eq!(
            verified["fields"]["last_block"],
            batch * 20 - 1,
            "{verified}"
        );
        assert_eq!(verified["fields"]["signatures"], 1, "{verified}");
    }
}

#[test]
fn without_eip712_flags_our_own_scheme_is_active_and_said_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = zks();
    cmd.env("RUST_LOG", "info")
        .args(["--log-format", "json", "main-node", "--data"])
        .arg(dir.path().join("mn"))
        .args(["--port", "0", "--addr", "127.0.0.1"])
        .args(["--verifier-signer", &format!("0x{}", "11".repeat(20))]);
    let mut mn = Proc::spawn_logged(cmd);
    let line = mn.log(
        "batch signatures: our own scheme (secp256k1 over keccak256 of the \
         zksync-os:verify-batch:v1 encoding); give --l1-chain-id, --validator-timelock and \
         --chain-address for upstream's EIP-712 signatures",
    );
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["fields"]["scheme"], "zks");
}

#[test]
fn logs_to_a_terminal_are_coloured_unless_no_color_or_json() {
    // A pseudo-terminal from util-linux's `script`, as an operator's shell would give.
    let script = Path::new("/usr/bin/script");
    assert!(script.exists(), "this test needs util-linux's script(1)");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("en");
    {
        let store =
            zks_node::store::RedbReplayStore::open(&data, zks_api::Role::ExternalNode).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(store.append(vec![zks_api::RawRecord::new(0, "b0")]))
            .unwrap();
    }
    let enode = format!(
        "enode://{}@127.0.0.1:1",
        zks_devp2p::NodeKey::generate().id()
    );
    let on_a_terminal = |extra: &str, no_color: Option<&str>| {
        let line = format!(
            "{} {extra} external-node --data {} --main-node {enode} --port 0 --exit-at-block 0",
            env!("CARGO_BIN_EXE_zks"),
            data.display()
        );
        let mut cmd = hermetic(Command::new(script));
        cmd.arg("-qec").arg(line).arg("/dev/null");
        if let Some(v) = no_color {
            cmd.env("NO_COLOR", v);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        assert!(text.contains("the store already holds block 0"), "{text}");
        out.stdout.contains(&0x1b)
    };
    assert!(on_a_terminal("", None), "no colour on a terminal");
    assert!(on_a_terminal("", Some("")), "an empty NO_COLOR is unset");
    assert!(!on_a_terminal("", Some("1")), "colour despite NO_COLOR");
    assert!(!on_a_terminal("--log-format json", None), "colour in JSON");
}

#[test]
fn eip712_flags_on_a_node_that_verifies_no_batches_are_ignored_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = zks();
    cmd.args(["--log-format", "json", "main-node", "--data"])
        .arg(dir.path().join("mn"))
        .args(["--port", "0", "--addr", "127.0.0.1"])
        .args(["--l1-chain-id", "1", "--validator-timelock", TIMELOCK])
        .args(["--chain-address", CHAIN]);
    let mut mn = Proc::spawn_logged(cmd);
    let line = mn.log(
        "--l1-chain-id, --validator-timelock and --chain-address are ignored: this node \
         verifies no batches (no --verifier-signer)",
    );
    assert_eq!(line["level"], "WARN");
}

/// `zks bench per-message` prints exactly one JSON line in the format of reth's runner, which
/// `zks bench versus-reth` parses; a missing runner is refused before anything runs.
#[test]
fn bench_per_message_prints_one_json_line_and_versus_reth_needs_its_runner() {
    let out = zks()
        .args(["bench", "per-message", "--shape", "v3-1", "--mib", "1"])
        .output()
        .expect("run zks bench per-message");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    let run: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(run["impl"], "zks");
    // 1 MiB of ~8.8 KB bodies: the smallest count reaching it.
    assert_eq!(run["messages"], 119, "{text}");
    assert!(run["payload_bytes"].as_u64().unwrap() >= 1 << 20);
    assert!(run["cpu_ms_per_mib"].as_f64().unwrap() > 0.0);
    for key in ["seconds", "cpu_seconds", "mib_per_s", "keccak", "snappy"] {
        assert!(!run[key].is_null(), "{key} missing: {text}");
    }
    // The codec alone: the same line, its own name, the same message count.
    let out = zks()
        .args(["bench", "per-message", "--shape", "v3-1", "--mib", "1"])
        .arg("--codec-only")
        .output()
        .expect("run zks bench per-message --codec-only");
    assert!(out.status.success(), "{}", stderr(&out));
    let codec: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(codec["impl"], "zks-codec");
    assert_eq!(codec["messages"], 119);
    assert_eq!(codec["payload_bytes"], run["payload_bytes"]);
    let out = zks()
        .args([
            "bench",
            "versus-reth",
            "--runner",
            "/nonexistent/reth-rlpx-bench",
        ])
        .output()
        .expect("run zks bench versus-reth");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no reth runner at /nonexistent/reth-rlpx-bench"),
        "{}",
        stderr(&out)
    );
}

/// `zks bench versus-reth` runs zks, its codec alone and the runner once per round and lays
/// them side by side (a stand-in runner here: one fixed JSON line, ten times zks's CPU).
#[test]
fn versus_reth_runs_three_sides_per_round_and_prints_their_ratios() {
    let dir = tempfile::tempdir().unwrap();
    let runner = dir.path().join("runner.sh");
    std::fs::write(
        &runner,
        "#!/bin/sh\necho '{\"impl\":\"reth\",\"messages\":4096,\"payload_bytes\":1048576,\
         \"seconds\":1.0,\"cpu_seconds\":1.0,\"cpu_ms_per_mib\":1000.0,\"mib_per_s\":1.0,\
         \"keccak\":\"stand-in\",\"snappy\":\"stand-in\"}'\n",
    )
    .unwrap();
    std::fs::set_permissions(&runner, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let json = dir.path().join("versus.json");
    let out = zks()
        .args([
            "bench",
            "versus-reth",
            "--shapes",
            "random-256",
            "--mib",
            "1",
        ])
        .arg("--runner")
        .arg(&runner)
        .arg("--json")
        .arg(&json)
        .output()
        .expect("run zks bench versus-reth");
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    assert!(table.contains("| 256 B random | 256 |"), "{table}");
    assert!(table.contains("codec alone / reth"), "{table}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let row = &report["rows"][0];
    for (side, name) in [("zks", "zks"), ("codec", "zks-codec"), ("reth", "reth")] {
        let runs = row[side]["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 3, "{side}");
        assert!(runs.iter().all(|r| r["impl"] == name), "{side}: {runs:?}");
    }
    // Both zks sides spend far less than the stand-in's 1,000 ms/MiB.
    assert!(row["cpu_ratio"].as_f64().unwrap() < 0.85);
    assert!(row["codec_cpu_ratio"].as_f64().unwrap() < 0.85);
    assert_eq!(row["cpu_out_of_reach"], false);
}

#[test]
fn bench_prints_its_report_without_log_lines_unless_rust_log_asks() {
    let bench = |rust_log: Option<&str>| {
        let mut cmd = zks();
        match rust_log {
            Some(filter) => cmd.env("RUST_LOG", filter),
            None => cmd.env_remove("RUST_LOG"),
        };
        let out = cmd
            .args(["bench", "--smoke", "--no-libp2p"])
            .output()
            .expect("run zks bench");
        assert!(out.status.success(), "{}", stderr(&out));
        (stdout(&out), stderr(&out))
    };
    let (report, logs) = bench(None);
    assert!(report.starts_with("zks bench (smoke)"), "{report}");
    assert!(report.contains("## Targets"), "{report}");
    assert!(!report.contains(" INFO "), "{report}");
    assert_eq!(logs, "", "the bench's nodes logged by default");
    // The default only: an operator who asks for the nodes' logs gets them, on stderr.
    let (report, logs) = bench(Some("info"));
    assert!(report.starts_with("zks bench (smoke)"), "{report}");
    assert!(
        logs.contains(" INFO ") && logs.contains("link established"),
        "{logs}"
    );
}
