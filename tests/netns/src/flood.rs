//! Scenario (a), the flood: a main node, an honest external node's host, and an attacker that
//! holds `conns` idle TCP connections to the main node's RLPx port from `sources` addresses,
//! reopening each one the main node closes. An honest external node's time to first block
//! (a fresh process with a fresh data dir and `--exit-at-block 0`, from spawn to its
//! successful exit) is measured `tries` times without and `tries` times under the flood, while
//! the main node's RSS and open fds are sampled.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use tokio::sync::watch;

use crate::attack::{AttackConfig, AttackStats};
use crate::bed::{Host, Testbed};
use crate::proc::{Proc, Spawn};
use crate::stats::{self, ProcUsage, SockStat, Span, ms, percentile};
use crate::{Run, START_LIMIT, STOP_GRACE};

/// The main node's RLPx port.
const MN_PORT: u16 = 30303;
/// One try gets this long to reach its first block before it counts as a failure.
const TRY_LIMIT: Duration = Duration::from_secs(30);
/// How often the main node's usage is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// Every this many samples, the main node's established sockets are counted with `ss`.
const SS_EVERY: u32 = 5;

/// The bound on the main node's resident memory from the attacker's start on, MiB. Measured on
/// 2 cores: 8 MiB at rest, 23-33 MiB under 2,000 held connections (pending handshakes are
/// capped at 128, so memory does not grow with the flood); the bound is more than 2x that.
pub const MAX_RSS_MIB: u64 = 64;
/// The bound on the main node's open file descriptors from the attacker's start on. Measured on
/// 2 cores: 13 at rest, 224-348 under the flood: the 128 pending handshakes, plus sockets just
/// accepted or just evicted whose tasks have not run yet (the accept loop takes up to a
/// scheduling budget of sockets per turn), plus the listener, store and runtime. The bound,
/// 1.5x the worst seen, is what a leak of one fd per evicted socket (thousands per second)
/// crosses within a second.
pub const MAX_FDS: usize = 512;
/// Target: an honest external node's p99 time to first block under the flood.
pub const P99_TARGET: Duration = Duration::from_secs(1);
/// The hard bound on that p99. One SYN the main node's kernel drops costs the honest node the
/// 1 s initial retransmission timeout, a second one 3 s in all: see [`FloodReport::failures`].
pub const P99_BOUND: Duration = Duration::from_secs(3);
/// Set to `1` to make a missed [`P99_TARGET`] fail the run (not only be reported).
pub const STRICT_ENV: &str = "ZKS_NETNS_STRICT";

/// The flood's parameters.
#[derive(Clone, Debug)]
pub struct FloodConfig {
    /// Tries per phase (no flood, flood).
    pub tries: usize,
    /// How long the flooded tries are spread over (one starts every `flood_for / tries`), so
    /// they and the main node's samples cover a flood that has lasted that long.
    pub flood_for: Duration,
    /// Connections the attacker holds.
    pub conns: usize,
    /// Its source addresses.
    pub sources: u32,
}

impl Default for FloodConfig {
    fn default() -> Self {
        Self {
            tries: 20,
            flood_for: Duration::from_secs(12),
            conns: 2000,
            sources: 250,
        }
    }
}

/// One sample of the main node, its namespace and the attacker's during the flood.
#[derive(Clone, Copy, Debug)]
struct Sample {
    at: Instant,
    usage: ProcUsage,
    sock: SockStat,
    /// TCP sockets open in the attacker's namespace (all of them are the attacker's).
    attacker_sock: SockStat,
    /// Established TCP connections to the RLPx port (`ss`), when counted in this sample.
    established: Option<u64>,
    /// The listener's accept queue: length and capacity (`ss`), when read in this sample.
    accept_queue: Option<(u64, u64)>,
}

/// What the flood measured.
#[derive(Clone, Debug)]
pub struct FloodReport {
    /// The parameters.
    pub config: FloodConfig,
    /// Tries without the flood.
    pub calm: Vec<Try>,
    /// Tries under the flood.
    pub flooded: Vec<Try>,
    /// The main node's kernel: connections dropped because its listen queue overflowed, and
    /// SYNs dropped at its listener, during the flooded tries.
    pub listen_overflows: u64,
    /// See `listen_overflows`.
    pub listen_drops: u64,
    /// The longest accept queue of the main node's listener seen (`ss`), and its capacity.
    pub accept_queue: (u64, u64),
    /// Main node usage at rest (before the flood).
    pub rest: ProcUsage,
    /// Largest RSS from the attacker's start on, KiB.
    pub max_rss_kib: u64,
    /// Most open fds from the attacker's start on.
    pub max_fds: usize,
    /// Samples of the main node taken.
    pub samples: usize,
    /// TCP sockets the attacker held open (the kernel's count in its namespace: connected,
    /// connecting, or closed by the main node and not yet reopened) while the flooded tries
    /// ran.
    pub held: Span,
    /// Established connections to the RLPx port at the main node (`ss`).
    pub established: Span,
    /// Most TCP sockets in use in the main node's namespace.
    pub max_inuse: u64,
    /// Connections the main node closed per second during the flooded tries.
    pub closed_per_sec: f64,
    /// How long the flooded tries ran.
    pub flood_duration: Duration,
    /// A try right after the attacker stopped.
    pub recovered: Try,
}

