//! [`SigningVerifier`]: a ready [`Verifier`] for external nodes that signs approvals with a
//! [`VerifierKey`] after a user decision function accepts the batch.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use zks_api::Verifier;
use zks_api::wire::limits::MAX_REASON_BYTES;
use zks_api::wire::{VerifyBatch, VerifyBatchOutcome};

use crate::key::VerifierKey;
use crate::scheme::{BatchSignatureScheme, Secp256k1BatchScheme};

/// Signs every batch its decision function approves; refuses the rest with the function's
/// reason (truncated to [`MAX_REASON_BYTES`] on a character boundary).
///
/// A batch the scheme cannot digest (for example commit data that does not decode under
/// [`Eip712CommitBatchesScheme`](crate::Eip712CommitBatchesScheme)) is refused with the
/// [`SchemeError`](crate::SchemeError)'s text as the reason, such as
/// `"malformed commit data for protocol minor 31: truncated: ..."`, before the decision
/// function is asked: it could not be signed anyway.
///
/// ```
/// use zks_verifier::{SigningVerifier, VerifierKey};
///
/// let verifier = SigningVerifier::new(VerifierKey::generate(), |batch| {
///     if batch.commit_data.is_empty() {
///         Err("empty commit data".to_owned())
///     } else {
///         Ok(())
///     }
/// });
/// // Plug it into an external node: `.verifier(key, verifier)` on the node builder.
/// # let _ = verifier;
/// ```
pub struct SigningVerifier<F> {
    key: VerifierKey,
    scheme: Arc<dyn BatchSignatureScheme>,
    decide: F,
}

impl<F> SigningVerifier<F>
where
    F: Fn(&VerifyBatch) -> Result<(), String> + Send + Sync + 'static,
{
    /// Signs approvals with `key` under the default [`Secp256k1BatchScheme`].
    pub fn new(key: VerifierKey, decide: F) -> Self {
        Self::with_scheme(key, Arc::new(Secp256k1BatchScheme), decide)
    }

    /// Signs approvals with `key` under `scheme`.
    pub fn with_scheme(key: VerifierKey, scheme: Arc<dyn BatchSignatureScheme>, decide: F) -> Self {
        Self {
            key,
            scheme,
            decide,
        }
    }

    /// The outcome for `batch`, synchronously.
    pub fn decide(&self, batch: &VerifyBatch) -> VerifyBatchOutcome {
        if let Err(error) = self.scheme.digest(batch) {
            tracing::debug!(batch = batch.batch_number, %error, "refusing a batch the scheme cannot digest");
            return refused(error.to_string());
        }
        match (self.decide)(batch) {
            Ok(()) => match self.scheme.sign(&self.key, batch) {
                Ok(signature) => VerifyBatchOutcome::Approved { signature },
                Err(error) => refused(error.to_string()),
            },
            Err(reason) => refused(reason),
        }
    }

    /// The signing key.
    pub fn key(&self) -> &VerifierKey {
        &self.key
    }
}

impl<F> fmt::Debug for SigningVerifier<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningVerifier")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl<F> Verifier for SigningVerifier<F>
where
    F: Fn(&VerifyBatch) -> Result<(), String> + Send + Sync + 'static,
{
    async fn verify(&self, request: &VerifyBatch) -> VerifyBatchOutcome {
        self.decide(request)
    }
}

/// A refusal with `reason`, truncated to [`MAX_REASON_BYTES`].
fn refused(mut reason: String) -> VerifyBatchOutcome {
    truncate_on_char_boundary(&mut reason, MAX_REASON_BYTES);
    VerifyBatchOutcome::Refused { reason }
}

/// Shortens `text` to at most `max` bytes without splitting a character.
fn truncate_on_char_boundary(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn batch() -> VerifyBatch {
        VerifyBatch {
            batch_number: 3,
            last_block_number: 10,
            commit_data: Bytes::from_static(b"c"),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn approvals_carry_a_signature_of_the_scheme() {
        let key = VerifierKey::generate();
        let address = key.address();
        let verifier = SigningVerifier::new(key, |_| Ok(()));
        let VerifyBatchOutcome::Approved { signature } = verifier.verify(&batch()).await else {
            panic!("refused");
        };
        assert_eq!(
            Secp256k1BatchScheme.recover(&batch(), &signature),
            Ok(address)
        );
    }

    #[tokio::test]
    async fn refusals_carry_the_reason() {
        let verifier = SigningVerifier::new(VerifierKey::generate(), |b| {
            Err(format!("batch {} is wrong", b.batch_number))
        });
        assert_eq!(
            verifier.verify(&batch()).await,
            VerifyBatchOutcome::Refused {
                reason: "batch 3 is wrong".to_owned()
            }
        );
    }

    #[test]
    fn long_reasons_are_truncated_on_a_char_boundary() {
        // 'é' is two bytes; 1,023 ASCII bytes then 'é' would straddle the 1 KiB limit.
        let reason = format!("{}é{}", "a".repeat(MAX_REASON_BYTES - 1), "b".repeat(100));
        let verifier = SigningVerifier::new(VerifierKey::generate(), move |_| Err(reason.clone()));
        let VerifyBatchOutcome::Refused { reason } = verifier.decide(&batch()) else {
            panic!("approved");
        };
        assert_eq!(reason.len(), MAX_REASON_BYTES - 1);
        assert!(reason.chars().all(|c| c == 'a'));

        let mut exact = "x".repeat(MAX_REASON_BYTES);
        truncate_on_char_boundary(&mut exact, MAX_REASON_BYTES);
        assert_eq!(exact.len(), MAX_REASON_BYTES);
    }

    #[test]
    fn usable_as_a_dyn_verifier() {
        let verifier: Arc<dyn Verifier> =
            Arc::new(SigningVerifier::new(VerifierKey::generate(), |_| Ok(())));
        let _ = verifier;
    }
}
