//! [`ReplayCache`]: `BlockReplays` messages encoded once for every link at the same place.
//!
//! Near the head, many external nodes ask for the same blocks with the same version and batch
//! size; each would read and encode the same records. The main node's driver keeps the last
//! messages it encoded, by [`ShareKey`], and hands a link a message another link's read produced
//! when it is exactly what a fresh read would give. Bounded by count and bytes; the oldest
//! positions go first.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::shared::lock;
use crate::BlockNumber;
use crate::engine::{ShareKey, SharedReplays};

/// Most messages kept.
const MAX_ENTRIES: usize = 1024;
/// Most message bytes kept (the bodies are shared with the link queues that carry them). Small:
/// sharing pays near the head, where messages are small and links read them within moments;
/// a node with one slow link must not keep megabytes alive for nobody.
const MAX_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Default)]
pub(crate) struct ReplayCache {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: BTreeMap<ShareKey, SharedReplays>,
    bytes: usize,
}

impl ReplayCache {
    /// The message at `key`, if one is kept and a fresh read would give the same: it is full
    /// (its batch size of records), or the source holds nothing past it (`source_next`).
    pub(crate) fn get(&self, key: ShareKey, source_next: BlockNumber) -> Option<SharedReplays> {
        let inner = lock(&self.inner);
        let entry = inner.entries.get(&key)?;
        let held = usize::try_from(entry.next_block.saturating_sub(key.first_block)).ok()?;
        (held >= key.batch || entry.next_block >= source_next).then(|| entry.clone())
    }

    /// Keeps `shared` at `key`, dropping the oldest positions past the bounds.
    pub(crate) fn insert(&self, key: ShareKey, shared: SharedReplays) {
        let size = shared.frame.len();
        if size > MAX_BYTES {
            return;
        }
        let mut inner = lock(&self.inner);
        if let Some(old) = inner.entries.insert(key, shared) {
            inner.bytes -= old.frame.len();
        }
        inner.bytes += size;
        while inner.entries.len() > MAX_ENTRIES || inner.bytes > MAX_BYTES {
            let Some((_, oldest)) = inner.entries.pop_first() else {
                break;
            };
            inner.bytes -= oldest.frame.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Frame, ZksVersion};

    fn key(first_block: BlockNumber, batch: usize) -> ShareKey {
        ShareKey {
            first_block,
            version: ZksVersion::V3,
            batch,
        }
    }

    fn message(next_block: BlockNumber, bytes: usize) -> SharedReplays {
        SharedReplays {
            frame: Frame::zks(1, vec![0u8; bytes]),
            next_block,
        }
    }

    #[test]
    fn a_short_message_is_reused_only_while_the_source_has_nothing_more() {
        let cache = ReplayCache::default();
        cache.insert(key(10, 64), message(13, 100));
        assert_eq!(cache.get(key(10, 64), 13), Some(message(13, 100)));
        assert_eq!(cache.get(key(10, 64), 14), None, "a fresh read has more");
        assert_eq!(cache.get(key(10, 2), 13), None, "another key");
        cache.insert(key(20, 2), message(22, 100));
        assert_eq!(cache.get(key(20, 2), 1_000), Some(message(22, 100)), "full");
    }

    #[test]
    fn bounded_by_count_and_bytes_oldest_first() {
        let cache = ReplayCache::default();
        for b in 0..(MAX_ENTRIES as u64 + 10) {
            cache.insert(key(b, 1), message(b + 1, 10));
        }
        assert_eq!(cache.get(key(9, 1), 10), None);
        assert!(cache.get(key(10, 1), 11).is_some());
        let big = MAX_BYTES / 2;
        cache.insert(key(5_000, 1), message(5_001, big));
        cache.insert(key(5_001, 1), message(5_002, big));
        let inner = lock(&cache.inner);
        assert!(inner.bytes <= MAX_BYTES, "{}", inner.bytes);
        assert!(inner.entries.contains_key(&key(5_001, 1)));
    }
}
