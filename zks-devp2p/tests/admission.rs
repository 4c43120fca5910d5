//! Inbound admission under a flood of idle sockets: raw TCP clients bound to loopback source
//! addresses (all of 127.0.0.0/8 is loopback on Linux) against one listener.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;
use zks_api::transport::{Incoming, LinkClosed, Transport, TransportError};
use zks_api::wire::VersionSet;
use zks_api::{DisconnectReason, PeerAddr};
use zks_devp2p::{Devp2pConfig, Devp2pConfigBuilder, Devp2pTransport, NodeKey};

/// A safety net so a broken test fails instead of hanging; never used to wait for events.
const LIMIT: Duration = Duration::from_secs(20);

fn transport_with(
    tweak: impl FnOnce(Devp2pConfigBuilder) -> Devp2pConfigBuilder,
) -> Devp2pTransport {
    let builder = Devp2pConfig::builder(NodeKey::generate())
        .listen_addr("127.0.0.1:0".parse().unwrap())
        .client_id("zks-devp2p-admission-test");
    Devp2pTransport::new(tweak(builder).build().unwrap())
}

async fn listening(
    tweak: impl FnOnce(Devp2pConfigBuilder) -> Devp2pConfigBuilder,
) -> (Devp2pTransport, Incoming, SocketAddr) {
    let t = transport_with(tweak);
    let incoming = t.listen(VersionSet::ALL.into()).await.unwrap();
    let addr = t.local_addr().unwrap();
    (t, incoming, addr)
}

