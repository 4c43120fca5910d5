//! The soak (`zks-netns soak`, not in CI): a main node producing v3 records (chain 270) at a
//! steady rate for an hour, two relays, twenty external nodes (two of them verifiers, linked
//! to the main node itself, which asks their quorum for every batch of 100 blocks; the other
//! eighteen behind the relays, each listing both), and every minute one link flap and one
//! SIGKILL + restart, at random (seeded). Every 30 s it samples each node's RSS, fds, CPU time
//! and head (its `/metrics`, read inside its namespace), and its lag behind the main node. At
//! the end every store must be contiguous, no node behind by more than 2 s, and the RSS and
//! fds of the nodes that were never killed flat after warm-up: less than 5 % growth over the
//! last 45 minutes (the last three quarters of a shorter run).
//!
//! Kills hit only `r2` and `en11`–`en20`, so `mn`, `r1` and `en01`–`en10` live through the
//! whole run and their RSS and fds can be followed; links flap anywhere, the main node's too.
//! The report is written as Markdown (`SOAK.md` with `--out`).

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use crate::bed::Testbed;
use crate::node::{Node, metric};
use crate::stats::{cpu_time, proc_usage};
use crate::{Run, START_LIMIT, StoreDump, cmd};

/// Namespace prefix of the soak (its own: it neither sweeps nor is swept by scenario runs).
pub const PREFIX: &str = "zkss-";
/// Its lock file in `/run`.
pub const LOCK: &str = "zks-netns-soak.lock";
/// The chain: v3 records, as upstream's.
const CHAIN_ID: &str = "270";
/// EIP-712 batch signatures (required with v3 records).
const EIP712: [&str; 3] = [
    "--l1-chain-id=1",
    "--validator-timelock=0x1111111111111111111111111111111111111111",
    "--chain-address=0x2222222222222222222222222222222222222222",
];
const ENS: usize = 20;
const VERIFIERS: usize = 2;
/// How often the nodes are sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(30);
/// Stored bytes per v3 record: about 9.4 KiB of record, 15.7 KB in a redb store (measured).
const BYTES_PER_BLOCK: f64 = 16_000.0;
/// The lag every node must be within at the end.
const MAX_LAG: Duration = Duration::from_secs(2);
/// The RSS and fds growth allowed after warm-up.
const MAX_GROWTH: f64 = 0.05;

/// The soak's parameters.
#[derive(Clone, Debug)]
pub struct SoakConfig {
    /// How long it runs.
    pub minutes: u64,
    /// Blocks per second.
    pub rate: f64,
    /// Seed of the fault plan.
    pub seed: u64,
    /// Also write the report here.
    pub out: Option<PathBuf>,
}

/// One fault action.
#[derive(Clone, Copy, Debug)]
enum Act {
    Down(usize),
    Up(usize),
    Kill(usize),
    Restart(usize),
}

/// xorshift64*: a seeded plan needs no crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// Node indices: 0 the main node, 1–2 the relays, 3.. the external nodes.
const MN: usize = 0;
const R1: usize = 1;
const R2: usize = 2;
const fn en(n: usize) -> usize {
    2 + n
}

/// The fault plan: each minute but the last, a flap (anywhere, 5–20 s; the main node's 2–8 s)
/// in its first 20 s and a kill (r2 or en11–en20, restarted after 2–10 s) in its next 20 s.
fn plan(minutes: u64, seed: u64) -> Vec<(Duration, Act)> {
    let mut rng = Rng(seed | 1);
    let mut plan = Vec::new();
    for minute in 1..minutes {
        let base = minute * 60;
        let at = base + rng.range(0, 19);
        let who = rng.range(0, (2 + ENS) as u64) as usize;
        let down = if who == MN {
            rng.range(2, 8)
        } else {
            rng.range(5, 20)
        };
        plan.push((Duration::from_secs(at), Act::Down(who)));
        plan.push((Duration::from_secs(at + down), Act::Up(who)));
        let at = base + rng.range(20, 39);
        let pick = rng.range(0, 10) as usize;
        let who = if pick == 0 { R2 } else { en(10 + pick) };
        plan.push((Duration::from_secs(at), Act::Kill(who)));
        plan.push((
            Duration::from_secs(at + rng.range(2, 10)),
            Act::Restart(who),
        ));
    }
    plan.sort_by_key(|(at, _)| *at);
    plan
}

