//! Verifier payloads: role request, challenge, auth, batch request and result.
//!
//! One layout serves zks/3 and zks/4 (ids `0x02..=0x06`) and `zks_2fa/1` (ids `0x00..=0x04`):
//! the upstream vectors for zks/4 and `zks_2fa/1` match our zks/3 encoding byte for byte.

use std::fmt;

use alloy_rlp::Encodable;
use bytes::Bytes;

use super::DecodeError;
use super::limits::{AUTH_SIGNATURE_BYTES, MAX_REASON_BYTES, MAX_SIGNATURE_BYTES, NONCE_BYTES};
use super::rlp::{Limit, Reader, list_header};
use crate::BlockNumber;

/// Identifies one `VerifyBatch` attempt; its `VerifyBatchResult` carries the same id.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

pub(crate) fn decode_role_request(body: &Bytes) -> Result<(), DecodeError> {
    let mut top = Reader::new(body);
    let fields = top.list("VerifierRoleRequest", None)?;
    top.finish("VerifierRoleRequest")?;
    fields.finish("VerifierRoleRequest")
}

/// MN → EN: the nonce the EN must sign to prove its verifier key. Body: `[nonce]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifierChallenge {
    /// 32 bytes from the MN's CSPRNG, fresh for every challenge.
    pub nonce: [u8; NONCE_BYTES],
}

impl VerifierChallenge {
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        list_header(self.nonce.as_slice().length()).encode(out);
        self.nonce.as_slice().encode(out);
    }

    pub(crate) fn decode(body: &Bytes) -> Result<Self, DecodeError> {
        let mut top = Reader::new(body);
        let mut fields = top.list("VerifierChallenge", None)?;
        top.finish("VerifierChallenge")?;
        let nonce = fields.array("nonce")?;
        fields.finish("VerifierChallenge")?;
        Ok(Self { nonce })
    }
}

/// EN → MN: the signature over the challenge. Body: `[signature]`, `r || s || v`.
///
/// The signature is kept as the bytes that arrived. Upstream (zks/4, `zks_2fa/1`) puts no
/// length rule on the wire: a signature of another length than 65 decodes, and is refused when
/// it is used ([`rsv`](Self::rsv)); a main node then reports the peer unauthorized. Only zks/3,
/// our seed encoding, refuses other lengths while decoding. Any length is bounded by
/// [`MAX_SIGNATURE_BYTES`] before it is sliced out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifierAuth {
    /// `r (32) || s (32) || v (1)` when well formed; `v` is 27/28 (0/1 accepted too).
    pub signature: Bytes,
}

impl VerifierAuth {
    /// An auth carrying a well-formed `r || s || v` signature.
    pub fn new(rsv: [u8; AUTH_SIGNATURE_BYTES]) -> Self {
        Self {
            signature: Bytes::copy_from_slice(&rsv),
        }
    }

    /// The signature as `r || s || v`, the only shape a main node can verify.
    ///
    /// # Errors
    ///
    /// [`DecodeError::WrongLength`] when the signature is not exactly
    /// [`AUTH_SIGNATURE_BYTES`] long.
    pub fn rsv(&self) -> Result<[u8; AUTH_SIGNATURE_BYTES], DecodeError> {
        self.signature
            .as_ref()
            .try_into()
            .map_err(|_| DecodeError::WrongLength {
                field: "signature",
                expected: AUTH_SIGNATURE_BYTES,
                got: self.signature.len(),
            })
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        list_header(self.signature.length()).encode(out);
        self.signature.encode(out);
    }

    /// `fixed_length`: zks/3 refuses a signature that is not 65 bytes at decode time.
    pub(crate) fn decode(body: &Bytes, fixed_length: bool) -> Result<Self, DecodeError> {
        let mut top = Reader::new(body);
        let mut fields = top.list("VerifierAuth", None)?;
        top.finish("VerifierAuth")?;
        let auth = if fixed_length {
            Self::new(fields.array("signature")?)
        } else {
            Self {
                signature: fields.bytes(
                    "signature",
                    Some(Limit {
                        max: MAX_SIGNATURE_BYTES,
                        error: |len, max| DecodeError::SignatureTooLong { len, max },
                    }),
                )?,
            }
        };
        fields.finish("VerifierAuth")?;
        Ok(auth)
    }
}

impl From<[u8; AUTH_SIGNATURE_BYTES]> for VerifierAuth {
    fn from(rsv: [u8; AUTH_SIGNATURE_BYTES]) -> Self {
        Self::new(rsv)
    }
}

/// MN → EN: a batch to verify.
///
/// Body: `[request_id, batch_number, first_block, last_block, pubdata_mode, commit_data,
/// prev_commit_data, execution_protocol_version]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyBatch {
    /// The attempt this request belongs to.
    pub request_id: RequestId,
    /// The batch.
    pub batch_number: u64,
    /// First block of the batch.
    pub first_block_number: BlockNumber,
    /// Last block of the batch; the EN answers only once it has applied it.
    pub last_block_number: BlockNumber,
    /// How the batch publishes its data.
    pub pubdata_mode: u8,
    /// The batch's commit data.
    pub commit_data: Bytes,
    /// The previous batch's commit data.
    pub prev_commit_data: Bytes,
    /// Protocol version the batch was executed under.
    pub execution_protocol_version: u16,
}

