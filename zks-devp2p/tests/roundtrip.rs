//! Sans-IO round trips: in-memory handshakes, frames of every interesting size both ways,
//! tamper detection, and 1-byte feeding.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::BytesMut;
use common::noise;
use zks_api::wire::{Frame, VersionSet, ZksVersion};
use zks_devp2p::caps;
use zks_devp2p::p2p::{P2pEvent, P2pSession};
use zks_devp2p::rlpx::{FrameCodec, Initiator, MAX_FRAME_DATA, Recipient};
use zks_devp2p::{FrameError, NodeKey, P2pError};

/// Runs a handshake in memory (optionally one byte at a time) and returns (initiator,
/// recipient) codecs.
fn pair(one_byte: bool) -> (FrameCodec, FrameCodec, NodeKey, NodeKey) {
    let a = NodeKey::generate();
    let b = NodeKey::generate();
    let mut init = Initiator::new(&a, b.id()).unwrap();
    let mut resp = Recipient::new(&b);
    let feed = |bytes: &[u8], step: &mut dyn FnMut(&mut BytesMut) -> bool| {
        let mut buf = BytesMut::new();
        if one_byte {
            for (i, byte) in bytes.iter().enumerate() {
                buf.extend_from_slice(&[*byte]);
                if step(&mut buf) {
                    assert_eq!(i, bytes.len() - 1, "completed early");
                    return;
                }
            }
            panic!("never completed");
        } else {
            buf.extend_from_slice(bytes);
            assert!(step(&mut buf));
        }
    };
    let mut accepted = None;
    feed(init.auth_packet(), &mut |buf| {
        accepted = resp.read_auth(buf).unwrap();
        accepted.is_some()
    });
    let accepted = accepted.unwrap();
    let mut secrets = None;
    feed(&accepted.ack_packet, &mut |buf| {
        secrets = init.read_ack(buf).unwrap();
        secrets.is_some()
    });
    let sa = secrets.unwrap();
    assert_eq!(sa.remote_id, b.id());
    assert_eq!(accepted.secrets.remote_id, a.id());
    (
        FrameCodec::new(&sa, MAX_FRAME_DATA),
        FrameCodec::new(&accepted.secrets, MAX_FRAME_DATA),
        a,
        b,
    )
}

fn send(from: &mut FrameCodec, to: &mut FrameCodec, data: &[u8]) {
    let mut wire = BytesMut::new();
    from.encoder.encode(data, &mut wire).unwrap();
    let got = to.decoder.decode(&mut wire).unwrap().unwrap();
    assert!(wire.is_empty());
    assert_eq!(got.len(), data.len());
    assert!(
        got[..] == data[..],
        "payload of {} bytes differs",
        data.len()
    );
}

#[test]
fn frames_of_every_size_both_ways() {
    let (mut a, mut b, _, _) = pair(false);
    for (i, len) in [1usize, 15, 16, 17, 64 * 1024, MAX_FRAME_DATA]
        .into_iter()
        .enumerate()
    {
        let data = noise(len, i as u64 + 7);
        send(&mut a, &mut b, &data);
        send(&mut b, &mut a, &data);
    }
    // Empty frames do not exist, and 16 MiB does not fit the 24-bit size field.
    let mut out = BytesMut::new();
    assert_eq!(a.encoder.encode(&[], &mut out), Err(FrameError::Empty));
    assert_eq!(
        a.encoder.encode(&vec![0u8; MAX_FRAME_DATA + 1], &mut out),
        Err(FrameError::TooLarge {
            got: 1 << 24,
            max: MAX_FRAME_DATA
        })
    );
    assert!(out.is_empty());
    // The streams are still in sync after the refused frames.
    send(&mut a, &mut b, b"still in sync");
}

#[test]
fn one_byte_at_a_time() {
    let (mut a, mut b, _, _) = pair(true);
    let mut wire = BytesMut::new();
    let messages: Vec<Vec<u8>> = [1usize, 15, 16, 17, 300]
        .iter()
        .map(|n| noise(*n, *n as u64))
        .collect();
    for m in &messages {
        a.encoder.encode(m, &mut wire).unwrap();
    }
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for byte in &wire {
        buf.extend_from_slice(&[*byte]);
        while let Some(frame) = b.decoder.decode(&mut buf).unwrap() {
            got.push(frame.to_vec());
        }
    }
    assert_eq!(got, messages);
}

