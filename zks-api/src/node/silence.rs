//! How long the active upstream link has been silent, and when to ask the active upstream
//! itself — over a fresh short link — whether it has our next block.
//!
//! A replay link can stay up (keepalive pings answered) while its stream is stuck: a lost
//! wakeup in the main node's own `ReplaySource::wait_for`, say, while `read` would return the
//! blocks. From the external node's side that looks exactly like an idle chain, so it does not
//! guess: once the link has been silent for [`NodeSettings::upstream_stall_timeout`] (`T`) it probes
//! the same upstream for our next block. If the probe gets it, the link is replaced; if not,
//! the chain is idle and the next self-probe waits twice as long as the last wait, from `T` up
//! to `8 T`: self-probes at `T`, `2 T`, `4 T`, `8 T`, `16 T`, then every `8 T` (4 minutes with
//! the default 30 s), until the link makes progress again. An idle chain therefore costs one
//! short probe link every few minutes and never a replaced link, while a stream that goes
//! silent after a long idle spell is still found within `8 T` (plus a probe timeout) — less
//! than the 300 s watchdog upstream's own external node runs.
//!
//! When the probe cannot be made at all (the dial fails, or the upstream ends the probe link
//! before answering — a reth-based node refuses a second session from the same peer with
//! `AlreadyConnected`), idle and silent cannot be told apart. Then, and only then, the
//! [`NodeSettings::upstream_watchdog`] replaces the link once it has gone that long without progress
//! and without an answered self-probe: a self-probe is tried once more at the watchdog's
//! deadline, and the link is replaced only if that one cannot be made either. An answered
//! self-probe ("no new block") keeps the link and starts the watchdog over, so where probes
//! work the watchdog never fires.
//!
//! [`NodeSettings::upstream_stall_timeout`]: super::NodeSettings::upstream_stall_timeout
//! [`NodeSettings::upstream_watchdog`]: super::NodeSettings::upstream_watchdog

use std::time::Duration;

use tokio::time::Instant;

use super::NodeSettings;

/// What a probe learned about one upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Probe {
    /// It served the block we asked for.
    Has,
    /// It took the request and sent nothing within the probe timeout: it does not have the
    /// block (on an idle chain, nobody has it yet).
    Lacks,
    /// No answer could be had: the dial failed or timed out, or the upstream ended the probe
    /// link before answering.
    Unreachable,
}

/// The longest wait between two self-probes, in stall timeouts.
const MAX_GAP_STALLS: u32 = 8;

/// The active link's silence and the self-probe schedule. Self-probes are due on a grid
/// measured from the last progress — `T`, `2 T`, `4 T`, `8 T`, `16 T`, `24 T`, … — so the
/// schedule does not drift with how long each probe took.
#[derive(Debug)]
pub(super) struct Silence {
    stall: Duration,
    watchdog: Option<Duration>,
    /// The active link's last progress (or its start).
    since: Instant,
    /// The last time we knew the link was not stuck: its last progress, or the start of the
    /// last self-probe that was answered. The watchdog counts from here.
    verified: Instant,
    /// The next self-probe on the grid.
    next: Instant,
    /// The wait after `next`, doubling up to `MAX_GAP_STALLS` stall timeouts.
    gap: Duration,
    /// When the next self-probe runs: `next`, or earlier when the watchdog's deadline comes
    /// first after a probe that could not be made.
    due: Instant,
}

impl Silence {
    /// A link that made progress (or started) at `now`.
    pub(super) fn new(settings: &NodeSettings, now: Instant) -> Self {
        // Validated > 0; the floor only keeps the grid moving whatever it is given.
        let stall = settings
            .upstream_stall_timeout()
            .max(Duration::from_millis(1));
        Self {
            stall,
            watchdog: settings.upstream_watchdog(),
            since: now,
            verified: now,
            next: now + stall,
            gap: stall,
            due: now + stall,
        }
    }

    /// The link made progress at `now`: the schedule starts over.
    pub(super) fn progress(&mut self, now: Instant) {
        self.since = now;
        self.verified = now;
        self.next = now + self.stall;
        self.gap = self.stall;
        self.due = self.next;
    }

    /// When the next self-probe is due.
    pub(super) fn due(&self) -> Instant {
        self.due
    }

