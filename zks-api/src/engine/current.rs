//! The sessions under the current generation's rules: zks/5 with `zks_2fa/1`, and zks/4.

use super::*;
use crate::testing::t0;
use crate::wire::{
    BlockReplays, DecodeError, GetBlockReplays, LinkCaps, MessageId, Protocol, RequestId,
    TwoFaMessage, TwoFaMessageId, TwoFaVersion, VerifierAuth, VerifierChallenge, VerifyBatch,
    VerifyBatchOutcome, VerifyBatchResult, ZksMessage, ZksVersion,
};
use crate::{AuthOutcome, Bytes, RawRecord, SignerAddress};

const V5_2FA: LinkCaps = LinkCaps {
    zks: ZksVersion::V5,
    zks_2fa: Some(TwoFaVersion::V1),
};

fn get(start: u64, max: Option<u64>) -> crate::wire::Frame {
    ZksMessage::GetBlockReplays(GetBlockReplays {
        starting_block: start,
        record_overrides: vec![],
        max_blocks_per_message: max,
    })
    .to_frame()
}

fn result() -> VerifyBatchResult {
    VerifyBatchResult {
        request_id: RequestId(1),
        batch_number: 7,
        outcome: VerifyBatchOutcome::Refused {
            reason: "no".into(),
        },
    }
}

#[test]
fn zks5_first_message_must_be_the_replay_request() {
    let mut s = MnSession::new(V5_2FA, SessionTimeouts::default(), t0());
    let replays = ZksMessage::BlockReplays(BlockReplays::default()).to_frame();
    assert_eq!(
        s.handle_frame(&replays, t0()),
        Err(ProtocolError::FirstMessageNotReplayRequest {
            id: MessageId::BlockReplays
        })
    );

    // A role request on zks_2fa does not count as the first message on zks/5.
    let timeouts = SessionTimeouts::default();
    let mut s = MnSession::new(V5_2FA, timeouts, t0());
    let role = TwoFaMessage::VerifierRoleRequest.to_frame();
    assert_eq!(s.handle_frame(&role, t0()), Ok(MnAction::RoleRequested));
    assert_eq!(s.poll_timeout(), Some(t0() + timeouts.first_message));
    let Ok(MnAction::StartReplay(cursor)) = s.handle_frame(&get(3, Some(200)), t0()) else {
        panic!("replay request refused")
    };
    assert_eq!((cursor.next_block(), cursor.batch()), (3, 64));
    assert_eq!(s.poll_timeout(), None);
    assert_eq!(
        s.handle_frame(&get(3, None), t0()),
        Err(ProtocolError::DuplicateReplayRequest)
    );
    // Absent max → one record per message, as upstream.
    let mut s = MnSession::new(V5_2FA, timeouts, t0());
    let Ok(MnAction::StartReplay(cursor)) = s.handle_frame(&get(0, None), t0()) else {
        panic!("replay request refused")
    };
    assert_eq!(cursor.batch(), 1);
}

#[test]
fn zks5_verifier_ids_are_retired_on_zks() {
    let mut s = MnSession::new(V5_2FA, SessionTimeouts::default(), t0());
    let in_band = ZksMessage::VerifierRoleRequest.to_frame();
    assert!(matches!(
        s.handle_frame(&in_band, t0()),
        Err(ProtocolError::Decode(DecodeError::RetiredMessageId { .. }))
    ));
    // Without zks_2fa a zks/5 link carries no verification at all.
    let mut s = MnSession::new(ZksVersion::V5, SessionTimeouts::default(), t0());
    assert_eq!(s.verifier_channel(), None);
    assert_eq!(
        s.handle_frame(&TwoFaMessage::VerifierRoleRequest.to_frame(), t0()),
        Err(ProtocolError::NotNegotiated {
            protocol: Protocol::Zks2fa
        })
    );
}

