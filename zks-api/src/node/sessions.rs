//! [`PeerSessionStore`]: what we know about each live link, derived from events.
//!
//! Replay progress (blocks sent and applied) changes with every message, so it lives apart
//! from the store's lock: each link's task writes its own [`LinkProgress`] and the store reads
//! it when asked. Everything else changes a few times per link and goes through the lock.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::ProtocolEvent;
use crate::engine::{VerifierChannel, VerifierStatus};
use crate::transport::LinkInfo;
use crate::{BlockNumber, ConnectionId, SignerAddress};

/// Facts about one live link, derived from [`ProtocolEvent`]s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerSession {
    /// The link.
    pub conn: ConnectionId,
    /// Peer, direction, address, version.
    pub info: LinkInfo,
    /// Whether the peer is a trusted main node (EN side).
    pub trusted: bool,
    /// MN: the block the peer asked replay from.
    pub replay_from: Option<BlockNumber>,
    /// MN: the highest block handed to this link.
    pub sent_through: Option<BlockNumber>,
    /// EN: the highest block applied from this link.
    pub applied_through: Option<BlockNumber>,
    /// MN: where the peer stands in verifier authentication.
    pub verifier: VerifierStatus,
}

impl PeerSession {
    /// MN: the highest block this peer has had from us: what we sent on this link, or —
    /// before we sent anything — the block before its resume point (it asked from there, so it
    /// holds everything below).
    pub fn delivered_through(&self) -> Option<BlockNumber> {
        let held = self.replay_from.and_then(|from| from.checked_sub(1));
        self.sent_through.max(held)
    }

    /// MN: whether this peer may be sent a batch ending at `last_block`: a link with a verifier
    /// channel (`zks_2fa` beside zks/5, or in-band on zks/3–4), an
    /// authorized verifier, and replay delivered through `last_block`.
    pub fn can_verify(&self, last_block: BlockNumber) -> Option<SignerAddress> {
        match self.verifier {
            VerifierStatus::Authorized(signer)
                if VerifierChannel::for_link(self.info.caps).is_some()
                    && self
                        .delivered_through()
                        .is_some_and(|through| through >= last_block) =>
            {
                Some(signer)
            }
            _ => None,
        }
    }
}

/// How far replay went on one link, written by the link's own task without any node-wide lock
/// (the per-message path of a main node with many ENs) and read by the session store.
#[derive(Debug, Default)]
pub(crate) struct LinkProgress {
    /// MN: the highest block handed to the link, plus one (0: none yet).
    sent: AtomicU64,
    /// EN: the highest block applied from the link, plus one (0: none yet).
    applied: AtomicU64,
    /// MN: the peer is an authorized verifier (only then can a block sent make it eligible for
    /// an open batch).
    verifier: AtomicBool,
}

impl LinkProgress {
    /// Records that blocks through `last` were handed to the link.
    pub(crate) fn record_sent(&self, last: BlockNumber) {
        self.sent.fetch_max(encode(last), Ordering::SeqCst);
    }

    /// Records that blocks through `last` were applied from the link.
    pub(crate) fn record_applied(&self, last: BlockNumber) {
        self.applied.fetch_max(encode(last), Ordering::SeqCst);
    }

    /// Whether the peer is an authorized verifier.
    pub(crate) fn is_verifier(&self) -> bool {
        self.verifier.load(Ordering::SeqCst)
    }

    fn sent_through(&self) -> Option<BlockNumber> {
        decode(self.sent.load(Ordering::SeqCst))
    }

    fn applied_through(&self) -> Option<BlockNumber> {
        decode(self.applied.load(Ordering::SeqCst))
    }
}

/// `Some(block)` as `block + 1`, `None` as 0. Block `u64::MAX` reads back as `u64::MAX - 1`:
/// no chain gets there, and the value only ever feeds "through at least" comparisons.
fn encode(block: BlockNumber) -> u64 {
    block.saturating_add(1)
}

