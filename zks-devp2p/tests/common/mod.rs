//! Shared helpers for the integration tests.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use k256::SecretKey;
use serde_json::Value;
use zks_devp2p::{NodeId, NodeKey};

/// Loads a vector file from `tests/vectors/`.
pub fn vectors(name: &str) -> Value {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// Hex string field as bytes.
pub fn hx(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))).unwrap()
}

/// Hex field as a fixed array.
pub fn arr<const N: usize>(v: &Value) -> [u8; N] {
    hx(v).try_into().unwrap()
}

/// A secret key from a hex field.
pub fn secret(v: &Value) -> SecretKey {
    SecretKey::from_slice(&hx(v)).unwrap()
}

/// A node key from a hex field.
pub fn node_key(v: &Value) -> NodeKey {
    NodeKey::from(secret(v))
}

/// A node id from a hex field.
pub fn node_id(v: &Value) -> NodeId {
    NodeId(arr(v))
}

/// Deterministic incompressible bytes (xorshift).
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Dials `addr` as a raw RLPx initiator with `key` and runs the ECIES handshake: the socket,
/// the session's frame codec, and whatever was read past the ack.
pub async fn raw_handshake(
    addr: std::net::SocketAddr,
    remote: NodeId,
    key: &NodeKey,
) -> (
    tokio::net::TcpStream,
    zks_devp2p::rlpx::FrameCodec,
    bytes::BytesMut,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut init = zks_devp2p::rlpx::Initiator::new(key, remote).unwrap();
    tcp.write_all(init.auth_packet()).await.unwrap();
    let mut buf = bytes::BytesMut::new();
    let secrets = loop {
        if let Some(s) = init.read_ack(&mut buf).unwrap() {
            break s;
        }
        assert_ne!(
            tcp.read_buf(&mut buf).await.unwrap(),
            0,
            "eof during handshake"
        );
    };
    let codec = zks_devp2p::rlpx::FrameCodec::new(&secrets, zks_devp2p::rlpx::MAX_FRAME_DATA);
    (tcp, codec, buf)
}

pub mod node_peer;
pub mod raw_peer;
pub mod v3_chain;
