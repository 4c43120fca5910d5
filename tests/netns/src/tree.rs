//! Scenario (c), the relay tree: one main node producing v3 records (chain 270), three relays
//! replaying from it, thirty external nodes each listing all three relays (ten prefer each,
//! in rotated order), on shaped links, while relays are SIGKILLed and restarted, one relay's
//! uplink to the main node is cut (a blackhole route: its links to its external nodes stay
//! up) for longer than the stall timeout, and the main node is SIGKILLed and restarted. Every
//! external node runs with `--exit-at-block HEAD`; each must exit by itself, and `zks store
//! dump` of each data dir must show exactly the main node's blocks, each once. The report
//! gives each external node's upstream switches and the main node's CPU per block.

use std::fmt;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use crate::bed::{Shape, Testbed, Toward};
use crate::node::Node;
use crate::stats::cpu_time;
use crate::{Run, START_LIMIT, StoreDump};

/// The chain: v3 records, as upstream's.
const CHAIN_ID: &str = "270";
/// Stall timeout of the relays and external nodes (short, so the scenario stays short).
const STALL: Duration = Duration::from_secs(5);

/// The tree's parameters.
#[derive(Clone, Debug)]
pub struct TreeConfig {
    /// External nodes (a multiple of 3, at least 12: the caps name `en01`..`en12`).
    pub ens: usize,
    /// Blocks the main node produces (v3: blocks `1..=blocks`).
    pub blocks: u64,
    /// Blocks per second.
    pub rate: f64,
    /// How long the external nodes get to reach the head after production would have ended.
    pub catch_up: Duration,
}

impl Default for TreeConfig {
    fn default() -> Self {
        Self {
            ens: 30,
            blocks: 2500,
            rate: 50.0,
            catch_up: Duration::from_secs(120),
        }
    }
}

/// One fault, `at` after the main node started.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// SIGKILL relay `n` (1-based).
    KillRelay(usize),
    /// Start it again on its data dir.
    RestartRelay(usize),
    /// Cut relay `n`'s path to the main node.
    CutUplink(usize),
    /// Restore it.
    RestoreUplink(usize),
    /// SIGKILL the main node.
    KillMn,
    /// Start it again on its data dir.
    RestartMn,
}

/// The fault plan: all within production (50 s at the defaults). The uplink cut lasts 28 s:
/// an external node on r3 sees its stream stall after the stall timeout (5 s), probes r3
/// itself first (a probe of an upstream that lacks the block takes the probe timeout, 5 s),
/// then the other relays at its next check, and waits the probe timeout once more for its own
/// link to deliver before it moves: measured 20 s after the cut (r3's TCP window drains
/// first), with the machine loaded.
const PLAN: &[(Duration, Fault)] = &[
    (Duration::from_secs(4), Fault::KillRelay(2)),
    (Duration::from_secs(7), Fault::RestartRelay(2)),
    (Duration::from_secs(8), Fault::CutUplink(3)),
    (Duration::from_secs(14), Fault::KillMn),
    (Duration::from_secs(16), Fault::RestartMn),
    (Duration::from_secs(36), Fault::RestoreUplink(3)),
    (Duration::from_secs(38), Fault::KillRelay(1)),
    (Duration::from_secs(40), Fault::RestartRelay(1)),
];

