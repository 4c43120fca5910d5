//! Exponential redial backoff with jitter.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Redial delays: doubling from `initial` up to `max`, each drawn uniformly from the upper half
/// of the current step ("equal jitter"), so peers that lost the same main node do not redial in
/// lockstep, yet never wait less than half a step.
#[derive(Debug)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    step: Duration,
    rng: StdRng,
}

impl Backoff {
    /// A backoff starting at `initial`, capped at `max`, with jitter from `rng_seed`.
    pub(crate) fn new(initial: Duration, max: Duration, rng_seed: u64) -> Self {
        let initial = initial.max(Duration::from_millis(1));
        Self {
            initial,
            max: max.max(initial),
            step: initial,
            rng: StdRng::seed_from_u64(rng_seed),
        }
    }

    /// The delay before the next attempt; each call doubles the step until the cap.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let step = self.step;
        self.step = (self.step * 2).min(self.max);
        let half = step / 2;
        half + self.rng.random_range(Duration::ZERO..=half)
    }

    /// Back to the first step, after a link that worked.
    pub(crate) fn reset(&mut self) {
        self.step = self.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_with_jitter_up_to_the_cap() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1), 7);
        let steps = [100, 200, 400, 800, 1000, 1000];
        for ms in steps {
            let d = b.next_delay();
            let step = Duration::from_millis(ms);
            assert!(
                d >= step / 2 && d <= step,
                "{d:?} not in [{:?}, {step:?}]",
                step / 2
            );
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn same_seed_same_delays() {
        let mut a = Backoff::new(Duration::from_millis(100), Duration::from_secs(5), 42);
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(5), 42);
        for _ in 0..10 {
            assert_eq!(a.next_delay(), b.next_delay());
        }
    }
}
