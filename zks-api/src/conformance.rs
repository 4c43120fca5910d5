//! Checks every [`Transport`](crate::transport::Transport) must pass, over a link it dialed and
//! the link its peer accepted: our transports' tests run them, and so can a team writing its
//! own. Each panics with what went wrong (they are test helpers).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

use std::time::Duration;

use crate::DisconnectReason;
use crate::transport::{Link, LinkClosed, LinkReceiver, LinkSender};
use crate::wire::{Frame, Protocol, TwoFaMessage, VerifierChallenge};

/// How long one frame may take to cross.
const DEADLINE: Duration = Duration::from_secs(20);

async fn recv(rx: &mut LinkReceiver) -> Result<Frame, LinkClosed> {
    tokio::time::timeout(DEADLINE, rx.recv())
        .await
        .expect("a frame in time")
}

async fn exchange(tx: &LinkSender, rx: &mut LinkReceiver, frame: Frame) {
    tx.send(frame.clone()).await.unwrap();
    assert_eq!(recv(rx).await, Ok(frame));
}

fn role_request() -> Frame {
    TwoFaMessage::VerifierRoleRequest.to_frame()
}

fn challenge(byte: u8) -> Frame {
    TwoFaMessage::VerifierChallenge(VerifierChallenge { nonce: [byte; 32] }).to_frame()
}

/// A link that negotiated `zks_2fa` beside zks carries both, interleaved, both ways, each
/// frame with its protocol and id, in order; a burst of both kinds each way keeps its order.
pub async fn carries_zks_and_zks_2fa(dialed: Link, accepted: Link) {
    assert_eq!(dialed.info().caps, accepted.info().caps);
    assert!(
        dialed.info().caps.carries(Protocol::Zks2fa),
        "{}",
        dialed.info()
    );
    let (_, en_tx, mut en_rx) = dialed.split();
    let (_, mn_tx, mut mn_rx) = accepted.split();
    // A replay request, the verifier handshake's first two messages, an empty BlockReplays.
    exchange(
        &en_tx,
        &mut mn_rx,
        Frame::zks(0, vec![0xc3, 0x01, 0x80, 0x80]),
    )
    .await;
    exchange(&en_tx, &mut mn_rx, role_request()).await;
    exchange(&mn_tx, &mut en_rx, challenge(0x11)).await;
    exchange(&mn_tx, &mut en_rx, Frame::zks(1, vec![0xc1, 0xc0])).await;
    for id in 0..5u8 {
        let frame = Frame::new(Protocol::Zks2fa, id, vec![0xc1, id]);
        exchange(&en_tx, &mut mn_rx, frame.clone()).await;
        exchange(&mn_tx, &mut en_rx, frame).await;
    }
    for id in 0..2u8 {
        exchange(&en_tx, &mut mn_rx, Frame::zks(id, vec![0xc1, id])).await;
        exchange(&mn_tx, &mut en_rx, Frame::zks(id, vec![0xc1, id])).await;
    }
    let burst: Vec<Frame> = (0..40u8)
        .map(|i| match i % 3 {
            0 => Frame::zks(i % 2, vec![0xc1, i]),
            _ => Frame::new(Protocol::Zks2fa, i % 5, vec![0xc1, i]),
        })
        .collect();
    // Sent while the other side reads: a transport may buffer only a few frames.
    for (tx, rx) in [(&en_tx, &mut mn_rx), (&mn_tx, &mut en_rx)] {
        let send = async {
            for f in &burst {
                tx.send(f.clone()).await.unwrap();
            }
        };
        let receive = async {
            for f in &burst {
                assert_eq!(recv(rx).await.as_ref(), Ok(f));
            }
        };
        tokio::join!(send, receive);
    }
}

