//! The node's two kinds of long-lived task: the accept loop, and one dial loop per trusted
//! main node.

use std::sync::Arc;

use super::backoff::Backoff;
use super::link::{RoleDriver, serve_link};
use super::shared::Shared;
use super::{CloseCause, ProtocolEvent};
use crate::middleware::connection_limit::TooManyPeers;
use crate::transport::Incoming;
use crate::{DisconnectReason, PeerAddr};

/// Serves every link peers open to us.
pub(super) async fn accept_loop(
    shared: Arc<Shared>,
    driver: Arc<dyn RoleDriver>,
    mut incoming: Incoming,
) {
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
                    Err(TooManyPeers { limit }) => {
                        tracing::debug!(%peer, limit, "link refused: too many peers");
                        let (_, sender, _) = link.split();
                        sender.close(DisconnectReason::TooManyPeers);
                        shared.emit(ProtocolEvent::MaxActiveConnectionsExceeded { peer, limit });
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

/// Keeps one trusted main node linked: dial, serve until the link ends, back off, redial.
/// Every link resumes from the sink's `next_block()`.
pub(super) async fn dial_loop(
    shared: Arc<Shared>,
    driver: Arc<dyn RoleDriver>,
    addr: PeerAddr,
    seed: u64,
) {
    let mut backoff = Backoff::new(shared.limits.redial_initial, shared.limits.redial_max, seed);
    loop {
        let dialed = tokio::select! {
            dialed = shared.transport.dial(&addr, shared.caps) => dialed,
            () = shared.shutdown.cancelled() => return,
        };
        let delay = match dialed {
            Ok(link) => {
                let outcome = serve_link(Arc::clone(&shared), Arc::clone(&driver), link).await;
                if matches!(outcome.cause, CloseCause::Shutdown) {
                    return;
                }
                if outcome.progressed {
                    backoff.reset();
                }
                backoff.next_delay()
            }
            Err(error) => {
                let retry_in = backoff.next_delay();
                tracing::debug!(%addr, %error, ?retry_in, "dial failed");
                shared.emit(ProtocolEvent::DialFailed {
                    addr: addr.clone(),
                    error,
                    retry_in,
                });
                retry_in
            }
        };
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shared.shutdown.cancelled() => return,
        }
    }
}
