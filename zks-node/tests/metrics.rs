//! `/metrics` of every role, as Prometheus's own linter judges it: `promtool check metrics`
//! accepts each page as it is (every family has `# HELP`), process metrics are served, and
//! `zks_build_info` says what each node is. Needs `promtool` (Debian package `prometheus`,
//! installed by `scripts/deps.sh`); skipped with a SKIPPED line without it, unless
//! `ZKS_REQUIRE_PROMTOOL=1` (CI) makes that a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::collections::BTreeSet;
use std::io::Write as _;
use std::process::{Command, Stdio};

use common::{Proc, free_port, generate_key, scrape, zks};

/// Whether `promtool` can run; panics when it cannot and CI requires it.
fn promtool_available() -> bool {
    let found = Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !found {
        assert!(
            std::env::var_os("ZKS_REQUIRE_PROMTOOL").is_none(),
            "promtool is required (ZKS_REQUIRE_PROMTOOL) but missing: apt-get install prometheus"
        );
        println!("SKIPPED: promtool not found (apt-get install prometheus)");
    }
    found
}

/// `promtool check metrics` on `page`: its exit status and everything it said.
fn promtool_check(page: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(page.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

/// The metric families of a page that have a `# TYPE` line, and those that have `# HELP`.
fn families(page: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let names = |prefix: &str| {
        page.lines()
            .filter_map(|l| l.strip_prefix(prefix))
            .filter_map(|rest| rest.split_whitespace().next())
            .map(str::to_owned)
            .collect::<BTreeSet<_>>()
    };
    (names("# TYPE "), names("# HELP "))
}

/// The `zks_build_info` line of a page.
fn build_info(page: &str) -> String {
    page.lines()
        .find(|l| l.starts_with("zks_build_info{"))
        .unwrap_or_else(|| panic!("no zks_build_info in\n{page}"))
        .to_owned()
}

#[test]
fn every_role_serves_metrics_promtool_accepts_with_process_and_build_info() {
    if !promtool_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mn_key = dir.path().join("mn.key");
    generate_key(&mn_key);
    let (mn_at, relay_at, en_at) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let chain = ["--chain-id", "270"];
    let mut cmd = zks();
    cmd.args(["main-node", "--data"])
        .arg(dir.path().join("mn"))
        .arg("--key")
        .arg(&mn_key)
        .args(["--port", "0", "--addr", "127.0.0.1", "--metrics", &mn_at])
        .args(chain)
        .args(["--produce-blocks", "200", "--produce-until", "50"]);
    let mut mn = Proc::spawn(cmd);
    let mn_enode = mn.line_after("enode:");
    let mut cmd = zks();
    cmd.args(["relay", "--data"])
        .arg(dir.path().join("relay"))
        .args([
            "--main-node",
            &mn_enode,
            "--port",
            "0",
            "--addr",
            "127.0.0.1",
        ])
        .args(["--metrics", &relay_at])
        .args(chain);
    let mut relay = Proc::spawn(cmd);
    let relay_enode = relay
        .line_after("relay")
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let mut cmd = zks();
    cmd.args(["external-node", "--data"])
        .arg(dir.path().join("en"))
        .args([
            "--main-node",
            &relay_enode,
            "--port",
            "0",
            "--addr",
            "127.0.0.1",
        ])
        .args(["--metrics", &en_at])
        .args(chain);
    let mut en = Proc::spawn(cmd);
    en.line_after("external node");

    for (role, at, caps) in [
        ("main-node", &mn_at, "{zks/4, zks/5} + zks_2fa/1"),
        ("relay", &relay_at, "{zks/4, zks/5}"),
        ("external-node", &en_at, "{zks/4, zks/5}"),
    ] {
        let page = scrape(at);
        let (ok, said) = promtool_check(&page);
        assert!(
            ok && said.trim().is_empty(),
            "{role}: promtool says\n{said}"
        );
        let (typed, helped) = families(&page);
        assert_eq!(typed, helped, "{role}: every family has # HELP");
        for process in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_start_time_seconds",
        ] {
            assert!(typed.contains(process), "{role}: no {process}");
        }
        assert_eq!(
            build_info(&page),
            format!(
                "zks_build_info{{version=\"{}\",role=\"{role}\",records=\"zksync_os_v3\",\
                 chain_id=\"270\",capabilities=\"{caps}\"}} 1",
                env!("CARGO_PKG_VERSION")
            )
        );
    }
    en.kill();
    relay.kill();
    mn.kill();
}
