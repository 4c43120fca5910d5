//! [`NodeSettings`]: the node runtime's limits and timings, and their defaults.

use std::time::Duration;

use crate::ConfigError;
use crate::engine::SessionTimeouts;
use crate::middleware::rate_limit::RateLimits;
use crate::wire::limits::MAX_MESSAGE_BYTES;

/// The node runtime's settings: what bounds each link and message, and the timings of replay,
/// upstream checks, verification and sessions. Given to
/// [`NodeBuilder::settings`](crate::NodeBuilder::settings).
///
/// Built from [`NodeSettings::default`] with `with_*` setters (by value, `const`); each
/// setting is read with a getter of its own name, whose doc gives the default:
///
/// ```
/// use std::time::Duration;
/// use zks_api::NodeSettings;
///
/// let settings = NodeSettings::default()
///     .with_max_active_links(100)
///     .with_upstream_watchdog(None);
/// assert_eq!(settings.max_active_links(), 100);
/// assert_eq!(settings.upstream_watchdog(), None);
/// assert_eq!(settings.upstream_stall_timeout(), Duration::from_secs(30)); // the default
/// ```
///
/// The fields are private, so a setting added later breaks no one's code (no struct literal
/// outside this crate can name every field); that is why the type needs no
/// `#[non_exhaustive]`. Invalid combinations are refused once, by
/// [`NodeBuilder::start`](crate::NodeBuilder::start) ([`ConfigError::InvalidLimit`]).
///
/// By concern:
///
/// - **Links and messages**: [`max_active_links`](Self::max_active_links) (the cap on
///   untrusted links), [`max_message_bytes`](Self::max_message_bytes) and
///   [`max_request_bytes`](Self::max_request_bytes) (size caps, checked before decoding),
///   [`rate_limits`](Self::rate_limits) (per-link token buckets),
///   [`event_capacity`](Self::event_capacity) (events buffered per subscriber).
/// - **Replay**: [`max_blocks_per_message`](Self::max_blocks_per_message) (what an external
///   node asks for), [`replay_keepalive`](Self::replay_keepalive) (what a main node sends an
///   idle stream).
/// - **Upstreams** (external node, relay): [`redial_initial`](Self::redial_initial) and
///   [`redial_max`](Self::redial_max) (dial backoff),
///   [`upstream_probe_interval`](Self::upstream_probe_interval),
///   [`upstream_stall_timeout`](Self::upstream_stall_timeout),
///   [`upstream_probe_timeout`](Self::upstream_probe_timeout) and
///   [`upstream_watchdog`](Self::upstream_watchdog) (fail-back and stalled streams).
/// - **Verification** (verifier external node):
///   [`verify_sync_timeout`](Self::verify_sync_timeout),
///   [`max_pending_verifications`](Self::max_pending_verifications),
///   [`max_pending_verification_bytes`](Self::max_pending_verification_bytes).
/// - **Sessions** (the engine's deadlines, [`session_timeouts`](Self::session_timeouts)):
///   [`first_message_timeout`](Self::first_message_timeout),
///   [`handshake_timeout`](Self::handshake_timeout), [`idle_timeout`](Self::idle_timeout).
///
/// This was [`Limits`](crate::Limits) (public fields), which stays for one release, deprecated,
/// with `From` conversions both ways.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeSettings {
    max_blocks_per_message: usize,
    event_capacity: usize,
    redial_initial: Duration,
    redial_max: Duration,
    verify_sync_timeout: Duration,
    max_pending_verifications: usize,
    max_pending_verification_bytes: usize,
    max_active_links: usize,
    rate_limits: RateLimits,
    max_message_bytes: usize,
    max_request_bytes: usize,
    first_message_timeout: Duration,
    handshake_timeout: Duration,
    upstream_probe_interval: Duration,
    upstream_stall_timeout: Duration,
    upstream_probe_timeout: Duration,
    upstream_watchdog: Option<Duration>,
    idle_timeout: Option<Duration>,
    replay_keepalive: Option<Duration>,
}