#[test]
fn flipped_bits_are_detected() {
    // Offsets into a frame of 20 data bytes: header-ct, header-mac, body-ct, frame-mac.
    let cases = [
        (0usize, FrameError::HeaderMacMismatch),
        (5, FrameError::HeaderMacMismatch),
        (16, FrameError::HeaderMacMismatch),
        (31, FrameError::HeaderMacMismatch),
        (32, FrameError::BodyMacMismatch),
        (63, FrameError::BodyMacMismatch),
        (64, FrameError::BodyMacMismatch),
        (79, FrameError::BodyMacMismatch),
    ];
    for (offset, expected) in cases {
        for bit in [0u8, 7] {
            let (mut a, mut b, _, _) = pair(false);
            let mut wire = BytesMut::new();
            a.encoder.encode(&noise(20, 3), &mut wire).unwrap();
            assert_eq!(wire.len(), 80);
            wire[offset] ^= 1 << bit;
            assert_eq!(
                b.decoder.decode(&mut wire),
                Err(expected.clone()),
                "offset {offset}"
            );
        }
    }
}

#[test]
fn oversized_header_is_rejected_before_allocating() {
    let (mut a, mut b, _, _) = pair(false);
    b.decoder.set_max_frame_size(2048);
    let mut wire = BytesMut::new();
    a.encoder.encode(&noise(4096, 1), &mut wire).unwrap();
    let mut header_only = wire.split_to(32);
    assert_eq!(
        b.decoder.decode(&mut header_only),
        Err(FrameError::TooLarge {
            got: 4096,
            max: 2048
        })
    );
    assert!(header_only.capacity() < 4096);
}

fn sessions(a: &NodeKey, b: &NodeKey, va: VersionSet, vb: VersionSet) -> (P2pSession, P2pSession) {
    let ca = caps::zks_capabilities(va);
    let cb = caps::zks_capabilities(vb);
    (
        P2pSession::new(P2pSession::hello_for(a.id(), "a", &ca, 0), ca, b.id()),
        P2pSession::new(P2pSession::hello_for(b.id(), "b", &cb, 0), cb, a.id()),
    )
}

fn exchange(
    from: (&mut FrameCodec, &mut P2pSession),
    to: (&mut FrameCodec, &mut P2pSession),
    write: impl FnOnce(&mut P2pSession, &mut BytesMut),
) -> Result<P2pEvent, P2pError> {
    let mut wire = BytesMut::new();
    let (codec, session) = from;
    codec
        .encoder
        .encode_with(&mut wire, |buf| write(session, buf))
        .unwrap();
    let data = to.0.decoder.decode(&mut wire).unwrap().unwrap();
    to.1.handle(&data)
}

#[test]
fn zks_messages_of_every_size_through_the_whole_stack() {
    let (mut ca, mut cb, ka, kb) = pair(false);
    let (mut sa, mut sb) = sessions(&ka, &kb, VersionSet::SEED, VersionSet::SEED);
    assert_eq!(
        exchange((&mut ca, &mut sa), (&mut cb, &mut sb), |s, b| s
            .write_hello(b)),
        Ok(P2pEvent::Hello)
    );
    assert_eq!(
        exchange((&mut cb, &mut sb), (&mut ca, &mut sa), |s, b| s
            .write_hello(b)),
        Ok(P2pEvent::Hello)
    );
    assert_eq!(sa.zks_version(), Some(ZksVersion::V3));
    let max = zks_api::wire::limits::MAX_MESSAGE_BYTES - 1;
    for (i, len) in [0usize, 1, 15, 16, 17, 64 * 1024, max]
        .into_iter()
        .enumerate()
    {
        // Random bodies up to 64 KiB; the largest one is compressible (an incompressible
        // 16 MiB body grows past the 24-bit frame size under Snappy, see below).
        let body = if len == max {
            vec![0xab; len]
        } else {
            noise(len, i as u64)
        };
        let frame = Frame::zks((i % 7) as u8, body);
        sa.check_zks(&frame).unwrap();
        let got = exchange((&mut ca, &mut sa), (&mut cb, &mut sb), |s, b| {
            s.write_zks(&frame, b)
        });
        assert_eq!(got, Ok(P2pEvent::Zks(frame.clone())), "{len} bytes a→b");
        let got = exchange((&mut cb, &mut sb), (&mut ca, &mut sa), |s, b| {
            s.write_zks(&frame, b)
        });
        assert_eq!(got, Ok(P2pEvent::Zks(frame)), "{len} bytes b→a");
    }
    // An incompressible body just under 16 MiB passes the message check but its compressed
    // frame does not fit the 24-bit size: the frame layer refuses it, writing nothing.
    let incompressible = Frame::zks(1, noise(max, 9));
    sa.check_zks(&incompressible).unwrap();
    let mut wire = BytesMut::new();
    assert!(matches!(
        ca.encoder
            .encode_with(&mut wire, |b| sa.write_zks(&incompressible, b)),
        Err(FrameError::TooLarge {
            max: MAX_FRAME_DATA,
            ..
        })
    ));
    assert!(wire.is_empty());
    let too_big = Frame::zks(0, vec![0u8; max + 1]);
    assert_eq!(
        sa.check_zks(&too_big),
        Err(P2pError::OutgoingTooLarge { got: max + 1, max })
    );
    let bad_id = Frame::zks(7, zks_api::Bytes::new());
    assert_eq!(
        sa.check_zks(&bad_id),
        Err(P2pError::OutgoingIdOutOfRange {
            id: 7,
            version: ZksVersion::V3
        })
    );
    assert_eq!(
        exchange((&mut ca, &mut sa), (&mut cb, &mut sb), |s, b| s
            .write_ping(b)),
        Ok(P2pEvent::Ping)
    );
    assert_eq!(
        exchange((&mut cb, &mut sb), (&mut ca, &mut sa), |s, b| s
            .write_pong(b)),
        Ok(P2pEvent::Pong)
    );
}

