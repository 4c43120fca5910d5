//! [`RethTransportConfig`]: what the transport advertises and how much it buffers.

use std::time::Duration;

use zks_api::wire::Capabilities;

/// How a [`RethTransport`](crate::RethTransport) is set up.
///
/// Every queue is bounded; see the crate docs for where reth's own channels are unbounded and
/// how these bounds cover them.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RethTransportConfig {
    /// The subprotocols registered with reth: one handler per zks version, plus `zks_2fa/1`.
    /// Fixed when the network is built (reth builds its Hello from its registered handlers);
    /// `listen` and `dial` may narrow it per link, never widen it. Default:
    /// [`Capabilities::CURRENT`] (zks/5 + `zks_2fa/1`, what upstream ZKsync OS nodes offer).
    pub caps: Capabilities,
    /// Messages queued each way per link (the engine's queues), and frames queued between the
    /// link task and reth's session (per session, both subprotocols together). Default 32, as
    /// upstream's per-connection queue.
    pub link_capacity: usize,
    /// Bytes reth may have handed us for a link that the engine has not taken yet. reth reads a
    /// session's socket whenever the session task runs, and queues subprotocol messages without
    /// bound; past this the link is closed (`Requested`, "the engine fell behind"). Default
    /// 64 MiB (four of reth's largest messages).
    pub max_inbound_bytes: usize,
    /// Messages, as [`max_inbound_bytes`](Self::max_inbound_bytes). Default 4096.
    pub max_inbound_messages: usize,
    /// How long a dial waits for reth to establish the session: reth reports no dial failures
    /// (refused connection, no route) to subprotocols, only successes. Default 30 s (reth's
    /// pending-session timeout is 20 s).
    pub dial_timeout: Duration,
    /// Dials in progress at once. Default 64.
    pub max_pending_dials: usize,
    /// Accepted links waiting for the node to take them. Default 64.
    pub incoming_capacity: usize,
    /// When reth ends a session, how long the link waits for reth's `SessionClosed` event
    /// (which carries the peer's Disconnect reason) after its streams ended. Default 5 s; the
    /// event normally follows at once.
    pub close_reason_wait: Duration,
}

impl Default for RethTransportConfig {
    fn default() -> Self {
        Self {
            caps: Capabilities::CURRENT,
            link_capacity: 32,
            max_inbound_bytes: 64 << 20,
            max_inbound_messages: 4096,
            dial_timeout: Duration::from_secs(30),
            max_pending_dials: 64,
            incoming_capacity: 64,
            close_reason_wait: Duration::from_secs(5),
        }
    }
}

impl RethTransportConfig {
    /// These capabilities (see [`caps`](Self::caps)).
    #[must_use]
    pub fn with_caps(mut self, caps: impl Into<Capabilities>) -> Self {
        self.caps = caps.into();
        self
    }

    /// This per-link queue size (see [`link_capacity`](Self::link_capacity)).
    #[must_use]
    pub fn with_link_capacity(mut self, capacity: usize) -> Self {
        self.link_capacity = capacity.max(1);
        self
    }

    /// This inbound budget per link (see [`max_inbound_bytes`](Self::max_inbound_bytes)).
    #[must_use]
    pub fn with_inbound_budget(mut self, bytes: usize, messages: usize) -> Self {
        self.max_inbound_bytes = bytes;
        self.max_inbound_messages = messages.max(1);
        self
    }

    /// This dial timeout (see [`dial_timeout`](Self::dial_timeout)).
    #[must_use]
    pub fn with_dial_timeout(mut self, timeout: Duration) -> Self {
        self.dial_timeout = timeout;
        self
    }
}
