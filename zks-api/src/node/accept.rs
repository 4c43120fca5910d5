//! The node's two kinds of long-lived task: the accept loop, and (on an external node) the
//! dial loop over its trusted main nodes.

use std::sync::Arc;

use super::backoff::Backoff;
use super::link::{RoleDriver, serve_link};
use super::shared::Shared;
use super::{CloseCause, ProtocolEvent};
use crate::middleware::connection_limit::TooManyPeers;
use crate::transport::{Incoming, Link, RepeatSummary};
use crate::{DisconnectReason, PeerAddr, PeerId};

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

/// Keeps an external node linked to one of its trusted main nodes at a time, in the order
/// they were given: dial the first; when its link ends (or the dial fails), go on to the next;
/// after a round in which none made progress, back off before the next round. A link that made
/// progress sends the next round back to the first main node. There is never more than one
/// replay stream, so N main nodes cost no more traffic than one, and the loop only ends at
/// shutdown: an outage of every main node leaves the EN redialing, never idle. Every link
/// resumes from the sink's `next_block()`.
pub(super) async fn dial_loop(
    shared: Arc<Shared>,
    driver: Arc<dyn RoleDriver>,
    addrs: Vec<PeerAddr>,
    seed: u64,
) {
    if addrs.is_empty() {
        return;
    }
    let mut backoff = Backoff::new(shared.limits.redial_initial, shared.limits.redial_max, seed);
    let mut refusals: Vec<Refusals> = addrs.iter().map(|_| Refusals::default()).collect();
    let mut next = 0;
    loop {
        let index = next;
        let addr = &addrs[index];
        next = (index + 1) % addrs.len();
        let dialed = tokio::select! {
            dialed = shared.transport.dial(addr, shared.caps) => dialed,
            () = shared.shutdown.cancelled() => return,
        };
        // The last main node of a round waits out the backoff; the others hand over at once.
        let round_over = next == 0;
        let delay = match dialed {
            Ok(link) => {
                let outcome = serve_link(Arc::clone(&shared), Arc::clone(&driver), link).await;
                if matches!(outcome.cause, CloseCause::Shutdown) {
                    return;
                }
                if outcome.progressed {
                    backoff.reset();
                    refusals[index].reset();
                    next = 0;
                    Some(backoff.next_delay())
                } else {
                    let retry_in = if round_over {
                        backoff.next_delay()
                    } else {
                        std::time::Duration::ZERO
                    };
                    refusals[index].record(addr, &outcome.cause, retry_in);
                    round_over.then_some(retry_in)
                }
            }
            Err(error) => {
                let retry_in = if round_over {
                    backoff.next_delay()
                } else {
                    std::time::Duration::ZERO
                };
                tracing::debug!(%addr, %error, ?retry_in, "dial failed");
                refusals[index].record(addr, &error, retry_in);
                shared.emit(ProtocolEvent::DialFailed {
                    addr: addr.clone(),
                    error,
                    retry_in,
                });
                round_over.then_some(retry_in)
            }
        };
        if let Some(delay) = delay {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = shared.shutdown.cancelled() => return,
            }
        }
    }
}

/// Says at WARN, with the reason, when a main node ends our links (or refuses our dials) the
/// same way again and again — at the 3rd time in a row, then at the 6th, 12th, … so a
/// permanent refusal is visible without flooding the log.
#[derive(Debug, Default)]
struct Refusals {
    last: Option<String>,
    count: u32,
}

impl Refusals {
    /// How many identical failures in a row before the first WARN.
    const WARN_AFTER: u32 = 3;

    fn reset(&mut self) {
        self.last = None;
        self.count = 0;
    }

    /// Counts one failure; returns whether it was logged at WARN.
    fn record(
        &mut self,
        addr: &PeerAddr,
        reason: &dyn std::fmt::Display,
        retry_in: std::time::Duration,
    ) -> bool {
        let reason = reason.to_string();
        if self.last.as_deref() == Some(reason.as_str()) {
            self.count = self.count.saturating_add(1);
        } else {
            self.last = Some(reason);
            self.count = 1;
        }
        let warn = self.count >= Self::WARN_AFTER
            && (self.count / Self::WARN_AFTER).is_power_of_two()
            && self.count.is_multiple_of(Self::WARN_AFTER);
        if warn {
            tracing::warn!(
                %addr,
                reason = self.last.as_deref().unwrap_or_default(),
                times = self.count,
                ?retry_in,
                "main node keeps ending our links the same way; backing off"
            );
        }
        warn
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn repeated_refusals_warn_at_3_6_12_and_reset_on_a_new_reason() {
        let mut r = Refusals::default();
        let addr = PeerAddr::from("mn");
        let warned: Vec<u32> = (1..=24)
            .filter(|_| r.record(&addr, &"subprotocol error (0x10)", Duration::ZERO))
            .collect();
        assert_eq!(warned, [3, 6, 12, 24]);
        assert!(!r.record(&addr, &"too many peers (0x04)", Duration::ZERO));
        assert_eq!(r.count, 1);
        r.reset();
        assert_eq!(r.last, None);
    }
}
