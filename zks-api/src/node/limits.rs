//! The deprecated [`Limits`]: [`NodeSettings`] with public fields, as it was, and the
//! conversions both ways. Removed in the release after next.
#![allow(
    deprecated,
    reason = "the deprecation bridge itself: it defines, converts and forwards Limits"
)]

use std::time::Duration;

use super::NodeSettings;
use crate::engine::SessionTimeouts;
use crate::middleware::rate_limit::RateLimits;

/// The node runtime's limits and timings. Every field has a documented default ([`Limits::default`]).
///
/// Deprecated: renamed [`NodeSettings`], whose fields are private. Build a `NodeSettings`
/// with the same `with_*` setters and read it with getters named like these fields
/// (`limits.upstream_watchdog` is `settings.upstream_watchdog()`); give it to
/// [`NodeBuilder::settings`](crate::NodeBuilder::settings). Until then, `Limits` converts both
/// ways (`NodeSettings::from(limits)`, `Limits::from(settings)`), and
/// [`NodeBuilder::limits`](crate::NodeBuilder::limits) still takes it.
#[deprecated(
    note = "renamed NodeSettings, fields private: use NodeSettings and its with_* setters and getters"
)]
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Records per `BlockReplays` an EN asks for on zks/3–5 (1..=64). Default: 64. (Counts of
    /// records are `usize` throughout the API; only the wire field is a `u64`.)
    pub max_blocks_per_message: usize,
    /// Events buffered per subscriber before the oldest are dropped (the buffer is allocated up
    /// front, ~95 bytes a slot). Default: 1024.
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
    /// EN: bytes of `commit_data` and `prev_commit_data` held by the `VerifyBatch` requests
    /// queued on one link; a request that would pass it is a protocol violation. A single
    /// request is always within [`max_message_bytes`](Self::max_message_bytes), so this bounds
    /// what a trusted main node can make a verifier hold (16 queued requests of 16 MiB would
    /// otherwise be 256 MiB, for up to [`verify_sync_timeout`](Self::verify_sync_timeout)).
    /// Default: 32 MiB.
    pub max_pending_verification_bytes: usize,
    /// Active links from untrusted peers; one more is refused with `TooManyPeers`. Trusted
    /// peers are exempt. Default: 25.
    pub max_active_links: usize,
    /// Per-link token buckets. Default: [`RateLimits::default`].
    pub rate_limits: RateLimits,
    /// Largest message (id plus body) accepted, checked before decoding.
    /// Default: 16 MiB + 1 (the protocol's cap on a body, plus its id).
    pub max_message_bytes: usize,
    /// Largest message a main node (and a relay toward the links it accepts) takes from a
    /// peer: its peers send replay requests (at most 64 KiB of overrides), verifier auth and
    /// batch results, never records. Set on the link for the transport to check before it
    /// buffers or decompresses anything (only zks messages: `eth` keeps its own cap).
    /// Default: 128 KiB.
    pub max_request_bytes: usize,
    /// MN: an inbound link must send its first message (replay or verifier-role request) within
    /// this long. Default: 30 s.
    pub first_message_timeout: Duration,
    /// The verifier handshake must progress within this long at each step (MN: the auth after
    /// our challenge; EN: the challenge after our role request). Default: 10 s.
    pub handshake_timeout: Duration,
    /// EN or relay with several trusted upstreams: how often the active link's supervisor
    /// probes the others (a short link that asks for one block) — for fail-back to a
    /// higher-priority upstream that holds our last block again, and, while the active one is
    /// stalled, for one that has our next block. Default: 10 s.
    pub upstream_probe_interval: Duration,
    /// EN or relay, with one trusted upstream or several: an active link that delivered
    /// nothing for this long is stalled. A chain with no new blocks looks the same, which is
    /// why a probe must find our next block before anything moves: the active upstream itself
    /// is probed over a fresh link (if it has the block, its silent link is replaced by a fresh
    /// one), then the lower-priority upstreams (if one has it, replay moves there). Self-probes
    /// that find nothing back off — at `T`, `2 T`, `4 T`, `8 T`, `16 T`, then every `8 T` of
    /// silence — so an idle chain costs one short probe link every 4 minutes at the default.
    /// Must be > 0. Default: 30 s.
    pub upstream_stall_timeout: Duration,
    /// How long a probe may take, dial included; also how long the active link gets to
    /// deliver a block a probe found, before it counts as stalled. Default: 5 s.
    pub upstream_probe_timeout: Duration,
    /// EN or relay: when the active upstream cannot be probed (a second link to it is refused
    /// or fails — a reth-based main node refuses a second session from the same peer with
    /// `AlreadyConnected`), a silent stream cannot be told from an idle chain; the link is
    /// then replaced by a fresh one after this long without progress and without an answered
    /// probe — once per this period while that lasts. A probe that is answered ("no new
    /// block") starts it over, so it never fires where probes work. It takes effect no sooner
    /// than [`upstream_stall_timeout`](Self::upstream_stall_timeout) (the first self-probe).
    /// The same 300 s as the replay watchdog of upstream's own external node, which drops its
    /// peer and redials. `None` turns it off (a stuck stream that cannot be probed then stays
    /// stuck). Default: `Some(300 s)`.
    pub upstream_watchdog: Option<Duration>,
    /// A link with no message in either direction for this long is closed. Transports with a
    /// keepalive of their own (devp2p ping, libp2p idle timeout) watch silence below the zks
    /// layer, so the default is off. Default: `None`.
    pub idle_timeout: Option<Duration>,
    /// Main node or relay: a replay stream that sent no `BlockReplays` for this long sends an
    /// empty one (`01 c1 c0`). Upstream external nodes drop a peer whose replay stream was
    /// silent for 300 s and redial (their replay watchdog): on an idle chain, every one of them
    /// reconnects every ~5 minutes; a keepalive below 300 s keeps their links instead (an empty
    /// `BlockReplays` resets that watchdog and carries no record). `None` sends none. Default:
    /// `None`.
    pub replay_keepalive: Option<Duration>,
}

