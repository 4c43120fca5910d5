use super::RateLimit;

/// Per-link budgets. Defaults are generous for replay traffic and tight for control messages.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimits {
    /// Control messages per second. Default: 20.
    pub control_per_sec: f64,
    /// Control messages in one burst. Default: 50.
    pub control_burst: f64,
    /// Batch results per second. Default: 1,000 (a verifier answers each dispatched batch
    /// once; the MN dispatches far fewer).
    pub results_per_sec: f64,
    /// Batch results in one burst. Default: 2,000.
    pub results_burst: f64,
    /// All messages per second. Default: 50,000.
    pub messages_per_sec: f64,
    /// All messages in one burst. Default: 100,000.
    pub messages_burst: f64,
    /// Bytes per second. Default: 2 GiB.
    pub bytes_per_sec: f64,
    /// Bytes in one burst (at least the largest message). Default: 64 MiB.
    pub bytes_burst: f64,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            control_per_sec: 20.0,
            control_burst: 50.0,
            results_per_sec: 1_000.0,
            results_burst: 2_000.0,
            messages_per_sec: 50_000.0,
            messages_burst: 100_000.0,
            bytes_per_sec: 2.0 * 1024.0 * 1024.0 * 1024.0,
            bytes_burst: 64.0 * 1024.0 * 1024.0,
        }
    }
}

/// Wraps each link's service in a [`RateLimit`] with fresh buckets.
#[derive(Clone, Copy, Debug)]
pub struct RateLimitLayer {
    limits: RateLimits,
}

impl RateLimitLayer {
    /// A layer applying `limits` to every link.
    pub const fn new(limits: RateLimits) -> Self {
        Self { limits }
    }
}

impl<S> tower::Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit::new(inner, self.limits)
    }
}
