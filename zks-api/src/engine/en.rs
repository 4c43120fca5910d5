//! External-node side of one link, sans-IO: the replay request and record validation.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::time::Instant;

use super::deadline::{Deadlines, SessionTimeouts};
use super::verifier::{self, VerifierChannel};
use super::{ProtocolError, TimeoutKind};
use crate::wire::limits::MAX_RECORDS_PER_MESSAGE;
use crate::wire::{
    Frame, GetBlockReplays, LinkCaps, Protocol, RecordOverride, TwoFaMessage, VerifierAuth,
    VerifyBatch, VerifyBatchResult, ZksMessage, ZksVersion,
};
use crate::{BlockNumber, ReplayRecord};

/// What the external node must do after a message from its peer.
#[derive(Debug, PartialEq, Eq)]
pub enum EnAction<R> {
    /// Nothing to do.
    None,
    /// Validated records, contiguous from the block the link expected next: apply them.
    Records(Vec<R>),
    /// Our trusted main node challenges the verifier role we asked for: sign `nonce` and send
    /// [`answer_challenge`](EnSession::answer_challenge).
    Challenge([u8; 32]),
    /// A batch to verify once the sink has applied its last block; answer it with
    /// [`result_frame`](EnSession::result_frame).
    VerifyBatch(VerifyBatch),
}

/// How an EN asks for replay on one link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayRequest {
    /// First block wanted: the sink's `resume_block()` when the link came up.
    pub starting_block: BlockNumber,
    /// Record overrides to ask for.
    pub record_overrides: Vec<RecordOverride>,
    /// Records per message to ask for on zks/3–5 (ignored on zks/1–2, which send one).
    pub max_blocks_per_message: usize,
}

/// The external-node state machine of one link.
///
/// On a link to a trusted main node it queues one `GetBlockReplays` (take it with
/// [`poll_outbound`](Self::poll_outbound)) and then validates every `BlockReplays`: each record
/// must be exactly the next block, or the whole message is rejected. On any other link it asks
/// for nothing and treats replay as a violation: records are accepted only from trusted main
/// nodes. A verifier asks for its role on the link's [`VerifierChannel`] (in-band on zks/3–4,
/// `zks_2fa` beside zks/5), first, and only from trusted main nodes.
///
/// Deadlines: a verifier's challenge must come within the handshake timeout of our role
/// request, and the link may not stay silent in both directions past the idle timeout. Wake at
/// [`poll_timeout`](Self::poll_timeout) and call [`handle_timeout`](Self::handle_timeout).
#[derive(Debug)]
pub struct EnSession<R> {
    version: ZksVersion,
    channel: Option<VerifierChannel>,
    deadlines: Deadlines,
    /// The next block this link must deliver; `None` until replay is requested.
    expected: Option<BlockNumber>,
    outbound: VecDeque<Frame>,
    auth: EnAuth,
    _record: PhantomData<fn() -> R>,
}

/// Where this link stands in verifier authentication, EN side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EnAuth {
    /// We did not ask for the verifier role on this link (not a verifier, untrusted peer, or
    /// zks/1–2): challenges and batch requests are violations.
    NotRequested,
    /// We asked; a challenge may come.
    Requested,
    /// We answered the challenge; batch requests may come.
    Answered,
}

