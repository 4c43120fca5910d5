//! Frame decoding with a fixed session key (the EIP-8 vector session, B receiving from A),
//! fed in fragments whose sizes come from the input.
#![no_main]

use std::sync::OnceLock;

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use zks_devp2p::NodeId;
use zks_devp2p::rlpx::FrameCodec;
use zks_devp2p::rlpx::handshake::{Secrets, derive_secrets};

#[path = "session.rs"]
mod session;

/// The session secrets, derived once (an ECDH and a few hashes per run would dominate).
fn b_secrets() -> &'static Secrets {
    static SECRETS: OnceLock<Secrets> = OnceLock::new();
    SECRETS.get_or_init(derive_b_secrets)
}

fn derive_b_secrets() -> Secrets {
    let arr = |h: &str| -> [u8; 32] {
        let mut out = [0u8; 32];
        hex::decode_to_slice(h, &mut out).expect("vector hex");
        out
    };
    let mut id = [0u8; 64];
    hex::decode_to_slice(session::EPHEMERAL_PUB_A, &mut id).expect("vector hex");
    let eph_a = NodeId(id).public_key().expect("vector key");
    hex::decode_to_slice(session::STATIC_PUB_A, &mut id).expect("vector hex");
    let eph_b = k256::SecretKey::from_slice(&arr(session::EPHEMERAL_KEY_B)).expect("vector key");
    derive_secrets(
        &eph_b,
        &eph_a,
        &arr(session::NONCE_A),
        &arr(session::NONCE_B),
        &hex::decode(session::AUTH2).expect("vector hex"),
        &hex::decode(session::ACK2).expect("vector hex"),
        false,
        NodeId(id),
    )
}

/// The largest frame-data the decoder under test accepts.
const MAX: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    // The first byte: bit 7 asks (in `--cfg fuzzing` builds) for a decoder that accepts any
    // MAC, so arbitrary headers reach the size checks and body handling behind the header
    // MAC; bits 0–6 pick the fragment size. The rest is the stream.
    let Some((&mode, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(mode & 0x7f).max(1);
    let mut codec = codec(mode & 0x80 != 0);
    let mut buf = BytesMut::new();
    for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match codec.decoder.decode(&mut buf) {
                Ok(Some(frame)) => assert!(!frame.is_empty() && frame.len() <= MAX),
                Ok(None) => {
                    // A header's declared size is checked before anything is reserved for
                    // its body: never more than the cap (padded, with its MAC) plus a piece.
                    assert!(buf.capacity() <= MAX + 32 + 2 * chunk.max(32));
                    break;
                }
                Err(_) => return,
            }
        }
    }
});

#[cfg(fuzzing)]
fn codec(unauthenticated: bool) -> FrameCodec {
    if unauthenticated {
        FrameCodec::unauthenticated(b_secrets(), MAX)
    } else {
        FrameCodec::new(b_secrets(), MAX)
    }
}

#[cfg(not(fuzzing))]
fn codec(_unauthenticated: bool) -> FrameCodec {
    FrameCodec::new(b_secrets(), MAX)
}
