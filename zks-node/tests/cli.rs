//! The real `zks` binary, run as OS processes on loopback: replay across SIGKILLs, `rlpx ping`
//! against our main node and an independent RLPx implementation, user errors, and the demo.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn zks() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zks"));
    cmd.env("RUST_LOG", "warn").stdin(Stdio::null());
    cmd
}

fn run(args: &[&str]) -> Output {
    zks().args(args).output().expect("run zks")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A process killed (SIGKILL) when dropped.
struct Proc {
    child: Child,
    lines: BufReader<ChildStdout>,
}

impl Proc {
    fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn");
        let stdout = child.stdout.take().expect("piped stdout");
        Self {
            child,
            lines: BufReader::new(stdout),
        }
    }

    /// The rest of the first stdout line that starts with `prefix`.
    fn line_after(&mut self, prefix: &str) -> String {
        let mut line = String::new();
        loop {
            line.clear();
            let n = self.lines.read_line(&mut line).expect("read stdout");
            assert!(n > 0, "process exited before printing {prefix:?}");
            if let Some(rest) = line.trim_end().strip_prefix(prefix) {
                return rest.trim().to_owned();
            }
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill(); // SIGKILL on unix
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

fn main_node(data: &Path, key: &Path, extra: &[&str]) -> (Proc, String) {
    let mut cmd = zks();
    cmd.arg("main-node")
        .arg("--data")
        .arg(data)
        .arg("--key")
        .arg(key)
        .args(["--port", "0", "--addr", "127.0.0.1"])
        .args(extra);
    let mut mn = Proc::spawn(cmd);
    let enode = mn.line_after("enode:");
    (mn, enode)
}

fn generate_key(path: &Path) -> String {
    let out = zks()
        .args(["key", "generate", "--out"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let id = stdout(&out).trim().to_owned();
    assert_eq!(id.len(), 128, "enode id: {id}");
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    id
}

/// `zks store dump` as (records, first..=last, contiguous).
fn dump(data: &Path) -> String {
    let out = zks()
        .args(["store", "dump", "--data"])
        .arg(data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

fn records_in(dump: &str) -> u64 {
    dump.lines()
        .find_map(|l| l.strip_prefix("records: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no record count in {dump}"))
}

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

fn assert_hello(report: &str, client: &str, caps: &str) {
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
    assert_eq!(line("p2p version:"), "5", "{report}");
    assert!(line("handshake rtt:").ends_with("ms"), "{report}");
    assert!(line("ping rtt:").ends_with("ms"), "{report}");
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
    assert_hello(&report, "zks/v", "zks/1, zks/2, zks/3");
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
    assert_hello(&report, "ethereumjs", "zks/3");
}

/// Exit code 1 and exactly one line on stderr, containing `message`.
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
    let out = run(&["demo", "--duration", "5s"]);
    let summary = stdout(&out);
    eprintln!("{summary}\n{}", stderr(&out));
    assert!(out.status.success());
    assert!(summary.contains("zks demo summary"), "{summary}");
    let en_rows: Vec<_> = summary.lines().filter(|l| l.starts_with("en-")).collect();
    assert_eq!(en_rows.len(), 3, "{summary}");
    for row in en_rows {
        assert!(row.trim_end().ends_with("yes"), "{row}");
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
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn scrape(addr: &str) -> String {
    use std::io::{Read, Write};
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut tcp) = std::net::TcpStream::connect(addr) {
            let _ = write!(
                tcp,
                "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
            );
            let mut body = String::new();
            let _ = tcp.read_to_string(&mut body);
            if body.contains("zks_") {
                return body;
            }
        }
        assert!(Instant::now() < deadline, "no metrics on {addr}");
        std::thread::sleep(Duration::from_millis(100));
    }
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
        report.contains("capabilities: eth/69, eth/68, eth/67, eth/66, zks/1, zks/2, zks/3"),
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
    assert!(
        dump(&en_data).contains("blocks: 0..="),
        "{}",
        dump(&en_data)
    );
}
