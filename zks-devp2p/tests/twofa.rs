//! `zks_2fa/1` beside zks on RLPx: advertised after zks, negotiated only when both Hellos list
//! it, its frames tagged [`Protocol::Zks2fa`] at `zks_2fa`'s own offset, and never written when
//! the session does not carry it. Sans-IO sessions first (exact wire ids and frame-data), then
//! two transports and a raw peer over 127.0.0.1, ending with the ids nobody owns (unused p2p
//! ids, ids past the last shared capability), which end the session as reth v2.5.0 does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::raw_peer::RawPeer;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::time::timeout;
use zks_api::transport::TransportError;
use zks_api::transport::{Incoming, Link, LinkClosed, LinkReceiver, LinkSender, Transport};
use zks_api::wire::{
    Capabilities, Frame, LinkCaps, Protocol, TwoFaMessage, TwoFaVersion, VerifierChallenge,
    VersionSet, ZksVersion,
};
use zks_api::{DisconnectReason, PeerAddr};
use zks_devp2p::caps::{self, Capability, LocalCapability};
use zks_devp2p::eth::{ChainIdentity, EthVersion};
use zks_devp2p::p2p::{self, P2pEvent, P2pSession};
use zks_devp2p::{Devp2pConfig, Devp2pTransport, NodeKey, P2pError};

/// A safety net so a broken test fails instead of hanging; never used to wait for events.
const LIMIT: Duration = Duration::from_secs(20);

const V5_2FA: Capabilities = Capabilities {
    zks: VersionSet::only(ZksVersion::V5),
    zks_2fa: Some(TwoFaVersion::V1),
};
const V5: Capabilities = Capabilities {
    zks: VersionSet::only(ZksVersion::V5),
    zks_2fa: None,
};
const V3_2FA: Capabilities = Capabilities {
    zks: VersionSet::only(ZksVersion::V3),
    zks_2fa: Some(TwoFaVersion::V1),
};

/// The capability list a node advertises: `eth` versions first, then the subprotocols.
fn local(eth: &[EthVersion], caps: Capabilities) -> Vec<LocalCapability> {
    let mut list = caps::eth_capabilities(eth);
    list.extend(caps::subprotocol_capabilities(caps));
    list
}

/// Two sessions that exchanged Hellos, each advertising its own list.
fn negotiated(a: Vec<LocalCapability>, b: Vec<LocalCapability>) -> (P2pSession, P2pSession) {
    let (ka, kb) = (NodeKey::generate(), NodeKey::generate());
    let mut sa = P2pSession::new(P2pSession::hello_for(ka.id(), "a", &a, 0), a, kb.id());
    let mut sb = P2pSession::new(P2pSession::hello_for(kb.id(), "b", &b, 0), b, ka.id());
    let mut hello = BytesMut::new();
    sa.write_hello(&mut hello);
    assert_eq!(sb.handle(&hello), Ok(P2pEvent::Hello));
    hello.clear();
    sb.write_hello(&mut hello);
    assert_eq!(sa.handle(&hello), Ok(P2pEvent::Hello));
    (sa, sb)
}

/// The frame-data `from` writes for `frame` (after checking it), handled by `to`.
fn carry(from: &mut P2pSession, to: &mut P2pSession, frame: &Frame) -> (Vec<u8>, P2pEvent) {
    from.check_zks(frame).unwrap();
    let mut data = BytesMut::new();
    from.write_zks(frame, &mut data);
    let event = to.handle(&data).unwrap();
    (data.to_vec(), event)
}

/// `id || snappy([0xc0])`: the frame-data of an empty-list message (such as
/// VerifierRoleRequest) at wire id `id`, Snappy on (p2p v5 on both sides).
fn empty_list_at(id: u8) -> Vec<u8> {
    vec![id, 0x01, 0x00, 0xc0]
}

fn role_request() -> Frame {
    TwoFaMessage::VerifierRoleRequest.to_frame()
}

fn challenge(byte: u8) -> Frame {
    TwoFaMessage::VerifierChallenge(VerifierChallenge { nonce: [byte; 32] }).to_frame()
}