/// One node at one sample.
#[derive(Clone, Copy, Debug, Default)]
struct Point {
    rss_kib: Option<u64>,
    fds: Option<usize>,
    cpu: Option<Duration>,
    head: Option<u64>,
}

/// One sample of every node.
#[derive(Clone, Debug)]
struct Sample {
    at: Duration,
    points: Vec<Point>,
}

/// Runs the soak on a fresh testbed and writes its report; `Ok(false)` when a target was
/// missed (the report says which).
///
/// # Errors
///
/// When the testbed or a node cannot be set up, or there is no room for the stores.
pub async fn run(run: &Run, config: SoakConfig) -> Result<bool> {
    let total = Duration::from_secs(config.minutes * 60);
    let need = BYTES_PER_BLOCK * config.rate * total.as_secs_f64() * (3 + ENS) as f64;
    let avail = available_bytes(&run.dir)?;
    if need > avail as f64 * 0.9 {
        bail!(
            "the stores would need about {:.1} GB ({} stores of {} v3 blocks) and {} has {:.1} \
             GB free: use a lower --rate (at most {:.0}) or fewer --minutes",
            need / 1e9,
            3 + ENS,
            (config.rate * total.as_secs_f64()) as u64,
            run.dir.display(),
            avail as f64 / 1e9,
            avail as f64 * 0.9 / (BYTES_PER_BLOCK * total.as_secs_f64() * (3 + ENS) as f64)
        );
    }
    let dir = run.path("soak");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut bed = Testbed::with_prefix(PREFIX)?;

    let mut signers = Vec::new();
    for v in 1..=VERIFIERS {
        let key = dir.join(format!("verifier{v}.key"));
        let out = cmd::run(
            &run.zks.to_string_lossy(),
            &[
                "key",
                "generate",
                "--verifier",
                "--out",
                &key.to_string_lossy(),
            ],
        )?;
        signers.push(out.trim().to_owned());
    }
    let mn_host = bed.add_host("mn", Ipv4Addr::new(198, 18, 0, 1))?;
    let metrics = format!("--metrics=127.0.0.1:{}", crate::node::METRICS_PORT);
    let mut mn_args = vec![
        "main-node".to_owned(),
        format!("--addr={}", mn_host.addr),
        "--port=30303".into(),
        format!("--chain-id={CHAIN_ID}"),
        format!("--produce-blocks={}", config.rate),
        format!("--verifier-signer={}", signers.join(",")),
        format!("--threshold={VERIFIERS}"),
        "--batch-size=100".into(),
        "--quorum-timeout=30s".into(),
        metrics.clone(),
    ];
    mn_args.extend(EIP712.iter().map(|s| (*s).to_owned()));
    let mut nodes = vec![Node::new(mn_host, &dir, mn_args)];
    let enode = nodes[MN]
        .start(&run.zks)?
        .line_starting("enode: ", START_LIMIT)
        .await?;
    let mut relays = Vec::new();
    for r in 1..=2u8 {
        let host = bed.add_host(&format!("r{r}"), Ipv4Addr::new(198, 18, 0, 10 + r))?;
        let args = vec![
            "relay".to_owned(),
            format!("--main-node={enode}"),
            format!("--addr={}", host.addr),
            "--port=30305".into(),
            format!("--chain-id={CHAIN_ID}"),
            metrics.clone(),
        ];
        let mut node = Node::new(host, &dir, args);
        let line = node
            .start(&run.zks)?
            .line_starting("relay ", START_LIMIT)
            .await?;
        relays.push(
            line.split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned(),
        );
        nodes.push(node);
    }
    for n in 1..=ENS {
        let host = bed.add_host(&format!("en{n:02}"), Ipv4Addr::new(198, 18, 1, n as u8))?;
        let mut args = vec![
            "external-node".to_owned(),
            format!("--addr={}", host.addr),
            "--port=30304".into(),
            format!("--chain-id={CHAIN_ID}"),
            metrics.clone(),
        ];
        if n <= VERIFIERS {
            args.push(format!("--main-node={enode}"));
            args.push(format!(
                "--verifier-key={}",
                dir.join(format!("verifier{n}.key")).display()
            ));
            args.extend(EIP712.iter().map(|s| (*s).to_owned()));
        } else if n % 2 == 1 {
            args.push(format!("--main-node={},{}", relays[0], relays[1]));
        } else {
            args.push(format!("--main-node={},{}", relays[1], relays[0]));
        }
        let mut node = Node::new(host, &dir, args);
        node.start(&run.zks)?;
        nodes.push(node);
    }
    let start = Instant::now();
    println!(
        "soak: {} min, {} blocks/s (v3, chain {CHAIN_ID}), seed {}, run dir {}",
        config.minutes,
        config.rate,
        config.seed,
        dir.display()
    );
    let csv_path = dir.join("samples.csv");
    let mut csv = String::from("seconds,node,rss_kib,fds,cpu_ms,head,lag_blocks\n");

    let mut events = plan(config.minutes, config.seed).into_iter().peekable();
    let mut samples: Vec<Sample> = Vec::new();
    let mut log = Vec::new();
    let mut crashes = Vec::new();
    let mut next_sample = SAMPLE_EVERY;
    loop {
        let next_event = events.peek().map_or(total, |(at, _)| *at);
        let wake = next_event.min(next_sample).min(total);
        tokio::time::sleep_until((start + wake).into()).await;
        while let Some((at, act)) = events.next_if(|(at, _)| *at <= start.elapsed()) {
            let note = apply(&mut bed, &mut nodes, &run.zks, act).await?;
            log.push(format!("{:>5} s  {note}", at.as_secs()));
        }
        for node in &mut nodes {
            if let Some(status) = node.proc.as_mut().and_then(|p| p.exited()) {
                crashes.push(format!(
                    "{} exited by itself ({status}) at {:.0} s; restarted",
                    node.name(),
                    start.elapsed().as_secs_f64()
                ));
                node.start(&run.zks)?;
            }
        }
        if start.elapsed() >= next_sample || start.elapsed() >= total {
            let sample = take_sample(&nodes, start.elapsed()).await;
            let mn_head = sample.points[MN].head;
            for (node, p) in nodes.iter().zip(&sample.points) {
                let lag = lag_blocks(mn_head, p.head);
                let _ = writeln!(
                    csv,
                    "{:.0},{},{},{},{},{},{}",
                    sample.at.as_secs_f64(),
                    node.name(),
                    opt(p.rss_kib),
                    opt(p.fds),
                    opt(p.cpu.map(|c| c.as_millis())),
                    opt(p.head),
                    opt(lag)
                );
            }
            std::fs::write(&csv_path, &csv)
                .with_context(|| format!("writing {}", csv_path.display()))?;
            println!("soak: {}", summary_line(&sample, &nodes, config.rate));
            samples.push(sample);
            next_sample += SAMPLE_EVERY;
        }
        if start.elapsed() >= total {
            break;
        }
    }
    // Every link up and every node running again for the end (the plan ends each fault
    // within its minute, so this only matters when it was cut short).
    for (i, node) in nodes.iter_mut().enumerate() {
        bed.set_link(&node.host, true).await?;
        if node.proc.is_none() {
            log.push(format!("end: {} started again", nodes_name(i)));
            node.start(&run.zks)?;
        }
    }
    let verified = nodes[MN].count("batch verified");
    let not_verified = nodes[MN].count("batch not verified");
    // Stop the replicas first, then the main node, and dump every store.
    for node in nodes.iter_mut().rev() {
        node.stop().await?;
    }
    let mut dumps = Vec::new();
    for node in &nodes {
        dumps.push(
            StoreDump::of(&run.zks, &node.data)
                .with_context(|| format!("dumping {}'s store", node.name()))?,
        );
    }
    drop(bed);
    let report = Report {
        config: &config,
        samples: &samples,
        nodes: &nodes,
        dumps: &dumps,
        log: &log,
        crashes: &crashes,
        verified,
        not_verified,
        wall: start.elapsed(),
    };
    let (text, ok) = report.render();
    std::fs::write(dir.join("SOAK.md"), &text)?;
    if let Some(out) = &config.out {
        std::fs::write(out, &text).with_context(|| format!("writing {}", out.display()))?;
    }
    println!("{text}");
    Ok(ok)
}

