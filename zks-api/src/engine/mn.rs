//! Main-node side of one link, sans-IO: request handling (the replay cursor is in `cursor`).

use std::time::{Duration, Instant};

use super::cursor::ReplayCursor;
use super::deadline::{Deadlines, SessionTimeouts};
use super::verifier::{self, RoleRequestLimit, VerifierChannel};
use super::{ProtocolError, TimeoutKind};
use crate::wire::{
    BlockReplays, Frame, GetBlockReplays, LinkCaps, Protocol, TwoFaMessage, VerifierChallenge,
    VerifyBatchResult, ZksMessage, ZksVersion,
};
use crate::{AuthOutcome, SignerAddress};

/// What the main node must do after a message from its peer.
#[derive(Debug, PartialEq, Eq)]
pub enum MnAction {
    /// Nothing to do.
    None,
    /// The peer asked for replay: start streaming with this cursor.
    StartReplay(ReplayCursor),
    /// The peer asked for the verifier role: send it [`challenge`](MnSession::challenge) with
    /// a fresh nonce from the OS CSPRNG.
    RoleRequested,
    /// The peer answered our challenge: authenticate the signature over `nonce` and report the
    /// outcome with [`set_auth_outcome`](MnSession::set_auth_outcome).
    Authenticate {
        /// The nonce we sent.
        nonce: [u8; 32],
        /// The peer's signature.
        signature: [u8; 65],
    },
    /// Current rules: the peer answered our challenge with a signature that is not 65 bytes.
    /// The session marked it unauthorized (no signer); the link goes on.
    AuthMalformed,
    /// An authorized verifier answered a batch request.
    BatchResult(VerifyBatchResult),
    /// Current rules: a peer that is not an authorized verifier sent a result. It was dropped
    /// (count it); the link goes on. Under the seed generation's rules this ends the link
    /// instead.
    UnauthorizedResult(VerifyBatchResult),
}

/// Where a link stands in verifier authentication.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum VerifierStatus {
    /// The peer has not asked for the verifier role.
    #[default]
    None,
    /// The peer asked; no challenge sent yet.
    RoleRequested,
    /// A challenge is out.
    Challenged,
    /// The peer proved an accepted key.
    Authorized(SignerAddress),
    /// The peer's key is not accepted (or its signature recovers to nothing).
    Unauthorized(Option<SignerAddress>),
}

/// The main-node state machine of one link.
///
/// Feed it every received frame with [`handle_frame`](Self::handle_frame) and tell it of every
/// frame sent with [`on_sent`](Self::on_sent). It accepts exactly one `GetBlockReplays` and
/// turns it into a [`ReplayCursor`]; anything an MN never accepts is a [`ProtocolError`].
/// Verifier messages are accepted on the link's [`VerifierChannel`] (in-band on zks/3–4,
/// `zks_2fa` beside zks/5), under that channel's rules
/// ([`current_rules`](VerifierChannel::current_rules)).
///
/// Deadlines: the link must send its first request within
/// [`first_message`](SessionTimeouts::first_message) (on zks/5 that request must be
/// `GetBlockReplays`; on zks/1–4 a role request counts too), answer a challenge within
/// [`handshake`](SessionTimeouts::handshake), and never stay silent in both directions past
/// [`idle`](SessionTimeouts::idle). Wake at [`poll_timeout`](Self::poll_timeout) and call
/// [`handle_timeout`](Self::handle_timeout): a `Some` ends the link.
///
/// Keepalive (off unless [`set_keepalive`](Self::set_keepalive)): once replay runs, a stream
/// that sent no `BlockReplays` for the keepalive period sends an empty one (`01 c1 c0`), so an
/// external node that drops a silent peer (upstream's 300 s replay watchdog) keeps its link on
/// an idle chain. Wake at [`poll_keepalive`](Self::poll_keepalive) and send what
/// [`handle_keepalive`](Self::handle_keepalive) returns.
#[derive(Debug)]
pub struct MnSession {
    caps: LinkCaps,
    channel: Option<VerifierChannel>,
    replay_requested: bool,
    keepalive: Option<Duration>,
    /// When the next keepalive is due; `None` until replay runs, or without keepalive.
    keepalive_at: Option<Instant>,
    verifier: VerifierStatus,
    nonce: Option<[u8; 32]>,
    role_requests: RoleRequestLimit,
    deadlines: Deadlines,
}

impl MnSession {
    /// A session on a link that negotiated `caps`, established at `now`.
    pub fn new(caps: impl Into<LinkCaps>, timeouts: SessionTimeouts, now: Instant) -> Self {
        let caps = caps.into();
        let mut deadlines = Deadlines::new(timeouts, now);
        deadlines.arm(TimeoutKind::FirstMessage, now);
        Self {
            caps,
            channel: VerifierChannel::for_link(caps),
            replay_requested: false,
            keepalive: None,
            keepalive_at: None,
            verifier: VerifierStatus::None,
            nonce: None,
            role_requests: RoleRequestLimit::new(now),
            deadlines,
        }
    }

