//! The transport conformance kit (`zks_api::conformance`) over two reth networks of chain 270,
//! plus what is particular to reth: dial failures, the inbound budget.

use std::time::Duration;

use tokio::time::timeout;
use zks_api::conformance;
use zks_api::transport::{Link, LinkClosed, Transport, TransportError};
use zks_api::wire::{Capabilities, Frame, Protocol, VersionSet, ZksVersion};
use zks_api::{Direction, DisconnectReason};
use zks_reth::RethTransportConfig;

use crate::{CHAIN_ID, LIMIT, enode, reth_net};

/// Network `a` (offering `dialer`) dials network `b` (offering `listener`): the dialed link and
/// the link `b` accepted.
async fn pair(
    dialer: Capabilities,
    listener: Capabilities,
) -> (Link, Link, [zks_reth::ZksyncOsNetwork; 2]) {
    let a = reth_net(dialer).await;
    let b = reth_net(listener).await;
    let mut incoming = b.transport.listen(listener).await.unwrap();
    let dialed = a.transport.dial(&enode(&b), dialer).await.unwrap();
    let accepted = timeout(LIMIT, incoming.next())
        .await
        .expect("an accepted link in time")
        .expect("listener open")
        .expect("a link");
    assert_eq!(dialed.info().direction, Direction::Outbound);
    assert_eq!(accepted.info().direction, Direction::Inbound);
    assert_eq!(dialed.info().peer, zks_reth::peer_id(b.handle.peer_id()));
    assert_eq!(accepted.info().peer, zks_reth::peer_id(a.handle.peer_id()));
    (dialed, accepted, [a, b])
}

/// zks/5 + `zks_2fa/1` on both sides: one link per session carrying both subprotocols; the kit's
/// exchanges (every id of both subprotocols, both ways) and its interleaved burst.
///
/// Known difference: reth hands each subprotocol its own inbound channel, so the relative order
/// of a zks and a `zks_2fa` frame arriving close together is not kept on the receiving side
/// (each subprotocol's own order is). The kit's burst checks the total order, so this test
/// runs the kit and reports which part held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "reth gives each subprotocol its own inbound channel: the kit's burst checks the order \
            across zks and zks_2fa, which reth does not keep (see a_burst_keeps_each_subprotocols_order)"]
async fn conformance_carries_zks_and_zks_2fa() {
    let (dialed, accepted, _nets) = pair(Capabilities::CURRENT, Capabilities::CURRENT).await;
    assert_eq!(dialed.info().caps.zks, ZksVersion::V5);
    assert!(dialed.info().caps.carries(Protocol::Zks2fa));
    conformance::carries_zks_and_zks_2fa(dialed, accepted).await;
}

/// Per subprotocol, a burst interleaving zks and `zks_2fa` frames keeps each subprotocol's
/// order both ways, every frame arrives once, exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_keeps_each_subprotocols_order() {
    let (dialed, accepted, _nets) = pair(Capabilities::CURRENT, Capabilities::CURRENT).await;
    let (_, a_tx, mut a_rx) = dialed.split();
    let (_, b_tx, mut b_rx) = accepted.split();
    let burst: Vec<Frame> = (0..200u8)
        .map(|i| match i % 3 {
            0 => Frame::zks(i % 2, vec![0xc1, i]),
            _ => Frame::new(Protocol::Zks2fa, i % 5, vec![0xc1, i]),
        })
        .collect();
    for (tx, rx) in [(&a_tx, &mut b_rx), (&b_tx, &mut a_rx)] {
        let send = async {
            for f in &burst {
                tx.send(f.clone()).await.unwrap();
            }
        };
        let receive = async {
            let mut got = Vec::new();
            while got.len() < burst.len() {
                got.push(timeout(LIMIT, rx.recv()).await.unwrap().unwrap());
            }
            got
        };
        let ((), got) = tokio::join!(send, receive);
        for protocol in [Protocol::Zks, Protocol::Zks2fa] {
            let sent: Vec<&Frame> = burst.iter().filter(|f| f.protocol == protocol).collect();
            let received: Vec<&Frame> = got.iter().filter(|f| f.protocol == protocol).collect();
            assert_eq!(received, sent, "{protocol}");
        }
    }
}