/// A link where only one side offered `zks_2fa` carries zks alone, on both ends; a `zks_2fa`
/// frame the side that offered it sends anyway never reaches the wire: the link closes with
/// `SubprotocolError`, which is the first thing the peer sees.
pub async fn refuses_zks_2fa_on_a_zks_only_link(
    dialed: Link,
    accepted: Link,
    dialer_offered_zks_2fa: bool,
) {
    for info in [dialed.info(), accepted.info()] {
        assert!(!info.caps.carries(Protocol::Zks2fa), "{info}");
        assert_eq!(info.caps.zks_2fa, None, "{info}");
    }
    let (_, tx, mut rx) = dialed.split();
    let (_, peer_tx, mut peer_rx) = accepted.split();
    exchange(&tx, &mut peer_rx, Frame::zks(0, vec![0xc0])).await;
    exchange(&peer_tx, &mut rx, Frame::zks(1, vec![0xc1, 0xc0])).await;

    let (sender_tx, sender_rx, receiver_rx) = if dialer_offered_zks_2fa {
        (&tx, &mut rx, &mut peer_rx)
    } else {
        (&peer_tx, &mut peer_rx, &mut rx)
    };
    sender_tx.send(role_request()).await.unwrap();
    assert_eq!(
        recv(receiver_rx).await,
        Err(LinkClosed::ByPeer(DisconnectReason::SubprotocolError))
    );
    let ended = recv(sender_rx).await;
    assert!(
        matches!(
            ended,
            Err(LinkClosed::ByTransport {
                reason: DisconnectReason::SubprotocolError,
                ..
            })
        ),
        "{ended:?}"
    );
}

/// [`LinkSender::close`] tells the peer why: the peer's receiver ends with
/// [`LinkClosed::ByPeer`] and the reason, after any frame that crossed before the close (a
/// close may drop what is still queued, never reorder it); both senders then report the link
/// gone.
pub async fn close_tells_the_peer_why(dialed: Link, accepted: Link) {
    let (_, tx, mut rx) = dialed.split();
    let (_, peer_tx, mut peer_rx) = accepted.split();
    exchange(&tx, &mut peer_rx, Frame::zks(0, vec![0xc0])).await;
    tx.close(DisconnectReason::ClientQuitting);
    assert_eq!(
        recv(&mut peer_rx).await,
        Err(LinkClosed::ByPeer(DisconnectReason::ClientQuitting))
    );
    // Every later call says the same.
    assert_eq!(
        recv(&mut peer_rx).await,
        Err(LinkClosed::ByPeer(DisconnectReason::ClientQuitting))
    );
    let ours = recv(&mut rx).await;
    assert!(
        ours.is_err(),
        "the closing side's receiver ends too: {ours:?}"
    );
    for sender in [&tx, &peer_tx] {
        tokio::time::timeout(DEADLINE, sender.closed())
            .await
            .expect("the transport lets go of a closed link");
        assert!(sender.is_closed());
    }
}

/// Dropping every [`LinkSender`] of a link closes it: the peer reads
/// [`DisconnectReason::Requested`] after every frame sent before the drop, in order.
pub async fn dropping_the_senders_closes_with_requested(dialed: Link, accepted: Link) {
    let (_, tx, _rx) = dialed.split();
    let (_, _peer_tx, mut peer_rx) = accepted.split();
    let sent: Vec<Frame> = (0..8u8).map(|i| Frame::zks(1, vec![0xc1, i])).collect();
    for frame in &sent {
        tx.send(frame.clone()).await.unwrap();
    }
    drop(tx);
    for frame in &sent {
        assert_eq!(recv(&mut peer_rx).await.as_ref(), Ok(frame));
    }
    assert_eq!(
        recv(&mut peer_rx).await,
        Err(LinkClosed::ByPeer(DisconnectReason::Requested))
    );
}