/// The smallest [`NodeSettings::max_request_bytes`]: a request with the most overrides the
/// protocol allows, and room for its envelope.
const MIN_REQUEST_BYTES: usize = crate::wire::limits::MAX_OVERRIDE_LIST_BYTES + 1024;

impl Default for NodeSettings {
    /// Every default, as each getter documents it.
    fn default() -> Self {
        Self {
            max_blocks_per_message: 64,
            event_capacity: 1024,
            redial_initial: Duration::from_millis(100),
            redial_max: Duration::from_secs(10),
            verify_sync_timeout: Duration::from_secs(60),
            max_pending_verifications: 16,
            max_pending_verification_bytes: 32 * 1024 * 1024,
            max_active_links: 25,
            rate_limits: RateLimits::default(),
            max_message_bytes: MAX_MESSAGE_BYTES + 1,
            max_request_bytes: 128 * 1024,
            first_message_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            upstream_probe_interval: Duration::from_secs(10),
            upstream_stall_timeout: Duration::from_secs(30),
            upstream_probe_timeout: Duration::from_secs(5),
            upstream_watchdog: Some(Duration::from_secs(300)),
            idle_timeout: None,
            replay_keepalive: None,
        }
    }
}

/// Getters: one per setting, named like it.
impl NodeSettings {
    /// Records per `BlockReplays` an external node asks for on zks/3–5 (1..=64). Default: 64.
    /// (Counts of records are `usize` throughout the API; only the wire field is a `u64`.)
    pub const fn max_blocks_per_message(&self) -> usize {
        self.max_blocks_per_message
    }

    /// Events buffered per subscriber before the oldest are dropped (the buffer is allocated up
    /// front, ~95 bytes a slot). Must be > 0. Default: 1024.
    pub const fn event_capacity(&self) -> usize {
        self.event_capacity
    }

    /// First redial delay after a link to a trusted main node ends or a dial fails (> 0).
    /// Default: 100 ms.
    pub const fn redial_initial(&self) -> Duration {
        self.redial_initial
    }

    /// Cap of the exponential redial delay (at least
    /// [`redial_initial`](Self::redial_initial)). Default: 10 s.
    pub const fn redial_max(&self) -> Duration {
        self.redial_max
    }

    /// External node: how long a `VerifyBatch` may wait for the sink to apply its last block
    /// before it is refused as "not synced". Default: 60 s.
    pub const fn verify_sync_timeout(&self) -> Duration {
        self.verify_sync_timeout
    }

    /// External node: `VerifyBatch` requests queued per link; one more is a protocol
    /// violation. Default: 16.
    pub const fn max_pending_verifications(&self) -> usize {
        self.max_pending_verifications
    }

    /// External node: bytes of `commit_data` and `prev_commit_data` held by the `VerifyBatch`
    /// requests queued on one link; a request that would pass it is a protocol violation. A
    /// single request is always within [`max_message_bytes`](Self::max_message_bytes), so this
    /// bounds what a trusted main node can make a verifier hold (16 queued requests of 16 MiB
    /// would otherwise be 256 MiB, for up to
    /// [`verify_sync_timeout`](Self::verify_sync_timeout)). Default: 32 MiB.
    pub const fn max_pending_verification_bytes(&self) -> usize {
        self.max_pending_verification_bytes
    }

    /// Active links from untrusted peers; one more is refused with `TooManyPeers`. Trusted
    /// peers are exempt. Default: 25.
    pub const fn max_active_links(&self) -> usize {
        self.max_active_links
    }

    /// Per-link token buckets. Default: [`RateLimits::default`].
    pub const fn rate_limits(&self) -> RateLimits {
        self.rate_limits
    }

    /// Largest message (id plus body) accepted, checked before decoding.
    /// Default: 16 MiB + 1 (the protocol's cap on a body, plus its id).
    pub const fn max_message_bytes(&self) -> usize {
        self.max_message_bytes
    }

    /// Largest message a main node (and a relay toward the links it accepts) takes from a
    /// peer: its peers send replay requests (at most 64 KiB of overrides), verifier auth and
    /// batch results, never records. Set on the link for the transport to check before it
    /// buffers or decompresses anything (only zks messages: `eth` keeps its own cap). Must
    /// hold the largest replay request (64 KiB of overrides, and 1 KiB more). Default: 128 KiB.
    pub const fn max_request_bytes(&self) -> usize {
        self.max_request_bytes
    }

