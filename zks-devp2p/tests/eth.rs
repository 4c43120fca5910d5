//! `eth` on a live session: the Status exchange after Hello, passive `eth` afterwards, zks
//! messages that arrive before the Status, and the compatibility policy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use zks_api::alloy_rlp::{Encodable, Header};
use zks_api::transport::{Incoming, Link, Transport, TransportError};
use zks_api::wire::{Frame, VersionSet, ZksVersion};
use zks_api::{DisconnectReason, PeerAddr};
use zks_devp2p::caps::{self, LocalCapability};
use zks_devp2p::eth::{ChainIdentity, EthVersion, Status};
use zks_devp2p::p2p::{P2pEvent, P2pSession};
use zks_devp2p::rlpx::FrameCodec;
use zks_devp2p::{Devp2pConfig, Devp2pConfigBuilder, Devp2pTransport, NodeKey};

const LIMIT: Duration = Duration::from_secs(20);

fn transport(tweak: impl FnOnce(Devp2pConfigBuilder) -> Devp2pConfigBuilder) -> Devp2pTransport {
    let builder = Devp2pConfig::builder(NodeKey::generate())
        .listen_addr("127.0.0.1:0".parse().unwrap())
        .client_id("eth-test");
    Devp2pTransport::new(tweak(builder).build().unwrap())
}

fn chain(id: u64) -> impl FnOnce(Devp2pConfigBuilder) -> Devp2pConfigBuilder {
    move |b| b.chain_identity(ChainIdentity::zksync_os(id))
}

async fn listening(t: &Devp2pTransport) -> (Incoming, PeerAddr) {
    let incoming = t.listen(VersionSet::SEED.into()).await.unwrap();
    (
        incoming,
        PeerAddr::new(t.local_enode().unwrap().to_string()),
    )
}

async fn next_link(incoming: &mut Incoming) -> Result<Link, TransportError> {
    timeout(LIMIT, incoming.next())
        .await
        .expect("no link in time")
        .expect("incoming ended")
}

#[tokio::test]
async fn nodes_of_one_chain_exchange_status_and_carry_zks() {
    let server = transport(chain(270));
    let (mut incoming, addr) = listening(&server).await;
    let client = transport(chain(270));
    let dialed = client.dial(&addr, VersionSet::SEED.into()).await.unwrap();
    let accepted = next_link(&mut incoming).await.unwrap();
    assert_eq!(dialed.info().caps.zks, ZksVersion::V3);
    // Each side's link names the Status the other sent: eth/69 of chain 270, blocks 0..=0.
    let status = Status::ours(&ChainIdentity::zksync_os(270), EthVersion::V69).summary();
    assert_eq!(dialed.info().eth, Some(status));
    assert_eq!(accepted.info().eth, Some(status));
    assert_eq!(status.blocks, Some((0, 0)));
    let (_, tx, _rx) = dialed.split();
    let (_, _atx, mut arx) = accepted.split();
    tx.send(Frame::zks(0, vec![0xc2, 0x80, 0xc0]))
        .await
        .unwrap();
    let got = timeout(LIMIT, arx.recv()).await.unwrap().unwrap();
    assert_eq!(got, Frame::zks(0, vec![0xc2, 0x80, 0xc0]));
    assert_eq!(server.eth_messages_ignored(), 0);
}

#[tokio::test]
async fn a_peer_of_another_chain_is_refused_with_a_protocol_breach() {
    let server = transport(chain(270));
    let (mut incoming, addr) = listening(&server).await;
    let client = transport(chain(506));
    let err = client
        .dial(&addr, VersionSet::SEED.into())
        .await
        .unwrap_err();
    // Each side sends its Status at once and checks the other's: whichever finds the mismatch
    // first tells the other with ProtocolBreach.
    match &err {
        TransportError::Handshake { reason, .. } => {
            assert!(reason.contains("genesis mismatch"), "{reason}");
        }
        TransportError::Refused { reason, .. } => {
            assert_eq!(*reason, DisconnectReason::ProtocolBreach);
        }
        other => panic!("{other:?}"),
    }
    assert!(next_link(&mut incoming).await.is_err());
}

