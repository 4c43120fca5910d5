//! The external node's (and relay's) dial loop over its trusted upstreams: one replay link at
//! a time, by priority, with failover, fail-back and stall detection — with one upstream as
//! with several.
//!
//! zks messages carry no chain head, so the loop learns where the upstreams stand from
//! *probes*: a short-lived link that asks for one block and ends (`ClientQuitting`) once it
//! came or a timeout passed. A probe costs one handshake and at most one record, and runs only
//! when it can change the decision:
//!
//! - every [`NodeSettings::upstream_probe_interval`] while a higher-priority upstream is not the
//!   active one: does it hold our last block again? Then replay fails back to it.
//! - once the active link has made no progress for [`NodeSettings::upstream_stall_timeout`], for our
//!   next block, in priority order: first the active upstream itself, over a fresh link — if
//!   it has the block, the link is up but its stream went silent (a lost wakeup in the main
//!   node's replay source, say: keepalive pings hold such a link forever), and it is replaced
//!   by a fresh link to the same upstream ([`SwitchReason::Silent`]); then the lower-priority
//!   upstreams, every probe interval, as before — if one has the block, replay moves there
//!   ([`SwitchReason::Stalled`]). The active upstream goes first because it is preferred:
//!   moving to a lower one while it can serve us would only be undone by the next fail-back.
//!   A block a probe found counts only if the active link does not deliver it within the
//!   probe timeout (on a slow chain it may arrive on both at once).
//!
//! On an idle chain nobody has our next block: nothing moves, and self-probes back off (see
//! [`silence`](super::silence)) to one every `8 ×` the stall timeout. When the active
//! upstream cannot be probed at all (it refuses a second link, as a reth-based node does), the
//! [`NodeSettings::upstream_watchdog`] replaces a link that stayed silent that long
//! ([`SwitchReason::Watchdog`]). A second standing replay link would learn all of this at the
//! cost of a second full stream.
//!
//! [`NodeSettings::upstream_probe_interval`]: super::NodeSettings::upstream_probe_interval
//! [`NodeSettings::upstream_stall_timeout`]: super::NodeSettings::upstream_stall_timeout
//! [`NodeSettings::upstream_watchdog`]: super::NodeSettings::upstream_watchdog

use std::sync::Arc;

use tokio::sync::watch;
use tokio::time::Instant;

