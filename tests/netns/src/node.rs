//! A `zks` node of a long-running scenario (the relay tree, the soak): its host, data dir and
//! arguments, so it can be killed and started again on the same data dir; its logs (one per
//! start), which are counted for what happened; its head, read from its Prometheus endpoint
//! inside its namespace.

use std::path::{Path, PathBuf};
use std::process::ExitStatus;

use anyhow::Result;

use crate::bed::Host;
use crate::proc::{Proc, Spawn};
use crate::{STOP_GRACE, cmd};

/// The metrics port every node listens on, on its own namespace's loopback.
pub const METRICS_PORT: u16 = 9100;

/// What the logs of an external node or relay say when its replay moved to another upstream
/// or to a fresh link (`zks-api`'s `Switch::log`).
pub const SWITCH_LINES: [&str; 3] = [
    "replay upstream switched",
    "replay stream went silent while the link stayed up",
    "replay link silent for the watchdog's time",
];

/// One node.
#[derive(Debug)]
pub struct Node {
    /// Its host.
    pub host: Host,
    /// Its data dir.
    pub data: PathBuf,
    /// Its arguments (`--data` is added).
    pub args: Vec<String>,
    /// Its log files, one per start.
    pub logs: Vec<PathBuf>,
    /// The running process.
    pub proc: Option<Proc>,
    /// SIGKILLs it took.
    pub kills: usize,
    /// Where its logs go.
    dir: PathBuf,
}

impl Node {
    /// A node of `host` with its data dir and logs in `dir`; not started.
    pub fn new(host: Host, dir: &Path, args: Vec<String>) -> Self {
        Self {
            data: dir.join(&host.name),
            host,
            args,
            logs: Vec::new(),
            proc: None,
            kills: 0,
            dir: dir.to_owned(),
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.host.name
    }

    /// Starts it (again) on its data dir.
    ///
    /// # Errors
    ///
    /// When it cannot be started.
    pub fn start(&mut self, zks: &Path) -> Result<&mut Proc> {
        let log = self
            .dir
            .join(format!("{}.{}.log", self.host.name, self.logs.len() + 1));
        let mut args = self.args.clone();
        args.insert(1, format!("--data={}", self.data.display()));
        let proc = Proc::spawn(Spawn {
            label: &self.host.name,
            ns: &self.host.ns,
            program: zks,
            args,
            log: &log,
            stdin: false,
        })?;
        self.logs.push(log);
        Ok(self.proc.insert(proc))
    }

    /// SIGKILLs it (a no-op when it is not running).
    ///
    /// # Errors
    ///
    /// When it cannot be waited for.
    pub async fn kill(&mut self) -> Result<()> {
        if let Some(mut proc) = self.proc.take() {
            proc.kill().await?;
            self.kills += 1;
        }
        Ok(())
    }

    /// Stops it with SIGTERM (SIGKILL after [`STOP_GRACE`]); `None` when it was not running.
    ///
    /// # Errors
    ///
    /// When it cannot be waited for.
    pub async fn stop(&mut self) -> Result<Option<ExitStatus>> {
        match self.proc.take() {
            Some(mut proc) => Ok(Some(proc.stop(STOP_GRACE).await?)),
            None => Ok(None),
        }
    }

    /// Its pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().map(Proc::pid)
    }

    /// How often `needle` occurs in its logs.
    pub fn count(&self, needle: &str) -> usize {
        count_in(&self.logs, needle)
    }

    /// Its upstream switches, over all its runs.
    pub fn switches(&self) -> usize {
        SWITCH_LINES.iter().map(|line| self.count(line)).sum()
    }
}

/// How often `needle` occurs in these log files (unreadable ones count 0).
pub fn count_in(logs: &[PathBuf], needle: &str) -> usize {
    logs.iter()
        .map(|log| {
            std::fs::read_to_string(log)
                .map(|text| text.matches(needle).count())
                .unwrap_or(0)
        })
        .sum()
}

/// A gauge or counter from the `/metrics` of the node in `ns` (on [`METRICS_PORT`]), `None`
/// when it cannot be read (the node is down or still starting).
pub async fn metric(ns: &str, name: &str) -> Option<f64> {
    let url = format!("http://127.0.0.1:{METRICS_PORT}/metrics");
    let text = cmd::run_async("ip", &["netns", "exec", ns, "curl", "-sf", "-m", "3", &url])
        .await
        .ok()?;
    metric_value(&text, name)
}

/// The value of the series `name` (without labels) in a Prometheus text.
pub fn metric_value(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_values_parse() {
        let text = "# HELP zks_replay_head x\n# TYPE zks_replay_head gauge\nzks_replay_head 4001\n\
                    zks_replay_head_other 3\nzks_active_links{peer=\"a\"} 2\n";
        assert_eq!(metric_value(text, "zks_replay_head"), Some(4001.0));
        assert_eq!(metric_value(text, "zks_active_links"), None);
        assert_eq!(metric_value(text, "zks_missing"), None);
    }
}