/// The link a node accepts from an upstream-shaped peer carries that peer's Status as sent:
/// the eth/69 chain 270 vector's payload with `latest` set to 42 (one RLP byte, 0x80 -> 0x2a).
#[tokio::test]
async fn an_accepted_link_names_the_peers_status_as_it_came() {
    const UPSTREAM_ETH69_270: &str = "f84f4582010ea0622307310f77330a662d1ceae0cc7c6947544afd48d62f83e47d6f9d270c824dc684d338c9ba808080a0622307310f77330a662d1ceae0cc7c6947544afd48d62f83e47d6f9d270c824d";
    let mut payload = hex::decode(UPSTREAM_ETH69_270).unwrap();
    // [.., forkid c6 84 d338c9ba 80, earliest 80, latest 80, a0 hash]
    let latest = payload.len() - 34;
    assert_eq!(payload[latest - 1..=latest], [0x80, 0x80]);
    payload[latest] = 0x2a;

    let server = transport(chain(270));
    let (mut incoming, _) = listening(&server).await;
    let mut raw = RawEthPeer::connect(server.local_addr().unwrap(), server.node_id()).await;
    assert!(matches!(
        raw.next_event().await,
        Some(P2pEvent::Eth { id: 0, .. })
    ));
    raw.send_eth(0, &payload).await;
    let link = next_link(&mut incoming).await.unwrap();
    let eth = link.info().eth.expect("an eth link");
    let genesis: [u8; 32] =
        hex::decode("622307310f77330a662d1ceae0cc7c6947544afd48d62f83e47d6f9d270c824d")
            .unwrap()
            .try_into()
            .unwrap();
    assert_eq!(
        eth,
        zks_api::transport::EthStatus::new(69, 270, genesis, [0xd3, 0x38, 0xc9, 0xba], 0)
            .with_blocks(0, 42)
    );
    assert!(
        link.info()
            .to_string()
            .ends_with("; eth/69 network 270 genesis 0x6223…824d fork 0xd338c9ba/0 blocks 0..=42)"),
        "{}",
        link.info()
    );
}

