//! `zks_2fa` beside zks on libp2p: negotiated through the stream protocol name
//! (`/zks/<v>+zks_2fa/1` before `/zks/<v>`), carried on the same stream at the ids after the zks
//! version's, both sides; and raw peers that check the exact stream bytes.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use common::{DEADLINE, raw_peer};

use futures::{AsyncReadExt as _, AsyncWriteExt as _, StreamExt as _};
use libp2p_stream::OpenStreamError;
use zks_api::transport::{Incoming, Link, LinkClosed, LinkReceiver, Transport};
use zks_api::wire::{
    Capabilities, Frame, LinkCaps, Protocol, TwoFaMessage, TwoFaVersion, VerifierChallenge,
    VersionSet, ZksVersion,
};
use zks_api::{DisconnectReason, PeerAddr};
use zks_libp2p::libp2p::{self, StreamProtocol};
use zks_libp2p::{Libp2pConfig, Libp2pTransport, key};

const V5_2FA: Capabilities = Capabilities {
    zks: VersionSet::only(ZksVersion::V5),
    zks_2fa: Some(TwoFaVersion::V1),
};
const V5: Capabilities = Capabilities {
    zks: VersionSet::only(ZksVersion::V5),
    zks_2fa: None,
};
const BOTH: LinkCaps = LinkCaps {
    zks: ZksVersion::V5,
    zks_2fa: Some(TwoFaVersion::V1),
};

fn node() -> Libp2pTransport {
    Libp2pTransport::new(
        Libp2pConfig::builder(key::generate_ed25519())
            .listen_addr("/ip4/127.0.0.1/tcp/0".parse().unwrap())
            .build()
            .unwrap(),
    )
    .unwrap()
}

async fn listening(transport: &Libp2pTransport, caps: Capabilities) -> (Incoming, PeerAddr) {
    let incoming = transport.listen(caps).await.unwrap();
    let addr = PeerAddr::new(transport.local_multiaddr().unwrap().to_string());
    (incoming, addr)
}

async fn next_link(incoming: &mut Incoming) -> Link {
    tokio::time::timeout(DEADLINE, incoming.next())
        .await
        .expect("an incoming link in time")
        .expect("listener alive")
        .expect("link established")
}

async fn recv(rx: &mut LinkReceiver) -> Result<Frame, LinkClosed> {
    tokio::time::timeout(DEADLINE, rx.recv())
        .await
        .expect("recv in time")
}

fn role_request() -> Frame {
    TwoFaMessage::VerifierRoleRequest.to_frame()
}

fn challenge(byte: u8) -> Frame {
    TwoFaMessage::VerifierChallenge(VerifierChallenge { nonce: [byte; 32] }).to_frame()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zks_2fa_is_negotiated_when_both_advertise_it_and_frames_keep_their_tags() {
    let mn = node();
    let (mut incoming, addr) = listening(&mn, V5_2FA).await;
    let en = node();
    let dialed = en.dial(&addr, V5_2FA).await.unwrap();
    let accepted = next_link(&mut incoming).await;
    assert_eq!(dialed.info().caps, BOTH);
    zks_api::conformance::carries_zks_and_zks_2fa(dialed, accepted).await;
}

/// The highest common zks version still wins over zks_2fa: zks/5 alone beats zks/3 with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_zks_version_is_negotiated_first() {
    let mn = node();
    let listener = Capabilities {
        zks: VersionSet::from([ZksVersion::V3, ZksVersion::V5]),
        zks_2fa: Some(TwoFaVersion::V1),
    };
    let (mut incoming, addr) = listening(&mn, listener).await;
    let dialer = Capabilities {
        zks: VersionSet::from([ZksVersion::V3, ZksVersion::V5]),
        zks_2fa: None,
    };
    let dialed = node().dial(&addr, dialer).await.unwrap();
    assert_eq!(dialed.info().caps, LinkCaps::zks(ZksVersion::V5));
    assert_eq!(
        next_link(&mut incoming).await.info().caps,
        LinkCaps::zks(ZksVersion::V5)
    );
    let dialer = Capabilities {
        zks: VersionSet::only(ZksVersion::V3),
        zks_2fa: Some(TwoFaVersion::V1),
    };
    let dialed = node().dial(&addr, dialer).await.unwrap();
    let expected = LinkCaps {
        zks: ZksVersion::V3,
        zks_2fa: Some(TwoFaVersion::V1),
    };
    assert_eq!(dialed.info().caps, expected);
    assert_eq!(next_link(&mut incoming).await.info().caps, expected);
}

