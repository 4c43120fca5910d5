//! Auth and ack decoding, both formats: the streaming readers of the handshake state machines,
//! the whole-packet decoders, and the plaintext parsers (which the ECIES tag otherwise shields).
#![no_main]

use std::sync::OnceLock;

use bytes::BytesMut;
use k256::SecretKey;
use libfuzzer_sys::fuzz_target;
use zks_devp2p::NodeKey;
use zks_devp2p::rlpx::ecies::{self, AckMessage, AuthMessage, PacketFormat};
use zks_devp2p::rlpx::{Initiator, Recipient};

#[path = "session.rs"]
mod session;

/// The vector's static key B, parsed once.
fn key() -> &'static NodeKey {
    static KEY: OnceLock<NodeKey> = OnceLock::new();
    KEY.get_or_init(|| NodeKey::from_hex(session::STATIC_KEY_B).expect("valid vector key"))
}

/// Fixed handshake randomness (the vector's ephemeral key B and nonce B): a run depends only on
/// its input, so libFuzzer sees the same coverage for the same bytes.
fn ephemeral() -> SecretKey {
    let mut k = [0u8; 32];
    hex::decode_to_slice(session::EPHEMERAL_KEY_B, &mut k).expect("vector hex");
    SecretKey::from_slice(&k).expect("vector key")
}

fn nonce() -> [u8; 32] {
    let mut n = [0u8; 32];
    hex::decode_to_slice(session::NONCE_B, &mut n).expect("vector hex");
    n
}

fn new_recipient(key: &NodeKey) -> Recipient {
    Recipient::with_randomness(key, ephemeral(), nonce(), 100, ephemeral(), [7; 16])
}

fuzz_target!(|data: &[u8]| {
    let key = key();
    // Streaming, whole buffer and in two pieces.
    let mut recipient = new_recipient(key);
    let mut buf = BytesMut::from(data);
    let _ = recipient.read_auth(&mut buf);
    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let mut recipient = new_recipient(key);
    let mut buf = BytesMut::from(&data[..split]);
    if matches!(recipient.read_auth(&mut buf), Ok(None)) {
        buf.extend_from_slice(&data[split..]);
        let _ = recipient.read_auth(&mut buf);
    }
    // Building an initiator seals an auth (several scalar multiplications), so do it only when
    // read_ack can get past its length checks: a whole EIP-8 packet (2-byte size prefix) or a
    // whole legacy ack (210 bytes) may be there.
    let size = data.get(..2).map_or(usize::MAX, |p| {
        usize::from(u16::from_be_bytes([p[0], p[1]]))
    });
    if data.len() >= 2 + size.min(ecies::LEGACY_ACK_LEN - 2)
        && let Ok(mut initiator) = Initiator::with_randomness(
            key,
            key.id(),
            ephemeral(),
            nonce(),
            100,
            &ephemeral(),
            [7; 16],
        )
    {
        let mut buf = BytesMut::from(data);
        let _ = initiator.read_ack(&mut buf);
    }
    // Whole packets.
    for format in [PacketFormat::Eip8, PacketFormat::Legacy] {
        let _ = ecies::read_auth(key.secret(), data, format);
        let _ = ecies::read_ack(key.secret(), data, format);
    }
    // Plaintext parsers and signature recovery.
    if let Ok(auth) = AuthMessage::decode_eip8(data) {
        let _ = auth.recover_ephemeral(key.secret());
    }
    if let Ok(auth) = AuthMessage::decode_legacy(data) {
        let _ = auth.recover_ephemeral(key.secret());
    }
    let _ = AckMessage::decode_eip8(data);
    let _ = AckMessage::decode_legacy(data);
});