impl Default for Limits {
    /// [`NodeSettings::default`]'s values.
    fn default() -> Self {
        NodeSettings::default().into()
    }
}

impl Limits {
    /// Sets [`max_blocks_per_message`](Self::max_blocks_per_message).
    #[must_use]
    pub const fn with_max_blocks_per_message(mut self, max: usize) -> Self {
        self.max_blocks_per_message = max;
        self
    }

    /// Sets [`event_capacity`](Self::event_capacity).
    #[must_use]
    pub const fn with_event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = capacity;
        self
    }

    /// Sets [`max_pending_verifications`](Self::max_pending_verifications) and
    /// [`max_pending_verification_bytes`](Self::max_pending_verification_bytes).
    #[must_use]
    pub const fn with_pending_verifications(mut self, max: usize, max_bytes: usize) -> Self {
        self.max_pending_verifications = max;
        self.max_pending_verification_bytes = max_bytes;
        self
    }

    /// Sets [`max_active_links`](Self::max_active_links).
    #[must_use]
    pub const fn with_max_active_links(mut self, max: usize) -> Self {
        self.max_active_links = max;
        self
    }

    /// Sets [`rate_limits`](Self::rate_limits).
    #[must_use]
    pub const fn with_rate_limits(mut self, limits: RateLimits) -> Self {
        self.rate_limits = limits;
        self
    }

    /// Sets [`max_message_bytes`](Self::max_message_bytes).
    #[must_use]
    pub const fn with_max_message_bytes(mut self, max: usize) -> Self {
        self.max_message_bytes = max;
        self
    }

    /// Sets [`max_request_bytes`](Self::max_request_bytes).
    #[must_use]
    pub const fn with_max_request_bytes(mut self, max: usize) -> Self {
        self.max_request_bytes = max;
        self
    }

    /// Sets [`first_message_timeout`](Self::first_message_timeout) and
    /// [`handshake_timeout`](Self::handshake_timeout).
    #[must_use]
    pub const fn with_timeouts(mut self, first_message: Duration, handshake: Duration) -> Self {
        self.first_message_timeout = first_message;
        self.handshake_timeout = handshake;
        self
    }

    /// Sets [`idle_timeout`](Self::idle_timeout).
    #[must_use]
    pub const fn with_idle_timeout(mut self, idle: Option<Duration>) -> Self {
        self.idle_timeout = idle;
        self
    }

    /// Sets [`upstream_probe_interval`](Self::upstream_probe_interval) and
    /// [`upstream_stall_timeout`](Self::upstream_stall_timeout).
    #[must_use]
    pub const fn with_upstream_checks(mut self, probe_interval: Duration, stall: Duration) -> Self {
        self.upstream_probe_interval = probe_interval;
        self.upstream_stall_timeout = stall;
        self
    }

    /// Sets [`upstream_probe_timeout`](Self::upstream_probe_timeout).
    #[must_use]
    pub const fn with_upstream_probe_timeout(mut self, timeout: Duration) -> Self {
        self.upstream_probe_timeout = timeout;
        self
    }

    /// Sets [`upstream_watchdog`](Self::upstream_watchdog); `None` turns it off.
    #[must_use]
    pub const fn with_upstream_watchdog(mut self, watchdog: Option<Duration>) -> Self {
        self.upstream_watchdog = watchdog;
        self
    }

    /// Sets [`replay_keepalive`](Self::replay_keepalive); `None` sends none.
    #[must_use]
    pub const fn with_replay_keepalive(mut self, every: Option<Duration>) -> Self {
        self.replay_keepalive = every;
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

impl Limits {
    /// The deadlines the engine's sessions enforce.
    pub fn session_timeouts(&self) -> SessionTimeouts {
        SessionTimeouts {
            first_message: self.first_message_timeout,
            handshake: self.handshake_timeout,
            idle: self.idle_timeout,
        }
    }
}

impl From<Limits> for NodeSettings {
    /// The same settings, field by field.
    fn from(limits: Limits) -> Self {
        Self::default()
            .with_max_blocks_per_message(limits.max_blocks_per_message)
            .with_event_capacity(limits.event_capacity)
            .with_redial(limits.redial_initial, limits.redial_max)
            .with_verify_sync_timeout(limits.verify_sync_timeout)
            .with_pending_verifications(
                limits.max_pending_verifications,
                limits.max_pending_verification_bytes,
            )
            .with_max_active_links(limits.max_active_links)
            .with_rate_limits(limits.rate_limits)
            .with_max_message_bytes(limits.max_message_bytes)
            .with_max_request_bytes(limits.max_request_bytes)
            .with_timeouts(limits.first_message_timeout, limits.handshake_timeout)
            .with_upstream_checks(
                limits.upstream_probe_interval,
                limits.upstream_stall_timeout,
            )
            .with_upstream_probe_timeout(limits.upstream_probe_timeout)
            .with_upstream_watchdog(limits.upstream_watchdog)
            .with_idle_timeout(limits.idle_timeout)
            .with_replay_keepalive(limits.replay_keepalive)
    }
}

impl From<NodeSettings> for Limits {
    /// The same settings, field by field.
    fn from(settings: NodeSettings) -> Self {
        Self {
            max_blocks_per_message: settings.max_blocks_per_message(),
            event_capacity: settings.event_capacity(),
            redial_initial: settings.redial_initial(),
            redial_max: settings.redial_max(),
            verify_sync_timeout: settings.verify_sync_timeout(),
            max_pending_verifications: settings.max_pending_verifications(),
            max_pending_verification_bytes: settings.max_pending_verification_bytes(),
            max_active_links: settings.max_active_links(),
            rate_limits: settings.rate_limits(),
            max_message_bytes: settings.max_message_bytes(),
            max_request_bytes: settings.max_request_bytes(),
            first_message_timeout: settings.first_message_timeout(),
            handshake_timeout: settings.handshake_timeout(),
            upstream_probe_interval: settings.upstream_probe_interval(),
            upstream_stall_timeout: settings.upstream_stall_timeout(),
            upstream_probe_timeout: settings.upstream_probe_timeout(),
            upstream_watchdog: settings.upstream_watchdog(),
            idle_timeout: settings.idle_timeout(),
            replay_keepalive: settings.replay_keepalive(),
        }
    }
}
