//! A hostile *trusted* main node toward a verifier external node: it floods
//! `VerifyBatch`, asks for batches far beyond the EN's head, repeats request ids and sends
//! huge `commit_data`. The verifier EN must stay bounded in memory (pending requests, by count
//! and by bytes) and CPU (each request id verified at most once per link) and keep replaying:
//! records keep being applied while requests wait, and a link ended for abuse is redialed and
//! resumes at exactly the sink's next block.
//!
//! The main node is scripted by hand over memnet (zks/3, verification in-band); the EN is a real
//! [`Node`] whose [`Verifier`] counts its calls.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use zks_api::engine::ProtocolError;
use zks_api::middleware::Rejection;
use zks_api::middleware::size_limit::MessageTooLarge;
use zks_api::transport::{Incoming, LinkClosed, LinkReceiver, LinkSender, Transport};
use zks_api::wire::limits::MAX_MESSAGE_BYTES;
use zks_api::wire::{
    BlockReplays, Capabilities, Frame, RequestId, VerifierChallenge, VerifyBatch,
    VerifyBatchOutcome, VerifyBatchResult, VersionSet, ZksMessage, ZksVersion,
};
use zks_api::{
    CloseCause, DisconnectReason, EventStream, MemoryReplayStore, Node, NodeSettings, ReplayRecord,
    Verifier,
};
use zks_memnet::MemNet;
use zks_tests::{blocks, next_close, record, within};
use zks_verifier::VerifierKey;

/// Approves every batch with a fixed signature, counting its calls.
#[derive(Clone, Default)]
struct CountingVerifier {
    calls: Arc<AtomicUsize>,
}

#[async_trait]
impl Verifier for CountingVerifier {
    async fn verify(&self, _: &VerifyBatch) -> VerifyBatchOutcome {
        self.calls.fetch_add(1, Ordering::SeqCst);
        VerifyBatchOutcome::Approved {
            signature: Bytes::from_static(&[7; 65]),
        }
    }
}

/// The verifier EN under attack, trusting the scripted main node `mn`.
struct Victim {
    node: Node,
    sink: Arc<MemoryReplayStore>,
    calls: Arc<AtomicUsize>,
    events: EventStream,
}

/// Settings whose stall checks never fire within a test: a stalled-link probe would be a second
/// link for the scripted main node to accept.
fn settings() -> NodeSettings {
    let hour = Duration::from_secs(3_600);
    NodeSettings::default()
        .with_upstream_checks(hour, hour)
        .with_upstream_watchdog(None)
}

async fn victim(net: &MemNet, settings: NodeSettings) -> Victim {
    let sink = Arc::new(MemoryReplayStore::new());
    let verifier = CountingVerifier::default();
    let calls = verifier.calls.clone();
    let key = VerifierKey::from_bytes(&[1; 32]).unwrap();
    let node = Node::builder(net.node("en"))
        .versions(VersionSet::ALL)
        .settings(settings)
        .external_node(sink.clone())
        .trusted_main_node("mn")
        .verifier(key, verifier)
        .rng_seed(7)
        .start()
        .await
        .unwrap();
    let events = node.events();
    Victim {
        node,
        sink,
        calls,
        events,
    }
}

/// One link of the scripted main node, after the verifier handshake.
struct Link {
    tx: LinkSender,
    rx: LinkReceiver,
}

impl Link {
    /// Accepts the EN's next link, reads its role and replay requests, challenges it and
    /// reads its auth; returns the link and the block the EN asked to start at.
    async fn accept(incoming: &mut Incoming) -> (Self, u64) {
        let link = within("EN dial", incoming.next()).await.unwrap().unwrap();
        let (info, tx, rx) = link.split();
        assert_eq!(info.caps.zks, ZksVersion::V3);
        let mut link = Self { tx, rx };
        assert_eq!(link.recv().await, ZksMessage::VerifierRoleRequest);
        let ZksMessage::GetBlockReplays(request) = link.recv().await else {
            panic!("expected GetBlockReplays");
        };
        link.send(ZksMessage::VerifierChallenge(VerifierChallenge {
            nonce: [9; 32],
        }))
        .await;
        assert!(matches!(link.recv().await, ZksMessage::VerifierAuth(_)));
        (link, request.starting_block)
    }

    async fn send(&self, message: ZksMessage) {
        self.tx.send(message.to_frame()).await.unwrap();
    }

    async fn send_frame(&self, frame: Frame) {
        self.tx.send(frame).await.unwrap();
    }

    async fn recv(&mut self) -> ZksMessage {
        let frame = within("a message from the EN", self.rx.recv())
            .await
            .unwrap();
        ZksMessage::decode(ZksVersion::V3, &frame).unwrap()
    }

    /// The next batch result.
    async fn result(&mut self) -> VerifyBatchResult {
        match self.recv().await {
            ZksMessage::VerifyBatchResult(result) => result,
            other => panic!("expected VerifyBatchResult, got {other:?}"),
        }
    }

    /// Blocks `from..to`, 64 records a message (as many as the EN asks for).
    async fn replays(&self, from: u64, to: u64) {
        let mut start = from;
        while start < to {
            let end = to.min(start + 64);
            self.send_frame(replays(start, end)).await;
            start = end;
        }
    }