#[test]
fn hello_lists_zks_2fa_after_zks_after_eth() {
    let list = local(
        &[
            EthVersion::V69,
            EthVersion::V68,
            EthVersion::V67,
            EthVersion::V66,
        ],
        Capabilities {
            zks: VersionSet::CODEC,
            zks_2fa: Some(TwoFaVersion::V1),
        },
    );
    let key = NodeKey::generate();
    let hello = P2pSession::hello_for(key.id(), "x", &list, 0);
    let names: Vec<String> = hello
        .capabilities
        .iter()
        .map(|c| format!("{}/{}", c.name, c.version))
        .collect();
    assert_eq!(
        names,
        [
            "eth/69",
            "eth/68",
            "eth/67",
            "eth/66",
            "zks/1",
            "zks/2",
            "zks/3",
            "zks/4",
            "zks/5",
            "zks_2fa/1"
        ]
    );
    assert_eq!(list.last().map(|c| c.message_count), Some(5));
    // Without zks_2fa, nothing of it is listed.
    let plain = local(&[EthVersion::V68], V5);
    assert!(plain.iter().all(|c| c.cap.name != "zks_2fa"), "{plain:?}");
}

/// eth/68 has 17 ids, so zks/5 starts at 0x10 + 17 = 0x21 and takes 2 ids; zks_2fa/1 then
/// starts at 0x23 and takes 0x23..=0x27.
#[test]
fn eth68_zks5_zks2fa1_wire_ids() {
    let ours = local(&[EthVersion::V68], V5_2FA);
    let (mut a, mut b) = negotiated(ours.clone(), ours);
    let n = a.negotiated().unwrap();
    assert_eq!(n.eth, Some((EthVersion::V68, 0x10)));
    assert_eq!(n.zks, Some((ZksVersion::V5, 0x21)));
    assert_eq!(n.zks_2fa, Some((TwoFaVersion::V1, 0x23)));
    assert_eq!(n.shared.end(), 0x28);
    let both = LinkCaps {
        zks: ZksVersion::V5,
        zks_2fa: Some(TwoFaVersion::V1),
    };
    assert_eq!(a.link_caps(), Some(both));
    assert_eq!(b.link_caps(), Some(both));

    // zks/5 GetBlockReplays at 0x21, BlockReplays at 0x22.
    let get = Frame::zks(0, Bytes::from_static(&[0xc0]));
    assert_eq!(
        carry(&mut a, &mut b, &get),
        (empty_list_at(0x21), P2pEvent::Zks(get))
    );
    let replays = Frame::zks(1, Bytes::from_static(&[0xc0]));
    assert_eq!(
        carry(&mut b, &mut a, &replays),
        (empty_list_at(0x22), P2pEvent::Zks(replays))
    );
    // zks_2fa/1 VerifierRoleRequest at 0x23, tagged zks_2fa with relative id 0 on arrival.
    let (data, event) = carry(&mut a, &mut b, &role_request());
    assert_eq!(data, empty_list_at(0x23));
    assert_eq!(
        event,
        P2pEvent::Zks(Frame::new(Protocol::Zks2fa, 0, Bytes::from_static(&[0xc0])))
    );
    // Every zks_2fa id, both ways: wire id 0x23 + id, the same frame out.
    for id in 0..5u8 {
        let frame = Frame::new(Protocol::Zks2fa, id, Bytes::from_static(&[0xc0]));
        let (data, event) = carry(&mut b, &mut a, &frame);
        assert_eq!(data, empty_list_at(0x23 + id));
        assert_eq!(event, P2pEvent::Zks(frame));
    }
    // A 32-byte challenge decodes on arrival as what was sent.
    let (data, event) = carry(&mut b, &mut a, &challenge(0x5a));
    assert_eq!(data[0], 0x24);
    let P2pEvent::Zks(frame) = event else {
        panic!("{event:?}")
    };
    assert_eq!(frame, challenge(0x5a));
    assert_eq!(
        TwoFaMessage::decode(TwoFaVersion::V1, &frame),
        Ok(TwoFaMessage::VerifierChallenge(VerifierChallenge {
            nonce: [0x5a; 32]
        }))
    );

    // Past the last range: unknown, like any id outside the shared ranges.
    assert_eq!(
        a.handle(&empty_list_at(0x28)),
        Err(P2pError::UnknownMessageId { got: 0x28 })
    );
    // Ids past each version's table are refused before anything is written.
    assert_eq!(
        a.check_zks(&Frame::new(Protocol::Zks2fa, 5, Bytes::new())),
        Err(P2pError::OutgoingTwoFaIdOutOfRange {
            id: 5,
            version: TwoFaVersion::V1
        })
    );
    assert_eq!(
        a.check_zks(&Frame::zks(2, Bytes::new())),
        Err(P2pError::OutgoingIdOutOfRange {
            id: 2,
            version: ZksVersion::V5
        })
    );
    // An unchecked zks id 2 would land on zks_2fa's 0x23: it is not written at all.
    let mut data = BytesMut::new();
    a.write_zks(&Frame::zks(2, Bytes::from_static(&[0xc0])), &mut data);
    assert!(data.is_empty(), "{data:?}");
}