fn decode(raw: u64) -> Option<BlockNumber> {
    raw.checked_sub(1)
}

/// One live link: the facts that change rarely, and the progress its task writes.
#[derive(Debug)]
struct Entry {
    session: PeerSession,
    progress: Arc<LinkProgress>,
}

impl Entry {
    fn snapshot(&self) -> PeerSession {
        PeerSession {
            sent_through: self.progress.sent_through(),
            applied_through: self.progress.applied_through(),
            ..self.session.clone()
        }
    }
}

/// Answers "who is this peer and how far has replay gone?" for every live link.
///
/// It only ever changes by [`apply`](Self::apply)ing events, or by a link's task recording its
/// progress before it publishes the matching event, so it is at least as current as the event
/// stream.
#[derive(Debug, Default)]
pub(crate) struct PeerSessionStore {
    sessions: HashMap<ConnectionId, Entry>,
}

impl PeerSessionStore {
    /// Updates the store with one event.
    pub(crate) fn apply(&mut self, event: &ProtocolEvent) {
        match event {
            ProtocolEvent::Established {
                conn,
                info,
                trusted,
            } => {
                let session = PeerSession {
                    conn: *conn,
                    info: info.clone(),
                    trusted: *trusted,
                    replay_from: None,
                    sent_through: None,
                    applied_through: None,
                    verifier: VerifierStatus::None,
                };
                let progress = Arc::default();
                self.sessions.insert(*conn, Entry { session, progress });
            }
            ProtocolEvent::Closed { conn, .. } => {
                self.sessions.remove(conn);
            }
            ProtocolEvent::ReplayRequested {
                conn,
                starting_block,
                ..
            } => {
                if let Some(e) = self.sessions.get_mut(conn) {
                    e.session.replay_from = Some(*starting_block);
                }
            }
            ProtocolEvent::ReplayBlockSent {
                conn, last_block, ..
            } => {
                if let Some(e) = self.sessions.get(conn) {
                    e.progress.record_sent(*last_block);
                }
            }
            ProtocolEvent::ReplayApplied {
                conn, last_block, ..
            } => {
                if let Some(e) = self.sessions.get(conn) {
                    e.progress.record_applied(*last_block);
                }
            }
            ProtocolEvent::VerifierRoleRequested { conn, .. } => {
                self.set_verifier(*conn, VerifierStatus::RoleRequested);
            }
            ProtocolEvent::VerifierChallengeSent { conn, .. } => {
                self.set_verifier(*conn, VerifierStatus::Challenged);
            }
            ProtocolEvent::VerifierAuthorized { conn, signer, .. } => {
                self.set_verifier(*conn, VerifierStatus::Authorized(*signer));
            }
            ProtocolEvent::VerifierUnauthorized { conn, signer, .. } => {
                self.set_verifier(*conn, VerifierStatus::Unauthorized(*signer));
            }
            ProtocolEvent::DialFailed { .. }
            | ProtocolEvent::UpstreamSwitched { .. }
            | ProtocolEvent::ReplayLoop { .. }
            | ProtocolEvent::BatchRefused { .. }
            | ProtocolEvent::IncomingFailed { .. }
            | ProtocolEvent::MaxActiveConnectionsExceeded { .. }
            | ProtocolEvent::BatchDispatched { .. }
            | ProtocolEvent::BatchResultReceived { .. }
            | ProtocolEvent::BatchResultDropped { .. }
            | ProtocolEvent::BatchAnswered { .. } => {}
        }
    }

    fn set_verifier(&mut self, conn: ConnectionId, status: VerifierStatus) {
        if let Some(e) = self.sessions.get_mut(&conn) {
            let authorized = matches!(status, VerifierStatus::Authorized(_));
            e.progress.verifier.store(authorized, Ordering::SeqCst);
            e.session.verifier = status;
        }
    }

    /// The session of one link, as of now.
    pub(crate) fn get(&self, conn: ConnectionId) -> Option<PeerSession> {
        self.sessions.get(&conn).map(Entry::snapshot)
    }

