//! The external node's (and relay's) dial loop over its trusted upstreams: one replay link at
//! a time, by priority, with failover, fail-back and stall detection.
//!
//! zks messages carry no chain head, so the loop learns where the other upstreams stand from
//! *probes*: a short-lived link that asks for one block and ends (`ClientQuitting`) once it
//! came or a timeout passed. A probe costs one handshake and at most one record, and runs only
//! when it can change the decision — every [`Limits::upstream_probe_interval`] while a
//! higher-priority upstream is not the active one (is it level again?), and while the active
//! one has made no progress for [`Limits::upstream_stall_timeout`] (is another one ahead?). A
//! second standing replay link would learn the same at the cost of a second full stream.
//!
//! [`Limits::upstream_probe_interval`]: super::Limits::upstream_probe_interval
//! [`Limits::upstream_stall_timeout`]: super::Limits::upstream_stall_timeout

use std::sync::Arc;

use tokio::sync::watch;
use tokio::time::Instant;

use super::backoff::Backoff;
use super::link::{LinkCx, LinkIo, LinkOutcome, RoleDriver, serve_link_until};
use super::shared::Shared;
use super::{CloseCause, ProtocolEvent, SwitchReason};
use crate::transport::Link;
use crate::{BlockNumber, DisconnectReason, PeerAddr};

/// Keeps an external node linked to one of its trusted upstreams at a time, in the order they
/// were given: dial the first; when its link ends (or the dial fails), go on to the next; after
/// a round in which none made progress, back off before the next round. A link that made
/// progress sends the next round back to the first. While linked, a supervisor moves replay
/// back to a higher-priority upstream once it holds our last block, or to a lower-priority one
/// that has our next block when the active one stalls. There is never more than one replay
/// stream, so N upstreams cost no more traffic than one (plus probes), and the loop only ends
/// at shutdown: an outage of every upstream leaves the EN redialing, never idle. Every link
/// resumes from the sink's `next_block()`.
pub(super) async fn dial_loop(
    shared: Arc<Shared>,
    driver: Arc<dyn RoleDriver>,
    addrs: Vec<PeerAddr>,
    seed: u64,
    applied: watch::Receiver<BlockNumber>,
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
        // The last upstream of a round waits out the backoff; the others hand over at once.
        let round_over = next == 0;
        let delay = match dialed {
            Ok(link) => {
                let upstreams = Upstreams {
                    shared: &shared,
                    driver: &driver,
                    addrs: &addrs,
                    active: index,
                };
                let (outcome, switch) = upstreams.serve(link, applied.clone()).await;
                if matches!(outcome.cause, CloseCause::Shutdown) {
                    return;
                }
                if outcome.progressed {
                    backoff.reset();
                    refusals[index].reset();
                }
                if let Some(switch) = switch {
                    let (from, to) = (addr.clone(), addrs[switch.to].clone());
                    tracing::info!(%from, %to, reason = %switch.reason, "replay upstream switched");
                    shared.emit(ProtocolEvent::UpstreamSwitched {
                        from,
                        to,
                        reason: switch.reason,
                    });
                    next = switch.to;
                    None
                } else if outcome.progressed {
                    next = 0;
                    Some(backoff.next_delay())
                } else {
                    let retry_in = retry_delay(&mut backoff, round_over);
                    refusals[index].record(addr, &outcome.cause, retry_in);
                    round_over.then_some(retry_in)
                }
            }
            Err(error) => {
                let retry_in = retry_delay(&mut backoff, round_over);
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

/// The wait after a failed upstream: the backoff at the end of a round, none within it.
fn retry_delay(backoff: &mut Backoff, round_over: bool) -> std::time::Duration {
    if round_over {
        backoff.next_delay()
    } else {
        std::time::Duration::ZERO
    }
}

/// A decision to move replay to upstream `to`.
#[derive(Debug)]
struct Switch {
    to: usize,
    reason: SwitchReason,
}

/// The upstreams, while the one at `active` is linked.
struct Upstreams<'a> {
    shared: &'a Arc<Shared>,
    driver: &'a Arc<dyn RoleDriver>,
    addrs: &'a [PeerAddr],
    active: usize,
}

impl Upstreams<'_> {
    /// Serves the active link until it ends, or until the supervisor decides to switch (then
    /// the link is ended between messages, never during an apply, and its outcome returned
    /// with the decision).
    async fn serve(
        &self,
        link: Link,
        applied: watch::Receiver<BlockNumber>,
    ) -> (LinkOutcome, Option<Switch>) {
        let stop = self.shared.shutdown.child_token();
        let serve = serve_link_until(
            Arc::clone(self.shared),
            Arc::clone(self.driver),
            link,
            stop.clone(),
        );
        tokio::pin!(serve);
        let switch = tokio::select! {
            outcome = &mut serve => return (outcome, None),
            switch = self.supervise(applied) => switch,
        };
        stop.cancel();
        (serve.await, Some(switch))
    }

    /// Watches progress and probes the other upstreams; resolves when replay should move.
    async fn supervise(&self, mut applied: watch::Receiver<BlockNumber>) -> Switch {
        if self.addrs.len() < 2 {
            return std::future::pending().await;
        }
        let limits = &self.shared.limits;
        let mut last_progress = Instant::now();
        applied.borrow_and_update();
        let mut check_at = last_progress + limits.upstream_probe_interval;
        loop {
            tokio::select! {
                changed = applied.changed() => {
                    if changed.is_err() {
                        return std::future::pending().await;
                    }
                    last_progress = Instant::now();
                    continue;
                }
                () = tokio::time::sleep_until(check_at) => {}
            }
            let next = *applied.borrow();
            // Fail back: a higher-priority upstream that holds our last block (or, before we
            // have any, our first) is as good as the active one and preferred.
            let last = next.saturating_sub(1);
            for (to, addr) in self.addrs[..self.active].iter().enumerate() {
                if self.probe(addr, last).await {
                    return Switch {
                        to,
                        reason: SwitchReason::Failback,
                    };
                }
            }
            let idle = Instant::now().saturating_duration_since(last_progress);
            if idle >= limits.upstream_stall_timeout {
                for (to, addr) in self.addrs.iter().enumerate().skip(self.active + 1) {
                    if self.probe(addr, next).await {
                        return Switch {
                            to,
                            reason: SwitchReason::Stalled { idle },
                        };
                    }
                }
            }
            check_at = Instant::now() + limits.upstream_probe_interval;
        }
    }

    /// Whether the upstream at `addr` serves block `block` now: one short-lived link.
    async fn probe(&self, addr: &PeerAddr, block: BlockNumber) -> bool {
        let shared = self.shared;
        let timeout = shared.limits.upstream_probe_timeout;
        let dialed = tokio::select! {
            dialed = tokio::time::timeout(timeout, shared.transport.dial(addr, shared.caps)) => dialed,
            () = shared.shutdown.cancelled() => return false,
        };
        let Ok(Ok(link)) = dialed else {
            tracing::debug!(%addr, block, "probe: upstream not reachable");
            return false;
        };
        let (info, sender, rx) = link.split();
        let cx = LinkCx::new(
            Arc::clone(shared),
            shared.next_connection_id(),
            info,
            sender,
            // Not a served link: no session, so its progress is nobody's to read.
            Arc::default(),
            shared.shutdown.child_token(),
        );
        let mut io = LinkIo::new(shared, rx, crate::Direction::Outbound);
        let has = cx.trusted && self.driver.probe(&cx, &mut io, block, timeout).await;
        cx.sender.close(DisconnectReason::ClientQuitting);
        tracing::debug!(%addr, block, has, "probed upstream");
        has
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
