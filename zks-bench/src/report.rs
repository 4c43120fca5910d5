//! [`Report`]: everything one run measured, as a table or as JSON.

use std::fmt::Write as _;

use serde::Serialize;

use crate::handshake::K256Costs;
use crate::nets::TransportKind;
use crate::stats::Percentiles;

/// The machine the run was on.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Machine {
    /// Logical CPUs available.
    pub nproc: usize,
    /// `model name` from /proc/cpuinfo.
    pub cpu_model: String,
    /// `MemTotal` from /proc/meminfo, KiB.
    pub mem_total_kib: u64,
    /// /proc/loadavg (1, 5, 15 min) when the run started: other work skews every number.
    pub loadavg_start: String,
    /// /proc/loadavg when the run ended.
    pub loadavg_end: String,
    /// The share of the machine's CPU (all cores, over the run) that other processes used
    /// (/proc/stat's busy time less this process's): above [`BUSY_SHARE`](crate::BUSY_SHARE)
    /// the wall-clock targets are not judged.
    pub others_cpu_share: Option<f64>,
}

/// Replay throughput MN → 1 EN.
#[derive(Clone, Debug, Serialize)]
pub struct ThroughputRow {
    /// Transport.
    pub transport: TransportKind,
    /// Payload bytes per record.
    pub record_bytes: usize,
    /// Records per message the EN asked for (64, or 1 as upstream ENs do).
    pub per_message: usize,
    /// Records replayed.
    pub records: u64,
    /// Wall time from starting the EN until its sink held every record.
    pub seconds: f64,
    /// Records per second.
    pub records_per_s: f64,
    /// Payload MiB per second.
    pub mib_per_s: f64,
    /// Throughput over the raw TCP baseline's for the same records.
    pub ratio_to_tcp: f64,
    /// devp2p only: throughput over the framing floor for the same records.
    pub ratio_to_floor: Option<f64>,
    /// Process CPU time (both ends, every thread) per MiB of payload, ms.
    pub cpu_ms_per_mib: f64,
    /// devp2p, 64 records per message: against the framing floor, measured interleaved.
    pub against_floor: Option<FloorComparison>,
}

/// devp2p against the framing floor, from runs interleaved with the floor's (floor, devp2p,
/// floor, devp2p, …): the median of the pairs' ratios, each pair measured at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct FloorComparison {
    /// devp2p MiB/s over the floor's (one core): how many cores the neighbours leave weighs on
    /// it, as devp2p's two ends run on two.
    pub throughput: f64,
    /// The floor's CPU per MiB over devp2p's (both ends, whole process): what devp2p spends on
    /// each byte beyond the primitives, whatever the load.
    pub cpu: f64,
    /// Interquartile spread of the pairs' CPU ratios, over their median.
    pub spread: f64,
    /// Pairs of runs.
    pub pairs: usize,
}

/// The RLPx framing floor for one record size (payload MiB/s, one core).
#[derive(Clone, Debug, Serialize)]
pub struct FloorRow {
    /// Payload bytes per record.
    pub record_bytes: usize,
    /// Records per message (each message is compressed alone).
    pub per_message: usize,
    /// Primitives (snap + aes/ctr + the faster keccak), send side.
    pub send_mib_per_s: f64,
    /// Primitives, receive side.
    pub recv_mib_per_s: f64,
    /// The floor a one-core-per-direction pipeline allows: the slower side.
    pub floor_mib_per_s: f64,
    /// Both directions on one core, one after the other.
    pub serial_mib_per_s: f64,
    /// CPU the primitives spend per MiB of payload, both sides (the thread's CPU time, not the
    /// wall clock): what the throughput rows' CPU column would read with no engine, socket or
    /// kernel cost at all.
    pub cpu_ms_per_mib: f64,
    /// The part of that spent in Snappy compression, which a main node does once for every
    /// EN at the same place.
    pub compress_ms_per_mib: f64,
    /// zks-devp2p's `FrameCodec` + `P2pSession`, send side.
    pub codec_send_mib_per_s: f64,
    /// zks-devp2p's codec, receive side.
    pub codec_recv_mib_per_s: f64,
    /// Snappy output over input.
    pub compression: f64,
    /// The keccak of the faster primitives floor (the one reported): `keccak-asm` or `sha3`.
    pub keccak: &'static str,
    /// The floor with `sha3`'s pure-Rust keccak in the MAC, for comparison.
    pub sha3_floor_mib_per_s: f64,
}

/// Append → apply latency.
#[derive(Clone, Debug, Serialize)]
pub struct LatencyRow {
    /// Transport.
    pub transport: TransportKind,
    /// Percentiles over every block.
    pub latency: Percentiles,
}

