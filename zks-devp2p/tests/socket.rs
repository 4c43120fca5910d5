//! Two transports over 127.0.0.1, and hostile raw TCP peers against a listener.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::raw_peer::RawPeer;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use zks_api::transport::{Incoming, Link, LinkClosed, Transport, TransportError};
use zks_api::wire::{Frame, VersionSet, ZksVersion};
use zks_api::{DisconnectReason, PeerAddr};
use zks_devp2p::caps;
use zks_devp2p::p2p::{self, P2pEvent, PeerReason};
use zks_devp2p::rlpx::Initiator;
use zks_devp2p::{Devp2pConfig, Devp2pTransport, FrameError, NodeKey, P2pError};

/// A safety net so a broken test fails instead of hanging; never used to wait for events.
const LIMIT: Duration = Duration::from_secs(20);

fn transport_with(
    tweak: impl FnOnce(zks_devp2p::Devp2pConfigBuilder) -> zks_devp2p::Devp2pConfigBuilder,
) -> Devp2pTransport {
    let builder = Devp2pConfig::builder(NodeKey::generate())
        .listen_addr("127.0.0.1:0".parse().unwrap())
        .client_id("zks-devp2p-test");
    Devp2pTransport::new(tweak(builder).build().unwrap())
}

fn transport() -> Devp2pTransport {
    transport_with(|b| b)
}

async fn listening(versions: VersionSet) -> (Devp2pTransport, Incoming, PeerAddr) {
    let t = transport();
    let incoming = t.listen(versions.into()).await.unwrap();
    let addr = PeerAddr::new(t.local_enode().unwrap().to_string());
    (t, incoming, addr)
}

async fn next_link(incoming: &mut Incoming) -> Result<Link, TransportError> {
    timeout(LIMIT, incoming.next())
        .await
        .expect("incoming timed out")
        .expect("listener ended")
}

fn frame(id: u8, body: &[u8]) -> Frame {
    Frame::zks(id, Bytes::copy_from_slice(body))
}

async fn exchange(
    a: &zks_api::transport::LinkSender,
    b: &mut zks_api::transport::LinkReceiver,
    f: Frame,
) {
    a.send(f.clone()).await.unwrap();
    let got = timeout(LIMIT, b.recv())
        .await
        .expect("recv timed out")
        .unwrap();
    assert_eq!(got, f);
}

#[tokio::test]
async fn two_transports_exchange_frames_at_zks3() {
    let (server, mut incoming, addr) = listening(VersionSet::SEED).await;
    let client = transport();
    assert_eq!(client.peer_id(&addr).unwrap(), server.local_id());
    let dialed = client.dial(&addr, VersionSet::SEED.into()).await.unwrap();
    let accepted = next_link(&mut incoming).await.unwrap();
    assert_eq!(dialed.info().caps.zks, ZksVersion::V3);
    assert_eq!(accepted.info().caps.zks, ZksVersion::V3);
    assert_eq!(dialed.info().peer, server.local_id());
    assert_eq!(accepted.info().peer, client.local_id());
    assert_eq!(dialed.info().direction, zks_api::Direction::Outbound);
    assert_eq!(accepted.info().direction, zks_api::Direction::Inbound);

    let (_, d_tx, mut d_rx) = dialed.split();
    let (_, a_tx, mut a_rx) = accepted.split();
    // The interop GetBlockReplays and BlockReplays bodies, every zks/3 id, and a large one.
    exchange(
        &d_tx,
        &mut a_rx,
        frame(0, &hex::decode("c32ac040").unwrap()),
    )
    .await;
    exchange(
        &a_tx,
        &mut d_rx,
        frame(1, &hex::decode("c9c8c40582aabbc20680").unwrap()),
    )
    .await;
    for id in 0..7u8 {
        exchange(&d_tx, &mut a_rx, frame(id, &[0xc1, id])).await;
        exchange(&a_tx, &mut d_rx, frame(id, &[])).await;
    }
    let big = common::noise(1 << 20, 5);
    exchange(&d_tx, &mut a_rx, frame(1, &big)).await;
    exchange(&a_tx, &mut d_rx, frame(1, &big)).await;

    // Closing tells the peer the reason.
    d_tx.close(DisconnectReason::ClientQuitting);
    let closed = timeout(LIMIT, a_rx.recv()).await.unwrap();
    assert_eq!(
        closed,
        Err(LinkClosed::ByPeer(DisconnectReason::ClientQuitting))
    );
    let ours = timeout(LIMIT, d_rx.recv()).await.unwrap();
    assert!(
        matches!(
            ours,
            Err(LinkClosed::ByTransport {
                reason: DisconnectReason::ClientQuitting,
                ..
            })
        ),
        "{ours:?}"
    );
}