    /// Main node: an inbound link must send its first message (replay or verifier-role
    /// request) within this long. Default: 30 s.
    pub const fn first_message_timeout(&self) -> Duration {
        self.first_message_timeout
    }

    /// The verifier handshake must progress within this long at each step (main node: the
    /// auth after our challenge; external node: the challenge after our role request).
    /// Default: 10 s.
    pub const fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }

    /// External node or relay with several trusted upstreams: how often the active link's
    /// supervisor probes the others (a short link that asks for one block) — for fail-back to
    /// a higher-priority upstream that holds our last block again, and, while the active one
    /// is stalled, for one that has our next block. Must be > 0. Default: 10 s.
    pub const fn upstream_probe_interval(&self) -> Duration {
        self.upstream_probe_interval
    }

    /// External node or relay, with one trusted upstream or several: an active link that
    /// delivered nothing for this long is stalled. A chain with no new blocks looks the same,
    /// which is why a probe must find our next block before anything moves: the active
    /// upstream itself is probed over a fresh link (if it has the block, its silent link is
    /// replaced by a fresh one), then the lower-priority upstreams (if one has it, replay moves
    /// there). Self-probes that find nothing back off — at `T`, `2 T`, `4 T`, `8 T`, `16 T`,
    /// then every `8 T` of silence — so an idle chain costs one short probe link every 4
    /// minutes at the default. Must be > 0. Default: 30 s.
    pub const fn upstream_stall_timeout(&self) -> Duration {
        self.upstream_stall_timeout
    }

    /// How long a probe may take, dial included; also how long the active link gets to
    /// deliver a block a probe found, before it counts as stalled. Must be > 0. Default: 5 s.
    pub const fn upstream_probe_timeout(&self) -> Duration {
        self.upstream_probe_timeout
    }

    /// External node or relay: when the active upstream cannot be probed (a second link to it
    /// is refused or fails — a reth-based main node refuses a second session from the same
    /// peer with `AlreadyConnected`), a silent stream cannot be told from an idle chain; the
    /// link is then replaced by a fresh one after this long without progress and without an
    /// answered probe — once per this period while that lasts. A probe that is answered ("no
    /// new block") starts it over, so it never fires where probes work. It takes effect no
    /// sooner than [`upstream_stall_timeout`](Self::upstream_stall_timeout) (the first
    /// self-probe). The same 300 s as the replay watchdog of upstream's own external node,
    /// which drops its peer and redials. `None` turns it off (a stuck stream that cannot be
    /// probed then stays stuck); `Some` must be > 0. Default: `Some(300 s)`.
    pub const fn upstream_watchdog(&self) -> Option<Duration> {
        self.upstream_watchdog
    }

    /// A link with no message in either direction for this long is closed. Transports with a
    /// keepalive of their own (devp2p ping, libp2p idle timeout) watch silence below the zks
    /// layer, so the default is off. Default: `None`.
    pub const fn idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout
    }

    /// Main node or relay: a replay stream that sent no `BlockReplays` for this long sends an
    /// empty one (`01 c1 c0`). Upstream external nodes drop a peer whose replay stream was
    /// silent for 300 s and redial (their replay watchdog): on an idle chain, every one of
    /// them reconnects every ~5 minutes; a keepalive below 300 s keeps their links instead (an
    /// empty `BlockReplays` resets that watchdog and carries no record). `None` sends none.
    /// Default: `None`.
    pub const fn replay_keepalive(&self) -> Option<Duration> {
        self.replay_keepalive
    }

    /// The deadlines the engine's sessions enforce:
    /// [`first_message_timeout`](Self::first_message_timeout),
    /// [`handshake_timeout`](Self::handshake_timeout) and [`idle_timeout`](Self::idle_timeout).
    pub const fn session_timeouts(&self) -> SessionTimeouts {
        SessionTimeouts {
            first_message: self.first_message_timeout,
            handshake: self.handshake_timeout,
            idle: self.idle_timeout,
        }
    }
}