/// zks/3 has 7 ids: zks_2fa/1 follows it at 0x17 alone, at 0x28 after eth/68.
#[test]
fn zks3_zks2fa1_wire_ids_with_and_without_eth() {
    for (eth, zks_at, twofa_at) in [
        (&[][..], 0x10u8, 0x17u8),
        (&[EthVersion::V68][..], 0x21, 0x28),
    ] {
        let ours = local(eth, V3_2FA);
        let (mut a, mut b) = negotiated(ours.clone(), ours);
        let n = a.negotiated().unwrap();
        assert_eq!(n.zks, Some((ZksVersion::V3, u16::from(zks_at))), "{eth:?}");
        assert_eq!(
            n.zks_2fa,
            Some((TwoFaVersion::V1, u16::from(twofa_at))),
            "{eth:?}"
        );
        assert_eq!(n.shared.end(), u64::from(twofa_at) + 5);
        for id in 0..7u8 {
            let frame = Frame::zks(id, Bytes::from_static(&[0xc0]));
            let got = carry(&mut a, &mut b, &frame);
            assert_eq!(got, (empty_list_at(zks_at + id), P2pEvent::Zks(frame)));
        }
        for id in 0..5u8 {
            let frame = Frame::new(Protocol::Zks2fa, id, Bytes::from_static(&[0xc0]));
            let got = carry(&mut b, &mut a, &frame);
            assert_eq!(got, (empty_list_at(twofa_at + id), P2pEvent::Zks(frame)));
        }
    }
}

/// zks_2fa is shared only when both Hellos list it: either side without it gives a link
/// without it, whose would-be zks_2fa ids are unknown and whose zks_2fa frames are refused.
#[test]
fn zks_2fa_needs_both_sides() {
    let with = local(&[EthVersion::V68], V5_2FA);
    let without = local(&[EthVersion::V68], V5);
    for (a, b) in [(with.clone(), without.clone()), (without, with)] {
        let (mut a, mut b) = negotiated(a, b);
        for s in [&a, &b] {
            assert_eq!(s.link_caps(), Some(LinkCaps::zks(ZksVersion::V5)));
            assert_eq!(s.zks_2fa_version(), None);
            assert_eq!(s.negotiated().unwrap().shared.end(), 0x23);
        }
        assert_eq!(
            a.handle(&empty_list_at(0x23)),
            Err(P2pError::UnknownMessageId { got: 0x23 })
        );
        assert_eq!(
            b.check_zks(&role_request()),
            Err(P2pError::OutgoingNotCarried {
                protocol: Protocol::Zks2fa
            })
        );
        let mut data = BytesMut::new();
        b.write_zks(&role_request(), &mut data);
        assert!(data.is_empty(), "{data:?}");
        // zks is untouched.
        let get = Frame::zks(0, Bytes::from_static(&[0xc0]));
        assert_eq!(
            carry(&mut b, &mut a, &get),
            (empty_list_at(0x21), P2pEvent::Zks(get))
        );
    }
}

