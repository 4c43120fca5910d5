//! [`MessageClass`]: what kind of message a frame carries, for per-kind budgets.

use std::fmt;

use crate::{Frame, MessageId, Protocol, TwoFaMessageId, TwoFaVersion};

/// Which kind of message a frame carries: a node budgets each kind on its own (zks-api's rate
/// limits draw control messages and results from budgets of their own, besides the
/// all-message and byte budgets).
///
/// A message id means something only on its subprotocol: id `0x04` is a `VerifierAuth` on
/// zks/3–4 and a `VerifyBatchResult` on `zks_2fa/1`. So the class is the frame's, from its
/// [`Protocol`] and its id: [`Frame::class`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageClass {
    /// Replay and verifier-role requests, auth and challenges: a handful per session. Also
    /// every id the subprotocol does not define (the engine refuses those anyway).
    Control,
    /// Batch results: one per dispatched batch per verifier.
    Result,
    /// Replay records and batch requests.
    Data,
}

impl MessageClass {
    /// The class of a zks message id (zks/3–4's table), whatever the subprotocol.
    #[deprecated(
        since = "0.1.0",
        note = "ids are relative to their subprotocol: `zks_2fa` results and batches were \
                classed as control messages; use `Frame::class`"
    )]
    pub const fn of(id: u8) -> Self {
        match MessageId::from_u8(id) {
            Some(id) => id.class(),
            None => Self::Control,
        }
    }
}

impl fmt::Display for MessageClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Control => "control",
            Self::Result => "result",
            Self::Data => "data",
        })
    }
}

impl MessageId {
    /// The kind of message this id carries.
    pub const fn class(self) -> MessageClass {
        match self {
            Self::BlockReplays | Self::VerifyBatch => MessageClass::Data,
            Self::VerifyBatchResult => MessageClass::Result,
            Self::GetBlockReplays
            | Self::VerifierRoleRequest
            | Self::VerifierChallenge
            | Self::VerifierAuth => MessageClass::Control,
        }
    }
}

impl TwoFaMessageId {
    /// The kind of message this id carries.
    pub const fn class(self) -> MessageClass {
        match self {
            Self::VerifyBatch => MessageClass::Data,
            Self::VerifyBatchResult => MessageClass::Result,
            Self::VerifierRoleRequest | Self::VerifierChallenge | Self::VerifierAuth => {
                MessageClass::Control
            }
        }
    }
}

impl Frame {
    /// The kind of message this frame carries, from its subprotocol and id
    /// ([`MessageClass::Control`] for an id the subprotocol does not define).
    pub const fn class(&self) -> MessageClass {
        match self.protocol {
            Protocol::Zks => match MessageId::from_u8(self.id) {
                Some(id) => id.class(),
                None => MessageClass::Control,
            },
            Protocol::Zks2fa => match TwoFaMessageId::from_u8(TwoFaVersion::V1, self.id) {
                Some(id) => id.class(),
                None => MessageClass::Control,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[test]
    fn a_frame_is_classed_by_its_subprotocol_and_id() {
        let zks = |id| Frame::zks(id, Bytes::new()).class();
        let twofa = |id| Frame::new(Protocol::Zks2fa, id, Bytes::new()).class();
        use MessageClass::{Control, Data, Result};
        assert_eq!(
            (0..8).map(zks).collect::<Vec<_>>(),
            [
                Control, Data, Control, Control, Control, Data, Result, Control
            ]
        );
        assert_eq!(
            (0..6).map(twofa).collect::<Vec<_>>(),
            [Control, Control, Control, Data, Result, Control]
        );
        #[allow(deprecated)]
        let old = MessageClass::of(0x04);
        assert_eq!(old, Control);
    }
}
