//! The transport-agnostic protocol engine.
//!
//! The protocol logic is sans-IO: [`MnSession`] and [`EnSession`] are state machines over
//! frames, with no sockets, tasks or clocks; [`ReplayCursor`] turns source records into
//! `BlockReplays` frames. The async drivers in [`Node`](crate::Node) are a thin loop around
//! them: receive a frame, hand it to the session, perform what it asks (read the source, apply
//! to the sink, send), publish events.
//!
//! What the node knows about its links lives in two places, joined when it needs both:
//! [`PeerSessionStore`] ("who is this peer and how far has replay gone?", derived from
//! [`ProtocolEvent`]s) and [`ConnectionRegistry`] ("how do I send to it now?").

mod backoff;
mod en;
mod error;
mod events;
mod mn;
mod registry;
mod sessions;

pub use backoff::Backoff;
pub use en::{EnInput, EnSession, ReplayRequest};
pub use error::{CloseCause, ProtocolError, TimeoutKind};
pub use events::{EventStream, ProtocolEvent};
pub use mn::{MnInput, MnSession, ReplayCursor, VerifierStatus};
pub use registry::{ConnectionRegistry, LinkHandle};
pub use sessions::{PeerSession, PeerSessionStore};