/// A peer that shares zks_2fa (and eth) but no zks version: the Hello exchange itself passes,
/// but there is no link.
#[test]
fn zks_2fa_without_zks_is_no_link() {
    let ours = local(&[EthVersion::V68], V5_2FA);
    let theirs = local(
        &[EthVersion::V68],
        Capabilities {
            zks: VersionSet::only(ZksVersion::V3),
            zks_2fa: Some(TwoFaVersion::V1),
        },
    );
    let (a, _) = negotiated(ours, theirs);
    let n = a.negotiated().unwrap();
    assert_eq!(n.zks, None);
    assert_eq!(n.zks_2fa, Some((TwoFaVersion::V1, 0x21)));
    assert_eq!(a.link_caps(), None);
    assert_eq!(
        a.check_zks(&role_request()),
        Err(P2pError::NoSharedCapability)
    );
}

// --- over sockets ---

fn transport() -> Devp2pTransport {
    Devp2pTransport::new(
        Devp2pConfig::builder(NodeKey::generate())
            .listen_addr("127.0.0.1:0".parse().unwrap())
            .client_id("zks-devp2p-test")
            .build()
            .unwrap(),
    )
}

async fn listening(caps: Capabilities) -> (Devp2pTransport, Incoming, PeerAddr) {
    let t = transport();
    let incoming = t.listen(caps).await.unwrap();
    let addr = PeerAddr::new(t.local_enode().unwrap().to_string());
    (t, incoming, addr)
}

async fn next_link(incoming: &mut Incoming) -> Result<Link, TransportError> {
    timeout(LIMIT, incoming.next())
        .await
        .expect("incoming timed out")
        .expect("listener ended")
}

async fn recv(rx: &mut LinkReceiver) -> Result<Frame, LinkClosed> {
    timeout(LIMIT, rx.recv()).await.expect("recv timed out")
}

#[tokio::test]
async fn two_transports_carry_zks_2fa_when_both_advertise_it() {
    let (_server, mut incoming, addr) = listening(V5_2FA).await;
    let client = transport();
    let dialed = client.dial(&addr, V5_2FA).await.unwrap();
    let accepted = next_link(&mut incoming).await.unwrap();
    let both = LinkCaps {
        zks: ZksVersion::V5,
        zks_2fa: Some(TwoFaVersion::V1),
    };
    assert_eq!(dialed.info().caps, both);
    zks_api::conformance::carries_zks_and_zks_2fa(dialed, accepted).await;
}

/// Either side without zks_2fa: the link carries zks only, on both ends, and refuses a zks_2fa
/// frame the engine sends anyway.
#[tokio::test]
async fn one_side_without_zks_2fa_gives_a_zks_only_link_that_refuses_zks_2fa_frames() {
    for (server_caps, client_caps) in [(V5_2FA, V5), (V5, V5_2FA)] {
        let (_server, mut incoming, addr) = listening(server_caps).await;
        let client = transport();
        let dialed = client.dial(&addr, client_caps).await.unwrap();
        let accepted = next_link(&mut incoming).await.unwrap();
        assert_eq!(dialed.info().caps, LinkCaps::zks(ZksVersion::V5));
        let offered = client_caps.zks_2fa.is_some();
        zks_api::conformance::refuses_zks_2fa_on_a_zks_only_link(dialed, accepted, offered).await;
    }
}

