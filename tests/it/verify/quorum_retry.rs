//! `collect_quorum` on a main node over memnet, with and without a total timeout. Upstream's
//! main node has none: it retries a batch under a fresh request id until it has the quorum, so
//! a verifier may see the same batch many times. A scripted `zks/5` + `zks_2fa/1` verifier
//! records every `VerifyBatch` it is sent, with the (virtual) time it came.

use std::time::Duration;

use tokio::time::Instant;
use zks_api::transport::{LinkReceiver, LinkSender, Transport};
use zks_api::wire::{
    Capabilities, Frame, GetBlockReplays, Protocol, RequestId, TwoFaMessage, TwoFaVersion,
    VerifierAuth, VerifyBatch, VerifyBatchOutcome, VerifyBatchResult, VersionSet, ZksMessage,
    ZksVersion,
};
use zks_api::{Node, ProtocolEvent};
use zks_memnet::MemNet;
use zks_tests::{chain, next_matching, within};
use zks_verifier::{
    AcceptedSigners, BatchSignatureScheme, QuorumConfig, QuorumError, RequestIds,
    Secp256k1BatchScheme, VerifierKey, collect_quorum,
};

const SECOND: Duration = Duration::from_secs(1);

/// What upstream nodes negotiate: zks/5 with zks_2fa/1 beside it.
const UPSTREAM: Capabilities = Capabilities {
    zks: VersionSet::only(ZksVersion::V5),
    zks_2fa: Some(TwoFaVersion::V1),
};

/// The batch of blocks 100..=120.
fn batch() -> VerifyBatch {
    VerifyBatch {
        request_id: RequestId(0),
        batch_number: 7,
        first_block_number: 100,
        last_block_number: 120,
        pubdata_mode: 0,
        commit_data: bytes::Bytes::from_static(b"commit"),
        prev_commit_data: bytes::Bytes::from_static(b"prev"),
        execution_protocol_version: 31,
    }
}

/// Request timeout 10 s, retry delay 1 s (an attempt every 11 s); ids 1, 2, 3, …
fn config(key: &VerifierKey) -> QuorumConfig {
    QuorumConfig::new([key.address()], 1)
        .with_request_timeout(10 * SECOND)
        .with_retry_delay(SECOND)
        .with_request_ids(RequestIds::starting_at(1))
}

/// An upstream-style verifier EN, scripted by hand.
struct Verifier {
    tx: LinkSender,
    rx: LinkReceiver,
}

impl Verifier {
    /// Dials `mn`, authenticates with `key` on `zks_2fa` and asks for replay from block 121
    /// (the main node's next block: eligible for the batch ending at 120 at once).
    async fn authenticated(net: &MemNet, mn: &str, key: &VerifierKey) -> Self {
        let link = net
            .node("verifier")
            .dial(&mn.into(), UPSTREAM)
            .await
            .unwrap();
        assert_eq!(link.info().caps.zks_2fa, Some(TwoFaVersion::V1));
        let (_, tx, rx) = link.split();
        let mut v = Self { tx, rx };
        v.send(TwoFaMessage::VerifierRoleRequest.to_frame()).await;
        let nonce = match v.next_2fa().await {
            TwoFaMessage::VerifierChallenge(challenge) => challenge.nonce,
            other => panic!("expected a challenge, got {other:?}"),
        };
        let auth = VerifierAuth::new(key.sign_auth(&nonce));
        v.send(TwoFaMessage::VerifierAuth(auth).to_frame()).await;
        let request = GetBlockReplays {
            starting_block: 121,
            record_overrides: vec![],
            max_blocks_per_message: Some(1),
        };
        v.send(ZksMessage::GetBlockReplays(request).to_frame())
            .await;
        v
    }

    async fn send(&self, frame: Frame) {
        self.tx.send(frame).await.unwrap();
    }

    /// The next message; only `zks_2fa` ones come (the chain is idle at block 121).
    async fn next_2fa(&mut self) -> TwoFaMessage {
        let frame = self.rx.recv().await.unwrap();
        assert_eq!(frame.protocol, Protocol::Zks2fa, "{frame:?}");
        TwoFaMessage::decode(TwoFaVersion::V1, &frame).unwrap()
    }

    async fn next_batch(&mut self) -> VerifyBatch {
        match self.next_2fa().await {
            TwoFaMessage::VerifyBatch(request) => request,
            other => panic!("expected VerifyBatch, got {other:?}"),
        }
    }
}

