//! [`PeerSession`]: what a node knows about one live link, as [`Node::sessions`] reports it,
//! and [`LinkProgress`]: the part of it that changes with every message.
//!
//! Replay progress (blocks sent and applied) lives apart from the link table's lock: each
//! link's task writes its own [`LinkProgress`], and a session is filled in from it when read.
//!
//! [`Node::sessions`]: crate::Node::sessions

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::engine::{VerifierChannel, VerifierStatus};
use crate::transport::LinkInfo;
use crate::{BlockNumber, ConnectionId, SignerAddress};

/// Facts about one live link: who the peer is, and how far replay and verification went.
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
/// (the per-message path of a main node with many ENs) and read when a session is.
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

    /// Records whether the peer is an authorized verifier.
    pub(crate) fn set_verifier(&self, authorized: bool) {
        self.verifier.store(authorized, Ordering::SeqCst);
    }

    /// `facts` with this link's progress filled in.
    pub(crate) fn fill(&self, facts: PeerSession) -> PeerSession {
        PeerSession {
            sent_through: self.sent_through(),
            applied_through: self.applied_through(),
            ..facts
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_only_moves_forward_and_fills_a_session() {
        let cell = LinkProgress::default();
        assert_eq!((cell.sent_through(), cell.applied_through()), (None, None));
        cell.record_sent(0);
        assert_eq!(cell.sent_through(), Some(0));
        cell.record_sent(63);
        cell.record_sent(10);
        assert_eq!(cell.sent_through(), Some(63), "never backwards");
        cell.record_applied(7);
        assert_eq!(cell.applied_through(), Some(7));
        assert!(!cell.is_verifier());
        cell.set_verifier(true);
        assert!(cell.is_verifier());
    }

    #[test]
    fn the_last_block_number_saturates_instead_of_reading_as_none() {
        let cell = LinkProgress::default();
        cell.record_sent(u64::MAX);
        assert_eq!(cell.sent_through(), Some(u64::MAX - 1));
    }
}
