//! The transport author's kit: what a [`Transport`](super::Transport) implementation needs
//! beyond the trait, and a node team never does.
//!
//! [`Link::channel`](super::Link::channel) gives the node its [`Link`](super::Link) and the
//! transport its [`LinkEnd`]: the [`OutboundQueue`] of what the node wants sent (frames, or a
//! close with a reason, out of band) and the [`InboundQueue`] where received frames go, under
//! the node's [`MessageSizeCap`]. A byte-stream transport runs that end with the shared
//! [`pump`] over its own `tokio_util` codec; [`RepeatSummary`] keeps a flood of repeated events
//! (refused sockets, accept errors) to one log line per interval.
//!
//! Every transport we ship passes `zks_api::conformance` (feature `test-utils`);
//! a new one should too.

mod end;
pub mod pump;
mod summary;

pub use self::end::{
    DeliverPermit, InboundQueue, LinkEnd, MessageSizeCap, Outbound, OutboundQueue,
};
pub use self::summary::RepeatSummary;
