//! The accept loop: every link peers open to us, admitted under the active-link cap.

use std::sync::Arc;

use super::ProtocolEvent;
use super::link::{RoleDriver, serve_link};
use super::shared::Shared;
use crate::admission::TooManyPeers;
use crate::transport::kit::RepeatSummary;
use crate::transport::{Incoming, Link};
use crate::{DisconnectReason, PeerId};

/// Serves every link peers open to us.
pub(super) async fn accept_loop(
    shared: Arc<Shared>,
    driver: Arc<dyn RoleDriver>,
    mut incoming: Incoming,
) {
    let mut refused = RepeatSummary::new(std::time::Duration::from_secs(10));
    loop {
        let next = tokio::select! {
            next = incoming.next() => next,
            () = shared.shutdown.cancelled() => return,
        };
        match next {
            Some(Ok(link)) => {
                let peer = link.info().peer.clone();
                match shared.connection_limit.try_admit(&peer) {
                    Ok(permit) => {
                        let serve = serve_link(Arc::clone(&shared), Arc::clone(&driver), link);
                        shared.tasks.spawn(async move {
                            let _slot = permit; // held exactly while the link is served
                            serve.await;
                        });
                    }
                    Err(TooManyPeers { .. }) if shared.evict_silent_link() => {
                        // A silent link is closing; its slot goes to this one (or, if another
                        // link takes it first, this one is refused after a short wait).
                        tracing::debug!(%peer, "closing a silent link to admit a new one");
                        let task = admit_after_eviction(
                            Arc::clone(&shared),
                            Arc::clone(&driver),
                            link,
                            peer,
                        );
                        shared.tasks.spawn(task);
                    }
                    Err(TooManyPeers { limit }) => {
                        if let Some(links) = refused.record(std::time::Instant::now()) {
                            tracing::info!(%peer, limit, links, "links refused: too many peers");
                        }
                        refuse(&shared, link, peer, limit);
                    }
                }
            }
            Some(Err(error)) => {
                tracing::debug!(%error, "incoming link failed");
                shared.emit(ProtocolEvent::IncomingFailed { error });
            }
            None => return,
        }
    }
}

/// How long a link admitted by closing a silent one waits for that slot to free.
const EVICTION_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

async fn admit_after_eviction(
    shared: Arc<Shared>,
    driver: Arc<dyn RoleDriver>,
    link: Link,
    peer: PeerId,
) {
    let admitted = tokio::time::timeout(EVICTION_WAIT, shared.connection_limit.admit(&peer)).await;
    match admitted {
        Ok(_slot) => {
            serve_link(shared, driver, link).await;
        }
        Err(_) => {
            let limit = shared.connection_limit.limit();
            tracing::debug!(%peer, limit, "link refused: too many peers");
            refuse(&shared, link, peer, limit);
        }
    }
}

/// Refuses a link over the cap with `TooManyPeers`.
fn refuse(shared: &Shared, link: Link, peer: PeerId, limit: usize) {
    // Close before the receiver drops: a transport that sees the engine's half go first
    // would otherwise report a plain `Requested`.
    let (_, sender, receiver) = link.split();
    sender.close(DisconnectReason::TooManyPeers);
    drop(receiver);
    shared.emit(ProtocolEvent::MaxActiveConnectionsExceeded { peer, limit });
}
