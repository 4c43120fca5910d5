//! The `zks_2fa` subprotocol: verifier authentication and batch verification beside zks/5.
//!
//! `zks_2fa/1` carries the five verifier payloads of zks/3–4 ([`verify`](crate::VerifyBatch))
//! at their own ids `0x00..=0x04`, in the same order (the zks/4 id minus 2) and with the same
//! byte layout. Frames travel tagged [`Protocol::Zks2fa`] and are decoded against the link's
//! negotiated [`TwoFaVersion`].

use bytes::Bytes;

use super::limits::MAX_MESSAGE_BYTES;
use super::verify::decode_role_request;
use super::{
    DecodeError, Frame, Protocol, TwoFaVersion, VerifierAuth, VerifierChallenge, VerifyBatch,
    VerifyBatchResult,
};

/// The id of a `zks_2fa` message, relative to the capability's message-id offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum TwoFaMessageId {
    /// `0x00`, EN → MN: ask to be authenticated as a verifier.
    VerifierRoleRequest = 0x00,
    /// `0x01`, MN → EN: the nonce to sign.
    VerifierChallenge = 0x01,
    /// `0x02`, EN → MN: the signed nonce.
    VerifierAuth = 0x02,
    /// `0x03`, MN → EN: a batch to verify.
    VerifyBatch = 0x03,
    /// `0x04`, EN → MN: the verifier's answer.
    VerifyBatchResult = 0x04,
}

impl TwoFaMessageId {
    /// The message with this id in `version`, if it has one.
    pub const fn from_u8(version: TwoFaVersion, id: u8) -> Option<Self> {
        match version {
            TwoFaVersion::V1 => Some(match id {
                0x00 => Self::VerifierRoleRequest,
                0x01 => Self::VerifierChallenge,
                0x02 => Self::VerifierAuth,
                0x03 => Self::VerifyBatch,
                0x04 => Self::VerifyBatchResult,
                _ => return None,
            }),
        }
    }
}

/// A decoded `zks_2fa` message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TwoFaMessage {
    /// Ask to be authenticated as a verifier (empty list body, `c0`).
    VerifierRoleRequest,
    /// See [`VerifierChallenge`].
    VerifierChallenge(VerifierChallenge),
    /// See [`VerifierAuth`]; its signature may have any length (checked on use).
    VerifierAuth(VerifierAuth),
    /// See [`VerifyBatch`].
    VerifyBatch(VerifyBatch),
    /// See [`VerifyBatchResult`].
    VerifyBatchResult(VerifyBatchResult),
}

impl TwoFaMessage {
    /// This message's id.
    pub const fn id(&self) -> TwoFaMessageId {
        match self {
            Self::VerifierRoleRequest => TwoFaMessageId::VerifierRoleRequest,
            Self::VerifierChallenge(_) => TwoFaMessageId::VerifierChallenge,
            Self::VerifierAuth(_) => TwoFaMessageId::VerifierAuth,
            Self::VerifyBatch(_) => TwoFaMessageId::VerifyBatch,
            Self::VerifyBatchResult(_) => TwoFaMessageId::VerifyBatchResult,
        }
    }

    /// Appends the RLP body (without the id byte) to `out`.
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        match self {
            Self::VerifierRoleRequest => out.push(alloy_rlp::EMPTY_LIST_CODE),
            Self::VerifierChallenge(m) => m.encode(out),
            Self::VerifierAuth(m) => m.encode(out),
            Self::VerifyBatch(m) => m.encode(out),
            Self::VerifyBatchResult(m) => m.encode(out),
        }
    }

    /// Encodes this message into a [`Protocol::Zks2fa`] frame.
    pub fn to_frame(&self) -> Frame {
        let mut body = Vec::new();
        self.encode_body(&mut body);
        Frame::new(Protocol::Zks2fa, self.id() as u8, Bytes::from(body))
    }

    /// Decodes a frame received on a link that negotiated `zks_2fa` at `version`.
    ///
    /// The body size is checked first, then the id, then each field's RLP header. The same
    /// decode-time bounds as on zks apply (reason and signature lengths, see
    /// [`limits`](crate::limits)), although upstream has none below the message size: an
    /// upstream node never sends more.
    ///
    /// # Errors
    ///
    /// [`DecodeError::WrongProtocol`] for a frame that is not tagged [`Protocol::Zks2fa`],
    /// [`DecodeError::UnknownMessageId`] for an id past the version's table, or any other
    /// [`DecodeError`]; the `zks_2fa` stream that carried the frame must be ended.
    pub fn decode(version: TwoFaVersion, frame: &Frame) -> Result<Self, DecodeError> {
        if frame.protocol != Protocol::Zks2fa {
            return Err(DecodeError::WrongProtocol {
                expected: Protocol::Zks2fa,
                got: frame.protocol,
            });
        }
        if frame.body.len() > MAX_MESSAGE_BYTES {
            return Err(DecodeError::MessageTooLarge {
                size: frame.body.len(),
                max: MAX_MESSAGE_BYTES,
            });
        }
        let id = TwoFaMessageId::from_u8(version, frame.id)
            .ok_or(DecodeError::UnknownMessageId { id: frame.id })?;
        let body = &frame.body;
        Ok(match id {
            TwoFaMessageId::VerifierRoleRequest => {
                decode_role_request(body)?;
                Self::VerifierRoleRequest
            }
            TwoFaMessageId::VerifierChallenge => {
                Self::VerifierChallenge(VerifierChallenge::decode(body)?)
            }
            TwoFaMessageId::VerifierAuth => Self::VerifierAuth(VerifierAuth::decode(body, false)?),
            TwoFaMessageId::VerifyBatch => Self::VerifyBatch(VerifyBatch::decode(body)?),
            TwoFaMessageId::VerifyBatchResult => {
                Self::VerifyBatchResult(VerifyBatchResult::decode(body)?)
            }
        })
    }
}