#[tokio::test]
async fn negotiates_highest_shared_version() {
    let v12 = VersionSet::from([ZksVersion::V1, ZksVersion::V2]);
    for (server_versions, client_versions) in [(VersionSet::SEED, v12), (v12, VersionSet::SEED)] {
        let (_server, mut incoming, addr) = listening(server_versions).await;
        let client = transport();
        let dialed = client.dial(&addr, client_versions.into()).await.unwrap();
        let accepted = next_link(&mut incoming).await.unwrap();
        assert_eq!(dialed.info().caps.zks, ZksVersion::V2);
        assert_eq!(accepted.info().caps.zks, ZksVersion::V2);
        let (_, tx, _rx) = dialed.split();
        let (_, _atx, mut arx) = accepted.split();
        exchange(&tx, &mut arx, frame(1, &[0xc0])).await;
    }
}

#[tokio::test]
async fn no_common_version_fails_on_both_sides() {
    let v1 = VersionSet::only(ZksVersion::V1);
    let v3 = VersionSet::only(ZksVersion::V3);
    let (server, mut incoming, addr) = listening(v1).await;
    let client = transport();
    let err = client.dial(&addr, v3.into()).await.unwrap_err();
    match err {
        TransportError::NoCommonVersion {
            peer,
            local,
            remote,
        } => {
            assert_eq!(peer, server.local_id());
            assert_eq!(local, v3);
            assert_eq!(remote, v1);
        }
        other => panic!("{other:?}"),
    }
    match next_link(&mut incoming).await {
        Err(TransportError::NoCommonVersion {
            peer,
            local,
            remote,
        }) => {
            assert_eq!(peer, client.local_id());
            assert_eq!(local, v1);
            assert_eq!(remote, v3);
        }
        other => panic!("{other:?}"),
    }
}

/// A listener plus one healthy link on it, which must survive every hostile connection.
struct Fixture {
    server: Devp2pTransport,
    incoming: Incoming,
    addr: SocketAddr,
    healthy_tx: zks_api::transport::LinkSender,
    healthy_rx: zks_api::transport::LinkReceiver,
    _client: Devp2pTransport,
    _client_rx: zks_api::transport::LinkReceiver,
    client_tx: zks_api::transport::LinkSender,
    round: u8,
}

impl Fixture {
    async fn new() -> Self {
        let server = transport_with(|b| b.handshake_timeout(Duration::from_secs(10)));
        let mut incoming = server.listen(VersionSet::SEED.into()).await.unwrap();
        let enode = PeerAddr::new(server.local_enode().unwrap().to_string());
        let client = transport();
        let link = client.dial(&enode, VersionSet::SEED.into()).await.unwrap();
        let accepted = next_link(&mut incoming).await.unwrap();
        let (_, healthy_tx, healthy_rx) = accepted.split();
        let (_, client_tx, client_rx) = link.split();
        Self {
            addr: server.local_addr().unwrap(),
            server,
            incoming,
            healthy_tx,
            healthy_rx,
            _client: client,
            _client_rx: client_rx,
            client_tx,
            round: 0,
        }
    }

    async fn still_works(&mut self) {
        self.round += 1;
        exchange(
            &self.client_tx,
            &mut self.healthy_rx,
            frame(0, &[0xc1, self.round]),
        )
        .await;
        assert!(!self.healthy_tx.is_closed());
    }

    async fn expect_failure(&mut self) -> String {
        match next_link(&mut self.incoming).await {
            Err(TransportError::Handshake { reason, .. }) => reason.to_string(),
            other => panic!("expected a handshake failure, got {other:?}"),
        }
    }
}

async fn read_to_eof(tcp: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    timeout(LIMIT, tcp.read_to_end(&mut all))
        .await
        .expect("never closed")
        .ok();
    all
}

