//! The main node's quorum collector: a sans-IO state machine ([`QuorumCollector`]) and its
//! configuration.
//!
//! The collector decides which results count and when to retry; it does not send anything or
//! read a clock. [`collect_quorum`](crate::collect_quorum) drives it over a
//! [`Node`](zks_api::Node) with `tokio::time`.

mod collector;
mod config;

pub use collector::{Action, ApprovalRejection, Quorum, QuorumCollector, Tally};
pub use config::{QuorumConfig, RequestIds};