/// Setters: by value, `const`, one per setting or pair of settings that go together.
impl NodeSettings {
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

    /// Sets [`redial_initial`](Self::redial_initial) and [`redial_max`](Self::redial_max).
    #[must_use]
    pub const fn with_redial(mut self, initial: Duration, max: Duration) -> Self {
        self.redial_initial = initial;
        self.redial_max = max;
        self
    }

    /// Sets [`verify_sync_timeout`](Self::verify_sync_timeout).
    #[must_use]
    pub const fn with_verify_sync_timeout(mut self, timeout: Duration) -> Self {
        self.verify_sync_timeout = timeout;
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

    /// Sets [`idle_timeout`](Self::idle_timeout); `None` turns it off.
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
}

impl NodeSettings {
    /// Refuses settings that cannot work; [`NodeBuilder::start`](crate::NodeBuilder::start)
    /// reports it before anything runs.
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
        if self.max_request_bytes < MIN_REQUEST_BYTES {
            return Err(ConfigError::InvalidLimit {
                name: "max_request_bytes",
                reason: "must hold the largest replay request (64 KiB of overrides) and more",
            });
        }
        for (name, value) in [
            ("upstream_probe_interval", self.upstream_probe_interval),
            ("upstream_stall_timeout", self.upstream_stall_timeout),
            ("upstream_probe_timeout", self.upstream_probe_timeout),
        ] {
            if value.is_zero() {
                return Err(ConfigError::InvalidLimit {
                    name,
                    reason: "must be > 0",
                });
            }
        }
        if self
            .upstream_watchdog
            .is_some_and(|watchdog| watchdog.is_zero())
        {
            return Err(ConfigError::InvalidLimit {
                name: "upstream_watchdog",
                reason: "must be > 0 (None turns it off)",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(settings: &NodeSettings) -> Option<&'static str> {
        match settings.validate() {
            Err(ConfigError::InvalidLimit { name, .. }) => Some(name),
            _ => None,
        }
    }

    #[test]
    fn a_zero_stall_timeout_or_watchdog_is_refused_and_none_turns_the_watchdog_off() {
        assert_eq!(
            NodeSettings::default().upstream_watchdog(),
            Some(Duration::from_secs(300))
        );
        assert!(NodeSettings::default().validate().is_ok());
        assert!(
            NodeSettings::default()
                .with_upstream_watchdog(None)
                .validate()
                .is_ok()
        );
        let stall =
            NodeSettings::default().with_upstream_checks(Duration::from_secs(10), Duration::ZERO);
        assert_eq!(invalid(&stall), Some("upstream_stall_timeout"));
        let watchdog = NodeSettings::default().with_upstream_watchdog(Some(Duration::ZERO));
        assert_eq!(invalid(&watchdog), Some("upstream_watchdog"));
    }

    #[test]
    fn the_getters_return_the_documented_defaults() {
        let s = NodeSettings::default();
        assert_eq!(s.max_blocks_per_message(), 64);
        assert_eq!(s.event_capacity(), 1024);
        assert_eq!(s.redial_initial(), Duration::from_millis(100));
        assert_eq!(s.redial_max(), Duration::from_secs(10));
        assert_eq!(s.verify_sync_timeout(), Duration::from_secs(60));
        assert_eq!(s.max_pending_verifications(), 16);
        assert_eq!(s.max_pending_verification_bytes(), 32 * 1024 * 1024);
        assert_eq!(s.max_active_links(), 25);
        assert_eq!(s.rate_limits(), RateLimits::default());
        assert_eq!(s.max_message_bytes(), 16 * 1024 * 1024 + 1);
        assert_eq!(s.max_request_bytes(), 128 * 1024);
        assert_eq!(s.first_message_timeout(), Duration::from_secs(30));
        assert_eq!(s.handshake_timeout(), Duration::from_secs(10));
        assert_eq!(s.upstream_probe_interval(), Duration::from_secs(10));
        assert_eq!(s.upstream_stall_timeout(), Duration::from_secs(30));
        assert_eq!(s.upstream_probe_timeout(), Duration::from_secs(5));
        assert_eq!(s.upstream_watchdog(), Some(Duration::from_secs(300)));
        assert_eq!(s.idle_timeout(), None);
        assert_eq!(s.replay_keepalive(), None);
        assert_eq!(s.session_timeouts(), SessionTimeouts::default());
    }

    #[test]
    fn each_setter_sets_its_settings_and_nothing_else() {
        let secs = Duration::from_secs;
        let rates = RateLimits {
            control_per_sec: 1.0,
            ..RateLimits::default()
        };
        let s = NodeSettings::default()
            .with_max_blocks_per_message(8)
            .with_event_capacity(7)
            .with_redial(secs(1), secs(2))
            .with_verify_sync_timeout(secs(3))
            .with_pending_verifications(4, 5)
            .with_max_active_links(6)
            .with_rate_limits(rates)
            .with_max_message_bytes(9)
            .with_max_request_bytes(10)
            .with_timeouts(secs(11), secs(12))
            .with_idle_timeout(Some(secs(13)))
            .with_upstream_checks(secs(14), secs(15))
            .with_upstream_probe_timeout(secs(16))
            .with_upstream_watchdog(Some(secs(17)))
            .with_replay_keepalive(Some(secs(18)));
        let expected = NodeSettings {
            max_blocks_per_message: 8,
            event_capacity: 7,
            redial_initial: secs(1),
            redial_max: secs(2),
            verify_sync_timeout: secs(3),
            max_pending_verifications: 4,
            max_pending_verification_bytes: 5,
            max_active_links: 6,
            rate_limits: rates,
            max_message_bytes: 9,
            max_request_bytes: 10,
            first_message_timeout: secs(11),
            handshake_timeout: secs(12),
            upstream_probe_interval: secs(14),
            upstream_stall_timeout: secs(15),
            upstream_probe_timeout: secs(16),
            upstream_watchdog: Some(secs(17)),
            idle_timeout: Some(secs(13)),
            replay_keepalive: Some(secs(18)),
        };
        assert_eq!(s, expected);
        // One setter changes only its own settings.
        let one = NodeSettings::default().with_verify_sync_timeout(secs(3));
        assert_eq!(
            one,
            NodeSettings {
                verify_sync_timeout: secs(3),
                ..NodeSettings::default()
            }
        );
        assert_eq!(
            s.session_timeouts(),
            SessionTimeouts {
                first_message: secs(11),
                handshake: secs(12),
                idle: Some(secs(13)),
            }
        );
    }

    #[test]
    fn validate_names_the_setting_that_cannot_work() {
        let d = NodeSettings::default;
        let ms = Duration::from_millis;
        assert_eq!(
            invalid(&d().with_max_blocks_per_message(0)),
            Some("max_blocks_per_message")
        );
        assert_eq!(
            invalid(&d().with_max_blocks_per_message(65)),
            Some("max_blocks_per_message")
        );
        assert_eq!(invalid(&d().with_max_blocks_per_message(1)), None);
        assert_eq!(invalid(&d().with_event_capacity(0)), Some("event_capacity"));
        assert_eq!(
            invalid(&d().with_redial(Duration::ZERO, ms(1))),
            Some("redial")
        );
        assert_eq!(invalid(&d().with_redial(ms(2), ms(1))), Some("redial"));
        assert_eq!(invalid(&d().with_redial(ms(1), ms(1))), None);
        assert_eq!(
            invalid(&d().with_max_request_bytes(MIN_REQUEST_BYTES - 1)),
            Some("max_request_bytes")
        );
        assert_eq!(
            invalid(&d().with_max_request_bytes(MIN_REQUEST_BYTES)),
            None
        );
        assert_eq!(
            invalid(&d().with_upstream_checks(Duration::ZERO, ms(1))),
            Some("upstream_probe_interval")
        );
        assert_eq!(
            invalid(&d().with_upstream_probe_timeout(Duration::ZERO)),
            Some("upstream_probe_timeout")
        );
    }
}
