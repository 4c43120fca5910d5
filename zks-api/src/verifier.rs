//! The node team's batch verifier, used by external nodes on zks/3.

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
