//! `zks bench versus-reth`: zks-devp2p beside reth's own RLPx stack, in interleaved rounds.
//!
//! Each run is its own process — `zks bench per-message` for zks, the same with
//! `--codec-only` for zks's codec with no link around it, reth's runner (`zks-reth/bench`,
//! `reth-rlpx-bench`) for reth — so none inherits another's heap or threads; all send the same
//! message bodies (written to a file the runner reads) one message per send, with two tokio
//! workers, and report process CPU per MiB and MiB/s. Each round runs all three, in an order
//! that rotates (zks codec reth, codec reth zks, reth zks codec, …) so a neighbour that comes or
//! goes weighs on every side; each ratio is the median of the rounds' ratios, printed with the
//! spread of those ratios and of each side, and judged only when the rounds agree closely
//! enough.
//!
//! The codec-alone side is the bound under the link: where it misses the CPU target too, no
//! work on the link's queues and tasks can meet it — what is left is the per-byte work the
//! protocol fixes (keccak MAC, AES-CTR, Snappy), the same primitives reth runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use crate::loadavg;
use crate::per_message::{PerMessageRun, Shape};
use crate::stats::median_spread;
use crate::{BenchError, stats};

/// Interquartile spread of the rounds' ratios (over their median) above which a ratio is not
/// judged.
pub const MAX_SPREAD: f64 = 0.20;
/// Target: zks CPU per MiB at most this share of reth's, on every shape.
pub const CPU_TARGET: f64 = 0.85;
/// Target: zks throughput at least this multiple of reth's.
pub const THROUGHPUT_TARGET: f64 = 1.1;

/// What [`versus`] runs.
#[derive(Clone, Debug)]
pub struct VersusOptions {
    /// The `zks` binary (its `bench per-message` mode).
    pub zks: PathBuf,
    /// reth's runner.
    pub reth_runner: PathBuf,
    /// Rounds per shape (each runs zks, its codec alone and reth) (at least 3).
    pub rounds: usize,
    /// MiB of bodies per run.
    pub mib: u64,
    /// The shapes, in order.
    pub shapes: Vec<Shape>,
    /// Where the body files go.
    pub work_dir: PathBuf,
}

/// One side's runs of one shape.
#[derive(Clone, Debug, Serialize)]
pub struct Side {
    /// Every run, in order.
    pub runs: Vec<PerMessageRun>,
    /// Median CPU ms per MiB.
    pub cpu_ms_per_mib: f64,
    /// Interquartile spread of the CPU per MiB, over its median.
    pub cpu_spread: f64,
    /// Median MiB/s.
    pub mib_per_s: f64,
    /// Interquartile spread of the MiB/s, over its median.
    pub mib_spread: f64,
}

/// One shape, every side.
#[derive(Clone, Debug, Serialize)]
pub struct VersusRow {
    /// The shape.
    pub shape: Shape,
    /// Body bytes of its first message.
    pub body_bytes: usize,
    /// zks-devp2p.
    pub zks: Side,
    /// zks-devp2p's codec with no link around it (`per-message --codec-only`).
    pub codec: Side,
    /// reth.
    pub reth: Side,
    /// zks CPU per MiB / reth's, the median over the rounds (lower is better).
    pub cpu_ratio: f64,
    /// Interquartile spread of the rounds' CPU ratios, over their median.
    pub cpu_ratio_spread: f64,
    /// zks MiB/s / reth's, the median over the rounds.
    pub throughput_ratio: f64,
    /// Interquartile spread of the rounds' throughput ratios, over their median.
    pub throughput_ratio_spread: f64,
    /// CPU target met; `None` when a spread is too wide to judge.
    pub cpu_met: Option<bool>,
    /// Throughput target met; `None` when a spread is too wide to judge.
    pub throughput_met: Option<bool>,
    /// The codec alone's CPU per MiB / reth's, the median over the rounds.
    pub codec_cpu_ratio: f64,
    /// Interquartile spread of those ratios, over their median.
    pub codec_cpu_ratio_spread: f64,
    /// The codec alone misses the CPU target too (its ratios within [`MAX_SPREAD`]): no change
    /// to the link can meet it.
    pub cpu_out_of_reach: bool,
}

/// The whole comparison.
#[derive(Clone, Debug, Serialize)]
pub struct VersusReport {
    /// Load average before the first run.
    pub loadavg_start: String,
    /// Load average after the last.
    pub loadavg_end: String,
    /// Rounds per shape.
    pub rounds: usize,
    /// MiB per run.
    pub mib: u64,
    /// One row per shape.
    pub rows: Vec<VersusRow>,
}

