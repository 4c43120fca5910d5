//! Scenario (b), the fleet: one main node producing blocks, 20 external nodes each in a
//! namespace of its own, some behind bandwidth caps (`tbf`, `htb`, and an `htb` cap on the
//! main node's uplink), while links go down and up and two external nodes are killed and
//! restarted during the sync. Every external node runs with `--exit-at-block HEAD`; each must
//! exit successfully, and `zks store dump` of each data dir must show exactly blocks
//! `0..=HEAD`, each once, as the main node's does.

use std::fmt;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use crate::bed::{Host, Shape, Testbed, Toward};
use crate::proc::{Proc, Spawn};
use crate::{Run, START_LIMIT, STOP_GRACE, StoreDump};

/// The main node's RLPx port.
const MN_PORT: u16 = 30303;

/// The fleet's parameters.
#[derive(Clone, Debug)]
pub struct FleetConfig {
    /// External nodes (at least 18: the fault plan names `en01`..`en18`).
    pub ens: usize,
    /// Blocks the main node produces (the head is `blocks - 1`).
    pub blocks: u64,
    /// Blocks per second.
    pub rate: f64,
    /// How long the external nodes get to reach the head after production ends.
    pub catch_up: Duration,
}

impl Default for FleetConfig {
    fn default() -> Self {
        Self {
            ens: 20,
            blocks: 4000,
            rate: 250.0,
            catch_up: Duration::from_secs(90),
        }
    }
}