/// Backpressure end to end: while the peer reads nothing, a sender of 16 KiB frames is held
/// back before `max_in_flight` frames (queues plus the transport's own buffers); once the peer
/// reads, every frame arrives, in order, and the sender finishes. The bodies are
/// incompressible, so a compressing transport moves all of their bytes into its buffers (zeros
/// left 780 B a frame on the wire, and a transport fast enough pushed them all into socket
/// buffers within the stall).
///
/// `max_in_flight` is the transport's bound (for a socket transport, its send and receive
/// buffers count too: 4,096 frames is 64 MiB). The check waits `stall` for the sender to stay
/// held (with paused time this costs nothing).
pub async fn backpressure_holds_a_sender_back(
    dialed: Link,
    accepted: Link,
    max_in_flight: usize,
    stall: Duration,
) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const BODY: usize = 16 * 1024;
    let (_, tx, _rx) = dialed.split();
    let (_, _peer_tx, mut peer_rx) = accepted.split();
    let total = max_in_flight + 1;
    let frame = |i: usize| {
        // xorshift64 from the frame's index: incompressible, and each frame its own.
        let mut state = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let body: Vec<u8> = (0..BODY / 8)
            .flat_map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state.to_le_bytes()
            })
            .collect();
        Frame::zks(1, body)
    };
    let sent = Arc::new(AtomicUsize::new(0));
    let sender = {
        let sent = Arc::clone(&sent);
        tokio::spawn(async move {
            for i in 0..total {
                tx.send(frame(i)).await.unwrap();
                sent.store(i + 1, Ordering::SeqCst);
            }
            tx
        })
    };
    let mut sender = std::pin::pin!(sender);
    assert!(
        tokio::time::timeout(stall, &mut sender).await.is_err(),
        "{total} frames of {BODY} B went out while the peer read nothing: no backpressure"
    );
    let held_at = sent.load(Ordering::SeqCst);
    assert!(held_at < total, "held at {held_at}");
    for i in 0..total {
        let got = recv(&mut peer_rx).await.unwrap();
        assert_eq!(got, frame(i), "frame {i} (sender was held after {held_at})");
    }
    tokio::time::timeout(DEADLINE, sender)
        .await
        .expect("the sender finishes once the peer reads")
        .unwrap();
}

/// The node's inbound size cap ([`LinkReceiver::limit_message_size`]): a message of exactly
/// `cap` bytes (id plus body) passes. A larger one is, on a transport that checks the cap
/// (`enforced`: devp2p, libp2p), refused before it is buffered — the link ends with
/// [`DisconnectReason::ProtocolBreach`] on both sides; on one that does not (memnet), passed up
/// to the node, whose own size check refuses it.
pub async fn inbound_size_cap(dialed: Link, accepted: Link, enforced: bool) {
    const CAP: usize = 1024;
    let (_, tx, mut rx) = dialed.split();
    let (_, _peer_tx, mut peer_rx) = accepted.split();
    peer_rx.limit_message_size(CAP);
    let at_cap = Frame::zks(0, vec![0xab; CAP - 1]);
    assert_eq!(at_cap.len(), CAP);
    exchange(&tx, &mut peer_rx, at_cap).await;
    let over = Frame::zks(0, vec![0xcd; CAP]);
    tx.send(over.clone()).await.unwrap();
    let got = recv(&mut peer_rx).await;
    if enforced {
        assert!(
            matches!(
                got,
                Err(LinkClosed::ByTransport {
                    reason: DisconnectReason::ProtocolBreach,
                    ..
                })
            ),
            "{got:?}"
        );
        assert_eq!(
            recv(&mut rx).await,
            Err(LinkClosed::ByPeer(DisconnectReason::ProtocolBreach))
        );
    } else {
        assert_eq!(got, Ok(over));
    }
}

/// Every check above that applies to any link pair, each on a fresh pair from `pair`, which
/// returns (dialed, accepted) with zks only or with `zks_2fa` beside it.
///
/// `transport_checks_size_cap` and `max_in_flight`: see [`inbound_size_cap`] and
/// [`backpressure_holds_a_sender_back`].
pub async fn run_all<F, Fut>(
    mut pair: F,
    transport_checks_size_cap: bool,
    max_in_flight: usize,
    stall: Duration,
) where
    F: FnMut(bool) -> Fut,
    Fut: Future<Output = (Link, Link)>,
{
    let (dialed, accepted) = pair(true).await;
    carries_zks_and_zks_2fa(dialed, accepted).await;
    let (dialed, accepted) = pair(false).await;
    close_tells_the_peer_why(dialed, accepted).await;
    let (dialed, accepted) = pair(true).await;
    close_tells_the_peer_why(accepted, dialed).await;
    let (dialed, accepted) = pair(false).await;
    dropping_the_senders_closes_with_requested(dialed, accepted).await;
    let (dialed, accepted) = pair(false).await;
    backpressure_holds_a_sender_back(dialed, accepted, max_in_flight, stall).await;
    let (dialed, accepted) = pair(false).await;
    inbound_size_cap(dialed, accepted, transport_checks_size_cap).await;
}
