//! zks/3 batch verification end to end over memnet: verifier auth, eligibility-based dispatch,
//! and the `zks-verifier` quorum collector, with honest, slow, hostile and scripted verifiers.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use zks_api::engine::{ProtocolError, VerifierStatus};
use zks_api::transport::{LinkClosed, LinkReceiver, LinkSender, Transport};
use zks_api::wire::{
    Capabilities, Frame, GetBlockReplays, MessageId, RequestId, TwoFaMessage, TwoFaMessageId,
    VerifierAuth, VerifyBatch, VerifyBatchOutcome, VerifyBatchResult, VersionSet, ZksMessage,
    ZksVersion,
};
use zks_api::{CloseCause, EventStream, ProtocolEvent};
use zks_api::{
    DisconnectReason, MemoryReplayStore, Node, NodeSettings, ReplaySource, SignerAddress, Verifier,
};
use zks_memnet::MemNet;
use zks_tests::{append, chain, next_matching, within};
use zks_verifier::{
    AcceptedSigners, ApprovalRejection, BatchSignatureScheme, QuorumConfig, QuorumError,
    Secp256k1BatchScheme, SigningVerifier, VerifierKey, collect_quorum,
};

const SECOND: Duration = Duration::from_secs(1);

/// Deterministic verifier keys.
fn keys(n: u8) -> Vec<VerifierKey> {
    (1..=n)
        .map(|i| VerifierKey::from_bytes(&[i; 32]).unwrap())
        .collect()
}

fn addresses(keys: &[VerifierKey]) -> Vec<SignerAddress> {
    keys.iter().map(VerifierKey::address).collect()
}

/// The batch of blocks 100..=`last`.
fn batch(last: u64) -> VerifyBatch {
    VerifyBatch {
        request_id: RequestId(0),
        batch_number: 7,
        first_block_number: 100,
        last_block_number: last,
        pubdata_mode: 0,
        commit_data: Bytes::from_static(b"commit"),
        prev_commit_data: Bytes::from_static(b"prev"),
        execution_protocol_version: 31,
    }
}

/// A main node on `name` accepting `accepted` as verifiers.
async fn main_node(
    net: &MemNet,
    name: &str,
    source: impl ReplaySource,
    accepted: &[SignerAddress],
) -> Node {
    main_node_with(net, name, source, accepted, NodeSettings::default()).await
}

async fn main_node_with(
    net: &MemNet,
    name: &str,
    source: impl ReplaySource,
    accepted: &[SignerAddress],
    settings: NodeSettings,
) -> Node {
    Node::builder(net.node(name))
        .settings(settings)
        .main_node(source)
        .verifier_authenticator(accepted.iter().copied().collect::<AcceptedSigners>())
        .start()
        .await
        .unwrap()
}

/// An external node on `name` trusting `mn`, holding `key` and answering with `verifier`.
async fn verifier_node(
    net: &MemNet,
    name: &str,
    mn: &str,
    versions: VersionSet,
    key: &VerifierKey,
    verifier: impl Verifier,
) -> (Node, Arc<MemoryReplayStore>) {
    let sink = Arc::new(MemoryReplayStore::new());
    let node = Node::builder(net.node(name))
        .versions(versions)
        .external_node(sink.clone())
        .trusted_main_node(mn)
        .verifier(key.clone(), verifier)
        .rng_seed(7)
        .start()
        .await
        .unwrap();
    (node, sink)
}

/// An honest verifier that approves every batch.
async fn honest(net: &MemNet, name: &str, mn: &str, key: &VerifierKey) -> Node {
    let verifier = SigningVerifier::new(key.clone(), |_| Ok(()));
    verifier_node(net, name, mn, VersionSet::ALL, key, verifier)
        .await
        .0
}

/// Approves after `delay` (virtual time).
struct SlowVerifier<V> {
    inner: V,
    delay: Duration,
}

#[async_trait]
impl<V: Verifier> Verifier for SlowVerifier<V> {
    async fn verify(&self, request: &VerifyBatch) -> VerifyBatchOutcome {
        tokio::time::sleep(self.delay).await;
        self.inner.verify(request).await
    }
}