/// One change to the network or the processes, `at` after the main node started.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// Take these external nodes' links down.
    Down(&'static [usize]),
    /// Bring them up again.
    Up(&'static [usize]),
    /// The main node's link.
    MnDown,
    /// The main node's link up again.
    MnUp,
    /// SIGKILL these external nodes.
    Kill(&'static [usize]),
    /// Start them again on the same data dir.
    Restart(&'static [usize]),
}

/// The fault plan (external node numbers are 1-based, as in their names), all within the
/// production window so each hits a node that is still syncing.
const PLAN: &[(Duration, Fault)] = &[
    (Duration::from_millis(2000), Fault::Down(&[11, 12, 13, 14])),
    (Duration::from_millis(4000), Fault::MnDown),
    (Duration::from_millis(5000), Fault::Up(&[11, 12, 13, 14])),
    (Duration::from_millis(6000), Fault::MnUp),
    (Duration::from_millis(7000), Fault::Kill(&[15, 16])),
    (Duration::from_millis(8000), Fault::Restart(&[15, 16])),
    (Duration::from_millis(9000), Fault::Down(&[17, 18, 1])),
    (Duration::from_millis(13000), Fault::Up(&[1])),
    (Duration::from_millis(15000), Fault::Up(&[17, 18])),
];

/// The fault plan, one line.
fn describe_plan() -> String {
    let names = |which: &[usize]| {
        which
            .iter()
            .map(|n| format!("en{n:02}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    PLAN.iter()
        .map(|(at, fault)| {
            let what = match fault {
                Fault::Down(w) => format!("{} link down", names(w)),
                Fault::Up(w) => format!("{} link up", names(w)),
                Fault::MnDown => "MN link down".to_owned(),
                Fault::MnUp => "MN link up".to_owned(),
                Fault::Kill(w) => format!("SIGKILL {}", names(w)),
                Fault::Restart(w) => format!("restart {}", names(w)),
            };
            format!("{:.0}s {what}", at.as_secs_f64())
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The bandwidth caps: (external node numbers, direction, shape).
const CAPS: &[(&[usize], Toward, Shape)] = &[
    (&[1, 2, 3, 4], Toward::Host, Shape::Tbf { kbit: 256 }),
    (&[5, 6, 7, 8], Toward::Host, Shape::Htb { kbit: 1000 }),
    (&[9, 10], Toward::Host, Shape::Tbf { kbit: 2000 }),
    (&[9, 10], Toward::Bridge, Shape::Tbf { kbit: 500 }),
];
/// The main node's uplink cap.
const MN_UPLINK: Shape = Shape::Htb { kbit: 16_000 };

/// How one external node ended.
#[derive(Clone, Debug)]
pub struct EnResult {
    /// Its name.
    pub name: String,
    /// Its caps, for the report.
    pub caps: Vec<String>,
    /// The faults it saw.
    pub faults: Vec<&'static str>,
    /// When it exited after reaching the head, from the main node's start.
    pub done_at: Duration,
    /// Links it set up to the main node, over all its runs (its logs' `link established`).
    pub links: usize,
    /// Links that ended on a ping timeout (its logs' `ping timeout`).
    pub ping_timeouts: usize,
    /// Its store.
    pub dump: StoreDump,
}

/// What the fleet run showed.
#[derive(Clone, Debug)]
pub struct FleetReport {
    /// The parameters.
    pub config: FleetConfig,
    /// The head every node must end at.
    pub head: u64,
    /// The main node's store.
    pub mn: StoreDump,
    /// Each external node.
    pub ens: Vec<EnResult>,
    /// From the main node's start until every external node had exited.
    pub duration: Duration,
    /// CPU time the main node used (producing, storing and serving every block).
    pub mn_cpu: Duration,
}

impl FleetReport {
    /// The main node's CPU per block it produced and served.
    pub fn mn_cpu_per_block(&self) -> Duration {
        self.mn_cpu / u32::try_from(self.config.blocks.max(1)).unwrap_or(u32::MAX)
    }

    /// What is wrong (empty: passed).
    pub fn failures(&self) -> Vec<String> {
        let mut failures = Vec::new();
        if !self.mn.is_exactly(self.head) {
            failures.push(format!(
                "main node store: {} (expected blocks 0..={})",
                self.mn, self.head
            ));
        }
        for en in &self.ens {
            if !en.dump.is_exactly(self.head) {
                failures.push(format!(
                    "{}: {} (expected blocks 0..={})",
                    en.name, en.dump, self.head
                ));
            }
        }
        if self.ens.len() != self.config.ens {
            failures.push(format!(
                "{} of {} external nodes reported",
                self.ens.len(),
                self.config.ens
            ));
        }
        failures
    }
}

impl fmt::Display for FleetReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "fleet: 1 MN -> {} ENs, {} blocks at {}/s (head {}), MN uplink {MN_UPLINK}",
            self.config.ens, self.config.blocks, self.config.rate, self.head
        )?;
        writeln!(f, "  faults: {}", describe_plan())?;
        writeln!(
            f,
            "  main node: {}; CPU {:.2} s, {:.0} µs per block",
            self.mn,
            self.mn_cpu.as_secs_f64(),
            self.mn_cpu_per_block().as_secs_f64() * 1e6
        )?;
        for en in &self.ens {
            let mut notes = en.caps.clone();
            notes.extend(en.faults.iter().map(|s| (*s).to_owned()));
            let notes = if notes.is_empty() {
                String::new()
            } else {
                format!("  [{}]", notes.join("; "))
            };
            let timeouts = match en.ping_timeouts {
                0 => String::new(),
                n => format!(" ({n} ended on ping timeout)"),
            };
            writeln!(
                f,
                "  {}: at head after {:>4.1} s, {} link(s){timeouts}: {}{notes}",
                en.name,
                en.done_at.as_secs_f64(),
                en.links,
                en.dump
            )?;
        }
        let exact = self
            .ens
            .iter()
            .filter(|e| e.dump.is_exactly(self.head))
            .count();
        write!(
            f,
            "  {exact}/{} ENs hold exactly blocks 0..={} once; all done {:.1} s after the MN started",
            self.ens.len(),
            self.head,
            self.duration.as_secs_f64()
        )
    }
}

/// One external node of the fleet.
struct En {
    host: Host,
    data: PathBuf,
    /// Its log files, one per start.
    logs: Vec<PathBuf>,
    proc: Option<Proc>,
    faults: Vec<&'static str>,
}

impl En {
    fn spawn(&mut self, run: &Run, dir: &std::path::Path, enode: &str, head: u64) -> Result<()> {
        let log = dir.join(format!("{}.{}.log", self.host.name, self.logs.len() + 1));
        self.proc = Some(Proc::spawn(Spawn {
            label: &self.host.name,
            ns: &self.host.ns,
            program: &run.zks,
            args: vec![
                "external-node".into(),
                format!("--data={}", self.data.display()),
                format!("--main-node={enode}"),
                format!("--addr={}", self.host.addr),
                "--port=30304".into(),
                format!("--exit-at-block={head}"),
            ],
            log: &log,
            stdin: false,
        })?);
        self.logs.push(log);
        Ok(())
    }
}

/// Runs the fleet on a fresh testbed.
///
/// # Errors
///
/// When the testbed or a process fails, or an external node does not reach the head in time;
/// a wrong store is not an error but listed by [`FleetReport::failures`].
pub async fn run(run: &Run, config: FleetConfig) -> Result<FleetReport> {
    if config.ens < 18 || config.ens > 250 {
        bail!("the fleet needs 18 to 250 external nodes");
    }
    if config.blocks == 0 {
        bail!("the fleet needs at least one block");
    }
    let head = config.blocks - 1;
    let dir = run.path("fleet");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;

    let mut bed = Testbed::new()?;
    let mn_host = bed.add_host("mn", Ipv4Addr::new(198, 18, 0, 1))?;
    bed.shape(&mn_host, Toward::Bridge, MN_UPLINK)?;
    let mut ens = Vec::with_capacity(config.ens);
    for i in 1..=config.ens {
        let name = format!("en{i:02}");
        let host = bed.add_host(&name, Ipv4Addr::new(198, 18, 1, i as u8))?;
        ens.push(En {
            data: dir.join(&name),
            host,
            logs: Vec::new(),
            proc: None,
            faults: Vec::new(),
        });
    }
    let mut caps: Vec<Vec<String>> = vec![Vec::new(); config.ens];
    for (which, toward, shape) in CAPS {
        for &n in *which {
            bed.shape(&ens[n - 1].host, *toward, *shape)?;
            let way = match toward {
                Toward::Host => "down",
                Toward::Bridge => "up",
            };
            caps[n - 1].push(format!("{way} {shape}"));
        }
    }

    let mut mn = Proc::spawn(Spawn {
        label: "main node",
        ns: &mn_host.ns,
        program: &run.zks,
        args: vec![
            "main-node".into(),
            format!("--data={}", dir.join("mn").display()),
            format!("--addr={}", mn_host.addr),
            format!("--port={MN_PORT}"),
            format!("--produce-blocks={}", config.rate),
            format!("--produce-until={}", config.blocks),
        ],
        log: &dir.join("mn.log"),
        stdin: false,
    })?;
    let enode = mn.line_starting("enode: ", START_LIMIT).await?;
    let start = Instant::now();
    for en in &mut ens {
        en.spawn(run, &dir, &enode, head)?;
    }

    // The fault plan, on the main node's clock.
    for (at, fault) in PLAN {
        tokio::time::sleep_until((start + *at).into()).await;
        match *fault {
            Fault::Down(which) => {
                for &n in which {
                    bed.set_link(&ens[n - 1].host, false).await?;
                    ens[n - 1].faults.push("link down/up");
                }
            }
            Fault::Up(which) => {
                for &n in which {
                    bed.set_link(&ens[n - 1].host, true).await?;
                }
            }
            Fault::MnDown => bed.set_link(&mn_host, false).await?,
            Fault::MnUp => bed.set_link(&mn_host, true).await?,
            Fault::Kill(which) => {
                for &n in which {
                    let en = &mut ens[n - 1];
                    if let Some(proc) = en.proc.as_mut() {
                        let status = proc.kill().await?;
                        if status.code().is_some() {
                            return Err(proc.failure(&format!(
                                "had already exited ({status}) when it was to be killed"
                            )));
                        }
                    }
                    en.faults.push("SIGKILL + restart");
                }
            }
            Fault::Restart(which) => {
                for &n in which {
                    ens[n - 1].spawn(run, &dir, &enode, head)?;
                }
            }
        }
    }

    // Every external node exits by itself once it stored the head.
    let production = Duration::from_secs_f64(config.blocks as f64 / config.rate);
    let deadline = start + production + config.catch_up;
    let mut done_at = vec![Duration::ZERO; ens.len()];
    let mut waits = tokio::task::JoinSet::new();
    for (i, en) in ens.iter_mut().enumerate() {
        let Some(mut proc) = en.proc.take() else {
            bail!("{} was not started", en.host.name);
        };
        waits.spawn(async move {
            let limit = deadline.saturating_duration_since(Instant::now());
            let result = proc.succeed_within(limit).await;
            (i, result, start.elapsed())
        });
    }
    let mut errors = Vec::new();
    while let Some(joined) = waits.join_next().await {
        let (i, result, at) = joined.context("an external node's waiter failed")?;
        match result {
            Ok(()) => done_at[i] = at,
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    let duration = start.elapsed();
    let mn_cpu = crate::stats::cpu_time(mn.pid()).unwrap_or_default();
    let status = mn.stop(STOP_GRACE).await?;
    if !errors.is_empty() {
        bail!(
            "{} external node(s) did not reach block {head}:\n{}",
            errors.len(),
            errors.join("\n")
        );
    }
    if !status.success() {
        return Err(mn.failure(&format!("exited with {status} on SIGTERM")));
    }

    let mn_dump = StoreDump::of(&run.zks, &dir.join("mn"))?;
    let mut results = Vec::with_capacity(ens.len());
    for (i, en) in ens.into_iter().enumerate() {
        results.push(EnResult {
            dump: StoreDump::of(&run.zks, &en.data)
                .with_context(|| format!("dumping {}'s store", en.host.name))?,
            name: en.host.name,
            caps: std::mem::take(&mut caps[i]),
            faults: en.faults,
            done_at: done_at[i],
            links: count_in(&en.logs, "link established"),
            ping_timeouts: count_in(&en.logs, "link failed: no pong"),
        });
    }
    drop(bed);
    Ok(FleetReport {
        config,
        head,
        mn: mn_dump,
        ens: results,
        duration,
        mn_cpu,
    })
}

/// How often `needle` occurs in these log files (unreadable ones count 0).
fn count_in(logs: &[PathBuf], needle: &str) -> usize {
    logs.iter()
        .map(|log| {
            std::fs::read_to_string(log)
                .map(|text| text.matches(needle).count())
                .unwrap_or(0)
        })
        .sum()
}
