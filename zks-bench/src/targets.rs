//! The targets a run is held to, each judged from rows of the same run.

use crate::report::{FloorRow, Report, TargetRow};
use crate::{TransportKind, stats, throughput};

/// Above this share of the machine's CPU used by other processes, the targets measured on the
/// wall clock (latency, throughput, aggregates) are not judged: they would measure the
/// neighbours. The CPU-per-byte, CPU-ratio and memory targets are judged at any load.
pub const BUSY_SHARE: f64 = 0.25;

/// Targets read off the wall clock (by their names' beginnings).
const WALL_CLOCK: [&str; 7] = [
    "RLPx handshakes/s",
    "memnet ≥",
    "head latency",
    "devp2p 100 ENs",
    "devp2p v3 records, one per message",
    "devp2p MN →",
    "relays: p99 latency",
];

/// Every target with what this run measured and whether it was met; the wall-clock ones are
/// not judged when other processes took more than [`BUSY_SHARE`] of the machine.
pub(crate) fn targets(r: &Report) -> Vec<TargetRow> {
    let mut t = judged(r);
    if let Some(share) = r.machine.others_cpu_share.filter(|s| *s > BUSY_SHARE) {
        for row in &mut t {
            if row.met.is_some() && WALL_CLOCK.iter().any(|w| row.target.starts_with(w)) {
                row.met = None;
                row.measured = format!(
                    "{}; not judged: other processes used {:.0} % of the machine's CPU",
                    row.measured,
                    share * 100.0
                );
            }
        }
    }
    t
}

fn judged(r: &Report) -> Vec<TargetRow> {
    let mut t = Vec::new();
    for (bytes, name) in [(16 * 1024, "16 KiB"), (256, "256 B")] {
        let row = r
            .throughput
            .iter()
            .find(|row| row.transport == TransportKind::Devp2p && row.record_bytes == bytes);
        // Judged on CPU per byte: the floor runs on one core, devp2p's two ends on two, so a
        // throughput ratio measures how many cores the neighbours leave.
        let (target, measured, met) = against_floor(
            &format!(
                "devp2p replay ≥ 0.8 × framing floor ({name} records; CPU per byte, interleaved)"
            ),
            row.and_then(|row| row.against_floor),
        );
        t.push(TargetRow {
            target,
            measured,
            met,
        });
    }
    let mut add = |target: &str, measured: Option<(String, bool)>| {
        t.push(TargetRow {
            target: target.to_owned(),
            measured: measured
                .as_ref()
                .map_or_else(|| "-".to_owned(), |(m, _)| m.clone()),
            met: measured.map(|(_, ok)| ok),
        });
    };
    let hs = r
        .handshakes
        .iter()
        .find(|h| h.transport == TransportKind::Devp2p);
    add(
        "RLPx handshakes/s ≥ 0.5 × k256 bound",
        hs.and_then(|h| h.ratio_to_bound)
            .map(|x| (format!("{x:.3} ×"), x >= 0.5)),
    );
    let mem_small = r
        .throughput
        .iter()
        .find(|row| row.transport == TransportKind::Memnet && row.record_bytes == 256);
    add(
        "memnet ≥ 1,000,000 records/s of 256 B",
        mem_small.map(|row| {
            (
                format!("{:.0} records/s", row.records_per_s),
                row.records_per_s >= 1e6,
            )
        }),
    );
    for (kind, max_ms) in [(TransportKind::Memnet, 1.0), (TransportKind::Devp2p, 2.0)] {
        let l = r.latency.iter().find(|l| l.transport == kind);
        add(
            &format!("head latency p99 < {max_ms} ms on {}", kind.name()),
            l.map(|l| {
                let p99 = l.latency.p99_us / 1e3;
                (format!("{p99:.3} ms"), p99 < max_ms)
            }),
        );
    }
    let f100 = r
        .fanout
        .iter()
        .filter(|f| f.transport == TransportKind::Devp2p)
        .max_by_key(|f| f.ens);
    add(
        "devp2p 100 ENs: every EN every block, p99 lag behind fastest ≤ 5 ms",
        f100.map(|f| {
            let p99 = f.lag_behind_fastest.p99_us / 1e3;
            (
                format!(
                    "{} ENs, complete: {}, p99 lag {p99:.3} ms",
                    f.ens, f.complete
                ),
                f.complete && p99 <= 5.0 && f.ens >= 100,
            )
        }),
    );
    let one = |per_message: usize| {
        r.throughput.iter().find(|row| {
            row.transport == TransportKind::Devp2p
                && row.per_message == per_message
                && row.record_bytes > 1024
                && row.record_bytes < 16 * 1024
        })
    };
    // Each message is compressed alone, so one v3 record per message loses what Snappy finds
    // between neighbours (255 of 256 block hashes repeat): its own framing floor caps it.
    let single_floor = one(1).and_then(|single| {
        r.floor
            .iter()
            .find(|f| f.per_message == 1 && f.record_bytes == single.record_bytes)
    });
    add(
        "devp2p v3 records, one per message ≥ 0.7 × 64 per message",
        one(1).zip(one(throughput::BATCH)).map(|(single, batched)| {
            let ratio = stats::ratio(single.mib_per_s, batched.mib_per_s);
            let ceiling = single_floor.map_or_else(String::new, |f| {
                format!(
                    "; its own framing floor allows at most {:.3} ×",
                    stats::ratio(f.floor_mib_per_s, batched.mib_per_s)
                )
            });
            (
                format!(
                    "{ratio:.3} × ({:.1} vs {:.1} MiB/s{ceiling})",
                    single.mib_per_s, batched.mib_per_s
                ),
                ratio >= 0.7,
            )
        }),
    );
    let fanout_floor = r
        .floor
        .iter()
        .find(|f| f.record_bytes == 1024 && f.per_message == throughput::BATCH);
    for ens in [10, 100] {
        let row = r
            .fanout
            .iter()
            .find(|f| f.transport == TransportKind::Devp2p && f.ens == ens);
        add(
            &format!("devp2p MN → {ens} ENs: aggregate ≥ 1.6 × single-core framing floor"),
            row.and_then(|f| f.ratio_to_floor.map(|x| (f, x)))
                .map(|(f, x)| {
                    let bounds = fanout_floor.map_or_else(String::new, |fl| bounds(r, fl));
                    (
                        format!("{x:.3} × ({:.1} MiB/s{bounds})", f.aggregate_mib_per_s),
                        x >= 1.6 && f.complete,
                    )
                }),
        );
    }
    let direct = r.relay_trees.iter().find(|t| t.relays == 0 && t.ens > 1);
    let tree = r.relay_trees.iter().find(|t| t.relays > 1);
    let pair = r.relay_trees.iter().find(|t| t.relays == 1 && t.ens == 1);
    add(
        "relays: MN CPU per block ≤ 1/10 of the direct fan-out to the same ENs",
        direct.zip(tree).map(|(d, t)| {
            let ratio = t.mn_cpu_us_per_block / d.mn_cpu_us_per_block.max(1e-9);
            (
                format!(
                    "{ratio:.3} × ({:.2} vs {:.2} µs/block; {} relays, {} ENs)",
                    t.mn_cpu_us_per_block, d.mn_cpu_us_per_block, t.relays, t.ens
                ),
                ratio <= 0.1 && t.complete && d.complete,
            )
        }),
    );
    for (what, row) in [("4 relays → 100 ENs", tree), ("1 relay → 1 EN", pair)] {
        add(
            &format!("relays: p99 latency a relay hop adds < 1 ms on loopback ({what})"),
            row.and_then(|t| t.hop2.map(|h| (t, h))).map(|(t, h)| {
                let p99 = h.p99_us / 1e3;
                (
                    format!(
                        "relay → EN p99 {p99:.3} ms (MN → relay p99 {:.3} ms)",
                        t.hop1.p99_us / 1e3
                    ),
                    p99 < 1.0,
                )
            }),
        );
    }
    for kind in [TransportKind::Devp2p, TransportKind::Memnet] {
        let f = r
            .fanout
            .iter()
            .filter(|f| f.transport == kind)
            .max_by_key(|f| f.ens);
        add(
            &format!("idle {} link ≤ 256 KiB", kind.name()),
            f.and_then(|f| f.rss_kib_per_link).map(|kib| {
                (
                    format!("{kib:.1} KiB per link (both ends + EN node)"),
                    kib <= 256.0,
                )
            }),
        );
    }
    t
}