fn describe_plan() -> String {
    PLAN.iter()
        .map(|(at, fault)| {
            let what = match fault {
                Fault::KillRelay(n) => format!("SIGKILL r{n}"),
                Fault::RestartRelay(n) => format!("restart r{n}"),
                Fault::CutUplink(n) => format!("r{n}'s uplink cut"),
                Fault::RestoreUplink(n) => format!("r{n}'s uplink back"),
                Fault::KillMn => "SIGKILL MN".to_owned(),
                Fault::RestartMn => "restart MN".to_owned(),
            };
            format!("{}s {what}", at.as_secs())
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The caps on external nodes' links: (numbers, direction, shape).
const CAPS: &[(&[usize], Toward, Shape)] = &[
    (&[1, 2, 3, 4, 5], Toward::Host, Shape::Tbf { kbit: 8_000 }),
    (&[6, 7, 8, 9, 10], Toward::Host, Shape::Htb { kbit: 6_000 }),
    (&[11, 12], Toward::Host, Shape::Tbf { kbit: 5_000 }),
    (&[11, 12], Toward::Bridge, Shape::Tbf { kbit: 1_000 }),
];
/// The main node's uplink.
const MN_UPLINK: Shape = Shape::Htb { kbit: 40_000 };
/// Relay 1's downlink (from the main node).
const R1_DOWNLINK: Shape = Shape::Tbf { kbit: 12_000 };

/// How one external node ended.
#[derive(Clone, Debug)]
pub struct TreeEn {
    /// Its name.
    pub name: String,
    /// Its relays, preferred first.
    pub order: String,
    /// Its caps.
    pub caps: Vec<String>,
    /// When it exited at the head, from the main node's start.
    pub done_at: Duration,
    /// Replay links it set up (probe links are not counted).
    pub links: usize,
    /// Times its replay moved to another upstream or a fresh link.
    pub switches: usize,
    /// Its store.
    pub dump: StoreDump,
}

/// What the tree run showed.
#[derive(Clone, Debug)]
pub struct TreeReport {
    /// The parameters.
    pub config: TreeConfig,
    /// The main node's store.
    pub mn: StoreDump,
    /// Each relay: name, store, links, switches.
    pub relays: Vec<(String, StoreDump, usize, usize)>,
    /// Each external node.
    pub ens: Vec<TreeEn>,
    /// CPU time of the main node, both runs.
    pub mn_cpu: Duration,
    /// From the main node's start until every external node had exited.
    pub duration: Duration,
}

impl TreeReport {
    /// The main node's CPU per block it produced and served.
    pub fn mn_cpu_per_block(&self) -> Duration {
        self.mn_cpu / u32::try_from(self.config.blocks.max(1)).unwrap_or(u32::MAX)
    }

    /// What is wrong (empty: passed).
    pub fn failures(&self) -> Vec<String> {
        let (first, last) = (1, self.config.blocks);
        let mut failures = Vec::new();
        if !self.mn.is_exactly_range(first, last) {
            failures.push(format!(
                "main node store: {} (expected blocks {first}..={last})",
                self.mn
            ));
        }
        for (name, dump, ..) in &self.relays {
            if !dump.contiguous || dump.range.map(|r| r.0) != Some(first) {
                failures.push(format!("{name}: {dump} (expected contiguous from {first})"));
            }
        }
        for en in &self.ens {
            if !en.dump.is_exactly_range(first, last) {
                failures.push(format!(
                    "{}: {} (expected blocks {first}..={last})",
                    en.name, en.dump
                ));
            }
            // Its preferred relay was killed or stalled: replay must have moved at least once.
            if en.switches == 0 {
                failures.push(format!(
                    "{}: never switched upstream, though its preferred relay ({}) was killed or \
                     cut off",
                    en.name, en.order
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

impl fmt::Display for TreeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "tree: 1 MN -> 3 relays -> {} ENs, {} v3 blocks (chain {CHAIN_ID}) at {}/s, MN \
             uplink {MN_UPLINK}, r1 downlink {R1_DOWNLINK}, stall timeout {} s",
            self.config.ens,
            self.config.blocks,
            self.config.rate,
            STALL.as_secs()
        )?;
        writeln!(f, "  faults: {}", describe_plan())?;
        writeln!(
            f,
            "  main node: {}; CPU {:.2} s over both runs, {:.0} µs per block",
            self.mn,
            self.mn_cpu.as_secs_f64(),
            self.mn_cpu_per_block().as_secs_f64() * 1e6
        )?;
        for (name, dump, links, switches) in &self.relays {
            writeln!(
                f,
                "  {name}: {dump}; {links} link(s) to the MN, {switches} switch(es)"
            )?;
        }
        for en in &self.ens {
            let caps = if en.caps.is_empty() {
                String::new()
            } else {
                format!("  [{}]", en.caps.join("; "))
            };
            writeln!(
                f,
                "  {} ({}): at head after {:>5.1} s, {} switch(es), {} link(s): {}{caps}",
                en.name,
                en.order,
                en.done_at.as_secs_f64(),
                en.switches,
                en.links,
                en.dump
            )?;
        }
        let exact = self
            .ens
            .iter()
            .filter(|e| e.dump.is_exactly_range(1, self.config.blocks))
            .count();
        let switches: Vec<usize> = self.ens.iter().map(|e| e.switches).collect();
        write!(
            f,
            "  {exact}/{} ENs hold exactly blocks 1..={} once; switches per EN min/mean/max {}; \
             all done {:.1} s after the MN started",
            self.ens.len(),
            self.config.blocks,
            crate::stats::Span::of(switches.iter().map(|&s| s as u64)),
            self.duration.as_secs_f64()
        )
    }
}

/// Runs the tree on a fresh testbed.
///
/// # Errors
///
/// When the testbed or a process fails, or an external node does not reach the head in time;
/// a wrong store is not an error but listed by [`TreeReport::failures`].
pub async fn run(run: &Run, config: TreeConfig) -> Result<TreeReport> {
    if config.ens < 12 || !config.ens.is_multiple_of(3) || config.ens > 240 {
        bail!("the tree needs 12 to 240 external nodes, a multiple of 3");
    }
    let head = config.blocks;
    let dir = run.path("tree");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut bed = Testbed::new()?;
    let stall = format!("--upstream-stall-timeout={}s", STALL.as_secs());
    let probe = "--upstream-probe-interval=2s".to_owned();

    let mn_host = bed.add_host("mn", Ipv4Addr::new(198, 18, 0, 1))?;
    bed.shape(&mn_host, Toward::Bridge, MN_UPLINK)?;
    let mn_addr = mn_host.addr;
    let mut mn = Node::new(
        mn_host,
        &dir,
        vec![
            "main-node".into(),
            format!("--addr={mn_addr}"),
            "--port=30303".into(),
            format!("--chain-id={CHAIN_ID}"),
            format!("--produce-blocks={}", config.rate),
            format!("--produce-until={}", config.blocks + 1),
        ],
    );
    let enode = mn
        .start(&run.zks)?
        .line_starting("enode: ", START_LIMIT)
        .await?;
    let start = Instant::now();
    let mut relays = Vec::new();
    let mut relay_enodes = Vec::new();
    for r in 1..=3u8 {
        let host = bed.add_host(&format!("r{r}"), Ipv4Addr::new(198, 18, 0, 10 + r))?;
        if r == 1 {
            bed.shape(&host, Toward::Host, R1_DOWNLINK)?;
        }
        let args = vec![
            "relay".into(),
            format!("--main-node={enode}"),
            format!("--addr={}", host.addr),
            "--port=30305".into(),
            format!("--chain-id={CHAIN_ID}"),
            stall.clone(),
        ];
        let mut relay = Node::new(host, &dir, args);
        let line = relay
            .start(&run.zks)?
            .line_starting("relay ", START_LIMIT)
            .await?;
        relay_enodes.push(
            line.split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned(),
        );
        relays.push(relay);
    }
    let mut ens = Vec::with_capacity(config.ens);
    let mut orders = Vec::with_capacity(config.ens);
    for i in 1..=config.ens {
        let host = bed.add_host(&format!("en{i:02}"), Ipv4Addr::new(198, 18, 1, i as u8))?;
        // en01 prefers r1, en02 r2, en03 r3, en04 r1, ...
        let order: Vec<usize> = (0..3).map(|k| (i - 1 + k) % 3).collect();
        let upstreams: Vec<&str> = order.iter().map(|&k| relay_enodes[k].as_str()).collect();
        orders.push(
            order
                .iter()
                .map(|k| format!("r{}", k + 1))
                .collect::<Vec<_>>()
                .join(">"),
        );
        let args = vec![
            "external-node".into(),
            format!("--main-node={}", upstreams.join(",")),
            format!("--addr={}", host.addr),
            "--port=30304".into(),
            format!("--chain-id={CHAIN_ID}"),
            format!("--exit-at-block={head}"),
            stall.clone(),
            probe.clone(),
        ];
        let mut en = Node::new(host, &dir, args);
        en.start(&run.zks)?;
        ens.push(en);
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

    let mut mn_cpu = Duration::ZERO;
    for (at, fault) in PLAN {
        tokio::time::sleep_until((start + *at).into()).await;
        match *fault {
            Fault::KillRelay(n) => relays[n - 1].kill().await?,
            Fault::RestartRelay(n) => {
                relays[n - 1].start(&run.zks)?;
            }
            Fault::CutUplink(n) => bed.cut_path(&relays[n - 1].host, mn_addr, true).await?,
            Fault::RestoreUplink(n) => bed.cut_path(&relays[n - 1].host, mn_addr, false).await?,
            Fault::KillMn => {
                mn_cpu += mn.pid().and_then(|p| cpu_time(p).ok()).unwrap_or_default();
                mn.kill().await?;
            }
            Fault::RestartMn => {
                mn.start(&run.zks)?;
            }
        }
    }

    let production = Duration::from_secs_f64(config.blocks as f64 / config.rate);
    let deadline = start + production + config.catch_up;
    let mut waits = tokio::task::JoinSet::new();
    for (i, en) in ens.iter_mut().enumerate() {
        let Some(mut proc) = en.proc.take() else {
            bail!("{} was not started", en.name());
        };
        waits.spawn(async move {
            let limit = deadline.saturating_duration_since(Instant::now());
            let result = proc.succeed_within(limit).await;
            (i, result, start.elapsed())
        });
    }
    let mut done_at = vec![Duration::ZERO; ens.len()];
    let mut errors = Vec::new();
    while let Some(joined) = waits.join_next().await {
        let (i, result, at) = joined.context("an external node's waiter failed")?;
        match result {
            Ok(()) => done_at[i] = at,
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    let duration = start.elapsed();
    mn_cpu += mn.pid().and_then(|p| cpu_time(p).ok()).unwrap_or_default();
    for relay in &mut relays {
        relay.stop().await?;
    }
    let status = mn.stop().await?;
    if !errors.is_empty() {
        bail!(
            "{} external node(s) did not reach block {head}:\n{}",
            errors.len(),
            errors.join("\n")
        );
    }
    if let Some(status) = status
        && !status.success()
    {
        bail!("the main node exited with {status} on SIGTERM");
    }

    let mn_dump = StoreDump::of(&run.zks, &mn.data)?;
    let mut relay_results = Vec::new();
    for relay in &relays {
        relay_results.push((
            relay.name().to_owned(),
            StoreDump::of(&run.zks, &relay.data)
                .with_context(|| format!("dumping {}'s store", relay.name()))?,
            relay.replay_links(),
            relay.switches(),
        ));
    }
    let mut results = Vec::with_capacity(ens.len());
    for (i, en) in ens.iter().enumerate() {
        results.push(TreeEn {
            dump: StoreDump::of(&run.zks, &en.data)
                .with_context(|| format!("dumping {}'s store", en.name()))?,
            name: en.name().to_owned(),
            order: orders[i].clone(),
            caps: std::mem::take(&mut caps[i]),
            done_at: done_at[i],
            links: en.replay_links(),
            switches: en.switches(),
        });
    }
    drop(bed);
    Ok(TreeReport {
        config,
        mn: mn_dump,
        relays: relay_results,
        ens: results,
        mn_cpu,
        duration,
    })
}
