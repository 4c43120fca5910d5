//! The libp2p `/zks/<version>` stream framing (`zks_libp2p::codec::MessageDecoder`): arbitrary bytes fed
//! in fragments, checked against a one-shot decode of the same stream.
//!
//! Input: byte 0 picks the fragment size, byte 1 the message cap (64 B, 1 KiB or the 16 MiB
//! default-sized cap, to exercise the "reserve at most 64 KiB ahead" rule) and the link's id
//! layout (zks/1, zks/3, or zks/5 + zks_2fa/1), through which every decoded frame is routed; the
//! rest is the stream.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use zks_libp2p::codec::{FrameError, MAX_ZKS_ID, Message, MessageDecoder, StreamIds};
use zks_wire::{LinkCaps, Protocol, TwoFaVersion, ZksVersion};

const RESERVE_STEP: usize = 64 * 1024;

/// Every message of `stream` decoded from one buffer, and how the stream ended.
fn one_shot(decoder: &MessageDecoder, stream: &[u8]) -> (Vec<Message>, Option<FrameError>) {
    let mut src = BytesMut::from(stream);
    let mut out = Vec::new();
    loop {
        match decoder.decode(&mut src) {
            Ok(Some(m)) => out.push(m),
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [chunk, cap, stream @ ..] = data else {
        return;
    };
    let chunk = usize::from(*chunk).max(1);
    let max = match cap % 3 {
        0 => 64,
        1 => 1024,
        _ => 16 * 1024 * 1024,
    };
    let decoder = MessageDecoder::new(max);
    let (expected, expected_err) = one_shot(&decoder, stream);

    let mut src = BytesMut::new();
    let mut got = Vec::new();
    let mut err = None;
    'feed: for piece in stream.chunks(chunk) {
        src.extend_from_slice(piece);
        loop {
            let len = src.len();
            match decoder.decode(&mut src) {
                Ok(Some(m)) => {
                    match &m {
                        Message::Zks(frame) => {
                            assert!(frame.id <= MAX_ZKS_ID);
                            assert!(frame.body.len() <= max);
                        }
                        Message::Ready | Message::Close(_) => {}
                    }
                    got.push(m);
                }
                Ok(None) => {
                    // Waiting for more: what is reserved stays within a step of what arrived
                    // (BytesMut may double its own allocation, never reach a declared 16 MiB).
                    assert_eq!(src.len(), len);
                    assert!(
                        src.capacity() <= 2 * (stream.len() + RESERVE_STEP) + RESERVE_STEP,
                        "reserved {} bytes for {len} buffered",
                        src.capacity()
                    );
                    break;
                }
                Err(e) => {
                    err = Some(e);
                    break 'feed;
                }
            }
        }
    }
    // Fragmentation never changes what the stream means.
    assert_eq!(got, expected);
    assert_eq!(err, expected_err);

    // Routing: a stream id inside the layout is tagged with one protocol and maps back to the
    // same id; anything past it is refused.
    let ids = StreamIds::new(match cap / 3 % 3 {
        0 => LinkCaps::zks(ZksVersion::V1),
        1 => LinkCaps::zks(ZksVersion::V3),
        _ => LinkCaps {
            zks: ZksVersion::V5,
            zks_2fa: Some(TwoFaVersion::V1),
        },
    });
    for m in &got {
        let Message::Zks(frame) = m else { continue };
        match ids.inbound(frame.id, frame.body.clone()) {
            Ok(tagged) => {
                assert!(frame.id < ids.end());
                assert!(tagged.protocol == Protocol::Zks || ids.caps().zks_2fa.is_some());
                assert_eq!(ids.outbound(&tagged), Ok(frame.id));
                assert_eq!(tagged.body, frame.body);
            }
            Err(e) => {
                assert_eq!(e, FrameError::UnknownId(frame.id));
                assert!(frame.id >= ids.end());
            }
        }
    }
});