    /// How the EN ended the link.
    async fn ended(&mut self) -> LinkClosed {
        loop {
            match within("the EN to end the link", self.rx.recv()).await {
                Ok(_) => {}
                Err(end) => return end,
            }
        }
    }
}

/// `BlockReplays` of blocks `from..to` (at most 64).
fn replays(from: u64, to: u64) -> Frame {
    let records = (from..to)
        .map(|b| {
            let mut out = Vec::new();
            record(b).encode(ZksVersion::V3, &mut out);
            Bytes::from(out)
        })
        .collect();
    ZksMessage::BlockReplays(BlockReplays { records }).to_frame()
}

/// Batch `n` of blocks `first..=last`, request id `id`, with `commit` bytes of commit data.
fn batch(id: u64, n: u64, first: u64, last: u64, commit: usize) -> ZksMessage {
    ZksMessage::VerifyBatch(VerifyBatch {
        request_id: RequestId(id),
        batch_number: n,
        first_block_number: first,
        last_block_number: last,
        pubdata_mode: 0,
        commit_data: Bytes::from(vec![0xab; commit]),
        prev_commit_data: Bytes::from_static(b"prev"),
        execution_protocol_version: 31,
    })
}

async fn listen(net: &MemNet) -> Incoming {
    net.node("mn").listen(Capabilities::SEED).await.unwrap()
}

/// Sixteen batches far beyond the EN's head wait (the verifier is never called) while replay
/// goes on; after the sync timeout each is refused "not synced". A seventeenth while sixteen
/// wait ends the link with `TooManyPendingVerifications`, and the EN resumes replay on its
/// next link at exactly its next block.
#[tokio::test(start_paused = true)]
async fn batches_far_beyond_the_head_wait_bounded_and_replay_goes_on() {
    let net = MemNet::new();
    let mut incoming = listen(&net).await;
    let mut en = victim(&net, settings()).await;
    let (mut link, start) = Link::accept(&mut incoming).await;
    assert_eq!(start, 0);
    link.replays(0, 10).await;
    within("blocks 0..10", en.sink.wait_until(10)).await;

    let far = 1_000_000;
    for id in 1..=16 {
        link.send(batch(id, id, far, far + 99, 64)).await;
    }
    // Replay goes on while they wait.
    link.replays(10, 20).await;
    within("blocks 10..20", en.sink.wait_until(20)).await;
    let mut refused = Vec::new();
    for _ in 0..16 {
        let result = link.result().await;
        assert_eq!(
            result.outcome,
            VerifyBatchOutcome::Refused {
                reason: "not synced".to_owned()
            }
        );
        assert_eq!(result.batch_number, result.request_id.0);
        refused.push(result.request_id.0);
    }
    refused.sort_unstable();
    assert_eq!(refused, (1..=16).collect::<Vec<_>>());
    assert_eq!(en.calls.load(Ordering::SeqCst), 0, "never verified");

    // Seventeen at once: the last is one too many.
    for id in 100..=116 {
        link.send(batch(id, id, far, far + 99, 64)).await;
    }
    let cause = next_close(&mut en.events, Some("mn")).await;
    assert!(
        matches!(
            cause,
            CloseCause::Protocol(ProtocolError::TooManyPendingVerifications { max: 16 })
        ),
        "{cause:?}"
    );
    assert_eq!(
        link.ended().await,
        LinkClosed::ByPeer(DisconnectReason::ProtocolBreach)
    );
    let (link, start) = Link::accept(&mut incoming).await;
    assert_eq!(start, 20, "resumes at the sink's next block");
    link.replays(20, 30).await;
    within("blocks 20..30", en.sink.wait_until(30)).await;
    assert_eq!(en.sink.block_numbers(), blocks(0, 30));
    assert_eq!(en.calls.load(Ordering::SeqCst), 0);
    drop(en.node);
}

/// A request id repeated while pending or after its answer is verified and answered once per
/// link; a fresh id is verified again. The link stays up and replay goes on.
#[tokio::test(start_paused = true)]
async fn a_repeated_request_id_is_verified_and_answered_once() {
    let net = MemNet::new();
    let mut incoming = listen(&net).await;
    let en = victim(&net, settings()).await;
    let (mut link, _) = Link::accept(&mut incoming).await;
    link.replays(0, 200).await;
    within("blocks 0..200", en.sink.wait_until(200)).await;

    // Pending: batch 1 ends at block 299, not applied yet.
    for _ in 0..10 {
        link.send(batch(5, 1, 200, 299, 64)).await;
    }
    link.replays(200, 300).await;
    let first = link.result().await;
    assert_eq!((first.request_id, first.batch_number), (RequestId(5), 1));
    // Answered: repeats of id 5, then a fresh id for a synced batch.
    for _ in 0..1000 {
        link.send(batch(5, 1, 200, 299, 64)).await;
    }
    link.send(batch(6, 0, 100, 199, 64)).await;
    let next = link.result().await;
    assert_eq!(
        (next.request_id, next.batch_number),
        (RequestId(6), 0),
        "no second answer to id 5"
    );
    assert_eq!(
        en.calls.load(Ordering::SeqCst),
        2,
        "one verification per id"
    );
    link.replays(300, 310).await;
    within("blocks 300..310", en.sink.wait_until(310)).await;
    assert_eq!(en.sink.block_numbers(), blocks(0, 310));
    assert!(
        en.node
            .sessions()
            .iter()
            .any(|s| s.info.peer.to_string() == "mn"),
        "the link stayed up"
    );
}

