//! The protocol engine, sans-IO in the quinn-proto sense.
//!
//! [`MnSession`] and [`EnSession`] are state machines over frames: no sockets, tasks, channels
//! or clocks. Time is an argument (`now`), and every protocol deadline — the MN's first-message
//! wait, the verifier handshake steps, the idle timeout — is owned here: a driver asks
//! [`poll_timeout`](MnSession::poll_timeout) when to wake and calls
//! [`handle_timeout`](MnSession::handle_timeout) then. [`ReplayCursor`] turns source records into
//! `BlockReplays` frames.
//!
//! The async runtime around these cores (tasks, channels, events, the session store) is the
//! [`Node`](crate::Node).

mod cursor;
mod deadline;
mod en;
mod error;
mod mn;
mod verifier;

#[cfg(test)]
mod current;

pub use cursor::{ReplayCursor, ShareKey, SharedReplays};
pub use deadline::SessionTimeouts;
pub use en::{EnAction, EnSession, ReplayRequest};
pub use error::{ProtocolError, TimeoutKind};
pub use mn::{MnAction, MnSession, VerifierStatus};

/// The old name of [`EnAction`]: the engine's outputs are named as outputs.
#[deprecated(since = "0.1.0", note = "renamed EnAction")]
pub type EnInput<R> = EnAction<R>;
/// The old name of [`MnAction`].
#[deprecated(since = "0.1.0", note = "renamed MnAction")]
pub type MnInput = MnAction;
pub use verifier::{ROLE_REQUEST_BURST, ROLE_REQUEST_REFILL, VerifierChannel};
