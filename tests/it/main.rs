//! Workspace integration tests: replay end to end, faults, and hostile peers.
//!
//! Scenarios in [`replay`] are written once against [`zks_tests::TestNet`] and run on every
//! transport; [`faults`] and [`hostile`] use memnet's deterministic fault injection and
//! scripted peers; [`verify`] covers zks/3 batch verification with `zks-verifier`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod admission;
mod api;
mod attacks;
mod attacks_2fa;
mod chaos;
mod encode_once;
mod faults;
mod forks;
mod hostile;
mod hostile_verifier;
mod idle_churn;
mod limits;
mod quorum_retry;
mod records;
mod relay_net;
mod relay_tree;
mod relays;
mod replay;
mod silent_upstream;
mod upstreams;
mod verify;
mod verify_net;
