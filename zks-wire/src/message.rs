//! The message envelope: ids, frames, and the [`ZksMessage`] enum.

use bytes::Bytes;

use super::limits::MAX_MESSAGE_BYTES;
use super::{
    BlockReplays, DecodeError, GetBlockReplays, Protocol, VerifierAuth, VerifierChallenge,
    VerifyBatch, VerifyBatchResult, ZksVersion,
};

/// The id of a zks message, relative to the capability's message-id offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum MessageId {
    /// `0x00`, EN → MN: start a replay stream.
    GetBlockReplays = 0x00,
    /// `0x01`, MN → EN: replay records.
    BlockReplays = 0x01,
    /// `0x02`, EN → MN (zks/3–4): ask to be authenticated as a verifier.
    VerifierRoleRequest = 0x02,
    /// `0x03`, MN → EN (zks/3–4): the nonce to sign.
    VerifierChallenge = 0x03,
    /// `0x04`, EN → MN (zks/3–4): the signed nonce.
    VerifierAuth = 0x04,
    /// `0x05`, MN → EN (zks/3–4): a batch to verify.
    VerifyBatch = 0x05,
    /// `0x06`, EN → MN (zks/3–4): the verifier's answer.
    VerifyBatchResult = 0x06,
}

impl MessageId {
    /// The message with this id, if any version defines it.
    pub const fn from_u8(id: u8) -> Option<Self> {
        Some(match id {
            0x00 => Self::GetBlockReplays,
            0x01 => Self::BlockReplays,
            0x02 => Self::VerifierRoleRequest,
            0x03 => Self::VerifierChallenge,
            0x04 => Self::VerifierAuth,
            0x05 => Self::VerifyBatch,
            0x06 => Self::VerifyBatchResult,
            _ => return None,
        })
    }
}

/// One message as links carry it: the subprotocol it travels on, its relative message id and
/// the undecoded body.
///
/// Transports move frames; only the engine decodes them, with the version the link negotiated
/// for [`protocol`](Self::protocol).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The subprotocol this message belongs to.
    pub protocol: Protocol,
    /// Message id relative to the subprotocol (RLPx adds the capability's offset on the wire).
    pub id: u8,
    /// The RLP body.
    pub body: Bytes,
}

impl Frame {
    /// A `zks` frame.
    pub fn zks(id: u8, body: impl Into<Bytes>) -> Self {
        Self {
            protocol: Protocol::Zks,
            id,
            body: body.into(),
        }
    }

    /// A frame of `protocol`.
    pub fn new(protocol: Protocol, id: u8, body: impl Into<Bytes>) -> Self {
        Self {
            protocol,
            id,
            body: body.into(),
        }
    }

    /// Splits `id || body` bytes of a `zks` message, as the golden vectors write them.
    ///
    /// # Errors
    ///
    /// [`DecodeError::MissingField`] when `bytes` is empty.
    pub fn from_wire(bytes: Bytes) -> Result<Self, DecodeError> {
        Self::from_wire_as(Protocol::Zks, bytes)
    }

    /// Splits `id || body` bytes of a message of `protocol` (e.g. the `zks_2fa` vectors).
    ///
    /// # Errors
    ///
    /// [`DecodeError::MissingField`] when `bytes` is empty.
    pub fn from_wire_as(protocol: Protocol, bytes: Bytes) -> Result<Self, DecodeError> {
        let Some(&id) = bytes.first() else {
            return Err(DecodeError::MissingField("message id"));
        };
        Ok(Self::new(protocol, id, bytes.slice(1..)))
    }

    /// The `id || body` bytes of this frame.
    pub fn to_wire(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + self.body.len());
        out.push(self.id);
        out.extend_from_slice(&self.body);
        out
    }

    /// Total size in bytes: id plus body.
    pub fn len(&self) -> usize {
        1 + self.body.len()
    }

    /// Frames always hold at least the id byte.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// A decoded zks message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZksMessage {
    /// See [`GetBlockReplays`].
    GetBlockReplays(GetBlockReplays),
    /// See [`BlockReplays`].
    BlockReplays(BlockReplays),
    /// Ask to be authenticated as a verifier (empty list body).
    VerifierRoleRequest,
    /// See [`VerifierChallenge`].
    VerifierChallenge(VerifierChallenge),
    /// See [`VerifierAuth`].
    VerifierAuth(VerifierAuth),
    /// See [`VerifyBatch`].
    VerifyBatch(VerifyBatch),
    /// See [`VerifyBatchResult`].
    VerifyBatchResult(VerifyBatchResult),
}

impl ZksMessage {
    /// This message's id.
    pub const fn id(&self) -> MessageId {
        match self {
            Self::GetBlockReplays(_) => MessageId::GetBlockReplays,
            Self::BlockReplays(_) => MessageId::BlockReplays,
            Self::VerifierRoleRequest => MessageId::VerifierRoleRequest,
            Self::VerifierChallenge(_) => MessageId::VerifierChallenge,
            Self::VerifierAuth(_) => MessageId::VerifierAuth,
            Self::VerifyBatch(_) => MessageId::VerifyBatch,
            Self::VerifyBatchResult(_) => MessageId::VerifyBatchResult,
        }
    }