/// Waits until the main node has authorized `n` verifiers; returns their signers.
async fn authorized(events: &mut EventStream, n: usize) -> BTreeSet<SignerAddress> {
    let mut signers = BTreeSet::new();
    while signers.len() < n {
        signers.insert(
            next_matching(events, "verifier authorized", |e| match e {
                ProtocolEvent::VerifierAuthorized { signer, .. } => Some(*signer),
                _ => None,
            })
            .await,
        );
    }
    signers
}

/// Every event already published, without waiting.
async fn drain(events: &mut EventStream) -> Vec<ProtocolEvent> {
    let mut out = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout(Duration::ZERO, events.next()).await {
        out.push(event);
    }
    out
}

fn config(accepted: &[SignerAddress], threshold: usize) -> QuorumConfig {
    QuorumConfig::new(accepted.iter().copied(), threshold)
        .with_request_timeout(60 * SECOND)
        .with_retry_delay(SECOND)
        .with_total_timeout(300 * SECOND)
}

/// A hand-scripted zks/3 peer of a main node.
struct Scripted {
    tx: LinkSender,
    rx: LinkReceiver,
}

impl Scripted {
    async fn dial(net: &MemNet, name: &str, mn: &str) -> Self {
        let link = net
            .node(name)
            .dial(&mn.into(), VersionSet::only(ZksVersion::V3).into())
            .await
            .unwrap();
        let (_, tx, rx) = link.split();
        Self { tx, rx }
    }

    async fn send(&self, message: ZksMessage) {
        self.tx.send(message.to_frame()).await.unwrap();
    }

    async fn recv(&mut self) -> ZksMessage {
        let frame = within("frame", self.rx.recv()).await.unwrap();
        ZksMessage::decode(ZksVersion::V3, &frame).unwrap()
    }

    /// Asks for the verifier role and returns the challenge nonce.
    async fn challenge(&mut self) -> [u8; 32] {
        self.send(ZksMessage::VerifierRoleRequest).await;
        match self.recv().await {
            ZksMessage::VerifierChallenge(c) => c.nonce,
            other => panic!("expected a challenge, got {other:?}"),
        }
    }

    /// Authenticates with `key`, then asks for replay from genesis.
    async fn authenticate(&mut self, key: &VerifierKey) {
        let nonce = self.challenge().await;
        self.send(ZksMessage::VerifierAuth(VerifierAuth::new(
            key.sign_auth(&nonce),
        )))
        .await;
        self.send(ZksMessage::GetBlockReplays(GetBlockReplays {
            starting_block: 0,
            record_overrides: vec![],
            max_blocks_per_message: Some(64),
        }))
        .await;
    }

