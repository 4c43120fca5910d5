//! A full disk, through the real binary on a size-limited tmpfs this test
//! mounts and unmounts itself (as root; without root each test prints `SKIPPED: ...` and
//! passes, unless `ZKS_REQUIRE_ROOT=1`, as in CI).
//!
//! A node whose data dir fills up logs one ERROR naming its store file and what failed, keeps
//! its store contiguous, stops dialing, and exits with status 75 (EX_TEMPFAIL) and a message
//! saying where it resumes; restarted once there is room, it resumes at exactly that block.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Proc, dump, generate_key, main_node, stderr, zks};

const CHAIN: &str = "270";

/// A tmpfs of a given size mounted on a fresh directory; unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts one of `size` (`4m`), or says why not (`None`: the test is skipped).
    fn mount(test: &str, size: &str) -> Option<Self> {
        let uid = Command::new("id").arg("-u").output().unwrap();
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            assert!(
                std::env::var("ZKS_REQUIRE_ROOT").as_deref() != Ok("1"),
                "{test}: ZKS_REQUIRE_ROOT=1 but not running as root"
            );
            println!("SKIPPED: {test} (needs root to mount a size-limited tmpfs)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "mount: {}", stderr(&out));
        Some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Gives the filesystem `size`.
    fn resize(&self, size: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "remount: {}", stderr(&out));
    }

    /// Fills the filesystem: a file grown until the disk is full. Its path.
    fn fill(&self) -> PathBuf {
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0xa5u8; 4096];
        loop {
            match file.write_all(&chunk) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(28) => break,
                Err(e) => panic!("filling: {e}"),
            }
        }
        // Small writes fill what a page-sized one left.
        loop {
            match file.write_all(&[0]) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(28) => break,
                Err(e) => panic!("filling: {e}"),
            }
        }
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.path()).status();
    }
}

/// `blocks: A..=B` of a store dump.
fn blocks(dump: &str) -> String {
    dump.lines()
        .find_map(|l| l.strip_prefix("blocks: "))
        .unwrap_or_else(|| panic!("no blocks in {dump}"))
        .to_owned()
}

/// The JSON log lines at `level`.
fn at_level<'a>(logs: &'a [String], level: &str) -> Vec<&'a String> {
    logs.iter()
        .filter(|l| l.contains(&format!("\"level\":\"{level}\"")))
        .collect()
}

/// The block a `... the node resumes at block N` message names.
fn resumes_at(message: &str) -> u64 {
    message
        .rsplit("resumes at block ")
        .next()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no resume block in {message}"))
}

/// An external node or relay on a 4 MiB tmpfs, its main node producing 2,000 v3 blocks/s
/// (about 9 KiB each): it fills its disk, exits 75 with one ERROR, a contiguous store and the
/// block it resumes at; on 64 MiB it resumes there and ends with exactly blocks 1..=N+100.
fn a_replica_fills_its_disk(role: &str, test: &str) {
    let Some(fs) = Tmpfs::mount(test, "4m") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("mn.key");
    generate_key(&key);
    let (_mn, enode) = main_node(
        &dir.path().join("mn"),
        &key,
        &["--chain-id", CHAIN, "--produce-blocks", "2000"],
    );
    let data = fs.path().join(role);
    let replica = |extra: &[&str]| {
        let mut cmd = zks();
        cmd.args(["--log-format", "json", role, "--data"])
            .arg(&data)
            .args(["--main-node", &enode, "--port", "0", "--addr", "127.0.0.1"])
            .args(["--chain-id", CHAIN])
            .args(extra);
        cmd
    };
    let started = Instant::now();
    let mut node = Proc::spawn_logged(replica(&[]));
    let status = node.wait_within(Duration::from_secs(120));
    let full_after = started.elapsed();
    let logs = node.rest_of_logs();
    assert_eq!(status.code(), Some(75), "{logs:#?}");

    // One ERROR, naming the store file and what failed.
    let errors = at_level(&logs, "ERROR");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let error: serde_json::Value = serde_json::from_str(errors[0]).unwrap();
    let file = data.join("replay.redb").display().to_string();
    assert_eq!(error["fields"]["file"], file.as_str(), "{error}");
    let what = error["fields"]["error"].as_str().unwrap();
    assert!(what.starts_with(&format!("{file}: cannot ")), "{what}");
    assert!(
        what.ends_with("No space left on device (os error 28) (the disk is full)"),
        "{what}"
    );
    // Nobody else blamed, nobody redialed.
    assert!(
        !logs.iter().any(|l| l.contains("keeps ending our links")),
        "{logs:#?}"
    );
    let last = logs.last().unwrap();
    assert!(
        last.starts_with(&format!(
            "error: {what}; exiting with status 75 (EX_TEMPFAIL): "
        )),
        "{last}"
    );
    let next = resumes_at(last);
    assert!(next > 50, "only {next} blocks fit in 4 MiB?");

    // Restarted while the disk is still full (as systemd does): 75 again. It may store some
    // blocks first (the failed transaction's pages are free again in the file), so it says
    // where it resumes now: at least where the first run stopped.
    let out = replica(&[]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(75), "{err}");
    let last = err.lines().last().unwrap();
    assert!(
        last.contains("exiting with status 75 (EX_TEMPFAIL)"),
        "{last}"
    );
    let next = if last.contains("resumes at block ") {
        let again = resumes_at(last);
        assert!(again >= next, "resumes at {again} after {next}");
        again
    } else {
        next
    };

    // Room again: the store holds exactly 1..next, contiguous, and the node resumes at
    // exactly the next block.
    fs.resize("64m");
    let held = dump(&data);
    assert_eq!(blocks(&held), format!("1..={}", next - 1), "{held}");
    assert!(held.contains("contiguous: yes"), "{held}");
    let target = next + 100;
    let restarted = Instant::now();
    let mut node = Proc::spawn(replica(&["--exit-at-block", &target.to_string()]));
    let resuming = node.line_after(&format!("{} ", role.replace('-', " ")));
    assert!(
        resuming.ends_with(&format!("resuming at block {next}")),
        "{resuming}"
    );
    assert_eq!(
        node.line_after("reached block"),
        format!("{target}; next block {}", target + 1)
    );
    let caught_up = restarted.elapsed();
    assert!(node.wait_within(Duration::from_secs(60)).success());
    let held = dump(&data);
    assert_eq!(blocks(&held), format!("1..={target}"), "{held}");
    assert!(held.contains(&format!("records: {target}\n")), "{held}");
    assert!(held.contains("contiguous: yes"), "{held}");
    println!(
        "{role}: disk full after {full_after:?} at block {}, exit 75; restarted with room, \
         blocks {next}..={target} applied in {caught_up:?}",
        next - 1
    );
}