    /// Appends the RLP body (without the id byte) to `out`.
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        match self {
            Self::GetBlockReplays(m) => m.encode(out),
            Self::BlockReplays(m) => m.encode(out),
            Self::VerifierRoleRequest => out.push(alloy_rlp::EMPTY_LIST_CODE),
            Self::VerifierChallenge(m) => m.encode(out),
            Self::VerifierAuth(m) => m.encode(out),
            Self::VerifyBatch(m) => m.encode(out),
            Self::VerifyBatchResult(m) => m.encode(out),
        }
    }

    /// Checks this message against `version`'s rules — the same rules
    /// [`decode`](Self::decode) enforces: the id must exist in the version (not retired), and
    /// zks/1–2 define neither `max_blocks_per_message` nor more than one record per
    /// `BlockReplays`.
    ///
    /// # Errors
    ///
    /// [`DecodeError::RetiredMessageId`], [`DecodeError::MessageNotInVersion`],
    /// [`DecodeError::FieldNotInVersion`] or [`DecodeError::TooManyRecords`].
    pub fn check(&self, version: ZksVersion) -> Result<(), DecodeError> {
        let id = self.id();
        if version.retires(id) {
            return Err(DecodeError::RetiredMessageId { id, version });
        }
        if !version.knows(id) {
            return Err(DecodeError::MessageNotInVersion { id, version });
        }
        match self {
            Self::GetBlockReplays(m)
                if m.max_blocks_per_message.is_some() && !version.has_max_blocks_field() =>
            {
                Err(DecodeError::FieldNotInVersion {
                    field: "max_blocks_per_message",
                    version,
                })
            }
            Self::BlockReplays(m) if m.records.len() > version.max_records_per_message() => {
                Err(DecodeError::TooManyRecords {
                    max: version.max_records_per_message(),
                })
            }
            _ => Ok(()),
        }
    }

    /// Encodes this message into a frame for a link of `version`, refusing what the version
    /// does not define (see [`check`](Self::check)).
    ///
    /// # Errors
    ///
    /// As [`check`](Self::check).
    pub fn to_frame_for(&self, version: ZksVersion) -> Result<Frame, DecodeError> {
        self.check(version)?;
        Ok(self.to_frame())
    }

    /// Encodes this message into a frame, without checking it against a version (see
    /// [`to_frame_for`](Self::to_frame_for)).
    pub fn to_frame(&self) -> Frame {
        let mut body = Vec::new();
        self.encode_body(&mut body);
        Frame::zks(self.id() as u8, body)
    }

    /// Decodes a frame received on a link that negotiated `version`.
    ///
    /// Limits are checked before anything is allocated: the body size first, then the message id
    /// against the version, then each field's RLP header.
    ///
    /// Per version: zks/1–2 define neither `max_blocks_per_message`
    /// ([`DecodeError::FieldNotInVersion`]) nor more than one record per `BlockReplays`
    /// ([`DecodeError::TooManyRecords`]); zks/1–2 know ids `0x00..=0x01` ([`DecodeError::MessageNotInVersion`] for the
    /// verifier ids), zks/3–4 `0x00..=0x06`, zks/5 `0x00..=0x01` with `0x02..=0x06`
    /// [retired](DecodeError::RetiredMessageId); higher ids are
    /// [unknown](DecodeError::UnknownMessageId). On zks/4–5 a `0x80` in the optional
    /// `max_blocks_per_message` slot decodes as absent (upstream's trailing rule), and on zks/4 a
    /// `VerifierAuth` signature of any length decodes (checked on use, see
    /// [`VerifierAuth::rsv`]); zks/3 keeps our seed encoding (`Some(0)`, exactly 65 bytes).
    ///
    /// # Errors
    ///
    /// Any [`DecodeError`]; the link that carried the frame must be ended.
    pub fn decode(version: ZksVersion, frame: &Frame) -> Result<Self, DecodeError> {
        if frame.protocol != Protocol::Zks {
            return Err(DecodeError::WrongProtocol {
                expected: Protocol::Zks,
                got: frame.protocol,
            });
        }
        if frame.body.len() > MAX_MESSAGE_BYTES {
            return Err(DecodeError::MessageTooLarge {
                size: frame.body.len(),
                max: MAX_MESSAGE_BYTES,
            });
        }
        let id =
            MessageId::from_u8(frame.id).ok_or(DecodeError::UnknownMessageId { id: frame.id })?;
        if version.retires(id) {
            return Err(DecodeError::RetiredMessageId { id, version });
        }
        if !version.knows(id) {
            return Err(DecodeError::MessageNotInVersion { id, version });
        }
        let body = &frame.body;
        Ok(match id {
            MessageId::GetBlockReplays => {
                let request = GetBlockReplays::decode(body, version.empty_trailing_is_absent())?;
                if request.max_blocks_per_message.is_some() && !version.has_max_blocks_field() {
                    return Err(DecodeError::FieldNotInVersion {
                        field: "max_blocks_per_message",
                        version,
                    });
                }
                Self::GetBlockReplays(request)
            }
            MessageId::BlockReplays => Self::BlockReplays(BlockReplays::decode(
                body,
                version.max_records_per_message(),
            )?),
            MessageId::VerifierRoleRequest => {
                super::verify::decode_role_request(body)?;
                Self::VerifierRoleRequest
            }
            MessageId::VerifierChallenge => {
                Self::VerifierChallenge(VerifierChallenge::decode(body)?)
            }
            MessageId::VerifierAuth => Self::VerifierAuth(VerifierAuth::decode(
                body,
                version.auth_signature_is_fixed(),
            )?),
            MessageId::VerifyBatch => Self::VerifyBatch(VerifyBatch::decode(body)?),
            MessageId::VerifyBatchResult => {
                Self::VerifyBatchResult(VerifyBatchResult::decode(body)?)
            }
        })
    }
}

macro_rules! impl_from_message {
    ($($ty:ident),*) => {$(
        impl From<$ty> for ZksMessage {
            fn from(m: $ty) -> Self {
                Self::$ty(m)
            }
        }
    )*};
}
impl_from_message!(
    GetBlockReplays,
    BlockReplays,
    VerifierChallenge,
    VerifierAuth,
    VerifyBatch,
    VerifyBatchResult
);
