//! What a verifier's approval signs: the [`BatchSignatureScheme`] seam and its default,
//! [`Secp256k1BatchScheme`]. Upstream's EIP-712 scheme is
//! [`Eip712CommitBatchesScheme`](crate::Eip712CommitBatchesScheme).

use bytes::Bytes;
use zks_api::SignerAddress;
use zks_api::wire::VerifyBatch;

use crate::error::{SchemeError, SignatureError};
use crate::key::{RECOVERABLE_SIGNATURE_BYTES, VerifierKey, keccak256, recover_prehash};

/// How approvals of a batch are signed and checked.
///
/// The digest covers the batch, never the request id, so a retried request (same batch, new
/// id) can be answered with, and counted with, the same signature. Object safe: collectors take
/// it as `&dyn BatchSignatureScheme`.
///
/// A scheme may be unable to digest a batch whose data it has to decode (see
/// [`Eip712CommitBatchesScheme`](crate::Eip712CommitBatchesScheme)): [`digest`](Self::digest)
/// and [`sign`](Self::sign) then fail with a [`SchemeError`] and [`recover`](Self::recover)
/// with [`SignatureError::Batch`]. They never panic on any batch.
pub trait BatchSignatureScheme: Send + Sync {
    /// The 32 bytes an approval of `batch` commits to.
    ///
    /// # Errors
    ///
    /// [`SchemeError`] if the batch's data does not fit the scheme.
    fn digest(&self, batch: &VerifyBatch) -> Result<[u8; 32], SchemeError>;

    /// Signs an approval of `batch` with `key`.
    ///
    /// The provided method signs the [`digest`](Self::digest) as a prehash
    /// ([`VerifierKey::sign_prehash`]): 65 bytes `r || s || v`, `v` 27/28.
    ///
    /// # Errors
    ///
    /// [`SchemeError`] if the batch cannot be digested.
    fn sign(&self, key: &VerifierKey, batch: &VerifyBatch) -> Result<Bytes, SchemeError> {
        let digest = self.digest(batch)?;
        Ok(Bytes::copy_from_slice(&key.sign_prehash(&digest)))
    }

    /// The signer of an approval of `batch`.
    ///
    /// The provided method recovers a 65-byte `r || s || v` signature over the
    /// [`digest`](Self::digest) ([`recover_prehash`]).
    ///
    /// # Errors
    ///
    /// [`SignatureError`] if `signature` is malformed, [`SignatureError::Batch`] if the batch
    /// cannot be digested. A well-formed signature over another digest recovers to some
    /// unrelated address; callers check the address.
    fn recover(
        &self,
        batch: &VerifyBatch,
        signature: &[u8],
    ) -> Result<SignerAddress, SignatureError> {
        let raw: &[u8; RECOVERABLE_SIGNATURE_BYTES] =
            signature.try_into().map_err(|_| SignatureError::Length {
                got: signature.len(),
                expected: RECOVERABLE_SIGNATURE_BYTES,
            })?;
        let digest = self.digest(batch).map_err(SignatureError::Batch)?;
        recover_prehash(&digest, raw)
    }
}

impl<T: BatchSignatureScheme + ?Sized> BatchSignatureScheme for std::sync::Arc<T> {
    fn digest(&self, batch: &VerifyBatch) -> Result<[u8; 32], SchemeError> {
        (**self).digest(batch)
    }
    fn sign(&self, key: &VerifierKey, batch: &VerifyBatch) -> Result<Bytes, SchemeError> {
        (**self).sign(key, batch)
    }
    fn recover(
        &self,
        batch: &VerifyBatch,
        signature: &[u8],
    ) -> Result<SignerAddress, SignatureError> {
        (**self).recover(batch, signature)
    }
}

/// Domain prefix of the default batch digest.
pub const VERIFY_BATCH_DOMAIN: &[u8] = b"zksync-os:verify-batch:v1";

/// The default scheme: a recoverable secp256k1 signature (`r || s || v`, 65 bytes, `v` 27/28,
/// low-s) over
///
/// ```text
/// keccak256(
///     "zksync-os:verify-batch:v1"
///     || batch_number (u64 BE) || first_block_number (u64 BE) || last_block_number (u64 BE)
///     || pubdata_mode (u8)
///     || len(commit_data) (u64 BE) || commit_data
///     || len(prev_commit_data) (u64 BE) || prev_commit_data
///     || execution_protocol_version (u16 BE)
/// )
/// ```
///
/// Every field has a fixed width or a length prefix, so two different batches never encode to
/// the same bytes. `request_id` is left out.
///
/// ```
/// use zks_api::wire::{RequestId, VerifyBatch};
/// use zks_verifier::{BatchSignatureScheme, Secp256k1BatchScheme, VerifierKey};
///
/// let key = VerifierKey::generate();
/// let batch = VerifyBatch { batch_number: 7, last_block_number: 120, ..Default::default() };
/// let signature = Secp256k1BatchScheme.sign(&key, &batch);
/// let retry = VerifyBatch { request_id: RequestId(2), ..batch.clone() };
/// assert_eq!(Secp256k1BatchScheme.recover(&retry, &signature), Ok(key.address()));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Secp256k1BatchScheme;

impl Secp256k1BatchScheme {
    /// The digest of `batch` (see the type's documentation). Every batch has one, so unlike
    /// [`BatchSignatureScheme::digest`] this cannot fail.
    pub fn digest(&self, batch: &VerifyBatch) -> [u8; 32] {
        let commit_len = (batch.commit_data.len() as u64).to_be_bytes();
        let prev_len = (batch.prev_commit_data.len() as u64).to_be_bytes();
        keccak256(&[
            VERIFY_BATCH_DOMAIN,
            &batch.batch_number.to_be_bytes(),
            &batch.first_block_number.to_be_bytes(),
            &batch.last_block_number.to_be_bytes(),
            &[batch.pubdata_mode],
            &commit_len,
            &batch.commit_data,
            &prev_len,
            &batch.prev_commit_data,
            &batch.execution_protocol_version.to_be_bytes(),
        ])
    }

