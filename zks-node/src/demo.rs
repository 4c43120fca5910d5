//! `zks demo`: in one process, a main node and three external nodes (the first one a verifier,
//! threshold 1) over devp2p on 127.0.0.1 with temporary redb stores. The main node produces
//! synthetic blocks; live progress bars show each external node's height and rate; every
//! `--batch-size` blocks a batch is verified; after `--duration` a summary table is printed.
//!
//! Logs (`RUST_LOG`, default `warn`; `--log-format text|json`) are written between
//! progress-bar redraws, never across them.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing_subscriber::fmt::MakeWriter;
use zks_api::{BlockNumber, Node, RawRecord, ReplaySink, Role, SinkError};
use zks_devp2p::NodeKey;
use zks_verifier::{AcceptedSigners, Eip712CommitBatchesScheme, VerifierKey};
use zks_wire::zksync_os::V3RecordBytes;

use crate::CliError;
use crate::batch::{BatchPlan, BatchScheme, BatchSource, batch_loop};
use crate::cli::{DemoArgs, Generation, LogFormat};
use crate::commands::open_store;
use crate::logging::LogSettings;
use crate::net::{start_error, transport};
use crate::produce::{Produce, now_micros, produce};
use crate::store::{RecordFormat, RedbReplayStore};

const EXTERNAL_NODES: usize = 3;
/// Signatures a batch needs (the demo runs one verifier).
const THRESHOLD: usize = 1;
const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// How long the ENs get to reach the final head after production stops.
const CATCH_UP: Duration = Duration::from_secs(20);

/// Writes each log line while the progress bars are suspended.
#[derive(Clone, Debug)]
struct BarWriter(MultiProgress);

/// One log line, buffered until dropped.
#[derive(Debug)]
struct BarLine {
    bars: MultiProgress,
    buf: Vec<u8>,
}

impl std::io::Write for BarLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for BarLine {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        self.bars.suspend(|| {
            let _ = std::io::stderr().write_all(&buf);
        });
    }
}

impl<'a> MakeWriter<'a> for BarWriter {
    type Writer = BarLine;
    fn make_writer(&'a self) -> BarLine {
        BarLine {
            bars: self.0.clone(),
            buf: Vec::new(),
        }
    }
}

/// What one external node saw: head latency per block, and when it applied.
#[derive(Debug, Default)]
struct Stats {
    latencies_us: Vec<u64>,
    first_apply: Option<Instant>,
    last_apply: Option<Instant>,
}

/// When the main node committed each block (µs since the epoch), from its first block on: the
/// demo runs every node in one process, so external nodes measure latency against it.
#[derive(Debug, Default)]
struct ProductionLog {
    first: BlockNumber,
    times: Vec<u64>,
}

impl ProductionLog {
    fn committed(&mut self, from: BlockNumber, end: BlockNumber, at: u64) {
        if self.times.is_empty() {
            self.first = from;
        }
        self.times.extend(
            (from..end)
                .map(|_| at)
                .take(usize::try_from(end - from).unwrap_or(0)),
        );
    }

    fn produced_at(&self, block: BlockNumber) -> Option<u64> {
        let index = usize::try_from(block.checked_sub(self.first)?).ok()?;
        self.times.get(index).copied()
    }
}

/// The EN's sink: the redb store, measuring produce → apply latency of every block.
#[derive(Debug)]
struct MeasuredSink<R> {
    store: RedbReplayStore<R>,
    produced: Arc<Mutex<ProductionLog>>,
    stats: Arc<Mutex<Stats>>,
}

#[async_trait]
impl<R: BatchSource> ReplaySink for MeasuredSink<R> {
    type Record = R;

    fn resume_block(&self) -> BlockNumber {
        self.store.next_block()
    }

    async fn apply(&self, records: Vec<R>) -> Result<(), SinkError> {
        let produced: Vec<u64> = {
            let log = self.produced.lock().unwrap_or_else(PoisonError::into_inner);
            records
                .iter()
                .filter_map(|r| log.produced_at(r.block_number()))
                .collect()
        };
        ReplaySink::apply(&self.store, records).await?;
        let now = now_micros();
        let at = Instant::now();
        let mut stats = self.stats.lock().unwrap_or_else(PoisonError::into_inner);
        stats
            .latencies_us
            .extend(produced.iter().map(|p| now.saturating_sub(*p)));
        stats.first_apply.get_or_insert(at);
        stats.last_apply = Some(at);
        Ok(())
    }
}

struct ExternalNode<R> {
    name: String,
    verifier: bool,
    store: RedbReplayStore<R>,
    stats: Arc<Mutex<Stats>>,
    node: Node,
    bar: ProgressBar,
}

