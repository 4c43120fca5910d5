//! The base protocol `p2p`: Hello, Disconnect, Ping/Pong, Snappy, and the post-handshake
//! session state machine that routes messages to capabilities.
//!
//! Pure: frame-data in, events out; frame-data to send is written into caller buffers. The
//! frame layer ([`crate::rlpx::frame`]) sits below, the tokio driver above.

mod hello;
mod message;
mod session;
pub mod snappy;

pub use hello::{Hello, MAX_CAPABILITIES, MAX_HELLO_SIZE, P2P_VERSION};
pub use message::{
    DISCONNECT, HELLO, MAX_CONTROL_PAYLOAD, MAX_DECOMPRESSED, PING, PONG, PeerReason,
    decode_disconnect, decompress, disconnect_payload, put_message_id, split_message_id,
};
pub use session::{Negotiated, P2pEvent, P2pSession};
