//! [`RepeatSummary`]: one log line per interval for an event that repeats under a flood.

use std::time::{Duration, Instant};

/// Counts a repeated event and says when to log it: the first at once, then at most once per
/// `interval`, covering every event since the last line — so a flood (sockets dropped at a
/// limit, links refused, accept errors) costs a line per interval, not a line per event.
/// Sans-IO: time is an argument.
#[derive(Debug)]
pub struct RepeatSummary {
    interval: Duration,
    logged_at: Option<Instant>,
    unlogged: u64,
}

impl RepeatSummary {
    /// A summary that logs at most once per `interval`.
    pub const fn new(interval: Duration) -> Self {
        Self {
            interval,
            logged_at: None,
            unlogged: 0,
        }
    }

    /// One event at `now`; `Some(n)`: log a line now, for these `n` events.
    pub fn record(&mut self, now: Instant) -> Option<u64> {
        self.unlogged += 1;
        let due = self
            .logged_at
            .is_none_or(|at| now.saturating_duration_since(at) >= self.interval);
        if !due {
            return None;
        }
        self.logged_at = Some(now);
        Some(std::mem::take(&mut self.unlogged))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_events_is_one_line_per_interval_with_its_count() {
        let t0 = Instant::now();
        let mut s = RepeatSummary::new(Duration::from_secs(10));
        assert_eq!(s.record(t0), Some(1), "the first is logged at once");
        let ms = Duration::from_millis;
        // 175,000 events over 40 s (one every ~0.23 ms): 4 more lines, not 175,000.
        let mut lines = Vec::new();
        for i in 1..175_000u32 {
            if let Some(n) = s.record(t0 + ms(u64::from(i) * 40_000 / 175_000)) {
                lines.push(n);
            }
        }
        assert_eq!(lines.len(), 3);
        assert_eq!(lines.iter().sum::<u64>() + 1 + s.unlogged, 175_000);
        let pending = s.unlogged;
        assert!(pending > 0);
        assert_eq!(s.record(t0 + Duration::from_secs(60)), Some(pending + 1));
    }
}
