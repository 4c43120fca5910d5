//! The protocol deadlines of one link, sans-IO: time is always an argument.

use std::time::{Duration, Instant};

use super::TimeoutKind;

/// How long a link may stay silent at each step. Built from the node's
/// [`Limits`](crate::Limits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionTimeouts {
    /// MN: how long a new link may take to send its first request.
    pub first_message: Duration,
    /// How long each step of the verifier handshake may take.
    pub handshake: Duration,
    /// How long a link may carry nothing in either direction; `None`: forever.
    pub idle: Option<Duration>,
}

impl Default for SessionTimeouts {
    fn default() -> Self {
        Self {
            first_message: Duration::from_secs(30),
            handshake: Duration::from_secs(10),
            idle: None,
        }
    }
}

/// The deadline of the current handshake step, and the idle clock.
#[derive(Clone, Debug)]
pub(crate) struct Deadlines {
    timeouts: SessionTimeouts,
    step: Option<(Instant, TimeoutKind)>,
    last_activity: Instant,
}

impl Deadlines {
    pub(crate) fn new(timeouts: SessionTimeouts, now: Instant) -> Self {
        Self {
            timeouts,
            step: None,
            last_activity: now,
        }
    }

    /// Ends the link unless the step's message arrives within its timeout.
    pub(crate) fn arm(&mut self, kind: TimeoutKind, now: Instant) {
        let after = match kind {
            TimeoutKind::FirstMessage => self.timeouts.first_message,
            TimeoutKind::Handshake | TimeoutKind::Idle => self.timeouts.handshake,
        };
        self.step = Some((now + after, kind));
    }

    pub(crate) fn clear(&mut self) {
        self.step = None;
    }

    /// Something went over the link in either direction.
    pub(crate) fn activity(&mut self, now: Instant) {
        self.last_activity = self.last_activity.max(now);
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let idle = self.timeouts.idle.map(|t| self.last_activity + t);
        match (self.step.map(|(at, _)| at), idle) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub(crate) fn handle_timeout(&self, now: Instant) -> Option<TimeoutKind> {
        if let Some((at, kind)) = self.step
            && now >= at
        {
            return Some(kind);
        }
        let idle = self.timeouts.idle?;
        (now >= self.last_activity + idle).then_some(TimeoutKind::Idle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_and_idle_deadlines() {
        let t0 = crate::testing::t0();
        let s = Duration::from_secs;
        let mut d = Deadlines::new(
            SessionTimeouts {
                first_message: s(30),
                handshake: s(10),
                idle: Some(s(60)),
            },
            t0,
        );
        assert_eq!(d.poll_timeout(), Some(t0 + s(60)));
        d.arm(TimeoutKind::FirstMessage, t0);
        assert_eq!(d.poll_timeout(), Some(t0 + s(30)));
        assert_eq!(d.handle_timeout(t0 + s(29)), None);
        assert_eq!(
            d.handle_timeout(t0 + s(30)),
            Some(TimeoutKind::FirstMessage)
        );
        d.clear();
        d.activity(t0 + s(50));
        assert_eq!(d.handle_timeout(t0 + s(100)), None);
        assert_eq!(d.handle_timeout(t0 + s(110)), Some(TimeoutKind::Idle));
        d.arm(TimeoutKind::Handshake, t0 + s(100));
        assert_eq!(d.poll_timeout(), Some(t0 + s(110)));
    }
}
