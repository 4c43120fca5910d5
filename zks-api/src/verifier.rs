//! The node team's batch verifier and verifier-auth signer, used by external nodes on
//! `zks_2fa/1` beside zks/5 (or in-band on zks/3–4), and the main node's authenticator.

use std::sync::Arc;

use async_trait::async_trait;

use crate::wire::{VerifyBatch, VerifyBatchOutcome};

/// EN side: decides on a batch the main node asks it to verify.
///
/// The engine calls it only after the local sink has applied `request.last_block_number`, and
/// sends the outcome back as a `VerifyBatchResult` on the link that delivered the request.
#[async_trait]
pub trait Verifier: Send + Sync + 'static {
    /// Checks the batch and signs an approval, or refuses with a reason.
    ///
    /// # Cancel safety
    ///
    /// May be cancelled when the link to the main node closes first.
    async fn verify(&self, request: &VerifyBatch) -> VerifyBatchOutcome;
}

#[async_trait]
impl<T: Verifier + ?Sized> Verifier for Arc<T> {
    async fn verify(&self, request: &VerifyBatch) -> VerifyBatchOutcome {
        (**self).verify(request).await
    }
}

/// The domain prefix of a verifier-auth prehash: `keccak256(DOMAIN || nonce)` is what an EN
/// signs to answer a `VerifierChallenge`.
pub const VERIFIER_AUTH_DOMAIN: &[u8] = b"zksync-os:verifier-auth:v1";

/// A 20-byte Ethereum-style address of a verifier's signing key.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SignerAddress(pub [u8; 20]);

impl std::fmt::Display for SignerAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("0x")?;
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl std::fmt::Debug for SignerAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SignerAddress({self})")
    }
}

/// EN side: proves the verifier key by signing main-node challenges.
///
/// `zks-verifier` implements it with secp256k1; the engine only calls it for challenges that
/// arrive on links to trusted main nodes, after it asked for the verifier role itself.
pub trait ChallengeSigner: Send + Sync + 'static {
    /// The address of the key.
    fn address(&self) -> SignerAddress;
    /// `r || s || v` (v = 27/28) over `keccak256(VERIFIER_AUTH_DOMAIN || nonce)`.
    fn sign_challenge(&self, nonce: &[u8; 32]) -> [u8; 65];
}

/// MN side: decides whether a `VerifierAuth` proves an accepted verifier key.
pub trait SignerAuthenticator: Send + Sync + 'static {
    /// Recovers the signer of `signature` over the challenge `nonce` and checks it against the
    /// accepted set.
    fn authenticate(&self, nonce: &[u8; 32], signature: &[u8; 65]) -> AuthOutcome;
}

/// What a [`SignerAuthenticator`] concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthOutcome {
    /// The signature recovers to an accepted signer.
    Authorized(SignerAddress),
    /// It recovers to a signer we do not accept (`Some`), or to nothing (`None`).
    Unauthorized(Option<SignerAddress>),
}

impl<T: ChallengeSigner + ?Sized> ChallengeSigner for Arc<T> {
    fn address(&self) -> SignerAddress {
        (**self).address()
    }
    fn sign_challenge(&self, nonce: &[u8; 32]) -> [u8; 65] {
        (**self).sign_challenge(nonce)
    }
}

impl<T: SignerAuthenticator + ?Sized> SignerAuthenticator for Arc<T> {
    fn authenticate(&self, nonce: &[u8; 32], signature: &[u8; 65]) -> AuthOutcome {
        (**self).authenticate(nonce, signature)
    }
}
