//! [`PeerSessionStore`]: what we know about each live link, derived from events.

use std::collections::HashMap;

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

    /// MN: whether this peer may be sent a batch ending at `last_block`: a zks/3 link, an
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

/// Answers "who is this peer and how far has replay gone?" for every live link.
///
/// It only ever changes by [`apply`](Self::apply)ing events, so it is exactly as current as the
/// event stream.
#[derive(Debug, Default)]
pub(crate) struct PeerSessionStore {
    sessions: HashMap<ConnectionId, PeerSession>,
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
                self.sessions.insert(
                    *conn,
                    PeerSession {
                        conn: *conn,
                        info: info.clone(),
                        trusted: *trusted,
                        replay_from: None,
                        sent_through: None,
                        applied_through: None,
                        verifier: VerifierStatus::None,
                    },
                );
            }
            ProtocolEvent::Closed { conn, .. } => {
                self.sessions.remove(conn);
            }
            ProtocolEvent::ReplayRequested {
                conn,
                starting_block,
                ..
            } => {
                if let Some(s) = self.sessions.get_mut(conn) {
                    s.replay_from = Some(*starting_block);
                }
            }
            ProtocolEvent::ReplayBlockSent {
                conn, last_block, ..
            } => {
                if let Some(s) = self.sessions.get_mut(conn) {
                    s.sent_through = Some(*last_block);
                }
            }
            ProtocolEvent::ReplayApplied {
                conn, last_block, ..
            } => {
                if let Some(s) = self.sessions.get_mut(conn) {
                    s.applied_through = Some(*last_block);
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
            | ProtocolEvent::IncomingFailed { .. }
            | ProtocolEvent::MaxActiveConnectionsExceeded { .. }
            | ProtocolEvent::BatchDispatched { .. }
            | ProtocolEvent::BatchResultReceived { .. }
            | ProtocolEvent::BatchResultDropped { .. }
            | ProtocolEvent::BatchAnswered { .. } => {}
        }
    }

    fn set_verifier(&mut self, conn: ConnectionId, status: VerifierStatus) {
        if let Some(s) = self.sessions.get_mut(&conn) {
            s.verifier = status;
        }
    }

    /// The session of one link.
    pub(crate) fn get(&self, conn: ConnectionId) -> Option<&PeerSession> {
        self.sessions.get(&conn)
    }

    /// Every live session, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &PeerSession> {
        self.sessions.values()
    }
}