/// A flood of VerifyBatch for synced blocks, fresh ids: each is verified once and answered, in
/// bounded flight (never more than the pending limit), and replay queued behind the flood is
/// applied once the flood has been answered.
#[tokio::test(start_paused = true)]
async fn a_verify_batch_flood_is_answered_in_order_and_replay_follows() {
    const FLOOD: u64 = 2_000;
    let net = MemNet::new();
    let mut incoming = listen(&net).await;
    let en = victim(&net, settings()).await;
    let (link, _) = Link::accept(&mut incoming).await;
    link.replays(0, 100).await;
    within("blocks 0..100", en.sink.wait_until(100)).await;
    let Link { tx, mut rx } = link;
    let sender = async {
        for id in 1..=FLOOD {
            tx.send(batch(id, 0, 0, 99, 64).to_frame()).await.unwrap();
        }
        tx.send(replays(100, 164)).await.unwrap();
        assert_eq!(164 - 100, 64, "one message");
    };
    let mut answered = Vec::new();
    let receiver = async {
        while answered.len() < FLOOD as usize {
            let frame = within("a result", rx.recv()).await.unwrap();
            match ZksMessage::decode(ZksVersion::V3, &frame).unwrap() {
                ZksMessage::VerifyBatchResult(r) => answered.push(r.request_id.0),
                other => panic!("{other:?}"),
            }
        }
    };
    futures::join!(sender, receiver);
    answered.sort_unstable();
    assert_eq!(answered, (1..=FLOOD).collect::<Vec<_>>());
    assert_eq!(en.calls.load(Ordering::SeqCst), FLOOD as usize);
    within("blocks 100..164", en.sink.wait_until(164)).await;
    assert_eq!(en.sink.block_numbers(), blocks(0, 164));
}

/// `commit_data` of 16 MiB makes a message above the protocol's cap: refused before decoding
/// (`MessageTooLarge`), the link ends, and replay resumes on the next link. Commit data that
/// fits (12 MiB) is accepted, but pending requests are bounded in bytes too: a third such batch
/// waiting beyond the head ends the link (`TooManyPendingVerificationBytes`).
#[tokio::test(start_paused = true)]
async fn huge_commit_data_is_bounded() {
    let net = MemNet::new();
    let mut incoming = listen(&net).await;
    let mut en = victim(&net, settings()).await;
    let (mut link, _) = Link::accept(&mut incoming).await;
    link.replays(0, 10).await;
    within("blocks 0..10", en.sink.wait_until(10)).await;

    let huge = batch(1, 1, 0, 9, 16 * 1024 * 1024).to_frame();
    let size = huge.len();
    assert!(size > MAX_MESSAGE_BYTES + 1);
    link.send_frame(huge).await;
    let cause = next_close(&mut en.events, Some("mn")).await;
    let expected = MessageTooLarge {
        size,
        max: MAX_MESSAGE_BYTES + 1,
    };
    assert!(
        matches!(&cause, CloseCause::Rejected(Rejection::MessageTooLarge(e)) if *e == expected),
        "{cause:?}"
    );
    assert_eq!(
        link.ended().await,
        LinkClosed::ByPeer(DisconnectReason::ProtocolBreach)
    );
    assert_eq!(en.calls.load(Ordering::SeqCst), 0);

    let (mut link, start) = Link::accept(&mut incoming).await;
    assert_eq!(start, 10);
    link.replays(10, 20).await;
    within("blocks 10..20", en.sink.wait_until(20)).await;
    let big = 12 * 1024 * 1024;
    link.send(batch(2, 2, 1_000, 1_099, big)).await;
    link.send(batch(3, 3, 1_000, 1_099, big)).await;
    link.send(batch(4, 4, 1_000, 1_099, big)).await;
    let cause = next_close(&mut en.events, Some("mn")).await;
    let max_bytes = NodeSettings::default().max_pending_verification_bytes();
    assert_eq!(max_bytes, 32 * 1024 * 1024);
    assert!(
        matches!(
            &cause,
            CloseCause::Protocol(ProtocolError::TooManyPendingVerificationBytes { max_bytes: m })
                if *m == max_bytes
        ),
        "{cause:?}"
    );
    assert_eq!(
        link.ended().await,
        LinkClosed::ByPeer(DisconnectReason::ProtocolBreach)
    );
    let (link, start) = Link::accept(&mut incoming).await;
    assert_eq!(start, 20);
    link.replays(20, 25).await;
    within("blocks 20..25", en.sink.wait_until(25)).await;
    assert_eq!(en.sink.block_numbers(), blocks(0, 25));
    assert_eq!(en.calls.load(Ordering::SeqCst), 0);
}
