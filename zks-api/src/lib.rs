//! zks: the `zks/<version>` subprotocol between a main node (MN) and external nodes (ENs).
//!
//! The crate root is what a node team uses: [`Node`] and its [`NodeBuilder`], [`NodeSettings`], the
//! traits they implement ([`ReplaySource`], [`ReplaySink`], [`Verifier`], [`ReplayRecord`],
//! [`ChallengeSigner`], [`SignerAuthenticator`]), the [`ProtocolEvent`]s a node reports and the
//! errors. The rest is grouped by audience:
//!
//! - [`wire`]: message types and limits (re-exported from the `zks-wire` crate, which has no
//!   runtime dependencies);
//! - [`transport`]: the seam transport authors implement (`zks-memnet`, `zks-devp2p`,
//!   `zks-libp2p` do), and the one link pump byte transports share;
//! - [`engine`]: the sans-IO protocol cores, for those who drive them themselves;
//! - [`middleware`]: tower layers around every link's inbound handling.
//!
//! ```text
//!  MN: source ──▶ ReplayCursor ──▶ link ──▶ transport
//!  EN: transport ──▶ link ──▶ EnSession ──▶ sink
//! ```
//!
//! # Feature flags
//!
//! - `test-utils`: `MemoryReplayStore`, an in-memory source and sink with push notification,
//!   and `conformance`: checks every transport must pass.
//! - `zksync-os`: `wire::zksync_os`, upstream's v3 replay records (`V3Record`, and
//!   `V3RecordBytes` kept as received), without a direct `zks-wire` dependency.

pub mod admission;
pub mod engine;
mod error;
pub mod middleware;
mod node;
mod replay;
pub mod transport;
mod types;
mod verifier;

/// The zks wire format, as node teams and transports need it (from the `zks-wire` crate).
pub mod wire {
    /// Typed ZKsync OS replay records (feature `zksync-os`).
    #[cfg(feature = "zksync-os")]
    pub use zks_wire::zksync_os;
    pub use zks_wire::{
        BlockReplays, BlockReplaysWriter, Capabilities, DecodeError, Frame, GetBlockReplays,
        LinkCaps, MessageClass, MessageId, Protocol, RecordOverride, RequestId, TwoFaMessage,
        TwoFaMessageId, TwoFaVersion, VerifierAuth, VerifierChallenge, VerifyBatch,
        VerifyBatchOutcome, VerifyBatchResult, VersionSet, ZksMessage, ZksVersion,
    };
    pub use zks_wire::{limits, record_rlp};
}

/// Re-exported because the traits' signatures use them: implement them with these versions.
pub use async_trait::async_trait;
pub use zks_wire::{Bytes, alloy_rlp};

pub use error::{ConfigError, Error};
#[allow(
    deprecated,
    reason = "the deprecation bridge: Limits stays at the crate root for one release"
)]
pub use node::Limits;
pub use node::{
    BatchDispatch, CloseCause, DroppedResult, EventStream, Node, NodeBuilder, NodeSettings,
    NotServed, PeerSession, ProtocolEvent, SwitchReason, VerifierResult,
};
pub use replay::{ReplaySink, ReplaySource, SinkError, SourceError};
pub use types::{ConnectionId, Direction, PeerAddr, PeerId, Role};
pub use verifier::{
    AuthOutcome, ChallengeSigner, SignerAddress, SignerAuthenticator, VERIFIER_AUTH_DOMAIN,
    Verifier,
};
pub use zks_wire::{
    BlockNumber, DisconnectReason, Overrides, RawRecord, RecordError, ReplayRecord,
};

#[cfg(any(test, feature = "test-utils"))]
pub mod conformance;
#[cfg(any(test, feature = "test-utils"))]
mod store;
#[cfg(any(test, feature = "test-utils"))]
pub use store::MemoryReplayStore;

#[cfg(test)]
mod testing {
    use std::sync::OnceLock;
    use std::time::Instant;

    /// A fixed instant for the sans-IO tests: they pass time explicitly and never read a clock.
    pub(crate) fn t0() -> Instant {
        static T0: OnceLock<Instant> = OnceLock::new();
        *T0.get_or_init(Instant::now)
    }

    /// A replay request from `start`, without overrides, asking `max` records per message.
    pub(crate) fn request(start: u64, max: Option<u64>) -> crate::wire::GetBlockReplays {
        crate::wire::GetBlockReplays {
            starting_block: start,
            record_overrides: vec![],
            max_blocks_per_message: max,
        }
    }
}
