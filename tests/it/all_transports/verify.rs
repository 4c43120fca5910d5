//! Verification end to end in both generations — in-band on zks/3, and on `zks_2fa/1` beside
//! zks/5 — written once and run on every transport, plus a network that mixes them.

use std::sync::Arc;
use std::time::Duration;

use zks_api::ProtocolEvent;
use zks_api::wire::{Capabilities, LinkCaps, TwoFaVersion, VerifyBatch, ZksVersion};
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

/// What a verifier of each generation negotiates with our MN (which advertises both).
fn negotiated(caps: Capabilities) -> LinkCaps {
    Capabilities::default()
        .negotiate(caps)
        .expect("both generations share a version with the MN")
}

async fn verifier(net: &dyn TestNet, name: &str, key: VerifierKey, caps: Capabilities) -> Node {
    Node::builder(net.transport(name).await)
        .capabilities(caps)
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
async fn three_of_five(net: &dyn TestNet, caps: Capabilities) {
    let keys: Vec<_> = (0..5).map(key).collect();
    let mn = main_node(net, &keys).await;
    let mut verifiers = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        verifiers.push(verifier(net, &format!("v{i}"), key.clone(), caps).await);
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
    for session in mn.sessions() {
        assert_eq!(session.info.caps, negotiated(caps), "{}", session.info);
    }
}

pub(crate) async fn five_verifiers_reach_a_three_of_five_quorum_on_zks3(net: &dyn TestNet) {
    three_of_five(net, Capabilities::SEED).await;
}

pub(crate) async fn five_verifiers_reach_a_three_of_five_quorum_on_zks5_2fa(net: &dyn TestNet) {
    three_of_five(net, Capabilities::CURRENT).await;
}

/// One MN, four ENs: a replica and a verifier of each generation, each advertising only its
/// own generation. Every EN replays the chain exactly once, and the quorum needs the verifier
/// of each generation (threshold 2 of the two).
pub(crate) async fn a_mixed_network_replays_once_and_both_generations_verify(net: &dyn TestNet) {
    let keys = [key(0), key(1)];
    let mn = main_node(net, &keys).await;
    let mut replicas = Vec::new();
    for (name, caps) in [
        ("en-seed", Capabilities::SEED),
        ("en-current", Capabilities::CURRENT),
    ] {
        let sink = Arc::new(MemoryReplayStore::new());
        let node = Node::builder(net.transport(name).await)
            .capabilities(caps)
            .external_node(Arc::clone(&sink))
            .trusted_main_node(net.addr("mn"))
            .start()
            .await
            .unwrap();
        replicas.push((node, sink));
    }
    let _seed = verifier(net, "v-seed", keys[0].clone(), Capabilities::SEED).await;
    let _current = verifier(net, "v-current", keys[1].clone(), Capabilities::CURRENT).await;

    for (_, sink) in &replicas {
        within("replay", sink.wait_until(200)).await;
        assert_eq!(sink.block_numbers(), (0..200).collect::<Vec<_>>());
    }
    let config = QuorumConfig::new(keys.iter().map(VerifierKey::address), 2)
        .with_request_timeout(Duration::from_secs(5));
    let quorum = within(
        "quorum",
        collect_quorum(&mn, batch(150), config, &Secp256k1BatchScheme),
    )
    .await
    .unwrap();
    let signers: std::collections::BTreeSet<_> = quorum.signatures.keys().copied().collect();
    assert_eq!(
        signers,
        keys.iter().map(VerifierKey::address).collect(),
        "one signature per generation"
    );
    let mut links: Vec<_> = mn
        .sessions()
        .into_iter()
        .map(|s| (s.info.peer.to_string(), s.info.caps))
        .collect();
    links.sort_by_key(|(_, caps)| (caps.zks, caps.zks_2fa));
    let caps: Vec<_> = links.iter().map(|(_, caps)| *caps).collect();
    let v5 = LinkCaps {
        zks: ZksVersion::V5,
        zks_2fa: Some(TwoFaVersion::V1),
    };
    assert_eq!(
        caps,
        [
            LinkCaps::zks(ZksVersion::V3),
            LinkCaps::zks(ZksVersion::V3),
            v5,
            v5
        ],
        "{links:?}"
    );
}

/// A verifier whose key the MN does not accept ends Unauthorized and is never sent a batch,
/// while an accepted one completes the quorum.
async fn unaccepted_key(net: &dyn TestNet, caps: Capabilities) {
    let mn = main_node(net, &[key(0)]).await;
    let mut events = mn.events();
    let outsider = verifier(net, "outsider", key(7), caps).await;
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
    let _honest = verifier(net, "honest", key(0), caps).await;
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

pub(crate) async fn an_unaccepted_key_is_never_dispatched_on_zks3(net: &dyn TestNet) {
    unaccepted_key(net, Capabilities::SEED).await;
}

pub(crate) async fn an_unaccepted_key_is_never_dispatched_on_zks5_2fa(net: &dyn TestNet) {
    unaccepted_key(net, Capabilities::CURRENT).await;
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
    five_verifiers_reach_a_three_of_five_quorum_on_zks3,
    five_verifiers_reach_a_three_of_five_quorum_on_zks5_2fa,
    a_mixed_network_replays_once_and_both_generations_verify,
    an_unaccepted_key_is_never_dispatched_on_zks3,
    an_unaccepted_key_is_never_dispatched_on_zks5_2fa,
    a_zks2_verifier_only_replays,
);