/// A main node on memnet accepting `key` as its one verifier, holding blocks 0..121, with
/// that verifier authorized.
async fn setup(net: &MemNet, key: &VerifierKey) -> (Node, Verifier) {
    let mn = Node::builder(net.node("mn"))
        .main_node(chain(121))
        .verifier_authenticator([key.address()].into_iter().collect::<AcceptedSigners>())
        .start()
        .await
        .unwrap();
    let mut events = mn.events();
    let verifier = Verifier::authenticated(net, "mn", key).await;
    let signer = next_matching(&mut events, "verifier authorized", |e| match e {
        ProtocolEvent::VerifierAuthorized { signer, .. } => Some(*signer),
        _ => None,
    })
    .await;
    assert_eq!(signer, key.address());
    (mn, verifier)
}

/// Without a total timeout the main node keeps asking: 40 attempts over 429 s (longer than
/// upstream's old 300 s limit), one every 11 s, each under the next fresh request id, and the
/// signature that finally comes for the 40th completes the quorum.
#[tokio::test(start_paused = true)]
async fn without_a_total_timeout_the_batch_is_sent_again_until_it_is_signed() {
    let net = MemNet::new();
    let key = VerifierKey::from_bytes(&[1; 32]).unwrap();
    let (mn, mut verifier) = setup(&net, &key).await;
    let scheme = Secp256k1BatchScheme;
    let start = Instant::now();
    let collecting = collect_quorum(&mn, batch(), config(&key).without_total_timeout(), &scheme);
    let script = async {
        let mut seen = Vec::new();
        loop {
            let request = verifier.next_batch().await;
            seen.push((request.request_id, start.elapsed()));
            assert_eq!(
                request,
                VerifyBatch {
                    request_id: request.request_id,
                    ..batch()
                }
            );
            if seen.len() == 40 {
                let result = VerifyBatchResult {
                    request_id: request.request_id,
                    batch_number: request.batch_number,
                    outcome: VerifyBatchOutcome::Approved {
                        signature: scheme.sign(&key, &request),
                    },
                };
                verifier
                    .send(TwoFaMessage::VerifyBatchResult(result).to_frame())
                    .await;
                return seen;
            }
        }
    };
    let (quorum, seen) = within("the quorum", async { tokio::join!(collecting, script) }).await;
    let quorum = quorum.unwrap();
    let expected: Vec<_> = (1..=40u64)
        .map(|k| (RequestId(k), Duration::from_secs((k - 1) * 11)))
        .collect();
    assert_eq!(seen, expected);
    assert_eq!(quorum.attempts, 40);
    assert_eq!(quorum.batch.request_id, RequestId(40));
    assert_eq!(quorum.signatures.len(), 1);
    assert_eq!(
        scheme.recover(&quorum.batch, &quorum.signatures[&key.address()]),
        Ok(key.address())
    );
    assert_eq!(start.elapsed(), 429 * SECOND);
}

/// With a total timeout the old behaviour holds: a verifier that never answers sees attempts
/// 1..=28 (at 0, 11, …, 297 s) and the collection fails at exactly 300 s.
#[tokio::test(start_paused = true)]
async fn with_a_total_timeout_the_collection_still_fails_when_it_passes() {
    let net = MemNet::new();
    let key = VerifierKey::from_bytes(&[2; 32]).unwrap();
    let (mn, mut verifier) = setup(&net, &key).await;
    let start = Instant::now();
    let config = config(&key).with_total_timeout(300 * SECOND);
    let mut seen = Vec::new();
    let result = {
        let collecting = collect_quorum(&mn, batch(), config, &Secp256k1BatchScheme);
        let script = async {
            loop {
                let request = verifier.next_batch().await;
                seen.push((request.request_id, start.elapsed()));
            }
        };
        within("the total timeout", async {
            tokio::select! {
                result = collecting => result,
                () = script => unreachable!("the script never ends"),
            }
        })
        .await
    };
    assert!(
        matches!(
            result,
            Err(QuorumError::NotEnoughSigners {
                got: 0,
                needed: 1,
                ..
            })
        ),
        "{result:?}"
    );
    assert_eq!(start.elapsed(), 300 * SECOND);
    let expected: Vec<_> = (1..=28u64)
        .map(|k| (RequestId(k), Duration::from_secs((k - 1) * 11)))
        .collect();
    assert_eq!(seen, expected);
}

