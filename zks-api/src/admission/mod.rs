//! Admission of links: one cap on active links per node, shared by all of them, with trusted
//! peers exempt. (It admits links, not messages, so it is no [`middleware`](crate::middleware)
//! layer.)
//!
//! Admission happens when the transport hands the node a new link, before any zks message of
//! it is processed: a link beyond the cap is closed at once with Disconnect `TooManyPeers` and a
//! `MaxActiveConnectionsExceeded` event. A slot is held exactly as long as the link is served.
//! Trusted peers (an EN's main nodes, an MN's configured peers) never take a slot and are never
//! refused, so strangers filling the slots cannot strand a node.

mod error;
mod limit;

pub use error::TooManyPeers;
pub use limit::{ConnectionLimit, ConnectionPermit};
