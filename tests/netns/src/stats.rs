//! Percentiles, and what `/proc` says about a process and its namespace's sockets.

use std::time::Duration;

use anyhow::{Context as _, Result, anyhow};

/// The `p`-th percentile (0 < p ≤ 100) of `samples` by the nearest-rank method: the smallest
/// sample with at least p % of the samples at or below it. `None` without samples.
pub fn percentile(samples: &[Duration], p: f64) -> Option<Duration> {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    // ceil(p/100 * n), within 1..=n.
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    sorted.get(rank.clamp(1, n) - 1).copied()
}

/// The least, mean and largest of some counts.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Span {
    /// The least.
    pub min: u64,
    /// The mean.
    pub mean: f64,
    /// The largest.
    pub max: u64,
}

impl Span {
    /// The span of `values` (all zero without values).
    pub fn of(values: impl IntoIterator<Item = u64>) -> Self {
        let (mut n, mut sum) = (0u64, 0u128);
        let (mut min, mut max) = (u64::MAX, 0);
        for v in values {
            n += 1;
            sum += u128::from(v);
            min = min.min(v);
            max = max.max(v);
        }
        if n == 0 {
            return Self::default();
        }
        Self {
            min,
            mean: sum as f64 / n as f64,
            max,
        }
    }
}

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} / {:.0} / {}", self.min, self.mean, self.max)
    }
}

/// Milliseconds, for reports.
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// A process's resident memory (`VmRSS`, KiB) and open file descriptors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcUsage {
    /// Resident set size, KiB.
    pub rss_kib: u64,
    /// Entries of `/proc/PID/fd`.
    pub fds: usize,
}

/// Reads [`ProcUsage`] of `pid`.
///
/// # Errors
///
/// When the process is gone or `/proc` cannot be read.
pub fn proc_usage(pid: u32) -> Result<ProcUsage> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let rss_kib = vm_rss_kib(&status).ok_or_else(|| anyhow!("no VmRSS for pid {pid}"))?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .with_context(|| format!("reading /proc/{pid}/fd"))?
        .count();
    Ok(ProcUsage { rss_kib, fds })
}

/// The `VmRSS` of a `/proc/PID/status` text, KiB.
pub fn vm_rss_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// CPU time a process has used (user + system), from `/proc/PID/stat`.
///
/// # Errors
///
/// When the process is gone or the file cannot be parsed.
pub fn cpu_time(pid: u32) -> Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    let ticks = cpu_ticks(&stat).ok_or_else(|| anyhow!("cannot parse /proc/{pid}/stat"))?;
    // USER_HZ is 100 on every Linux ABI this runs on.
    Ok(Duration::from_millis(ticks.saturating_mul(10)))
}

/// utime + stime (clock ticks) of a `/proc/PID/stat` text: fields 14 and 15, counted after the
/// command name's closing parenthesis (the name itself may hold spaces).
pub fn cpu_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    // `rest` starts at field 3 (state): utime is its 12th word, stime its 13th.
    let mut words = rest.split_whitespace().skip(11);
    let utime: u64 = words.next()?.parse().ok()?;
    let stime: u64 = words.next()?.parse().ok()?;
    Some(utime + stime)
}

/// TCP sockets of a namespace, from `/proc/PID/net/sockstat` of a process inside it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SockStat {
    /// Sockets in use (every state but TIME_WAIT, listeners included).
    pub inuse: u64,
    /// Sockets in TIME_WAIT.
    pub time_wait: u64,
}

/// Reads [`SockStat`] of the namespace `pid` lives in.
///
/// # Errors
///
/// When the process is gone or the file has no TCP line.
pub fn sockstat(pid: u32) -> Result<SockStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/sockstat"))
        .with_context(|| format!("reading /proc/{pid}/net/sockstat"))?;
    parse_sockstat(&text).ok_or_else(|| anyhow!("no TCP line in /proc/{pid}/net/sockstat"))
}

/// Parses the `TCP:` line of a sockstat text.
pub fn parse_sockstat(text: &str) -> Option<SockStat> {
    let line = text.lines().find_map(|l| l.strip_prefix("TCP:"))?;
    let mut words = line.split_whitespace();
    let mut stat = SockStat::default();
    while let (Some(key), Some(value)) = (words.next(), words.next()) {
        let value = value.parse().ok()?;
        match key {
            "inuse" => stat.inuse = value,
            "tw" => stat.time_wait = value,
            _ => {}
        }
    }
    Some(stat)
}

