//! Workspace integration tests: replay end to end, faults, and hostile peers.
//!
//! Scenarios in [`replay`] are written once against [`zks_tests::TestNet`] and run on every
//! transport; [`faults`] and [`hostile`] use memnet's deterministic fault injection and
//! scripted peers.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod faults;
mod hostile;
mod limits;
mod replay;
