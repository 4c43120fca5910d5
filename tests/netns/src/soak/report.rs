//! The soak's report, as Markdown, and its verdicts.

use std::fmt::Write as _;
use std::time::Duration;

use super::{MAX_GROWTH, MAX_LAG, MN, Sample, SoakConfig, lag_blocks, steady};
use crate::StoreDump;
use crate::node::Node;

/// What the soak saw.
pub(super) struct Report<'a> {
    pub config: &'a SoakConfig,
    pub samples: &'a [Sample],
    pub nodes: &'a [Node],
    pub dumps: &'a [StoreDump],
    pub log: &'a [String],
    pub crashes: &'a [String],
    pub verified: usize,
    pub not_verified: usize,
    pub wall: Duration,
}

/// Growth of a series from the start of the window to the end: the means of the first and of
/// the last three samples in it.
fn growth(values: &[(Duration, f64)], from: Duration) -> Option<(f64, f64, f64)> {
    let window: Vec<f64> = values
        .iter()
        .filter(|(at, _)| *at >= from)
        .map(|(_, v)| *v)
        .collect();
    if window.len() < 4 {
        return None;
    }
    let k = 3.min(window.len() / 2);
    let first = window[..k].iter().sum::<f64>() / k as f64;
    let last = window[window.len() - k..].iter().sum::<f64>() / k as f64;
    (first > 0.0).then(|| (first, last, (last - first) / first))
}

