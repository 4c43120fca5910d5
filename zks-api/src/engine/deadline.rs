//! The protocol deadlines of one link, sans-IO: time is always an argument.

use std::time::{Duration, Instant};

use super::TimeoutKind;

/// How long a link may stay silent at each step. Built from the node's
/// [`NodeSettings`](crate::NodeSettings).
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

/// The step deadlines of one link (the first request, the verifier handshake; both may run at
/// once on zks/5, where verification travels beside replay) and the idle clock.
#[derive(Clone, Debug)]
pub(crate) struct Deadlines {
    timeouts: SessionTimeouts,
    first_message: Option<Instant>,
    handshake: Option<Instant>,
    last_activity: Instant,
}

impl Deadlines {
    pub(crate) fn new(timeouts: SessionTimeouts, now: Instant) -> Self {
        Self {
            timeouts,
            first_message: None,
            handshake: None,
            last_activity: now,
        }
    }

    /// Ends the link unless the step's message arrives within its timeout from `now`.
    pub(crate) fn arm(&mut self, kind: TimeoutKind, now: Instant) {
        match kind {
            TimeoutKind::FirstMessage => {
                self.first_message = Some(now + self.timeouts.first_message);
            }
            TimeoutKind::Handshake => self.handshake = Some(now + self.timeouts.handshake),
            // The idle clock always runs (when configured); it is not armed.
            TimeoutKind::Idle => {}
        }
    }

    /// The step's message came: its deadline no longer applies.
    pub(crate) fn disarm(&mut self, kind: TimeoutKind) {
        match kind {
            TimeoutKind::FirstMessage => self.first_message = None,
            TimeoutKind::Handshake => self.handshake = None,
            TimeoutKind::Idle => {}
        }
    }

    /// Something went over the link in either direction.
    pub(crate) fn activity(&mut self, now: Instant) {
        self.last_activity = self.last_activity.max(now);
    }

    fn idle_at(&self) -> Option<Instant> {
        self.timeouts.idle.map(|t| self.last_activity + t)
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        [self.first_message, self.handshake, self.idle_at()]
            .into_iter()
            .flatten()
            .min()
    }

    /// The earliest deadline that passed by `now`, if any.
    pub(crate) fn handle_timeout(&self, now: Instant) -> Option<TimeoutKind> {
        [
            (self.first_message, TimeoutKind::FirstMessage),
            (self.handshake, TimeoutKind::Handshake),
            (self.idle_at(), TimeoutKind::Idle),
        ]
        .into_iter()
        .filter_map(|(at, kind)| at.filter(|at| now >= *at).map(|at| (at, kind)))
        .min_by_key(|(at, _)| *at)
        .map(|(_, kind)| kind)
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
        d.disarm(TimeoutKind::FirstMessage);
        d.activity(t0 + s(50));
        assert_eq!(d.handle_timeout(t0 + s(100)), None);
        assert_eq!(d.handle_timeout(t0 + s(110)), Some(TimeoutKind::Idle));
        d.arm(TimeoutKind::Handshake, t0 + s(100));
        assert_eq!(d.poll_timeout(), Some(t0 + s(110)));
    }

    #[test]
    fn first_message_and_handshake_run_side_by_side() {
        let t0 = crate::testing::t0();
        let s = Duration::from_secs;
        let mut d = Deadlines::new(SessionTimeouts::default(), t0);
        d.arm(TimeoutKind::FirstMessage, t0);
        d.arm(TimeoutKind::Handshake, t0 + s(5));
        assert_eq!(d.poll_timeout(), Some(t0 + s(15)));
        assert_eq!(d.handle_timeout(t0 + s(15)), Some(TimeoutKind::Handshake));
        d.disarm(TimeoutKind::Handshake);
        assert_eq!(d.poll_timeout(), Some(t0 + s(30)));
        assert_eq!(d.handle_timeout(t0 + s(29)), None);
        assert_eq!(
            d.handle_timeout(t0 + s(31)),
            Some(TimeoutKind::FirstMessage)
        );
    }
}