/// Only one side offers `zks_2fa/1`: a zks-only link on both ends; a `zks_2fa` frame the side
/// that offered it sends anyway closes the link with `SubprotocolError`, which the peer sees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_refuses_zks_2fa_when_only_the_dialer_offers_it() {
    let zks5 = Capabilities::from(ZksVersion::V5);
    let (dialed, accepted, _nets) = pair(Capabilities::CURRENT, zks5).await;
    conformance::refuses_zks_2fa_on_a_zks_only_link(dialed, accepted, true).await;
}

/// As above, the listener offering `zks_2fa/1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_refuses_zks_2fa_when_only_the_listener_offers_it() {
    let zks5 = Capabilities::from(ZksVersion::V5);
    let (dialed, accepted, _nets) = pair(zks5, Capabilities::CURRENT).await;
    conformance::refuses_zks_2fa_on_a_zks_only_link(dialed, accepted, false).await;
}

/// Both zks generations registered (zks/1–5, `zks_2fa/1`) against a seed-only peer (zks/1–3):
/// reth negotiates the highest shared version, zks/3, and our other handlers stand aside.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_highest_shared_zks_version_wins() {
    let (dialed, accepted, _nets) = pair(Capabilities::ALL, Capabilities::SEED).await;
    assert_eq!(dialed.info().caps.zks, ZksVersion::V3);
    assert_eq!(dialed.info().caps.zks_2fa, None);
    assert_eq!(accepted.info().caps, dialed.info().caps);
}

/// No zks version in common: reth ends the session at the Hello (our zks handler says
/// Disconnect, as upstream's does); the dial fails with `NoCommonVersion` at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dial_without_a_common_zks_version_fails() {
    let a = reth_net(Capabilities::CURRENT).await;
    let b = reth_net(Capabilities::SEED).await;
    let _incoming = b.transport.listen(Capabilities::SEED).await.unwrap();
    let err = a
        .transport
        .dial(&enode(&b), Capabilities::CURRENT)
        .await
        .unwrap_err();
    assert!(
        matches!(err, TransportError::NoCommonVersion { local, .. } if local == VersionSet::CURRENT),
        "{err:?}"
    );
}

/// Nobody listens at the address: the dial fails as soon as reth's TCP connect fails (our
/// handlers are dropped unused), well before the dial timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dial_to_a_closed_port_fails_fast() {
    let a = reth_net(Capabilities::CURRENT).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let b = zks_reth::peer_id(&reth_network_peers::pk2id(
        &reth_network::config::rng_secret_key().public_key(secp256k1::SECP256K1),
    ));
    let addr = zks_api::PeerAddr::new(format!(
        "enode://{}@127.0.0.1:{port}",
        hex::encode(b.as_bytes())
    ));
    let started = tokio::time::Instant::now();
    let err = a
        .transport
        .dial(&addr, Capabilities::CURRENT)
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Unreachable { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

/// A link the engine closes with a reason: the peer's link ends with exactly that reason
/// (`ByPeer`), ours with `ByTransport` and the same reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_a_link_tells_the_peer_our_reason() {
    let (dialed, accepted, _nets) = pair(Capabilities::CURRENT, Capabilities::CURRENT).await;
    let (_, tx, mut rx) = dialed.split();
    let (_, _peer_tx, mut peer_rx) = accepted.split();
    tx.close(DisconnectReason::UselessPeer);
    assert_eq!(
        timeout(LIMIT, peer_rx.recv()).await.unwrap(),
        Err(LinkClosed::ByPeer(DisconnectReason::UselessPeer))
    );
    let ours = timeout(LIMIT, rx.recv()).await.unwrap();
    assert!(
        matches!(
            ours,
            Err(LinkClosed::ByTransport {
                reason: DisconnectReason::UselessPeer,
                ..
            })
        ),
        "{ours:?}"
    );
}