#[derive(Debug, Default)]
struct Batches {
    submitted: u64,
    verified: u64,
    latencies_ms: Vec<f64>,
}

fn percentile<T: Copy + PartialOrd>(sorted: &[T], p: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted.get(rank.min(sorted.len() - 1)).copied()
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
        // Whole blocks per second and a rounded ETA, not indicatif's full-precision float.
        .with_key(
            "rate",
            |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{} blk/s", human_rate(state.per_sec()));
            },
        )
}

/// `489.1` → `489`, `12345.6` → `12.3k`.
fn human_rate(per_sec: f64) -> String {
    if !per_sec.is_finite() || per_sec < 0.0 {
        "-".to_owned()
    } else if per_sec >= 10_000.0 {
        format!("{:.1}k", per_sec / 1000.0)
    } else {
        format!("{per_sec:.0}")
    }
}

/// Runs the demo.
///
/// # Errors
///
/// One line when a node cannot start, or when an external node did not reach the head.
pub async fn run(args: DemoArgs, log_format: LogFormat) -> Result<(), CliError> {
    match args.generation {
        Generation::Current => {
            let format = RecordFormat::ZksyncOsV3 {
                chain_id: args.chain_id,
            };
            let scheme = BatchScheme::Eip712(Eip712CommitBatchesScheme::new(
                DEMO_L1_CHAIN_ID,
                DEMO_VALIDATOR_TIMELOCK,
                DEMO_CHAIN_ADDRESS,
            ));
            run_with::<V3RecordBytes>(args, log_format, format, scheme).await
        }
        Generation::Seed => {
            run_with::<RawRecord>(args, log_format, RecordFormat::StandIn, BatchScheme::Zks).await
        }
    }
}

/// The L1 of the demo's EIP-712 domain (a local L1's chain id).
const DEMO_L1_CHAIN_ID: u64 = 31_337;
/// The demo's validator timelock (the domain's verifying contract): a made-up address.
const DEMO_VALIDATOR_TIMELOCK: [u8; 20] = [0x11; 20];
/// The demo chain's diamond proxy (the message's chain address): a made-up address.
const DEMO_CHAIN_ADDRESS: [u8; 20] = [0x22; 20];