#[tokio::test]
async fn hostile_garbage_instead_of_auth() {
    let mut f = Fixture::new().await;
    let mut tcp = TcpStream::connect(f.addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(read_to_eof(&mut tcp).await.is_empty());
    let reason = f.expect_failure().await;
    assert_eq!(
        reason,
        zks_devp2p::EciesError::PacketTooLarge {
            got: 0x4745,
            max: 2048
        }
        .to_string()
    );
    f.still_works().await;
}

#[tokio::test]
async fn hostile_truncated_auth() {
    let mut f = Fixture::new().await;
    let init = Initiator::new(&NodeKey::generate(), f.server.node_id()).unwrap();
    let mut tcp = TcpStream::connect(f.addr).await.unwrap();
    tcp.write_all(&init.auth_packet()[..200]).await.unwrap();
    tcp.shutdown().await.unwrap();
    assert!(read_to_eof(&mut tcp).await.is_empty());
    assert_eq!(f.expect_failure().await, zks_devp2p::Error::Eof.to_string());
    f.still_works().await;
}

#[tokio::test]
async fn hostile_auth_with_a_bad_tag() {
    let mut f = Fixture::new().await;
    let init = Initiator::new(&NodeKey::generate(), f.server.node_id()).unwrap();
    let mut auth = init.auth_packet().to_vec();
    let last = auth.len() - 1;
    auth[last] ^= 1;
    let mut tcp = TcpStream::connect(f.addr).await.unwrap();
    tcp.write_all(&auth).await.unwrap();
    assert!(read_to_eof(&mut tcp).await.is_empty());
    assert_eq!(
        f.expect_failure().await,
        zks_devp2p::EciesError::TagMismatch.to_string()
    );
    f.still_works().await;
}

const BREACH: [u8; 3] = [0x01, 0xc1, 0x02];

#[tokio::test]
async fn hostile_oversized_frame_header() {
    let mut f = Fixture::new().await;
    let mut raw = RawPeer::connect(f.addr, f.server.node_id(), VersionSet::SEED).await;
    let mut wire = BytesMut::new();
    raw.codec
        .encoder
        .encode(&common::noise(4096, 1), &mut wire)
        .unwrap();
    raw.send_raw(&wire[..32]).await;
    assert_eq!(raw.expect_disconnect().await, BREACH);
    assert_eq!(
        f.expect_failure().await,
        FrameError::TooLarge {
            got: 4096,
            max: 2048
        }
        .to_string()
    );
    f.still_works().await;
}

#[tokio::test]
async fn hostile_wrong_mac() {
    let mut f = Fixture::new().await;
    let mut raw = RawPeer::connect(f.addr, f.server.node_id(), VersionSet::SEED).await;
    let mut hello = BytesMut::new();
    raw.session.write_hello(&mut hello);
    let mut wire = BytesMut::new();
    raw.codec.encoder.encode(&hello, &mut wire).unwrap();
    wire[20] ^= 0x80;
    raw.send_raw(&wire).await;
    assert_eq!(raw.expect_disconnect().await, BREACH);
    assert_eq!(
        f.expect_failure().await,
        FrameError::HeaderMacMismatch.to_string()
    );
    f.still_works().await;
}

#[tokio::test]
async fn hostile_hello_with_ten_thousand_capabilities() {
    let mut f = Fixture::new().await;
    let mut raw = RawPeer::connect(f.addr, f.server.node_id(), VersionSet::SEED).await;
    let caps: Vec<_> = (0..10_000u32)
        .map(|i| caps::Capability::new("zks", i))
        .collect();
    let hello = p2p::Hello {
        protocol_version: 5,
        client_id: "flood".into(),
        capabilities: caps,
        listen_port: 0,
        node_id: zks_devp2p::NodeId([7; 64]),
    };
    let mut data = vec![0x80];
    hello.encode(&mut data);
    let size = data.len();
    raw.send_data(&data).await;
    assert_eq!(raw.expect_disconnect().await, BREACH);
    assert_eq!(
        f.expect_failure().await,
        FrameError::TooLarge {
            got: size,
            max: 2048
        }
        .to_string()
    );
    f.still_works().await;
}

#[tokio::test]
async fn hostile_message_before_hello() {
    let mut f = Fixture::new().await;
    let mut raw = RawPeer::connect(f.addr, f.server.node_id(), VersionSet::SEED).await;
    raw.send_data(&[0x02, 0xc0]).await;
    assert_eq!(raw.expect_disconnect().await, BREACH);
    assert_eq!(
        f.expect_failure().await,
        P2pError::ExpectedHello { got: 2 }.to_string()
    );
    // A zks message before Hello too.
    let mut raw = RawPeer::connect(f.addr, f.server.node_id(), VersionSet::SEED).await;
    raw.send_data(&[0x10, 0xc3, 0x2a, 0xc0, 0x40]).await;
    assert_eq!(raw.expect_disconnect().await, BREACH);
    assert_eq!(
        f.expect_failure().await,
        P2pError::ExpectedHello { got: 0x10 }.to_string()
    );
    f.still_works().await;
}

#[tokio::test]
async fn useless_peer_gets_disconnect_0x03() {
    let (server, mut incoming, _) = listening(VersionSet::only(ZksVersion::V3)).await;
    let mut raw = RawPeer::connect(
        server.local_addr().unwrap(),
        server.node_id(),
        VersionSet::only(ZksVersion::V1),
    )
    .await;
    raw.send_hello().await;
    // Sent before Snappy is on: uncompressed [0x03].
    assert_eq!(raw.expect_disconnect().await, [0x01, 0xc1, 0x03]);
    assert!(matches!(
        next_link(&mut incoming).await,
        Err(TransportError::NoCommonVersion { .. })
    ));
}

#[tokio::test]
async fn pings_are_sent_and_a_missing_pong_times_out() {
    let server = transport_with(|b| {
        b.ping_interval(Duration::from_millis(100))
            .pong_timeout(Duration::from_secs(1))
    });
    let mut incoming = server.listen(VersionSet::SEED.into()).await.unwrap();
    let mut raw = RawPeer::connect(
        server.local_addr().unwrap(),
        server.node_id(),
        VersionSet::SEED,
    )
    .await;
    raw.send_hello().await;
    let link = next_link(&mut incoming).await.unwrap();
    let (_, _tx, mut rx) = link.split();
    // Hello, then the server's Ping; we answer the first one.
    let hello = raw.next_data().await.unwrap();
    assert_eq!(raw.session.handle(&hello), Ok(P2pEvent::Hello));
    let ping = raw.next_data().await.unwrap();
    assert_eq!(&ping[..], [0x02, 0x01, 0x00, 0xc0]);
    let mut pong = BytesMut::new();
    raw.session.write_pong(&mut pong);
    raw.send_data(&pong).await;
    // The next Ping goes unanswered: Disconnect 0x0b, compressed.
    let ping = raw.next_data().await.unwrap();
    assert_eq!(raw.session.handle(&ping), Ok(P2pEvent::Ping));
    let disconnect = raw.expect_disconnect().await;
    assert_eq!(
        raw.session.handle(&disconnect),
        Ok(P2pEvent::Disconnect(PeerReason::Known(
            DisconnectReason::PingTimeout
        )))
    );
    let closed = timeout(LIMIT, rx.recv()).await.unwrap();
    assert!(
        matches!(
            closed,
            Err(LinkClosed::ByTransport {
                reason: DisconnectReason::PingTimeout,
                ..
            })
        ),
        "{closed:?}"
    );
}

#[tokio::test]
async fn raw_peer_ping_is_answered_and_disconnect_maps_to_by_peer() {
    let (server, mut incoming, _) = listening(VersionSet::SEED).await;
    let mut raw = RawPeer::connect(
        server.local_addr().unwrap(),
        server.node_id(),
        VersionSet::SEED,
    )
    .await;
    raw.send_hello().await;
    let link = next_link(&mut incoming).await.unwrap();
    let (_, _tx, mut rx) = link.split();
    let hello = raw.next_data().await.unwrap();
    assert_eq!(raw.session.handle(&hello), Ok(P2pEvent::Hello));
    let mut ping = BytesMut::new();
    raw.session.write_ping(&mut ping);
    raw.send_data(&ping).await;
    let pong = raw.next_data().await.unwrap();
    assert_eq!(&pong[..], [0x03, 0x01, 0x00, 0xc0]);
    // ethereumjs-style bare, uncompressed reason after Hello.
    raw.send_data(&[0x01, 0x08]).await;
    let closed = timeout(LIMIT, rx.recv()).await.unwrap();
    assert_eq!(
        closed,
        Err(LinkClosed::ByPeer(DisconnectReason::ClientQuitting))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_engine_pushes_back_on_the_sender() {
    let server = transport_with(|b| b.link_capacity(1));
    let mut incoming = server.listen(VersionSet::SEED.into()).await.unwrap();
    let addr = PeerAddr::new(server.local_enode().unwrap().to_string());
    let client = transport_with(|b| b.link_capacity(1));
    let link = client.dial(&addr, VersionSet::SEED.into()).await.unwrap();
    let accepted = next_link(&mut incoming).await.unwrap();
    let (_, tx, _crx) = link.split();
    let (_, _atx, mut arx) = accepted.split();

    const N: usize = 400;
    let body = Bytes::from(common::noise(64 * 1024, 11));
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = sent.clone();
    let producer = {
        let body = body.clone();
        tokio::spawn(async move {
            for i in 0..N {
                let mut b = body.to_vec();
                b[0] = i as u8;
                tx.send(Frame::zks(1, b)).await.unwrap();
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            tx
        })
    };
    // Nobody reads on the server: the server stops reading its socket, TCP fills up and the
    // sender's queue stops draining, so the producer cannot finish. (Waiting for the absence
    // of progress needs a wait; this is the only timed assertion here.)
    let mut producer = producer;
    assert!(
        timeout(Duration::from_millis(1500), &mut producer)
            .await
            .is_err()
    );
    let stalled_at = sent.load(std::sync::atomic::Ordering::SeqCst);
    eprintln!("stalled after {stalled_at} frames");
    assert!(
        stalled_at < N / 2,
        "sender was not pushed back: {stalled_at} of {N} sent"
    );
    // Once the engine reads, everything arrives, in order.
    for i in 0..N {
        let f = timeout(LIMIT, arx.recv()).await.unwrap().unwrap();
        assert_eq!(f.body[0], i as u8);
        assert_eq!(f.body.len(), body.len());
    }
    let _tx = timeout(LIMIT, producer).await.unwrap().unwrap();
}

/// Resident memory of this test process (one test per process under nextest).
fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// A peer that sends Pings and never reads our Pongs must not grow our memory: once the link's
/// write buffer is over its bound the link stops reading, so the Pongs waiting in memory stay
/// bounded however long the peer goes on. (A loop that reads on keeps every Pong it cannot
/// send: one Pong per Ping read.)
#[tokio::test]
async fn ping_flood_without_reading_is_bounded() {
    let mut f = Fixture::new().await;
    let mut raw = RawPeer::connect(f.addr, f.server.node_id(), VersionSet::SEED).await;
    raw.send_hello().await;
    let hello = raw.next_data().await.expect("server hello");
    assert_eq!(raw.session.handle(&hello).unwrap(), P2pEvent::Hello);
    let link = timeout(LIMIT, f.incoming.next())
        .await
        .expect("link accepted")
        .expect("incoming open")
        .expect("link established");
    let mut ping = BytesMut::new();
    raw.session.write_ping(&mut ping);
    let mut chunk = BytesMut::new();
    let before = resident_bytes();
    const BUDGET: usize = 64 << 20;
    let mut written = 0;
    while written < BUDGET {
        // One MiB of Pings per write, each frame with its own MAC.
        chunk.clear();
        while chunk.len() < 1 << 20 {
            raw.codec.encoder.encode(&ping, &mut chunk).unwrap();
        }
        // A stalled write is what a bounded link leads to; 3 s tells a stall from a slow read.
        match timeout(Duration::from_secs(3), raw.tcp.write_all(&chunk)).await {
            Ok(Ok(())) => written += chunk.len(),
            Ok(Err(e)) => panic!("link closed under the flood: {e}"),
            Err(_) => break,
        }
    }
    let grown = resident_bytes().saturating_sub(before);
    assert!(
        grown < 8 << 20,
        "{} MiB more resident after {} MiB of Pings nobody read the Pongs of",
        grown >> 20,
        written >> 20
    );
    assert!(written < BUDGET, "the link read all {} MiB", written >> 20);
    drop(link);
    f.still_works().await;
}

/// `probe_with` lends the standing session to the caller: its frame reaches the peer's link,
/// the peer's answer comes back, and the probe then leaves with `ClientQuitting`. A frame the
/// session cannot carry is refused without ending it; a session that ended before never runs
/// the exchange.
#[tokio::test]
async fn probe_with_exchanges_frames_then_says_client_quitting() {
    let (_server, mut incoming, addr) = listening(VersionSet::only(ZksVersion::V5)).await;
    let peer = tokio::spawn(async move {
        let link = next_link(&mut incoming).await.unwrap();
        let (_, tx, mut rx) = link.split();
        let asked = timeout(LIMIT, rx.recv()).await.unwrap().unwrap();
        tx.send(frame(1, &[0xc2, 0xc1, 0xc0])).await.unwrap();
        let closed = timeout(LIMIT, rx.recv()).await.unwrap();
        (asked, closed, incoming)
    });
    let enode: zks_devp2p::Enode = addr.as_str().parse().unwrap();
    let config = Devp2pConfig::builder(NodeKey::generate())
        .client_id("probe-test")
        .build()
        .unwrap();

    let exchange = async |link: &mut zks_devp2p::ProbeLink| {
        assert_eq!(link.caps().map(|c| c.zks), Some(ZksVersion::V5));
        // zks/5 has two ids: 0x02 is not on this session, and the session stays.
        let refused = link.send(&frame(2, &[0xc0])).await;
        assert!(
            matches!(refused, Err(zks_devp2p::Error::P2p(_))),
            "{refused:?}"
        );
        link.send(&frame(0, &[0xc3, 0x01, 0xc0, 0x01]))
            .await
            .unwrap();
        timeout(LIMIT, link.recv()).await.unwrap()
    };
    let probing = zks_devp2p::probe_with(&enode, &config, VersionSet::ALL, exchange);
    fn is_send<T: Send>(t: T) -> T {
        t
    }
    let (report, answer) = is_send(probing).await.unwrap();
    assert!(report.ended.is_none(), "{:?}", report.ended);
    assert!(report.ping_rtt.is_some());
    assert_eq!(
        answer.map(Result::unwrap),
        Some(frame(1, &[0xc2, 0xc1, 0xc0]))
    );
    let (asked, closed, mut incoming) = peer.await.unwrap();
    assert_eq!(asked, frame(0, &[0xc3, 0x01, 0xc0, 0x01]));
    assert_eq!(
        closed,
        Err(LinkClosed::ByPeer(DisconnectReason::ClientQuitting))
    );
    let accept = tokio::spawn(async move { while incoming.next().await.is_some() {} });

    // No shared zks version: the session ends after Hello, and the exchange never runs.
    let (report, answer) = zks_devp2p::probe_with(
        &enode,
        &config,
        VersionSet::only(ZksVersion::V1),
        async |_: &mut zks_devp2p::ProbeLink| unreachable!("the session ended"),
    )
    .await
    .unwrap();
    assert!(report.ended.is_some());
    assert_eq!(answer, None::<()>);
    accept.abort();
}

/// The probe `zks rlpx ping` uses: the transport's own handshake and Hello, then a Ping; a
/// peer that shares no zks version still yields its Hello, with the reason in `ended`.
#[tokio::test]
async fn probe_reports_hello_ping_and_a_peer_that_shares_nothing() {
    let (server, mut incoming, addr) = listening(VersionSet::only(ZksVersion::V3)).await;
    let accept = tokio::spawn(async move { while incoming.next().await.is_some() {} });
    let enode: zks_devp2p::Enode = addr.as_str().parse().unwrap();
    let config = Devp2pConfig::builder(NodeKey::generate())
        .client_id("probe-test")
        .build()
        .unwrap();

    let report = zks_devp2p::probe(&enode, &config, VersionSet::SEED)
        .await
        .unwrap();
    assert_eq!(report.remote_id, server.node_id());
    assert_eq!(report.hello.client_id, "zks-devp2p-test");
    assert_eq!(report.zks, Some(ZksVersion::V3));
    assert!(report.ping_rtt.is_some(), "{:?}", report.ended);
    assert!(report.ended.is_none());

    let report = zks_devp2p::probe(&enode, &config, VersionSet::only(ZksVersion::V1))
        .await
        .unwrap();
    assert_eq!(report.hello.client_id, "zks-devp2p-test");
    assert_eq!(report.zks, None);
    assert_eq!(report.ping_rtt, None);
    assert!(
        matches!(
            report.ended,
            Some(zks_devp2p::Error::P2p(P2pError::NoSharedCapability))
        ),
        "{:?}",
        report.ended
    );
    accept.abort();
}
