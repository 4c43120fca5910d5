//! Frame decoding with a fixed session key (the EIP-8 vector session, B receiving from A),
//! fed in fragments whose sizes come from the input.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use zks_devp2p::NodeId;
use zks_devp2p::rlpx::FrameCodec;
use zks_devp2p::rlpx::handshake::derive_secrets;

#[path = "session.rs"]
mod session;

fn b_codec() -> FrameCodec {
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
    let secrets = derive_secrets(
        &eph_b,
        &eph_a,
        &arr(session::NONCE_A),
        &arr(session::NONCE_B),
        &hex::decode(session::AUTH2).expect("vector hex"),
        &hex::decode(session::ACK2).expect("vector hex"),
        false,
        NodeId(id),
    );
    FrameCodec::new(&secrets, 1 << 20)
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks the fragment size; the rest is the stream.
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let mut codec = b_codec();
    let mut buf = BytesMut::new();
    for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match codec.decoder.decode(&mut buf) {
                Ok(Some(frame)) => assert!(!frame.is_empty()),
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