/// The demo with records of `format` (v3 records of the chain, or stand-ins), batches signed
/// under `scheme`.
async fn run_with<R: Produce + BatchSource>(
    args: DemoArgs,
    log_format: LogFormat,
    format: RecordFormat,
    scheme: BatchScheme,
) -> Result<(), CliError> {
    let bars = MultiProgress::new();
    crate::logging::init(
        LogSettings {
            format: log_format,
            colour: crate::logging::stderr_wants_colour(),
            default_filter: "warn",
        },
        BarWriter(bars.clone()),
    );
    if let Some(addr) = args.metrics {
        crate::metrics::install(addr)?;
    }
    if !(args.rate > 0.0 && args.rate.is_finite()) {
        return Err(format!("--rate must be positive, got {}", args.rate));
    }
    let tmp = tempfile::Builder::new()
        .prefix("zks-demo-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?;

    // The main node, accepting one verifier.
    let verifier_key = VerifierKey::generate();
    let signers: AcceptedSigners = [verifier_key.address()].into_iter().collect();
    let mn_store: RedbReplayStore<R> =
        open_store(&tmp.path().join("mn"), Role::MainNode, format, false).map_err(|f| f.message)?;
    let chain_id = format.chain_id();
    let mn_transport = transport(NodeKey::generate(), LOOPBACK, 0, chain_id)?;
    let mn = Node::builder(mn_transport.clone())
        .main_node(mn_store.clone())
        .verifier_authenticator(signers.clone())
        .start()
        .await
        .map_err(|e| start_error((LOOPBACK, 0).into(), &e))?;
    let mn = Arc::new(mn);
    let enode = mn_transport
        .local_enode()
        .ok_or("the main node is not listening")?
        .to_string();
    if args.metrics.is_some() {
        let head = mn_store.clone();
        tokio::spawn(crate::metrics::record_events(
            mn.events(),
            Some(Arc::new(move || head.next_block())),
        ));
    }

    let mn_bar = bars.add(ProgressBar::new_spinner());
    mn_bar.set_style(style(
        "{prefix:>6} {spinner} head {pos} blocks ({rate})  {msg}",
    ));
    mn_bar.set_prefix("mn");
    mn_bar.enable_steady_tick(Duration::from_millis(120));
    let _ = bars.println(format!(
        "zks demo: main node {} and {EXTERNAL_NODES} external nodes on 127.0.0.1, {} generation ({}, {format}), {} blocks/s for {}",
        short(&enode),
        args.generation,
        args.generation.capabilities(true),
        args.rate,
        humantime::format_duration(args.duration)
    ));
    let produced = Arc::new(Mutex::new(ProductionLog::default()));

    // Three external nodes; the first is a verifier.
    let mut ens = Vec::with_capacity(EXTERNAL_NODES);
    for i in 1..=EXTERNAL_NODES {
        let name = format!("en-{i}");
        let verifier = i == 1;
        let store: RedbReplayStore<R> =
            open_store(&tmp.path().join(&name), Role::ExternalNode, format, false)
                .map_err(|f| f.message)?;
        let stats = Arc::new(Mutex::new(Stats::default()));
        let sink = MeasuredSink {
            store: store.clone(),
            produced: Arc::clone(&produced),
            stats: Arc::clone(&stats),
        };
        let mut builder = Node::builder(transport(NodeKey::generate(), LOOPBACK, 0, chain_id)?)
            .capabilities(args.generation.capabilities(verifier))
            .external_node(sink)
            .trusted_main_node(enode.as_str());
        if verifier {
            let checks = R::verifier(verifier_key.clone(), &scheme, store.clone())?;
            builder = builder.verifier(verifier_key.clone(), checks);
        }
        let node = builder
            .start()
            .await
            .map_err(|e| start_error((LOOPBACK, 0).into(), &e))?;
        let bar = bars.add(ProgressBar::new(0));
        bar.set_style(style(
            "{prefix:>6} [{bar:36.cyan/blue}] {pos:>7}/{len:7} blocks  {rate:>12}  eta {eta}  {msg}",
        ));
        bar.set_prefix(name.clone());
        if verifier {
            bar.set_message("verifier");
        }
        ens.push(ExternalNode {
            name,
            verifier,
            store,
            stats,
            node,
            bar,
        });
    }

    // Production, batches, and the bars' refresher.
    let (stop_tx, stop) = watch::channel(false);
    // Batches stop only after the producer's last commit, so the last batch is not missed.
    let (batch_stop_tx, batch_stop) = watch::channel(false);
    let started = Instant::now();
    let producer = {
        let produced = Arc::clone(&produced);
        tokio::spawn(produce(
            mn_store.clone(),
            args.rate,
            None,
            stop.clone(),
            move |from, end, at| {
                produced
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .committed(from, end, at);
            },
        ))
    };
    let batches = Arc::new(Mutex::new(Batches::default()));
    let batch_task = {
        let batches = Arc::clone(&batches);
        let mn_bar = mn_bar.clone();
        tokio::spawn(batch_loop(
            Arc::clone(&mn),
            mn_store.clone(),
            BatchPlan {
                signers: signers.clone(),
                threshold: THRESHOLD,
                size: args.batch_size,
                scheme: scheme.clone(),
                // The demo reports every batch, so one that gets no quorum must end.
                quorum_timeout: Some(Duration::from_secs(15)),
            },
            batch_stop,
            move |outcome| {
                let mut b = batches.lock().unwrap_or_else(PoisonError::into_inner);
                b.submitted += 1;
                let ms = outcome.elapsed.as_secs_f64() * 1000.0;
                let line = match &outcome.result {
                    Ok(quorum) => {
                        b.verified += 1;
                        b.latencies_ms.push(ms);
                        format!(
                            "batch #{} (blocks ..={}) quorum {}/{} in {ms:.1} ms",
                            outcome.number,
                            outcome.last_block,
                            quorum.signatures.len(),
                            THRESHOLD
                        )
                    }
                    Err(e) => format!("batch #{} NOT verified: {e}", outcome.number),
                };
                mn_bar.set_message(format!("{line}  [{}/{} verified]", b.verified, b.submitted));
            },
        ))
    };
    let refresh = |ens: &[ExternalNode<R>]| {
        let head = mn_store.next_block();
        mn_bar.set_position(head);
        for en in ens {
            en.bar.set_length(head);
            en.bar.set_position(en.store.next_block());
        }
    };

    let deadline = started + args.duration;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut producer = producer;
    let production = loop {
        tokio::select! {
            _ = tick.tick() => refresh(&ens),
            () = tokio::time::sleep_until(deadline) => break Ok(()),
            done = &mut producer => break match done {
                Ok(Err(e)) => Err(e),
                _ => Err("the block producer stopped".to_owned()),
            },
        }
    };
    let _ = stop_tx.send(true);
    let _ = (&mut producer).await;
    let _ = batch_stop_tx.send(true);
    production?;
    let produced_for = started.elapsed();
    let head = mn_store.next_block();

    // Let every EN reach the final head, then the last batches finish.
    let catch_up = Instant::now() + CATCH_UP;
    while Instant::now() < catch_up && ens.iter().any(|en| en.store.next_block() < head) {
        refresh(&ens);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    refresh(&ens);
    let _ = tokio::time::timeout(CATCH_UP, batch_task).await;
    mn_bar.finish();
    for en in &ens {
        en.bar.finish();
    }

    // Summary.
    let mut out = String::new();
    let secs = produced_for.as_secs_f64();
    out.push_str(&format!(
        "\nzks demo summary: {secs:.1} s of production at {} blocks/s; main node head {head} (blocks {}..={})\n\n",
        args.rate,
        format.first_block(),
        head.saturating_sub(1)
    ));
    out.push_str(&format!(
        "{:<6} {:<24} {:>8} {:>14} {:>12} {:>12} {:>8}  {}\n",
        "node", "role", "blocks", "throughput", "latency p50", "latency p99", "at head", "link"
    ));
    out.push_str(&format!(
        "{:<6} {:<24} {:>8} {:>14} {:>12} {:>12} {:>8}  {}\n",
        "mn",
        "main node",
        head,
        format!("{:.1} blk/s", head as f64 / secs.max(1e-9)),
        "-",
        "-",
        "-",
        zks_api::wire::Capabilities {
            zks: zks_api::wire::VersionSet::ALL.intersection(R::VERSIONS),
            zks_2fa: Some(zks_api::wire::TwoFaVersion::V1),
        }
    ));
    let mut all_at_head = true;
    for en in &ens {
        let blocks = en.store.next_block();
        let at_head = blocks >= head;
        all_at_head &= at_head;
        let mut stats = en.stats.lock().unwrap_or_else(PoisonError::into_inner);
        stats.latencies_us.sort_unstable();
        let fmt_ms =
            |v: Option<u64>| v.map_or("-".to_owned(), |us| format!("{:.1} ms", us as f64 / 1000.0));
        let span = match (stats.first_apply, stats.last_apply) {
            (Some(a), Some(b)) if b > a => (b - a).as_secs_f64(),
            _ => secs,
        };
        out.push_str(&format!(
            "{:<6} {:<24} {:>8} {:>14} {:>12} {:>12} {:>8}  {}\n",
            en.name,
            if en.verifier {
                "external node, verifier"
            } else {
                "external node"
            },
            blocks,
            format!("{:.1} blk/s", blocks as f64 / span.max(1e-9)),
            fmt_ms(percentile(&stats.latencies_us, 0.50)),
            fmt_ms(percentile(&stats.latencies_us, 0.99)),
            if at_head { "yes" } else { "NO" },
            en.node
                .sessions()
                .first()
                .map_or("-".to_owned(), |s| s.info.caps.to_string())
        ));
    }
    {
        let mut b = batches.lock().unwrap_or_else(PoisonError::into_inner);
        b.latencies_ms.sort_by(f64::total_cmp);
        let p50 = percentile(&b.latencies_ms, 0.5).map_or("-".to_owned(), |v| format!("{v:.1} ms"));
        out.push_str(&format!(
            "\nbatches verified: {}/{} (every {} blocks, threshold {THRESHOLD} of {} verifier{}, quorum p50 {p50})\n",
            b.verified,
            b.submitted,
            args.batch_size,
            signers.len(),
            if signers.len() == 1 { "" } else { "s" }
        ));
    }
    out.push_str(&format!(
        "all external nodes at the main node's head: {}\n",
        if all_at_head { "yes" } else { "NO" }
    ));
    print!("{out}");
    let _ = std::io::stdout().flush();

    for en in ens {
        en.node.shutdown().await;
    }
    if let Ok(mn) = Arc::try_unwrap(mn) {
        mn.shutdown().await;
    }
    drop_dir(tmp.path());
    if all_at_head {
        Ok(())
    } else {
        Err("not every external node reached the main node's head".to_owned())
    }
}

fn short(enode: &str) -> String {
    match (enode.get(..18), enode.rsplit_once('@')) {
        (Some(head), Some((_, addr))) => format!("{head}…@{addr}"),
        _ => enode.to_owned(),
    }
}

/// Best effort: the temporary directory is removed when dropped as well.
fn drop_dir(path: &Path) {
    let _ = std::fs::remove_dir_all(path);
}

#[cfg(test)]
mod tests {
    use super::human_rate;

    #[test]
    fn rates_are_whole_or_thousands() {
        assert_eq!(human_rate(489.137_251_656_607), "489");
        assert_eq!(human_rate(12_345.6), "12.3k");
        assert_eq!(human_rate(0.0), "0");
        assert_eq!(human_rate(f64::NAN), "-");
    }
}
