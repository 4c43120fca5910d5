//! Loopback tests of the public API: negotiation, refusals, close reasons, backpressure, and
//! hostile peers that speak raw bytes on the zks stream.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::time::Duration;

use common::{DEADLINE, raw_peer};

use bytes::Bytes;
use futures::{AsyncReadExt as _, AsyncWriteExt as _};
use zks_api::transport::{Incoming, Link, LinkClosed, Transport, TransportError};
use zks_api::wire::{Frame, VersionSet, ZksVersion};
use zks_api::{Direction, DisconnectReason, PeerAddr};
use zks_libp2p::libp2p::{self, Multiaddr, PeerId, StreamProtocol};
use zks_libp2p::{Libp2pConfig, Libp2pTransport, key};

fn config() -> zks_libp2p::Libp2pConfigBuilder {
    Libp2pConfig::builder(key::generate_ed25519())
        .listen_addr("/ip4/127.0.0.1/tcp/0".parse().unwrap())
}

fn node() -> Libp2pTransport {
    Libp2pTransport::new(config().build().unwrap()).unwrap()
}

async fn listening(
    transport: &Libp2pTransport,
    versions: impl Into<VersionSet>,
) -> (Incoming, PeerAddr) {
    let incoming = transport.listen(versions.into().into()).await.unwrap();
    let addr = PeerAddr::new(transport.local_multiaddr().unwrap().to_string());
    (incoming, addr)
}

async fn next_link(incoming: &mut Incoming) -> Result<Link, TransportError> {
    tokio::time::timeout(DEADLINE, incoming.next())
        .await
        .expect("an incoming link in time")
        .expect("listener alive")
}