/// Runs the comparison (blocking: it waits for child processes).
///
/// # Errors
///
/// A body file that cannot be written, a child that fails or prints no run.
pub fn versus(opts: &VersusOptions) -> Result<VersusReport, BenchError> {
    let rounds = opts.rounds.max(3);
    let loadavg_start = loadavg();
    let mut rows = Vec::new();
    for &shape in &opts.shapes {
        let bodies = shape.bodies(42)?;
        let file = opts.work_dir.join(format!("bodies-{}.bin", shape.name()));
        write_bodies(&file, &bodies)?;
        let (mut zks, mut codec, mut reth) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..rounds {
            for side in rotation(round) {
                match side {
                    Who::Zks => zks.push(run_zks(&opts.zks, shape, opts.mib, false)?),
                    Who::Codec => codec.push(run_zks(&opts.zks, shape, opts.mib, true)?),
                    Who::Reth => reth.push(run_reth(&opts.reth_runner, &file, opts.mib)?),
                }
            }
        }
        let _ = std::fs::remove_file(&file);
        rows.push(row(
            shape,
            bodies.first().map_or(0, bytes::Bytes::len),
            zks,
            codec,
            reth,
        ));
    }
    Ok(VersusReport {
        loadavg_start,
        loadavg_end: loadavg(),
        rounds,
        mib: opts.mib,
        rows,
    })
}

/// A side of the comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Zks,
    Codec,
    Reth,
}

/// The order of round `round`: each side goes first, second and third once every three rounds.
fn rotation(round: usize) -> [Who; 3] {
    match round % 3 {
        0 => [Who::Zks, Who::Codec, Who::Reth],
        1 => [Who::Codec, Who::Reth, Who::Zks],
        _ => [Who::Reth, Who::Zks, Who::Codec],
    }
}

/// One shape's row from its runs (index `i` of each side ran in round `i`): each ratio is the
/// median of the rounds' ratios, judged only when their spread is within [`MAX_SPREAD`].
fn row(
    shape: Shape,
    body_bytes: usize,
    zks: Vec<PerMessageRun>,
    codec: Vec<PerMessageRun>,
    reth: Vec<PerMessageRun>,
) -> VersusRow {
    let ratios = |a: &[PerMessageRun], field: fn(&PerMessageRun) -> f64| {
        median_spread(
            a.iter()
                .zip(&reth)
                .map(|(x, r)| stats::ratio(field(x), field(r))),
        )
    };
    let cpu = |r: &PerMessageRun| r.cpu_ms_per_mib;
    let (cpu_ratio, cpu_ratio_spread) = ratios(&zks, cpu);
    let (throughput_ratio, throughput_ratio_spread) = ratios(&zks, |r| r.mib_per_s);
    let (codec_cpu_ratio, codec_cpu_ratio_spread) = ratios(&codec, cpu);
    VersusRow {
        shape,
        body_bytes,
        cpu_met: judged(cpu_ratio_spread, cpu_ratio <= CPU_TARGET),
        throughput_met: judged(
            throughput_ratio_spread,
            throughput_ratio >= THROUGHPUT_TARGET,
        ),
        cpu_out_of_reach: judged(codec_cpu_ratio_spread, codec_cpu_ratio > CPU_TARGET)
            == Some(true),
        zks: side(zks),
        codec: side(codec),
        reth: side(reth),
        cpu_ratio,
        cpu_ratio_spread,
        throughput_ratio,
        throughput_ratio_spread,
        codec_cpu_ratio,
        codec_cpu_ratio_spread,
    }
}

/// `met`, when the ratios behind it spread within [`MAX_SPREAD`]; else not judged.
fn judged(spread: f64, met: bool) -> Option<bool> {
    (spread <= MAX_SPREAD).then_some(met)
}

/// Writes `bodies` as the runner reads them: `[u32 LE length][bytes]` each.
///
/// # Errors
///
/// [`BenchError::Io`] when the file cannot be written.
pub fn write_bodies(path: &Path, bodies: &[bytes::Bytes]) -> Result<(), BenchError> {
    let mut out = Vec::with_capacity(bodies.iter().map(|b| b.len() + 4).sum());
    for body in bodies {
        let len = u32::try_from(body.len())
            .map_err(|_| BenchError::transport("body file", "a body over 4 GiB"))?;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(body);
    }
    std::fs::write(path, out).map_err(BenchError::io("write body file"))
}

