//! What the libp2p integration tests share: a raw libp2p peer of our own, outside the
//! transport under test.
#![allow(dead_code, reason = "each test binary uses a part of these")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::time::Duration;

use futures::StreamExt as _;
use zks_api::PeerAddr;
use zks_libp2p::libp2p::{self, Multiaddr, PeerId};

/// How long any one step may take.
pub(crate) const DEADLINE: Duration = Duration::from_secs(20);

/// A bare swarm (TCP, noise, yamux) with `libp2p_stream`, for raw peers.
pub(crate) fn raw_swarm() -> libp2p::Swarm<libp2p_stream::Behaviour> {
    libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default(),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| libp2p_stream::Behaviour::new())
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(30)))
        .build()
}

/// A raw libp2p peer: its own swarm with `libp2p_stream`, connected to `target`.
pub(crate) async fn raw_peer(target: &PeerAddr) -> (libp2p_stream::Control, PeerId) {
    let mut swarm = raw_swarm();
    let control = swarm.behaviour().new_control();
    let mut addr: Multiaddr = target.as_str().parse().unwrap();
    let Some(libp2p::multiaddr::Protocol::P2p(peer)) = addr.pop() else {
        panic!("no peer id in {target}")
    };
    swarm
        .dial(addr.with(libp2p::multiaddr::Protocol::P2p(peer)))
        .unwrap();
    let (connected_tx, connected) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut connected_tx = Some(connected_tx);
        while let Some(event) = swarm.next().await {
            if let libp2p::swarm::SwarmEvent::ConnectionEstablished { .. } = event
                && let Some(tx) = connected_tx.take()
            {
                let _ = tx.send(());
            }
        }
    });
    tokio::time::timeout(DEADLINE, connected)
        .await
        .unwrap()
        .unwrap();
    (control, peer)
}
