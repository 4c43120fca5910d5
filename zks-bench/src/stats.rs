//! Percentiles, process CPU time (getrusage) and resident memory (/proc/self/statm).

use std::time::Duration;

use serde::Serialize;

/// p50 / p99 / max of a set of durations, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// How many samples.
    pub samples: usize,
    /// Median, µs.
    pub p50_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
    /// Largest sample, µs.
    pub max_us: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `samples` (sorted in place).
    pub(crate) fn of(samples: &mut [Duration]) -> Self {
        samples.sort_unstable();
        let at = |q: f64| -> f64 {
            if samples.is_empty() {
                return 0.0;
            }
            let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
            samples[rank - 1].as_secs_f64() * 1e6
        };
        Self {
            samples: samples.len(),
            p50_us: at(0.50),
            p99_us: at(0.99),
            max_us: samples.last().map_or(0.0, |d| d.as_secs_f64() * 1e6),
        }
    }
}

/// CPU time of the calling thread so far, to the nanosecond (`CLOCK_THREAD_CPUTIME_ID`; zero
/// where that clock is missing). Not getrusage's thread time: that is scaled from scheduler
/// ticks and held monotonic, so a span of a few hundred microseconds can read as zero.
pub(crate) fn thread_cpu_time() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID).map_or(
        Duration::ZERO,
        |t| {
            Duration::from_secs(u64::try_from(t.tv_sec()).unwrap_or(0))
                + Duration::from_nanos(u64::try_from(t.tv_nsec()).unwrap_or(0))
        },
    )
}

/// User plus system CPU time of the whole process so far.
pub(crate) fn cpu_time() -> Duration {
    rusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
}

/// CPU time every process on the machine spent busy so far (/proc/stat: user, nice, system,
/// irq, softirq and steal over all cores), assuming the usual 100 ticks per second.
pub(crate) fn machine_busy_time() -> Option<Duration> {
    const TICKS_PER_S: u64 = 100;
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal …
    let busy: u64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| fields.get(i))
        .sum();
    Some(Duration::from_millis(busy * 1000 / TICKS_PER_S))
}

fn rusage(who: nix::sys::resource::UsageWho) -> Duration {
    let Ok(usage) = nix::sys::resource::getrusage(who) else {
        return Duration::ZERO;
    };
    let tv = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(u64::try_from(t.tv_sec()).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec()).unwrap_or(0))
    };
    tv(usage.user_time()) + tv(usage.system_time())
}

/// Resident set size in bytes, from the second field of `/proc/self/statm` times the page
/// size; `None` where procfs is missing.
pub(crate) fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|p| u64::try_from(p).ok())
        .unwrap_or(4096);
    Some(pages * page)
}

/// Bytes per second as MiB/s.
pub(crate) fn mib_per_s(bytes: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        return 0.0;
    }
    bytes as f64 / (1024.0 * 1024.0) / secs
}

/// `x / y`, or 0 when `y` is 0.
pub(crate) fn ratio(x: f64, y: f64) -> f64 {
    if y > 0.0 { x / y } else { 0.0 }
}

/// The median of `values` and their interquartile spread: (upper quartile − lower quartile) /
/// median, nearest-rank quartiles (with 3 or 4 values, the outer ones). One run that a
/// neighbour slowed does not make five pairs unjudgeable; two do.
pub(crate) fn median_spread(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let mut v: Vec<f64> = values.collect();
    if v.is_empty() {
        return (0.0, 0.0);
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    let rank = |q: f64| ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
    let spread = ratio(v[rank(0.75)] - v[rank(0.25)], median);
    (median, spread)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_cpu_time_counts_a_short_busy_span() {
        // A tenth of a millisecond of work, ten times: every span must read as CPU time
        // (getrusage's thread time, scaled from ticks, read zero over spans this short).
        for _ in 0..10 {
            let before = thread_cpu_time();
            let start = std::time::Instant::now();
            let mut x = 0u64;
            while start.elapsed() < Duration::from_micros(100) {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
            let spent = thread_cpu_time().saturating_sub(before);
            assert!(spent >= Duration::from_micros(50), "{spent:?}");
        }
    }

    #[test]
    fn median_and_interquartile_spread() {
        assert_eq!(median_spread([3.0, 1.0, 2.0].into_iter()), (2.0, 1.0));
        assert_eq!(
            median_spread([4.0, 4.0, 5.0, 5.0].into_iter()),
            (4.5, 1.0 / 4.5)
        );
        // Five pairs, one far off: the quartiles are the 2nd and 4th sorted values (1.0, 1.1).
        let (median, spread) = median_spread([1.0, 0.9, 1.1, 3.0, 1.0].into_iter());
        assert_eq!(median, 1.0);
        assert!((spread - 0.1).abs() < 1e-12, "{spread}");
        assert_eq!(median_spread(std::iter::empty()), (0.0, 0.0));
    }

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<_> = (1..=100).map(Duration::from_micros).collect();
        let p = Percentiles::of(&mut v);
        assert_eq!(p.samples, 100);
        assert!((p.p50_us - 50.0).abs() < 1e-6);
        assert!((p.p99_us - 99.0).abs() < 1e-6);
        assert!((p.max_us - 100.0).abs() < 1e-6);
        assert_eq!(Percentiles::of(&mut []).samples, 0);
    }

    #[test]
    fn process_counters_are_readable() {
        assert!(resident_bytes().is_some_and(|b| b > 0));
        let _ = cpu_time();
    }
}