/// A body compressed once for many links (`compress` + `write_zks_compressed`) is written byte
/// for byte as `write_zks` writes it, on both sides of the 64 KiB wide-window threshold, and
/// opens to the same frame.
#[test]
fn a_shared_compression_writes_what_write_zks_writes() {
    let (mut ca, mut cb, ka, kb) = pair(false);
    let (mut sa, mut sb) = sessions(&ka, &kb, VersionSet::SEED, VersionSet::SEED);
    exchange((&mut ca, &mut sa), (&mut cb, &mut sb), |s, b| {
        s.write_hello(b)
    })
    .unwrap();
    exchange((&mut cb, &mut sb), (&mut ca, &mut sa), |s, b| {
        s.write_hello(b)
    })
    .unwrap();
    assert!(sa.compresses());
    for (i, len) in [1usize, 256, 16 * 1024, 64 * 1024, 64 * 1024 + 1, 300_000]
        .into_iter()
        .enumerate()
    {
        // Half noise, half a repeated run: both literal and copy elements.
        let mut body = noise(len / 2, i as u64);
        body.resize(len, 0x5a);
        let frame = Frame::zks(1, body.clone());
        let mut own = BytesMut::new();
        sa.write_zks(&frame, &mut own);
        let compressed = sa.compress(&body);
        let mut shared = BytesMut::new();
        sa.write_zks_compressed(&frame, &compressed, &mut shared);
        assert_eq!(shared, own, "{len} bytes");
        let got = exchange((&mut ca, &mut sa), (&mut cb, &mut sb), |s, b| {
            s.write_zks_compressed(&frame, &compressed, b)
        });
        assert_eq!(got, Ok(P2pEvent::Zks(frame)), "{len} bytes");
    }
}

#[test]
fn session_rules() {
    let (mut ca, mut cb, ka, kb) = pair(false);
    // {3} against {1}: nothing shared.
    let (mut sa, mut sb) = sessions(&ka, &kb, ZksVersion::V3.into(), ZksVersion::V1.into());
    assert_eq!(
        exchange((&mut ca, &mut sa), (&mut cb, &mut sb), |s, b| s
            .write_hello(b)),
        Err(P2pError::NoSharedCapability)
    );
    assert_eq!(sb.remote_hello().map(|h| h.capabilities.len()), Some(1));

    // A message before Hello is a breach; a Disconnect before Hello is fine.
    let (mut ca, mut cb, ka, kb) = pair(false);
    let (mut sa, mut sb) = sessions(&ka, &kb, VersionSet::SEED, VersionSet::SEED);
    assert_eq!(
        exchange((&mut ca, &mut sa), (&mut cb, &mut sb), |s, b| s
            .write_ping(b)),
        Err(P2pError::ExpectedHello { got: 2 })
    );
    assert_eq!(
        exchange((&mut ca, &mut sa), (&mut cb, &mut sb), |s, b| {
            s.write_disconnect(zks_api::DisconnectReason::TooManyPeers, b)
        }),
        Ok(P2pEvent::Disconnect(zks_devp2p::p2p::PeerReason::Known(
            zks_api::DisconnectReason::TooManyPeers
        )))
    );

    // A Hello whose node id is not the handshake key.
    let (mut ca, mut cb, ka, kb) = pair(false);
    let other = NodeKey::generate();
    let (mut sa, _) = sessions(&other, &kb, VersionSet::SEED, VersionSet::SEED);
    let (_, mut sb) = sessions(&ka, &kb, VersionSet::SEED, VersionSet::SEED);
    assert_eq!(
        exchange((&mut ca, &mut sa), (&mut cb, &mut sb), |s, b| s
            .write_hello(b)),
        Err(P2pError::UnexpectedIdentity)
    );
}