/// Exact wire ids over a socket against our listener (no eth): zks/5 at 0x10..=0x11,
/// zks_2fa/1 at 0x12..=0x16, both ways; 0x17 is past every range and ends the session.
#[tokio::test]
async fn a_raw_peer_sees_zks_2fa_at_its_absolute_ids() {
    let (server, mut incoming, _) = listening(V5_2FA).await;
    let mut raw = RawPeer::offering(
        server.local_addr().unwrap(),
        server.node_id(),
        &[Capability::new("zks", 5), Capability::new("zks_2fa", 1)],
    )
    .await;
    raw.send_hello().await;
    let hello = raw.next_data().await.unwrap();
    assert_eq!(raw.session.handle(&hello), Ok(P2pEvent::Hello));
    let link = next_link(&mut incoming).await.unwrap();
    assert_eq!(
        link.info().caps,
        LinkCaps {
            zks: ZksVersion::V5,
            zks_2fa: Some(TwoFaVersion::V1)
        }
    );
    let (_, tx, mut rx) = link.split();

    // VerifierRoleRequest at 0x12 arrives as zks_2fa id 0; GetBlockReplays at 0x10 as zks 0.
    raw.send_data(&empty_list_at(0x12)).await;
    raw.send_data(&empty_list_at(0x10)).await;
    assert_eq!(recv(&mut rx).await, Ok(role_request()));
    assert_eq!(recv(&mut rx).await, Ok(Frame::zks(0, vec![0xc0])));
    // Our VerifyBatchResult-id frame goes out at 0x12 + 4, our BlockReplays at 0x11.
    tx.send(Frame::new(Protocol::Zks2fa, 4, vec![0xc0]))
        .await
        .unwrap();
    tx.send(Frame::zks(1, vec![0xc0])).await.unwrap();
    assert_eq!(&raw.next_data().await.unwrap()[..], empty_list_at(0x16));
    assert_eq!(&raw.next_data().await.unwrap()[..], empty_list_at(0x11));

    // Past zks_2fa's range: a breach, never zks_2fa's id 5.
    raw.send_data(&empty_list_at(0x17)).await;
    ended_as_a_breach(&mut raw, &mut rx, 0x17).await;
}

// --- ids nobody owns (reth v2.5.0: `UnknownReservedMessageId`) ---

/// The frame-data of Disconnect `[ProtocolBreach]` once Snappy is on: id `01`, then the Snappy
/// block of `c1 02` (length `02`, a 2-byte literal `04`, the bytes).
const DISCONNECT_BREACH: [u8; 5] = [0x01, 0x02, 0x04, 0xc1, 0x02];

/// After the raw peer sent a message at `wire_id`, which no shared capability owns: the next
/// frame is exactly Disconnect `ProtocolBreach`, the connection then ends, and the engine's
/// receiver gets no frame, only the close with the transport's reason and detail.
async fn ended_as_a_breach(raw: &mut RawPeer, rx: &mut LinkReceiver, wire_id: u8) {
    let data = raw.next_data().await.expect("closed without a Disconnect");
    assert_eq!(data[..], DISCONNECT_BREACH, "id {wire_id:#04x}");
    assert_eq!(
        raw.session.handle(&data),
        Ok(P2pEvent::Disconnect(p2p::PeerReason::Known(
            DisconnectReason::ProtocolBreach
        )))
    );
    assert_eq!(raw.next_data().await, None, "id {wire_id:#04x}: still open");
    assert_eq!(
        recv(rx).await,
        Err(LinkClosed::ByTransport {
            reason: DisconnectReason::ProtocolBreach,
            detail: format!("message id {wire_id:#04x} is outside the negotiated ranges").into(),
        }),
        "id {wire_id:#04x}"
    );
}

fn chain() -> ChainIdentity {
    ChainIdentity::zksync_os(270)
}

/// A raw peer on `eth` at `eth` and `theirs` (what it offers besides), with the Hello and
/// Status exchanges done against a node of chain 270 that speaks zks/5 and zks_2fa/1; the
/// node's end of the link (its sender kept, or the link would close); and where the shared
/// ranges end.
async fn established(
    eth: EthVersion,
    theirs: Capabilities,
) -> (RawPeer, (LinkSender, LinkReceiver), u64) {
    let server = Devp2pTransport::new(
        Devp2pConfig::builder(NodeKey::generate())
            .listen_addr("127.0.0.1:0".parse().unwrap())
            .client_id("zks-devp2p-test")
            .chain_identity(chain())
            .build()
            .unwrap(),
    );
    let mut incoming = server.listen(V5_2FA).await.unwrap();
    let list: Vec<Capability> = local(&[eth], theirs).into_iter().map(|c| c.cap).collect();
    let mut raw = RawPeer::offering(server.local_addr().unwrap(), server.node_id(), &list).await;
    raw.establish_eth(&chain(), eth).await;
    let link = next_link(&mut incoming).await.unwrap();
    assert_eq!(link.info().caps.zks_2fa, theirs.zks_2fa);
    let (_, tx, rx) = link.split();
    let end = raw.session.negotiated().unwrap().shared.end();
    // The link outlives the transport's listener: it runs on its own task.
    drop(server);
    (raw, (tx, rx), end)
}

