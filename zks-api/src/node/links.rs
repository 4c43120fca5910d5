//! [`LinkTable`]: every live link of a node, one entry each, and the open batch dispatches —
//! the one owner of per-link state in the runtime.
//!
//! An entry holds everything the node knows about one link: its facts ([`PeerSession`]: peer,
//! direction, caps, trust, where replay started, verifier status), its replay progress (a
//! [`LinkProgress`] cell its task writes), how to reach it (the control queue for batch
//! requests and its sender, to close it), whether admission is closing it, and which batch
//! requests it was sent. It changes only through the methods below, called by the link's own
//! task (and by admission and dispatch); the events the node publishes are its output, never its
//! input.
//!
//! # Locking
//!
//! One mutex guards the whole table. Every method takes it once, and none calls out while
//! holding it — no event is published, nothing is awaited; the only sends are `try_send`s,
//! which never wait — so there is no lock order to keep. The per-message path of replay takes
//! no lock: a link's task writes its own [`LinkProgress`], and readers see it on demand.
//!
//! Dispatching a batch to a verifier that has just become eligible relies on one ordering,
//! kept with [`LinkTable::dispatches_open`] (sequentially consistent): a link's task writes its
//! progress cell *then* reads the open-dispatch count, and [`LinkTable::open_dispatch`] counts
//! the new dispatch *then* reads the cells. Whichever runs second sees the other's write, so a
//! verifier is never left without a batch it became eligible for.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::dispatch::{Dispatch, Routing, VerifierResult};
use super::sessions::{LinkProgress, PeerSession};
use crate::engine::{VerifierChannel, VerifierStatus};
use crate::transport::{LinkInfo, LinkSender};
use crate::wire::{Frame, RequestId, VerifyBatch};
use crate::{BlockNumber, ConnectionId, Direction, DisconnectReason, PeerId};

/// Every live link and every open dispatch; see the [module docs](self).
#[derive(Debug, Default)]
pub(crate) struct LinkTable {
    state: Mutex<State>,
    /// How many dispatches are open: the per-message path reads it instead of taking the lock
    /// (changed only under the lock). See the module docs for the ordering it carries.
    dispatches_open: AtomicUsize,
}

#[derive(Debug, Default)]
struct State {
    links: HashMap<ConnectionId, LinkEntry>,
    dispatches: HashMap<RequestId, Dispatch>,
}

/// One live link.
#[derive(Debug)]
struct LinkEntry {
    /// What rarely changes (the progress fields are read from `progress`).
    facts: PeerSession,
    progress: Arc<LinkProgress>,
    /// MN: where to hand `VerifyBatch` frames; the link's driver sends them ahead of replay.
    control: mpsc::Sender<Frame>,
    /// Closes the link out of band (admission evicts silent links with it).
    sender: LinkSender,
    /// When the link was established.
    since: Instant,
    /// Admission is closing it: it is never chosen twice.
    evicting: bool,
    /// The batch requests sent to it.
    dispatched: HashSet<RequestId>,
}

impl LinkEntry {
    fn snapshot(&self) -> PeerSession {
        self.progress.fill(self.facts.clone())
    }
}

/// How to reach a new link: its control queue and its sender.
#[derive(Debug)]
pub(crate) struct LinkHandle {
    /// Where batch requests for it go.
    pub(crate) control: mpsc::Sender<Frame>,
    /// Its sender, to close it out of band.
    pub(crate) sender: LinkSender,
}

/// The batch requests a link was just sent, for the events that report them.
#[derive(Debug, Default)]
pub(crate) struct Dispatched {
    /// The peer.
    pub(crate) peer: Option<PeerId>,
    /// The requests, in no particular order.
    pub(crate) requests: Vec<RequestId>,
}

impl LinkTable {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a link that is now served; returns the progress cell its task writes.
    pub(crate) fn insert(
        &self,
        conn: ConnectionId,
        info: LinkInfo,
        trusted: bool,
        handle: LinkHandle,
    ) -> Arc<LinkProgress> {
        let progress = Arc::new(LinkProgress::default());
        let entry = LinkEntry {
            facts: PeerSession {
                conn,
                info,
                trusted,
                replay_from: None,
                sent_through: None,
                applied_through: None,
                verifier: VerifierStatus::None,
            },
            progress: Arc::clone(&progress),
            control: handle.control,
            sender: handle.sender,
            since: Instant::now(),
            evicting: false,
            dispatched: HashSet::new(),
        };
        self.state().links.insert(conn, entry);
        progress
    }

    /// Removes a link that ended.
    pub(crate) fn remove(&self, conn: ConnectionId) {
        self.state().links.remove(&conn);
    }

    /// MN: the peer asked for replay from `block`.
    pub(crate) fn replay_requested(&self, conn: ConnectionId, block: BlockNumber) {
        if let Some(entry) = self.state().links.get_mut(&conn) {
            entry.facts.replay_from = Some(block);
        }
    }

    /// MN: where the peer now stands in verifier authentication.
    pub(crate) fn set_verifier(&self, conn: ConnectionId, status: VerifierStatus) {
        if let Some(entry) = self.state().links.get_mut(&conn) {
            entry
                .progress
                .set_verifier(matches!(status, VerifierStatus::Authorized(_)));
            entry.facts.verifier = status;
        }
    }

