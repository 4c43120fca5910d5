//! Memnet behaviour: negotiation, backpressure, latency, and every fault.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;
use zks_api::transport::TrySendError;
use zks_api::transport::{LinkClosed, LinkReceiver, LinkSender, Transport, TransportError};
use zks_api::wire::{Frame, VersionSet, ZksVersion};
use zks_api::{Direction, DisconnectReason};
use zks_memnet::{MemNet, MemnetConfig};

fn frame(n: u8) -> Frame {
    Frame::zks(1, Bytes::from(vec![n]))
}

struct Pair {
    a_tx: LinkSender,
    a_rx: LinkReceiver,
    b_tx: LinkSender,
    b_rx: LinkReceiver,
}

async fn connect(net: &MemNet, a: &str, b: &str) -> Pair {
    let (ta, tb) = (net.node(a), net.node(b));
    let mut incoming = tb.listen(VersionSet::ALL.into()).await.unwrap();
    let a_link = ta.dial(&b.into(), VersionSet::ALL.into()).await.unwrap();
    let b_link = incoming.next().await.unwrap().unwrap();
    assert_eq!(a_link.info().direction, Direction::Outbound);
    assert_eq!(b_link.info().direction, Direction::Inbound);
    assert_eq!(b_link.info().peer.to_string(), a);
    let (_, a_tx, a_rx) = a_link.split();
    let (_, b_tx, b_rx) = b_link.split();
    Pair {
        a_tx,
        a_rx,
        b_tx,
        b_rx,
    }
}

#[tokio::test(start_paused = true)]
async fn negotiates_the_highest_common_version() {
    let net = MemNet::new();
    let mn = net.node("mn");
    let mut incoming = mn.listen(VersionSet::ALL.into()).await.unwrap();
    let en = net.node("en");
    let link = en
        .dial(&"mn".into(), [ZksVersion::V1, ZksVersion::V2].into())
        .await
        .unwrap();
    assert_eq!(link.info().caps.zks, ZksVersion::V2);
    assert_eq!(
        incoming.next().await.unwrap().unwrap().info().caps.zks,
        ZksVersion::V2
    );
}

#[tokio::test(start_paused = true)]
async fn no_common_version_fails_on_both_sides() {
    /// The peer, our versions and theirs, from a `NoCommonVersion` error.
    fn parts(err: TransportError) -> (String, VersionSet, VersionSet) {
        match err {
            TransportError::NoCommonVersion {
                peer,
                local,
                remote,
            } => (peer.to_string(), local, remote),
            other => panic!("{other:?}"),
        }
    }
    let net = MemNet::new();
    let mut incoming = net.node("mn").listen(ZksVersion::V3.into()).await.unwrap();
    let err = net
        .node("en")
        .dial(&"mn".into(), ZksVersion::V1.into())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no common zks version with mn: we support {zks/1}, it supports {zks/3}"
    );
    assert_eq!(
        parts(err),
        (
            "mn".to_owned(),
            ZksVersion::V1.into(),
            ZksVersion::V3.into()
        )
    );
    let err = incoming.next().await.unwrap().unwrap_err();
    assert_eq!(
        parts(err),
        (
            "en".to_owned(),
            ZksVersion::V3.into(),
            ZksVersion::V1.into()
        )
    );
}