    /// Where this link's verifier messages travel; `None`: it carries no verification.
    pub fn verifier_channel(&self) -> Option<VerifierChannel> {
        self.channel
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

    /// Sends an empty `BlockReplays` after `every` without one, once replay runs; `None`
    /// (the default) never does.
    pub fn set_keepalive(&mut self, every: Option<Duration>) {
        self.keepalive = every.filter(|d| !d.is_zero());
    }

    /// Records that a `BlockReplays` was handed to the link at `now`: the keepalive period
    /// starts again.
    pub fn on_replay_sent(&mut self, now: Instant) {
        self.deadlines.activity(now);
        self.keepalive_at = self.keepalive.map(|every| now + every);
    }

    /// When [`handle_keepalive`](Self::handle_keepalive) must next be called; `None`: never.
    pub fn poll_keepalive(&self) -> Option<Instant> {
        self.keepalive_at
    }

    /// The empty `BlockReplays` to send when the keepalive is due at `now` (the period then
    /// starts again); `None` otherwise.
    pub fn handle_keepalive(&mut self, now: Instant) -> Option<Frame> {
        self.keepalive_at.filter(|at| now >= *at)?;
        let every = self.keepalive?;
        self.keepalive_at = Some(now + every);
        self.deadlines.activity(now);
        Some(ZksMessage::BlockReplays(BlockReplays::default()).to_frame())
    }

    /// Where the peer stands in verifier authentication.
    pub fn verifier_status(&self) -> VerifierStatus {
        self.verifier
    }

    /// Answers a role request at `now`: the challenge frame carrying `nonce`, which must be
    /// fresh from the OS CSPRNG, on the link's verifier channel. It replaces any challenge
    /// still pending. The peer must answer within the handshake timeout.
    pub fn challenge(&mut self, nonce: [u8; 32], now: Instant) -> Frame {
        self.nonce = Some(nonce);
        self.verifier = VerifierStatus::Challenged;
        self.deadlines.arm(TimeoutKind::Handshake, now);
        self.deadlines.activity(now);
        // A role request only arrives on a link with a channel; in-band is the fallback.
        let channel = self
            .channel
            .unwrap_or(VerifierChannel::InBand(self.caps.zks));
        channel.frame(TwoFaMessage::VerifierChallenge(VerifierChallenge { nonce }))
    }

    /// Records how the peer's `VerifierAuth` was judged.
    pub fn set_auth_outcome(&mut self, outcome: AuthOutcome) {
        self.verifier = match outcome {
            AuthOutcome::Authorized(signer) => VerifierStatus::Authorized(signer),
            AuthOutcome::Unauthorized(signer) => VerifierStatus::Unauthorized(signer),
        };
    }

    /// Handles one frame from the peer, received at `now`.
    ///
    /// # Errors
    ///
    /// A [`ProtocolError`]: end the link.
    pub fn handle_frame(&mut self, frame: &Frame, now: Instant) -> Result<MnAction, ProtocolError> {
        self.deadlines.activity(now);
        match frame.protocol {
            Protocol::Zks => match ZksMessage::decode(self.caps.zks, frame)? {
                ZksMessage::GetBlockReplays(request) => self.replay_request(request, now),
                message => match TwoFaMessage::try_from(message) {
                    Ok(verifier) => self.verifier_message(verifier, now),
                    Err(other) if self.caps.zks >= ZksVersion::V5 && !self.replay_requested => {
                        Err(ProtocolError::FirstMessageNotReplayRequest { id: other.id() })
                    }
                    Err(other) => Err(ProtocolError::UnexpectedMessage { id: other.id() }),
                },
            },
            _ => {
                let message = VerifierChannel::decode_2fa(self.channel, frame)?;
                self.verifier_message(message, now)
            }
        }
    }

    fn replay_request(
        &mut self,
        request: GetBlockReplays,
        now: Instant,
    ) -> Result<MnAction, ProtocolError> {
        if self.replay_requested {
            return Err(ProtocolError::DuplicateReplayRequest);
        }
        self.replay_requested = true;
        self.deadlines.disarm(TimeoutKind::FirstMessage);
        self.keepalive_at = self.keepalive.map(|every| now + every);
        Ok(MnAction::StartReplay(ReplayCursor::new(
            self.caps.zks,
            request,
        )))
    }

    fn verifier_message(
        &mut self,
        message: TwoFaMessage,
        now: Instant,
    ) -> Result<MnAction, ProtocolError> {
        let current = self.channel.is_some_and(VerifierChannel::current_rules);
        if self.caps.zks < ZksVersion::V5 {
            // zks/1–4: any valid request is a first message (on zks/5 only replay is).
            self.deadlines.disarm(TimeoutKind::FirstMessage);
        }
        match message {
            TwoFaMessage::VerifierRoleRequest => {
                if current {
                    if !self.role_requests.take(now) {
                        return Err(ProtocolError::RoleRequestFlood);
                    }
                } else if self.verifier != VerifierStatus::None {
                    return Err(ProtocolError::DuplicateRoleRequest);
                }
                // A new request demotes an authorized peer until it answers again.
                self.verifier = VerifierStatus::RoleRequested;
                Ok(MnAction::RoleRequested)
            }
            TwoFaMessage::VerifierAuth(auth) => {
                // A challenge is answered once: the nonce is consumed here.
                let nonce = self
                    .nonce
                    .take()
                    .ok_or(ProtocolError::AuthWithoutChallenge)?;
                self.deadlines.disarm(TimeoutKind::Handshake);
                match auth.rsv() {
                    Ok(signature) => Ok(MnAction::Authenticate { nonce, signature }),
                    Err(_) if current => {
                        self.verifier = VerifierStatus::Unauthorized(None);
                        Ok(MnAction::AuthMalformed)
                    }
                    // zks/3 refuses any other length while decoding: never reached.
                    Err(e) => Err(e.into()),
                }
            }
            TwoFaMessage::VerifyBatchResult(result) => match self.verifier {
                VerifierStatus::Authorized(_) => Ok(MnAction::BatchResult(result)),
                _ if current => Ok(MnAction::UnauthorizedResult(result)),
                _ => Err(ProtocolError::ResultFromUnauthorizedPeer),
            },
            other @ (TwoFaMessage::VerifierChallenge(_) | TwoFaMessage::VerifyBatch(_)) => {
                Err(verifier::unexpected(self.channel, &other))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{request, t0};
    use crate::wire::MessageId;

    #[test]
    fn keepalive_sends_an_empty_block_replays_after_a_silent_period_once_replay_runs() {
        let s = Duration::from_secs;
        let mut session = MnSession::new(ZksVersion::V5, SessionTimeouts::default(), t0());
        session.set_keepalive(Some(s(60)));
        // Not before replay runs.
        assert_eq!(session.poll_keepalive(), None);
        let ask = ZksMessage::GetBlockReplays(request(7, Some(1))).to_frame();
        assert!(session.handle_frame(&ask, t0() + s(1)).is_ok());
        assert_eq!(session.poll_keepalive(), Some(t0() + s(61)));
        assert_eq!(session.handle_keepalive(t0() + s(60)), None, "not yet due");
        let keepalive = session.handle_keepalive(t0() + s(61)).unwrap();
        assert_eq!(keepalive.to_wire(), [0x01, 0xc1, 0xc0]);
        assert_eq!(session.poll_keepalive(), Some(t0() + s(121)));
        // A real message restarts the period.
        session.on_replay_sent(t0() + s(100));
        assert_eq!(session.poll_keepalive(), Some(t0() + s(160)));
        assert_eq!(session.handle_keepalive(t0() + s(121)), None);
        // Woken late (a busy runtime): one keepalive, not a burst to catch up.
        assert!(session.handle_keepalive(t0() + s(400)).is_some());
        assert_eq!(session.poll_keepalive(), Some(t0() + s(460)));
        // Off: never.
        let mut off = MnSession::new(ZksVersion::V5, SessionTimeouts::default(), t0());
        off.set_keepalive(Some(Duration::ZERO));
        assert!(off.handle_frame(&ask, t0()).is_ok());
        assert_eq!(off.poll_keepalive(), None);
    }

    #[test]
    fn one_request_per_link() {
        let mut s = MnSession::new(ZksVersion::V3, SessionTimeouts::default(), t0());
        let frame = ZksMessage::GetBlockReplays(request(0, Some(64))).to_frame();
        assert!(matches!(
            s.handle_frame(&frame, t0()),
            Ok(MnAction::StartReplay(_))
        ));
        assert_eq!(
            s.handle_frame(&frame, t0()),
            Err(ProtocolError::DuplicateReplayRequest)
        );
        let replays = ZksMessage::BlockReplays(BlockReplays::default()).to_frame();
        assert_eq!(
            s.handle_frame(&replays, t0()),
            Err(ProtocolError::UnexpectedMessage {
                id: MessageId::BlockReplays
            })
        );
    }

    #[test]
    fn verifier_auth_state_machine() {
        use crate::wire::VerifierAuth;
        let auth = ZksMessage::VerifierAuth(VerifierAuth::new([1; 65])).to_frame();
        let mut s = MnSession::new(ZksVersion::V3, SessionTimeouts::default(), t0());
        assert_eq!(
            s.handle_frame(&auth, t0()),
            Err(ProtocolError::AuthWithoutChallenge)
        );

        let mut s = MnSession::new(ZksVersion::V3, SessionTimeouts::default(), t0());
        let role = ZksMessage::VerifierRoleRequest.to_frame();
        assert_eq!(s.handle_frame(&role, t0()), Ok(MnAction::RoleRequested));
        assert_eq!(s.verifier_status(), VerifierStatus::RoleRequested);
        assert_eq!(
            s.handle_frame(&role, t0()),
            Err(ProtocolError::DuplicateRoleRequest)
        );
        let challenge = s.challenge([9; 32], t0());
        assert_eq!(challenge.id, MessageId::VerifierChallenge as u8);
        assert_eq!(
            s.handle_frame(&auth, t0()),
            Ok(MnAction::Authenticate {
                nonce: [9; 32],
                signature: [1; 65]
            })
        );
        assert_eq!(
            s.handle_frame(&auth, t0()),
            Err(ProtocolError::AuthWithoutChallenge),
            "nonce is single-use"
        );
        s.set_auth_outcome(AuthOutcome::Unauthorized(None));
        let result = ZksMessage::VerifyBatchResult(VerifyBatchResult {
            request_id: crate::wire::RequestId(1),
            batch_number: 1,
            outcome: crate::wire::VerifyBatchOutcome::Refused {
                reason: "no".into(),
            },
        })
        .to_frame();
        assert_eq!(
            s.handle_frame(&result, t0()),
            Err(ProtocolError::ResultFromUnauthorizedPeer)
        );
        s.set_auth_outcome(AuthOutcome::Authorized(SignerAddress([3; 20])));
        assert!(matches!(
            s.handle_frame(&result, t0()),
            Ok(MnAction::BatchResult(_))
        ));
    }

    #[test]
    fn verifier_messages_on_zks1_are_violations() {
        let mut s = MnSession::new(ZksVersion::V1, SessionTimeouts::default(), t0());
        assert!(matches!(
            s.handle_frame(&ZksMessage::VerifierRoleRequest.to_frame(), t0()),
            Err(ProtocolError::Decode(
                crate::wire::DecodeError::MessageNotInVersion { .. }
            ))
        ));
    }

    #[test]
    fn first_message_and_challenge_deadlines() {
        let s = Duration::from_secs;
        let timeouts = SessionTimeouts {
            first_message: s(30),
            handshake: s(10),
            idle: None,
        };
        let mut session = MnSession::new(ZksVersion::V3, timeouts, t0());
        assert_eq!(session.poll_timeout(), Some(t0() + s(30)));
        assert_eq!(session.handle_timeout(t0() + s(29)), None);
        assert_eq!(
            session.handle_timeout(t0() + s(30)),
            Some(TimeoutKind::FirstMessage)
        );

        let mut session = MnSession::new(ZksVersion::V3, timeouts, t0());
        let role = ZksMessage::VerifierRoleRequest.to_frame();
        assert_eq!(
            session.handle_frame(&role, t0() + s(1)),
            Ok(MnAction::RoleRequested)
        );
        assert_eq!(
            session.poll_timeout(),
            None,
            "the request ended the first-message wait"
        );
        session.challenge([1; 32], t0() + s(2));
        assert_eq!(session.poll_timeout(), Some(t0() + s(12)));
        let request = ZksMessage::GetBlockReplays(request(0, None)).to_frame();
        assert!(session.handle_frame(&request, t0() + s(3)).is_ok());
        assert_eq!(
            session.poll_timeout(),
            Some(t0() + s(12)),
            "replay does not lift the challenge's deadline"
        );
        assert_eq!(
            session.handle_timeout(t0() + s(12)),
            Some(TimeoutKind::Handshake)
        );
        let auth = ZksMessage::VerifierAuth(crate::wire::VerifierAuth::new([1; 65]));
        assert!(session.handle_frame(&auth.to_frame(), t0() + s(4)).is_ok());
        assert_eq!(session.poll_timeout(), None, "the auth lifted it");
    }

    #[test]
    fn idle_clock_counts_both_directions() {
        let s = Duration::from_secs;
        let timeouts = SessionTimeouts {
            first_message: s(30),
            handshake: s(10),
            idle: Some(s(60)),
        };
        let mut session = MnSession::new(ZksVersion::V3, timeouts, t0());
        let request = ZksMessage::GetBlockReplays(request(0, None)).to_frame();
        assert!(session.handle_frame(&request, t0() + s(1)).is_ok());
        assert_eq!(session.poll_timeout(), Some(t0() + s(61)));
        session.on_sent(t0() + s(50));
        assert_eq!(session.handle_timeout(t0() + s(61)), None);
        assert_eq!(
            session.handle_timeout(t0() + s(110)),
            Some(TimeoutKind::Idle)
        );
    }
}