    /// The next `VerifyBatch`, skipping replay.
    async fn next_batch(&mut self) -> VerifyBatch {
        loop {
            match self.recv().await {
                ZksMessage::VerifyBatch(b) => return b,
                ZksMessage::BlockReplays(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    async fn answer(&self, request: &VerifyBatch, request_id: RequestId, signature: Bytes) {
        self.send(ZksMessage::VerifyBatchResult(VerifyBatchResult {
            request_id,
            batch_number: request.batch_number,
            outcome: VerifyBatchOutcome::Approved { signature },
        }))
        .await;
    }
}

/// 5 accepted verifiers, threshold 3: the quorum holds exactly 3 distinct valid signatures,
/// each over the scheme's digest.
#[tokio::test(start_paused = true)]
async fn five_verifiers_reach_a_three_of_five_quorum() {
    let net = MemNet::new();
    let keys = keys(5);
    let accepted = addresses(&keys);
    let mn = main_node(&net, "mn", chain(121), &accepted).await;
    let mut events = mn.events();
    let mut ens = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        ens.push(honest(&net, &format!("en{i}"), "mn", key).await);
    }
    assert_eq!(
        authorized(&mut events, 5).await,
        accepted.iter().copied().collect()
    );
    let scheme = Secp256k1BatchScheme;
    let quorum = within(
        "quorum",
        collect_quorum(&mn, batch(120), config(&accepted, 3), &scheme),
    )
    .await
    .unwrap();
    assert_eq!(quorum.signatures.len(), 3);
    assert_eq!(quorum.digest, scheme.digest(&batch(120)));
    assert_eq!(quorum.attempts, 1);
    for (signer, signature) in &quorum.signatures {
        assert!(accepted.contains(signer));
        assert_eq!(scheme.recover(&batch(120), signature), Ok(*signer));
    }
    assert!(quorum.tally.rejected.is_empty());
}

/// An EN whose key is not accepted ends Unauthorized and is never sent a `VerifyBatch`.
#[tokio::test(start_paused = true)]
async fn an_unaccepted_key_is_unauthorized_and_never_dispatched() {
    let net = MemNet::new();
    let keys = keys(4);
    let (accepted_keys, rogue) = keys.split_at(3);
    let accepted = addresses(accepted_keys);
    let mn = main_node(&net, "mn", chain(121), &accepted).await;
    let mut events = mn.events();
    let rogue_en = honest(&net, "rogue", "mn", &rogue[0]).await;
    let mut rogue_events = rogue_en.events();
    let unauthorized = next_matching(&mut events, "rogue judged", |e| match e {
        ProtocolEvent::VerifierUnauthorized { peer, signer, .. } => {
            Some((peer.to_string(), *signer))
        }
        ProtocolEvent::VerifierAuthorized { peer, .. } => panic!("{peer} authorized"),
        _ => None,
    })
    .await;
    assert_eq!(unauthorized, ("rogue".to_owned(), Some(rogue[0].address())));
    let _ens: Vec<_> = {
        let mut v = Vec::new();
        for (i, key) in accepted_keys.iter().enumerate() {
            v.push(honest(&net, &format!("en{i}"), "mn", key).await);
        }
        v
    };
    authorized(&mut events, 3).await;
    let rogue_session = mn
        .sessions()
        .into_iter()
        .find(|s| s.info.peer.to_string() == "rogue")
        .unwrap();
    assert_eq!(
        rogue_session.verifier,
        VerifierStatus::Unauthorized(Some(rogue[0].address()))
    );

    let quorum = within(
        "quorum",
        collect_quorum(&mn, batch(120), config(&accepted, 3), &Secp256k1BatchScheme),
    )
    .await
    .unwrap();
    assert!(!quorum.signatures.contains_key(&rogue[0].address()));
    let dispatched: Vec<String> = drain(&mut events)
        .await
        .into_iter()
        .filter_map(|e| match e {
            ProtocolEvent::BatchDispatched { peer, .. } => Some(peer.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(dispatched.len(), 3, "{dispatched:?}");
    assert!(!dispatched.contains(&"rogue".to_owned()));
    assert!(
        !drain(&mut rogue_events)
            .await
            .iter()
            .any(|e| matches!(e, ProtocolEvent::BatchAnswered { .. })),
        "the rogue never saw a batch"
    );
}

/// A verifier that has been sent replay only through block 99 is not dispatched a batch ending
/// at 120; once the main node has sent it 120 (request still open), it is.
#[tokio::test(start_paused = true)]
async fn dispatch_waits_until_the_verifier_was_sent_the_last_block() {
    let net = MemNet::new();
    let keys = keys(1);
    let accepted = addresses(&keys);
    let source = chain(100);
    // A long verifier-handshake timeout keeps this test independent of the one below.
    let settings = NodeSettings::default().with_timeouts(30 * SECOND, 600 * SECOND);
    let mn = main_node_with(&net, "mn", source.clone(), &accepted, settings).await;
    let mut events = mn.events();
    let (_en, sink) = verifier_node(
        &net,
        "en",
        "mn",
        VersionSet::ALL,
        &keys[0],
        SigningVerifier::new(keys[0].clone(), |_| Ok(())),
    )
    .await;
    authorized(&mut events, 1).await;
    within("blocks 0..=99", sink.wait_until(100)).await;

    let collecting = collect_quorum(&mn, batch(120), config(&accepted, 1), &Secp256k1BatchScheme);
    tokio::pin!(collecting);
    tokio::select! {
        result = &mut collecting => panic!("quorum before block 120 was sent: {result:?}"),
        () = tokio::time::sleep(20 * SECOND) => {}
    }
    let early = drain(&mut events).await;
    assert!(
        !early
            .iter()
            .any(|e| matches!(e, ProtocolEvent::BatchDispatched { .. })),
        "dispatched at block 99: {early:?}"
    );
    let sessions = mn.sessions();
    let closed: Vec<_> = early
        .iter()
        .filter(|e| matches!(e, ProtocolEvent::Closed { .. }))
        .collect();
    assert!(closed.is_empty(), "{closed:?}");
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(sessions[0].sent_through, Some(99), "{sessions:?}");

    append(&source, 100, 121);
    let quorum = within("quorum", &mut collecting).await.unwrap();
    assert_eq!(quorum.attempts, 1, "the same request, still open");
    assert_eq!(
        quorum.signatures.keys().copied().collect::<Vec<_>>(),
        accepted
    );
    let dispatched = drain(&mut events)
        .await
        .into_iter()
        .find_map(|e| match e {
            ProtocolEvent::BatchDispatched { request_id, .. } => Some(request_id),
            _ => None,
        })
        .unwrap();
    assert_eq!(dispatched, quorum.batch.request_id);
}

/// Once a verifier has authenticated, its link stays up while it has nothing to say: the
/// verifier-handshake deadline ends with the handshake.
#[tokio::test(start_paused = true)]
async fn an_authorized_verifier_link_outlives_the_handshake_timeout() {
    let net = MemNet::new();
    let keys = keys(1);
    let mn = main_node(&net, "mn", chain(10), &addresses(&keys)).await;
    let mut events = mn.events();
    let _en = honest(&net, "en", "mn", &keys[0]).await;
    let conn = next_matching(&mut events, "verifier authorized", |e| match e {
        ProtocolEvent::VerifierAuthorized { conn, .. } => Some(*conn),
        _ => None,
    })
    .await;
    tokio::time::sleep(60 * SECOND).await;
    // The verifier's link (the short probe links its external node opens while the chain is
    // idle come and go beside it).
    let closed: Vec<_> = drain(&mut events)
        .await
        .into_iter()
        .filter(|e| matches!(e, ProtocolEvent::Closed { conn: c, .. } if *c == conn))
        .collect();
    assert!(closed.is_empty(), "{closed:?}");
    assert!(mn.sessions().iter().any(|s| s.conn == conn));
}

/// A verifier that was fully synced, lost its link and came back (re-authenticated, resuming
/// past the batch's last block) can verify the batch: it has all of its blocks.
#[tokio::test(start_paused = true)]
async fn a_synced_verifier_that_reconnects_is_eligible_again() {
    let net = MemNet::new();
    let keys = keys(1);
    let accepted = addresses(&keys);
    let settings = NodeSettings::default().with_timeouts(30 * SECOND, 600 * SECOND);
    let mn = main_node_with(&net, "mn", chain(121), &accepted, settings).await;
    let mut events = mn.events();
    let (_en, sink) = verifier_node(
        &net,
        "en",
        "mn",
        VersionSet::ALL,
        &keys[0],
        SigningVerifier::new(keys[0].clone(), |_| Ok(())),
    )
    .await;
    authorized(&mut events, 1).await;
    within("replay", sink.wait_until(121)).await;
    assert_eq!(net.kill("mn", "en"), 1);
    authorized(&mut events, 1).await;

    let config = config(&accepted, 1).with_total_timeout(30 * SECOND);
    let result = collect_quorum(&mn, batch(120), config, &Secp256k1BatchScheme).await;
    assert!(result.is_ok(), "{result:?}; sessions {:?}", mn.sessions());
}

/// `VerifierAuth` with no challenge pending ends the link.
#[tokio::test(start_paused = true)]
async fn auth_before_any_challenge_ends_the_link() {
    let net = MemNet::new();
    let key = &keys(1)[0];
    let mn = main_node(&net, "mn", chain(10), &[key.address()]).await;
    let mut events = mn.events();
    let mut peer = Scripted::dial(&net, "early", "mn").await;
    peer.send(ZksMessage::VerifierAuth(VerifierAuth::new(
        key.sign_auth(&[0; 32]),
    )))
    .await;
    let cause = next_matching(&mut events, "closed", |e| match e {
        ProtocolEvent::Closed { cause, .. } => Some(cause.clone()),
        _ => None,
    })
    .await;
    assert!(
        matches!(
            cause,
            CloseCause::Protocol(ProtocolError::AuthWithoutChallenge)
        ),
        "{cause:?}"
    );
    assert_eq!(
        within("disconnect", peer.rx.recv()).await.unwrap_err(),
        LinkClosed::ByPeer(DisconnectReason::ProtocolBreach)
    );
}

/// An auth signature captured on one session and replayed on another (different nonce) does
/// not authorize.
#[tokio::test(start_paused = true)]
async fn a_replayed_auth_signature_is_unauthorized() {
    let net = MemNet::new();
    let key = &keys(1)[0];
    let mn = main_node(&net, "mn", chain(10), &[key.address()]).await;
    let mut events = mn.events();

    let mut honest = Scripted::dial(&net, "honest", "mn").await;
    let first_nonce = honest.challenge().await;
    let captured = key.sign_auth(&first_nonce);
    honest
        .send(ZksMessage::VerifierAuth(VerifierAuth::new(captured)))
        .await;
    assert_eq!(
        authorized(&mut events, 1).await,
        BTreeSet::from([key.address()])
    );

    let mut thief = Scripted::dial(&net, "thief", "mn").await;
    let second_nonce = thief.challenge().await;
    assert_ne!(first_nonce, second_nonce, "nonces are fresh");
    thief
        .send(ZksMessage::VerifierAuth(VerifierAuth::new(captured)))
        .await;
    let (peer, signer) = next_matching(&mut events, "thief judged", |e| match e {
        ProtocolEvent::VerifierUnauthorized { peer, signer, .. } => {
            Some((peer.to_string(), *signer))
        }
        ProtocolEvent::VerifierAuthorized { peer, .. } if peer.to_string() == "thief" => {
            panic!("replayed signature authorized")
        }
        _ => None,
    })
    .await;
    assert_eq!(peer, "thief");
    assert_ne!(signer, Some(key.address()));
}

/// Duplicates count once, stale request ids are ignored, refusals never count, forged
/// signatures are rejected; honest verifiers joining later complete the quorum.
#[tokio::test(start_paused = true)]
async fn duplicate_stale_refused_and_forged_results_do_not_count() {
    let net = MemNet::new();
    let keys = keys(6);
    let accepted = addresses(&keys);
    let mn = main_node(&net, "mn", chain(121), &accepted).await;
    let mut events = mn.events();
    let scheme = Secp256k1BatchScheme;

    // keys[0]: answers three times. keys[1]: answers under a stale id. keys[3]: signs with a
    // key nobody accepts.
    let mut dup = Scripted::dial(&net, "dup", "mn").await;
    dup.authenticate(&keys[0]).await;
    let mut stale = Scripted::dial(&net, "stale", "mn").await;
    stale.authenticate(&keys[1]).await;
    let mut forger = Scripted::dial(&net, "forger", "mn").await;
    forger.authenticate(&keys[3]).await;
    // keys[2]: a real EN that refuses.
    let (_refuser, _) = verifier_node(
        &net,
        "refuser",
        "mn",
        VersionSet::ALL,
        &keys[2],
        SigningVerifier::new(keys[2].clone(), |_| Err("commit data mismatch".to_owned())),
    )
    .await;
    authorized(&mut events, 4).await;

    let forged_with = VerifierKey::from_bytes(&[0x99; 32]).unwrap();
    let hostile = tokio::spawn({
        let (k0, forged_with) = (keys[0].clone(), forged_with.clone());
        async move {
            let request = dup.next_batch().await;
            let signature = scheme.sign(&k0, &request);
            for _ in 0..3 {
                dup.answer(&request, request.request_id, signature.clone())
                    .await;
            }
            let request = stale.next_batch().await;
            let id = RequestId(request.request_id.0 + 1_000);
            stale.answer(&request, id, scheme.sign(&k0, &request)).await;
            let request = forger.next_batch().await;
            forger
                .answer(
                    &request,
                    request.request_id,
                    scheme.sign(&forged_with, &request),
                )
                .await;
            (dup, stale, forger)
        }
    });

    let collecting = collect_quorum(&mn, batch(120), config(&accepted, 3), &scheme);
    tokio::pin!(collecting);
    tokio::select! {
        result = &mut collecting => panic!("quorum from hostile results: {result:?}"),
        () = tokio::time::sleep(10 * SECOND) => {}
    }
    let _links = hostile.await.unwrap();
    // Honest verifiers join while the request is open.
    let _h4 = honest(&net, "honest4", "mn", &keys[4]).await;
    let _h5 = honest(&net, "honest5", "mn", &keys[5]).await;
    let quorum = within("quorum", &mut collecting).await.unwrap();

    assert_eq!(
        quorum.signatures.keys().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from([keys[0].address(), keys[4].address(), keys[5].address()])
    );
    assert_eq!(quorum.tally.duplicates, 2);
    assert_eq!(
        quorum
            .tally
            .refused
            .get(&keys[2].address())
            .map(String::as_str),
        Some("commit data mismatch")
    );
    assert_eq!(
        quorum.tally.rejected.get(&keys[3].address()),
        Some(&ApprovalRejection::NotFromSigner {
            recovered: forged_with.address()
        })
    );
    assert!(!quorum.tally.approved.contains_key(&keys[1].address()));
    // The node drops the stale result before it reaches the collector.
    let stale_dropped = drain(&mut events).await.into_iter().any(|e| {
        matches!(
            e,
            ProtocolEvent::BatchResultReceived { peer, routed: false, .. } if peer.to_string() == "stale"
        )
    });
    assert!(stale_dropped);
}

/// A verifier disconnecting mid-request does not stop the quorum when enough others remain.
#[tokio::test(start_paused = true)]
async fn a_verifier_disconnecting_mid_request_does_not_stop_the_quorum() {
    let net = MemNet::new();
    let keys = keys(4);
    let accepted = addresses(&keys);
    let mn = main_node(&net, "mn", chain(121), &accepted).await;
    let mut events = mn.events();
    let mut ens = Vec::new();
    for (i, key) in keys[..3].iter().enumerate() {
        let slow = SlowVerifier {
            inner: SigningVerifier::new(key.clone(), |_| Ok(())),
            delay: 2 * SECOND,
        };
        ens.push(
            verifier_node(&net, &format!("en{i}"), "mn", VersionSet::ALL, key, slow)
                .await
                .0,
        );
    }
    let mut quitter = Scripted::dial(&net, "quitter", "mn").await;
    quitter.authenticate(&keys[3]).await;
    authorized(&mut events, 4).await;
    let quit = tokio::spawn(async move {
        let _ = quitter.next_batch().await;
        drop(quitter);
    });

    let quorum = within(
        "quorum",
        collect_quorum(&mn, batch(120), config(&accepted, 3), &Secp256k1BatchScheme),
    )
    .await
    .unwrap();
    quit.await.unwrap();
    assert_eq!(
        quorum.signatures.keys().copied().collect::<BTreeSet<_>>(),
        addresses(&keys[..3]).into_iter().collect::<BTreeSet<_>>()
    );
    let events = drain(&mut events).await;
    let closed = events
        .iter()
        .position(
            |e| matches!(e, ProtocolEvent::Closed { peer, .. } if peer.to_string() == "quitter"),
        )
        .expect("quitter's link closed");
    let last_answer = events
        .iter()
        .rposition(|e| matches!(e, ProtocolEvent::BatchResultReceived { .. }))
        .unwrap();
    assert!(closed < last_answer, "closed mid-request");
}

/// With too few verifiers, the collector retries and then fails with `NotEnoughSigners` after
/// the total timeout.
#[tokio::test(start_paused = true)]
async fn too_few_verifiers_fail_with_not_enough_signers_after_the_total_timeout() {
    let net = MemNet::new();
    let keys = keys(5);
    let accepted = addresses(&keys);
    let mn = main_node(&net, "mn", chain(121), &accepted).await;
    let mut events = mn.events();
    let _en0 = honest(&net, "en0", "mn", &keys[0]).await;
    let _en1 = honest(&net, "en1", "mn", &keys[1]).await;
    authorized(&mut events, 2).await;

    let config = QuorumConfig::new(accepted.iter().copied(), 3)
        .with_request_timeout(10 * SECOND)
        .with_retry_delay(SECOND)
        .with_total_timeout(30 * SECOND);
    let start = tokio::time::Instant::now();
    let result = collect_quorum(&mn, batch(120), config, &Secp256k1BatchScheme).await;
    assert!(
        matches!(
            result,
            Err(QuorumError::NotEnoughSigners {
                got: 2,
                needed: 3,
                ..
            })
        ),
        "{result:?}"
    );
    assert_eq!(start.elapsed(), 30 * SECOND);
    let attempts: BTreeSet<RequestId> = drain(&mut events)
        .await
        .into_iter()
        .filter_map(|e| match e {
            ProtocolEvent::BatchDispatched { request_id, .. } => Some(request_id),
            _ => None,
        })
        .collect();
    // Attempts start at 0, 11 and 22 s.
    assert_eq!(attempts.len(), 3, "{attempts:?}");
}

/// A zks/2 EN holding a verifier key replays normally and never sends a verifier message.
#[tokio::test(start_paused = true)]
async fn a_zks2_en_with_a_verifier_key_only_replays() {
    let net = MemNet::new();
    let key = &keys(1)[0];
    let mn = main_node(&net, "mn", chain(121), &[key.address()]).await;
    let mut events = mn.events();
    let (_en, sink) = verifier_node(
        &net,
        "en",
        "mn",
        VersionSet::only(ZksVersion::V2),
        key,
        SigningVerifier::new(key.clone(), |_| Ok(())),
    )
    .await;
    within("replay", sink.wait_until(121)).await;
    let session = mn.sessions().pop().unwrap();
    assert_eq!(session.info.caps.zks, ZksVersion::V2);
    assert_eq!(session.verifier, VerifierStatus::None);

    let config = QuorumConfig::new([key.address()], 1)
        .with_request_timeout(5 * SECOND)
        .with_total_timeout(10 * SECOND);
    let result = collect_quorum(&mn, batch(120), config, &Secp256k1BatchScheme).await;
    assert!(matches!(
        result,
        Err(QuorumError::NotEnoughSigners {
            got: 0,
            needed: 1,
            ..
        })
    ));
    for event in drain(&mut events).await {
        assert!(
            !matches!(
                event,
                ProtocolEvent::VerifierRoleRequested { .. }
                    | ProtocolEvent::VerifierChallengeSent { .. }
                    | ProtocolEvent::BatchDispatched { .. }
                    | ProtocolEvent::Closed { .. }
            ),
            "{event:?}"
        );
    }
}

/// An EN authenticates only toward trusted main nodes: an untrusted peer that challenges it
/// gets no signature (and no role request), and is disconnected.
#[tokio::test(start_paused = true)]
async fn an_untrusted_challenger_gets_no_signature() {
    let challenge = zks_api::wire::VerifierChallenge { nonce: [3; 32] };
    untrusted_challenger(
        Capabilities::SEED,
        ZksVersion::V3,
        ZksMessage::VerifierChallenge(challenge.clone()).to_frame(),
        ProtocolError::UnexpectedMessage {
            id: MessageId::VerifierChallenge,
        },
    )
    .await;
    untrusted_challenger(
        Capabilities::CURRENT,
        ZksVersion::V5,
        TwoFaMessage::VerifierChallenge(challenge).to_frame(),
        ProtocolError::UnexpectedTwoFaMessage {
            id: TwoFaMessageId::VerifierChallenge,
        },
    )
    .await;
}

async fn untrusted_challenger(
    caps: Capabilities,
    version: ZksVersion,
    challenge: Frame,
    expected: ProtocolError,
) {
    let net = MemNet::new();
    let key = &keys(1)[0];
    let (en, _sink) = verifier_node(
        &net,
        "en",
        "mn",
        VersionSet::ALL,
        key,
        SigningVerifier::new(key.clone(), |_| Ok(())),
    )
    .await;
    let mut events = en.events();
    let link = net.node("stranger").dial(&"en".into(), caps).await.unwrap();
    let (info, tx, mut rx) = link.split();
    assert_eq!(info.caps.zks, version);
    tx.send(challenge).await.unwrap();
    let cause = next_matching(&mut events, "closed", |e| match e {
        ProtocolEvent::Closed { cause, peer, .. } if peer.to_string() == "stranger" => {
            Some(cause.clone())
        }
        _ => None,
    })
    .await;
    assert!(
        matches!(&cause, CloseCause::Protocol(e) if *e == expected),
        "{cause:?}"
    );
    let mut received: Vec<Frame> = Vec::new();
    let end = loop {
        match within("stranger link", rx.recv()).await {
            Ok(frame) => received.push(frame),
            Err(end) => break end,
        }
    };
    assert_eq!(end, LinkClosed::ByPeer(DisconnectReason::ProtocolBreach));
    assert!(received.is_empty(), "the EN sent {received:?}");
}

/// Answers from a table of signatures made before the clock started, so the measurement
/// excludes verifier work.
struct PresignedVerifier {
    signatures: std::collections::HashMap<u64, Bytes>,
}

#[async_trait]
impl Verifier for PresignedVerifier {
    async fn verify(&self, request: &VerifyBatch) -> VerifyBatchOutcome {
        match self.signatures.get(&request.batch_number) {
            Some(signature) => VerifyBatchOutcome::Approved {
                signature: signature.clone(),
            },
            None => VerifyBatchOutcome::Refused {
                reason: "not presigned".to_owned(),
            },
        }
    }
}

/// Quorum latency, 3 of 5 over memnet (no added latency), real time: 1,000 batches one after
/// the other, verifier work excluded (presigned). The collector's own signature recovery is
/// included. Run with
/// `cargo test -p zks-tests --test it -- --ignored --nocapture quorum_latency`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "measurement; prints numbers"]
async fn quorum_latency_3_of_5() {
    const BATCHES: u64 = 1_000;
    let net = MemNet::new();
    let keys = keys(5);
    let accepted = addresses(&keys);
    let scheme = Secp256k1BatchScheme;
    let batch_n = |n: u64| VerifyBatch {
        batch_number: n,
        ..batch(120)
    };
    // Long handshake timeout: see `an_authorized_verifier_link_outlives_the_handshake_timeout`.
    // Batch results draw from the results budget (1,000/s per link), above this loop's rate.
    let settings = NodeSettings::default().with_timeouts(30 * SECOND, 3_600 * SECOND);
    let mn = main_node_with(&net, "mn", chain(121), &accepted, settings).await;
    let mut events = mn.events();
    let mut sinks = Vec::new();
    let mut ens = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let signatures = (0..BATCHES)
            .map(|n| (n, scheme.sign(key, &batch_n(n))))
            .collect();
        let (en, sink) = verifier_node(
            &net,
            &format!("en{i}"),
            "mn",
            VersionSet::ALL,
            key,
            PresignedVerifier { signatures },
        )
        .await;
        ens.push(en);
        sinks.push(sink);
    }
    authorized(&mut events, 5).await;
    for sink in &sinks {
        within("replay", sink.wait_until(121)).await;
    }

    let mut latencies = Vec::with_capacity(BATCHES as usize);
    for n in 0..BATCHES {
        let start = std::time::Instant::now();
        let config = config(&accepted, 3).with_total_timeout(10 * SECOND);
        let quorum = match collect_quorum(&mn, batch_n(n), config, &scheme).await {
            Ok(quorum) => quorum,
            Err(e) => {
                let closed: Vec<_> = drain(&mut events)
                    .await
                    .into_iter()
                    .filter(|e| matches!(e, ProtocolEvent::Closed { .. }))
                    .collect();
                panic!("batch {n}: {e:?}; closed links {closed:#?}")
            }
        };
        latencies.push(start.elapsed());
        assert_eq!(quorum.signatures.len(), 3);
    }
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    let mean = latencies.iter().sum::<Duration>() / latencies.len() as u32;
    println!(
        "quorum latency 3-of-5 over memnet, {BATCHES} batches: median {:?}, p99 {:?}, mean {:?}, min {:?}, max {:?}",
        at(0.5),
        at(0.99),
        mean,
        latencies[0],
        latencies[latencies.len() - 1]
    );
}