#[tokio::test(start_paused = true)]
async fn unknown_or_silent_nodes_are_unreachable() {
    let net = MemNet::new();
    let en = net.node("en");
    net.node("quiet");
    for name in ["nobody", "quiet"] {
        let err = en
            .dial(&name.into(), VersionSet::ALL.into())
            .await
            .unwrap_err();
        assert!(matches!(err, TransportError::Unreachable { .. }), "{err:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn messages_arrive_in_order_both_ways() {
    let net = MemNet::new();
    let mut p = connect(&net, "a", "b").await;
    for i in 0..3 {
        p.a_tx.send(frame(i)).await.unwrap();
        p.b_tx.send(frame(10 + i)).await.unwrap();
    }
    for i in 0..3 {
        assert_eq!(p.b_rx.recv().await.unwrap(), frame(i));
        assert_eq!(p.a_rx.recv().await.unwrap(), frame(10 + i));
    }
}

#[tokio::test(start_paused = true)]
async fn backpressure_is_bounded_end_to_end() {
    let config = MemnetConfig {
        link_capacity: 2,
        ..MemnetConfig::default()
    };
    let net = MemNet::with_config(config);
    let mut p = connect(&net, "a", "b").await;
    // Sender queue (2) + wire window (2) + receiver queue (2) hold 6; the 7th waits.
    let mut sent = 0u8;
    while tokio::time::timeout(Duration::from_secs(1), p.a_tx.send(frame(sent)))
        .await
        .is_ok()
    {
        sent += 1;
        assert!(sent < 100, "no backpressure");
    }
    assert_eq!(sent, 6);
    assert_eq!(p.a_tx.try_send(frame(99)), Err(TrySendError::Full));
    for i in 0..sent {
        assert_eq!(p.b_rx.recv().await.unwrap(), frame(i));
    }
}

#[tokio::test(start_paused = true)]
async fn latency_delays_each_message_without_serialising_them() {
    let net = MemNet::new();
    net.set_latency("a", "b", Duration::from_millis(30), Duration::ZERO);
    let mut p = connect(&net, "a", "b").await;
    let start = Instant::now();
    p.a_tx.send(frame(0)).await.unwrap();
    p.a_tx.send(frame(1)).await.unwrap();
    p.b_rx.recv().await.unwrap();
    p.b_rx.recv().await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(30));
}

#[tokio::test(start_paused = true)]
async fn kill_closes_both_sides_with_a_transport_error() {
    let net = MemNet::new();
    let mut p = connect(&net, "a", "b").await;
    assert_eq!(net.kill("b", "a"), 1);
    let expected = LinkClosed::ByTransport {
        reason: DisconnectReason::TcpSubsystemError,
        detail: "memnet: link killed".into(),
    };
    assert_eq!(p.a_rx.recv().await.unwrap_err(), expected);
    assert_eq!(p.b_rx.recv().await.unwrap_err(), expected);
    p.a_tx.closed().await;
    assert_eq!(net.link_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn close_reaches_the_peer_after_messages_already_sent() {
    let net = MemNet::new();
    let mut p = connect(&net, "a", "b").await;
    p.a_tx.send(frame(7)).await.unwrap();
    tokio::task::yield_now().await;
    p.a_tx.close(DisconnectReason::TooManyPeers);
    assert_eq!(p.b_rx.recv().await.unwrap(), frame(7));
    assert_eq!(
        p.b_rx.recv().await.unwrap_err(),
        LinkClosed::ByPeer(DisconnectReason::TooManyPeers)
    );
    assert!(matches!(
        p.a_rx.recv().await.unwrap_err(),
        LinkClosed::ByTransport {
            reason: DisconnectReason::TooManyPeers,
            ..
        }
    ));
}

#[tokio::test(start_paused = true)]
async fn dropping_a_link_closes_it_for_the_peer() {
    let net = MemNet::new();
    let Pair {
        a_tx,
        a_rx,
        mut b_rx,
        ..
    } = connect(&net, "a", "b").await;
    drop((a_tx, a_rx));
    assert_eq!(
        b_rx.recv().await.unwrap_err(),
        LinkClosed::ByPeer(DisconnectReason::Requested)
    );
}

#[tokio::test(start_paused = true)]
async fn partition_kills_and_refuses_until_healed() {
    let net = MemNet::new();
    let mut p = connect(&net, "a", "b").await;
    net.partition("a", "b");
    assert!(p.b_rx.recv().await.is_err());
    let err = net
        .node("a")
        .dial(&"b".into(), VersionSet::ALL.into())
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Unreachable { .. }), "{err:?}");
    net.heal("a", "b");
    let _incoming = net.node("b").listen(VersionSet::ALL.into()).await.unwrap();
    assert!(
        net.node("a")
            .dial(&"b".into(), VersionSet::ALL.into())
            .await
            .is_ok()
    );
}

#[tokio::test(start_paused = true)]
async fn stall_stops_delivery_without_closing() {
    let net = MemNet::new();
    let mut p = connect(&net, "a", "b").await;
    net.stall("a", "b");
    p.a_tx.send(frame(1)).await.unwrap();
    p.b_tx.send(frame(2)).await.unwrap();
    // The other direction still flows.
    assert_eq!(p.a_rx.recv().await.unwrap(), frame(2));
    assert!(
        tokio::time::timeout(Duration::from_secs(60), p.b_rx.recv())
            .await
            .is_err()
    );
    assert!(!p.a_tx.is_closed());
    net.unstall("a", "b");
    assert_eq!(p.b_rx.recv().await.unwrap(), frame(1));
}

#[tokio::test(start_paused = true)]
async fn jitter_is_deterministic_per_seed() {
    async fn arrival_times(seed: u64) -> Vec<Duration> {
        let net = MemNet::with_config(MemnetConfig {
            seed,
            ..MemnetConfig::default()
        });
        net.set_latency(
            "a",
            "b",
            Duration::from_millis(5),
            Duration::from_millis(20),
        );
        let mut p = connect(&net, "a", "b").await;
        let start = Instant::now();
        let mut times = Vec::new();
        for i in 0..8 {
            p.a_tx.send(frame(i)).await.unwrap();
            p.b_rx.recv().await.unwrap();
            times.push(start.elapsed());
        }
        times
    }
    assert_eq!(arrival_times(1).await, arrival_times(1).await);
    assert_ne!(arrival_times(1).await, arrival_times(2).await);
}

/// The checks every transport must pass for `zks_2fa`, on memnet too: it is where node teams
/// run the whole protocol in CI.
#[tokio::test(start_paused = true)]
async fn zks_2fa_passes_the_transport_conformance_checks() {
    use zks_api::wire::{Capabilities, TwoFaVersion};
    let with = Capabilities {
        zks: VersionSet::only(ZksVersion::V5),
        zks_2fa: Some(TwoFaVersion::V1),
    };
    let without = Capabilities {
        zks_2fa: None,
        ..with
    };
    let net = MemNet::new();
    let (mn, en) = (net.node("mn"), net.node("en"));
    let mut incoming = mn.listen(with).await.unwrap();
    let dialed = en.dial(&"mn".into(), with).await.unwrap();
    let accepted = incoming.next().await.unwrap().unwrap();
    zks_api::conformance::carries_zks_and_zks_2fa(dialed, accepted).await;

    for (listener, dialer) in [(with, without), (without, with)] {
        let net = MemNet::new();
        let (mn, en) = (net.node("mn"), net.node("en"));
        let mut incoming = mn.listen(listener).await.unwrap();
        let dialed = en.dial(&"mn".into(), dialer).await.unwrap();
        let accepted = incoming.next().await.unwrap().unwrap();
        let offered = dialer.zks_2fa.is_some();
        zks_api::conformance::refuses_zks_2fa_on_a_zks_only_link(dialed, accepted, offered).await;
    }
}

/// Every transport conformance check (close, drop, backpressure, both subprotocols) over memnet
/// links; memnet passes oversized messages up to the engine, which checks them itself.
#[tokio::test(start_paused = true)]
async fn passes_every_transport_conformance_check() {
    use zks_api::wire::{Capabilities, TwoFaVersion};
    zks_api::conformance::run_all(
        |two_fa| async move {
            let caps = Capabilities {
                zks: VersionSet::only(ZksVersion::V5),
                zks_2fa: two_fa.then_some(TwoFaVersion::V1),
            };
            let net = MemNet::new();
            let (mn, en) = (net.node("mn"), net.node("en"));
            let mut incoming = mn.listen(caps).await.unwrap();
            let dialed = en.dial(&"mn".into(), caps).await.unwrap();
            let accepted = incoming.next().await.unwrap().unwrap();
            std::mem::forget((net, mn, en, incoming));
            (dialed, accepted)
        },
        false,
        4096,
        Duration::from_secs(5),
    )
    .await;
}