    /// The progress cell of one link, for its task to write.
    pub(crate) fn progress(&self, conn: ConnectionId) -> Option<Arc<LinkProgress>> {
        self.sessions.get(&conn).map(|e| Arc::clone(&e.progress))
    }

    /// Every live session as of now, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = PeerSession> + '_ {
        self.sessions.values().map(Entry::snapshot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::LinkCaps;
    use crate::wire::ZksVersion;
    use crate::{Direction, PeerAddr, PeerId};

    fn established(store: &mut PeerSessionStore, conn: u64) -> Arc<LinkProgress> {
        store.apply(&ProtocolEvent::Established {
            conn: ConnectionId(conn),
            info: LinkInfo {
                peer: PeerId::from("peer"),
                remote_addr: PeerAddr::from("peer"),
                direction: Direction::Inbound,
                caps: LinkCaps::zks(ZksVersion::V3),
            },
            trusted: false,
        });
        store
            .progress(ConnectionId(conn))
            .unwrap_or_else(|| panic!("no cell for link {conn}"))
    }

    #[test]
    fn progress_written_by_the_link_shows_in_the_session_without_an_event() {
        let mut store = PeerSessionStore::default();
        let cell = established(&mut store, 1);
        let other = established(&mut store, 2);
        let session = |store: &PeerSessionStore, conn| store.get(ConnectionId(conn));
        assert_eq!(session(&store, 1).map(|s| s.sent_through), Some(None));

        cell.record_sent(0);
        assert_eq!(session(&store, 1).map(|s| s.sent_through), Some(Some(0)));
        cell.record_sent(63);
        other.record_applied(7);
        let one = session(&store, 1);
        assert_eq!(one.as_ref().map(|s| s.sent_through), Some(Some(63)));
        assert_eq!(one.map(|s| s.applied_through), Some(None));
        assert_eq!(session(&store, 2).map(|s| s.applied_through), Some(Some(7)));
        assert_eq!(session(&store, 2).map(|s| s.sent_through), Some(None));

        // Never backwards, whichever path writes: the cell or an applied event.
        cell.record_sent(10);
        store.apply(&ProtocolEvent::ReplayBlockSent {
            conn: ConnectionId(1),
            peer: PeerId::from("peer"),
            first_block: 64,
            last_block: 127,
        });
        assert_eq!(session(&store, 1).map(|s| s.sent_through), Some(Some(127)));

        store.apply(&ProtocolEvent::Closed {
            conn: ConnectionId(1),
            peer: PeerId::from("peer"),
            cause: crate::node::CloseCause::Shutdown,
        });
        assert_eq!(session(&store, 1), None);
        assert!(store.progress(ConnectionId(1)).is_none());
        // A cell outliving its session is harmless: nothing reads it.
        cell.record_sent(200);
        assert_eq!(store.iter().count(), 1);
    }

    #[test]
    fn the_cell_knows_whether_the_peer_is_an_authorized_verifier() {
        let mut store = PeerSessionStore::default();
        let cell = established(&mut store, 1);
        assert!(!cell.is_verifier());
        let signer = SignerAddress([9; 20]);
        store.apply(&ProtocolEvent::VerifierAuthorized {
            conn: ConnectionId(1),
            peer: PeerId::from("peer"),
            signer,
        });
        assert!(cell.is_verifier());
        assert_eq!(
            store.get(ConnectionId(1)).map(|s| s.verifier),
            Some(VerifierStatus::Authorized(signer))
        );
        store.apply(&ProtocolEvent::VerifierUnauthorized {
            conn: ConnectionId(1),
            peer: PeerId::from("peer"),
            signer: Some(signer),
        });
        assert!(!cell.is_verifier());
    }

    #[test]
    fn the_last_block_number_saturates_instead_of_reading_as_none() {
        let cell = LinkProgress::default();
        cell.record_sent(u64::MAX);
        assert_eq!(cell.sent_through(), Some(u64::MAX - 1));
    }
}
