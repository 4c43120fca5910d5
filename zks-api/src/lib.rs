//! zks: the `zks/<version>` subprotocol between a main node (MN) and external nodes (ENs).
//!
//! This crate is the transport-agnostic core: the [`wire`] codec, the traits node teams
//! implement ([`ReplaySource`], [`ReplaySink`], [`Verifier`], [`ReplayRecord`]), the
//! [`Transport`] seam that `zks-memnet`, `zks-devp2p` and `zks-libp2p` implement, and the
//! protocol [`engine`] with its async [`Node`].
//!
//! ```text
//!  transport ──▶ link ──▶ engine (MnSession / EnSession) ──▶ source / sink
//! ```
//!
//! # Feature flags
//!
//! - `test-utils`: `MemoryReplayStore`, an in-memory source and sink with push notification.

pub mod engine;
mod error;
pub mod middleware;
mod node;
mod record;
mod replay;
pub mod transport;
mod types;
mod verifier;
pub mod wire;

pub use error::Error;
pub use node::{BatchDispatch, ConfigError, Limits, Node, NodeBuilder, Role, VerifierResult};
pub use record::{RawRecord, RecordError, ReplayRecord};
pub use replay::{Overrides, ReplaySink, ReplaySource, SinkError, SourceError};
pub use transport::{
    DisconnectReason, Incoming, Link, LinkClosed, LinkInfo, LinkReceiver, LinkSender, Transport,
    TransportError,
};
pub use types::{BlockNumber, ConnectionId, Direction, PeerAddr, PeerId};
pub use verifier::{
    AuthOutcome, ChallengeSigner, SignerAddress, SignerAuthenticator, VERIFIER_AUTH_DOMAIN,
    Verifier,
};

#[cfg(any(test, feature = "test-utils"))]
mod store;
#[cfg(any(test, feature = "test-utils"))]
pub use store::MemoryReplayStore;