    /// How long the link has made no progress, at `now`.
    pub(super) fn idle(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.since)
    }

    /// Records a self-probe begun at `started` that was answered without our next block (the
    /// chain is idle): the watchdog starts over, and the next self-probe waits on the grid.
    pub(super) fn lacked(&mut self, started: Instant) {
        self.verified = self.verified.max(started);
        self.advance(started);
        self.due = self.next;
    }

    /// Records a self-probe begun at `started` that could not be made. Returns whether the
    /// watchdog ran out (the link should be replaced); otherwise the next self-probe is due on
    /// the grid, or at the watchdog's deadline if that comes first.
    pub(super) fn unreachable(&mut self, started: Instant) -> bool {
        let deadline = self.watchdog.map(|watchdog| self.verified + watchdog);
        if deadline.is_some_and(|deadline| started >= deadline) {
            return true;
        }
        self.advance(started);
        self.due = deadline.map_or(self.next, |deadline| self.next.min(deadline));
        false
    }

    /// Moves the grid past a probe begun at `started`: one self-probe per slot, slots that
    /// passed while other probes ran are skipped, and a probe the watchdog moved earlier does
    /// not move it.
    fn advance(&mut self, started: Instant) {
        while self.next <= started {
            self.next += self.gap;
            self.gap = (self.gap * 2).min(self.stall * MAX_GAP_STALLS);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(30);

    fn settings(watchdog: Option<Duration>) -> NodeSettings {
        NodeSettings::default()
            .with_upstream_checks(Duration::from_secs(10), T)
            .with_upstream_watchdog(watchdog)
    }

    /// Seconds after `start` at which the self-probes of one silent spell run, each answered
    /// `answer` (`true`: "no new block", `false`: could not be made), until `until` or a
    /// replacement (marked by `None` as the last entry).
    fn schedule(watchdog: Option<Duration>, answered: bool, until: u64) -> Vec<Option<u64>> {
        let start = Instant::now();
        let mut s = Silence::new(&settings(watchdog), start);
        let mut at = Vec::new();
        while s.due() <= start + Duration::from_secs(until) {
            let now = s.due();
            at.push(Some(now.duration_since(start).as_secs()));
            if answered {
                s.lacked(now);
            } else if s.unreachable(now) {
                at.push(None);
                break;
            }
        }
        at
    }

    #[test]
    fn an_idle_chain_is_probed_ever_more_rarely_up_to_every_8_stall_timeouts() {
        let got = schedule(Some(Duration::from_secs(300)), true, 1_500);
        let want: Vec<_> = [30, 60, 120, 240, 480, 720, 960, 1_200, 1_440]
            .into_iter()
            .map(Some)
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn unreachable_probes_replace_the_link_at_the_watchdog_and_only_there() {
        let got = schedule(Some(Duration::from_secs(300)), false, 1_500);
        assert_eq!(
            got,
            [Some(30), Some(60), Some(120), Some(240), Some(300), None]
        );
        // Without a watchdog they just back off.
        let got = schedule(None, false, 1_000);
        let want: Vec<_> = [30, 60, 120, 240, 480, 720, 960]
            .into_iter()
            .map(Some)
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn an_answered_probe_disarms_the_watchdog_and_keeps_the_grid() {
        let start = Instant::now();
        let mut s = Silence::new(&settings(Some(Duration::from_secs(100))), start);
        let secs = |n| start + Duration::from_secs(n);
        assert!(!s.unreachable(secs(30)));
        assert!(!s.unreachable(secs(60)));
        assert_eq!(s.due(), secs(100), "the watchdog's deadline comes first");
        s.lacked(secs(100));
        assert_eq!(
            s.due(),
            secs(120),
            "back on the grid, not moved by the early probe"
        );
        // The answer at 100 s restarted the watchdog: a probe that cannot be made at 120 s
        // does not replace the link, the one at 200 s would.
        assert!(!s.unreachable(secs(120)));
        assert_eq!(s.due(), secs(200));
        assert!(s.unreachable(secs(200)));
    }

    #[test]
    fn a_late_probe_skips_the_slots_that_passed() {
        let start = Instant::now();
        let mut s = Silence::new(&settings(None), start);
        // Other upstreams' probes held the self-probe due at 30 s until 130 s.
        s.lacked(start + Duration::from_secs(130));
        assert_eq!(s.due(), start + Duration::from_secs(240));
    }

    #[test]
    fn progress_starts_the_schedule_over() {
        let start = Instant::now();
        let mut s = Silence::new(&settings(Some(Duration::from_secs(300))), start);
        for n in [30, 60, 120, 240] {
            s.lacked(start + Duration::from_secs(n));
        }
        assert_eq!(s.due(), start + Duration::from_secs(480));
        let later = start + Duration::from_secs(500);
        s.progress(later);
        assert_eq!(s.due(), later + T);
        assert_eq!(s.idle(later + T), T);
        // The watchdog survives the reset.
        assert!(!s.unreachable(later + T));
        assert_eq!(s.due(), later + 2 * T);
    }
}