use super::backoff::Backoff;
use super::link::{LinkCx, LinkIo, LinkOutcome, RoleDriver, serve_link_until};
use super::shared::Shared;
use super::silence::{Probe, Silence};
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
/// resumes from the sink's `resume_block()`. The one exception: a sink that reports its own
/// storage failing ([`SinkError::local_fault`](crate::SinkError::local_fault)) ends the dialing
/// (no upstream is blamed; the loop waits for shutdown).
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
    let mut backoff = Backoff::new(
        shared.settings.redial_initial(),
        shared.settings.redial_max(),
        seed,
    );
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
                if let CloseCause::Sink(e) = &outcome.cause
                    && e.is_local_fault()
                {
                    // Our storage failed: no upstream is to blame and no redial cures it.
                    // Dial nobody until the node is shut down.
                    tracing::debug!(%addr, error = %e, "sink failed locally; not dialing");
                    shared.shutdown.cancelled().await;
                    return;
                }
                if outcome.progressed {
                    backoff.reset();
                    refusals[index].reset();
                }
                if let Some(switch) = switch {
                    let (from, to) = (addr.clone(), addrs[switch.to].clone());
                    switch.log(&from, &to);
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

/// A decision to move replay to upstream `to` (the active one itself: a fresh link).
#[derive(Debug)]
struct Switch {
    to: usize,
    reason: SwitchReason,
    /// Our next block when the decision was made.
    next: BlockNumber,
}

impl Switch {
    /// One line per switch: WARN when the link to the same upstream is replaced (its stream
    /// went silent: something on that node wants looking at), INFO for a move by priority.
    fn log(&self, from: &PeerAddr, to: &PeerAddr) {
        match self.reason {
            SwitchReason::Silent { idle } => tracing::warn!(
                upstream = %from,
                ?idle,
                block = self.next,
                "replay stream went silent while the link stayed up; the upstream has our next \
                 block on a fresh link, so the link is replaced (check the main node's replay \
                 source: a lost wakeup in its wait_for looks like this)"
            ),
            SwitchReason::Watchdog { idle } => tracing::warn!(
                upstream = %from,
                ?idle,
                block = self.next,
                "replay link silent for the watchdog's time and the upstream fails every probe \
                 link (a second session refused?), so an idle chain cannot be told from a stuck \
                 stream; replacing the link"
            ),
            _ => tracing::info!(%from, %to, reason = %self.reason, "replay upstream switched"),
        }
    }
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

    /// Watches progress and probes the upstreams; resolves when replay should move (or the
    /// active link be replaced).
    async fn supervise(&self, mut applied: watch::Receiver<BlockNumber>) -> Switch {
        let settings = &self.shared.settings;
        let start = Instant::now();
        applied.borrow_and_update();
        let mut silence = Silence::new(settings, start);
        // Fail-back and the others' stall probes, only when there are others.
        let mut check_at =
            (self.addrs.len() > 1).then(|| start + settings.upstream_probe_interval());
        loop {
            let wake = check_at.map_or(silence.due(), |at| at.min(silence.due()));
            tokio::select! {
                changed = applied.changed() => {
                    if changed.is_err() {
                        return std::future::pending().await;
                    }
                    silence.progress(Instant::now());
                    continue;
                }
                () = tokio::time::sleep_until(wake) => {}
            }
            let now = Instant::now();
            let others = check_at.is_some_and(|at| at <= now);
            if let Some(switch) = self.check(&mut applied, &mut silence, others).await {
                return switch;
            }
            if others {
                check_at = Some(Instant::now() + settings.upstream_probe_interval());
            }
        }
    }

    /// One round of probes, in priority order: the higher-priority upstreams for fail-back
    /// (with `others`), the active one itself when its self-probe is due, and the lower ones
    /// when the link is stalled (with `others`).
    async fn check(
        &self,
        applied: &mut watch::Receiver<BlockNumber>,
        silence: &mut Silence,
        others: bool,
    ) -> Option<Switch> {
        let settings = &self.shared.settings;
        let next = *applied.borrow();
        if others {
            // Fail back: a higher-priority upstream that holds our last block (or, before we
            // have any, our first) is as good as the active one and preferred.
            let last = next.saturating_sub(1);
            for (to, addr) in self.addrs[..self.active].iter().enumerate() {
                if self.probe(addr, last).await == Probe::Has {
                    return Some(Switch {
                        to,
                        reason: SwitchReason::Failback,
                        next,
                    });
                }
            }
        }
        let started = Instant::now();
        if silence.due() <= started {
            let replace = match self.probe(&self.addrs[self.active], next).await {
                Probe::Has => true,
                Probe::Lacks => {
                    silence.lacked(started);
                    false
                }
                Probe::Unreachable => {
                    if silence.unreachable(started) {
                        return Some(Switch {
                            to: self.active,
                            reason: SwitchReason::Watchdog {
                                idle: silence.idle(Instant::now()),
                            },
                            next,
                        });
                    }
                    false
                }
            };
            if replace {
                return self
                    .unless_delivered(applied, silence, self.active, next)
                    .await;
            }
        }
        if others && silence.idle(Instant::now()) >= settings.upstream_stall_timeout() {
            for (to, addr) in self.addrs.iter().enumerate().skip(self.active + 1) {
                if self.probe(addr, next).await == Probe::Has {
                    return self.unless_delivered(applied, silence, to, next).await;
                }
            }
        }
        None
    }

    /// A probe found our next block at upstream `to`: unless the active link delivers it
    /// within the probe timeout (on a slow chain it may arrive on both at once), replay moves
    /// to `to` — a fresh link when `to` is the active upstream itself.
    async fn unless_delivered(
        &self,
        applied: &mut watch::Receiver<BlockNumber>,
        silence: &mut Silence,
        to: usize,
        next: BlockNumber,
    ) -> Option<Switch> {
        let grace = self.shared.settings.upstream_probe_timeout();
        let delivered = tokio::time::timeout(grace, applied.wait_for(|n| *n > next)).await;
        let now = Instant::now();
        if matches!(delivered, Ok(Ok(_))) {
            silence.progress(now);
            return None;
        }
        let idle = silence.idle(now);
        let reason = if to == self.active {
            SwitchReason::Silent { idle }
        } else {
            SwitchReason::Stalled { idle }
        };
        Some(Switch { to, reason, next })
    }

    /// Whether the upstream at `addr` serves block `block` now: one short-lived link.
    async fn probe(&self, addr: &PeerAddr, block: BlockNumber) -> Probe {
        let shared = self.shared;
        // One deadline for the whole probe, dial included (the limit's documented meaning).
        let deadline = Instant::now() + shared.settings.upstream_probe_timeout();
        let dialed = tokio::select! {
            dialed = tokio::time::timeout_at(deadline, shared.transport.dial(addr, shared.caps)) => dialed,
            () = shared.shutdown.cancelled() => return Probe::Unreachable,
        };
        let link = match dialed {
            Ok(Ok(link)) => link,
            Ok(Err(error)) => {
                tracing::debug!(%addr, block, %error, "probe: upstream not reachable");
                return Probe::Unreachable;
            }
            Err(_) => {
                tracing::debug!(%addr, block, "probe: dial timed out");
                return Probe::Unreachable;
            }
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
        let found = if !cx.trusted {
            Probe::Unreachable
        } else if self
            .driver
            .probe(
                &cx,
                &mut io,
                block,
                deadline.saturating_duration_since(Instant::now()),
            )
            .await
        {
            Probe::Has
        } else if matches!(io.try_recv(&cx).await, Err(CloseCause::Link(_))) {
            // The upstream ended the probe link before answering (it refuses a second link
            // from us, say): we learned nothing.
            Probe::Unreachable
        } else {
            Probe::Lacks
        };
        cx.sender.close(DisconnectReason::ClientQuitting);
        tracing::debug!(%addr, block, ?found, "probed upstream");
        found
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
