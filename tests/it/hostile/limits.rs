//! Middleware and limits: the connection cap, rate limits, deadlines, the size cap, and user
//! layers — over memnet with paused time and scripted peers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;
use zks_api::engine::TimeoutKind;
use zks_api::middleware::rate_limit::{MessageClass, RateLimited};
use zks_api::middleware::size_limit::MessageTooLarge;
use zks_api::middleware::{BoxError, InboundMessage, Rejection};
use zks_api::transport::{LinkClosed, Transport};
use zks_api::wire::{
    Frame, GetBlockReplays, RequestId, VerifierAuth, VerifyBatchOutcome, VerifyBatchResult,
    VersionSet, ZksMessage,
};
use zks_api::{
    AuthOutcome, DisconnectReason, MemoryReplayStore, Node, NodeSettings, SignerAddress,
    SignerAuthenticator,
};
use zks_api::{CloseCause, ProtocolEvent};
use zks_memnet::MemNet;
use zks_tests::{chain, external_node, next_close, next_matching, within};

fn request(from: u64) -> Frame {
    ZksMessage::GetBlockReplays(GetBlockReplays {
        starting_block: from,
        record_overrides: vec![],
        max_blocks_per_message: Some(64),
    })
    .to_frame()
}

async fn main_node_with(net: &MemNet, settings: NodeSettings) -> Node {
    Node::builder(net.node("mn"))
        .main_node(chain(5_000))
        .settings(settings)
        .trusted_peer("trusted-en")
        .verifier_authenticator(AcceptEveryone)
        .start()
        .await
        .unwrap()
}

/// Authorizes any signature: the tests here are about limits, not keys.
struct AcceptEveryone;

impl SignerAuthenticator for AcceptEveryone {
    fn authenticate(&self, _nonce: &[u8; 32], _signature: &[u8; 65]) -> AuthOutcome {
        AuthOutcome::Authorized(SignerAddress([7; 20]))
    }
}

