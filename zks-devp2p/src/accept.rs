//! Keeping the accept loop cheap under pressure, sans-IO: a back-off for failing `accept()`
//! calls (a full fd table fails every call until something closes, so retrying at once is a
//! hot loop). Events that repeat by the thousand under a flood are logged through
//! [`RepeatSummary`](zks_api::transport::kit::RepeatSummary).

use std::time::Duration;

/// The pause after a failed `accept()`: 5 ms, doubling to 1 s; reset by the next success.
#[derive(Debug)]
pub(crate) struct AcceptBackoff {
    next: Duration,
}

impl AcceptBackoff {
    const MIN: Duration = Duration::from_millis(5);
    const MAX: Duration = Duration::from_secs(1);

    pub(crate) const fn new() -> Self {
        Self { next: Self::MIN }
    }

    /// An accept failed: how long to wait before the next one.
    pub(crate) fn failed(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        delay
    }

    /// An accept succeeded.
    pub(crate) fn succeeded(&mut self) {
        self.next = Self::MIN;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_backoff_doubles_to_a_second_and_resets() {
        let mut b = AcceptBackoff::new();
        let delays: Vec<_> = (0..10).map(|_| b.failed().as_millis()).collect();
        assert_eq!(delays, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        b.succeeded();
        assert_eq!(b.failed(), Duration::from_millis(5));
    }
}