/// One MN → N ENs.
#[derive(Clone, Debug, Serialize)]
pub struct FanoutRow {
    /// Transport.
    pub transport: TransportKind,
    /// External nodes.
    pub ens: usize,
    /// Blocks appended at once.
    pub blocks: u64,
    /// Until every EN had every block, ms.
    pub sync_ms: f64,
    /// Payload delivered to all ENs together during the bulk sync, MiB/s.
    pub aggregate_mib_per_s: f64,
    /// devp2p only: the aggregate over the single-core framing floor of the same blocks.
    pub ratio_to_floor: Option<f64>,
    /// Process CPU (user + sys) during the bulk sync, per block per EN, µs.
    pub cpu_us_per_block_per_en: f64,
    /// Resident memory added per idle link (both ends and the EN node), KiB.
    pub rss_kib_per_link: Option<f64>,
    /// Paced blocks: how far each EN applied after the fastest, per (EN, block).
    pub lag_behind_fastest: Percentiles,
    /// Every EN got every block.
    pub complete: bool,
}

/// 1 MN → R relays → N ENs (R = 0: the ENs link to the MN).
#[derive(Clone, Debug, Serialize)]
pub struct RelayTreeRow {
    /// Transport.
    pub transport: TransportKind,
    /// Relays between the MN and the ENs.
    pub relays: usize,
    /// External nodes.
    pub ens: usize,
    /// Blocks appended at once.
    pub blocks: u64,
    /// Until every EN had every bulk block, ms.
    pub sync_ms: f64,
    /// CPU of the MN's own thread (it runs alone on one) per block, bulk and paced, µs.
    pub mn_cpu_us_per_block: f64,
    /// Paced blocks: MN append → apply one hop down (each relay; the ENs when R = 0).
    pub hop1: Percentiles,
    /// Paced blocks: relay apply → apply at each of its ENs.
    pub hop2: Option<Percentiles>,
    /// Every EN got every block.
    pub complete: bool,
}

/// Handshakes per second next to the k256 bound.
#[derive(Clone, Debug, Serialize)]
pub struct HandshakeRow {
    /// Transport.
    pub transport: TransportKind,
    /// Connections completed.
    pub connections: u64,
    /// Dials that failed.
    pub failures: u64,
    /// Concurrent dialers.
    pub concurrency: usize,
    /// Connections per second.
    pub per_s: f64,
    /// devp2p: the k256 operation costs measured in this run.
    pub k256: Option<K256Costs>,
    /// devp2p: k256 work per handshake (both sides), µs.
    pub k256_us_per_handshake: Option<f64>,
    /// devp2p: handshakes/s if the machine's cores did nothing but that k256 work.
    pub k256_bound_per_s: Option<f64>,
    /// devp2p: `per_s / k256_bound_per_s`.
    pub ratio_to_bound: Option<f64>,
}

/// One stated target and where the run stands.
#[derive(Clone, Debug, Serialize)]
pub struct TargetRow {
    /// What is measured.
    pub target: String,
    /// The measured value, in words.
    pub measured: String,
    /// Whether it is met; `None` when it was not measured (`measured` is "-") or the run does
    /// not support a verdict (`measured` says why).
    pub met: Option<bool>,
}

/// One message shape sent one message per send over a zks-devp2p link (section 7: the shapes
/// `zks bench versus-reth` lays beside reth).
#[derive(Clone, Debug, Serialize)]
pub struct PerMessageRow {
    /// The shape's name (`Shape::name`).
    pub shape: &'static str,
    /// What the shape is (`Shape::describe`).
    pub message: &'static str,
    /// What computes the MAC's keccak.
    pub keccak: String,
    /// The Snappy implementation.
    pub snappy: String,
    /// Body bytes of its first message.
    pub body_bytes: usize,
    /// Messages per run.
    pub messages: u64,
    /// Runs (the medians below are over them).
    pub runs: usize,
    /// Median payload MiB/s.
    pub mib_per_s: f64,
    /// Median process CPU ms per MiB (both ends).
    pub cpu_ms_per_mib: f64,
    /// Interquartile spread of the CPU per MiB over the runs, over its median.
    pub cpu_spread: f64,
}

