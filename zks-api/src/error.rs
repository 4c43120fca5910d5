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
    /// A main node without a verifier authenticator was asked to dispatch a batch: no verifier
    /// can be authorized, so nobody could answer it.
    #[error(
        "this main node has no verifier authenticator (NodeBuilder::verifier_authenticator): \
         no verifier can be authorized, so no batch can be answered"
    )]
    NoVerifierAuthenticator,
    /// A batch dispatch with this request id is already open.
    #[error("request id {0} is already in use")]
    RequestIdInUse(RequestId),
}

/// Why a node configuration cannot start.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// None of `main_node`, `external_node` or `relay` was called.
    #[error("no role: call main_node(source), external_node(sink) or relay(store)")]
    NoRole,
    /// The node supports no protocol version.
    #[error("no zks version to support")]
    NoVersions,
    /// None of the configured versions carries the node's record type
    /// ([`ReplayRecord::VERSIONS`](crate::ReplayRecord::VERSIONS)).
    #[error(
        "none of the configured zks versions {configured} carries this node's records \
         (they travel on {carried} only)"
    )]
    NoVersionsForRecords {
        /// The versions set with `versions` / `capabilities`.
        configured: crate::wire::VersionSet,
        /// The versions the record type travels on.
        carried: crate::wire::VersionSet,
    },
    /// An external node or relay has no trusted main node (upstream) to replay from.
    #[error("an external node or relay needs at least one trusted main node to replay from")]
    NoTrustedMainNodes,
    /// Trusted main nodes were given to a main node.
    #[error("trusted main nodes are an external-node setting")]
    TrustedMainNodesOnMainNode,
    /// A setting was given to a role that has no use for it.
    #[error("{setting} is not a setting of a {role:?}: {reason}")]
    NotForRole {
        /// The builder method.
        setting: &'static str,
        /// The node's role.
        role: Role,
        /// Why the role has no use for it.
        reason: &'static str,
    },
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
