//! Errors of the wire codec.

use super::{MessageId, Protocol, ZksVersion};

/// Why a zks message could not be decoded.
///
/// Every variant means the peer sent bytes we will not accept: the engine ends the link with
/// Disconnect `ProtocolBreach` (or the transport's equivalent) and reports this error in the
/// link's `Closed` event.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The RLP itself is malformed (truncated, non-canonical, wrong item type).
    #[error("malformed RLP: {0}")]
    Rlp(#[from] alloy_rlp::Error),
    /// The frame belongs to another subprotocol than the decoder's.
    #[error("{got} frame where a {expected} message was due")]
    WrongProtocol {
        /// The decoder's subprotocol.
        expected: Protocol,
        /// The frame's.
        got: Protocol,
    },
    /// The message id is not one of the messages of the decoder's subprotocol at all (`zks`
    /// ids `0x07` and up, `zks_2fa/1` ids `0x05` and up).
    #[error("unknown message id {id:#04x}")]
    UnknownMessageId {
        /// The id received.
        id: u8,
    },
    /// The message id belonged to an earlier version and was retired by the negotiated one
    /// (zks/5 retired the verifier ids `0x02..=0x06`; they are never reused).
    #[error("message {id:?} is retired in {version}")]
    RetiredMessageId {
        /// The retired message's id.
        id: MessageId,
        /// The negotiated version.
        version: ZksVersion,
    },
    /// The message exists, but not in the version negotiated on this link.
    #[error("message {id:?} is not part of {version}")]
    MessageNotInVersion {
        /// The message received.
        id: MessageId,
        /// The negotiated version.
        version: ZksVersion,
    },
    /// The message body is larger than [`MAX_MESSAGE_BYTES`](super::limits::MAX_MESSAGE_BYTES).
    #[error("message of {size} bytes exceeds the limit of {max}")]
    MessageTooLarge {
        /// Body size received.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// More record overrides than [`MAX_RECORD_OVERRIDES`](super::limits::MAX_RECORD_OVERRIDES).
    #[error("more than {max} record overrides")]
    TooManyOverrides {
        /// The limit.
        max: usize,
    },
    /// The override list is larger than
    /// [`MAX_OVERRIDE_LIST_BYTES`](super::limits::MAX_OVERRIDE_LIST_BYTES).
    #[error("override list of {size} bytes exceeds the limit of {max}")]
    OverrideListTooLarge {
        /// Encoded size of the list payload.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A `db_key` is longer than [`MAX_DB_KEY_BYTES`](super::limits::MAX_DB_KEY_BYTES).
    #[error("db_key of {len} bytes exceeds the limit of {max}")]
    DbKeyTooLong {
        /// Length received.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A field the version does not define (e.g. `max_blocks_per_message` on zks/1–2).
    #[error("{field} is not part of {version}")]
    FieldNotInVersion {
        /// The field.
        field: &'static str,
        /// The link's version.
        version: ZksVersion,
    },
    /// More records than the version allows in one message: one on zks/1–2,
    /// [`MAX_RECORDS_PER_MESSAGE`](super::limits::MAX_RECORDS_PER_MESSAGE) on zks/3–5.
    #[error("more than {max} records in one BlockReplays")]
    TooManyRecords {
        /// The limit.
        max: usize,
    },
    /// A refusal reason longer than [`MAX_REASON_BYTES`](super::limits::MAX_REASON_BYTES).
    #[error("reason of {len} bytes exceeds the limit of {max}")]
    ReasonTooLong {
        /// Length received.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A refusal reason that is not UTF-8.
    #[error("reason is not valid UTF-8")]
    ReasonNotUtf8,
    /// An approval (or, on zks/4 and `zks_2fa/1`, auth) signature longer than
    /// [`MAX_SIGNATURE_BYTES`](super::limits::MAX_SIGNATURE_BYTES).
    #[error("signature of {len} bytes exceeds the limit of {max}")]
    SignatureTooLong {
        /// Length received.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A fixed-size field (nonce, auth signature) has the wrong length.
    #[error("{field} must be {expected} bytes, got {got}")]
    WrongLength {
        /// The field.
        field: &'static str,
        /// Its required length.
        expected: usize,
        /// The length received.
        got: usize,
    },
    /// A required field is missing at the end of a message.
    #[error("missing field {0}")]
    MissingField(&'static str),
    /// Bytes follow the last field of a message or list.
    #[error("{count} unexpected trailing bytes in {context}")]
    TrailingBytes {
        /// Where they were found.
        context: &'static str,
        /// How many.
        count: usize,
    },
    /// A `VerifyBatchResult` outcome tag other than 0 (approved) or 1 (refused).
    #[error("unknown outcome tag {0}")]
    UnknownOutcomeTag(u64),
}