/// Either side without zks_2fa: a zks-only link on both ends. A zks_2fa frame the engine sends
/// anyway never reaches the stream: the link closes with SubprotocolError, which is the first
/// thing the peer sees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_side_without_zks_2fa_gives_a_zks_only_link_that_refuses_zks_2fa_frames() {
    for (listener, dialer) in [(V5_2FA, V5), (V5, V5_2FA)] {
        let mn = node();
        let (mut incoming, addr) = listening(&mn, listener).await;
        let dialed = node().dial(&addr, dialer).await.unwrap();
        let accepted = next_link(&mut incoming).await;
        assert_eq!(dialed.info().caps, LinkCaps::zks(ZksVersion::V5));
        let offered = dialer.zks_2fa.is_some();
        zks_api::conformance::refuses_zks_2fa_on_a_zks_only_link(dialed, accepted, offered).await;
    }
}

async fn read_exactly(stream: &mut libp2p::Stream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    tokio::time::timeout(DEADLINE, stream.read_exact(&mut buf))
        .await
        .expect("bytes in time")
        .unwrap();
    buf
}

const READY: [u8; 5] = [0, 0, 0, 1, 0xfe];

/// The transport answers what was just written with a ProtocolBreach close, on the stream and
/// to the engine.
async fn ends_in_a_breach(stream: &mut libp2p::Stream, rx: &mut LinkReceiver) {
    let breach = [0, 0, 0, 2, 0xff, DisconnectReason::ProtocolBreach.code()];
    assert_eq!(read_exactly(stream, breach.len()).await, breach);
    assert!(matches!(
        recv(rx).await,
        Err(LinkClosed::ByTransport {
            reason: DisconnectReason::ProtocolBreach,
            ..
        })
    ));
}

/// On `/zks/5+zks_2fa/1`, zks/5 is `0x00..=0x01` and zks_2fa/1 `0x02..=0x06` on the stream;
/// `0x07` is past both and ends the link as a breach.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raw_peer_sees_zks_2fa_right_after_the_zks_ids() {
    let mn = node();
    let (mut incoming, addr) = listening(&mn, V5_2FA).await;
    let (mut control, peer) = raw_peer(&addr).await;
    let mut stream = control
        .open_stream(peer, StreamProtocol::new("/zks/5+zks_2fa/1"))
        .await
        .unwrap();
    assert_eq!(read_exactly(&mut stream, 5).await, READY);
    let link = next_link(&mut incoming).await;
    assert_eq!(link.info().caps, BOTH);
    let (_, tx, mut rx) = link.split();

    // VerifierRoleRequest at stream id 0x02, VerifyBatchResult's id at 0x06, GetBlockReplays
    // at 0x00.
    stream
        .write_all(&[
            0, 0, 0, 2, 0x02, 0xc0, 0, 0, 0, 2, 0x06, 0x80, 0, 0, 0, 2, 0x00, 0xc0,
        ])
        .await
        .unwrap();
    stream.flush().await.unwrap();
    assert_eq!(recv(&mut rx).await, Ok(role_request()));
    assert_eq!(
        recv(&mut rx).await,
        Ok(Frame::new(Protocol::Zks2fa, 4, vec![0x80]))
    );
    assert_eq!(recv(&mut rx).await, Ok(Frame::zks(0, vec![0xc0])));

    // Our VerifierChallenge goes out at 0x03, our BlockReplays at 0x01.
    tx.send(challenge(0x33)).await.unwrap();
    tx.send(Frame::zks(1, vec![0xc1, 0xc0])).await.unwrap();
    let mut expected = vec![0, 0, 0, 35, 0x03, 0xe1, 0xa0];
    expected.extend_from_slice(&[0x33; 32]);
    expected.extend_from_slice(&[0, 0, 0, 3, 0x01, 0xc1, 0xc0]);
    assert_eq!(read_exactly(&mut stream, expected.len()).await, expected);

    stream.write_all(&[0, 0, 0, 2, 0x07, 0xc0]).await.unwrap();
    stream.flush().await.unwrap();
    ends_in_a_breach(&mut stream, &mut rx).await;
}

