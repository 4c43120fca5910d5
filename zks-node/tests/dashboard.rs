//! The Grafana dashboard (`dashboards/zks.json`) against a real main node and external node:
//! every metric its queries name is served by one of them, under exactly that name.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const DASHBOARD: &str = include_str!("../dashboards/zks.json");

/// `zks` with info logs as JSON, no stdin, and no `ZKS_*` setting from the test's environment.
fn zks() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zks"));
    cmd.env("RUST_LOG", "info").stdin(Stdio::null());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("ZKS_") {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// A running `zks` node, its stdout and stderr lines on channels; killed when dropped.
struct Proc {
    child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
}

fn lines(from: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

impl Proc {
    fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn zks");
        let stdout = lines(child.stdout.take().expect("piped stdout"));
        let stderr = lines(child.stderr.take().expect("piped stderr"));
        Self {
            child,
            stdout,
            stderr,
        }
    }

    /// The rest of the first stdout line starting with `prefix`.
    fn line_after(&self, prefix: &str) -> String {
        loop {
            let line = self
                .stdout
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|e| panic!("no stdout line {prefix:?}: {e}"));
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.trim().to_owned();
            }
        }
    }

    /// Waits for the next JSON log line whose message is `message`.
    fn log(&self, message: &str) {
        loop {
            let line = self
                .stderr
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|e| panic!("no log line {message:?}: {e}"));
            let value: serde_json::Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
            if value["fields"]["message"] == message {
                return;
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn generate(args: &[&str], path: &Path) -> String {
    let out = zks()
        .args(["key", "generate"])
        .args(args)
        .arg("--out")
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The body of `GET /metrics`, or `None` when nothing listens yet.
fn scrape(addr: &str) -> Option<String> {
    let mut tcp = std::net::TcpStream::connect(addr).ok()?;
    write!(
        tcp,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    tcp.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
}

/// The metric names of a Prometheus text exposition (`# TYPE` and comment lines skipped).
fn exposed(body: &str) -> BTreeSet<String> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let end = l.find(['{', ' ']).unwrap_or(l.len());
            l[..end].to_owned()
        })
        .collect()
}

/// Every `zks_…` and `process_…` name in a PromQL expression.
fn names_in(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = ["zks_", "process_"]
        .iter()
        .filter_map(|prefix| rest.find(prefix))
        .min()
    {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

/// The metric names the dashboard's queries use, checking the panels' shape on the way.
fn dashboard_metrics() -> BTreeSet<String> {
    let dashboard: serde_json::Value = serde_json::from_str(DASHBOARD).expect("valid JSON");
    let mut ids = BTreeSet::new();
    let mut names = BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        assert!(
            ids.insert(panel["id"].as_u64().expect("numeric id")),
            "{panel}"
        );
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{panel}");
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{panel}");
        for target in targets {
            let expr = target["expr"].as_str().expect("expr");
            assert!(expr.contains("instance=~\"$instance\""), "{expr}");
            let found = names_in(expr);
            assert!(!found.is_empty(), "{expr}");
            names.extend(found);
        }
    }
    names
}

#[test]
fn every_metric_of_the_dashboard_is_served_by_a_main_node_or_an_external_node() {
    let wanted = dashboard_metrics();
    // Every metric the node defines (the `"zks_…"` literals of its metrics module) has a
    // panel, too.
    let defined: BTreeSet<String> = include_str!("../src/metrics.rs")
        .split("\"zks_")
        .skip(1)
        .filter_map(|rest| rest.split_once('"'))
        .map(|(name, _)| format!("zks_{name}"))
        .collect();
    let charted: BTreeSet<String> = wanted
        .iter()
        .filter(|n| n.starts_with("zks_"))
        .map(|n| n.strip_suffix("_bucket").unwrap_or(n).to_owned())
        .collect();
    assert_eq!(charted, defined, "dashboard vs zks-node/src/metrics.rs");

    let dir = tempfile::tempdir().unwrap();
    let verifier = dir.path().join("verifier.key");
    let signer = generate(&["--verifier"], &verifier);
    let stranger = dir.path().join("stranger.key");
    generate(&["--verifier"], &stranger);
    let mn_metrics = format!("127.0.0.1:{}", free_port());
    let en_metrics = format!("127.0.0.1:{}", free_port());

    let mut cmd = zks();
    cmd.args(["--log-format", "json", "main-node", "--data"])
        .arg(dir.path().join("mn"))
        .args(["--port", "0", "--addr", "127.0.0.1"])
        .args(["--verifier-signer", &signer, "--threshold", "1"])
        .args(["--batch-size", "20", "--produce-blocks", "2000"])
        .args(["--metrics", &mn_metrics]);
    let mn = Proc::spawn(cmd);
    let enode = mn.line_after("enode:");

    // A verifier whose key the main node does not accept: refused as a verifier, replays to
    // block 20 and leaves (a link closed by the peer).
    let out = zks()
        .args(["external-node", "--data"])
        .arg(dir.path().join("stranger"))
        .args(["--main-node", &enode, "--port", "0", "--addr", "127.0.0.1"])
        .arg("--verifier-key")
        .arg(&stranger)
        .args(["--exit-at-block", "20"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut cmd = zks();
    cmd.args(["--log-format", "json", "external-node", "--data"])
        .arg(dir.path().join("en"))
        .args(["--main-node", &enode, "--port", "0", "--addr", "127.0.0.1"])
        .arg("--verifier-key")
        .arg(&verifier)
        .args(["--metrics", &en_metrics]);
    let _en = Proc::spawn(cmd);

    // Each verified batch means more replay, results and quorums; scrape after each until both
    // nodes serve every metric (the events reach the exporters asynchronously).
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut missing = wanted.clone();
    while !missing.is_empty() {
        assert!(Instant::now() < deadline, "never served: {missing:?}");
        mn.log("batch verified");
        let served: BTreeSet<String> = [&mn_metrics, &en_metrics]
            .into_iter()
            .filter_map(|addr| scrape(addr))
            .flat_map(|body| exposed(&body))
            .collect();
        missing.retain(|name| !served.contains(name));
    }
}