#[test]
fn every_role_request_gets_a_fresh_challenge_until_the_rate_limit() {
    let mut s = MnSession::new(V5_2FA, SessionTimeouts::default(), t0());
    let role = TwoFaMessage::VerifierRoleRequest.to_frame();
    assert_eq!(s.handle_frame(&role, t0()), Ok(MnAction::RoleRequested));
    let challenge = s.challenge([1; 32], t0());
    assert_eq!(
        (challenge.protocol, challenge.id),
        (Protocol::Zks2fa, TwoFaMessageId::VerifierChallenge as u8)
    );
    s.set_auth_outcome(AuthOutcome::Authorized(SignerAddress([2; 20])));
    // A second request is allowed and demotes the peer until it answers again.
    assert_eq!(s.handle_frame(&role, t0()), Ok(MnAction::RoleRequested));
    assert_eq!(s.verifier_status(), VerifierStatus::RoleRequested);
    s.challenge([2; 32], t0());
    let auth = TwoFaMessage::VerifierAuth(VerifierAuth::new([5; 65])).to_frame();
    assert_eq!(
        s.handle_frame(&auth, t0()),
        Ok(MnAction::Authenticate {
            nonce: [2; 32],
            signature: [5; 65]
        }),
        "the newest nonce replaced the first"
    );
    for _ in 2..ROLE_REQUEST_BURST {
        assert_eq!(s.handle_frame(&role, t0()), Ok(MnAction::RoleRequested));
    }
    assert_eq!(
        s.handle_frame(&role, t0()),
        Err(ProtocolError::RoleRequestFlood)
    );
    let mut s = MnSession::new(V5_2FA, SessionTimeouts::default(), t0());
    for _ in 0..ROLE_REQUEST_BURST {
        assert_eq!(s.handle_frame(&role, t0()), Ok(MnAction::RoleRequested));
    }
    assert_eq!(
        s.handle_frame(&role, t0() + ROLE_REQUEST_REFILL),
        Ok(MnAction::RoleRequested),
        "the bucket refills"
    );
}

#[test]
fn a_malformed_signature_makes_the_peer_unauthorized_not_the_link_end() {
    let mut s = MnSession::new(V5_2FA, SessionTimeouts::default(), t0());
    s.handle_frame(&TwoFaMessage::VerifierRoleRequest.to_frame(), t0())
        .unwrap();
    s.challenge([1; 32], t0());
    let short = TwoFaMessage::VerifierAuth(VerifierAuth {
        signature: Bytes::from_static(&[1; 64]),
    })
    .to_frame();
    assert_eq!(s.handle_frame(&short, t0()), Ok(MnAction::AuthMalformed));
    assert_eq!(s.verifier_status(), VerifierStatus::Unauthorized(None));
    assert_eq!(
        s.poll_timeout(),
        Some(t0() + SessionTimeouts::default().first_message)
    );
    assert_eq!(
        s.handle_frame(&short, t0()),
        Err(ProtocolError::AuthWithoutChallenge),
        "the nonce was used"
    );
}

#[test]
fn results_from_unauthorized_peers_are_dropped_not_fatal() {
    let frame = TwoFaMessage::VerifyBatchResult(result()).to_frame();
    let mut s = MnSession::new(V5_2FA, SessionTimeouts::default(), t0());
    assert_eq!(
        s.handle_frame(&frame, t0()),
        Ok(MnAction::UnauthorizedResult(result()))
    );
    s.set_auth_outcome(AuthOutcome::Authorized(SignerAddress([3; 20])));
    assert_eq!(
        s.handle_frame(&frame, t0()),
        Ok(MnAction::BatchResult(result()))
    );
    // zks/4 follows the same rules in-band.
    let mut s = MnSession::new(ZksVersion::V4, SessionTimeouts::default(), t0());
    let in_band = ZksMessage::VerifyBatchResult(result()).to_frame();
    assert_eq!(
        s.handle_frame(&in_band, t0()),
        Ok(MnAction::UnauthorizedResult(result()))
    );
    // The seed generation keeps ending the link.
    let mut s = MnSession::new(ZksVersion::V3, SessionTimeouts::default(), t0());
    assert_eq!(
        s.handle_frame(&in_band, t0()),
        Err(ProtocolError::ResultFromUnauthorizedPeer)
    );
}

