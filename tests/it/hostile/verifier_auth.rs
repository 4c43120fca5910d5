//! Attacks on verifier authentication and results: a relayed challenge, spoofed results from
//! an unauthorized peer, and results for batches nobody asked about.

use std::sync::Arc;
use std::time::Duration;

use super::{main_node, verifier_key};
use zks_api::engine::{ProtocolError, TimeoutKind};
use zks_api::transport::{LinkClosed, Transport};
use zks_api::wire::{
    MessageId, RequestId, VerifierAuth, VerifyBatch, VerifyBatchOutcome, VerifyBatchResult,
    VersionSet, ZksMessage,
};
use zks_api::{CloseCause, ProtocolEvent};
use zks_api::{DisconnectReason, MemoryReplayStore, Node};
use zks_memnet::MemNet;
use zks_tests::{next_close, next_matching, within};
use zks_verifier::SigningVerifier;

/// A man in the middle asks the MN for the verifier role and forwards the MN's challenge to a
/// real verifier, hoping for a signature it can relay back. The verifier answers challenges
/// only from its trusted main nodes: it disconnects the relay without signing, and the MN
/// never authorizes the attacker.
#[tokio::test(start_paused = true)]
async fn a_relayed_challenge_gets_no_signature() {
    let net = MemNet::new();
    let mn = main_node(&net).await;
    let mut mn_events = mn.events();
    let verifier = Node::builder(net.node("verifier"))
        .external_node(Arc::new(MemoryReplayStore::new()))
        .trusted_main_node("mn")
        .verifier(
            verifier_key(),
            SigningVerifier::new(verifier_key(), |_: &VerifyBatch| Ok(())),
        )
        .start()
        .await
        .unwrap();
    let mut verifier_events = verifier.events();

    let attacker = net.node("mitm");
    let (_, to_mn, mut from_mn) = attacker
        .dial(&"mn".into(), VersionSet::SEED.into())
        .await
        .unwrap()
        .split();
    to_mn
        .send(ZksMessage::VerifierRoleRequest.to_frame())
        .await
        .unwrap();
    let challenge = within("challenge", from_mn.recv()).await.unwrap();
    assert_eq!(challenge.id, MessageId::VerifierChallenge as u8);

    let (_, to_verifier, mut from_verifier) = attacker
        .dial(&"verifier".into(), VersionSet::SEED.into())
        .await
        .unwrap()
        .split();
    to_verifier.send(challenge).await.unwrap();
    assert_eq!(
        within("verifier's answer", from_verifier.recv()).await,
        Err(LinkClosed::ByPeer(DisconnectReason::ProtocolBreach)),
        "the verifier must hang up without sending anything"
    );
    let cause = next_close(&mut verifier_events, Some("mitm")).await;
    assert!(
        matches!(
            cause,
            CloseCause::Protocol(ProtocolError::UnexpectedMessage {
                id: MessageId::VerifierChallenge
            })
        ),
        "{cause:?}"
    );

    // Without a signature the attacker's handshake times out at the MN, never authorized.
    let cause = next_matching(&mut mn_events, "attacker closed", |e| match e {
        ProtocolEvent::VerifierAuthorized { peer, .. } if peer.to_string() == "mitm" => {
            panic!("the attacker was authorized")
        }
        ProtocolEvent::Closed { peer, cause, .. } if peer.to_string() == "mitm" => {
            Some(cause.clone())
        }
        _ => None,
    })
    .await;
    assert!(
        matches!(cause, CloseCause::Timeout(TimeoutKind::Handshake)),
        "{cause:?}"
    );
}

/// `VerifyBatchResult` from a peer that never authenticated ends its link and reaches no
/// dispatch.
#[tokio::test(start_paused = true)]
async fn results_from_unauthorized_peers_are_refused() {
    let net = MemNet::new();
    let mn = main_node(&net).await;
    let mut events = mn.events();
    let batch = VerifyBatch {
        request_id: RequestId(7),
        last_block_number: 10,
        ..VerifyBatch::default()
    };
    let mut dispatch = mn.dispatch(&batch).unwrap();

    let (_, tx, mut rx) = net
        .node("spoofer")
        .dial(&"mn".into(), VersionSet::SEED.into())
        .await
        .unwrap()
        .split();
    let spoof = ZksMessage::VerifyBatchResult(VerifyBatchResult {
        request_id: RequestId(7),
        batch_number: 0,
        outcome: VerifyBatchOutcome::Approved {
            signature: vec![1; 65].into(),
        },
    });
    tx.send(spoof.to_frame()).await.unwrap();
    let cause = next_close(&mut events, Some("spoofer")).await;
    assert!(
        matches!(
            cause,
            CloseCause::Protocol(ProtocolError::ResultFromUnauthorizedPeer)
        ),
        "{cause:?}"
    );
    assert_eq!(
        rx.recv().await,
        Err(LinkClosed::ByPeer(DisconnectReason::ProtocolBreach))
    );
    assert!(
        tokio::time::timeout(Duration::from_secs(60), dispatch.next())
            .await
            .is_err(),
        "nothing reaches the dispatch"
    );
}

/// An authorized verifier's result for a request nobody made is reported and dropped; the
/// link stays up.
#[tokio::test(start_paused = true)]
async fn results_for_unrequested_batches_are_dropped() {
    let net = MemNet::new();
    let mn = main_node(&net).await;
    let mut events = mn.events();
    let (_, tx, mut rx) = net
        .node("verifier")
        .dial(&"mn".into(), VersionSet::SEED.into())
        .await
        .unwrap()
        .split();
    tx.send(ZksMessage::VerifierRoleRequest.to_frame())
        .await
        .unwrap();
    let frame = within("challenge", rx.recv()).await.unwrap();
    let ZksMessage::VerifierChallenge(challenge) =
        ZksMessage::decode(zks_api::wire::ZksVersion::V3, &frame).unwrap()
    else {
        panic!("expected a challenge");
    };
    let signature = verifier_key().sign_auth(&challenge.nonce);
    tx.send(ZksMessage::VerifierAuth(VerifierAuth::new(signature)).to_frame())
        .await
        .unwrap();
    next_matching(&mut events, "authorized", |e| {
        matches!(e, ProtocolEvent::VerifierAuthorized { .. }).then_some(())
    })
    .await;

    let unrequested = ZksMessage::VerifyBatchResult(VerifyBatchResult {
        request_id: RequestId(999),
        batch_number: 3,
        outcome: VerifyBatchOutcome::Approved {
            signature: vec![2; 65].into(),
        },
    });
    tx.send(unrequested.to_frame()).await.unwrap();
    let (request_id, routed) = next_matching(&mut events, "result", |e| match e {
        ProtocolEvent::BatchResultReceived {
            request_id, routed, ..
        } => Some((*request_id, *routed)),
        _ => None,
    })
    .await;
    assert_eq!((request_id, routed), (RequestId(999), false));
    assert_eq!(
        mn.link_count(),
        1,
        "an authorized verifier is not cut off for a stale result"
    );
}