/// A listener without zks_2fa does not accept `/zks/5+zks_2fa/1`; on its `/zks/5`, stream id
/// 0x02 is past zks/5's two ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_zks_2fa_the_combined_name_is_refused_and_its_ids_are_unknown() {
    let mn = node();
    let (mut incoming, addr) = listening(&mn, V5).await;
    let (mut control, peer) = raw_peer(&addr).await;
    let refused = control
        .open_stream(peer, StreamProtocol::new("/zks/5+zks_2fa/1"))
        .await;
    assert!(
        matches!(refused, Err(OpenStreamError::UnsupportedProtocol(_))),
        "{refused:?}"
    );
    let mut stream = control
        .open_stream(peer, StreamProtocol::new("/zks/5"))
        .await
        .unwrap();
    assert_eq!(read_exactly(&mut stream, 5).await, READY);
    let link = next_link(&mut incoming).await;
    assert_eq!(link.info().caps, LinkCaps::zks(ZksVersion::V5));
    let (_, _tx, mut rx) = link.split();
    stream.write_all(&[0, 0, 0, 2, 0x02, 0xc0]).await.unwrap();
    stream.flush().await.unwrap();
    ends_in_a_breach(&mut stream, &mut rx).await;
}

/// Our dialer, against a raw listener that speaks only `/zks/5+zks_2fa/1`: it asks for that
/// name first, and writes zks_2fa frames at stream ids 0x02.. on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_dialer_asks_for_zks_2fa_first_and_writes_its_ids() {
    let mut swarm = common::raw_swarm();
    let mut control = swarm.behaviour().new_control();
    let mut accepted = control
        .accept(StreamProtocol::new("/zks/5+zks_2fa/1"))
        .unwrap();
    swarm
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .unwrap();
    let listen_addr = loop {
        if let libp2p::swarm::SwarmEvent::NewListenAddr { address, .. } =
            swarm.select_next_some().await
        {
            break address;
        }
    };
    let raw_id = *swarm.local_peer_id();
    tokio::spawn(async move { while swarm.next().await.is_some() {} });
    let addr = PeerAddr::new(format!("{listen_addr}/p2p/{raw_id}"));

    let en = node();
    let dialing = tokio::spawn({
        let addr = addr.clone();
        async move { en.dial(&addr, V5_2FA).await.map(|l| (l, en)) }
    });
    let (_, mut stream) = tokio::time::timeout(DEADLINE, accepted.next())
        .await
        .unwrap()
        .unwrap();
    stream.write_all(&READY).await.unwrap();
    stream.flush().await.unwrap();
    let (link, _en) = dialing.await.unwrap().unwrap();
    assert_eq!(link.info().caps, BOTH);
    let (_, tx, mut rx) = link.split();
    tx.send(role_request()).await.unwrap();
    tx.send(Frame::new(Protocol::Zks2fa, 2, vec![0xc1, 0x80]))
        .await
        .unwrap();
    tx.send(Frame::zks(0, vec![0xc0])).await.unwrap();
    assert_eq!(
        read_exactly(&mut stream, 19).await,
        [
            0, 0, 0, 2, 0x02, 0xc0, // VerifierRoleRequest
            0, 0, 0, 3, 0x04, 0xc1, 0x80, // zks_2fa id 2 (VerifierAuth)
            0, 0, 0, 2, 0x00, 0xc0, // GetBlockReplays
        ]
    );
    stream.write_all(&[0, 0, 0, 2, 0x03, 0xc0]).await.unwrap();
    stream.flush().await.unwrap();
    assert_eq!(
        recv(&mut rx).await,
        Ok(Frame::new(Protocol::Zks2fa, 1, vec![0xc0]))
    );
}

/// Every transport conformance check (close, drop, backpressure, the inbound size cap, both
/// subprotocols) over libp2p links. The transports live as long as the test.
#[tokio::test]
async fn passes_every_transport_conformance_check() {
    zks_api::conformance::run_all(
        |two_fa| async move {
            let caps = if two_fa { V5_2FA } else { V5 };
            let mn: &'static Libp2pTransport = Box::leak(Box::new(node()));
            let (mut incoming, addr) = listening(mn, caps).await;
            let en: &'static Libp2pTransport = Box::leak(Box::new(node()));
            let dialed = en.dial(&addr, caps).await.unwrap();
            let accepted = next_link(&mut incoming).await;
            std::mem::forget(incoming);
            (dialed, accepted)
        },
        true,
        // Held at ~50 frames of 16 KiB here: 512 leaves room and keeps the check to 8 MiB.
        512,
        std::time::Duration::from_secs(3),
    )
    .await;
}
