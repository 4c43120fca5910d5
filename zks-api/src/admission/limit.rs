use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::TooManyPeers;
use crate::PeerId;

/// The shared cap: cheap to clone, all clones count against one limit.
#[derive(Clone, Debug)]
pub struct ConnectionLimit {
    slots: Arc<Semaphore>,
    limit: usize,
    trusted: Arc<HashSet<PeerId>>,
}

/// A link's admission; dropping it frees the slot (if it took one).
#[derive(Debug)]
#[must_use = "the slot is freed when the permit is dropped"]
pub struct ConnectionPermit {
    _slot: Option<OwnedSemaphorePermit>,
}

impl ConnectionLimit {
    /// At most `limit` untrusted links at once; `trusted` peers are exempt.
    pub fn new(limit: usize, trusted: impl IntoIterator<Item = PeerId>) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(limit)),
            limit,
            trusted: Arc::new(trusted.into_iter().collect()),
        }
    }

    /// Admits a link from `peer` now, or refuses it; never waits.
    ///
    /// # Errors
    ///
    /// [`TooManyPeers`] when every slot is taken and the peer is not trusted.
    pub fn try_admit(&self, peer: &PeerId) -> Result<ConnectionPermit, TooManyPeers> {
        if self.trusted.contains(peer) {
            return Ok(ConnectionPermit { _slot: None });
        }
        Arc::clone(&self.slots)
            .try_acquire_owned()
            .map(|slot| ConnectionPermit { _slot: Some(slot) })
            .map_err(|_| TooManyPeers { limit: self.limit })
    }

    /// Admits a link from `peer`, waiting for a slot while every one is taken (trusted peers
    /// never wait). Used after the node closed a silent link to make room.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a cancelled call holds no slot.
    pub async fn admit(&self, peer: &PeerId) -> ConnectionPermit {
        if self.trusted.contains(peer) {
            return ConnectionPermit { _slot: None };
        }
        // The semaphore is never closed, so acquiring only waits.
        let slot = Arc::clone(&self.slots).acquire_owned().await.ok();
        ConnectionPermit { _slot: slot }
    }

    /// Whether `peer` is exempt from the cap.
    pub fn is_trusted(&self, peer: &PeerId) -> bool {
        self.trusted.contains(peer)
    }

    /// Slots free right now.
    pub fn available(&self) -> usize {
        self.slots.available_permits()
    }

    /// The cap.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_strangers_but_not_trusted_peers_and_frees_on_drop() {
        let limit = ConnectionLimit::new(2, [PeerId::from("mn")]);
        let a = limit.try_admit(&"a".into()).unwrap();
        let _b = limit.try_admit(&"b".into()).unwrap();
        assert_eq!(
            limit.try_admit(&"c".into()).unwrap_err(),
            TooManyPeers { limit: 2 }
        );
        let _trusted = limit.try_admit(&"mn".into()).unwrap();
        assert_eq!(limit.available(), 0);
        drop(a);
        assert_eq!(limit.available(), 1);
        assert!(limit.try_admit(&"c".into()).is_ok());
    }
}
