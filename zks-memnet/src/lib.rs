//! An in-memory [`Transport`](zks_api::transport::Transport) for tests and CI, with deterministic fault
//! injection.
//!
//! A [`MemNet`] is a little network of named nodes. Each node gets a [`MemTransport`]; nodes
//! listen and dial each other by name, and a dial negotiates the highest zks version both sides
//! advertise (none in common: the dial fails on both sides with
//! [`TransportError::NoCommonVersion`](zks_api::transport::TransportError::NoCommonVersion)).
//!
//! Links are bounded end to end, so backpressure is real: a sender waits once the receiver's
//! queue, the "wire" (a window of in-flight messages) and its own queue are full. Faults are
//! injected per pair of nodes:
//!
//! - [`set_latency`](MemNet::set_latency) (plus seeded jitter from [`MemnetConfig`]),
//! - [`kill`](MemNet::kill) every link between two nodes,
//! - [`partition`](MemNet::partition) and [`heal`](MemNet::heal) (kill, and refuse new dials),
//! - [`stall`](MemNet::stall) (stop delivering without closing) and [`unstall`](MemNet::unstall).
//!
//! Everything runs on tokio time and a seeded RNG: under `#[tokio::test(start_paused = true)]`
//! a scenario replays identically.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use zks_api::transport::Transport;
//! use zks_api::wire::{Frame, VersionSet, ZksVersion};
//! use zks_memnet::MemNet;
//!
//! let net = MemNet::new();
//! let (mn, en) = (net.node("mn"), net.node("en"));
//! let mut incoming = mn.listen(VersionSet::ALL.into()).await.unwrap();
//! let en_side = en.dial(&"mn".into(), VersionSet::from([ZksVersion::V1, ZksVersion::V2]).into()).await.unwrap();
//! let mn_side = incoming.next().await.unwrap().unwrap();
//! assert_eq!(en_side.info().caps.zks, ZksVersion::V2);
//!
//! let (_, tx, _rx) = en_side.split();
//! let (_, _tx, mut rx) = mn_side.split();
//! tx.send(Frame::zks(0, vec![0xc0])).await.unwrap();
//! assert_eq!(rx.recv().await.unwrap().id, 0);
//! # }
//! ```

mod link;
mod net;

pub use net::{MemNet, MemTransport, MemnetConfig};
