//! Auth and ack decoding, both formats: the streaming readers of the handshake state machines,
//! the whole-packet decoders, and the plaintext parsers (which the ECIES tag otherwise shields).
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use zks_devp2p::NodeKey;
use zks_devp2p::rlpx::ecies::{self, AckMessage, AuthMessage, PacketFormat};
use zks_devp2p::rlpx::{Initiator, Recipient};

#[path = "session.rs"]
mod session;

fn key() -> NodeKey {
    NodeKey::from_hex(session::STATIC_KEY_B).expect("valid vector key")
}

fuzz_target!(|data: &[u8]| {
    let key = key();
    // Streaming, whole buffer and in two pieces.
    let mut recipient = Recipient::new(&key);
    let mut buf = BytesMut::from(data);
    let _ = recipient.read_auth(&mut buf);
    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let mut recipient = Recipient::new(&key);
    let mut buf = BytesMut::from(&data[..split]);
    if matches!(recipient.read_auth(&mut buf), Ok(None)) {
        buf.extend_from_slice(&data[split..]);
        let _ = recipient.read_auth(&mut buf);
    }
    if let Ok(mut initiator) = Initiator::new(&key, key.id()) {
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