    /// Every live link's session, as of now, in no particular order.
    pub(crate) fn sessions(&self) -> Vec<PeerSession> {
        self.state()
            .links
            .values()
            .map(LinkEntry::snapshot)
            .collect()
    }

    /// How many links are live.
    pub(crate) fn len(&self) -> usize {
        self.state().links.len()
    }

    /// Whether we hold a link we dialed to `peer` (an upstream we replay from).
    pub(crate) fn replays_from(&self, peer: &PeerId) -> bool {
        self.state()
            .links
            .values()
            .any(|e| e.facts.info.direction == Direction::Outbound && &e.facts.info.peer == peer)
    }

    /// Admission under a full link cap: closes, with `TooManyPeers`, the oldest inbound link
    /// that `may_evict` allows, that has not sent a single request (replay or verifier role)
    /// and has been up for at least `grace`; `false` when none qualifies.
    pub(crate) fn evict_silent(
        &self,
        grace: std::time::Duration,
        may_evict: impl Fn(&PeerId) -> bool,
    ) -> bool {
        let now = Instant::now();
        let mut state = self.state();
        let victim = state
            .links
            .iter_mut()
            .filter(|(_, e)| {
                e.facts.info.direction == Direction::Inbound
                    && e.facts.replay_from.is_none()
                    && e.facts.verifier == VerifierStatus::None
                    && !e.evicting
                    && now.saturating_duration_since(e.since) >= grace
                    && may_evict(&e.facts.info.peer)
            })
            .min_by_key(|(conn, e)| (e.since, **conn))
            .map(|(_, e)| e);
        let Some(victim) = victim else {
            return false;
        };
        victim.evicting = true;
        victim.sender.close(DisconnectReason::TooManyPeers);
        true
    }

    /// Opens a dispatch for `batch`; its results go to `results`. `Err` when one is open under
    /// the same request id.
    pub(crate) fn open_dispatch(
        &self,
        batch: &VerifyBatch,
        results: mpsc::Sender<VerifierResult>,
    ) -> Result<(), RequestId> {
        let mut state = self.state();
        if state.dispatches.contains_key(&batch.request_id) {
            return Err(batch.request_id);
        }
        self.dispatches_open.fetch_add(1, Ordering::SeqCst);
        state
            .dispatches
            .insert(batch.request_id, Dispatch::new(batch.clone(), results));
        Ok(())
    }

    /// Closes the dispatch under `request_id`; later results for it are dropped.
    pub(crate) fn close_dispatch(&self, request_id: RequestId) {
        let mut state = self.state();
        if state.dispatches.remove(&request_id).is_some() {
            self.dispatches_open.fetch_sub(1, Ordering::SeqCst);
            for entry in state.links.values_mut() {
                entry.dispatched.remove(&request_id);
            }
        }
    }

    /// Whether any dispatch is open, without the lock (see the module docs).
    pub(crate) fn any_dispatch_open(&self) -> bool {
        self.dispatches_open.load(Ordering::SeqCst) > 0
    }

    /// Every live link, for a new dispatch to be offered to each.
    pub(crate) fn conns(&self) -> Vec<ConnectionId> {
        self.state().links.keys().copied().collect()
    }

    /// Sends `conn` every open dispatch it is eligible for and was not sent yet (a full control
    /// queue means a swamped link: the next event on it tries again).
    pub(crate) fn send_due(&self, conn: ConnectionId) -> Dispatched {
        let mut guard = self.state();
        let State { links, dispatches } = &mut *guard;
        if dispatches.is_empty() {
            return Dispatched::default();
        }
        let Some(entry) = links.get_mut(&conn) else {
            return Dispatched::default();
        };
        let Some(channel) = VerifierChannel::for_link(entry.facts.info.caps) else {
            return Dispatched::default();
        };
        let session = entry.snapshot();
        let mut sent = Vec::new();
        for (request_id, dispatch) in dispatches.iter_mut() {
            if entry.dispatched.contains(request_id)
                || session
                    .can_verify(dispatch.batch.last_block_number)
                    .is_none()
            {
                continue;
            }
            if entry.control.try_send(dispatch.frame(channel)).is_ok() {
                entry.dispatched.insert(*request_id);
                sent.push(*request_id);
            }
        }
        Dispatched {
            peer: Some(session.info.peer),
            requests: sent,
        }
    }