/// `127.0.0.<last>`.
fn loopback(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// An idle TCP connection to `to` from source address `from` (any port): it never sends a byte.
async fn idle_from(from: IpAddr, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    socket.connect(to).await.unwrap()
}

/// Waits (bounded by [`LIMIT`]) for the listener to close `tcp`: the read sees EOF or a reset.
async fn closed_by_listener(tcp: &mut TcpStream) {
    let mut buf = [0u8; 64];
    let read = timeout(LIMIT, tcp.read(&mut buf))
        .await
        .expect("the listener did not close the socket");
    match read {
        Ok(0) | Err(_) => {}
        Ok(n) => panic!("an idle socket got {n} bytes from the listener"),
    }
}

/// Whether the listener still holds `tcp` open: nothing to read, no EOF.
fn still_open(tcp: &TcpStream) -> bool {
    let mut buf = [0u8; 64];
    matches!(tcp.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// 256 idle sockets (the default connection limit, twice the default pending budget) from
/// 127.0.0.2..=127.0.0.33, eight per address (the default per-address cap): an honest node
/// dialing from 127.0.0.1 afterwards still gets its link on both sides.
#[tokio::test]
async fn honest_dial_gets_a_link_while_idle_sockets_fill_the_pending_set() {
    let (server, mut incoming, addr) = listening(|b| b).await;
    let mut idle = Vec::new();
    for last in 2..=33 {
        for _ in 0..8 {
            idle.push(idle_from(loopback(last), addr).await);
        }
    }
    assert_eq!(idle.len(), 256);
    let client = transport_with(|b| b);
    let enode = PeerAddr::new(server.local_enode().unwrap().to_string());
    let dialed = timeout(LIMIT, client.dial(&enode, VersionSet::ALL.into()))
        .await
        .expect("dial timed out")
        .expect("the honest dial is admitted despite the idle sockets");
    assert_eq!(dialed.info().peer, server.local_id());
    let accepted = timeout(LIMIT, incoming.next())
        .await
        .expect("incoming timed out")
        .expect("listener ended")
        .expect("the listener hands over the honest link");
    assert_eq!(accepted.info().peer, client.local_id());
    drop(idle);
}

/// Long enough that no socket in these tests is closed by a handshake deadline.
const NO_TIMEOUT: Duration = Duration::from_secs(600);

/// The 9th idle socket from one address is closed at once; the first eight stay open, and
/// another address is not affected.
#[tokio::test]
async fn the_ninth_pending_socket_from_one_address_is_closed_at_once() {
    let (_server, _incoming, addr) = listening(|b| {
        b.handshake_timeout(NO_TIMEOUT)
            .pressure_handshake_timeout(NO_TIMEOUT)
    })
    .await;
    let mut first = Vec::new();
    for _ in 0..8 {
        first.push(idle_from(loopback(5), addr).await);
    }
    let mut ninth = idle_from(loopback(5), addr).await;
    closed_by_listener(&mut ninth).await;
    // The listener accepts in order, so the first eight were admitted before the ninth.
    for (i, tcp) in first.iter().enumerate() {
        assert!(still_open(tcp), "socket {i} from 127.0.0.5 was closed");
    }
    let other = idle_from(loopback(6), addr).await;
    // The next socket from 127.0.0.5 is refused too, after the one from 127.0.0.6 ...
    let mut tenth = idle_from(loopback(5), addr).await;
    closed_by_listener(&mut tenth).await;
    // ... which was admitted.
    assert!(still_open(&other));
    assert!(first.iter().all(still_open));
}

/// A full pending set closes its oldest socket for each new one, in arrival order.
#[tokio::test]
async fn a_full_pending_set_closes_its_oldest_socket_first() {
    let (_server, _incoming, addr) = listening(|b| {
        b.max_pending(4)
            .handshake_timeout(NO_TIMEOUT)
            .pressure_handshake_timeout(NO_TIMEOUT)
    })
    .await;
    let mut sockets = Vec::new();
    for last in 2..=5 {
        sockets.push(idle_from(loopback(last), addr).await);
    }
    // The fifth evicts the first; the sixth the second.
    sockets.push(idle_from(loopback(6), addr).await);
    closed_by_listener(&mut sockets[0]).await;
    for (i, tcp) in sockets.iter().enumerate().skip(1) {
        assert!(still_open(tcp), "socket {i} was closed");
    }
    sockets.push(idle_from(loopback(7), addr).await);
    closed_by_listener(&mut sockets[1]).await;
    for (i, tcp) in sockets.iter().enumerate().skip(2) {
        assert!(still_open(tcp), "socket {i} was closed");
    }
}

/// Past half the pending set, a new idle socket gets the short pressure deadline; the sockets
/// admitted before keep the long one.
#[tokio::test]
async fn under_pressure_a_new_handshake_gets_the_short_deadline() {
    let (_server, _incoming, addr) = listening(|b| {
        b.max_pending(4)
            .handshake_timeout(NO_TIMEOUT)
            .pressure_handshake_timeout(Duration::from_millis(200))
    })
    .await;
    // 0, 1 and 2 pending on arrival: the long deadline.
    let mut calm = Vec::new();
    for last in 2..=4 {
        calm.push(idle_from(loopback(last), addr).await);
    }
    // 3 of 4 pending on arrival: the short one, so the listener closes it by itself.
    let mut pressed = idle_from(loopback(5), addr).await;
    closed_by_listener(&mut pressed).await;
    for (i, tcp) in calm.iter().enumerate() {
        assert!(still_open(tcp), "socket {i} was closed");
    }
}

/// Established links keep their own cap: an inbound link that sets up beyond
/// `max_connections` is refused with Disconnect `0x04`, the live one stays.
#[tokio::test]
async fn an_inbound_link_beyond_the_connection_limit_is_refused_with_too_many_peers() {
    let (server, mut incoming, _) = listening(|b| b.max_connections(1)).await;
    let enode = PeerAddr::new(server.local_enode().unwrap().to_string());
    let first = transport_with(|b| b);
    let live = first.dial(&enode, VersionSet::ALL.into()).await.unwrap();
    let accepted = timeout(LIMIT, incoming.next())
        .await
        .expect("incoming timed out")
        .expect("listener ended")
        .unwrap();
    assert_eq!(accepted.info().peer, first.local_id());
    let second = transport_with(|b| b);
    match timeout(LIMIT, second.dial(&enode, VersionSet::ALL.into()))
        .await
        .expect("dial timed out")
    {
        // Our side may finish setting up before the listener's Disconnect arrives ...
        Ok(link) => {
            let (_, _tx, mut rx) = link.split();
            let closed = timeout(LIMIT, rx.recv()).await.expect("link stayed up");
            assert_eq!(
                closed,
                Err(LinkClosed::ByPeer(DisconnectReason::TooManyPeers))
            );
        }
        // ... or after it.
        Err(e) => assert!(
            matches!(
                e,
                TransportError::Refused {
                    reason: DisconnectReason::TooManyPeers,
                    ..
                }
            ),
            "{e:?}"
        ),
    }
    let (_, live_tx, _live_rx) = live.split();
    assert!(!live_tx.is_closed());
}
