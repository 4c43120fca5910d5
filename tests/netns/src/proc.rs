//! Real processes inside the testbed's namespaces (`ip netns exec NS PROGRAM ...`; `ip`
//! execs the program, so the child's pid is the program's). stdout is read by the harness
//! (ports, enode URLs, progress), stderr goes to a log file. A [`Proc`] kills its process when
//! dropped.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use tokio::io::{AsyncBufReadExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// How to start a [`Proc`].
#[derive(Clone, Debug)]
pub struct Spawn<'a> {
    /// A name for messages (`mn`, `en07`, `attacker`).
    pub label: &'a str,
    /// The namespace to run in.
    pub ns: &'a str,
    /// The program.
    pub program: &'a Path,
    /// Its arguments.
    pub args: Vec<String>,
    /// Where its stderr goes.
    pub log: &'a Path,
    /// Give it a stdin pipe (closing it is how the attacker is told to stop).
    pub stdin: bool,
}

/// A running process; killed (SIGKILL) when dropped.
#[derive(Debug)]
pub struct Proc {
    label: String,
    child: Child,
    pid: u32,
    stdout: Option<Lines<BufReader<ChildStdout>>>,
    log: PathBuf,
}

impl Proc {
    /// Starts `spawn.program` in `spawn.ns`, without any `ZKS_*` variable of ours (a flag given
    /// by the harness must not be overridden, nor one it leaves out added), logging at `info`.
    ///
    /// # Errors
    ///
    /// When the log file cannot be created or `ip netns exec` cannot be started.
    pub fn spawn(spawn: Spawn<'_>) -> Result<Self> {
        let log = std::fs::File::create(spawn.log)
            .with_context(|| format!("cannot create {}", spawn.log.display()))?;
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", spawn.ns])
            .arg(spawn.program)
            .args(&spawn.args)
            .env("RUST_LOG", "info")
            .stdin(if spawn.stdin {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ZKS_") {
                command.env_remove(key);
            }
        }
        let mut child = command.spawn().with_context(|| {
            format!(
                "cannot start {} in {} ({})",
                spawn.label,
                spawn.ns,
                spawn.program.display()
            )
        })?;
        let pid = child
            .id()
            .ok_or_else(|| anyhow!("{} exited before it could be watched", spawn.label))?;
        let stdout = child.stdout.take().map(|out| BufReader::new(out).lines());
        Ok(Self {
            label: spawn.label.to_owned(),
            child,
            pid,
            stdout,
            log: spawn.log.to_owned(),
        })
    }

    /// Its pid (valid for `/proc/PID` until it has been waited for).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Its label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Its stdin pipe, if it was started with one and it was not taken yet.
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.child.stdin.take()
    }

    /// Its stdout lines, for a reader of its own (then [`line_starting`](Self::line_starting)
    /// no longer works).
    pub fn take_stdout(&mut self) -> Option<Lines<BufReader<ChildStdout>>> {
        self.stdout.take()
    }

    /// Reads stdout until a line starting with `prefix` (returned without it), within `limit`.
    ///
    /// # Errors
    ///
    /// When stdout ends first or `limit` passes; the error shows the end of the log.
    pub async fn line_starting(&mut self, prefix: &str, limit: Duration) -> Result<String> {
        let Some(lines) = self.stdout.as_mut() else {
            bail!("{}: stdout was taken", self.label);
        };
        let found = tokio::time::timeout(limit, async {
            while let Some(line) = lines.next_line().await? {
                if let Some(rest) = line.strip_prefix(prefix) {
                    return Ok(Some(rest.to_owned()));
                }
            }
            Ok::<_, std::io::Error>(None)
        })
        .await;
        match found {
            Ok(Ok(Some(rest))) => Ok(rest),
            Ok(Ok(None)) => Err(self.failure(&format!("exited before printing {prefix:?}"))),
            Ok(Err(e)) => Err(self.failure(&format!("reading its stdout: {e}"))),
            Err(_) => Err(self.failure(&format!("printed no {prefix:?} within {limit:?}"))),
        }
    }

    /// Waits for it to exit, within `limit`.
    ///
    /// # Errors
    ///
    /// When `limit` passes first (it is still running, and killed when dropped).
    pub async fn wait_within(&mut self, limit: Duration) -> Result<ExitStatus> {
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(status) => status.with_context(|| format!("waiting for {}", self.label)),
            Err(_) => Err(self.failure(&format!("still running after {limit:?}"))),
        }
    }

    /// Waits for it to exit successfully, within `limit`.
    ///
    /// # Errors
    ///
    /// As [`wait_within`](Self::wait_within), or when it exits unsuccessfully.
    pub async fn succeed_within(&mut self, limit: Duration) -> Result<()> {
        let status = self.wait_within(limit).await?;
        if !status.success() {
            return Err(self.failure(&format!("exited with {status}")));
        }
        Ok(())
    }

    /// How it exited, if it has (without waiting).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Sends `signal` (a no-op once it has exited).
    pub fn signal(&self, signal: rustix::process::Signal) {
        if let Ok(pid) = i32::try_from(self.pid)
            && let Some(pid) = rustix::process::Pid::from_raw(pid)
            && self.child.id().is_some()
        {
            let _ = rustix::process::kill_process(pid, signal);
        }
    }

    /// Stops it: SIGTERM, then SIGKILL after `grace`. Returns how it exited.
    ///
    /// # Errors
    ///
    /// When it cannot be waited for.
    pub async fn stop(&mut self, grace: Duration) -> Result<ExitStatus> {
        self.signal(rustix::process::Signal::TERM);
        if let Ok(status) = tokio::time::timeout(grace, self.child.wait()).await {
            return status.with_context(|| format!("waiting for {}", self.label));
        }
        self.kill().await
    }

    /// Kills it (SIGKILL) and waits for it.
    ///
    /// # Errors
    ///
    /// When it cannot be waited for.
    pub async fn kill(&mut self) -> Result<ExitStatus> {
        let _ = self.child.start_kill();
        self.child
            .wait()
            .await
            .with_context(|| format!("waiting for {}", self.label))
    }

    /// An error about this process, with the last lines of its log.
    pub fn failure(&self, what: &str) -> anyhow::Error {
        anyhow!(
            "{} (pid {}) {what}; the end of its log {}:\n{}",
            self.label,
            self.pid,
            self.log.display(),
            log_tail(&self.log, 12)
        )
    }
}

/// The last `n` lines of a log file, indented (or why it cannot be read).
pub fn log_tail(path: &Path, n: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(n);
            lines
                .get(start..)
                .unwrap_or_default()
                .iter()
                .map(|l| format!("    {l}\n"))
                .collect()
        }
        Err(e) => format!("    (cannot read it: {e})\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let path = dir.path().join("log");
        std::fs::write(&path, "a\nb\nc\n").unwrap_or_else(|e| panic!("write: {e}"));
        assert_eq!(log_tail(&path, 2), "    b\n    c\n");
        assert_eq!(log_tail(&path, 10), "    a\n    b\n    c\n");
        assert!(log_tail(&dir.path().join("none"), 2).contains("cannot read"));
    }
}
