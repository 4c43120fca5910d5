//! Batch verification (on `zks_2fa/1` beside zks/5, or in-band on zks/3–4): verifier keys, the auth signature, batch signature schemes, a
//! ready [`Verifier`](zks_api::Verifier) for external nodes, and the main node's quorum
//! collector.
//!
//! Where it sits: `zks-api` runs the protocol (challenge, auth, dispatch of `VerifyBatch` to
//! eligible verifiers) and calls the traits this crate implements:
//!
//! - external node: [`VerifierKey`] is the engine's [`ChallengeSigner`](zks_api::ChallengeSigner),
//!   and [`SigningVerifier`] answers batches, signing approvals under a
//!   [`BatchSignatureScheme`] (default [`Secp256k1BatchScheme`]; upstream's EIP-712
//!   `CommitBatchesMultisig` signature is [`Eip712CommitBatchesScheme`], its structs in
//!   [`commit_abi`]);
//! - main node: [`AcceptedSigners`] is the engine's
//!   [`SignerAuthenticator`](zks_api::SignerAuthenticator), and [`QuorumCollector`] (sans-IO)
//!   or [`collect_quorum`] (async, over a [`Node`](zks_api::Node)) turns results into a
//!   [`Quorum`] of signatures.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use zks_api::SignerAddress;
//! use zks_api::wire::{VerifyBatch, VerifyBatchOutcome, VerifyBatchResult};
//! use zks_verifier::{
//!     Action, BatchSignatureScheme, QuorumCollector, QuorumConfig, Secp256k1BatchScheme,
//!     VerifierKey,
//! };
//!
//! let keys: Vec<_> = (0..3).map(|_| VerifierKey::generate()).collect();
//! let config = QuorumConfig::new(keys.iter().map(VerifierKey::address), 2)
//!     .with_request_timeout(Duration::from_secs(5));
//! let batch = VerifyBatch { batch_number: 1, last_block_number: 10, ..Default::default() };
//! let start = Instant::now();
//! let mut collector = QuorumCollector::new(start, batch, config, &Secp256k1BatchScheme)?;
//!
//! let Some(Action::Send(request)) = collector.poll_action() else { unreachable!() };
//! // ... the node sends `request` to every eligible verifier; two approve:
//! for key in &keys[..2] {
//!     let signature = Secp256k1BatchScheme.sign(key, &request);
//!     let result = VerifyBatchResult {
//!         request_id: request.request_id,
//!         batch_number: request.batch_number,
//!         outcome: VerifyBatchOutcome::Approved { signature },
//!     };
//!     collector.handle_result(start, key.address(), result);
//! }
//! let Some(Action::Finish(quorum)) = collector.poll_action() else { unreachable!() };
//! assert_eq!(quorum.signatures.len(), 2);
//! # Ok::<_, zks_verifier::QuorumError>(())
//! ```

pub mod commit_abi;
mod driver;
mod eip712;
mod error;
mod key;
mod quorum;
mod scheme;
mod signing;

/// The alloy types the [`commit_abi`] structs carry, and the trait that ABI-encodes them.
pub use alloy_primitives::{Address, B256, U256};
pub use alloy_sol_types::SolValue;
/// The alloy crates the public types are made of, so a program names them without depending on
/// alloy itself (and gets the same versions): [`alloy_primitives::U256`] and
/// [`alloy_primitives::Address`] in the [`commit_abi`] structs, [`alloy_sol_types::SolValue`]
/// to ABI-encode them. (ZKsync OS records' `zks_wire::zksync_os::U256` is another type:
/// convert with `to_be_bytes` / `U256::from_be_bytes`.)
pub use {alloy_primitives, alloy_sol_types};

pub use driver::collect_quorum;
pub use eip712::Eip712CommitBatchesScheme;
pub use error::{DecodeFault, QuorumError, SchemeError, SignatureError, VerifierKeyError};
pub use key::{
    AcceptedSigners, RECOVERABLE_SIGNATURE_BYTES, VerifierKey, auth_prehash, recover_auth_signer,
    recover_prehash,
};
pub use quorum::{
    Action, ApprovalRejection, Quorum, QuorumCollector, QuorumConfig, RequestIds, Tally,
};
pub use scheme::{BatchSignatureScheme, Secp256k1BatchScheme, VERIFY_BATCH_DOMAIN};
pub use signing::SigningVerifier;
