//! Workspace integration tests, grouped by what they run on.
//!
//! | module | runs on | what |
//! |---|---|---|
//! | [`all_transports`] | memnet, devp2p, libp2p ([`zks_tests::TestNet`]) | the node team's API, replay, relays, verification in both generations |
//! | [`replay`] | memnet, paused time | faults, chaos, several upstreams, silent upstreams, idle churn, encode-once, forks, record versions |
//! | [`relays`] | memnet | relay chains and failover, a relay tree under chaos |
//! | [`verify`] | memnet | verifier auth, dispatch, the quorum collector, retry without a total timeout |
//! | [`hostile`] | memnet, scripted peers | hostile peers, attacks on verification, a hostile trusted main node, admission, limits |
//!
//! Shared fixtures live in `zks_tests` (`tests/src`): chains, node constructors, event
//! helpers and the `TestNet` seam; a group's own fixtures in its `mod.rs`. The transports' own
//! conformance checks (`zks_api::conformance`) run in each transport crate's tests.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod all_transports;
mod hostile;
mod relays;
mod replay;
mod verify;