/// One past the last shared capability, on upstream's layouts (spec: eth/69 puts zks/5 at
/// 0x22 and zks_2fa/1 at 0x24..=0x28; eth/68 at 0x21 and 0x23..=0x27), and on a link without
/// zks_2fa (zks/5 is last): reth v2.3.0 routed such an id to the last capability, v2.5.0 ends
/// the session. So do we, with `ProtocolBreach` (the reason we give every breach), and the id
/// never reaches the engine as the last capability's message. 0x7f is the highest one-byte id.
#[tokio::test]
async fn an_id_past_the_last_shared_capability_ends_the_session() {
    for (eth, theirs, end) in [
        (EthVersion::V69, V5_2FA, 0x29u8),
        (EthVersion::V68, V5_2FA, 0x28),
        (EthVersion::V69, V5, 0x24),
        (EthVersion::V68, V5, 0x23),
    ] {
        let (mut raw, (_tx, mut rx), shared_end) = established(eth, theirs).await;
        assert_eq!(shared_end, u64::from(end), "{eth:?} {theirs}");
        // The last id of the last capability still goes through.
        raw.send_data(&empty_list_at(end - 1)).await;
        let last = recv(&mut rx).await.unwrap();
        let expected = match theirs.zks_2fa {
            Some(_) => Frame::new(Protocol::Zks2fa, 4, Bytes::from_static(&[0xc0])),
            None => Frame::zks(1, Bytes::from_static(&[0xc0])),
        };
        assert_eq!(last, expected, "{eth:?} {theirs}");
        raw.send_data(&empty_list_at(end)).await;
        ended_as_a_breach(&mut raw, &mut rx, end).await;
    }
    let (mut raw, (_tx, mut rx), _) = established(EthVersion::V69, V5_2FA).await;
    raw.send_data(&empty_list_at(0x7f)).await;
    ended_as_a_breach(&mut raw, &mut rx, 0x7f).await;
}

/// The ids p2p reserves but does not use, 0x04..=0x0f, each on its own live session: reth
/// ends the session (`UnknownReservedMessageId`), and so do we, with `ProtocolBreach`.
#[tokio::test]
async fn an_unused_p2p_id_ends_the_session() {
    for id in 0x04..=0x0fu8 {
        let (mut raw, (_tx, mut rx), _) = established(EthVersion::V69, V5_2FA).await;
        raw.send_data(&empty_list_at(id)).await;
        ended_as_a_breach(&mut raw, &mut rx, id).await;
    }
}

/// An id nobody owns before the peer's Status (zks messages may come first, so the node reads
/// on): the setup fails with the same breach, and the listener reports it.
#[tokio::test]
async fn an_unknown_id_before_the_status_ends_the_setup() {
    for id in [0x05u8, 0x29] {
        let server = Devp2pTransport::new(
            Devp2pConfig::builder(NodeKey::generate())
                .listen_addr("127.0.0.1:0".parse().unwrap())
                .client_id("zks-devp2p-test")
                .chain_identity(chain())
                .build()
                .unwrap(),
        );
        let mut incoming = server.listen(V5_2FA).await.unwrap();
        let list: Vec<Capability> = local(&[EthVersion::V69], V5_2FA)
            .into_iter()
            .map(|c| c.cap)
            .collect();
        let mut raw =
            RawPeer::offering(server.local_addr().unwrap(), server.node_id(), &list).await;
        raw.send_hello().await;
        assert_eq!(raw.next_event().await, Some(P2pEvent::Hello));
        assert!(matches!(
            raw.next_event().await,
            Some(P2pEvent::Eth { id: 0, .. })
        ));
        raw.send_data(&empty_list_at(id)).await;
        let data = raw.next_data().await.expect("closed without a Disconnect");
        assert_eq!(data[..], DISCONNECT_BREACH, "id {id:#04x}");
        assert_eq!(raw.next_data().await, None);
        match next_link(&mut incoming).await {
            Err(TransportError::Handshake { reason, .. }) => assert_eq!(
                &*reason,
                format!("message id {id:#04x} is outside the negotiated ranges")
            ),
            other => panic!("{other:?}"),
        }
    }
}

