//! The p2p Hello's node id and the ECIES identity, over 127.0.0.1 against a raw RLPx peer.
//!
//! reth v2.5.0 checks on every session that the Hello `id` is the key the ECIES handshake
//! authenticated, and ends a session whose Hello claims another with Disconnect `0x09`
//! (`UnexpectedIdentity`). So: the Hello we put on the wire must carry exactly our ECIES key,
//! on sessions we dial and on sessions we accept; and we refuse a peer whose Hello differs from
//! its ECIES key the same way, whichever side dialed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::raw_peer::RawPeer;
use tokio::net::TcpListener;
use tokio::time::timeout;
use zks_api::transport::{Incoming, Link, Transport, TransportError};
use zks_api::wire::{Capabilities, TwoFaVersion, VersionSet, ZksVersion};
use zks_api::{DisconnectReason, MemoryReplayStore, Node, PeerAddr, ProtocolEvent};
use zks_devp2p::caps::{self, Capability, LocalCapability};
use zks_devp2p::eth::{ChainIdentity, EthVersion};
use zks_devp2p::p2p::{self, Hello, P2pEvent, PeerReason};
use zks_devp2p::{Devp2pConfig, Devp2pTransport, Enode, NodeId, NodeKey};

/// A safety net so a broken test fails instead of hanging; never used to wait for events.
const LIMIT: Duration = Duration::from_secs(20);

/// What upstream nodes advertise besides `eth`.
const UPSTREAM: Capabilities = Capabilities {
    zks: VersionSet::only(ZksVersion::V5),
    zks_2fa: Some(TwoFaVersion::V1),
};

/// The frame-data of Disconnect `[0x09]` before Snappy is on: id `01`, then `c1 09`.
const DISCONNECT_UNEXPECTED_IDENTITY: [u8; 3] = [0x01, 0xc1, 0x09];

/// The reason a Hello with another id than the handshake's key fails with (its `Display`).
const MISMATCH: &str = "Hello node id differs from the handshake key";

fn chain() -> ChainIdentity {
    ChainIdentity::zksync_os(270)
}

/// EIP-8's static key A and its public key, from the vector file (not derived by this crate).
fn vector_key_a() -> (NodeKey, NodeId) {
    let v = common::vectors("rlpx-eip8.json");
    (
        common::node_key(&v["static_key_a"]),
        common::node_id(&v["derived"]["public_keys"]["static_pub_a"]),
    )
}

fn transport(key: NodeKey) -> Devp2pTransport {
    Devp2pTransport::new(
        Devp2pConfig::builder(key)
            .listen_addr("127.0.0.1:0".parse().unwrap())
            .client_id("identity-test")
            .chain_identity(chain())
            .build()
            .unwrap(),
    )
}

/// The raw peer's list: eth/69, zks/5, zks_2fa/1, as an upstream node's (one eth version).
fn upstream_caps() -> Vec<LocalCapability> {
    let mut list = caps::eth_capabilities(&[EthVersion::V69]);
    list.extend(caps::subprotocol_capabilities(UPSTREAM));
    list
}

/// The Hello our transport sends when it speaks `UPSTREAM`: every eth version, newest first,
/// then zks/5 and zks_2fa/1.
fn our_hello(node_id: NodeId, listen_port: u16) -> Hello {
    Hello {
        protocol_version: 5,
        client_id: "identity-test".to_owned(),
        capabilities: vec![
            Capability::new("eth", 69),
            Capability::new("eth", 68),
            Capability::new("eth", 67),
            Capability::new("eth", 66),
            Capability::new("zks", 5),
            Capability::new("zks_2fa", 1),
        ],
        listen_port: u64::from(listen_port),
        node_id,
    }
}

async fn next_link(incoming: &mut Incoming) -> Result<Link, TransportError> {
    timeout(LIMIT, incoming.next())
        .await
        .expect("incoming timed out")
        .expect("listener ended")
}

