//! [`Node`]: the async runtime around the sans-IO engine — tasks, channels, events, and the
//! link table (every live link's state, one entry each).

mod accept;
mod backoff;
mod batch;
mod builder;
mod close;
mod config;
mod dispatch;
mod en;
mod events;
mod limits;
mod link;
mod links;
mod mn;
mod relay;
mod replay_cache;
mod sessions;
mod settings;
mod shared;
mod silence;
mod upstreams;

use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, watch};

pub use self::batch::BatchDispatch;
pub use self::builder::NodeBuilder;
pub use self::close::{CloseCause, NotServed};
pub use self::config::NodeSettings;
pub use self::dispatch::VerifierResult;
pub use self::events::{DroppedResult, EventStream, ProtocolEvent, SwitchReason};
#[allow(
    deprecated,
    reason = "the deprecation bridge: Limits stays reachable for one release"
)]
pub use self::limits::Limits;
pub use self::sessions::PeerSession;
use self::shared::{Shared, lock};
use crate::wire::VerifyBatch;
use crate::{BlockNumber, Error, PeerId, Role};

/// A running zks node: a main node serving replay, or an external node replaying from its
/// trusted main nodes.
///
/// Built with [`Node::builder`]. Dropping it stops every task (links are closed with
/// `ClientQuitting`); [`shutdown`](Self::shutdown) does the same and waits for them.
///
/// ```no_run
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use zks_api::transport::Transport;
/// use zks_api::{MemoryReplayStore, Node, PeerAddr, RawRecord};
/// # async fn transports() -> (Arc<dyn Transport>, Arc<dyn Transport>) { todo!("two zks-memnet nodes") }
/// let (mn_transport, en_transport) = transports().await; // e.g. two zks-memnet nodes
///
/// let chain = Arc::new(MemoryReplayStore::<RawRecord>::new());
/// let mn = Node::builder(mn_transport).main_node(chain.clone()).start().await?;
///
/// let replica = Arc::new(MemoryReplayStore::<RawRecord>::new());
/// let en = Node::builder(en_transport)
///     .external_node(replica.clone())
///     .trusted_main_node(PeerAddr::from("mn"))
///     .start()
///     .await?;
///
/// chain.push(RawRecord::new(0, "genesis"))?;
/// replica.wait_until(1).await; // streamed, pushed, no polling
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct Node {
    pub(super) shared: Arc<Shared>,
    pub(super) role: Role,
    pub(super) local_id: PeerId,
    pub(super) first_events: Mutex<Option<broadcast::Receiver<ProtocolEvent>>>,
    pub(super) applied: Option<watch::Receiver<BlockNumber>>,
    /// Whether a verifier authenticator was given (main node): without one no verifier can be
    /// authorized, so no batch can ever be answered.
    pub(super) authenticates: bool,
}

impl Node {
    /// Starts configuring a node on `transport`.
    pub fn builder(transport: impl crate::transport::Transport) -> NodeBuilder {
        NodeBuilder::new(Arc::new(transport))
    }

    /// Our identity on the transport.
    pub fn local_id(&self) -> &PeerId {
        &self.local_id
    }

    /// Where peers reach this node (an `enode://` URL on devp2p, a multiaddr on libp2p, a name
    /// on memnet), from its transport; `None` when the transport is not listening.
    pub fn local_addr(&self) -> Option<crate::PeerAddr> {
        self.shared.transport.local_peer_addr()
    }

    /// The role this node plays.
    pub fn role(&self) -> Role {
        self.role
    }

    /// A subscription to the node's events. The first call gets every event since the node
    /// started; later calls get events from the moment of the call. To be sure of seeing
    /// everything from the start in several places, subscribe on the builder
    /// ([`NodeBuilder::subscribe`](crate::NodeBuilder::subscribe)).
    pub fn events(&self) -> EventStream {
        let first = lock(&self.first_events).take();
        EventStream::new(first.unwrap_or_else(|| self.shared.events.subscribe()))
    }

    /// A snapshot of every live link's session.
    pub fn sessions(&self) -> Vec<PeerSession> {
        self.shared.links.sessions()
    }

    /// Free slots under the active-link cap.
    pub fn free_link_slots(&self) -> usize {
        self.shared.connection_limit.available()
    }

    /// How many links are live right now.
    pub fn link_count(&self) -> usize {
        self.shared.links.len()
    }

    /// Main node: sends `batch` to every eligible verifier (a live link with a verifier
    /// channel — `zks_2fa` beside zks/5, or in-band on zks/3–4 —, authorized, and sent replay
    /// through `batch.last_block_number`) now and to each peer that becomes eligible while the
    /// returned handle lives; results arrive through it. The caller picks `batch.request_id`
    /// (fresh per attempt: `zks-verifier`'s quorum collector does this).
    ///
    /// # Errors
    ///
    /// [`Error::WrongRole`] on an external node, [`Error::NoVerifierAuthenticator`] on a main
    /// node built without [`verifier_authenticator`](NodeBuilder::verifier_authenticator) (no
    /// verifier could ever answer), [`Error::RequestIdInUse`] when a dispatch with the same
    /// request id is open.
    pub fn dispatch(&self, batch: &VerifyBatch) -> Result<BatchDispatch, Error> {
        if self.role != Role::MainNode {
            return Err(Error::WrongRole {
                needed: Role::MainNode,
            });
        }
        if !self.authenticates {
            return Err(Error::NoVerifierAuthenticator);
        }
        let (tx, results) = tokio::sync::mpsc::channel(dispatch::RESULT_QUEUE);
        self.shared
            .links
            .open_dispatch(batch, tx)
            .map_err(Error::RequestIdInUse)?;
        // Counted before the cells are read (see `LinkTable`): offered to every live link.
        for conn in self.shared.links.conns() {
            self.shared.redispatch(conn);
        }
        Ok(BatchDispatch {
            shared: Arc::clone(&self.shared),
            request_id: batch.request_id,
            results,
        })
    }

    /// External node: a receiver of the sink's next block as of the engine's last apply.
    pub fn applied(&self) -> Option<watch::Receiver<BlockNumber>> {
        self.applied.clone()
    }

    /// Stops every task, closing links with `ClientQuitting`, and waits until they are done.
    pub async fn shutdown(self) {
        self.shared.shutdown.cancel();
        self.shared.tasks.close();
        self.shared.tasks.wait().await;
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}