impl Report<'_> {
    /// The Markdown text, and whether every target was met.
    pub(super) fn render(&self) -> (String, bool) {
        let mut out = String::new();
        let mut ok = true;
        let c = self.config;
        let total = Duration::from_secs(c.minutes * 60);
        // The last 45 minutes of an hour; the last three quarters of a shorter run.
        let from = total
            .saturating_sub(Duration::from_secs(45 * 60))
            .max(total / 4);
        let _ = writeln!(out, "# Soak\n");
        let _ = writeln!(
            out,
            "`zks-netns soak --minutes {} --rate {} --seed {}` ({}): one main node producing v3 \
             records of chain 270 at {} blocks/s, 2 relays, 20 external nodes (en01–en02 \
             verifiers on the main node, threshold 2, a batch every 100 blocks; en03–en20 behind \
             both relays), each minute one link flap and one SIGKILL + restart; sampled every 30 \
             s. Wall time {:.1} min.\n",
            c.minutes,
            c.rate,
            c.seed,
            super::PREFIX,
            c.rate,
            self.wall.as_secs_f64() / 60.0
        );

        // RSS and fds of the nodes that lived through the run.
        let _ = writeln!(
            out,
            "## RSS and fds after warm-up ({:.1}..{:.1} min, nodes never killed)\n",
            from.as_secs_f64() / 60.0,
            total.as_secs_f64() / 60.0
        );
        let _ = writeln!(
            out,
            "| node | RSS start → end (KiB) | RSS growth | fds start → end | fds growth |\n|---|---|---|---|---|"
        );
        for (i, node) in self.nodes.iter().enumerate().filter(|(i, _)| steady(*i)) {
            let series = |f: &dyn Fn(&super::Point) -> Option<f64>| -> Vec<(Duration, f64)> {
                self.samples
                    .iter()
                    .filter_map(|s| Some((s.at, f(&s.points[i])?)))
                    .collect()
            };
            let rss = growth(&series(&|p| p.rss_kib.map(|v| v as f64)), from);
            let fds = growth(&series(&|p| p.fds.map(|v| v as f64)), from);
            let cell = |g: Option<(f64, f64, f64)>, ok: &mut bool| match g {
                Some((a, b, r)) => {
                    if r >= MAX_GROWTH {
                        *ok = false;
                    }
                    (
                        format!("{a:.0} → {b:.0}"),
                        format!(
                            "{:+.1} %{}",
                            r * 100.0,
                            if r >= MAX_GROWTH { " **MISSED**" } else { "" }
                        ),
                    )
                }
                None => {
                    *ok = false;
                    ("too few samples".into(), "?".into())
                }
            };
            let (rss_span, rss_growth) = cell(rss, &mut ok);
            let (fds_span, fds_growth) = cell(fds, &mut ok);
            let _ = writeln!(
                out,
                "| {} | {rss_span} | {rss_growth} | {fds_span} | {fds_growth} |",
                node.name()
            );
        }

        // Lag at the end.
        let _ = writeln!(out, "\n## At the end\n");
        let last = self.samples.last();
        let mn_head = last.and_then(|s| s.points[MN].head);
        let mut worst = (0u64, String::new());
        let mut unknown = Vec::new();
        for (i, node) in self.nodes.iter().enumerate().skip(1) {
            match last.and_then(|s| lag_blocks(mn_head, s.points[i].head)) {
                Some(l) if l >= worst.0 => worst = (l, node.name().to_owned()),
                Some(_) => {}
                None => unknown.push(node.name().to_owned()),
            }
        }
        let worst_s = worst.0 as f64 / c.rate;
        let lag_ok = unknown.is_empty() && worst_s <= MAX_LAG.as_secs_f64();
        ok &= lag_ok;
        let _ = writeln!(
            out,
            "- lag at the last sample: main node's next block {}, worst {} blocks ({worst_s:.2} s, {}){}; target ≤ {} s: **{}**",
            mn_head.map_or_else(|| "?".into(), |h| h.to_string()),
            worst.0,
            worst.1,
            if unknown.is_empty() {
                String::new()
            } else {
                format!("; head unreadable: {}", unknown.join(", "))
            },
            MAX_LAG.as_secs(),
            if lag_ok { "met" } else { "MISSED" }
        );
        let mn = &self.dumps[MN];
        let contiguous = self.dumps.iter().all(|d| d.contiguous);
        let same_start = self
            .dumps
            .iter()
            .all(|d| d.range.map(|r| r.0) == mn.range.map(|r| r.0));
        ok &= contiguous && same_start;
        let _ = writeln!(
            out,
            "- stores after stopping every node: main node {mn}; every store contiguous: **{}**, every one from the main node's first block: **{}**",
            if contiguous { "yes" } else { "NO" },
            if same_start { "yes" } else { "NO" }
        );
        let expected = mn.range.map_or(0, |(_, last)| last / 100);
        let _ = writeln!(
            out,
            "- batches: {} verified (quorum of 2), {} not verified within 30 s, of about {expected} produced",
            self.verified, self.not_verified
        );
        if let (Some(first), Some(last)) = (self.samples.first(), last)
            && let (Some(a), Some(b)) = (first.points[MN].cpu, last.points[MN].cpu)
        {
            let blocks = (mn_head.unwrap_or(0)).saturating_sub(first.points[MN].head.unwrap_or(0));
            let secs = (last.at - first.at).as_secs_f64();
            let _ = writeln!(
                out,
                "- main node CPU: {:.1} % of a core, {:.0} µs per block",
                (b - a).as_secs_f64() / secs * 100.0,
                (b - a).as_secs_f64() * 1e6 / blocks.max(1) as f64
            );
        }
        if !self.crashes.is_empty() {
            ok = false;
            let _ = writeln!(
                out,
                "- nodes that exited by themselves: {}",
                self.crashes.join("; ")
            );
        }

        let _ = writeln!(
            out,
            "\n## Every node\n\n| node | kills | upstream switches | replay links | RSS end (KiB) | fds end | lag end (blocks) | store |\n|---|---|---|---|---|---|---|---|"
        );
        for (i, (node, dump)) in self.nodes.iter().zip(self.dumps).enumerate() {
            let p = last.map(|s| s.points[i]).unwrap_or_default();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {dump} |",
                node.name(),
                node.kills,
                node.switches(),
                node.replay_links(),
                super::opt(p.rss_kib),
                super::opt(p.fds),
                super::opt(last.and_then(|_| lag_blocks(mn_head, p.head)))
            );
        }

        let _ = writeln!(
            out,
            "\n## Samples (every 5 min)\n\n| min | MN next block | MN RSS KiB | MN fds | MN CPU % | r1 RSS KiB | r1 fds | en01–10 RSS KiB (mean) | max lag (blocks) |\n|---|---|---|---|---|---|---|---|---|"
        );
        let mut prev: Option<&Sample> = None;
        for s in self.samples {
            let at = s.at.as_secs();
            if !(at % 300 < 30 || std::ptr::eq(s, last.unwrap_or(s))) {
                continue;
            }
            let p = &s.points;
            let cpu = prev.and_then(|q| {
                let d = p[MN].cpu?.checked_sub(q.points[MN].cpu?)?;
                Some(d.as_secs_f64() / (s.at - q.at).as_secs_f64() * 100.0)
            });
            let ens: Vec<u64> = (3..13).filter_map(|i| p[i].rss_kib).collect();
            let mean = ens.iter().sum::<u64>() / (ens.len().max(1) as u64);
            let lag = (1..p.len())
                .filter_map(|i| lag_blocks(p[MN].head, p[i].head))
                .max();
            let _ = writeln!(
                out,
                "| {:.1} | {} | {} | {} | {} | {} | {} | {mean} | {} |",
                s.at.as_secs_f64() / 60.0,
                super::opt(p[MN].head),
                super::opt(p[MN].rss_kib),
                super::opt(p[MN].fds),
                cpu.map_or_else(String::new, |c| format!("{c:.0}")),
                super::opt(p[1].rss_kib),
                super::opt(p[1].fds),
                super::opt(lag)
            );
            prev = Some(s);
        }
        let _ = writeln!(
            out,
            "\nEvery sample of every node: `samples.csv` in the run directory.\n\n<details><summary>Faults ({} actions)</summary>\n\n```text\n{}\n```\n</details>\n\n**Verdict: {}**",
            self.log.len(),
            self.log.join("\n"),
            if ok {
                "every target met"
            } else {
                "a target was MISSED (see above)"
            }
        );
        (out, ok)
    }
}