fn nodes_name(i: usize) -> String {
    match i {
        MN => "mn".into(),
        R1 => "r1".into(),
        R2 => "r2".into(),
        _ => format!("en{:02}", i - 2),
    }
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(String::new, |v| v.to_string())
}

/// Blocks `head` is behind the main node's (both "next block").
fn lag_blocks(mn: Option<u64>, head: Option<u64>) -> Option<u64> {
    Some(mn?.saturating_sub(head?))
}

async fn apply(bed: &mut Testbed, nodes: &mut [Node], zks: &Path, act: Act) -> Result<String> {
    Ok(match act {
        Act::Down(i) => {
            bed.set_link(&nodes[i].host, false).await?;
            format!("{} link down", nodes[i].name())
        }
        Act::Up(i) => {
            bed.set_link(&nodes[i].host, true).await?;
            format!("{} link up", nodes[i].name())
        }
        Act::Kill(i) => {
            nodes[i].kill().await?;
            format!("SIGKILL {}", nodes[i].name())
        }
        Act::Restart(i) => {
            nodes[i].start(zks)?;
            format!("restart {}", nodes[i].name())
        }
    })
}

/// Samples every node at once: usage from `/proc`, heads from `/metrics` (the main node's
/// read last, so a lag is never understated).
async fn take_sample(nodes: &[Node], at: Duration) -> Sample {
    let mut heads = tokio::task::JoinSet::new();
    for (i, node) in nodes.iter().enumerate().skip(1) {
        let ns = node.host.ns.clone();
        let running = node.proc.is_some();
        heads.spawn(async move {
            let head = if running {
                metric(&ns, "zks_replay_head").await
            } else {
                None
            };
            (i, head)
        });
    }
    let mut points = vec![Point::default(); nodes.len()];
    while let Some(Ok((i, head))) = heads.join_next().await {
        points[i].head = head.map(|h| h as u64);
    }
    points[MN].head = metric(&nodes[MN].host.ns, "zks_replay_head")
        .await
        .map(|h| h as u64);
    for (node, point) in nodes.iter().zip(&mut points) {
        if let Some(pid) = node.pid() {
            if let Ok(usage) = proc_usage(pid) {
                point.rss_kib = Some(usage.rss_kib);
                point.fds = Some(usage.fds);
            }
            point.cpu = cpu_time(pid).ok();
        }
    }
    Sample { at, points }
}