#[test]
fn an_external_node_whose_disk_fills_exits_75_and_resumes_at_the_next_block() {
    a_replica_fills_its_disk(
        "external-node",
        "an_external_node_whose_disk_fills_exits_75_and_resumes_at_the_next_block",
    );
}

#[test]
fn a_relay_whose_disk_fills_exits_75_and_resumes_at_the_next_block() {
    a_replica_fills_its_disk(
        "relay",
        "a_relay_whose_disk_fills_exits_75_and_resumes_at_the_next_block",
    );
}

#[test]
fn a_main_node_whose_disk_fills_exits_75_and_resumes_at_the_next_block() {
    let test = "a_main_node_whose_disk_fills_exits_75_and_resumes_at_the_next_block";
    let Some(fs) = Tmpfs::mount(test, "4m") else {
        return;
    };
    let key = fs.path().join("mn.key");
    generate_key(&key);
    let data = fs.path().join("mn");
    let mn = |extra: &[&str]| {
        let mut cmd = zks();
        cmd.args(["--log-format", "json", "main-node", "--data"])
            .arg(&data)
            .arg("--key")
            .arg(&key)
            .args(["--port", "0", "--addr", "127.0.0.1", "--chain-id", CHAIN])
            .args(extra);
        cmd
    };
    let mut node = Proc::spawn_logged(mn(&["--produce-blocks", "2000"]));
    let status = node.wait_within(Duration::from_secs(120));
    let logs = node.rest_of_logs();
    assert_eq!(status.code(), Some(75), "{logs:#?}");
    let errors = at_level(&logs, "ERROR");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let file = data.join("replay.redb").display().to_string();
    assert!(
        errors[0].contains(&format!("\"file\":\"{file}\"")),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains("(the disk is full)"), "{}", errors[0]);
    let last = logs.last().unwrap();
    assert!(
        last.contains("; exiting with status 75 (EX_TEMPFAIL): "),
        "{last}"
    );
    let next = resumes_at(last);

    fs.resize("64m");
    let held = dump(&data);
    assert_eq!(blocks(&held), format!("1..={}", next - 1), "{held}");
    assert!(held.contains("contiguous: yes"), "{held}");
    let mut node = Proc::spawn(mn(&[
        "--produce-blocks",
        "2000",
        "--produce-until",
        &(next + 50).to_string(),
    ]));
    assert_eq!(node.line_after("head:"), next.to_string());
}

#[test]
fn a_full_disk_when_creating_the_store_or_the_key_exits_75_and_leaves_nothing_half_made() {
    let test =
        "a_full_disk_when_creating_the_store_or_the_key_exits_75_and_leaves_nothing_half_made";
    let Some(fs) = Tmpfs::mount(test, "2m") else {
        return;
    };
    let key = fs.path().join("mn.key");
    generate_key(&key);
    let data = fs.path().join("mn");
    let start = |with_key: bool| {
        let mut cmd = zks();
        cmd.args(["main-node", "--data"])
            .arg(&data)
            .args(["--port", "0", "--addr", "127.0.0.1"]);
        if with_key {
            cmd.arg("--key").arg(&key);
        }
        cmd
    };
    // The store, on a full disk.
    std::fs::create_dir(&data).unwrap();
    let filler = fs.fill();
    let out = start(true).output().unwrap();
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("error: {}/.replay.redb.tmp-", data.display())),
        "{err}"
    );
    assert!(err.contains(": cannot "), "{err}");
    assert!(
        err.ends_with(
            ": No space left on device (os error 28) (the disk is full); exiting with status 75 \
             (EX_TEMPFAIL): restart once the disk has room\n"
        ),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(&data).unwrap().count(),
        0,
        "nothing half made"
    );

    // Room: the store is made; then the disk fills before the node key is written.
    std::fs::remove_file(&filler).unwrap();
    let mut mn = Proc::spawn(start(true));
    mn.line_after("enode:");
    // Stopped cleanly: a store closed after a kill is repaired when opened, which needs room.
    let term = Command::new("kill")
        .args(["-TERM", &mn.child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    assert!(mn.wait_within(Duration::from_secs(30)).success());
    let filler = fs.fill();
    let out = start(false).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(75), "{err}");
    assert_eq!(
        err,
        format!(
            "error: cannot write node key {}: No space left on device (os error 28) (the \
             disk is full); exiting with status 75 (EX_TEMPFAIL): restart once the disk has \
             room\n",
            data.join("node.key").display()
        )
    );
    assert!(!data.join("node.key").exists());
    std::fs::remove_file(&filler).unwrap();
    let mut mn = Proc::spawn(start(false));
    mn.line_after("enode:");
    mn.kill();
    assert_eq!(
        std::fs::read_to_string(data.join("node.key"))
            .unwrap()
            .len(),
        65
    );
}