/// The zks/3–4 in-band form of a verifier message: the same payload at its zks id.
impl From<TwoFaMessage> for crate::ZksMessage {
    fn from(m: TwoFaMessage) -> Self {
        match m {
            TwoFaMessage::VerifierRoleRequest => Self::VerifierRoleRequest,
            TwoFaMessage::VerifierChallenge(m) => Self::VerifierChallenge(m),
            TwoFaMessage::VerifierAuth(m) => Self::VerifierAuth(m),
            TwoFaMessage::VerifyBatch(m) => Self::VerifyBatch(m),
            TwoFaMessage::VerifyBatchResult(m) => Self::VerifyBatchResult(m),
        }
    }
}

/// A zks message that is one of the five verifier messages, as a [`TwoFaMessage`]; replay
/// messages are handed back unchanged.
impl TryFrom<crate::ZksMessage> for TwoFaMessage {
    type Error = crate::ZksMessage;

    fn try_from(m: crate::ZksMessage) -> Result<Self, Self::Error> {
        use crate::ZksMessage as Z;
        Ok(match m {
            Z::VerifierRoleRequest => Self::VerifierRoleRequest,
            Z::VerifierChallenge(m) => Self::VerifierChallenge(m),
            Z::VerifierAuth(m) => Self::VerifierAuth(m),
            Z::VerifyBatch(m) => Self::VerifyBatch(m),
            Z::VerifyBatchResult(m) => Self::VerifyBatchResult(m),
            other @ (Z::GetBlockReplays(_) | Z::BlockReplays(_)) => return Err(other),
        })
    }
}

macro_rules! impl_from_payload {
    ($($ty:ident),*) => {$(
        impl From<$ty> for TwoFaMessage {
            fn from(m: $ty) -> Self {
                Self::$ty(m)
            }
        }
    )*};
}
impl_from_payload!(
    VerifierChallenge,
    VerifierAuth,
    VerifyBatch,
    VerifyBatchResult
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zks_frames_are_refused() {
        let frame = Frame::zks(0x00, Bytes::from_static(&[0xc0]));
        assert_eq!(
            TwoFaMessage::decode(TwoFaVersion::V1, &frame),
            Err(DecodeError::WrongProtocol {
                expected: Protocol::Zks2fa,
                got: Protocol::Zks
            })
        );
    }

    #[test]
    fn in_band_form_is_the_same_payload_two_ids_up() {
        let messages = [
            TwoFaMessage::VerifierRoleRequest,
            TwoFaMessage::VerifierChallenge(VerifierChallenge { nonce: [7; 32] }),
            TwoFaMessage::VerifyBatch(VerifyBatch::default()),
        ];
        for m in messages {
            let two_fa = m.to_frame();
            let zks = crate::ZksMessage::from(m.clone()).to_frame();
            assert_eq!(zks.id, two_fa.id + 2);
            assert_eq!(zks.body, two_fa.body);
            assert_eq!(
                TwoFaMessage::try_from(crate::ZksMessage::from(m.clone())),
                Ok(m)
            );
        }
        let replay = crate::ZksMessage::BlockReplays(crate::BlockReplays::default());
        assert_eq!(TwoFaMessage::try_from(replay.clone()), Err(replay));
    }

    #[test]
    fn ids_match_the_table() {
        for id in 0u8..=0x04 {
            let got = TwoFaMessageId::from_u8(TwoFaVersion::V1, id).map(|m| m as u8);
            assert_eq!(got, Some(id));
        }
        assert_eq!(TwoFaMessageId::from_u8(TwoFaVersion::V1, 0x05), None);
        assert_eq!(TwoFaVersion::V1.message_count(), 5);
    }
}