/// A loopback listener for the raw peer, and the enode our transport dials to reach it as
/// `id`.
async fn raw_listener(id: NodeId) -> (TcpListener, PeerAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let enode = Enode::new(id, Ipv4Addr::LOCALHOST.into(), port);
    (listener, PeerAddr::new(enode.to_string()))
}

/// Reads the Disconnect that must come next, checks it is exactly `0x09` (uncompressed: the
/// Hello exchange never completed) and that the connection then ends.
async fn refused_with_unexpected_identity(raw: &mut RawPeer) {
    let data = raw.next_data().await.expect("closed without a Disconnect");
    assert_eq!(data[..], DISCONNECT_UNEXPECTED_IDENTITY);
    assert_eq!(
        p2p::decode_disconnect(&data[1..]),
        PeerReason::Known(DisconnectReason::UnexpectedIdentity)
    );
    assert_eq!(DisconnectReason::UnexpectedIdentity.code(), 0x09);
    assert_eq!(raw.next_data().await, None, "the connection stays open");
}

fn assert_mismatch(error: TransportError, expected_peer: &PeerAddr) {
    match error {
        TransportError::Handshake { peer, reason } => {
            assert_eq!(&peer, expected_peer);
            assert_eq!(&*reason, MISMATCH);
        }
        other => panic!("expected Handshake, got {other:?}"),
    }
}

/// A session we accept: the raw peer encrypts its auth to the id in our enode (EIP-8's key A)
/// and the handshake completes, so key A is our ECIES identity. The Hello we send is exactly
/// ours, its id that same public key, and the session then comes up.
#[tokio::test]
async fn our_hello_carries_our_ecies_key_on_a_session_we_accept() {
    let (key, expected_id) = vector_key_a();
    let server = transport(key);
    let mut incoming = server.listen(UPSTREAM).await.unwrap();
    let addr = server.local_addr().unwrap();
    let mut raw = RawPeer::dial_with(addr, expected_id, NodeKey::generate(), upstream_caps()).await;
    raw.send_hello().await;
    let (hello, data) = raw.read_hello().await;
    assert_eq!(hello, our_hello(expected_id, addr.port()));
    assert_eq!(
        hello.node_id, raw.remote_id,
        "the id the handshake authenticated"
    );

    assert_eq!(raw.session.handle(&data), Ok(P2pEvent::Hello));
    raw.exchange_status(&chain(), EthVersion::V69).await;
    let link = next_link(&mut incoming).await.unwrap();
    assert_eq!(link.info().peer, raw.key.id().to_peer_id());
    assert_eq!(link.info().caps.zks_2fa, Some(TwoFaVersion::V1));
}

/// A session we dial: the raw peer recovers our ECIES identity from the signature in our auth
/// packet. It is EIP-8's public key A, and the Hello we send carries exactly it (listen port 0:
/// this transport does not listen).
#[tokio::test]
async fn our_hello_carries_our_ecies_key_on_a_session_we_dial() {
    let (key, expected_id) = vector_key_a();
    let client = transport(key);
    let raw_key = NodeKey::generate();
    let raw_id = raw_key.id();
    let (listener, addr) = raw_listener(raw_id).await;
    let dialing = {
        let (client, addr) = (client.clone(), addr.clone());
        tokio::spawn(async move { client.dial(&addr, UPSTREAM).await })
    };
    let mut raw = RawPeer::accept(&listener, raw_key, upstream_caps()).await;
    assert_eq!(
        raw.remote_id, expected_id,
        "the key our auth was signed with"
    );
    let (hello, data) = raw.read_hello().await;
    assert_eq!(hello, our_hello(expected_id, 0));

    raw.send_hello().await;
    assert_eq!(raw.session.handle(&data), Ok(P2pEvent::Hello));
    raw.exchange_status(&chain(), EthVersion::V69).await;
    let link = timeout(LIMIT, dialing).await.unwrap().unwrap().unwrap();
    assert_eq!(link.info().peer, raw_id.to_peer_id());
    assert_eq!(link.info().remote_addr, addr);
}