#[test]
fn main_node_messages_from_the_peer_end_the_link() {
    let mut s = MnSession::new(V5_2FA, SessionTimeouts::default(), t0());
    let batch = TwoFaMessage::VerifyBatch(VerifyBatch::default()).to_frame();
    assert_eq!(
        s.handle_frame(&batch, t0()),
        Err(ProtocolError::UnexpectedTwoFaMessage {
            id: TwoFaMessageId::VerifyBatch
        })
    );
    let mut s = MnSession::new(ZksVersion::V4, SessionTimeouts::default(), t0());
    let challenge = ZksMessage::VerifierChallenge(VerifierChallenge { nonce: [0; 32] }).to_frame();
    assert_eq!(
        s.handle_frame(&challenge, t0()),
        Err(ProtocolError::UnexpectedMessage {
            id: MessageId::VerifierChallenge
        })
    );
}

fn en(caps: LinkCaps, verifier: bool) -> EnSession<RawRecord> {
    EnSession::new(
        caps,
        Some(ReplayRequest {
            starting_block: 9,
            record_overrides: vec![],
            max_blocks_per_message: 1,
        }),
        verifier,
        SessionTimeouts::default(),
        t0(),
    )
}

#[test]
fn a_zks5_verifier_asks_on_zks_2fa_and_answers_there() {
    let mut s = en(V5_2FA, true);
    let role = s.poll_outbound().unwrap();
    assert_eq!(role, TwoFaMessage::VerifierRoleRequest.to_frame());
    let request = s.poll_outbound().unwrap();
    assert_eq!(request.to_wire(), [0x00, 0xc3, 0x09, 0xc0, 0x01]);
    assert_eq!(s.poll_outbound(), None);

    // The in-band ids are retired on zks/5: a challenge there is a decode error.
    let in_band = ZksMessage::VerifierChallenge(VerifierChallenge { nonce: [4; 32] }).to_frame();
    assert!(matches!(
        s.handle_frame(&in_band, t0()),
        Err(ProtocolError::Decode(DecodeError::RetiredMessageId { .. }))
    ));
    let challenge = TwoFaMessage::VerifierChallenge(VerifierChallenge { nonce: [4; 32] });
    assert_eq!(
        s.handle_frame(&challenge.to_frame(), t0()),
        Ok(EnAction::Challenge([4; 32]))
    );
    let auth = s.answer_challenge([8; 65]);
    assert_eq!(
        auth,
        TwoFaMessage::VerifierAuth(VerifierAuth::new([8; 65])).to_frame()
    );
    assert_eq!(
        s.handle_frame(&challenge.to_frame(), t0()),
        Err(ProtocolError::UnexpectedTwoFaMessage {
            id: TwoFaMessageId::VerifierChallenge
        }),
        "a second challenge is not signed"
    );
    let batch = TwoFaMessage::VerifyBatch(VerifyBatch::default()).to_frame();
    assert_eq!(
        s.handle_frame(&batch, t0()),
        Ok(EnAction::VerifyBatch(VerifyBatch::default()))
    );
    let answer = s.result_frame(result());
    assert_eq!(
        (answer.protocol, answer.id),
        (Protocol::Zks2fa, TwoFaMessageId::VerifyBatchResult as u8)
    );
}

#[test]
fn no_role_request_without_a_verifier_channel() {
    for (caps, verifier) in [(LinkCaps::zks(ZksVersion::V5), true), (V5_2FA, false)] {
        let mut s = en(caps, verifier);
        assert_eq!(s.poll_outbound().map(|f| f.protocol), Some(Protocol::Zks));
        assert_eq!(s.poll_outbound(), None);
        assert_eq!(s.poll_timeout(), None, "no handshake deadline armed");
    }
    // zks/4 asks in-band, like zks/3.
    let mut s = en(LinkCaps::zks(ZksVersion::V4), true);
    assert_eq!(
        s.poll_outbound(),
        Some(ZksMessage::VerifierRoleRequest.to_frame())
    );
    assert_eq!(
        s.poll_timeout(),
        Some(t0() + SessionTimeouts::default().handshake)
    );
}