fn summary_line(sample: &Sample, nodes: &[Node], rate: f64) -> String {
    let p = &sample.points;
    let max_lag = p
        .iter()
        .enumerate()
        .skip(1)
        .filter_map(|(i, q)| lag_blocks(p[MN].head, q.head).map(|l| (l, i)))
        .max();
    let rss_ens: u64 = p.iter().skip(3).filter_map(|q| q.rss_kib).sum();
    format!(
        "{:>5.0} s  mn head {}  rss {} KiB fds {} cpu {:.1} s  r1 rss {} KiB  ENs rss {} MiB  max lag {}",
        sample.at.as_secs_f64(),
        opt(p[MN].head),
        opt(p[MN].rss_kib),
        opt(p[MN].fds),
        p[MN].cpu.unwrap_or_default().as_secs_f64(),
        opt(p[R1].rss_kib),
        rss_ens / 1024,
        max_lag.map_or_else(
            || "?".to_owned(),
            |(l, i)| format!("{l} blocks ({:.2} s, {})", l as f64 / rate, nodes[i].name())
        )
    )
}

/// Free bytes where `dir` is.
fn available_bytes(dir: &Path) -> Result<u64> {
    let out = cmd::run("df", &["-B1", "--output=avail", &dir.to_string_lossy()])?;
    out.lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .with_context(|| format!("unexpected df output {out:?}"))
}

/// Whether node `i` lives through the whole run (never a kill target).
fn steady(i: usize) -> bool {
    i == MN || i == R1 || (en(1)..=en(10)).contains(&i)
}

mod report;
use report::Report;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_has_a_flap_and_a_kill_each_minute_and_spares_the_steady_nodes() {
        let plan = plan(60, 7);
        assert_eq!(plan.len(), 59 * 4);
        for (at, act) in &plan {
            assert!(*at < Duration::from_secs(60 * 60), "{at:?}");
            if let Act::Kill(i) | Act::Restart(i) = act {
                assert!(!steady(*i), "{} would be killed", nodes_name(*i));
            }
        }
        assert_eq!(nodes_name(en(20)), "en20");
    }
}