impl FloodReport {
    fn p(tries: &[Try], p: f64) -> Duration {
        let took: Vec<Duration> = tries.iter().map(|t| t.took).collect();
        percentile(&took, p).unwrap_or_default()
    }

    /// p50 and p99 without the flood.
    pub fn calm_p50_p99(&self) -> (Duration, Duration) {
        (Self::p(&self.calm, 50.0), Self::p(&self.calm, 99.0))
    }

    /// p50 and p99 under the flood.
    pub fn flooded_p50_p99(&self) -> (Duration, Duration) {
        (Self::p(&self.flooded, 50.0), Self::p(&self.flooded, 99.0))
    }

    /// Whether the p99 under the flood met [`P99_TARGET`].
    pub fn target_met(&self) -> bool {
        self.flooded_p50_p99().1 < P99_TARGET
    }

    /// What breaks a bound (empty: passed). A missed [`P99_TARGET`] is one with
    /// `ZKS_NETNS_STRICT=1` (CI sets it); otherwise it is reported, and only [`P99_BOUND`]
    /// fails. With the main node's old listen queue of 128 connections (the backlog tokio and
    /// std use) a flood that reconnects faster than the main node accepts made the kernel drop
    /// SYNs, an honest one among them now and then, and that try took the 1 s initial
    /// retransmission timeout; the listener now asks for 4,096.
    pub fn failures(&self) -> Vec<String> {
        let mut failures = Vec::new();
        let (_, p99) = self.flooded_p50_p99();
        let strict = std::env::var(STRICT_ENV).is_ok_and(|v| v == "1");
        if p99 >= P99_BOUND || (strict && p99 >= P99_TARGET) {
            failures.push(format!(
                "p99 time to first block under the flood is {} (target < {}, bound < {})",
                ms(p99),
                ms(P99_TARGET),
                ms(P99_BOUND)
            ));
        }
        if self.max_rss_kib > MAX_RSS_MIB * 1024 {
            failures.push(format!(
                "main node RSS reached {} MiB (bound {MAX_RSS_MIB} MiB)",
                self.max_rss_kib / 1024
            ));
        }
        if self.max_fds > MAX_FDS {
            failures.push(format!(
                "main node open fds reached {} (bound {MAX_FDS})",
                self.max_fds
            ));
        }
        // The flood must have been one: the attacker's connections held open throughout, and
        // the main node's pending set (128) full.
        let conns = self.config.conns as u64;
        if self.held.mean < conns as f64 * 0.9 {
            failures.push(format!(
                "the flood was not held: {:.0} of {conns} attacker sockets open on average",
                self.held.mean
            ));
        }
        if self.established.max < 128 {
            failures.push(format!(
                "the flood did not fill the pending set: at most {} established connections \
                 at the main node",
                self.established.max
            ));
        }
        failures
    }
}