    /// Hands a verifier's result to its dispatch, if one is open for it and the result names
    /// the dispatch's batch.
    pub(crate) fn route_result(&self, result: VerifierResult) -> Routing {
        match self.state().dispatches.get(&result.result.request_id) {
            Some(dispatch) => dispatch.route(result),
            None => Routing::NoDispatch,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::{Link, LinkCaps};
    use crate::wire::{Capabilities, TwoFaVersion, ZksVersion};
    use crate::{PeerAddr, SignerAddress};

    fn info(name: &str, direction: Direction, caps: LinkCaps) -> LinkInfo {
        LinkInfo::new(PeerId::from(name), PeerAddr::from(name), direction, caps)
    }

    /// A link's handle, with the receiving end of its control queue.
    fn handle() -> (LinkHandle, mpsc::Receiver<Frame>) {
        let (link, _end) = Link::channel(
            info("x", Direction::Inbound, LinkCaps::zks(ZksVersion::V5)),
            4,
        );
        let (_, sender, _) = link.split();
        let (control, rx) = mpsc::channel(4);
        (LinkHandle { control, sender }, rx)
    }

    fn current() -> LinkCaps {
        Capabilities::CURRENT
            .negotiate(Capabilities::CURRENT)
            .unwrap_or(LinkCaps::zks(ZksVersion::V5))
    }

    #[test]
    fn one_entry_holds_a_links_facts_progress_and_verifier_status() {
        let table = LinkTable::default();
        let (h, _rx) = handle();
        let conn = ConnectionId(1);
        let cell = table.insert(conn, info("a", Direction::Inbound, current()), false, h);
        table.replay_requested(conn, 10);
        cell.record_sent(20);
        let signer = SignerAddress([1; 20]);
        table.set_verifier(conn, VerifierStatus::Authorized(signer));
        assert!(cell.is_verifier());
        let [session] = table
            .sessions()
            .try_into()
            .unwrap_or_else(|_| panic!("one"));
        assert_eq!(
            (session.replay_from, session.sent_through, session.verifier),
            (Some(10), Some(20), VerifierStatus::Authorized(signer))
        );
        table.set_verifier(conn, VerifierStatus::Unauthorized(Some(signer)));
        assert!(!cell.is_verifier());
        table.remove(conn);
        assert_eq!(table.len(), 0);
        // A cell outliving its link is harmless: nothing reads it.
        cell.record_sent(30);
        assert!(table.sessions().is_empty());
    }

    #[tokio::test]
    async fn a_dispatch_goes_to_each_eligible_link_once_and_closes_for_all() {
        let table = LinkTable::default();
        let signer = SignerAddress([2; 20]);
        let (h1, mut rx1) = handle();
        let (h2, mut rx2) = handle();
        let (a, b) = (ConnectionId(1), ConnectionId(2));
        table.insert(a, info("a", Direction::Inbound, current()), false, h1);
        let cell_b = table.insert(b, info("b", Direction::Inbound, current()), false, h2);
        for conn in [a, b] {
            table.set_verifier(conn, VerifierStatus::Authorized(signer));
        }
        table.replay_requested(a, 101);
        table.replay_requested(b, 0);
        let batch = VerifyBatch {
            request_id: RequestId(7),
            batch_number: 3,
            last_block_number: 100,
            ..VerifyBatch::default()
        };
        let (tx, _results) = mpsc::channel(4);
        table.open_dispatch(&batch, tx.clone()).unwrap();
        assert_eq!(table.open_dispatch(&batch, tx), Err(RequestId(7)));
        assert!(table.any_dispatch_open());
        // `a` holds everything below 101: eligible; `b` has nothing yet.
        assert_eq!(table.send_due(a).requests, [RequestId(7)]);
        assert!(table.send_due(a).requests.is_empty(), "once");
        assert!(table.send_due(b).requests.is_empty());
        assert!(rx1.try_recv().is_ok());
        assert!(rx2.try_recv().is_err());
        cell_b.record_sent(100);
        assert_eq!(table.send_due(b).requests, [RequestId(7)]);
        table.close_dispatch(RequestId(7));
        assert!(!table.any_dispatch_open());
        assert_eq!(
            table.route_result(VerifierResult {
                conn: a,
                peer: PeerId::from("a"),
                signer,
                result: crate::wire::VerifyBatchResult {
                    request_id: RequestId(7),
                    batch_number: 3,
                    outcome: crate::wire::VerifyBatchOutcome::Refused {
                        reason: "late".to_owned()
                    },
                },
            }),
            Routing::NoDispatch
        );
        let _ = TwoFaVersion::V1;
    }

    #[tokio::test(start_paused = true)]
    async fn admission_evicts_the_oldest_silent_inbound_link_once() {
        let table = LinkTable::default();
        let grace = std::time::Duration::from_secs(1);
        let (h1, _rx1) = handle();
        let (h2, _rx2) = handle();
        let (h3, _rx3) = handle();
        let old = ConnectionId(1);
        table.insert(old, info("old", Direction::Inbound, current()), false, h1);
        tokio::time::advance(grace).await;
        let asked = ConnectionId(2);
        table.insert(
            asked,
            info("asked", Direction::Inbound, current()),
            false,
            h2,
        );
        table.replay_requested(asked, 0);
        table.insert(
            ConnectionId(3),
            info("young", Direction::Inbound, current()),
            false,
            h3,
        );
        tokio::time::advance(grace / 2).await;
        // Only `old` qualifies (silent, inbound, past the grace); chosen once.
        assert!(table.evict_silent(grace, |_| true));
        assert!(!table.evict_silent(grace, |_| true));
        // A trusted peer is never chosen.
        tokio::time::advance(grace).await;
        assert!(!table.evict_silent(grace, |peer| peer != &PeerId::from("young")));
    }
}
