//! The crate's error type.

use crate::Role;
use crate::engine::ProtocolError;
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

/// Why a node configuration cannot start.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Neither `main_node` nor `external_node` was called.
    #[error("no role: call main_node(source) or external_node(sink)")]
    NoRole,
    /// The node supports no protocol version.
    #[error("no zks version to support")]
    NoVersions,
    /// An external node has no trusted main node to replay from.
    #[error("an external node needs at least one trusted main node")]
    NoTrustedMainNodes,
    /// Trusted main nodes were given to a main node.
    #[error("trusted main nodes are an external-node setting")]
    TrustedMainNodesOnMainNode,
    /// A trusted peer address does not name an identity on this transport.
    #[error("trusted main node address: {0}")]
    InvalidTrustedPeer(TransportError),
    /// A limit is out of range.
    #[error("invalid limit {name}: {reason}")]
    InvalidLimit {
        /// The field.
        name: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}
