//! Tower middleware around each link's inbound handling.
//!
//! Every message a peer sends passes through a per-link [`tower::Service`] stack before the
//! protocol engine sees it. The innermost service, [`Deliver`], hands the message on; layers
//! around it may refuse it by failing the call, which ends the link. The node builder takes
//! your own [`tower::Layer`]s too ([`NodeBuilder::layer`](crate::NodeBuilder::layer)); they
//! wrap the shipped ones and see every message.
//!
//! Shipped, with their defaults in [`NodeSettings`](crate::NodeSettings):
//!
//! - [`size_limit`]: refuses a message above the size cap before it is decoded.
//! - [`rate_limit`]: per-link token buckets for messages/s and bytes/s, tight for control
//!   messages (replay and verifier-role requests, auth, batch results).
//!
//! The cap on active links per node is not a layer (it admits links, not messages): it is
//! [`admission`](crate::admission).
//!
//! Handshake, first-message and idle deadlines are enforced by the link driver itself (they
//! are about silence, which no per-message service can observe); see
//! [`NodeSettings`](crate::NodeSettings).
//!
//! Errors are small structs inside a [`BoxError`]; the engine downcasts the shipped ones into
//! [`Rejection`] and reports anything else as [`Rejection::Other`].

/// Moved to [`admission`](crate::admission): it admits links, it is no per-message layer.
#[deprecated(since = "0.1.0", note = "moved to zks_api::admission")]
pub mod connection_limit {
    pub use crate::admission::{ConnectionLimit, ConnectionPermit, TooManyPeers};
}
pub mod rate_limit;
pub mod size_limit;

use std::error::Error as StdError;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::{Ready, ready};
use tower::util::BoxService;

use crate::wire::{Frame, ZksVersion};
use crate::{ConnectionId, PeerId};

/// The error type of inbound services.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// One message from a peer, as the inbound stack sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundMessage {
    /// The link.
    pub conn: ConnectionId,
    /// The peer.
    pub peer: PeerId,
    /// The negotiated version.
    pub version: ZksVersion,
    /// Whether the peer is trusted (an EN's main node, an MN's configured peer).
    pub trusted: bool,
    /// The message, not yet decoded.
    pub frame: Frame,
}

/// A type-erased inbound stack, as the engine drives it.
pub type InboundService = BoxService<InboundMessage, InboundMessage, BoxError>;

/// Builds a layer of the node's stack around the service inside it.
pub(crate) type LayerFn = Arc<dyn Fn(InboundService) -> InboundService + Send + Sync>;

/// The innermost service: hands every message on to the engine.
#[derive(Clone, Copy, Debug, Default)]
pub struct Deliver;

impl tower::Service<InboundMessage> for Deliver {
    type Response = InboundMessage;
    type Error = BoxError;
    type Future = Ready<Result<InboundMessage, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, message: InboundMessage) -> Self::Future {
        ready(Ok(message))
    }
}

/// Why the inbound stack refused a message; the link is ended.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// See [`size_limit::MessageTooLarge`].
    #[error(transparent)]
    MessageTooLarge(#[from] size_limit::MessageTooLarge),
    /// See [`rate_limit::RateLimited`].
    #[error(transparent)]
    RateLimited(#[from] rate_limit::RateLimited),
    /// A user layer refused the message.
    #[error("refused by middleware: {0}")]
    Other(Arc<str>),
}

impl Rejection {
    /// Recovers a shipped error from a boxed one.
    pub fn from_box(error: BoxError) -> Self {
        let error = match error.downcast::<size_limit::MessageTooLarge>() {
            Ok(e) => return Self::MessageTooLarge(*e),
            Err(e) => e,
        };
        match error.downcast::<rate_limit::RateLimited>() {
            Ok(e) => Self::RateLimited(*e),
            Err(e) => Self::Other(Arc::from(e.to_string())),
        }
    }
}