impl fmt::Display for FloodReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (c50, c99) = self.calm_p50_p99();
        let (f50, f99) = self.flooded_p50_p99();
        let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
        writeln!(
            f,
            "flood: {} connections from {} source addresses, {} tries per phase",
            self.config.conns, self.config.sources, self.config.tries
        )?;
        writeln!(
            f,
            "  time to first block (fresh EN, spawn -> exit at block 0):"
        )?;
        writeln!(
            f,
            "    no flood:    p50 {:>9}   p99 {:>9}",
            ms(c50),
            ms(c99)
        )?;
        writeln!(
            f,
            "    under flood: p50 {:>9}   p99 {:>9}   (target p99 < {}: {})",
            ms(f50),
            ms(f99),
            ms(P99_TARGET),
            if self.target_met() { "met" } else { "MISSED" }
        )?;
        writeln!(
            f,
            "    ratio flood/no flood: p50 {:.2}x   p99 {:.2}x",
            ratio(f50, c50),
            ratio(f99, c99)
        )?;
        writeln!(f, "    right after the flood: {}", ms(self.recovered.took))?;
        let mut slow: Vec<&Try> = self.flooded.iter().filter(|t| t.took >= SLOW_TRY).collect();
        slow.sort_by_key(|t| std::cmp::Reverse(t.took));
        for t in slow {
            writeln!(
                f,
                "    slow flooded try: {} ({} SYN retransmit(s), {} failed dial(s) before)",
                ms(t.took),
                t.syn_retransmits,
                t.failed_dials
            )?;
        }
        let retried: u64 = self.flooded.iter().map(|t| t.syn_retransmits).sum();
        let failed: usize = self.flooded.iter().map(|t| t.failed_dials).sum();
        writeln!(
            f,
            "    flooded tries: {retried} SYN retransmit(s), {failed} failed dial(s) in all; \
             the MN's kernel counted {} listen queue overflow(s), {} dropped SYN(s); its \
             accept queue peaked at {} of {}",
            self.listen_overflows, self.listen_drops, self.accept_queue.0, self.accept_queue.1
        )?;
        writeln!(
            f,
            "  connections held (min / mean / max): {} sockets open at the attacker, {} \
             established at the MN's port; the MN closed {:.0} per second",
            self.held, self.established, self.closed_per_sec
        )?;
        writeln!(
            f,
            "  main node: RSS {} MiB at rest, max {} MiB under flood (bound {MAX_RSS_MIB}); \
             fds {} at rest, max {} (bound {MAX_FDS}); max {} TCP sockets in use in its \
             namespace ({} samples)",
            self.rest.rss_kib / 1024,
            self.max_rss_kib / 1024,
            self.rest.fds,
            self.max_fds,
            self.max_inuse,
            self.samples
        )?;
        write!(
            f,
            "  flooded phase lasted {:.1} s",
            self.flood_duration.as_secs_f64()
        )
    }
}

/// The hosts of the flood.
struct Hosts {
    mn: Host,
    en: Host,
    attacker: Host,
}

fn build(bed: &mut Testbed, config: &FloodConfig) -> Result<Hosts> {
    let mn = bed.add_host("mn", Ipv4Addr::new(198, 18, 0, 1))?;
    let en = bed.add_host("en", Ipv4Addr::new(198, 18, 0, 2))?;
    let attacker = bed.add_host("atk", Ipv4Addr::new(198, 18, 0, 3))?;
    bed.add_addresses(&attacker, &attacker_config(config, &mn).source_addrs())?;
    Ok(Hosts { mn, en, attacker })
}

fn attacker_config(config: &FloodConfig, mn: &Host) -> AttackConfig {
    AttackConfig {
        target: SocketAddrV4::new(mn.addr, MN_PORT),
        first_source: Ipv4Addr::new(198, 19, 0, 1),
        sources: config.sources,
        conns: config.conns,
        max_duration: Duration::from_secs(180),
        report_every: Duration::from_millis(50),
    }
}