/// The floor target's row: judged when both sides' CPU spread is at most
/// [`MAX_SPREAD`](crate::MAX_SPREAD), else "spread too wide to judge".
fn against_floor(
    target: &str,
    a: Option<crate::FloorComparison>,
) -> (String, String, Option<bool>) {
    let Some(a) = a else {
        return (target.to_owned(), "-".to_owned(), None);
    };
    let judged = a.spread <= crate::MAX_SPREAD;
    let measured = format!(
        "{:.3} × the floor's CPU per byte (throughput {:.3} ×; {} pairs, spread {:.0} %{})",
        a.cpu,
        a.throughput,
        a.pairs,
        a.spread * 100.0,
        if judged { "" } else { ": too wide to judge" }
    );
    (target.to_owned(), measured, judged.then_some(a.cpu >= 0.8))
}

/// What the aggregate target asks of this machine: both ends run on its cores, so 1.6 × the
/// floor takes that much payload through the primitives on them, per EN: framing on send (the
/// MN compresses once for every EN at the same place) and everything on receive. An estimate
/// from the floor rows, which are measured at another moment of the run.
fn bounds(r: &Report, floor: &FloorRow) -> String {
    let per_en_ms_per_mib = floor.cpu_ms_per_mib - floor.compress_ms_per_mib;
    let cores = 1.6 * floor.floor_mib_per_s * per_en_ms_per_mib / 1e3;
    format!(
        "; 1.6 × takes ≈ {cores:.1} cores of primitives alone with both ends on this machine's {}",
        r.machine.nproc
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{LatencyRow, Machine};
    use crate::{Percentiles, TransportKind};

    fn latency_report(others: Option<f64>) -> Report {
        Report {
            machine: Machine {
                others_cpu_share: others,
                ..Machine::default()
            },
            latency: vec![LatencyRow {
                transport: TransportKind::Devp2p,
                latency: Percentiles {
                    samples: 10,
                    p50_us: 100.0,
                    p99_us: 3_000.0,
                    max_us: 4_000.0,
                },
            }],
            ..Report::default()
        }
    }

    #[test]
    fn wall_clock_targets_are_not_judged_on_a_busy_machine() {
        let verdict = |others| {
            targets(&latency_report(others))
                .into_iter()
                .find(|t| t.target == "head latency p99 < 2 ms on devp2p")
                .map(|t| (t.met, t.measured))
        };
        assert_eq!(verdict(None), Some((Some(false), "3.000 ms".to_owned())));
        assert_eq!(
            verdict(Some(0.10)),
            Some((Some(false), "3.000 ms".to_owned()))
        );
        assert_eq!(
            verdict(Some(0.40)),
            Some((
                None,
                "3.000 ms; not judged: other processes used 40 % of the machine's CPU".to_owned()
            ))
        );
    }
}