/// The kernel's TCP counters of a namespace (`/proc/net/netstat`, `TcpExt` and `IpExt`
/// tables): name to value.
pub fn parse_netstat(text: &str) -> std::collections::HashMap<String, u64> {
    let mut counters = std::collections::HashMap::new();
    let lines: Vec<&str> = text.lines().collect();
    for pair in lines.chunks(2) {
        let [names, values] = pair else { continue };
        let (Some((table, names)), Some((_, values))) =
            (names.split_once(": "), values.split_once(": "))
        else {
            continue;
        };
        for (name, value) in names.split_whitespace().zip(values.split_whitespace()) {
            if let Ok(value) = value.parse() {
                counters.insert(format!("{table}.{name}"), value);
            }
        }
    }
    counters
}

/// One counter of [`parse_netstat`] (0 when absent).
pub fn netstat_counter(text: &str, name: &str) -> u64 {
    parse_netstat(text).get(name).copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms_list(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|&v| Duration::from_millis(v)).collect()
    }

    #[test]
    fn nearest_rank_percentiles() {
        let samples = ms_list(&[5, 1, 4, 2, 3]);
        assert_eq!(percentile(&samples, 50.0), Some(Duration::from_millis(3)));
        assert_eq!(percentile(&samples, 99.0), Some(Duration::from_millis(5)));
        assert_eq!(percentile(&samples, 20.0), Some(Duration::from_millis(1)));
        assert_eq!(percentile(&[], 50.0), None);
        // 20 samples: p99 is the largest, p50 the 10th.
        let twenty: Vec<_> = (1..=20).collect();
        let twenty = ms_list(&twenty);
        assert_eq!(percentile(&twenty, 99.0), Some(Duration::from_millis(20)));
        assert_eq!(percentile(&twenty, 50.0), Some(Duration::from_millis(10)));
    }

    #[test]
    fn spans() {
        let span = Span::of([3, 1, 2]);
        assert_eq!((span.min, span.max), (1, 3));
        assert!((span.mean - 2.0).abs() < 1e-9);
        assert_eq!(span.to_string(), "1 / 2 / 3");
        assert_eq!(Span::of([]), Span::default());
    }

    #[test]
    fn proc_texts_parse() {
        let status = "Name:\tzks\nVmPeak:\t  9000 kB\nVmRSS:\t   23456 kB\nThreads:\t3\n";
        assert_eq!(vm_rss_kib(status), Some(23456));
        assert_eq!(vm_rss_kib("Name: x\n"), None);
        let sockstat = "sockets: used 12\nTCP: inuse 130 orphan 2 tw 4000 alloc 140 mem 9\n\
                        UDP: inuse 0 mem 0\n";
        assert_eq!(
            parse_sockstat(sockstat),
            Some(SockStat {
                inuse: 130,
                time_wait: 4000
            })
        );
        assert_eq!(parse_sockstat("UDP: inuse 0\n"), None);
    }

    #[test]
    fn netstat_counters() {
        let text = "TcpExt: SyncookiesSent ListenOverflows ListenDrops TCPSynRetrans\n\
                    TcpExt: 0 17 19 3\n\
                    IpExt: InNoRoutes\n\
                    IpExt: 2\n";
        assert_eq!(netstat_counter(text, "TcpExt.ListenOverflows"), 17);
        assert_eq!(netstat_counter(text, "TcpExt.TCPSynRetrans"), 3);
        assert_eq!(netstat_counter(text, "IpExt.InNoRoutes"), 2);
        assert_eq!(netstat_counter(text, "TcpExt.Nothing"), 0);
    }

    #[test]
    fn cpu_ticks_skip_the_name() {
        let stat = "42 (zks (x) y) S 1 42 42 0 -1 4194560 100 0 0 0 7 5 0 0 20 0 3 0 99";
        assert_eq!(cpu_ticks(stat), Some(12));
        assert_eq!(cpu_ticks("42 (zks) S 1"), None);
        assert!(cpu_time(std::process::id()).is_ok());
    }

    #[test]
    fn this_process_has_usage() {
        let usage = proc_usage(std::process::id()).unwrap_or_else(|e| panic!("{e:#}"));
        assert!(usage.rss_kib > 0 && usage.fds > 0, "{usage:?}");
    }
}