impl<R: ReplayRecord> EnSession<R> {
    /// A session on a link that negotiated `caps`, established at `now`; `request` is `Some`
    /// exactly for trusted main nodes. With `verifier` set (we hold a verifier key), a trusted
    /// link with a verifier channel first asks for the verifier role; nothing else ever does.
    pub fn new(
        caps: impl Into<LinkCaps>,
        request: Option<ReplayRequest>,
        verifier: bool,
        timeouts: SessionTimeouts,
        now: Instant,
    ) -> Self {
        let caps = caps.into();
        let version = caps.zks;
        let channel = VerifierChannel::for_link(caps);
        let mut outbound = VecDeque::new();
        let mut deadlines = Deadlines::new(timeouts, now);
        let auth = match channel {
            Some(channel) if verifier && request.is_some() => {
                outbound.push_back(channel.frame(TwoFaMessage::VerifierRoleRequest));
                deadlines.arm(TimeoutKind::Handshake, now);
                EnAuth::Requested
            }
            _ => EnAuth::NotRequested,
        };
        let expected = request.map(|r| {
            let max = (version >= ZksVersion::V3).then(|| {
                // At most 64, so the conversion is exact.
                r.max_blocks_per_message.clamp(1, MAX_RECORDS_PER_MESSAGE) as u64
            });
            outbound.push_back(
                ZksMessage::GetBlockReplays(GetBlockReplays {
                    starting_block: r.starting_block,
                    record_overrides: r.record_overrides,
                    max_blocks_per_message: max,
                })
                .to_frame(),
            );
            r.starting_block
        });
        Self {
            version,
            channel,
            deadlines,
            expected,
            outbound,
            auth,
            _record: PhantomData,
        }
    }

    /// The `VerifierAuth` frame answering the challenge with `signature`.
    pub fn answer_challenge(&mut self, signature: [u8; 65]) -> Frame {
        self.auth = EnAuth::Answered;
        self.deadlines.disarm(TimeoutKind::Handshake);
        self.verifier_frame(TwoFaMessage::VerifierAuth(VerifierAuth::new(signature)))
    }

    /// The `VerifyBatchResult` frame answering a [`VerifyBatch`](EnAction::VerifyBatch).
    pub fn result_frame(&self, result: VerifyBatchResult) -> Frame {
        self.verifier_frame(TwoFaMessage::VerifyBatchResult(result))
    }

    /// Where this link's verifier messages travel; `None`: it carries no verification.
    pub fn verifier_channel(&self) -> Option<VerifierChannel> {
        self.channel
    }

    fn verifier_frame(&self, message: TwoFaMessage) -> Frame {
        // Only a link with a channel asks for the role; in-band is the fallback.
        self.channel
            .unwrap_or(VerifierChannel::InBand(self.version))
            .frame(message)
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called; `None`: never.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.poll_timeout()
    }

