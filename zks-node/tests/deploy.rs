//! The deployment kit in `deploy/`: the systemd units pass `systemd-analyze verify` (where it
//! is installed), the example configs are read by the binary's own loader, and the Prometheus
//! config, alert rules and their unit tests pass `promtool` (required in CI, see
//! `ZKS_REQUIRE_PROMTOOL`).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::path::{Path, PathBuf};
use std::process::Command;

use zks_node::cli::ConfigFile;

const ROLES: [&str; 3] = ["main-node", "external-node", "relay"];

fn deploy() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// Runs `tool args`, or says SKIPPED when the tool is missing (panicking instead when
/// `required` names an environment variable that is set).
fn run(tool: &str, args: &[&std::ffi::OsStr], required: Option<&str>) -> Option<String> {
    let out = match Command::new(tool).args(args).output() {
        Ok(out) => out,
        Err(e) => {
            if let Some(var) = required {
                assert!(
                    std::env::var_os(var).is_none(),
                    "{tool} is required ({var}) but cannot run: {e}"
                );
            }
            println!("SKIPPED: {tool} not found ({e})");
            return None;
        }
    };
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{tool} {args:?} failed:\n{said}");
    Some(said)
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

#[test]
fn example_configs_are_read_by_the_binary_and_name_a_zksync_os_chain() {
    for role in ROLES {
        let path = deploy().join(format!("config/{role}.toml"));
        let file = ConfigFile::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let chain = match role {
            "main-node" => file.main_node.chain.chain_id,
            "external-node" => file.external_node.chain.chain_id,
            _ => file.relay.chain.chain_id,
        };
        assert_eq!(chain, Some(270), "{role}");
    }
    let mn = ConfigFile::load(&deploy().join("config/main-node.toml")).unwrap();
    // Verification on a chain needs the EIP-712 domain: all three keys are there.
    assert!(
        mn.main_node.chain.l1_chain_id.is_some()
            && mn.main_node.chain.validator_timelock.is_some()
            && mn.main_node.chain.chain_address.is_some()
    );
}

#[test]
fn systemd_units_verify_and_run_each_role_with_its_config() {
    let units = deploy().join("systemd");
    let scratch = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for role in ROLES {
        let unit = std::fs::read_to_string(units.join(format!("zks-{role}.service"))).unwrap();
        let exec = unit
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .unwrap();
        assert_eq!(
            exec,
            format!(
                "/usr/local/bin/zks --config /etc/zks/{role}.toml --log-format json {role} \
                 --data ${{STATE_DIRECTORY}}"
            )
        );
        for hardening in [
            "DynamicUser=yes",
            &format!("StateDirectory=zks-{role}"),
            "StateDirectoryMode=0700",
            "ProtectSystem=strict",
            "NoNewPrivileges=yes",
            "CapabilityBoundingSet=",
            // A full disk: exit 75, restarted until there is room.
            "Restart=on-failure",
            "RestartForceExitStatus=75",
            "StartLimitIntervalSec=0",
        ] {
            assert!(
                unit.lines().any(|l| l == hardening),
                "{role}: no {hardening}"
            );
        }
        // verify checks that ExecStart's binary exists: point it at this build's.
        let local = unit.replace("/usr/local/bin/zks", env!("CARGO_BIN_EXE_zks"));
        let path = scratch.path().join(format!("zks-{role}.service"));
        std::fs::write(&path, local).unwrap();
        paths.push(path);
    }
    let mut args = vec![os("verify")];
    args.extend(paths.iter().map(|p| p.as_os_str()));
    if let Some(said) = run("systemd-analyze", &args, None) {
        assert!(
            said.trim().is_empty(),
            "systemd-analyze verify says:\n{said}"
        );
    }
}

#[test]
fn prometheus_config_and_alert_rules_pass_promtool_and_their_unit_tests() {
    let prometheus = deploy().join("prometheus");
    let file = |name: &str| prometheus.join(name).into_os_string();
    let (config, rules, tests) = (
        file("prometheus.yml"),
        file("zks-alerts.yml"),
        file("zks-alerts.test.yml"),
    );
    let required = Some("ZKS_REQUIRE_PROMTOOL");
    let Some(said) = run("promtool", &[os("check"), os("config"), &config], required) else {
        return;
    };
    assert!(said.contains("SUCCESS: 6 rules found"), "{said}");
    run("promtool", &[os("check"), os("rules"), &rules], required);
    let said = run("promtool", &[os("test"), os("rules"), &tests], required).unwrap();
    assert!(said.contains("SUCCESS"), "{said}");
    // Every zks metric an alert names is one the node serves (its metrics module defines it).
    let defined = include_str!("../src/metrics.rs");
    let alerts = std::fs::read_to_string(Path::new(&rules)).unwrap();
    for name in alerts.split("zks_").skip(1).filter_map(|rest| {
        rest.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .next()
    }) {
        assert!(
            defined.contains(&format!("\"zks_{name}\"")),
            "alert rules name zks_{name}, which the node does not serve"
        );
    }
}
