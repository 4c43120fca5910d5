//! Secrets on disk, through the real binary: key files others may read are
//! refused with the `chmod` that fixes them; the data dir and its node key are created
//! owner-only; no key material in logs (at trace level) or in `--help`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use common::{Proc, generate_key, stderr, stdout, zks};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Exit status 1 and exactly one line, `error: {message}`.
fn assert_refused(out: &Output, message: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert_eq!(err, format!("error: {message}\n"));
}

fn chmod_message(what: &str, path: &Path, shown: &str) -> String {
    format!(
        "{what} file {p} is accessible by group or others (mode {shown}); run `chmod 600 {p}`",
        p = path.display()
    )
}

/// An enode URL nobody listens at.
fn nowhere(dir: &Path) -> String {
    format!(
        "enode://{}@127.0.0.1:9",
        generate_key(&dir.join("nobody.key"))
    )
}

fn verifier_key(path: &Path) -> String {
    let out = zks()
        .args(["key", "generate", "--verifier", "--out"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::read_to_string(path).unwrap().trim().to_owned()
}

#[test]
fn key_files_readable_by_group_or_others_are_refused_with_the_chmod_that_fixes_them() {
    let dir = tempfile::tempdir().unwrap();
    let unreachable = nowhere(dir.path());
    // The data dir's own node key.
    let data = dir.path().join("mn");
    let mut mn = zks();
    mn.arg("main-node")
        .arg("--data")
        .arg(&data)
        .args(["--port", "0", "--addr", "127.0.0.1"]);
    let mut first = Proc::spawn(mn);
    first.line_after("enode:");
    first.kill();
    let key = data.join("node.key");
    set_mode(&key, 0o644);
    let mut again = zks();
    again
        .arg("main-node")
        .arg("--data")
        .arg(&data)
        .args(["--port", "0", "--addr", "127.0.0.1"]);
    assert_refused(
        &again.output().unwrap(),
        &chmod_message("node key", &key, "0644"),
    );
    assert_eq!(mode(&key), 0o644, "the file is the user's to fix");

    // A node key named with --key, for an external node.
    let named = dir.path().join("en.key");
    generate_key(&named);
    set_mode(&named, 0o640);
    let out = zks()
        .args(["external-node", "--data"])
        .arg(dir.path().join("en"))
        .args(["--main-node", &unreachable])
        .arg("--key")
        .arg(&named)
        .args(["--port", "0", "--addr", "127.0.0.1"])
        .output()
        .unwrap();
    assert_refused(&out, &chmod_message("node key", &named, "0640"));
    assert!(!dir.path().join("en").exists(), "refused before any file");

    // A verifier key.
    let vkey = dir.path().join("verifier.key");
    verifier_key(&vkey);
    set_mode(&vkey, 0o604);
    let out = zks()
        .args(["external-node", "--data"])
        .arg(dir.path().join("ven"))
        .args(["--main-node", &unreachable])
        .arg("--verifier-key")
        .arg(&vkey)
        .args(["--port", "0", "--addr", "127.0.0.1"])
        .output()
        .unwrap();
    assert_refused(&out, &chmod_message("verifier key", &vkey, "0604"));
}

#[test]
fn a_new_data_dir_is_0700_and_its_node_key_0600() {
    let dir = tempfile::tempdir().unwrap();
    // Missing parents too.
    let data = dir.path().join("a/b/mn");
    let mut cmd = zks();
    cmd.arg("main-node")
        .arg("--data")
        .arg(&data)
        .args(["--port", "0", "--addr", "127.0.0.1"]);
    let mut mn = Proc::spawn(cmd);
    mn.line_after("enode:");
    mn.kill();
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&dir.path().join("a")), 0o700);
    assert_eq!(mode(&data.join("node.key")), 0o600);
    let out = zks()
        .args(["key", "generate", "--out"])
        .arg(dir.path().join("k"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(mode(&dir.path().join("k")), 0o600);
}

#[test]
fn key_material_appears_in_no_log_line_at_trace_level() {
    let dir = tempfile::tempdir().unwrap();
    let mn_key = dir.path().join("mn.key");
    generate_key(&mn_key);
    let mn_secret = std::fs::read_to_string(&mn_key).unwrap().trim().to_owned();
    let vkey = dir.path().join("verifier.key");
    let v_secret = verifier_key(&vkey);

    let mut cmd = zks();
    cmd.env("RUST_LOG", "trace")
        .args(["--log-format", "json", "main-node", "--data"])
        .arg(dir.path().join("mn"))
        .arg("--key")
        .arg(&mn_key)
        .args([
            "--port",
            "0",
            "--addr",
            "127.0.0.1",
            "--produce-blocks",
            "200",
        ]);
    let mut mn = Proc::spawn_logged(cmd);
    let enode = mn.line_after("enode:");
    let out = zks()
        .env("RUST_LOG", "trace")
        .args(["--log-format", "json", "external-node", "--data"])
        .arg(dir.path().join("en"))
        .args(["--main-node", &enode, "--port", "0", "--addr", "127.0.0.1"])
        .arg("--verifier-key")
        .arg(&vkey)
        .args(["--exit-at-block", "50"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("reached block 50"),
        "{}",
        stdout(&out)
    );
    mn.kill();
    let mut logs = mn.rest_of_logs();
    logs.extend(stderr(&out).lines().map(str::to_owned));
    // Everything at DEBUG and TRACE was let through (the code has few TRACE lines).
    let verbose = logs
        .iter()
        .filter(|l| l.contains("\"level\":\"DEBUG\"") || l.contains("\"level\":\"TRACE\""))
        .count();
    assert!(verbose > 0, "verbose logs were written: {verbose} lines");
    let logs = logs.join("\n");
    for secret in [&mn_secret, &v_secret] {
        assert_eq!(secret.len(), 64);
        assert!(
            !logs.contains(secret.as_str()),
            "a secret key is in the logs"
        );
        assert!(
            !logs.contains(&secret[..16]),
            "part of a secret key is in the logs"
        );
    }
}

#[test]
fn help_shows_no_key_material_and_no_key_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k");
    generate_key(&key);
    let secret = std::fs::read_to_string(&key).unwrap().trim().to_owned();
    for command in [
        &["--help"][..],
        &["main-node", "--help"],
        &["external-node", "--help"],
        &["relay", "--help"],
        &["key", "generate", "--help"],
    ] {
        let out = zks()
            .env("ZKS_KEY", &key)
            .env("ZKS_VERIFIER_KEY", &key)
            .args(command)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{command:?}: {}", stderr(&out));
        let help = stdout(&out);
        assert!(!help.contains(&secret), "{command:?} shows a secret");
        // No 64-hex-digit run (a secret) at all.
        let longest = help
            .split(|c: char| !c.is_ascii_hexdigit())
            .map(str::len)
            .max()
            .unwrap_or(0);
        assert!(longest < 64, "{command:?}: a 64-hex run in --help: {help}");
        // The key flags name files and show no default value.
        for line in help.lines().filter(|l| l.contains("-key")) {
            assert!(!line.contains("[default"), "{command:?}: {line}");
        }
    }
}