    /// Checks the deadlines at `now`; `Some` means the link missed one and must end.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<TimeoutKind> {
        self.deadlines.handle_timeout(now)
    }

    /// Records that a frame was handed to the link at `now` (for the idle clock).
    pub fn on_sent(&mut self, now: Instant) {
        self.deadlines.activity(now);
    }

    /// Whether this session asked for the verifier role (and so may be challenged).
    pub fn asked_for_verifier_role(&self) -> bool {
        self.auth != EnAuth::NotRequested
    }

    /// The next frame to send, if any.
    pub fn poll_outbound(&mut self) -> Option<Frame> {
        self.outbound.pop_front()
    }

    /// The next block this link must deliver, once replay is requested.
    pub fn expected_block(&self) -> Option<BlockNumber> {
        self.expected
    }

    /// Handles one frame from the peer, received at `now`.
    ///
    /// # Errors
    ///
    /// A [`ProtocolError`]: end the link; nothing from this frame may be applied.
    pub fn handle_frame(
        &mut self,
        frame: &Frame,
        now: Instant,
    ) -> Result<EnAction<R>, ProtocolError> {
        self.deadlines.activity(now);
        let message = match frame.protocol {
            Protocol::Zks => match ZksMessage::decode(self.version, frame)? {
                ZksMessage::BlockReplays(replays) => return self.replays(&replays.records),
                message => match TwoFaMessage::try_from(message) {
                    Ok(verifier) => verifier,
                    Err(other) => return Err(ProtocolError::UnexpectedMessage { id: other.id() }),
                },
            },
            _ => VerifierChannel::decode_2fa(self.channel, frame)?,
        };
        match message {
            TwoFaMessage::VerifierChallenge(challenge) if self.auth == EnAuth::Requested => {
                Ok(EnAction::Challenge(challenge.nonce))
            }
            TwoFaMessage::VerifyBatch(batch) if self.auth == EnAuth::Answered => {
                Ok(EnAction::VerifyBatch(batch))
            }
            other => Err(verifier::unexpected(self.channel, &other)),
        }
    }

    fn replays(&mut self, items: &[crate::Bytes]) -> Result<EnAction<R>, ProtocolError> {
        let mut expected = self.expected.ok_or(ProtocolError::UnsolicitedReplay)?;
        let mut records = Vec::with_capacity(items.len());
        for item in items {
            let record = R::decode(self.version, item).map_err(|e| e.where_due(expected))?;
            let got = record.block_number();
            if got != expected {
                return Err(ProtocolError::not_next(expected, got));
            }
            expected = expected.checked_add(1).ok_or(ProtocolError::ReplayGap {
                expected,
                got: BlockNumber::MAX,
            })?;
            records.push(record);
        }
        self.expected = Some(expected);
        Ok(if records.is_empty() {
            EnAction::None
        } else {
            EnAction::Records(records)
        })
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use std::time::Duration;

    use super::*;
    use crate::RawRecord;
    use crate::testing::t0;
    use crate::wire::{BlockReplays, DecodeError, MessageId};

    fn replays(blocks: &[u64]) -> Frame {
        let records = blocks
            .iter()
            .map(|b| {
                let mut out = Vec::new();
                RawRecord::new(*b, "x").encode(ZksVersion::V3, &mut out);
                Bytes::from(out)
            })
            .collect();
        ZksMessage::BlockReplays(BlockReplays { records }).to_frame()
    }

    fn trusted(version: ZksVersion, start: u64) -> EnSession<RawRecord> {
        EnSession::new(
            version,
            Some(ReplayRequest {
                starting_block: start,
                record_overrides: vec![],
                max_blocks_per_message: 64,
            }),
            false,
            SessionTimeouts::default(),
            t0(),
        )
    }

    #[test]
    fn requests_with_version_appropriate_max() {
        let mut v3 = trusted(ZksVersion::V3, 42);
        assert_eq!(
            v3.poll_outbound().unwrap().to_wire(),
            [0x00, 0xc3, 0x2a, 0xc0, 0x40]
        );
        assert_eq!(v3.poll_outbound(), None);
        let mut v1 = trusted(ZksVersion::V1, 42);
        assert_eq!(
            v1.poll_outbound().unwrap().to_wire(),
            [0x00, 0xc2, 0x2a, 0xc0]
        );
    }

    #[test]
    fn accepts_contiguous_and_rejects_gap_repeat_and_disorder() {
        let mut s = trusted(ZksVersion::V3, 5);
        let Ok(EnAction::Records(r)) = s.handle_frame(&replays(&[5, 6]), t0()) else {
            panic!()
        };
        assert_eq!(r.iter().map(|r| r.block_number).collect::<Vec<_>>(), [5, 6]);
        assert_eq!(
            s.handle_frame(&replays(&[7, 9]), t0()),
            Err(ProtocolError::ReplayGap {
                expected: 8,
                got: 9
            })
        );
        assert_eq!(
            s.expected_block(),
            Some(7),
            "nothing from a rejected message counts"
        );
        assert_eq!(
            s.handle_frame(&replays(&[6]), t0()),
            Err(ProtocolError::ReplayRepeat {
                expected: 7,
                got: 6
            })
        );
        assert_eq!(
            s.handle_frame(&replays(&[7, 8, 3]), t0()),
            Err(ProtocolError::ReplayOutOfOrder {
                expected: 9,
                got: 3
            })
        );
    }

    #[test]
    fn untrusted_links_get_nothing_applied() {
        let mut s = EnSession::<RawRecord>::new(
            ZksVersion::V3,
            None,
            true,
            SessionTimeouts::default(),
            t0(),
        );
        assert_eq!(s.poll_outbound(), None);
        assert_eq!(
            s.handle_frame(&replays(&[0]), t0()),
            Err(ProtocolError::UnsolicitedReplay)
        );
    }

    #[test]
    fn verifier_role_is_requested_only_from_trusted_zks3_main_nodes() {
        use crate::wire::{MessageId, VerifierChallenge};
        let request = || ReplayRequest {
            starting_block: 0,
            record_overrides: vec![],
            max_blocks_per_message: 64,
        };
        let mut s = EnSession::<RawRecord>::new(
            ZksVersion::V3,
            Some(request()),
            true,
            SessionTimeouts::default(),
            t0(),
        );
        assert_eq!(
            s.poll_outbound().unwrap().id,
            MessageId::VerifierRoleRequest as u8
        );
        assert_eq!(
            s.poll_outbound().unwrap().id,
            MessageId::GetBlockReplays as u8
        );
        let challenge =
            ZksMessage::VerifierChallenge(VerifierChallenge { nonce: [5; 32] }).to_frame();
        assert_eq!(
            s.handle_frame(&challenge, t0()),
            Ok(EnAction::Challenge([5; 32]))
        );
        let batch = ZksMessage::VerifyBatch(VerifyBatch::default()).to_frame();
        assert!(
            s.handle_frame(&batch, t0()).is_err(),
            "no batch before we answered"
        );

        let mut s = EnSession::<RawRecord>::new(
            ZksVersion::V3,
            Some(request()),
            true,
            SessionTimeouts::default(),
            t0(),
        );
        s.answer_challenge([1; 65]);
        assert_eq!(
            s.handle_frame(&batch, t0()),
            Ok(EnAction::VerifyBatch(VerifyBatch::default()))
        );

        for (version, trusted) in [(ZksVersion::V2, true), (ZksVersion::V3, false)] {
            let mut s = EnSession::<RawRecord>::new(
                version,
                trusted.then(request),
                true,
                SessionTimeouts::default(),
                t0(),
            );
            let ids: Vec<_> = std::iter::from_fn(|| s.poll_outbound())
                .map(|f| f.id)
                .collect();
            assert!(
                !ids.contains(&(MessageId::VerifierRoleRequest as u8)),
                "{version} {trusted}"
            );
            if version == ZksVersion::V3 {
                assert_eq!(
                    s.handle_frame(&challenge, t0()),
                    Err(ProtocolError::UnexpectedMessage {
                        id: MessageId::VerifierChallenge
                    }),
                    "an untrusted peer's challenge gets no signature"
                );
            }
        }
    }

    #[test]
    fn challenge_must_come_within_the_handshake_timeout() {
        let s = Duration::from_secs;
        let timeouts = SessionTimeouts {
            handshake: s(10),
            ..SessionTimeouts::default()
        };
        let request = ReplayRequest {
            starting_block: 0,
            record_overrides: vec![],
            max_blocks_per_message: 64,
        };
        let mut session = EnSession::<RawRecord>::new(
            ZksVersion::V3,
            Some(request.clone()),
            true,
            timeouts,
            t0(),
        );
        assert!(session.asked_for_verifier_role());
        assert_eq!(session.poll_timeout(), Some(t0() + s(10)));
        assert_eq!(
            session.handle_timeout(t0() + s(10)),
            Some(TimeoutKind::Handshake)
        );
        session.answer_challenge([0; 65]);
        assert_eq!(session.poll_timeout(), None);

        let plain =
            EnSession::<RawRecord>::new(ZksVersion::V3, Some(request), false, timeouts, t0());
        assert!(!plain.asked_for_verifier_role());
        assert_eq!(plain.poll_timeout(), None);
    }

    #[test]
    fn verifier_messages_on_zks2_are_violations() {
        let mut s = trusted(ZksVersion::V2, 0);
        let frame = Frame::zks(MessageId::VerifyBatch as u8, Bytes::from_static(&[0xc0]));
        assert_eq!(
            s.handle_frame(&frame, t0()),
            Err(ProtocolError::Decode(DecodeError::MessageNotInVersion {
                id: MessageId::VerifyBatch,
                version: ZksVersion::V2
            }))
        );
    }
}
