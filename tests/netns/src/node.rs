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

    /// Replay links it established to its upstreams, over all its runs (outbound, trusted).
    pub fn replay_links(&self) -> usize {
        self.logs
            .iter()
            .filter_map(|log| std::fs::read_to_string(log).ok())
            .map(|text| {
                text.lines()
                    .filter(|l| {
                        l.contains("link established trusted=true")
                            && l.contains("direction=outbound")
                    })
                    .count()
            })
            .sum()
    }

    /// Its upstream switches, over all its runs: each replay link to another upstream than
    /// the one before (a failover after a link ended, a move by priority or stall), and each
    /// silent link replaced by a fresh one to the same upstream.
    pub fn switches(&self) -> usize {
        let texts: Vec<String> = self
            .logs
            .iter()
            .filter_map(|log| std::fs::read_to_string(log).ok())
            .collect();
        upstream_switches(texts.iter().map(String::as_str))
    }
}

/// Upstream switches in an external node's or relay's logs (in order): changes of peer between
/// successive replay links it established (outbound, trusted; probe links are not logged as
/// established), plus replacements of a silent link by a fresh one to the same upstream.
pub fn upstream_switches<'a>(logs: impl IntoIterator<Item = &'a str>) -> usize {
    let mut previous: Option<&str> = None;
    let mut switches = 0;
    for line in logs.into_iter().flat_map(str::lines) {
        if SWITCH_LINES[1..].iter().any(|needle| line.contains(needle)) {
            switches += 1;
            continue;
        }
        if !(line.contains("link established trusted=true") && line.contains("direction=outbound"))
        {
            continue;
        }
        let Some(peer) = line
            .split_whitespace()
            .find_map(|word| word.strip_prefix("peer="))
        else {
            continue;
        };
        if previous.is_some_and(|p| p != peer) {
            switches += 1;
        }
        previous = Some(peer);
    }
    switches
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
    fn switches_are_changes_of_replay_peer_and_silent_replacements() {
        let a = "x zks_link{conn=conn-0 peer=aa…01 direction=outbound caps=zks/5}: link established trusted=true addr=e";
        let b = "x zks_link{conn=conn-1 peer=bb…02 direction=outbound caps=zks/5}: link established trusted=true addr=e";
        let inbound = "x zks_link{conn=conn-2 peer=cc…03 direction=inbound caps=zks/5}: link established trusted=false";
        let silent = "WARN replay stream went silent while the link stayed up; the upstream has it";
        let first = format!("{a}\n{b}\n{inbound}\n");
        let second = format!("{b}\n{a}\n{a}\n{silent}\n");
        assert_eq!(upstream_switches([first.as_str(), second.as_str()]), 3);
        assert_eq!(upstream_switches([a]), 0);
    }

    #[test]
    fn metric_values_parse() {
        let text = "# HELP zks_replay_head x\n# TYPE zks_replay_head gauge\nzks_replay_head 4001\n\
                    zks_replay_head_other 3\nzks_active_links{peer=\"a\"} 2\n";
        assert_eq!(metric_value(text, "zks_replay_head"), Some(4001.0));
        assert_eq!(metric_value(text, "zks_active_links"), None);
        assert_eq!(metric_value(text, "zks_missing"), None);
    }
}
