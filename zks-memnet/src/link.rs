//! One memnet link: two relay tasks, one per direction, sharing a control block.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use rand::Rng;
use rand::rngs::StdRng;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use zks_api::DisconnectReason;
use zks_api::transport::LinkClosed;
use zks_api::transport::kit::{InboundQueue, Outbound, OutboundQueue};
use zks_api::wire::{Frame, LinkCaps};

/// The two ends of a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    /// The dialer.
    A,
    /// The listener.
    B,
}

/// How a link ended: who closed it (`None`: fault injection) and why.
#[derive(Clone, Debug)]
struct Ending {
    by: Option<Side>,
    reason: DisconnectReason,
}

/// Shared control of one link: its endpoints, faults, and ending.
#[derive(Debug)]
pub(crate) struct LinkCtl {
    pub(crate) a: Arc<str>,
    pub(crate) b: Arc<str>,
    done: CancellationToken,
    ending: OnceLock<Ending>,
    /// Per direction (index 0: A→B, 1: B→A): stop delivering while `true`.
    stalled: [watch::Sender<bool>; 2],
    latency: watch::Sender<(Duration, Duration)>,
    rng: Mutex<StdRng>,
}

impl LinkCtl {
    pub(crate) fn new(
        a: Arc<str>,
        b: Arc<str>,
        latency: (Duration, Duration),
        rng: StdRng,
    ) -> Self {
        Self {
            a,
            b,
            done: CancellationToken::new(),
            ending: OnceLock::new(),
            stalled: [watch::Sender::new(false), watch::Sender::new(false)],
            latency: watch::Sender::new(latency),
            rng: Mutex::new(rng),
        }
    }

    pub(crate) fn connects(&self, x: &str, y: &str) -> bool {
        (&*self.a == x && &*self.b == y) || (&*self.a == y && &*self.b == x)
    }

    /// Ends the link; the first ending wins.
    pub(crate) fn end(&self, by: Option<Side>, reason: DisconnectReason) {
        let _ = self.ending.set(Ending { by, reason });
        self.done.cancel();
    }

    pub(crate) fn is_done(&self) -> bool {
        self.done.is_cancelled()
    }

    /// Stalls or resumes delivery in the direction that starts at node `from`.
    pub(crate) fn set_stalled(&self, from: &str, stalled: bool) {
        for (i, origin) in [&self.a, &self.b].into_iter().enumerate() {
            if &**origin == from {
                self.stalled[i].send_replace(stalled);
            }
        }
    }

    pub(crate) fn set_latency(&self, latency: Duration, jitter: Duration) {
        self.latency.send_replace((latency, jitter));
    }

    fn delay(&self) -> Duration {
        let (latency, jitter) = *self.latency.borrow();
        if jitter.is_zero() {
            return latency;
        }
        let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
        latency + rng.random_range(Duration::ZERO..=jitter)
    }

    /// What the engine at `side` is told when the link ends.
    fn closed_for(&self, side: Side) -> LinkClosed {
        match self.ending.get() {
            Some(Ending {
                by: Some(by),
                reason,
            }) if *by != side => LinkClosed::ByPeer(*reason),
            Some(Ending {
                by: Some(_),
                reason,
            }) => LinkClosed::ByTransport {
                reason: *reason,
                detail: "closed by this side".into(),
            },
            Some(Ending { by: None, reason }) => LinkClosed::ByTransport {
                reason: *reason,
                detail: "memnet: link killed".into(),
            },
            None => LinkClosed::Dropped,
        }
    }
}

/// What one direction of a link carries.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Wire {
    /// The negotiated subprotocols: a frame of another one ends the link with
    /// `SubprotocolError`, as devp2p and libp2p do, before it leaves.
    pub(crate) caps: LinkCaps,
    /// Messages on the wire at most.
    pub(crate) window: usize,
}

/// Relays one direction of a link: from the engine at `from` to the engine at the other side.
///
/// At most `wire.window` messages are "on the wire" at once; each is delivered no earlier than its
/// latency after it left, in order. A stalled direction keeps messages on the wire (and so,
/// once the window is full, pushes back on the sender) without closing anything.
pub(crate) async fn relay(
    ctl: Arc<LinkCtl>,
    from: Side,
    mut outbound: OutboundQueue,
    inbound: InboundQueue,
    Wire { caps, window }: Wire,
) {
    let to = match from {
        Side::A => Side::B,
        Side::B => Side::A,
    };
    let mut stalled = ctl.stalled[from as usize].subscribe();
    let mut wire: VecDeque<(Instant, Frame)> = VecDeque::with_capacity(window);
    let mut closing: Option<DisconnectReason> = None;
    loop {
        if closing.is_some() && wire.is_empty() {
            break;
        }
        let is_stalled = *stalled.borrow_and_update();
        let due = wire.front().map(|(at, _)| *at);
        tokio::select! {
            biased;
            () = ctl.done.cancelled() => break,
            changed = stalled.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            permit = async {
                // A timer rounds up to the next millisecond tick: only arm one when the message
                // is not due yet.
                if let Some(at) = due.filter(|at| *at > Instant::now()) {
                    tokio::time::sleep_until(at).await;
                }
                inbound.reserve().await
            }, if due.is_some() && !is_stalled => {
                let Ok(permit) = permit else {
                    // The receiving engine let go of the link.
                    ctl.end(Some(to), DisconnectReason::Requested);
                    break;
                };
                if let Some((_, frame)) = wire.pop_front() {
                    permit.deliver(frame);
                }
            }
            next = outbound.next_outbound(), if closing.is_none() && wire.len() < window => {
                match next {
                    Some(Outbound::Frame(frame)) if !caps.carries(frame.protocol) => {
                        tracing::debug!(protocol = ?frame.protocol, %caps, "memnet: frame of a subprotocol the link does not carry");
                        closing = Some(DisconnectReason::SubprotocolError);
                    }
                    Some(Outbound::Frame(frame)) => {
                        wire.push_back((Instant::now() + ctl.delay(), frame));
                    }
                    // Messages already on the wire still arrive, then the close.
                    Some(Outbound::Close(reason)) => closing = Some(reason),
                    None => closing = Some(DisconnectReason::Requested),
                }
            }
        }
    }
    if let Some(reason) = closing {
        ctl.end(Some(from), reason);
    }
    inbound.close(ctl.closed_for(to));
}