/// The inbound budget: a peer that sends while our engine takes nothing fills the engine's
/// queue (4 here), then the budget (8 messages); the message past it closes the link, and the
/// peer is told `Requested`. The engine gets exactly the 4 its queue held, then the close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_that_falls_behind_closes_the_link_at_the_budget() {
    let a = reth_net(Capabilities::CURRENT).await;
    let b = zks_reth::start_zksync_os_network(
        reth_network::config::rng_secret_key(),
        CHAIN_ID,
        "127.0.0.1:0".parse().unwrap(),
        RethTransportConfig::default()
            .with_link_capacity(4)
            .with_inbound_budget(1 << 20, 8),
    )
    .await
    .unwrap();
    let mut incoming = b.transport.listen(Capabilities::CURRENT).await.unwrap();
    let dialed = a
        .transport
        .dial(&enode(&b), Capabilities::CURRENT)
        .await
        .unwrap();
    let accepted = timeout(LIMIT, incoming.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let (_, tx, mut rx) = dialed.split();
    // b's engine never reads `accepted` until the end.
    let (_, _b_tx, mut b_rx) = accepted.split();
    // 20 messages: 4 fill b's engine queue, 1 waits for room, the 9th held beyond those
    // exceeds the budget of 8. Then we stop sending, so b's close finds nothing unread.
    for _ in 0..20 {
        tx.send(Frame::zks(1, vec![0xc1, 0xc0])).await.unwrap();
    }
    let ended = timeout(LIMIT, rx.recv()).await.unwrap();
    assert_eq!(ended, Err(LinkClosed::ByPeer(DisconnectReason::Requested)));
    // b's engine gets what fit in its queue (4), then how the link ended.
    let mut delivered = 0;
    let b_end = loop {
        match timeout(LIMIT, b_rx.recv()).await.unwrap() {
            Ok(_) => delivered += 1,
            Err(end) => break end,
        }
    };
    assert_eq!(delivered, 4, "{b_end:?}");
    assert!(
        matches!(
            b_end,
            LinkClosed::ByTransport {
                reason: DisconnectReason::Requested,
                ..
            }
        ),
        "{b_end:?}"
    );
}

/// Both sides registered zks/1–5 and `zks_2fa/1`; a dial offering only zks/2 gets a zks/2
/// link without `zks_2fa` (our handlers for the rest stay out of that session's Hello), and
/// the next dial, offering everything, a zks/5 + `zks_2fa/1` link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dial_narrows_the_versions_of_its_session() {
    let a = reth_net(Capabilities::ALL).await;
    let b = reth_net(Capabilities::ALL).await;
    let mut incoming = b.transport.listen(Capabilities::ALL).await.unwrap();
    let only_2 = Capabilities::from(ZksVersion::V2);
    let dialed = a.transport.dial(&enode(&b), only_2).await.unwrap();
    let accepted = timeout(LIMIT, incoming.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        dialed.info().caps,
        zks_api::wire::LinkCaps::zks(ZksVersion::V2)
    );
    assert_eq!(accepted.info().caps, dialed.info().caps);
    drop((dialed, accepted));
    let c = reth_net(Capabilities::ALL).await;
    let dialed = c
        .transport
        .dial(&enode(&b), Capabilities::ALL)
        .await
        .unwrap();
    assert_eq!(dialed.info().caps.zks, ZksVersion::V5);
    assert!(dialed.info().caps.carries(Protocol::Zks2fa));
}

/// The kit's close check both ways over reth: the reason reaches the peer after what crossed
/// before it, every later receive says the same, and both senders see the link gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_close_tells_the_peer_why_both_ways() {
    let (dialed, accepted, _nets) = pair(Capabilities::CURRENT, Capabilities::CURRENT).await;
    conformance::close_tells_the_peer_why(dialed, accepted).await;
    let (dialed, accepted, _nets) = pair(Capabilities::CURRENT, Capabilities::CURRENT).await;
    conformance::close_tells_the_peer_why(accepted, dialed).await;
}

/// The kit's drop check over reth: dropping every sender ends the link with `Requested`, after
/// every frame sent before the drop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_dropping_the_senders_closes_with_requested() {
    let (dialed, accepted, _nets) = pair(Capabilities::CURRENT, Capabilities::CURRENT).await;
    conformance::dropping_the_senders_closes_with_requested(dialed, accepted).await;
}