fn run_zks(
    zks: &Path,
    shape: Shape,
    mib: u64,
    codec_only: bool,
) -> Result<PerMessageRun, BenchError> {
    let mut cmd = Command::new(zks);
    cmd.args(["bench", "per-message", "--shape", shape.name(), "--mib"])
        .arg(mib.to_string())
        .args(["--workers", "2"]);
    if codec_only {
        cmd.arg("--codec-only");
    }
    run_child(cmd, "zks bench per-message")
}

fn run_reth(runner: &Path, bodies: &Path, mib: u64) -> Result<PerMessageRun, BenchError> {
    let mut cmd = Command::new(runner);
    cmd.arg("--bodies")
        .arg(bodies)
        .arg("--mib")
        .arg(mib.to_string())
        .args(["--workers", "2"]);
    run_child(cmd, "reth runner")
}

/// Runs a child to completion and parses the one JSON line it prints.
fn run_child(mut cmd: Command, what: &'static str) -> Result<PerMessageRun, BenchError> {
    let out = cmd
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(BenchError::io(what))?;
    if !out.status.success() {
        return Err(BenchError::transport(
            what,
            format!("exited with {}", out.status),
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or_else(|| BenchError::transport(what, "printed no JSON line"))?;
    serde_json::from_str(line).map_err(|e| BenchError::transport(what, e))
}

/// Medians and spreads of one side's runs.
fn side(runs: Vec<PerMessageRun>) -> Side {
    let (cpu_ms_per_mib, cpu_spread) = median_spread(runs.iter().map(|r| r.cpu_ms_per_mib));
    let (mib_per_s, mib_spread) = median_spread(runs.iter().map(|r| r.mib_per_s));
    Side {
        runs,
        cpu_ms_per_mib,
        cpu_spread,
        mib_per_s,
        mib_spread,
    }
}

impl VersusReport {
    /// The comparison as Markdown.
    pub fn to_table(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "zks-devp2p vs reth v2.5.0 RLPx — one message per send, {} MiB per run, {} rounds per shape (zks, codec alone, reth in rotating order), load average {} → {}\n",
            self.mib, self.rounds, self.loadavg_start, self.loadavg_end
        );
        out.push_str("| message | body B | CPU ms/MiB zks | codec alone | reth | zks / reth (≤ 0.85) | codec alone / reth | MiB/s zks | reth | zks / reth (≥ 1.1) | spread of round ratios CPU / MiB/s | spread CPU zks / codec / reth | spread MiB/s zks / reth |\n");
        out.push_str("|---|---:|---:|---:|---:|---|---:|---:|---:|---|---:|---:|---:|\n");
        let verdict = |ratio: f64, met: Option<bool>| match met {
            Some(true) => format!("{ratio:.2} met"),
            Some(false) => format!("{ratio:.2} MISSED"),
            None => format!("{ratio:.2} (spread too wide to judge)"),
        };
        let pct = |x: f64| format!("{:.0} %", x * 100.0);
        for r in &self.rows {
            let mut cpu = verdict(r.cpu_ratio, r.cpu_met);
            if r.cpu_out_of_reach && r.cpu_met != Some(true) {
                cpu.push_str(" — out of the link's reach: the codec alone misses it too");
            }
            let _ = writeln!(
                out,
                "| {} | {} | {:.2} | {:.2} | {:.2} | {cpu} | {:.2} ± {} | {:.1} | {:.1} | {} | {} / {} | {} / {} / {} | {} / {} |",
                r.shape.describe(),
                r.body_bytes,
                r.zks.cpu_ms_per_mib,
                r.codec.cpu_ms_per_mib,
                r.reth.cpu_ms_per_mib,
                r.codec_cpu_ratio,
                pct(r.codec_cpu_ratio_spread),
                r.zks.mib_per_s,
                r.reth.mib_per_s,
                verdict(r.throughput_ratio, r.throughput_met),
                pct(r.cpu_ratio_spread),
                pct(r.throughput_ratio_spread),
                pct(r.zks.cpu_spread),
                pct(r.codec.cpu_spread),
                pct(r.reth.cpu_spread),
                pct(r.zks.mib_spread),
                pct(r.reth.mib_spread),
            );
        }
        if let Some(first) = self.rows.first() {
            let impls = |runs: &[PerMessageRun]| {
                runs.first()
                    .map(|r| format!("keccak {}, {}", r.keccak, r.snappy))
                    .unwrap_or_default()
            };
            let _ = writeln!(
                out,
                "\nzks: {}; reth: {}. Each ratio is the median of the rounds' ratios (every side ran once per round, in rotating order), judged only when their spread is ≤ {:.0} %. *codec alone*: zks-devp2p's framing, MAC, AES and Snappy with no link around them (`per-message --codec-only`), the bound under any work on the link.",
                impls(&first.zks.runs),
                impls(&first.reth.runs),
                MAX_SPREAD * 100.0
            );
        }
        out
    }

    /// The comparison as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(cpu_ms_per_mib: f64, mib_per_s: f64) -> PerMessageRun {
        PerMessageRun {
            implementation: "x".into(),
            messages: 1,
            payload_bytes: 1 << 20,
            seconds: 1.0 / mib_per_s,
            cpu_seconds: cpu_ms_per_mib / 1e3,
            cpu_ms_per_mib,
            mib_per_s,
            keccak: "k".into(),
            snappy: "s".into(),
        }
    }

    #[test]
    fn every_side_runs_first_second_and_third_once_in_three_rounds() {
        for who in [Who::Zks, Who::Codec, Who::Reth] {
            let mut places: Vec<usize> = (0..3)
                .map(|round| rotation(round).iter().position(|w| *w == who).unwrap())
                .collect();
            places.sort_unstable();
            assert_eq!(places, [0, 1, 2], "{who:?}");
        }
        assert_eq!(rotation(3), rotation(0));
    }

    #[test]
    fn ratios_are_medians_of_the_rounds_and_a_target_the_codec_misses_is_out_of_reach() {
        // Round 2 ran in a loaded moment for everyone: the ratios of its round stay in line.
        let reth = vec![run(10.0, 100.0), run(10.0, 100.0), run(20.0, 50.0)];
        let zks = vec![run(10.0, 100.0), run(10.2, 98.0), run(20.0, 50.0)];
        let codec = vec![run(9.0, 110.0), run(9.4, 105.0), run(18.0, 55.0)];
        let row = row(Shape::Random16k, 16_384, zks, codec, reth);
        assert!((row.cpu_ratio - 1.0).abs() < 1e-9, "{}", row.cpu_ratio);
        assert!((row.throughput_ratio - 1.0).abs() < 1e-9);
        assert!(
            (row.codec_cpu_ratio - 0.9).abs() < 1e-9,
            "{}",
            row.codec_cpu_ratio
        );
        assert_eq!(row.cpu_met, Some(false));
        assert_eq!(row.throughput_met, Some(false));
        assert!(row.cpu_out_of_reach);
        assert!((row.zks.cpu_ms_per_mib - 10.2).abs() < 1e-9);
        let table = VersusReport {
            loadavg_start: "0".into(),
            loadavg_end: "0".into(),
            rounds: 3,
            mib: 1,
            rows: vec![row],
        }
        .to_table();
        assert!(
            table.contains("1.00 MISSED — out of the link's reach: the codec alone misses it too"),
            "{table}"
        );

        // A codec well under the target leaves the link's share to win: not out of reach.
        let reth = vec![run(10.0, 100.0); 3];
        let codec = vec![run(8.0, 120.0); 3];
        let near = super::row(
            Shape::Random256,
            256,
            vec![run(10.0, 100.0); 3],
            codec,
            reth,
        );
        assert_eq!(near.cpu_met, Some(false));
        assert!(!near.cpu_out_of_reach);
    }

    #[test]
    fn a_codec_too_noisy_to_judge_does_not_declare_a_target_out_of_reach() {
        let reth = vec![run(10.0, 100.0); 4];
        let codec = vec![run(9.0, 1.0), run(14.0, 1.0), run(6.0, 1.0), run(12.0, 1.0)];
        let noisy = row(Shape::V3One, 8_839, vec![run(10.0, 100.0); 4], codec, reth);
        assert!(noisy.codec_cpu_ratio_spread > MAX_SPREAD);
        assert!(!noisy.cpu_out_of_reach);
    }

    #[test]
    fn the_body_file_is_length_prefixed_little_endian() {
        let dir = std::env::temp_dir().join(format!("zks-versus-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("b.bin");
        write_bodies(
            &path,
            &[
                bytes::Bytes::from_static(b"ab"),
                bytes::Bytes::from_static(b"c"),
            ],
        )
        .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"\x02\0\0\0ab\x01\0\0\0c");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
