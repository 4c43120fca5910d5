//! Batch verification over memnet with `zks-verifier`: verifier auth, dispatch and the quorum
//! collector with honest, slow, hostile and scripted verifiers ([`collector`]); upstream's
//! retry-until-quorum without a total timeout ([`quorum_retry`]).

mod collector;
mod quorum_retry;