    /// Signs an approval of `batch` with `key`; infallible, like [`digest`](Self::digest).
    pub fn sign(&self, key: &VerifierKey, batch: &VerifyBatch) -> Bytes {
        Bytes::copy_from_slice(&key.sign_prehash(&self.digest(batch)))
    }
}

impl BatchSignatureScheme for Secp256k1BatchScheme {
    fn digest(&self, batch: &VerifyBatch) -> Result<[u8; 32], SchemeError> {
        // The inherent, infallible method.
        Ok(Self::digest(self, batch))
    }
}

#[cfg(test)]
mod tests {
    use zks_api::wire::RequestId;

    use super::*;

    fn batch() -> VerifyBatch {
        VerifyBatch {
            request_id: RequestId(41),
            batch_number: 7,
            first_block_number: 100,
            last_block_number: 120,
            pubdata_mode: 0,
            commit_data: Bytes::from_static(b"commit"),
            prev_commit_data: Bytes::from_static(b"prev"),
            execution_protocol_version: 31,
        }
    }

    #[test]
    fn object_safe() {
        let scheme: &dyn BatchSignatureScheme = &Secp256k1BatchScheme;
        // Through the trait: the inherent digest, wrapped.
        assert_eq!(
            scheme.digest(&batch()),
            Ok(Secp256k1BatchScheme.digest(&batch()))
        );
        let key = VerifierKey::generate();
        assert_eq!(
            scheme.sign(&key, &batch()),
            Ok(Secp256k1BatchScheme.sign(&key, &batch()))
        );
    }

    #[test]
    fn digest_ignores_the_request_id() {
        let retry = VerifyBatch {
            request_id: RequestId(42),
            ..batch()
        };
        assert_eq!(
            Secp256k1BatchScheme.digest(&batch()),
            Secp256k1BatchScheme.digest(&retry)
        );
    }

    #[test]
    fn digest_covers_every_other_field() {
        let base = Secp256k1BatchScheme.digest(&batch());
        let variants = [
            VerifyBatch {
                batch_number: 8,
                ..batch()
            },
            VerifyBatch {
                first_block_number: 101,
                ..batch()
            },
            VerifyBatch {
                last_block_number: 121,
                ..batch()
            },
            VerifyBatch {
                pubdata_mode: 1,
                ..batch()
            },
            VerifyBatch {
                commit_data: Bytes::from_static(b"commiT"),
                ..batch()
            },
            VerifyBatch {
                prev_commit_data: Bytes::from_static(b"prev!"),
                ..batch()
            },
            VerifyBatch {
                execution_protocol_version: 32,
                ..batch()
            },
        ];
        for variant in variants {
            assert_ne!(Secp256k1BatchScheme.digest(&variant), base, "{variant:?}");
        }
    }

    #[test]
    fn byte_fields_are_length_prefixed() {
        // Moving a byte across the commit/prev boundary keeps the concatenation but not the
        // digest.
        let a = VerifyBatch {
            commit_data: Bytes::from_static(b"ab"),
            prev_commit_data: Bytes::from_static(b"c"),
            ..batch()
        };
        let b = VerifyBatch {
            commit_data: Bytes::from_static(b"a"),
            prev_commit_data: Bytes::from_static(b"bc"),
            ..batch()
        };
        assert_ne!(
            Secp256k1BatchScheme.digest(&a),
            Secp256k1BatchScheme.digest(&b)
        );
    }

    #[test]
    fn digest_is_domain_separated_from_auth() {
        let digest = Secp256k1BatchScheme.digest(&VerifyBatch::default());
        assert_ne!(digest, crate::auth_prehash(&[0; 32]));
        // Pinned so that a change to the encoding is a deliberate one.
        assert_eq!(
            hex::encode(Secp256k1BatchScheme.digest(&batch())),
            hex::encode(keccak256(&[
                b"zksync-os:verify-batch:v1",
                &7u64.to_be_bytes(),
                &100u64.to_be_bytes(),
                &120u64.to_be_bytes(),
                &[0],
                &6u64.to_be_bytes(),
                b"commit",
                &4u64.to_be_bytes(),
                b"prev",
                &31u16.to_be_bytes(),
            ]))
        );
    }

    #[test]
    fn sign_then_recover_round_trips() {
        let key = VerifierKey::generate();
        let signature = Secp256k1BatchScheme.sign(&key, &batch());
        assert_eq!(signature.len(), 65);
        assert!(matches!(signature[64], 27 | 28));
        assert_eq!(
            Secp256k1BatchScheme.recover(&batch(), &signature),
            Ok(key.address())
        );
        // Deterministic.
        assert_eq!(Secp256k1BatchScheme.sign(&key, &batch()), signature);
    }

    #[test]
    fn recover_rejects_wrong_lengths() {
        for len in [0, 64, 66, 1024] {
            assert_eq!(
                Secp256k1BatchScheme.recover(&batch(), &vec![1; len]),
                Err(SignatureError::Length {
                    got: len,
                    expected: 65
                })
            );
        }
    }

    #[test]
    fn a_signature_over_another_batch_recovers_to_someone_else() {
        let key = VerifierKey::generate();
        let other = VerifyBatch {
            batch_number: 8,
            ..batch()
        };
        let signature = Secp256k1BatchScheme.sign(&key, &other);
        assert_ne!(
            Secp256k1BatchScheme.recover(&batch(), &signature),
            Ok(key.address())
        );
    }
}