fn frame(id: u8, body: &'static str) -> Frame {
    Frame::zks(id, Bytes::from_static(body.as_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negotiates_the_highest_common_version() {
    let mn = node();
    let (mut incoming, addr) = listening(&mn, VersionSet::SEED).await;
    let en = node();
    let dialed = en
        .dial(&addr, [ZksVersion::V1, ZksVersion::V2].into())
        .await
        .unwrap();
    let accepted = next_link(&mut incoming).await.unwrap();
    assert_eq!(dialed.info().caps.zks, ZksVersion::V2);
    assert_eq!(accepted.info().caps.zks, ZksVersion::V2);
    assert_eq!(dialed.info().peer, mn.local_id());
    assert_eq!(accepted.info().peer, en.local_id());
    assert_eq!(accepted.info().direction, Direction::Inbound);
    assert_eq!(en.peer_id(&addr).unwrap(), mn.local_id());

    // Messages flow both ways, in order.
    let (_, tx, mut rx) = dialed.split();
    let (_, peer_tx, mut peer_rx) = accepted.split();
    tx.send(frame(0, "request")).await.unwrap();
    assert_eq!(peer_rx.recv().await.unwrap(), frame(0, "request"));
    for i in 0..100u8 {
        peer_tx
            .send(Frame::zks(1, Bytes::from(vec![i; 1000])))
            .await
            .unwrap();
    }
    for i in 0..100u8 {
        assert_eq!(rx.recv().await.unwrap().body, Bytes::from(vec![i; 1000]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_without_a_common_version_on_both_sides() {
    let mn = node();
    let (mut incoming, addr) = listening(&mn, ZksVersion::V3).await;
    let en = node();
    let err = en.dial(&addr, ZksVersion::V1.into()).await.unwrap_err();
    assert!(
        matches!(&err, TransportError::NoCommonVersion { peer, local, remote }
            if *peer == mn.local_id() && *local == ZksVersion::V1.into()
                && *remote == ZksVersion::V3.into()),
        "{err:?}"
    );
    let err = next_link(&mut incoming).await.unwrap_err();
    assert!(
        matches!(&err, TransportError::NoCommonVersion { peer, local, remote }
            if *peer == en.local_id() && *local == ZksVersion::V3.into()
                && *remote == ZksVersion::V1.into()),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejects_bad_addresses_and_unreachable_peers() {
    let en = node();
    let bad = PeerAddr::new("/ip4/127.0.0.1/tcp/1");
    assert!(matches!(
        en.dial(&bad, VersionSet::SEED.into()).await,
        Err(TransportError::InvalidAddress { .. })
    ));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nobody = PeerAddr::new(format!(
        "/ip4/127.0.0.1/tcp/{port}/p2p/{}",
        PeerId::random()
    ));
    assert!(matches!(
        en.dial(&nobody, VersionSet::SEED.into()).await,
        Err(TransportError::Unreachable { .. })
    ));
    // Somebody answers, but with another identity.
    let mn = node();
    let (_incoming, addr) = listening(&mn, VersionSet::SEED).await;
    let mut wrong: Multiaddr = addr.as_str().parse().unwrap();
    wrong.pop();
    let wrong = PeerAddr::new(format!("{wrong}/p2p/{}", PeerId::random()));
    assert!(matches!(
        en.dial(&wrong, VersionSet::SEED.into()).await,
        Err(TransportError::Handshake { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_reasons_reach_the_peer() {
    let mn = node();
    let (mut incoming, addr) = listening(&mn, VersionSet::SEED).await;
    let en = node();

    let dialed = en.dial(&addr, VersionSet::SEED.into()).await.unwrap();
    let accepted = next_link(&mut incoming).await.unwrap();
    let (_, tx, mut rx) = dialed.split();
    tx.close(DisconnectReason::UselessPeer);
    let (_, _peer_tx, mut peer_rx) = accepted.split();
    assert_eq!(
        peer_rx.recv().await,
        Err(LinkClosed::ByPeer(DisconnectReason::UselessPeer))
    );
    assert!(matches!(
        rx.recv().await,
        Err(LinkClosed::ByTransport {
            reason: DisconnectReason::UselessPeer,
            ..
        })
    ));

    // Dropping a link tells the peer `Requested`.
    let dialed = en.dial(&addr, VersionSet::SEED.into()).await.unwrap();
    let accepted = next_link(&mut incoming).await.unwrap();
    drop(dialed);
    let (_, _peer_tx, mut peer_rx) = accepted.split();
    assert_eq!(
        peer_rx.recv().await,
        Err(LinkClosed::ByPeer(DisconnectReason::Requested))
    );
}

/// The transport keeps only a raw connection cap (admission to the link cap is the node's):
/// a connection over it is closed before any link exists, and trusted peers bypass it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_cap_closes_excess_connections_but_not_trusted_peers() {
    let trusted_key = key::generate_secp256k1();
    let trusted_id = trusted_key.public().to_peer_id();
    let mn = Libp2pTransport::new(
        config()
            .max_connections(1)
            .trusted_peer(trusted_id)
            .build()
            .unwrap(),
    )
    .unwrap();
    let (mut incoming, addr) = listening(&mn, VersionSet::SEED).await;
    let first = node().dial(&addr, VersionSet::SEED.into()).await.unwrap();
    let _first_accepted = next_link(&mut incoming).await.unwrap();
    let err = node()
        .dial(&addr, VersionSet::SEED.into())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            TransportError::Unreachable { .. } | TransportError::Handshake { .. }
        ),
        "{err:?}"
    );
    let trusted = Libp2pTransport::new(
        Libp2pConfig::builder(trusted_key)
            .listen_addr("/ip4/127.0.0.1/tcp/0".parse().unwrap())
            .build()
            .unwrap(),
    )
    .unwrap();
    let link = trusted.dial(&addr, VersionSet::SEED.into()).await.unwrap();
    assert_eq!(link.info().caps.zks, ZksVersion::V3);
    let trusted_accepted = next_link(&mut incoming).await.unwrap();
    assert_eq!(trusted_accepted.info().peer, trusted.local_id());
    drop(first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_receiver_holds_the_sender_back() {
    let mn = node();
    let (mut incoming, addr) = listening(&mn, VersionSet::SEED).await;
    let dialed = node().dial(&addr, VersionSet::SEED.into()).await.unwrap();
    let accepted = next_link(&mut incoming).await.unwrap();
    let (_, tx, _rx) = dialed.split();
    // Nobody reads `accepted`: the sender must stall after a bounded amount.
    let body = Bytes::from(vec![7u8; 64 * 1024]);
    let mut sent = 0usize;
    while let Ok(sent_one) = tokio::time::timeout(
        Duration::from_millis(500),
        tx.send(Frame::zks(1, body.clone())),
    )
    .await
    {
        sent_one.unwrap();
        sent += 1;
        assert!(
            sent < 1_000,
            "no backpressure: {sent} messages of 64 KiB queued"
        );
    }
    // Two queues of 16, the write high-water mark and yamux windows: a few MiB at most.
    assert!(sent >= 16, "{sent}");
    let (_, _peer_tx, mut peer_rx) = accepted.split();
    for _ in 0..sent {
        assert_eq!(peer_rx.recv().await.unwrap().body.len(), body.len());
    }
}

/// Reads what the transport sends until it closes the stream (bounded).
async fn read_to_end(stream: &mut libp2p::Stream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(DEADLINE, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return out,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the transport kept the stream open"),
        }
        assert!(out.len() < 1024, "unexpected output {out:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_streams_are_dropped_while_other_links_keep_working() {
    let mn = node();
    let (mut incoming, addr) = listening(&mn, VersionSet::SEED).await;
    let good = node().dial(&addr, VersionSet::SEED.into()).await.unwrap();
    let good_accepted = next_link(&mut incoming).await.unwrap();
    let (_, good_tx, mut good_rx) = good.split();
    let (_, good_peer_tx, mut good_peer_rx) = good_accepted.split();

    let ready = [0, 0, 0, 1, 0xfe];
    let breach = [0, 0, 0, 2, 0xff, DisconnectReason::ProtocolBreach.code()];
    let hostile: [(&str, &[u8]); 4] = [
        ("length prefix of 4 GiB", &[0xff, 0xff, 0xff, 0xff]),
        (
            "length prefix of 16 MiB + 2",
            &[0x01, 0x00, 0x00, 0x02, 0x01],
        ),
        ("unknown id", &[0, 0, 0, 3, 0x99, 1, 2]),
        ("zero length", &[0, 0, 0, 0]),
    ];
    for (what, bytes) in hostile {
        let (mut control, peer) = raw_peer(&addr).await;
        let mut stream = control
            .open_stream(peer, StreamProtocol::new("/zks/3"))
            .await
            .unwrap();
        stream.write_all(bytes).await.unwrap();
        stream.flush().await.unwrap();
        let link = next_link(&mut incoming).await.unwrap();
        let (_, _tx, mut rx) = link.split();
        let end = tokio::time::timeout(DEADLINE, rx.recv()).await.unwrap();
        assert!(
            matches!(
                &end,
                Err(LinkClosed::ByTransport {
                    reason: DisconnectReason::ProtocolBreach,
                    ..
                })
            ),
            "{what}: {end:?}"
        );
        let seen = read_to_end(&mut stream).await;
        assert_eq!(seen, [&ready[..], &breach[..]].concat(), "{what}");

        // The good link is unaffected.
        good_tx.send(frame(0, what)).await.unwrap();
        assert_eq!(good_peer_rx.recv().await.unwrap(), frame(0, what));
        good_peer_tx.send(frame(1, what)).await.unwrap();
        assert_eq!(good_rx.recv().await.unwrap(), frame(1, what));
    }

    // A peer that declares a large (legal) message and trickles it gets no big buffer: it just
    // waits; and when it goes away mid-message the link ends as a network error.
    let (mut control, peer) = raw_peer(&addr).await;
    let mut stream = control
        .open_stream(peer, StreamProtocol::new("/zks/3"))
        .await
        .unwrap();
    stream
        .write_all(&[0x01, 0x00, 0x00, 0x00, 0x01, 0xaa])
        .await
        .unwrap();
    stream.flush().await.unwrap();
    let link = next_link(&mut incoming).await.unwrap();
    let (_, _tx, mut rx) = link.split();
    stream.close().await.unwrap();
    let end = tokio::time::timeout(DEADLINE, rx.recv()).await.unwrap();
    assert!(
        matches!(
            &end,
            Err(LinkClosed::ByTransport {
                reason: DisconnectReason::TcpSubsystemError,
                ..
            })
        ),
        "{end:?}"
    );
    good_tx.send(frame(0, "still here")).await.unwrap();
    assert_eq!(good_peer_rx.recv().await.unwrap(), frame(0, "still here"));
}
