//! [`QuorumConfig`] and the [`RequestIds`] source.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use zks_api::wire::RequestId;

use crate::key::AcceptedSigners;

/// How a quorum is collected.
///
/// | setting | default |
/// |---|---|
/// | accepted signers | given to [`new`](Self::new) |
/// | threshold | given to [`new`](Self::new) |
/// | [request timeout](Self::with_request_timeout) | 10 s |
/// | [retry delay](Self::with_retry_delay) | 1 s |
/// | [total timeout](Self::with_total_timeout) | 60 s; [none](Self::without_total_timeout) to retry until the quorum |
/// | [request ids](Self::with_request_ids) | [`RequestIds::global`] |
///
/// Upstream's main node has no total timeout: it retries a batch, each attempt under a fresh
/// request id, until the quorum is reached. [`without_total_timeout`](Self::without_total_timeout)
/// does the same:
///
/// ```
/// use std::time::Duration;
/// use zks_verifier::{QuorumConfig, VerifierKey};
///
/// let key = VerifierKey::generate();
/// let config = QuorumConfig::new([key.address()], 1)
///     .with_request_timeout(Duration::from_secs(5))
///     .with_retry_delay(Duration::from_secs(1))
///     .without_total_timeout();
/// assert_eq!(config.total_timeout_limit(), None);
/// ```
#[derive(Clone, Debug)]
pub struct QuorumConfig {
    pub(crate) signers: AcceptedSigners,
    pub(crate) threshold: usize,
    pub(crate) request_timeout: Duration,
    pub(crate) retry_delay: Duration,
    /// `None`: retry until the quorum is reached.
    pub(crate) total_timeout: Option<Duration>,
    pub(crate) request_ids: RequestIds,
}

impl QuorumConfig {
    /// Default request timeout.
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default delay between a timed-out attempt and the next.
    pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(1);
    /// Default total timeout (a config from [`new`](Self::new) has one).
    pub const DEFAULT_TOTAL_TIMEOUT: Duration = Duration::from_secs(60);

    /// `threshold` distinct signatures out of `signers` make a quorum.
    ///
    /// The threshold is checked when a collector starts: it must be at least 1 and at most
    /// the number of signers.
    pub fn new(
        signers: impl IntoIterator<Item = zks_api::SignerAddress>,
        threshold: usize,
    ) -> Self {
        Self {
            signers: signers.into_iter().collect(),
            threshold,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
            retry_delay: Self::DEFAULT_RETRY_DELAY,
            total_timeout: Some(Self::DEFAULT_TOTAL_TIMEOUT),
            request_ids: RequestIds::global(),
        }
    }

    /// How long one attempt waits for the quorum before the batch is sent again under a new
    /// request id.
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How long to wait after a timed-out attempt before the next.
    #[must_use]
    pub fn with_retry_delay(mut self, delay: Duration) -> Self {
        self.retry_delay = delay;
        self
    }

    /// How long the whole collection may take, from start, before it fails with
    /// [`NotEnoughSigners`](crate::QuorumError::NotEnoughSigners). Replaces
    /// [`without_total_timeout`](Self::without_total_timeout). A timeout too long for an
    /// `Instant` to express never passes.
    #[must_use]
    pub fn with_total_timeout(mut self, timeout: Duration) -> Self {
        self.total_timeout = Some(timeout);
        self
    }

    /// No total timeout: the collection never fails for lack of signatures. Each attempt that
    /// times out is followed, after the retry delay, by another under a fresh request id, until
    /// the quorum is reached; signatures already counted are kept. This is how upstream's main
    /// node collects (it parks the batch until it has the quorum). Replaces
    /// [`with_total_timeout`](Self::with_total_timeout).
    ///
    /// [`collect_quorum`](crate::collect_quorum) then returns only with the quorum or an
    /// error from the node; to give up (at shutdown, say), drop its future.
    #[must_use]
    pub fn without_total_timeout(mut self) -> Self {
        self.total_timeout = None;
        self
    }

    /// Where attempt ids come from. Collectors dispatching through the same node must share a
    /// source, so that no two open requests have the same id.
    #[must_use]
    pub fn with_request_ids(mut self, ids: RequestIds) -> Self {
        self.request_ids = ids;
        self
    }

    /// The accepted signers.
    pub fn signers(&self) -> &AcceptedSigners {
        &self.signers
    }

    /// Signatures needed.
    pub fn threshold(&self) -> usize {
        self.threshold
    }

    /// The request timeout.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// The retry delay.
    pub fn retry_delay(&self) -> Duration {
        self.retry_delay
    }

    /// The total timeout; `None` without one ([`without_total_timeout`](Self::without_total_timeout)).
    pub fn total_timeout_limit(&self) -> Option<Duration> {
        self.total_timeout
    }

    /// The total timeout, `Duration::MAX` without one.
    #[deprecated(
        note = "a collection may have no total timeout: use `total_timeout_limit`, which says so \
                with `None`"
    )]
    pub fn total_timeout(&self) -> Duration {
        self.total_timeout.unwrap_or(Duration::MAX)
    }
}

/// A shared, monotonically increasing source of [`RequestId`]s.
///
/// Clones share the counter.
#[derive(Clone, Debug)]
pub struct RequestIds(Source);

#[derive(Clone, Debug)]
enum Source {
    Global,
    Own(Arc<AtomicU64>),
}

/// The process-wide counter behind [`RequestIds::global`]; 0 is never handed out.
static GLOBAL_NEXT: AtomicU64 = AtomicU64::new(1);

impl RequestIds {
    /// The process-wide source, starting at 1.
    pub fn global() -> Self {
        Self(Source::Global)
    }

    /// A source of its own whose first id is `first`.
    pub fn starting_at(first: u64) -> Self {
        Self(Source::Own(Arc::new(AtomicU64::new(first))))
    }

    /// The next id; each call returns a larger one.
    pub fn next_id(&self) -> RequestId {
        let counter = match &self.0 {
            Source::Global => &GLOBAL_NEXT,
            Source::Own(counter) => counter.as_ref(),
        };
        RequestId(counter.fetch_add(1, Ordering::Relaxed))
    }
}

impl Default for RequestIds {
    fn default() -> Self {
        Self::global()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_total_timeout_by_default_none_on_request_and_back() {
        let config = QuorumConfig::new(std::iter::empty(), 1);
        assert_eq!(
            config.total_timeout_limit(),
            Some(QuorumConfig::DEFAULT_TOTAL_TIMEOUT)
        );
        let config = config.without_total_timeout();
        assert_eq!(config.total_timeout_limit(), None);
        #[allow(deprecated)]
        let old = config.total_timeout();
        assert_eq!(old, Duration::MAX);
        let config = config.with_total_timeout(Duration::from_secs(5));
        assert_eq!(config.total_timeout_limit(), Some(Duration::from_secs(5)));
        #[allow(deprecated)]
        let old = config.total_timeout();
        assert_eq!(old, Duration::from_secs(5));
    }
}
