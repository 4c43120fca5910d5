//! How a link ends, as the node sees it: [`LinkClosed`] from the receiver, [`LinkGone`] from a
//! sender. Shared by both halves of a link and by the transport author's kit.

use std::sync::Arc;

use crate::DisconnectReason;

/// The link is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("link is closed")]
pub struct LinkGone;

/// How a link ended, as the node's receiver sees it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkClosed {
    /// The peer closed it, telling us why.
    #[error("peer disconnected: {0}")]
    ByPeer(DisconnectReason),
    /// Our transport closed it (I/O error, ping timeout, bad frame, killed by fault injection);
    /// `reason` is what the peer was told, `detail` says what happened.
    #[error("transport closed the link ({reason}): {detail}")]
    ByTransport {
        /// The Disconnect reason sent to the peer, if the transport could send one.
        reason: DisconnectReason,
        /// What went wrong, for logs.
        detail: Arc<str>,
    },
    /// The transport let go of the link without saying why.
    #[error("link dropped")]
    Dropped,
}
