//! The `zks` binary's library: the embedded redb replay store, the node commands, the demo,
//! `rlpx ping` and metrics.
//!
//! Where it sits: on top of every other crate of the workspace. `zks-api` runs the protocol,
//! `zks-devp2p` carries it, `zks-verifier` signs and counts batches; this crate wires them to a
//! persistent [`store::RedbReplayStore`] and a command line.

pub mod cli;
pub mod commands;
pub mod demo;
pub mod files;
pub mod logging;
pub mod metrics;
pub mod node;
pub mod ping;
pub mod store;
