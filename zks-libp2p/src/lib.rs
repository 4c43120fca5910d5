//! zks over libp2p: a [`zks_api::transport::Transport`] on TCP + noise + yamux, with one long-lived
//! `/zks/<version>` (or `/zks/<version>+zks_2fa/<version>`) stream per link.
//!
//! The alternative to `zks-devp2p` for node teams that already run libp2p. Switching is one
//! line in the node builder: `Node::builder(Arc::new(Libp2pTransport::new(config)?))`.
//!
//! - **Identity**: an ed25519 or secp256k1 [`Keypair`](libp2p::identity::Keypair), loaded from
//!   a file with [`key::read_keypair_file`] (hex of the libp2p protobuf encoding). A peer's
//!   [`zks_api::PeerId`] is its libp2p peer id bytes ([`addr::to_zks_peer`]).
//! - **Addresses**: multiaddrs ending in `/p2p/<peer id>`, e.g.
//!   `/ip4/127.0.0.1/tcp/30304/p2p/12D3KooW...`.
//! - **Versions** are negotiated through the stream protocol names `/zks/5`, `/zks/4`, …,
//!   `/zks/1` (highest common wins); see [`transport`] for the setup steps.
//! - **`zks_2fa`** (batch verification beside zks/5) is carried too. Upstream only runs devp2p,
//!   so this layout is ours, chosen to mirror RLPx:
//!   - *Negotiation* is in the same protocol name: a node that speaks `zks_2fa/1` also
//!     accepts `/zks/<v>+zks_2fa/1` for each of its versions, and a dialer that speaks it asks
//!     for `/zks/<v>+zks_2fa/1` before `/zks/<v>`, version by version. The first name accepted
//!     is exactly what [`Capabilities::negotiate`](zks_api::wire::Capabilities::negotiate)
//!     gives: the highest common zks version, with `zks_2fa` when both sides speak it. One
//!     stream stays one link (one ordered queue, one backpressure path, one close reason), and
//!     nothing is negotiated after the link is up. The cost is one more round of multistream
//!     selection per version when the listener lacks `zks_2fa`.
//!   - *Ids*: `zks_2fa`'s messages travel on the same stream at the ids right after the zks
//!     version's, as RLPx offsets capabilities: on `/zks/5+zks_2fa/1`, zks/5 is `0x00..=0x01`
//!     and zks_2fa/1 `0x02..=0x06` ([`codec::StreamIds`]). Frames reach the engine tagged with
//!     their protocol and relative id; an id past the negotiated ranges ends the link as a
//!     protocol breach, and a frame of a protocol the link does not carry is refused (the link
//!     closes with `SubprotocolError`) rather than written.
//! - **Framing**: `u32 BE length || id || body`, capped at 16 MiB like every transport, checked
//!   before allocating; see [`codec`].
//! - **Backpressure** is real: nothing is buffered beyond the link's bounded queues, one
//!   encoded-bytes high-water mark, and yamux's bounded stream windows; see [`link`].
//! - **Caps**: at most `max_connections` inbound connections (trusted peers exempt). Links are
//!   admitted by the node's active-link cap, which refuses the rest with a `TooManyPeers` close
//!   message; the transport itself hands every link to the node.
//!
//! No feature flags. QUIC is not offered (TCP only).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use zks_api::{MemoryReplayStore, Node, PeerAddr};
//! use zks_libp2p::{Libp2pConfig, Libp2pTransport, key};
//!
//! let config = Libp2pConfig::builder(key::read_keypair_file("node.key")?)
//!     .listen_addr("/ip4/0.0.0.0/tcp/30304".parse()?)
//!     .build()?;
//! let transport = Arc::new(Libp2pTransport::new(config)?);
//! let sink = Arc::new(MemoryReplayStore::new());
//! let node = Node::builder(transport)
//!     .external_node(sink)
//!     .trusted_main_node(PeerAddr::new("/ip4/10.0.0.1/tcp/30304/p2p/12D3KooW..."))
//!     .start()
//!     .await?;
//! # drop(node); Ok(()) }
//! ```

pub mod addr;
pub mod codec;
mod config;
mod error;
pub mod key;
pub mod link;
mod swarm;
pub mod transport;

pub use config::{
    CLOSE_GRACE, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_LINK_CAPACITY,
    DEFAULT_LISTEN_ADDR, DEFAULT_MAX_CONNECTIONS, Libp2pConfig, Libp2pConfigBuilder,
};
pub use error::Error;
pub use libp2p;
pub use transport::Libp2pTransport;
