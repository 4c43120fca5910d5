//! The crate's error type.

use crate::engine::ProtocolError;
use crate::node::ConfigError;
use crate::transport::TransportError;
use crate::wire::DecodeError;

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
}