/// Everything one run measured. Ratios compare numbers from this run only.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// `quick` or `full`.
    pub mode: String,
    /// The machine.
    pub machine: Machine,
    /// Wall time of the whole run, s.
    pub elapsed_s: f64,
    /// Replay throughput.
    pub throughput: Vec<ThroughputRow>,
    /// Framing floor.
    pub floor: Vec<FloorRow>,
    /// Head latency.
    pub latency: Vec<LatencyRow>,
    /// Fan-out.
    pub fanout: Vec<FanoutRow>,
    /// Relay trees beside direct fan-out.
    pub relay_trees: Vec<RelayTreeRow>,
    /// Handshakes.
    pub handshakes: Vec<HandshakeRow>,
    /// Quorum latency (memnet, 3 of 5).
    pub quorum: Option<Percentiles>,
    /// One message per send, four shapes (devp2p).
    pub per_message: Vec<PerMessageRow>,
    /// The performance targets, each with what was measured and whether it was met.
    pub targets: Vec<TargetRow>,
    /// What was not measured, and why.
    pub missing: Vec<String>,
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.digits$}"))
}

fn ms(us: f64) -> String {
    format!("{:.3}", us / 1000.0)
}

impl Report {
    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        // Serialising plain structs of numbers and strings cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The report as plain-text (Markdown-compatible) tables.
    pub fn to_table(&self) -> String {
        let mut s = String::new();
        let m = &self.machine;
        let _ = writeln!(
            s,
            "zks bench ({}) — {} × {}, {:.1} GiB RAM, {:.0} s, load average {} → {}{}\n",
            self.mode,
            m.nproc,
            m.cpu_model,
            m.mem_total_kib as f64 / 1024.0 / 1024.0,
            self.elapsed_s,
            m.loadavg_start,
            m.loadavg_end,
            m.others_cpu_share.map_or_else(String::new, |share| format!(
                ", other processes used {:.0} % of the machine's CPU",
                share * 100.0
            ))
        );
        let _ = writeln!(s, "## 1. Replay throughput, MN → 1 EN\n");
        let _ = writeln!(
            s,
            "| transport | record | per message | records | s | records/s | MiB/s | × raw TCP | × framing floor | CPU ms/MiB (both ends) | floor's CPU / ours, interleaved (spread) |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for r in &self.throughput {
            let _ = writeln!(
                s,
                "| {} | {} B | {} | {} | {:.3} | {:.0} | {:.1} | {:.3} | {} | {:.2} | {} |",
                r.transport.name(),
                r.record_bytes,
                r.per_message,
                r.records,
                r.seconds,
                r.records_per_s,
                r.mib_per_s,
                r.ratio_to_tcp,
                opt(r.ratio_to_floor, 3),
                r.cpu_ms_per_mib,
                r.against_floor.map_or_else(
                    || "-".to_owned(),
                    |a| format!(
                        "{:.3} ({:.0} %, {} pairs)",
                        a.cpu,
                        a.spread * 100.0,
                        a.pairs
                    )
                )
            );
        }
        let _ = writeln!(s, "\n## 2. RLPx framing floor (payload MiB/s, one core)\n");
        let _ = writeln!(
            s,
            "| record | per message | send | recv | floor (slower side) | keccak | floor with sha3 | serial (both, 1 core) | CPU ms/MiB (both sides) | of it compress | devp2p codec send | devp2p codec recv | snappy out/in |"
        );
        let _ = writeln!(
            s,
            "|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"
        );
        for f in &self.floor {
            let _ = writeln!(
                s,
                "| {} B | {} | {:.1} | {:.1} | {:.1} | {} | {:.1} | {:.1} | {:.2} | {:.2} | {:.1} | {:.1} | {:.3} |",
                f.record_bytes,
                f.per_message,
                f.send_mib_per_s,
                f.recv_mib_per_s,
                f.floor_mib_per_s,
                f.keccak,
                f.sha3_floor_mib_per_s,
                f.serial_mib_per_s,
                f.cpu_ms_per_mib,
                f.compress_ms_per_mib,
                f.codec_send_mib_per_s,
                f.codec_recv_mib_per_s,
                f.compression
            );
        }
        let _ = writeln!(
            s,
            "\n## 3. Head latency, one 1 KiB block every 2 ms (append → apply, ms)\n"
        );
        let _ = writeln!(s, "| transport | blocks | p50 | p99 | max |");
        let _ = writeln!(s, "|---|---:|---:|---:|---:|");
        for l in &self.latency {
            let p = &l.latency;
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                l.transport.name(),
                p.samples,
                ms(p.p50_us),
                ms(p.p99_us),
                ms(p.max_us)
            );
        }
        let _ = writeln!(s, "\n## 4. Fan-out, 1 MN → N ENs, 1 KiB blocks\n");
        let _ = writeln!(
            s,
            "| transport | ENs | bulk blocks | sync ms | aggregate MiB/s | × framing floor | CPU µs/block/EN | idle RSS KiB/link | paced lag p50 ms | p99 ms | max ms | complete |"
        );
        let _ = writeln!(
            s,
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
        );
        for f in &self.fanout {
            let l = &f.lag_behind_fastest;
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.1} | {:.1} | {} | {:.2} | {} | {} | {} | {} | {} |",
                f.transport.name(),
                f.ens,
                f.blocks,
                f.sync_ms,
                f.aggregate_mib_per_s,
                opt(f.ratio_to_floor, 3),
                f.cpu_us_per_block_per_en,
                opt(f.rss_kib_per_link, 1),
                ms(l.p50_us),
                ms(l.p99_us),
                ms(l.max_us),
                if f.complete { "yes" } else { "NO" }
            );
        }
        let _ = writeln!(
            s,
            "\n## 4b. Relays, 1 MN → R relays → N ENs, 1 KiB blocks (the MN alone on a thread)\n"
        );
        let _ = writeln!(
            s,
            "| transport | relays | ENs | bulk blocks | sync ms | MN CPU µs/block | hop 1 p50 ms | p99 ms | hop 2 p50 ms | p99 ms | complete |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        for t in &self.relay_trees {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {:.1} | {:.2} | {} | {} | {} | {} | {} |",
                t.transport.name(),
                t.relays,
                t.ens,
                t.blocks,
                t.sync_ms,
                t.mn_cpu_us_per_block,
                ms(t.hop1.p50_us),
                ms(t.hop1.p99_us),
                t.hop2.map_or_else(|| "-".to_owned(), |h| ms(h.p50_us)),
                t.hop2.map_or_else(|| "-".to_owned(), |h| ms(h.p99_us)),
                if t.complete { "yes" } else { "NO" }
            );
        }
        let _ = writeln!(s, "\n## 5. Handshakes on loopback\n");
        let _ = writeln!(
            s,
            "| transport | dialers | connections | failed | per s | k256 µs/handshake | k256 bound/s ({} cores) | × bound |",
            m.nproc
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|");
        for h in &self.handshakes {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {:.0} | {} | {} | {} |",
                h.transport.name(),
                h.concurrency,
                h.connections,
                h.failures,
                h.per_s,
                opt(h.k256_us_per_handshake, 1),
                opt(h.k256_bound_per_s, 0),
                opt(h.ratio_to_bound, 3)
            );
        }
        // Below the table, so every transport's row stays in it.
        if let Some(k) = self.handshakes.iter().find_map(|h| h.k256.as_ref()) {
            let _ = writeln!(
                s,
                "\nk256 costs (µs, one core): keygen {:.1}, ECDH {:.1}, sign {:.1}, recover {:.1}",
                k.keygen_us, k.ecdh_us, k.sign_us, k.recover_us
            );
        }
        if let Some(q) = &self.quorum {
            let _ = writeln!(
                s,
                "\n## 6. Quorum latency, 3 of 5 instant verifiers, memnet (submit → quorum, ms)\n"
            );
            let _ = writeln!(s, "| batches | p50 | p99 | max |");
            let _ = writeln!(s, "|---:|---:|---:|---:|");
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                q.samples,
                ms(q.p50_us),
                ms(q.p99_us),
                ms(q.max_us)
            );
        }
        if !self.per_message.is_empty() {
            let _ = writeln!(
                s,
                "\n## 7. One message per send, devp2p link (the shapes of `zks bench versus-reth`)\n"
            );
            let _ = writeln!(
                s,
                "| message | body B | messages | runs | MiB/s | CPU ms/MiB (both ends) | CPU spread |"
            );
            let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|");
            for p in &self.per_message {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {:.1} | {:.2} | {:.0} % |",
                    p.message,
                    p.body_bytes,
                    p.messages,
                    p.runs,
                    p.mib_per_s,
                    p.cpu_ms_per_mib,
                    p.cpu_spread * 100.0
                );
            }
            if let Some(p) = self.per_message.first() {
                let _ = writeln!(s, "\nkeccak: {}; Snappy: {}.", p.keccak, p.snappy);
            }
        }
        let _ = writeln!(s, "\n## Targets\n");
        let _ = writeln!(s, "| target | measured | status |");
        let _ = writeln!(s, "|---|---|---|");
        for t in &self.targets {
            let status = match t.met {
                Some(true) => "met",
                Some(false) => "NOT met",
                // Measured, but the run does not support a verdict (the row says why).
                None if t.measured != "-" => "not judged",
                None => "not measured",
            };
            let _ = writeln!(s, "| {} | {} | {} |", t.target, t.measured, status);
        }
        if !self.missing.is_empty() {
            let _ = writeln!(s, "\n## Not measured\n");
            for m in &self.missing {
                let _ = writeln!(s, "- {m}");
            }
        }
        s
    }
}
