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