/// A peer that advertises zks_2fa but no zks is still useless: Disconnect 0x03 (uncompressed,
/// before Snappy is on) and `NoCommonVersion` naming what it speaks.
#[tokio::test]
async fn a_peer_with_zks_2fa_but_no_zks_is_refused() {
    let (server, mut incoming, _) = listening(V5_2FA).await;
    let mut raw = RawPeer::offering(
        server.local_addr().unwrap(),
        server.node_id(),
        &[Capability::new("zks_2fa", 1)],
    )
    .await;
    raw.send_hello().await;
    // Its Hello shares zks_2fa with ours, so the Hello exchange passes (Snappy on) …
    let hello = raw.next_data().await.unwrap();
    assert_eq!(raw.session.handle(&hello), Ok(P2pEvent::Hello));
    assert_eq!(raw.session.link_caps(), None);
    // … and then we leave: useless peer, and the connection ends.
    let disconnect = raw.next_data().await.unwrap();
    assert_eq!(
        raw.session.handle(&disconnect),
        Ok(P2pEvent::Disconnect(p2p::PeerReason::Known(
            DisconnectReason::UselessPeer
        )))
    );
    assert_eq!(raw.next_data().await, None);
    match next_link(&mut incoming).await {
        Err(TransportError::NoCommonVersion { local, remote, .. }) => {
            assert_eq!(local, VersionSet::only(ZksVersion::V5));
            assert_eq!(remote, VersionSet::EMPTY);
        }
        other => panic!("{other:?}"),
    }
}

/// The probe reports zks_2fa when both sides list it, and not when the probe does not.
#[tokio::test]
async fn probe_reports_zks_2fa() {
    let (_server, mut incoming, addr) = listening(V5_2FA).await;
    let accept = tokio::spawn(async move { while incoming.next().await.is_some() {} });
    let enode: zks_devp2p::Enode = addr.as_str().parse().unwrap();
    let config = Devp2pConfig::builder(NodeKey::generate())
        .client_id("probe-test")
        .build()
        .unwrap();
    let report = zks_devp2p::probe(&enode, &config, V5_2FA).await.unwrap();
    assert_eq!(report.zks, Some(ZksVersion::V5));
    assert_eq!(report.zks_2fa, Some(TwoFaVersion::V1));
    assert!(report.ended.is_none(), "{:?}", report.ended);
    let listed: Vec<_> = report.hello.capabilities.clone();
    assert_eq!(
        listed,
        [Capability::new("zks", 5), Capability::new("zks_2fa", 1)]
    );
    let report = zks_devp2p::probe(&enode, &config, V5).await.unwrap();
    assert_eq!(report.zks, Some(ZksVersion::V5));
    assert_eq!(report.zks_2fa, None);
    accept.abort();
}

/// Every transport conformance check (close, drop, backpressure, the inbound size cap, both
/// subprotocols) over devp2p links. The transports live as long as the test.
#[tokio::test]
async fn passes_every_transport_conformance_check() {
    zks_api::conformance::run_all(
        |two_fa| async move {
            let caps = if two_fa { V5_2FA } else { V5 };
            let (server, mut incoming, addr) = listening(caps).await;
            let client = transport();
            let dialed = client.dial(&addr, caps).await.unwrap();
            let accepted = next_link(&mut incoming).await.unwrap();
            // Kept for the rest of the test: the links outlive this closure.
            std::mem::forget((server, client, incoming));
            (dialed, accepted)
        },
        true,
        // Held at ~120 frames of 16 KiB here (queues, TCP_NOTSENT_LOWAT, the receiver's
        // untuned socket buffer): 512 leaves room and keeps the check to 8 MiB.
        512,
        Duration::from_secs(3),
    )
    .await;
}
