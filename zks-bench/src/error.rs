//! [`BenchError`]: why a measurement could not be completed.

use std::future::Future;
use std::time::Duration;

/// Why a benchmark run stopped. Every variant names the measurement that failed; a run either
/// produces a whole [`Report`](crate::Report) or one of these.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// A node could not be started (bad configuration, the transport could not listen).
    #[error("{what}: node failed to start: {source}")]
    Node {
        /// The measurement.
        what: &'static str,
        /// The engine's error.
        #[source]
        source: zks_api::Error,
    },
    /// A transport could not be configured or reached.
    #[error("{what}: transport: {detail}")]
    Transport {
        /// The measurement.
        what: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// A socket operation of the raw TCP baseline or of the devp2p dialer failed.
    #[error("{what}: I/O: {source}")]
    Io {
        /// The measurement.
        what: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A step did not finish in time (a stuck transport, a lost block).
    #[error("{what}: timed out after {after:?}")]
    Timeout {
        /// The step.
        what: &'static str,
        /// The deadline.
        after: Duration,
    },
    /// The in-process framing pipeline rejected its own bytes (a codec bug).
    #[error("{what}: codec: {detail}")]
    Codec {
        /// The measurement.
        what: &'static str,
        /// The codec's error.
        detail: String,
    },
    /// A quorum could not be collected.
    #[error("quorum: {0}")]
    Quorum(#[from] zks_verifier::QuorumError),
    /// A blocking measurement task panicked or was cancelled.
    #[error("{what}: task failed: {detail}")]
    Task {
        /// The measurement.
        what: &'static str,
        /// The join error.
        detail: String,
    },
}

impl BenchError {
    pub(crate) fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> Self {
        move |source| Self::Io { what, source }
    }

    pub(crate) fn node(what: &'static str) -> impl FnOnce(zks_api::Error) -> Self {
        move |source| Self::Node { what, source }
    }

    pub(crate) fn transport(what: &'static str, detail: impl std::fmt::Display) -> Self {
        Self::Transport {
            what,
            detail: detail.to_string(),
        }
    }

    pub(crate) fn codec(what: &'static str, detail: impl std::fmt::Display) -> Self {
        Self::Codec {
            what,
            detail: detail.to_string(),
        }
    }

    pub(crate) fn task(what: &'static str) -> impl FnOnce(tokio::task::JoinError) -> Self {
        move |e| Self::Task {
            what,
            detail: e.to_string(),
        }
    }
}

/// Runs `f` with a deadline, mapping expiry to [`BenchError::Timeout`].
pub(crate) async fn within<F: Future>(
    what: &'static str,
    after: Duration,
    f: F,
) -> Result<F::Output, BenchError> {
    tokio::time::timeout(after, f)
        .await
        .map_err(|_| BenchError::Timeout { what, after })
}
