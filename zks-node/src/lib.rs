//! The `zks` binary's library: the embedded redb replay store, the node commands, the demo,
//! `rlpx ping` and metrics. These are the binary's internals, shared with its tests; they
//! carry no stability promise (node teams build on `zks-api` and the transport crates).
//!
//! Where it sits: on top of every other crate of the workspace. `zks-api` runs the protocol,
//! `zks-devp2p` carries it, `zks-verifier` signs and counts batches; this crate wires them to a
//! persistent [`store::RedbReplayStore`] and a command line.

pub mod batch;
pub mod chain_batch;
pub mod cli;
pub mod commands;
pub mod demo;
pub mod exit;
pub mod files;
pub mod keys;
pub mod logging;
pub mod metrics;
pub mod net;
pub mod ping;
pub mod produce;
pub mod stop;
pub mod store;

/// A user-facing error: one line.
pub type CliError = String;
