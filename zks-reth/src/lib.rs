//! zks inside a reth node: a [`zks_api::transport::Transport`] over reth's RLPx subprotocol
//! hooks (`ProtocolHandler` / `ConnectionHandler` / `IntoRlpxSubProtocol` /
//! `ProtocolConnection`), for reth v2.5.0.
//!
//! A node team that runs reth's `NetworkManager` registers [`RethTransport::sub_protocols`]
//! with it, [`attach`](RethTransport::attach)es its `NetworkHandle`, and hands the transport to
//! `zks_api::Node::builder`: one port, one node key, eth done by reth, our engine (main node,
//! external node, relay, verifier) on top. [`chain`] builds such a network for a ZKsync OS
//! chain (upstream's genesis, fork id and Status).
//!
//! # One link, two subprotocols
//!
//! The seam's link carries zks and, where both sides offer it, `zks_2fa/1` beside it. reth hands
//! out one connection per subprotocol and session; they are joined per session (see
//! [`session`]): the first of our handlers reth asks for a session opens a slot, the others join
//! it, and reth's `SessionEstablished` event for that peer and address turns the slot into a
//! link. Frames keep their order per subprotocol both ways, and across subprotocols on the way
//! out; on the way in reth delivers each subprotocol on its own channel, so the relative order
//! of a zks and a `zks_2fa` message that arrive close together is not kept.
//!
//! # Bounds
//!
//! reth queues inbound subprotocol messages without bound (`ProtocolConnection` is an unbounded
//! channel filled as the session reads the socket; reth cannot be told to stop reading one
//! subprotocol). Each link has a budget of bytes and messages
//! ([`RethTransportConfig::max_inbound_bytes`]) held between reth and the engine's bounded
//! queue, counted as our stream drains reth's channel (each turn of reth's session loop); past
//! it the link is closed. Outbound, reth pulls from our stream only while its bounded write
//! buffer has room, and our stream from a queue of
//! [`link_capacity`](RethTransportConfig::link_capacity) frames: backpressure reaches the
//! engine. Dials in progress and accepted links waiting are bounded too.
//!
//! # Closing
//!
//! A link closed by the engine (or by us) disconnects the reth session with our reason
//! (`Peers::disconnect_peer_with_reason`): the whole RLPx session, eth included, as on
//! zks-devp2p. A session reth ends reports the peer's Disconnect reason through reth's
//! `SessionClosed` event ([`zks_api::transport::LinkClosed::ByPeer`]); without one the link
//! ends as `Dropped`.

pub mod chain;
mod config;
pub mod session;
mod transport;

pub use chain::{ZksyncOsNetwork, start_zksync_os_network, zksync_os_chain_spec};
pub use config::RethTransportConfig;
pub use session::ZksConnection;
pub use transport::{RethTransport, ZksConnectionHandler, peer_id};

/// reth's crates this transport is built against (v2.5.0), for node teams that need the same
/// types.
pub mod reth {
    pub use reth_chainspec as chainspec;
    pub use reth_eth_wire as eth_wire;
    pub use reth_network as network;
    pub use reth_network_api as network_api;
    pub use reth_network_peers as network_peers;
}
