//! Node configuration: roles, limits and their defaults.

use std::time::Duration;

use crate::transport::TransportError;

/// What a node does on every zks link. Chosen locally; the wire carries no role negotiation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Serves replay from a [`ReplaySource`](crate::ReplaySource).
    MainNode,
    /// Replays from trusted main nodes into a [`ReplaySink`](crate::ReplaySink).
    ExternalNode,
}

/// Engine limits and timings. Every field has a documented default ([`Limits::default`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Records per `BlockReplays` an EN asks for on zks/3 (1..=64). Default: 64.
    pub max_blocks_per_message: u64,
    /// Events buffered per subscriber before the oldest are dropped. Default: 4096.
    pub event_capacity: usize,
    /// First redial delay after a link to a trusted main node ends or a dial fails.
    /// Default: 100 ms.
    pub redial_initial: Duration,
    /// Cap of the exponential redial delay. Default: 10 s.
    pub redial_max: Duration,
    /// EN: how long a `VerifyBatch` may wait for the sink to apply its last block before it is
    /// refused as "not synced". Default: 60 s.
    pub verify_sync_timeout: Duration,
    /// EN: `VerifyBatch` requests queued per link; one more is a protocol violation.
    /// Default: 16.
    pub max_pending_verifications: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_blocks_per_message: 64,
            event_capacity: 4096,
            redial_initial: Duration::from_millis(100),
            redial_max: Duration::from_secs(10),
            verify_sync_timeout: Duration::from_secs(60),
            max_pending_verifications: 16,
        }
    }
}

impl Limits {
    /// Sets [`max_blocks_per_message`](Self::max_blocks_per_message).
    #[must_use]
    pub const fn with_max_blocks_per_message(mut self, max: u64) -> Self {
        self.max_blocks_per_message = max;
        self
    }

    /// Sets [`event_capacity`](Self::event_capacity).
    #[must_use]
    pub const fn with_event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = capacity;
        self
    }

    /// Sets [`redial_initial`](Self::redial_initial) and [`redial_max`](Self::redial_max).
    #[must_use]
    pub const fn with_redial(mut self, initial: Duration, max: Duration) -> Self {
        self.redial_initial = initial;
        self.redial_max = max;
        self
    }
}

/// A node configuration that cannot work. Reported by
/// [`NodeBuilder::start`](crate::NodeBuilder::start) before anything runs.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Neither `main_node` nor `external_node` was called.
    #[error("no role: call main_node(source) or external_node(sink)")]
    NoRole,
    /// The node supports no protocol version.
    #[error("no zks version to support")]
    NoVersions,
    /// An external node has no trusted main node to replay from.
    #[error("an external node needs at least one trusted main node")]
    NoTrustedMainNodes,
    /// Trusted main nodes were given to a main node.
    #[error("trusted main nodes are an external-node setting")]
    TrustedMainNodesOnMainNode,
    /// A trusted peer address does not name an identity on this transport.
    #[error("trusted main node address: {0}")]
    InvalidTrustedPeer(TransportError),
    /// A limit is out of range.
    #[error("invalid limit {name}: {reason}")]
    InvalidLimit {
        /// The field.
        name: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

impl Limits {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=64).contains(&self.max_blocks_per_message) {
            return Err(ConfigError::InvalidLimit {
                name: "max_blocks_per_message",
                reason: "must be 1..=64",
            });
        }
        if self.event_capacity == 0 {
            return Err(ConfigError::InvalidLimit {
                name: "event_capacity",
                reason: "must be > 0",
            });
        }
        if self.redial_initial.is_zero() || self.redial_max < self.redial_initial {
            return Err(ConfigError::InvalidLimit {
                name: "redial",
                reason: "initial must be > 0 and <= max",
            });
        }
        Ok(())
    }
}