/// 100 untrusted peers dial an MN capped at 25: exactly 25 links live, 75 refusals with
/// `TooManyPeers` and 75 events; a trusted EN dialing then is admitted; after 10,000 open/close
/// cycles every slot is free again.
#[tokio::test(start_paused = true)]
async fn connection_cap_refuses_strangers_but_admits_trusted_peers() {
    let net = MemNet::new();
    let mn = main_node_with(&net, NodeSettings::default().with_max_active_links(25)).await;
    let mut events = mn.events();
    let mut links = Vec::new();
    for i in 0..100 {
        let link = net
            .node(&format!("stranger-{i}"))
            .dial(&"mn".into(), VersionSet::SEED.into())
            .await
            .unwrap();
        links.push(link.split());
    }
    let mut refused = 0;
    let mut established = 0;
    while refused + established < 100 {
        match within("admission", events.next()).await.unwrap() {
            ProtocolEvent::MaxActiveConnectionsExceeded { limit, .. } => {
                assert_eq!(limit, 25);
                refused += 1;
            }
            ProtocolEvent::Established { .. } => established += 1,
            _ => {}
        }
    }
    assert_eq!((established, refused), (25, 75));
    assert_eq!(mn.link_count(), 25);
    let mut closed_by_cap = 0;
    for (_, _, rx) in &mut links {
        if let Ok(Err(closed)) = tokio::time::timeout(Duration::from_millis(1), rx.recv()).await {
            assert_eq!(closed, LinkClosed::ByPeer(DisconnectReason::TooManyPeers));
            closed_by_cap += 1;
        }
    }
    assert_eq!(closed_by_cap, 75);

    let sink = Arc::new(MemoryReplayStore::new());
    let _trusted = external_node(&net, "trusted-en", VersionSet::ALL, sink.clone(), "mn").await;
    within("trusted EN replays", sink.wait_until(5_000)).await;
    assert_eq!(mn.link_count(), 26);

    let drained = async |mn: &Node| {
        within("links drain", async {
            while mn.link_count() > 1 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
    };
    drop(links);
    drained(&mn).await;
    assert_eq!(mn.free_link_slots(), 25);
    for i in 0..10_000 {
        let link = net
            .node("churn")
            .dial(&"mn".into(), VersionSet::SEED.into())
            .await
            .unwrap();
        let (_, tx, mut rx) = link.split();
        if i % 2 == 0 {
            tx.send(request(4_999)).await.unwrap();
            within("one block", rx.recv()).await.unwrap();
        }
        drop((tx, rx));
        if i % 20 == 19 {
            drained(&mn).await;
        }
    }
    drained(&mn).await;
    assert_eq!(mn.link_count(), 1, "only the trusted EN is left");
    assert_eq!(mn.free_link_slots(), 25);
}

/// An authorized verifier flooding 10,000 batch results per second is disconnected within
/// the control budget's window; an EN streaming replay from the same MN never notices.
#[tokio::test(start_paused = true)]
async fn a_flooding_peer_is_cut_off_and_others_stream_on() {
    let net = MemNet::new();
    let mn = main_node_with(&net, NodeSettings::default()).await;
    let mut events = mn.events();
    let sink = Arc::new(MemoryReplayStore::new());
    let _en = external_node(&net, "good-en", VersionSet::ALL, sink.clone(), "mn").await;

    let link = net
        .node("flooder")
        .dial(&"mn".into(), VersionSet::SEED.into())
        .await
        .unwrap();
    let (_, tx, mut rx) = link.split();
    tx.send(ZksMessage::VerifierRoleRequest.to_frame())
        .await
        .unwrap();
    within("challenge", rx.recv()).await.unwrap();
    tx.send(ZksMessage::VerifierAuth(VerifierAuth::new([1; 65])).to_frame())
        .await
        .unwrap();
    let result = ZksMessage::VerifyBatchResult(VerifyBatchResult {
        request_id: RequestId(1),
        batch_number: 1,
        outcome: VerifyBatchOutcome::Refused {
            reason: "spam".into(),
        },
    })
    .to_frame();
    let flood_start = Instant::now();
    // 10 messages every millisecond (timers tick in milliseconds): 10,000 per second.
    let flood = async {
        'flood: loop {
            for _ in 0..10 {
                if tx.send(result.clone()).await.is_err() {
                    break 'flood;
                }
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    let cause = next_matching(&mut events, "flooder closed", |e| match e {
        ProtocolEvent::Closed { peer, cause, .. } if peer.to_string() == "flooder" => {
            Some(cause.clone())
        }
        _ => None,
    });
    let (cause, ()) = tokio::join!(cause, flood);
    let CloseCause::Rejected(Rejection::RateLimited(limited)) = cause else {
        panic!("{cause:?}")
    };
    assert_eq!(
        limited,
        RateLimited {
            class: MessageClass::Result,
            budget: "results/s"
        }
    );
    assert!(
        flood_start.elapsed() < Duration::from_secs(1),
        "cut off after {:?}",
        flood_start.elapsed()
    );
    assert_eq!(
        rx.recv().await.unwrap_err(),
        LinkClosed::ByPeer(DisconnectReason::SubprotocolError)
    );
    within("good EN", sink.wait_until(5_000)).await;
    assert_eq!(sink.block_numbers(), zks_tests::blocks(0, 5_000));
}

/// A link that says nothing is closed at the first-message deadline; a verifier handshake that
/// stalls after the challenge is closed at the handshake deadline; a link with no traffic
/// either way is closed after the idle timeout.
#[tokio::test(start_paused = true)]
async fn silent_stalled_and_idle_links_are_closed_on_time() {
    let net = MemNet::new();
    let settings = NodeSettings::default()
        .with_timeouts(Duration::from_secs(5), Duration::from_secs(3))
        .with_idle_timeout(Some(Duration::from_secs(60)));
    let mn = Node::builder(net.node("mn"))
        .main_node(Arc::new(MemoryReplayStore::new()))
        .settings(settings)
        .verifier_authenticator(AcceptEveryone)
        .start()
        .await
        .unwrap();
    let mut events = mn.events();
    let mut closed_after = async |name: &str, start: Instant| {
        let cause = next_matching(&mut events, "closed", |e| match e {
            ProtocolEvent::Closed { peer, cause, .. } if peer.to_string() == name => {
                Some(cause.clone())
            }
            _ => None,
        })
        .await;
        (cause, start.elapsed())
    };

    let start = Instant::now();
    let silent = net
        .node("silent")
        .dial(&"mn".into(), VersionSet::SEED.into())
        .await
        .unwrap();
    let (cause, after) = closed_after("silent", start).await;
    assert!(
        matches!(cause, CloseCause::Timeout(TimeoutKind::FirstMessage)),
        "{cause:?}"
    );
    assert_eq!(after, Duration::from_secs(5));
    let (_, _, mut rx) = silent.split();
    assert_eq!(
        rx.recv().await.unwrap_err(),
        LinkClosed::ByPeer(DisconnectReason::SubprotocolError)
    );

    let staller = net
        .node("staller")
        .dial(&"mn".into(), VersionSet::SEED.into())
        .await
        .unwrap();
    let (_, tx, mut rx) = staller.split();
    tx.send(ZksMessage::VerifierRoleRequest.to_frame())
        .await
        .unwrap();
    within("challenge", rx.recv()).await.unwrap();
    let start = Instant::now();
    let (cause, after) = closed_after("staller", start).await;
    assert!(
        matches!(cause, CloseCause::Timeout(TimeoutKind::Handshake)),
        "{cause:?}"
    );
    assert_eq!(after, Duration::from_secs(3));

    let idle = net
        .node("idle")
        .dial(&"mn".into(), VersionSet::SEED.into())
        .await
        .unwrap();
    let (_, tx, mut rx) = idle.split();
    tx.send(request(0)).await.unwrap(); // an empty chain: nothing will flow
    let start = Instant::now();
    let (cause, after) = closed_after("idle", start).await;
    assert!(
        matches!(cause, CloseCause::Timeout(TimeoutKind::Idle)),
        "{cause:?}"
    );
    assert_eq!(after, Duration::from_secs(60));
    assert_eq!(
        rx.recv().await.unwrap_err(),
        LinkClosed::ByPeer(DisconnectReason::Requested)
    );
}

/// Messages above the size cap are refused before decoding.
#[tokio::test(start_paused = true)]
async fn oversized_messages_are_refused_before_decoding() {
    let net = MemNet::new();
    let mn = main_node_with(&net, NodeSettings::default().with_max_message_bytes(1_000)).await;
    let mut events = mn.events();
    let link = net
        .node("big")
        .dial(&"mn".into(), VersionSet::SEED.into())
        .await
        .unwrap();
    let (_, tx, mut rx) = link.split();
    // Not even valid RLP: the cap must fire before the decoder looks at it.
    tx.send(Frame::zks(0, Bytes::from(vec![0xff; 1_500])))
        .await
        .unwrap();
    let cause = next_close(&mut events, None).await;
    let CloseCause::Rejected(Rejection::MessageTooLarge(e)) = cause else {
        panic!("{cause:?}")
    };
    assert_eq!(
        e,
        MessageTooLarge {
            size: 1_501,
            max: 1_000
        }
    );
    assert_eq!(
        rx.recv().await.unwrap_err(),
        LinkClosed::ByPeer(DisconnectReason::ProtocolBreach)
    );
}

/// A main node's peers send requests, never records: by default it takes at most 128 KiB from
/// them (and a relay on the links it accepts), while an external node takes records as large
/// as the protocol allows.
#[tokio::test(start_paused = true)]
async fn a_main_node_takes_requests_of_at_most_128_kib() {
    let net = MemNet::new();
    let mn = main_node_with(&net, NodeSettings::default()).await;
    let mut events = mn.events();
    let link = net
        .node("big")
        .dial(&"mn".into(), VersionSet::SEED.into())
        .await
        .unwrap();
    let (_, tx, _rx) = link.split();
    tx.send(Frame::zks(0, Bytes::from(vec![0xff; 128 * 1024])))
        .await
        .unwrap();
    let cause = next_close(&mut events, None).await;
    let CloseCause::Rejected(Rejection::MessageTooLarge(e)) = cause else {
        panic!("{cause:?}")
    };
    assert_eq!(
        e,
        MessageTooLarge {
            size: 128 * 1024 + 1,
            max: 128 * 1024
        }
    );

    // An EN applies a 1 MiB record from the same kind of node.
    let source = Arc::new(MemoryReplayStore::new());
    source
        .push(zks_api::RawRecord::new(0, vec![7u8; 1 << 20]))
        .unwrap();
    let _mn2 = Node::builder(net.node("mn2"))
        .main_node(source)
        .start()
        .await
        .unwrap();
    let sink = Arc::new(MemoryReplayStore::new());
    let _en = Node::builder(net.node("en"))
        .external_node(sink.clone())
        .trusted_main_node("mn2")
        .start()
        .await
        .unwrap();
    within("the 1 MiB record", sink.wait_until(1)).await;
    assert_eq!(sink.records()[0].payload.len(), 1 << 20);
}

/// Counts every message that passes it.
#[derive(Clone)]
struct Counting<S> {
    inner: S,
    seen: Arc<AtomicUsize>,
}

impl<S> tower::Service<InboundMessage> for Counting<S>
where
    S: tower::Service<InboundMessage, Response = InboundMessage, Error = BoxError>,
{
    type Response = InboundMessage;
    type Error = BoxError;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, message: InboundMessage) -> Self::Future {
        self.seen.fetch_add(1, Ordering::Relaxed);
        self.inner.call(message)
    }
}

/// A user-supplied layer wraps the handler and sees every message.
#[tokio::test(start_paused = true)]
async fn a_custom_layer_sees_every_message() {
    let net = MemNet::new();
    let mn = Node::builder(net.node("mn"))
        .main_node(chain(1_000))
        .start()
        .await
        .unwrap();
    let mut mn_events = mn.events();
    let seen = Arc::new(AtomicUsize::new(0));
    let sink = Arc::new(MemoryReplayStore::new());
    let counter = Arc::clone(&seen);
    let _en = Node::builder(net.node("en"))
        .external_node(sink.clone())
        .trusted_main_node("mn")
        .layer(tower::layer::layer_fn(move |inner| Counting {
            inner,
            seen: Arc::clone(&counter),
        }))
        .start()
        .await
        .unwrap();
    within("1,000 blocks", sink.wait_until(1_000)).await;
    let mut sent_messages = 0;
    let mut sent_blocks = 0;
    while sent_blocks < 1_000 {
        let (first, last) = next_matching(&mut mn_events, "sent", |e| match e {
            ProtocolEvent::ReplayBlockSent {
                first_block,
                last_block,
                ..
            } => Some((*first_block, *last_block)),
            _ => None,
        })
        .await;
        sent_messages += 1;
        sent_blocks += last - first + 1;
    }
    assert_eq!(seen.load(Ordering::Relaxed), sent_messages);
}
