//! zks over devp2p: our own RLPx transport.
//!
//! reth's network crates are empty placeholders on crates.io, so this crate implements RLPx
//! from the public devp2p specification:
//!
//! - [`rlpx`]: the ECIES handshake (EIP-8 sent, EIP-8 and legacy accepted) and the frame codec,
//!   sans-IO;
//! - [`p2p`]: the base protocol (Hello, Disconnect, Ping/Pong, Snappy) as a sans-IO session;
//! - [`caps`]: capability negotiation and message-id offsets; a link carries `zks` and, when
//!   both Hellos list `zks_2fa/1` (listed after the zks versions, upstream's order), `zks_2fa`
//!   at its own offset (eth/68 + zks/5 + zks_2fa/1: `0x10`, `0x21`, `0x23`), its frames tagged
//!   [`Protocol::Zks2fa`](zks_api::wire::Protocol::Zks2fa) with relative ids. A frame of a
//!   protocol the link does not carry is refused before it is written (the link closes with
//!   `SubprotocolError`), and a peer that shares `zks_2fa` but no zks is refused as useless;
//! - [`enode`] and [`key`]: node identities, `enode://` URLs and the static key file;
//! - [`Devp2pTransport`]: the tokio driver implementing [`zks_api::transport::Transport`].
//!
//! Inbound sockets are admitted before they cost a handshake's time: at most 8 pending
//! handshakes per source address, at most 128 pending in all (a new socket evicts the oldest
//! pending one still in its ECIES handshake — the oldest of all only when every one is past it —
//! rather than being refused), a 2 s handshake deadline once more than half of
//! those are taken, and established links capped apart (256) and never evicted; see
//! [`Devp2pConfig`] for the knobs (`max_pending_per_ip`, `max_pending`,
//! `pressure_handshake_timeout`, `max_connections`).
//!
//! Only the private `transport` and `stream` modules touch sockets, clocks or spawn tasks.

mod accept;
mod admission;
pub mod caps;
mod codec;
mod compressed;
mod config;
pub mod enode;
mod error;
pub mod eth;
pub mod key;
pub mod p2p;
mod probe;
mod rlp;
pub mod rlpx;
mod sockets;
mod stream;
mod transport;

pub use config::{
    CLOSE_GRACE, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_HELLO_TIMEOUT, DEFAULT_LINK_CAPACITY,
    DEFAULT_LISTEN_ADDR, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_PENDING, DEFAULT_MAX_PENDING_PER_IP,
    DEFAULT_PING_INTERVAL, DEFAULT_PONG_TIMEOUT, DEFAULT_PRESSURE_HANDSHAKE_TIMEOUT,
    DEFAULT_STATUS_TIMEOUT, DEFAULT_TCP_NOTSENT_LOWAT, Devp2pConfig, Devp2pConfigBuilder,
    MAX_EARLY_ZKS_MESSAGES,
};
pub use enode::{Enode, NodeId};
pub use error::{EciesError, Error, FrameError, P2pError};
pub use key::{NodeKey, NodeKeyError};
pub use probe::{ProbeLink, ProbeReport, probe, probe_with};
pub use transport::Devp2pTransport;
