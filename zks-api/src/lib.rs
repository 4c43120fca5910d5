//! zks: the `zks/<version>` subprotocol between a main node and external nodes.
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod types;
pub mod wire;

pub use types::{BlockNumber, ConnectionId, Direction, PeerAddr, PeerId};
pub mod transport;

pub use transport::{
    DisconnectReason, Incoming, Link, LinkClosed, LinkInfo, LinkReceiver, LinkSender, Transport,
    TransportError,
};
mod record;
mod replay;
mod verifier;

pub use record::{RawRecord, RecordError, ReplayRecord};
pub use replay::{Overrides, ReplaySink, ReplaySource, SinkError, SourceError};
pub use verifier::Verifier;

#[cfg(any(test, feature = "test-utils"))]
mod store;
#[cfg(any(test, feature = "test-utils"))]
pub use store::MemoryReplayStore;
