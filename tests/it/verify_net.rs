//! zks/3 verification end to end, written once and run on every transport.

use std::sync::Arc;
use std::time::Duration;

use zks_api::ProtocolEvent;
use zks_api::wire::{VerifyBatch, VersionSet, ZksVersion};
use zks_api::{MemoryReplayStore, Node, PeerId};
use zks_tests::{TestNet, chain, next_matching, within};
use zks_verifier::{
    AcceptedSigners, BatchSignatureScheme, QuorumConfig, Secp256k1BatchScheme, SigningVerifier,
    VerifierKey, collect_quorum,
};

fn key(i: u8) -> VerifierKey {
    VerifierKey::from_bytes(&[i + 1; 32]).unwrap()
}

fn batch(last: u64) -> VerifyBatch {
    VerifyBatch {
        batch_number: 9,
        first_block_number: 100,
        last_block_number: last,
        commit_data: b"commit".to_vec().into(),
        prev_commit_data: b"prev".to_vec().into(),
        execution_protocol_version: 31,
        ..VerifyBatch::default()
    }
}

async fn main_node(net: &dyn TestNet, accepted: &[VerifierKey]) -> Node {
    let signers: AcceptedSigners = accepted.iter().map(VerifierKey::address).collect();
    Node::builder(net.transport("mn").await)
        .main_node(chain(200))
        .verifier_authenticator(signers)
        .start()
        .await
        .unwrap()
}

async fn verifier(net: &dyn TestNet, name: &str, key: VerifierKey, versions: VersionSet) -> Node {
    Node::builder(net.transport(name).await)
        .versions(versions)
        .external_node(Arc::new(MemoryReplayStore::new()))
        .trusted_main_node(net.addr("mn"))
        .verifier(
            key.clone(),
            SigningVerifier::new(key, |_: &VerifyBatch| Ok(())),
        )
        .start()
        .await
        .unwrap()
}

/// 5 accepted verifiers, threshold 3: the quorum holds 3 distinct signatures, each of which
/// recovers to its signer under the batch scheme.
pub(crate) async fn five_verifiers_reach_a_three_of_five_quorum(net: &dyn TestNet) {
    let keys: Vec<_> = (0..5).map(key).collect();
    let mn = main_node(net, &keys).await;
    let mut verifiers = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        verifiers.push(verifier(net, &format!("v{i}"), key.clone(), VersionSet::ALL).await);
    }
    let config = QuorumConfig::new(keys.iter().map(VerifierKey::address), 3)
        .with_request_timeout(Duration::from_secs(5));
    let quorum = within(
        "quorum",
        collect_quorum(&mn, batch(150), config, &Secp256k1BatchScheme),
    )
    .await;
    let quorum = quorum.unwrap();
    // Keyed by signer: each counts once.
    assert!(quorum.signatures.len() >= 3);
    for (signer, signature) in &quorum.signatures {
        assert_eq!(
            Secp256k1BatchScheme
                .recover(&batch(150), signature)
                .unwrap(),
            *signer
        );
    }
}

/// A verifier whose key the MN does not accept ends Unauthorized and is never sent a batch,
/// while an accepted one completes the quorum.
pub(crate) async fn an_unaccepted_key_is_never_dispatched(net: &dyn TestNet) {
    let mn = main_node(net, &[key(0)]).await;
    let mut events = mn.events();
    let outsider = verifier(net, "outsider", key(7), VersionSet::ALL).await;
    let outsider_id: PeerId = outsider.local_id().clone();
    let unauthorized = next_matching(&mut events, "outsider judged", |e| match e {
        ProtocolEvent::VerifierUnauthorized { peer, signer, .. } if *peer == outsider_id => {
            Some(*signer)
        }
        _ => None,
    })
    .await;
    assert_eq!(
        unauthorized,
        Some(key(7).address()),
        "the signature recovers to its key"
    );
    let _honest = verifier(net, "honest", key(0), VersionSet::ALL).await;
    let config = QuorumConfig::new([key(0).address()], 1);
    within(
        "quorum",
        collect_quorum(&mn, batch(150), config, &Secp256k1BatchScheme),
    )
    .await
    .unwrap();
    let mut dispatched = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout(Duration::from_millis(50), events.next()).await
    {
        if let ProtocolEvent::BatchDispatched { peer, .. } = event {
            dispatched.push(peer);
        }
    }
    assert!(
        !dispatched.contains(&outsider_id),
        "the outsider was sent a batch"
    );
}

/// A zks/2 EN holding a verifier key replays and never asks for the verifier role.
pub(crate) async fn a_zks2_verifier_only_replays(net: &dyn TestNet) {
    let mn = main_node(net, &[key(0)]).await;
    let mut events = mn.events();
    let en = verifier(net, "old", key(0), ZksVersion::V2.into()).await;
    let mut applied = en.applied().unwrap();
    within("replay", applied.wait_for(|next| *next >= 200))
        .await
        .unwrap();
    while let Ok(Some(event)) = tokio::time::timeout(Duration::from_millis(50), events.next()).await
    {
        assert!(
            !matches!(event, ProtocolEvent::VerifierRoleRequested { .. }),
            "{event:?}"
        );
    }
}

zks_tests::on_every_transport!(
    five_verifiers_reach_a_three_of_five_quorum,
    an_unaccepted_key_is_never_dispatched,
    a_zks2_verifier_only_replays,
);