impl VerifyBatch {
    fn payload_length(&self) -> usize {
        self.request_id.0.length()
            + self.batch_number.length()
            + self.first_block_number.length()
            + self.last_block_number.length()
            + self.pubdata_mode.length()
            + self.commit_data.length()
            + self.prev_commit_data.length()
            + self.execution_protocol_version.length()
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        list_header(self.payload_length()).encode(out);
        self.request_id.0.encode(out);
        self.batch_number.encode(out);
        self.first_block_number.encode(out);
        self.last_block_number.encode(out);
        self.pubdata_mode.encode(out);
        self.commit_data.encode(out);
        self.prev_commit_data.encode(out);
        self.execution_protocol_version.encode(out);
    }

    pub(crate) fn decode(body: &Bytes) -> Result<Self, DecodeError> {
        let mut top = Reader::new(body);
        let mut f = top.list("VerifyBatch", None)?;
        top.finish("VerifyBatch")?;
        // Only the message-size cap bounds commit data; it is sliced, not copied.
        let batch = Self {
            request_id: RequestId(f.value("request_id")?),
            batch_number: f.value("batch_number")?,
            first_block_number: f.value("first_block_number")?,
            last_block_number: f.value("last_block_number")?,
            pubdata_mode: f.value("pubdata_mode")?,
            commit_data: f.bytes("commit_data", None)?,
            prev_commit_data: f.bytes("prev_commit_data", None)?,
            execution_protocol_version: f.value("execution_protocol_version")?,
        };
        f.finish("VerifyBatch")?;
        Ok(batch)
    }
}

/// What a verifier decided about a batch.
#[derive(Clone, PartialEq, Eq)]
pub enum VerifyBatchOutcome {
    /// The batch checks out; `signature` is the verifier's signature over the batch digest.
    Approved {
        /// Signature bytes of the batch signature scheme.
        signature: Bytes,
    },
    /// The batch does not check out, or the verifier cannot tell.
    Refused {
        /// Human-readable reason, at most [`MAX_REASON_BYTES`] bytes.
        reason: String,
    },
}

impl fmt::Debug for VerifyBatchOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Approved { signature } => {
                write!(f, "Approved({} byte signature)", signature.len())
            }
            Self::Refused { reason } => f.debug_tuple("Refused").field(reason).finish(),
        }
    }
}

/// EN → MN: a verifier's answer to a `VerifyBatch`.
///
/// Body (**not** a list): `request_id || batch_number || tag || signature-or-reason`, with tag
/// 0 for approved (followed by the signature bytes) and 1 for refused (followed by the reason).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyBatchResult {
    /// The request this answers.
    pub request_id: RequestId,
    /// The batch this answers.
    pub batch_number: u64,
    /// The decision.
    pub outcome: VerifyBatchOutcome,
}

const TAG_APPROVED: u64 = 0;
const TAG_REFUSED: u64 = 1;

impl VerifyBatchResult {
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        self.request_id.0.encode(out);
        self.batch_number.encode(out);
        match &self.outcome {
            VerifyBatchOutcome::Approved { signature } => {
                TAG_APPROVED.encode(out);
                signature.encode(out);
            }
            VerifyBatchOutcome::Refused { reason } => {
                TAG_REFUSED.encode(out);
                reason.as_bytes().encode(out);
            }
        }
    }

    pub(crate) fn decode(body: &Bytes) -> Result<Self, DecodeError> {
        let mut f = Reader::new(body);
        let request_id = RequestId(f.value("request_id")?);
        let batch_number = f.value("batch_number")?;
        let tag: u64 = f.value("outcome tag")?;
        let outcome = match tag {
            TAG_APPROVED => VerifyBatchOutcome::Approved {
                signature: f.bytes(
                    "signature",
                    Some(Limit {
                        max: MAX_SIGNATURE_BYTES,
                        error: |len, max| DecodeError::SignatureTooLong { len, max },
                    }),
                )?,
            },
            TAG_REFUSED => {
                let raw = f.bytes(
                    "reason",
                    Some(Limit {
                        max: MAX_REASON_BYTES,
                        error: |len, max| DecodeError::ReasonTooLong { len, max },
                    }),
                )?;
                let reason = std::str::from_utf8(&raw).map_err(|_| DecodeError::ReasonNotUtf8)?;
                VerifyBatchOutcome::Refused {
                    reason: reason.to_owned(),
                }
            }
            other => return Err(DecodeError::UnknownOutcomeTag(other)),
        };
        f.finish("VerifyBatchResult")?;
        Ok(Self {
            request_id,
            batch_number,
            outcome,
        })
    }
}
