//! RLPx: the ECIES handshake ([`ecies`], [`handshake`]) and the frame codec ([`frame`]).
//!
//! Sans-IO: no sockets, no clocks. The crate's tokio driver (module `stream`) feeds these.

pub mod ecies;
pub mod frame;
pub mod handshake;

pub use ecies::{AckMessage, AuthMessage, PacketFormat};
pub use frame::{FrameCodec, FrameDecoder, FrameEncoder, MAX_FRAME_DATA};
pub use handshake::{Accepted, Initiator, MAC_KECCAK_BACKEND, MacSponge, Recipient, Secrets};
