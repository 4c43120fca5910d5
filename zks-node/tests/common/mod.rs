//! What the binary's tests share: running `zks` hermetically, processes killed when dropped,
//! their stdout and JSON logs, and `zks store dump`.
#![allow(dead_code, reason = "each test binary uses a part of these")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// `zks` from this build, hermetic.
pub(crate) fn zks() -> Command {
    hermetic(Command::new(env!("CARGO_BIN_EXE_zks")))
}

/// `cmd` with warnings logged, no stdin, and no setting from the environment the tests run in.
pub(crate) fn hermetic(mut cmd: Command) -> Command {
    cmd.env("RUST_LOG", "warn").stdin(Stdio::null());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("ZKS_") || name == "NO_COLOR" {
            cmd.env_remove(name);
        }
    }
    cmd
}

pub(crate) fn run(args: &[&str]) -> Output {
    zks().args(args).output().expect("run zks")
}

pub(crate) fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A process killed (SIGKILL) when dropped.
pub(crate) struct Proc {
    pub(crate) child: Child,
    lines: BufReader<ChildStdout>,
    /// Its stderr lines, when captured.
    logs: Option<mpsc::Receiver<String>>,
}

impl Proc {
    pub(crate) fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn");
        let stdout = child.stdout.take().expect("piped stdout");
        Self {
            child,
            lines: BufReader::new(stdout),
            logs: None,
        }
    }

    /// As [`spawn`](Self::spawn), with stderr captured line by line (JSON logs).
    pub(crate) fn spawn_logged(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Self {
            child,
            lines: BufReader::new(stdout),
            logs: Some(rx),
        }
    }

    /// The first JSON log line (after those already taken) whose message is `message`.
    pub(crate) fn log(&mut self, message: &str) -> serde_json::Value {
        let logs = self.logs.as_ref().expect("spawned with spawn_logged");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = logs
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("no log line {message:?}: {e}"));
            let value: serde_json::Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
            if value["fields"]["message"] == message {
                return value;
            }
        }
    }

    /// Every captured stderr line not taken yet, up to the end of the stream (call after the
    /// process exited).
    pub(crate) fn rest_of_logs(&mut self) -> Vec<String> {
        let logs = self.logs.as_ref().expect("spawned with spawn_logged");
        let mut lines = Vec::new();
        while let Ok(line) = logs.recv_timeout(Duration::from_secs(10)) {
            lines.push(line);
        }
        lines
    }

    /// The rest of the first stdout line that starts with `prefix`.
    pub(crate) fn line_after(&mut self, prefix: &str) -> String {
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

    /// Waits for the process to exit; after `limit` (an upper bound, not a schedule) kills it
    /// and panics. Its exit status.
    pub(crate) fn wait_within(&mut self, limit: Duration) -> ExitStatus {
        let pid = self.child.id();
        let child = &mut self.child;
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::channel();
            scope.spawn(move || {
                let _ = tx.send(child.wait());
            });
            match rx.recv_timeout(limit) {
                Ok(status) => status.expect("wait for the process"),
                Err(_) => {
                    // Not reaped yet, so the pid is still this process's.
                    let _ = Command::new("kill")
                        .args(["-KILL", &pid.to_string()])
                        .status();
                    panic!("process {pid} did not exit within {limit:?}");
                }
            }
        })
    }

    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill(); // SIGKILL on unix
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

pub(crate) fn main_node(data: &Path, key: &Path, extra: &[&str]) -> (Proc, String) {
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

pub(crate) fn generate_key(path: &Path) -> String {
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
pub(crate) fn dump(data: &Path) -> String {
    let out = zks()
        .args(["store", "dump", "--data"])
        .arg(data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

pub(crate) fn records_in(dump: &str) -> u64 {
    dump.lines()
        .find_map(|l| l.strip_prefix("records: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no record count in {dump}"))
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The body of `GET /metrics` on `addr`, once the exporter answers with zks metrics (it binds
/// as the node starts; retried for up to 10 s).
pub(crate) fn scrape(addr: &str) -> String {
    use std::io::{Read, Write};
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut tcp) = std::net::TcpStream::connect(addr) {
            let _ = write!(
                tcp,
                "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
            );
            let mut response = String::new();
            let _ = tcp.read_to_string(&mut response);
            if let Some((_, body)) = response.split_once("\r\n\r\n")
                && body.contains("zks_")
            {
                return body.to_owned();
            }
        }
        assert!(Instant::now() < deadline, "no metrics on {addr}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