/// A verifier that refuses (the same reason on every attempt), then approves with a signature
/// of another scheme, then with the right one: the operator sees each answer once, at WARN,
/// with the verifier's reason and what was wrong with the approval — not once per retry, and
/// not a silence until the quorum.
#[tokio::test(start_paused = true)]
async fn every_answer_that_is_not_an_approval_is_logged_once_with_its_reason() {
    let (logs, _logging) = zks_tests::logs::capture();
    let net = MemNet::new();
    let key = VerifierKey::from_bytes(&[3; 32]).unwrap();
    let (mn, mut verifier) = setup(&net, &key).await;
    let mut events = mn.events();
    let scheme = Secp256k1BatchScheme;
    let collecting = collect_quorum(&mn, batch(), config(&key).without_total_timeout(), &scheme);
    let script = async {
        let eip712 = zks_verifier::Eip712CommitBatchesScheme::new(1, [0x11; 20], [0x22; 20]);
        for attempt in 1..=6u64 {
            let request = verifier.next_batch().await;
            let outcome = match attempt {
                1..=4 => VerifyBatchOutcome::Refused {
                    reason: "Batch data mismatch".to_owned(),
                },
                5 => VerifyBatchOutcome::Approved {
                    // A made-up commit decodes under neither scheme's expectations: sign the
                    // digest of a decodable batch under EIP-712 instead.
                    signature: eip712_signature(&eip712, &key, &request),
                },
                _ => VerifyBatchOutcome::Approved {
                    signature: scheme.sign(&key, &request),
                },
            };
            let result = VerifyBatchResult {
                request_id: request.request_id,
                batch_number: request.batch_number,
                outcome,
            };
            verifier
                .send(TwoFaMessage::VerifyBatchResult(result).to_frame())
                .await;
        }
    };
    let (quorum, ()) = within("the quorum", async { tokio::join!(collecting, script) }).await;
    assert_eq!(quorum.unwrap().attempts, 6);
    // Each refusal is an event too, with the verifier's reason.
    for attempt in 1..=4u64 {
        let (signer, request_id, reason) = next_matching(&mut events, "refusal", |e| match e {
            ProtocolEvent::BatchRefused {
                signer,
                request_id,
                batch_number: 7,
                reason,
                ..
            } => Some((*signer, *request_id, reason.clone())),
            _ => None,
        })
        .await;
        assert_eq!(
            (signer, request_id, reason.as_str()),
            (key.address(), RequestId(attempt), "Batch data mismatch")
        );
    }
    let warnings = logs.lines_at("WARN");
    assert_eq!(warnings.len(), 2, "{warnings:#?}");
    assert!(
        warnings[0].contains("a verifier did not approve the batch")
            && warnings[0].contains(&format!("signer={}", key.address()))
            && warnings[0].contains("answer=refused: Batch data mismatch"),
        "{}",
        warnings[0]
    );
    assert!(
        warnings[1].contains("answer=approval not counted: the signature recovers to 0x")
            && warnings[1].contains("under another signature scheme or EIP-712 domain"),
        "{}",
        warnings[1]
    );
}

/// An approval of `request` under EIP-712 (over a decodable stand-in of its commit data): a
/// signature by the right key over the wrong digest for our scheme.
fn eip712_signature(
    scheme: &zks_verifier::Eip712CommitBatchesScheme,
    key: &VerifierKey,
    request: &VerifyBatch,
) -> bytes::Bytes {
    use alloy_sol_types::SolValue as _;
    let decodable = VerifyBatch {
        commit_data: zks_verifier::commit_abi::CommitBatchInfoV31::default()
            .abi_encode()
            .into(),
        prev_commit_data: zks_verifier::commit_abi::StoredBatchInfo::default()
            .abi_encode()
            .into(),
        ..request.clone()
    };
    scheme.sign(key, &decodable).unwrap()
}

/// A main node built without a verifier authenticator can never have a verifier answer:
/// collecting fails at once, saying so, instead of waiting out every timeout.
#[tokio::test(start_paused = true)]
async fn collecting_without_an_authenticator_fails_at_once_and_says_why() {
    let net = MemNet::new();
    let key = VerifierKey::from_bytes(&[4; 32]).unwrap();
    let mn = Node::builder(net.node("mn"))
        .main_node(chain(121))
        .start()
        .await
        .unwrap();
    let start = Instant::now();
    let error = collect_quorum(
        &mn,
        batch(),
        config(&key).without_total_timeout(),
        &Secp256k1BatchScheme,
    )
    .await
    .unwrap_err();
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert!(
        matches!(
            error,
            QuorumError::Dispatch(zks_api::Error::NoVerifierAuthenticator)
        ),
        "{error:?}"
    );
    let source = std::error::Error::source(&error).unwrap().to_string();
    assert_eq!(
        source,
        "this main node has no verifier authenticator (NodeBuilder::verifier_authenticator): \
         no verifier can be authorized, so no batch can be answered"
    );
}
