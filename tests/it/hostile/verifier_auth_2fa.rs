//! Attacks on verification under the current generation (zks/5 + `zks_2fa/1`), where we are
//! stricter than upstream: results from peers that are not authorized are dropped (upstream
//! forwards them), a result must name its request's batch, and role-request floods end the
//! link. A malformed signature or an unaccepted key is an event, as upstream, not a close.

use super::{main_node, verifier_key};
use zks_api::engine::{ProtocolError, ROLE_REQUEST_BURST};
use zks_api::transport::{LinkReceiver, LinkSender, Transport};
use zks_api::wire::{
    Capabilities, GetBlockReplays, LinkCaps, Protocol, RequestId, TwoFaMessage, TwoFaVersion,
    VerifierAuth, VerifyBatch, VerifyBatchOutcome, VerifyBatchResult, ZksMessage, ZksVersion,
};
use zks_api::{Bytes, CloseCause, DroppedResult, EventStream, ProtocolEvent};
use zks_memnet::MemNet;
use zks_tests::{next_close, next_matching, within};
use zks_verifier::VerifierKey;

/// A raw zks/5 + zks_2fa/1 link from `name` to the MN.
async fn dial(net: &MemNet, name: &str) -> (LinkSender, LinkReceiver) {
    let (info, tx, rx) = net
        .node(name)
        .dial(&"mn".into(), Capabilities::CURRENT)
        .await
        .unwrap()
        .split();
    assert_eq!(
        info.caps,
        LinkCaps {
            zks: ZksVersion::V5,
            zks_2fa: Some(TwoFaVersion::V1)
        }
    );
    (tx, rx)
}

/// Sends a role request and returns the challenge's nonce.
async fn challenged(tx: &LinkSender, rx: &mut LinkReceiver) -> [u8; 32] {
    tx.send(TwoFaMessage::VerifierRoleRequest.to_frame())
        .await
        .unwrap();
    let frame = within("challenge", rx.recv()).await.unwrap();
    assert_eq!(frame.protocol, Protocol::Zks2fa);
    match TwoFaMessage::decode(TwoFaVersion::V1, &frame) {
        Ok(TwoFaMessage::VerifierChallenge(c)) => c.nonce,
        other => panic!("expected a challenge, got {other:?}"),
    }
}

/// The link still serves replay: ask for blocks from 0 and get block 0.
async fn still_replays(tx: &LinkSender, rx: &mut LinkReceiver) {
    let request = GetBlockReplays {
        starting_block: 0,
        record_overrides: vec![],
        max_blocks_per_message: Some(1),
    };
    tx.send(ZksMessage::GetBlockReplays(request).to_frame())
        .await
        .unwrap();
    let frame = within("replay", rx.recv()).await.unwrap();
    let Ok(ZksMessage::BlockReplays(replays)) = ZksMessage::decode(ZksVersion::V5, &frame) else {
        panic!("expected BlockReplays, got {frame:?}");
    };
    assert_eq!(replays.records.len(), 1);
}

fn approved(request_id: u64, batch_number: u64) -> TwoFaMessage {
    TwoFaMessage::VerifyBatchResult(VerifyBatchResult {
        request_id: RequestId(request_id),
        batch_number,
        outcome: VerifyBatchOutcome::Approved {
            signature: vec![1; 65].into(),
        },
    })
}

async fn dropped(events: &mut EventStream) -> (RequestId, u64, DroppedResult) {
    next_matching(events, "dropped result", |e| match e {
        ProtocolEvent::BatchResultDropped {
            request_id,
            batch_number,
            reason,
            ..
        } => Some((*request_id, *batch_number, *reason)),
        _ => None,
    })
    .await
}

/// A spoofed result from a peer that never authenticated is dropped and reported; it never
/// reaches the dispatch, and the link goes on replaying.
#[tokio::test(start_paused = true)]
async fn a_spoofed_result_on_zks_2fa_is_dropped_not_counted() {
    let net = MemNet::new();
    let mn = main_node(&net).await;
    let mut events = mn.events();
    let batch = VerifyBatch {
        request_id: RequestId(7),
        batch_number: 3,
        last_block_number: 10,
        ..VerifyBatch::default()
    };
    let mut dispatch = mn.dispatch(&batch).unwrap();
    let (tx, mut rx) = dial(&net, "spoofer").await;
    tx.send(approved(7, 3).to_frame()).await.unwrap();
    assert_eq!(
        dropped(&mut events).await,
        (RequestId(7), 3, DroppedResult::NotAuthorized)
    );
    still_replays(&tx, &mut rx).await;
    assert!(
        tokio::time::timeout(std::time::Duration::from_secs(60), dispatch.next())
            .await
            .is_err(),
        "nothing reaches the dispatch"
    );
}

