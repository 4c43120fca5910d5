//! Per-link token buckets: messages/s and bytes/s, with a tighter bucket for control messages.
//!
//! A peer that exceeds its budget is not slowed down but disconnected: a well-behaved peer
//! never comes near the defaults, and queueing a flood would only move the cost to us.

mod bucket;
mod error;
mod layer;
mod service;

pub use error::{MessageClass, RateLimited};
pub use layer::{RateLimitLayer, RateLimits};
pub use service::RateLimit;