/// A peer dials us authenticating with key A in ECIES, then says Hello as B: Disconnect `0x09`
/// right after our Hello, the connection closes, and the listener reports the failed setup
/// as `Handshake`, naming the peer by the key it authenticated with.
#[tokio::test]
async fn a_hello_unlike_the_ecies_key_is_refused_with_0x09_when_we_accept() {
    let server = transport(NodeKey::generate());
    let mut incoming = server.listen(UPSTREAM).await.unwrap();
    let key_a = NodeKey::generate();
    let id_a = key_a.id();
    let id_b = NodeKey::generate().id();
    let addr = server.local_addr().unwrap();
    let mut raw = RawPeer::dial_with(addr, server.node_id(), key_a, upstream_caps()).await;
    raw.claim_id(id_b);
    raw.send_hello().await;
    // Our Hello went out with the ack, before theirs came.
    let (hello, _) = raw.read_hello().await;
    assert_eq!(hello.node_id, server.node_id());
    refused_with_unexpected_identity(&mut raw).await;

    let raw_addr: SocketAddr = raw.tcp.local_addr().unwrap();
    let peer = PeerAddr::new(Enode::new(id_a, raw_addr.ip(), raw_addr.port()).to_string());
    assert_mismatch(next_link(&mut incoming).await.unwrap_err(), &peer);
}

/// We dial a peer that proves key A in ECIES (it decrypts our auth), then says Hello as B:
/// Disconnect `0x09` after its Hello, the connection closes, and the dial fails with
/// `Handshake` for the address dialed.
#[tokio::test]
async fn a_hello_unlike_the_ecies_key_is_refused_with_0x09_when_we_dial() {
    let client = transport(NodeKey::generate());
    let key_a = NodeKey::generate();
    let id_b = NodeKey::generate().id();
    let (listener, addr) = raw_listener(key_a.id()).await;
    let dialing = {
        let (client, addr) = (client.clone(), addr.clone());
        tokio::spawn(async move { client.dial(&addr, UPSTREAM).await })
    };
    let mut raw = RawPeer::accept(&listener, key_a, upstream_caps()).await;
    raw.claim_id(id_b);
    let (hello, _) = raw.read_hello().await;
    assert_eq!(hello.node_id, client.node_id());
    raw.send_hello().await;
    refused_with_unexpected_identity(&mut raw).await;

    let result = timeout(LIMIT, dialing).await.unwrap().unwrap();
    assert_mismatch(result.map(|_| ()).unwrap_err(), &addr);
}

/// The same refusal seen from a main node: the failed setup is an `IncomingFailed` event with
/// the transport's `Handshake` error, and no link or session is left.
#[tokio::test]
async fn a_main_node_reports_the_refused_identity_as_an_incoming_failure() {
    let transport = transport(NodeKey::generate());
    let mn = Node::builder(transport.clone())
        .capabilities(UPSTREAM)
        .main_node(std::sync::Arc::new(MemoryReplayStore::new()))
        .start()
        .await
        .unwrap();
    let mut events = mn.events();
    let key_a = NodeKey::generate();
    let id_a = key_a.id();
    let addr = transport.local_addr().unwrap();
    let mut raw = RawPeer::dial_with(addr, transport.node_id(), key_a, upstream_caps()).await;
    raw.claim_id(NodeKey::generate().id());
    raw.send_hello().await;
    raw.read_hello().await;
    refused_with_unexpected_identity(&mut raw).await;

    let error = timeout(
        LIMIT,
        events.find(|e| match e {
            ProtocolEvent::IncomingFailed { error } => Some(error.clone()),
            _ => None,
        }),
    )
    .await
    .unwrap()
    .unwrap();
    let raw_addr = raw.tcp.local_addr().unwrap();
    let peer = PeerAddr::new(Enode::new(id_a, raw_addr.ip(), raw_addr.port()).to_string());
    assert_mismatch(error, &peer);
    assert_eq!(mn.link_count(), 0);
    assert!(mn.sessions().is_empty());
}