#[tokio::test]
async fn require_eth_refuses_a_peer_without_eth_as_useless() {
    let server = transport(|b| chain(270)(b).require_eth(true));
    let (mut incoming, addr) = listening(&server).await;
    let plain = transport(|b| b);
    // The dialer's own Hello exchange may finish before the node's verdict arrives: then the
    // verdict ends the fresh link.
    match plain.dial(&addr, VersionSet::SEED.into()).await {
        Err(TransportError::Refused { reason, .. }) => {
            assert_eq!(reason, DisconnectReason::UselessPeer);
        }
        Ok(link) => {
            let (_, _tx, mut rx) = link.split();
            let closed = timeout(LIMIT, rx.recv()).await.unwrap().unwrap_err();
            assert_eq!(
                closed,
                zks_api::transport::LinkClosed::ByPeer(DisconnectReason::UselessPeer)
            );
        }
        Err(other) => panic!("{other:?}"),
    }
    match next_link(&mut incoming).await {
        Err(TransportError::Handshake { reason, .. }) => {
            assert!(reason.contains("requires"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // Without require_eth a node with a chain still serves peers that speak no eth.
    let lenient = transport(chain(270));
    let (mut incoming, addr) = listening(&lenient).await;
    let link = plain.dial(&addr, VersionSet::SEED.into()).await.unwrap();
    assert_eq!(link.info().caps.zks, ZksVersion::V3);
    assert_eq!(link.info().eth, None);
    next_link(&mut incoming).await.unwrap();
}

/// A peer that speaks raw RLPx with `eth/69` and zks, as a reth-based node would.
struct RawEthPeer {
    tcp: TcpStream,
    codec: FrameCodec,
    buf: BytesMut,
    session: P2pSession,
}

impl RawEthPeer {
    async fn connect(addr: SocketAddr, remote: zks_devp2p::NodeId) -> Self {
        let key = NodeKey::generate();
        let (tcp, codec, buf) = common::raw_handshake(addr, remote, &key).await;
        let mut local: Vec<LocalCapability> = caps::eth_capabilities(&[EthVersion::V69]);
        local.extend(caps::zks_capabilities(VersionSet::SEED));
        let hello = P2pSession::hello_for(key.id(), "raw-eth", &local, 0);
        let mut peer = Self {
            tcp,
            codec,
            buf,
            session: P2pSession::new(hello, local, remote),
        };
        peer.send(|s, b| s.write_hello(b)).await;
        assert_eq!(peer.next_event().await, Some(P2pEvent::Hello));
        peer
    }

    async fn send(&mut self, write: impl FnOnce(&mut P2pSession, &mut BytesMut)) {
        let mut data = BytesMut::new();
        write(&mut self.session, &mut data);
        let mut out = BytesMut::new();
        self.codec.encoder.encode(&data, &mut out).unwrap();
        self.tcp.write_all(&out).await.unwrap();
    }

    async fn send_eth(&mut self, id: u8, payload: &[u8]) {
        self.send(|s, b| s.write_eth(id, payload, b).unwrap()).await;
    }

    /// [`connect`](Self::connect), then the Status exchange with a node of `identity`'s chain.
    async fn with_status(server: &Devp2pTransport, identity: &ChainIdentity) -> Self {
        let mut raw = Self::connect(server.local_addr().unwrap(), server.node_id()).await;
        assert!(matches!(
            raw.next_event().await,
            Some(P2pEvent::Eth { id: 0, .. })
        ));
        raw.send_eth(0, &Status::ours(identity, EthVersion::V69).to_vec())
            .await;
        raw
    }

    /// Skips events until the node's Disconnect, which must give `reason`.
    async fn disconnected_with(&mut self, reason: DisconnectReason) {
        loop {
            match self.next_event().await {
                Some(P2pEvent::Disconnect(got)) => {
                    assert_eq!(got.to_reason(), reason);
                    return;
                }
                Some(_) => {}
                None => panic!("closed without Disconnect"),
            }
        }
    }

    /// The next event from the node; `None` at EOF.
    async fn next_event(&mut self) -> Option<P2pEvent> {
        loop {
            if let Some(data) = self.codec.decoder.decode(&mut self.buf).unwrap() {
                return Some(self.session.handle(&data).unwrap());
            }
            let n = timeout(LIMIT, self.tcp.read_buf(&mut self.buf))
                .await
                .expect("read timed out");
            if n.unwrap_or(0) == 0 {
                return None;
            }
        }
    }
}

#[tokio::test]
async fn zks_before_status_is_held_then_eth_is_passive_until_it_is_malformed() {
    let identity = ChainIdentity::zksync_os(270);
    let server = transport(chain(270));
    let (mut incoming, _) = listening(&server).await;
    let mut raw = RawEthPeer::connect(server.local_addr().unwrap(), server.node_id()).await;

    // The node's Status comes at once, byte for byte what an upstream node sends.
    match raw.next_event().await {
        Some(P2pEvent::Eth { id: 0, payload }) => {
            assert_eq!(
                &payload[..],
                Status::ours(&identity, EthVersion::V69).to_vec()
            );
        }
        other => panic!("{other:?}"),
    }
    // An upstream EN's first request can come before its Status: it is held.
    let request = Frame::zks(0, vec![0xc3, 0x80, 0xc0, 0x01]);
    raw.send(|s, b| {
        s.check_zks(&request).unwrap();
        s.write_zks(&request, b);
    })
    .await;
    raw.send_eth(0, &Status::ours(&identity, EthVersion::V69).to_vec())
        .await;
    let link = next_link(&mut incoming).await.unwrap();
    let (_, _tx, mut rx) = link.split();
    assert_eq!(timeout(LIMIT, rx.recv()).await.unwrap().unwrap(), request);

    // BlockRangeUpdate [earliest 0, latest 0, hash] and an unanswered GetBlockHeaders.
    let mut update = vec![0xe3, 0x80, 0x80, 0xa0];
    update.extend_from_slice(&identity.genesis);
    raw.send_eth(0x11, &update).await;
    raw.send_eth(0x03, &[0xc4, 0x01, 0xc2, 0x80, 0x80]).await;
    raw.send(|s, b| s.write_ping(b)).await;
    assert_eq!(raw.next_event().await, Some(P2pEvent::Pong));
    assert_eq!(server.eth_messages_ignored(), 2);

    // A malformed eth message ends the session as a breach.
    raw.send_eth(0x03, &[0x81]).await;
    raw.disconnected_with(DisconnectReason::ProtocolBreach)
        .await;
    let closed = timeout(LIMIT, rx.recv()).await.unwrap().unwrap_err();
    assert!(closed.to_string().contains("breach"), "{closed}");
}

/// A link the engine serves as a main node carries requests only, so it caps zks messages at
/// 128 KiB: the transport refuses a larger one from the announced size, before decompressing
/// it, with a breach. `eth` traffic on the same link keeps the protocol's cap: a 300 KiB
/// announcement (as a busy reth peer sends) passes.
#[tokio::test]
async fn a_small_zks_cap_refuses_big_zks_messages_and_never_cuts_eth() {
    let identity = ChainIdentity::zksync_os(270);
    let server = transport(chain(270));
    let (mut incoming, _) = listening(&server).await;
    let mut raw = RawEthPeer::with_status(&server, &identity).await;
    let link = next_link(&mut incoming).await.unwrap();
    let (_, _tx, mut rx) = link.split();
    let cap = 128 * 1024;
    rx.limit_message_size(cap);

    // NewPooledTransactionHashes-sized: one RLP list of ~300 KiB.
    let inner = vec![0x42u8; 300 * 1024];
    let mut announcement = Vec::new();
    Header {
        list: true,
        payload_length: inner[..].length(),
    }
    .encode(&mut announcement);
    inner[..].encode(&mut announcement);
    raw.send_eth(0x08, &announcement).await;
    raw.send(|s, b| s.write_ping(b)).await;
    assert_eq!(raw.next_event().await, Some(P2pEvent::Pong));
    assert_eq!(server.eth_messages_ignored(), 1);

    // A zks message just under the cap is delivered; one byte over ends the link.
    let under = Frame::zks(0, vec![0u8; cap - 1]);
    let over = Frame::zks(0, vec![0u8; cap]);
    for frame in [&under, &over] {
        raw.send(|s, b| {
            s.check_zks(frame).unwrap();
            s.write_zks(frame, b);
        })
        .await;
    }
    assert_eq!(timeout(LIMIT, rx.recv()).await.unwrap().unwrap(), under);
    raw.disconnected_with(DisconnectReason::ProtocolBreach)
        .await;
    let closed = timeout(LIMIT, rx.recv()).await.unwrap().unwrap_err();
    assert!(
        closed.to_string().contains(&format!(
            "zks message of {} bytes exceeds this link's cap of {cap}",
            cap + 1
        )),
        "{closed}"
    );
}

/// Log output, captured for one test.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A stranger's breach is INFO, one line per link, whichever layer found it: a malformed
/// request (found by the engine) and an oversized message (found by the transport, before
/// decompressing) read alike.
#[tokio::test]
async fn a_breach_reads_alike_whichever_layer_found_it() {
    use zks_api::{CloseCause, MemoryReplayStore, Node, ProtocolEvent};
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing_subscriber::filter::LevelFilter::INFO)
        .finish();
    let _logging = tracing::subscriber::set_default(subscriber);
    let identity = ChainIdentity::zksync_os(270);
    let server = transport(chain(270));
    let mn = Node::builder(server.clone())
        .main_node(std::sync::Arc::new(MemoryReplayStore::new()))
        .start()
        .await
        .unwrap();
    let mut events = mn.events();
    let mut closes = Vec::new();
    for body in [vec![0x81], vec![0u8; 200 * 1024]] {
        let mut raw = RawEthPeer::with_status(&server, &identity).await;
        let frame = Frame::zks(0, body);
        raw.send(|s, b| {
            s.check_zks(&frame).unwrap();
            s.write_zks(&frame, b);
        })
        .await;
        let cause = timeout(
            LIMIT,
            events.find(|e| match e {
                ProtocolEvent::Closed { cause, .. } => Some(cause.clone()),
                _ => None,
            }),
        )
        .await
        .unwrap()
        .unwrap();
        closes.push(cause);
    }
    assert!(
        matches!(closes[0], CloseCause::Protocol(_)),
        "{:?}",
        closes[0]
    );
    assert!(
        matches!(&closes[1], CloseCause::Link(closed) if closed.to_string().contains("exceeds this link's cap")),
        "{:?}",
        closes[1]
    );
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let breaches: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("peer broke the protocol"))
        .collect();
    assert_eq!(breaches.len(), 2, "{text}");
    assert!(breaches.iter().all(|l| l.contains(" INFO ")), "{text}");
    assert!(!text.contains(" WARN "), "{text}");
    assert!(
        !text.contains("link failed"),
        "one line per link end: {text}"
    );
}

/// A node without a chain identity dialing one that requires `eth` (as every reth-based
/// ZKsync OS node does) is dropped as useless right after the Hello; its own log says why, at
/// WARN once per peer (then INFO), naming the peer's eth versions and what to do.
#[tokio::test]
async fn a_node_without_eth_says_once_why_an_eth_peer_drops_it() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .without_time()
        .finish();
    let _logging = tracing::subscriber::set_default(subscriber);

    let server = transport(|b| chain(270)(b).require_eth(true));
    let (_incoming, addr) = listening(&server).await;
    let plain = transport(|b| b);
    for _ in 0..3 {
        match plain.dial(&addr, VersionSet::SEED.into()).await {
            Err(TransportError::Refused { reason, .. }) => {
                assert_eq!(reason, DisconnectReason::UselessPeer);
            }
            Ok(link) => {
                let (_, _tx, mut rx) = link.split();
                let closed = timeout(LIMIT, rx.recv()).await.unwrap().unwrap_err();
                assert_eq!(
                    closed,
                    zks_api::transport::LinkClosed::ByPeer(DisconnectReason::UselessPeer)
                );
            }
            Err(other) => panic!("{other:?}"),
        }
    }
    let text = logs.text();
    let warnings: Vec<&str> = text.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 1, "{text}");
    assert!(
        warnings[0].contains(
            "the peer speaks eth and this node does not (it has no chain identity): a \
             reth-based ZKsync OS node ends the session with UselessPeer; give this node the \
             chain's identity (the zks binary: --chain-id)"
        ) && warnings[0].contains(&format!("peer={}", server.node_id()))
            && warnings[0].contains("eth=eth/69, eth/68, eth/67, eth/66"),
        "{}",
        warnings[0]
    );
    let infos = text
        .lines()
        .filter(|l| l.contains("INFO") && l.contains("the peer speaks eth and this node does not"))
        .count();
    assert_eq!(infos, 2, "{text}");
}

/// Log output, captured.
#[derive(Clone, Default)]
struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(
            &self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
        .into_owned()
    }
}
