//! The independent RLPx peer of the interop tests: `@ethereumjs/devp2p` driven by
//! `tests/interop/zks-peer.mjs` (run `npm ci --prefix tests/interop` first), spawned as a
//! `node` process whose JSON event lines the tests read.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::time::timeout;

/// The node process exits by itself after this long (its own deadline).
pub const PEER_SECONDS: &str = "20";
/// A safety net per awaited event.
pub const LIMIT: Duration = Duration::from_secs(15);

/// `tests/interop` of the workspace.
pub fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/interop")
}

/// Whether the node peer can run here: `node` starts and `tests/interop/node_modules` holds
/// `@ethereumjs/devp2p`. When not, prints `SKIPPED <test>: <why>` and returns `false`, and the
/// test returns at once (passing without having run: look for the line).
pub fn available(test: &str) -> bool {
    let node = std::process::Command::new("node")
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let why = match node {
        Err(e) => format!("cannot start `node` (is Node.js installed?): {e}"),
        Ok(status) if !status.success() => format!("`node --version` failed: {status}"),
        Ok(_)
            if !interop_dir()
                .join("node_modules/@ethereumjs/devp2p")
                .is_dir() =>
        {
            format!(
                "{}/node_modules is missing: run `npm ci --prefix tests/interop`",
                interop_dir().display()
            )
        }
        Ok(_) => return true,
    };
    println!("SKIPPED {test}: {why}");
    false
}

/// An awaited event: what it is (for the timeout message), and which events it matches.
pub type Want<'a> = (&'a str, &'a dyn Fn(&Value) -> bool);

/// The node peer; killed when dropped.
pub struct NodePeer {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl NodePeer {
    pub fn spawn(args: &[&str], env: &[(&str, &str)]) -> Self {
        let dir = interop_dir();
        assert!(
            dir.join("node_modules/@ethereumjs/devp2p").is_dir(),
            "{}/node_modules is missing: run `npm ci --prefix tests/interop` before the interop tests",
            dir.display()
        );
        let mut cmd = Command::new("node");
        cmd.arg("zks-peer.mjs")
            .args(args)
            .current_dir(&dir)
            .env("ZKS_PEER_SECONDS", PEER_SECONDS)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // Piped and forwarded, not inherited: Node.js makes its stdio non-blocking, which
            // on a shared pipe would make our own writes to stderr fail with EAGAIN.
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `node` (is Node.js installed?): {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = stderr.next_line().await {
                eprintln!("node stderr: {line}");
            }
        });
        Self {
            child,
            lines: BufReader::new(stdout).lines(),
        }
    }

    /// The next JSON event, echoed; non-JSON lines are echoed and skipped.
    async fn next_event(&mut self, what: &str) -> Value {
        loop {
            let line = timeout(LIMIT, self.lines.next_line())
                .await
                .unwrap_or_else(|_| panic!("node peer: no {what} event in time"))
                .expect("read node stdout")
                .unwrap_or_else(|| panic!("node peer exited before {what}"));
            let Ok(event) = serde_json::from_str::<Value>(&line) else {
                eprintln!("node: {}", shortened(&line));
                continue;
            };
            eprintln!("node event: {}", shortened(&line));
            return event;
        }
    }

    /// The next JSON event for which `want` holds (others are skipped and echoed).
    pub async fn event(&mut self, what: &str, want: impl Fn(&Value) -> bool) -> Value {
        loop {
            let event = self.next_event(what).await;
            if want(&event) {
                return event;
            }
        }
    }

    /// One event per `wants` entry, in whatever order they come (each is the first event that
    /// entry matches and no earlier entry took); returned in the order of `wants`. Other
    /// events are skipped and echoed.
    pub async fn events_any_order(&mut self, wants: &[Want<'_>]) -> Vec<Value> {
        let mut got: Vec<Option<Value>> = vec![None; wants.len()];
        while got.iter().any(Option::is_none) {
            let missing: Vec<&str> = wants
                .iter()
                .zip(&got)
                .filter(|(_, g)| g.is_none())
                .map(|((what, _), _)| *what)
                .collect();
            let event = self.next_event(&missing.join(", ")).await;
            if let Some(slot) = wants
                .iter()
                .zip(got.iter_mut())
                .find(|((_, want), g)| g.is_none() && want(&event))
                .map(|(_, g)| g)
            {
                *slot = Some(event);
            }
        }
        got.into_iter().map(Option::unwrap).collect()
    }
}

impl Drop for NodePeer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// A line as echoed: at most 400 characters (records make long lines), then how long it was.
fn shortened(line: &str) -> std::borrow::Cow<'_, str> {
    const ECHO: usize = 400;
    match line.char_indices().nth(ECHO) {
        Some((cut, _)) => format!("{}… ({} bytes)", &line[..cut], line.len()).into(),
        None => line.into(),
    }
}

/// Matches events of this kind.
pub fn is(kind: &'static str) -> impl Fn(&Value) -> bool {
    move |e| e["event"] == kind
}

/// Matches a `zks` or `zks_2fa` message event with this relative id.
pub fn message(kind: &'static str, id: u8) -> impl Fn(&Value) -> bool {
    move |e| e["event"] == kind && e["id"] == id
}

/// A TCP port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
