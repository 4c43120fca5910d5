use tokio::time::Instant;

/// A token bucket: `rate` tokens per second, holding at most `burst`.
#[derive(Clone, Debug)]
pub(crate) struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub(crate) fn new(rate: f64, burst: f64, now: Instant) -> Self {
        Self {
            rate,
            burst,
            tokens: burst,
            last: now,
        }
    }

    /// Takes `n` tokens if there are enough after refilling up to `now`.
    pub(crate) fn try_take(&mut self, n: f64, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= n {
            self.tokens -= n;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn refills_at_the_rate_up_to_the_burst() {
        let start = Instant::now();
        let mut b = Bucket::new(10.0, 3.0, start);
        assert!(b.try_take(1.0, start) && b.try_take(1.0, start) && b.try_take(1.0, start));
        assert!(!b.try_take(1.0, start));
        assert!(b.try_take(1.0, start + Duration::from_millis(100)));
        assert!(!b.try_take(1.0, start + Duration::from_millis(150)));
        let later = start + Duration::from_secs(60);
        assert!(
            b.try_take(3.0, later) && !b.try_take(1.0, later),
            "never more than the burst"
        );
    }
}