/// An authorized verifier's result must name the batch of the request it answers.
#[tokio::test(start_paused = true)]
async fn a_result_for_another_batch_is_dropped() {
    let net = MemNet::new();
    let mn = main_node(&net).await;
    let mut events = mn.events();
    let (tx, mut rx) = dial(&net, "verifier").await;
    let nonce = challenged(&tx, &mut rx).await;
    let auth = VerifierAuth::new(verifier_key().sign_auth(&nonce));
    tx.send(TwoFaMessage::VerifierAuth(auth).to_frame())
        .await
        .unwrap();
    next_matching(&mut events, "authorized", |e| {
        matches!(e, ProtocolEvent::VerifierAuthorized { .. }).then_some(())
    })
    .await;
    let batch = VerifyBatch {
        request_id: RequestId(7),
        batch_number: 9,
        last_block_number: 0,
        ..VerifyBatch::default()
    };
    let mut dispatch = mn.dispatch(&batch).unwrap();
    // Eligible once replay passed the batch's last block.
    still_replays(&tx, &mut rx).await;
    let frame = within("batch", rx.recv()).await.unwrap();
    assert_eq!(
        TwoFaMessage::decode(TwoFaVersion::V1, &frame),
        Ok(TwoFaMessage::VerifyBatch(batch.clone()))
    );
    tx.send(approved(7, 8).to_frame()).await.unwrap();
    assert_eq!(
        dropped(&mut events).await,
        (RequestId(7), 8, DroppedResult::WrongBatch { expected: 9 })
    );
    tx.send(approved(7, 9).to_frame()).await.unwrap();
    let result = within("result", dispatch.next()).await.unwrap();
    assert_eq!(result.result.batch_number, 9);
    assert_eq!(result.signer, verifier_key().address());
}

/// Every role request gets a fresh nonce (upstream's rule) until the rate limit ends the link.
#[tokio::test(start_paused = true)]
async fn role_requests_get_fresh_nonces_until_the_flood_limit() {
    let net = MemNet::new();
    let mn = main_node(&net).await;
    let mut events = mn.events();
    let (tx, mut rx) = dial(&net, "flooder").await;
    let mut nonces = std::collections::HashSet::new();
    for _ in 0..ROLE_REQUEST_BURST {
        assert!(
            nonces.insert(challenged(&tx, &mut rx).await),
            "a nonce repeated"
        );
    }
    tx.send(TwoFaMessage::VerifierRoleRequest.to_frame())
        .await
        .unwrap();
    let cause = next_close(&mut events, Some("flooder")).await;
    assert!(
        matches!(cause, CloseCause::Protocol(ProtocolError::RoleRequestFlood)),
        "{cause:?}"
    );
}

/// A signature of the wrong length makes the peer unauthorized (no signer), and the link goes
/// on; so does a well-formed signature by a key the MN does not accept.
#[tokio::test(start_paused = true)]
async fn malformed_and_unaccepted_signatures_are_events_not_closes() {
    let net = MemNet::new();
    let mn = main_node(&net).await;
    let mut events = mn.events();
    let (tx, mut rx) = dial(&net, "odd").await;
    challenged(&tx, &mut rx).await;
    let short = VerifierAuth {
        signature: Bytes::from_static(&[1; 64]),
    };
    tx.send(TwoFaMessage::VerifierAuth(short).to_frame())
        .await
        .unwrap();
    assert_eq!(unauthorized(&mut events).await, None);

    let nonce = challenged(&tx, &mut rx).await;
    let stranger = VerifierKey::from_bytes(&[0x07; 32]).unwrap();
    let auth = VerifierAuth::new(stranger.sign_auth(&nonce));
    tx.send(TwoFaMessage::VerifierAuth(auth).to_frame())
        .await
        .unwrap();
    assert_eq!(unauthorized(&mut events).await, Some(stranger.address()));
    still_replays(&tx, &mut rx).await;
}

async fn unauthorized(events: &mut EventStream) -> Option<zks_api::SignerAddress> {
    next_matching(events, "unauthorized", |e| match e {
        ProtocolEvent::VerifierUnauthorized { signer, .. } => Some(*signer),
        _ => None,
    })
    .await
}

/// Budgets are per message kind, and ids are relative to their subprotocol: a burst of batch
/// results on `zks_2fa` (id 0x04) draws from the results budget (burst 2,000), not the control
/// budget (burst 50) that the same id means on zks/3–4 (`VerifierAuth`). 200 results at once
/// leave the link up.
#[tokio::test(start_paused = true)]
async fn results_on_zks_2fa_draw_from_the_results_budget_not_control() {
    use zks_api::middleware::rate_limit::MessageClass;
    use zks_api::wire::Frame;

    let net = MemNet::new();
    let mn = main_node(&net).await;
    let mut events = mn.events();
    let (tx, mut rx) = dial(&net, "verifier").await;
    let result = approved(1, 1).to_frame();
    for _ in 0..200 {
        tx.send(result.clone()).await.unwrap();
    }
    for _ in 0..200 {
        let (_, _, reason) = dropped(&mut events).await;
        assert_eq!(reason, DroppedResult::NotAuthorized);
    }
    still_replays(&tx, &mut rx).await;
    // Each frame names its class where its id is defined.
    assert_eq!(result.class(), MessageClass::Result);
    assert_eq!(
        TwoFaMessage::VerifierRoleRequest.to_frame().class(),
        MessageClass::Control
    );
    assert_eq!(
        Frame::zks(0x04, Bytes::new()).class(),
        MessageClass::Control
    );
    assert_eq!(Frame::zks(0x06, Bytes::new()).class(), MessageClass::Result);
    assert_eq!(Frame::zks(0x01, Bytes::new()).class(), MessageClass::Data);
}
