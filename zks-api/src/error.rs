//! The crate's error type.

use crate::engine::ProtocolError;
use crate::node::{ConfigError, Role};
use crate::transport::TransportError;
use crate::wire::{DecodeError, RequestId};

/// Everything that can go wrong in `zks-api`, by layer.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The node configuration cannot work; nothing was started.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The transport failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// A message did not decode (the link that carried it was ended).
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A peer broke the protocol (the link was ended).
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The call needs a node of another role.
    #[error("only a {needed:?} can do this")]
    WrongRole {
        /// The role the call needs.
        needed: Role,
    },
    /// A batch dispatch with this request id is already open.
    #[error("request id {0} is already in use")]
    RequestIdInUse(RequestId),
}