/// Runs the flood on a fresh testbed.
///
/// # Errors
///
/// When the testbed or a process fails; a missed target or bound is not an error but listed
/// by [`FloodReport::failures`].
pub async fn run(run: &Run, config: FloodConfig) -> Result<FloodReport> {
    let mut bed = Testbed::new()?;
    let hosts = build(&mut bed, &config)?;
    let dir = run.path("flood");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;

    let mn_data = dir.join("mn");
    let mn_log = dir.join("mn.log");
    let mut mn = Proc::spawn(Spawn {
        label: "main node",
        ns: &hosts.mn.ns,
        program: &run.zks,
        args: vec![
            "main-node".into(),
            format!("--data={}", mn_data.display()),
            format!("--addr={}", hosts.mn.addr),
            format!("--port={MN_PORT}"),
            "--produce-blocks=100".into(),
            "--produce-until=1".into(),
        ],
        log: &mn_log,
        stdin: false,
    })?;
    let enode = mn.line_starting("enode: ", START_LIMIT).await?;
    let en = Honest {
        run,
        host: &hosts.en,
        enode: &enode,
        dir: &dir,
    };
    // Block 0 exists and the main node serves it before anything is timed.
    en.first_block("warm-up").await?;

    let mut calm = Vec::with_capacity(config.tries);
    for i in 0..config.tries {
        calm.push(en.first_block(&format!("calm-{i:02}")).await?);
    }
    let rest = stats::proc_usage(mn.pid())?;

    // The flood.
    let attack = attacker_config(&config, &hosts.mn);
    let mut attacker = Proc::spawn(Spawn {
        label: "attacker",
        ns: &hosts.attacker.ns,
        program: &run.exe,
        args: attack.to_args(),
        log: &dir.join("attacker.log"),
        stdin: true,
    })?;
    let attacker_stdin = attacker.take_stdin();
    let (stats_tx, mut stats_rx) = watch::channel(AttackStats::default());
    let Some(mut lines) = attacker.take_stdout() else {
        bail!("the attacker has no stdout");
    };
    let reader = tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(stats) = AttackStats::parse(&line) {
                let _ = stats_tx.send(stats);
            }
        }
    });
    // Sampled from the attacker's first connection on.
    let samples = Arc::new(Mutex::new(Vec::new()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let sampler = tokio::spawn(sample(
        mn.pid(),
        attacker.pid(),
        hosts.mn.ns.clone(),
        Arc::clone(&samples),
        stop_rx,
    ));
    // Full strength: every connection has been opened, and reopened, at least once.
    let full = tokio::time::timeout(
        Duration::from_secs(30),
        stats_rx.wait_for(|s| s.opened >= 2 * config.conns as u64),
    )
    .await
    .map(|r| r.map(drop));
    if !matches!(full, Ok(Ok(()))) {
        return Err(attacker.failure(&format!(
            "did not open {} connections within 30 s (last report: {:?})",
            2 * config.conns,
            *stats_rx.borrow()
        )));
    }

    let mn_netstat = |counter: &str| {
        std::fs::read_to_string(format!("/proc/{}/net/netstat", mn.pid()))
            .map(|text| stats::netstat_counter(&text, counter))
            .context("reading the main node's TCP counters")
    };
    let overflows_before = mn_netstat("TcpExt.ListenOverflows")?;
    let drops_before = mn_netstat("TcpExt.ListenDrops")?;
    let flood_start = Instant::now();
    let closed_before = stats_rx.borrow().closed;
    let mut flooded = Vec::with_capacity(config.tries);
    let every = config.flood_for / config.tries as u32;
    for i in 0..config.tries {
        // Pacing, not synchronisation: try i starts i * `every` into the flood.
        tokio::time::sleep_until((flood_start + every * i as u32).into()).await;
        flooded.push(en.first_block(&format!("flood-{i:02}")).await?);
    }
    let flood_duration = flood_start.elapsed();
    let closed_during = stats_rx.borrow().closed.saturating_sub(closed_before);
    let listen_overflows = mn_netstat("TcpExt.ListenOverflows")?.saturating_sub(overflows_before);
    let listen_drops = mn_netstat("TcpExt.ListenDrops")?.saturating_sub(drops_before);
    let _ = stop_tx.send(true);
    sampler.await.context("the sampler task failed")??;

    // Stop the attacker: its stdin closes, it exits.
    drop(attacker_stdin);
    attacker
        .succeed_within(Duration::from_secs(10))
        .await
        .context("the attacker did not stop when told to")?;
    reader.abort();
    let recovered = en.first_block("after").await?;

    let status = mn.stop(STOP_GRACE).await?;
    if !status.success() {
        return Err(mn.failure(&format!("exited with {status} on SIGTERM")));
    }

    let samples = std::mem::take(&mut *samples.lock().unwrap_or_else(PoisonError::into_inner));
    if samples.is_empty() {
        bail!("no sample of the main node was taken during the flood");
    }
    let flooded_samples = || samples.iter().filter(|s| s.at >= flood_start);
    let report = FloodReport {
        calm,
        flooded,
        rest,
        max_rss_kib: samples.iter().map(|s| s.usage.rss_kib).max().unwrap_or(0),
        max_fds: samples.iter().map(|s| s.usage.fds).max().unwrap_or(0),
        held: Span::of(flooded_samples().map(|s| s.attacker_sock.inuse)),
        established: Span::of(flooded_samples().filter_map(|s| s.established)),
        samples: samples.len(),
        max_inuse: samples.iter().map(|s| s.sock.inuse).max().unwrap_or(0),
        closed_per_sec: closed_during as f64 / flood_duration.as_secs_f64().max(1e-9),
        flood_duration,
        recovered,
        listen_overflows,
        listen_drops,
        accept_queue: (
            flooded_samples()
                .filter_map(|s| s.accept_queue)
                .map(|q| q.0)
                .max()
                .unwrap_or(0),
            samples
                .iter()
                .find_map(|s| s.accept_queue)
                .map_or(0, |q| q.1),
        ),
        config,
    };
    drop(bed);
    Ok(report)
}

/// The honest external node's host and what it dials.
struct Honest<'a> {
    run: &'a Run,
    host: &'a Host,
    enode: &'a str,
    dir: &'a std::path::Path,
}

