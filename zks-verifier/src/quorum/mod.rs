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

/// What a failed collection's error adds to "quorum not reached: N of M signatures": each
/// refusal with its reason, each approval that did not count and why, and who never answered.
pub(crate) fn shortfall(tally: &Tally, silent: &[zks_api::SignerAddress]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for (signer, reason) in &tally.refused {
        let _ = write!(out, "; {signer} refused: {reason}");
    }
    for (signer, rejection) in &tally.rejected {
        if !tally.approved.contains_key(signer) {
            let _ = write!(out, "; {signer}'s approval did not count: {rejection}");
        }
    }
    if !silent.is_empty() {
        let names: Vec<String> = silent.iter().map(ToString::to_string).collect();
        let _ = write!(out, "; no answer from {}", names.join(", "));
    }
    out
}
