//! `zks bench versus-reth`: zks-devp2p beside reth's own RLPx stack, in interleaved rounds.
//!
//! Each run is its own process — `zks bench per-message` for zks, reth's runner
//! (`zks-reth/bench`, `reth-rlpx-bench`) for reth — so neither inherits the other's heap or
//! threads; both send the same message bodies (written to a file the runner reads) one message
//! per send, with two tokio workers, and report process CPU per MiB and MiB/s. The rounds
//! alternate (zks, reth, reth, zks, …) so a neighbour that comes or goes weighs on both sides;
//! each ratio is the median of the pairs' ratios (each pair ran back to back), printed with the
//! spread of those ratios and of each side, and judged only when the pairs agree closely enough.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use crate::loadavg;
use crate::per_message::{PerMessageRun, Shape};
use crate::stats::median_spread;
use crate::{BenchError, stats};

/// Interquartile spread of the pairs' ratios (over their median) above which a ratio is not
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
    /// Pairs of runs per shape (at least 3).
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

/// One shape, both sides.
#[derive(Clone, Debug, Serialize)]
pub struct VersusRow {
    /// The shape.
    pub shape: Shape,
    /// Body bytes of its first message.
    pub body_bytes: usize,
    /// zks-devp2p.
    pub zks: Side,
    /// reth.
    pub reth: Side,
    /// zks CPU per MiB / reth's, the median over the pairs (lower is better).
    pub cpu_ratio: f64,
    /// Interquartile spread of the pairs' CPU ratios, over their median.
    pub cpu_ratio_spread: f64,
    /// zks MiB/s / reth's, the median over the pairs.
    pub throughput_ratio: f64,
    /// Interquartile spread of the pairs' throughput ratios, over their median.
    pub throughput_ratio_spread: f64,
    /// CPU target met; `None` when a spread is too wide to judge.
    pub cpu_met: Option<bool>,
    /// Throughput target met; `None` when a spread is too wide to judge.
    pub throughput_met: Option<bool>,
}

/// The whole comparison.
#[derive(Clone, Debug, Serialize)]
pub struct VersusReport {
    /// Load average before the first run.
    pub loadavg_start: String,
    /// Load average after the last.
    pub loadavg_end: String,
    /// Pairs per shape.
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
        let mut zks = Vec::new();
        let mut reth = Vec::new();
        for round in 0..rounds {
            let zks_run = || run_zks(&opts.zks, shape, opts.mib);
            let reth_run = || run_reth(&opts.reth_runner, &file, opts.mib);
            // zks reth | reth zks | …: each side goes first as often as the other.
            if round % 2 == 0 {
                zks.push(zks_run()?);
                reth.push(reth_run()?);
            } else {
                reth.push(reth_run()?);
                zks.push(zks_run()?);
            }
        }
        let _ = std::fs::remove_file(&file);
        // Each pair ran back to back: the median of the pairs' ratios, and their spread.
        let (cpu_ratio, cpu_ratio_spread) = median_spread(
            zks.iter()
                .zip(&reth)
                .map(|(z, r)| stats::ratio(z.cpu_ms_per_mib, r.cpu_ms_per_mib)),
        );
        let (throughput_ratio, throughput_ratio_spread) = median_spread(
            zks.iter()
                .zip(&reth)
                .map(|(z, r)| stats::ratio(z.mib_per_s, r.mib_per_s)),
        );
        let (zks, reth) = (side(zks), side(reth));
        rows.push(VersusRow {
            shape,
            body_bytes: bodies.first().map_or(0, bytes::Bytes::len),
            cpu_met: (cpu_ratio_spread <= MAX_SPREAD).then_some(cpu_ratio <= CPU_TARGET),
            throughput_met: (throughput_ratio_spread <= MAX_SPREAD)
                .then_some(throughput_ratio >= THROUGHPUT_TARGET),
            zks,
            reth,
            cpu_ratio,
            cpu_ratio_spread,
            throughput_ratio,
            throughput_ratio_spread,
        });
    }
    Ok(VersusReport {
        loadavg_start,
        loadavg_end: loadavg(),
        rounds,
        mib: opts.mib,
        rows,
    })
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

fn run_zks(zks: &Path, shape: Shape, mib: u64) -> Result<PerMessageRun, BenchError> {
    let mut cmd = Command::new(zks);
    cmd.args(["bench", "per-message", "--shape", shape.name(), "--mib"])
        .arg(mib.to_string())
        .args(["--workers", "2"]);
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
            "zks-devp2p vs reth v2.5.0 RLPx — one message per send, {} MiB per run, {} interleaved pairs per shape, load average {} → {}\n",
            self.mib, self.rounds, self.loadavg_start, self.loadavg_end
        );
        out.push_str("| message | body B | CPU ms/MiB zks | reth | zks / reth (≤ 0.85) | MiB/s zks | reth | zks / reth (≥ 1.1) | spread of pair ratios CPU / MiB/s | spread CPU zks / reth | spread MiB/s zks / reth |\n");
        out.push_str("|---|---:|---:|---:|---|---:|---:|---|---:|---:|---:|\n");
        let verdict = |ratio: f64, met: Option<bool>| match met {
            Some(true) => format!("{ratio:.2} met"),
            Some(false) => format!("{ratio:.2} MISSED"),
            None => format!("{ratio:.2} (spread too wide to judge)"),
        };
        for r in &self.rows {
            let _ = writeln!(
                out,
                "| {} | {} | {:.2} | {:.2} | {} | {:.1} | {:.1} | {} | {:.0} % / {:.0} % | {:.0} % / {:.0} % | {:.0} % / {:.0} % |",
                r.shape.describe(),
                r.body_bytes,
                r.zks.cpu_ms_per_mib,
                r.reth.cpu_ms_per_mib,
                verdict(r.cpu_ratio, r.cpu_met),
                r.zks.mib_per_s,
                r.reth.mib_per_s,
                verdict(r.throughput_ratio, r.throughput_met),
                r.cpu_ratio_spread * 100.0,
                r.throughput_ratio_spread * 100.0,
                r.zks.cpu_spread * 100.0,
                r.reth.cpu_spread * 100.0,
                r.zks.mib_spread * 100.0,
                r.reth.mib_spread * 100.0,
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
                "\nzks: {}; reth: {}. Each ratio is the median of the pairs' ratios (each pair ran back to back), judged only when their spread is ≤ {:.0} %.",
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