impl Honest<'_> {
    /// Spawns a fresh external node (fresh data dir, so a fresh node key) with
    /// `--exit-at-block 0` and times it from spawn to its successful exit.
    async fn first_block(&self, label: &str) -> Result<Try> {
        let data = self.dir.join(label);
        let log = self.dir.join(format!("{label}.log"));
        let syn_before = self.syn_retransmits().await?;
        let start = Instant::now();
        let mut en = Proc::spawn(Spawn {
            label,
            ns: &self.host.ns,
            program: &self.run.zks,
            args: vec![
                "external-node".into(),
                format!("--data={}", data.display()),
                format!("--main-node={}", self.enode),
                format!("--addr={}", self.host.addr),
                "--port=0".into(),
                "--exit-at-block=0".into(),
            ],
            log: &log,
            stdin: false,
        })?;
        en.succeed_within(TRY_LIMIT).await?;
        let took = start.elapsed();
        let syn_retransmits = self.syn_retransmits().await?.saturating_sub(syn_before);
        let failed_dials = std::fs::read_to_string(&log)
            .map(|text| text.matches("dial failed").count())
            .unwrap_or(0);
        // Only the files of a failed try, or of a slow one, are kept, for its log.
        let _ = std::fs::remove_dir_all(&data);
        if took < SLOW_TRY {
            let _ = std::fs::remove_file(&log);
        }
        Ok(Try {
            took,
            syn_retransmits,
            failed_dials,
        })
    }

    /// The SYN retransmissions of the honest host's namespace so far.
    async fn syn_retransmits(&self) -> Result<u64> {
        let text = crate::cmd::run_async(
            "ip",
            &["netns", "exec", &self.host.ns, "cat", "/proc/net/netstat"],
        )
        .await
        .context("reading the honest host's TCP counters")?;
        Ok(stats::netstat_counter(&text, "TcpExt.TCPSynRetrans"))
    }
}

/// One timed try of the honest external node.
#[derive(Clone, Copy, Debug)]
pub struct Try {
    /// From spawn to its successful exit at block 0.
    pub took: Duration,
    /// SYNs its host retransmitted meanwhile (a SYN the main node's kernel dropped costs the
    /// 1 s initial retransmission timeout).
    pub syn_retransmits: u64,
    /// Dials it logged as failed (a handshake evicted or timed out) before the one that worked.
    pub failed_dials: usize,
}

/// A try at least this slow keeps its log (`flood/<label>.log`).
const SLOW_TRY: Duration = Duration::from_millis(250);

/// Samples the main node (and the attacker's sockets) every [`SAMPLE_EVERY`] until `stop`.
async fn sample(
    pid: u32,
    attacker: u32,
    ns: String,
    out: Arc<Mutex<Vec<Sample>>>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    let mut n = 0u32;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return Ok(()),
        }
        let (established, accept_queue) = if n.is_multiple_of(SS_EVERY) {
            (
                Some(established(&ns).await?),
                Some(accept_queue(&ns).await?),
            )
        } else {
            (None, None)
        };
        n += 1;
        let sample = Sample {
            at: Instant::now(),
            usage: stats::proc_usage(pid).context("sampling the main node")?,
            sock: stats::sockstat(pid)?,
            attacker_sock: stats::sockstat(attacker).context("sampling the attacker")?,
            established,
            accept_queue,
        };
        out.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(sample);
    }
}

/// Established TCP connections to the RLPx port in `ns`, counted by `ss`.
async fn established(ns: &str) -> Result<u64> {
    let filter = format!("( sport = :{MN_PORT} )");
    let out = crate::cmd::run_async(
        "ip",
        &[
            "netns",
            "exec",
            ns,
            "ss",
            "-Htn",
            "state",
            "established",
            &filter,
        ],
    )
    .await
    .context("counting established connections with ss")?;
    Ok(out.lines().filter(|l| !l.trim().is_empty()).count() as u64)
}

/// The RLPx listener's accept queue in `ns`: (length, capacity), from `ss -l` (its Recv-Q
/// and Send-Q columns).
async fn accept_queue(ns: &str) -> Result<(u64, u64)> {
    let filter = format!("( sport = :{MN_PORT} )");
    let out = crate::cmd::run_async("ip", &["netns", "exec", ns, "ss", "-Hltn", &filter])
        .await
        .context("reading the listener's accept queue with ss")?;
    let mut words = out.split_whitespace().skip(1);
    match (
        words.next().and_then(|w| w.parse().ok()),
        words.next().and_then(|w| w.parse().ok()),
    ) {
        (Some(len), Some(cap)) => Ok((len, cap)),
        _ => bail!("unexpected `ss -l` output: {out:?}"),
    }
}
