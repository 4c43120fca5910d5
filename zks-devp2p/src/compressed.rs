//! [`CompressedCache`]: a message body compressed once for every link that sends it.
//!
//! A main node sends the same `BlockReplays` (one shared `Bytes`, encoded once by the engine) to
//! every external node at the same place; each link would Snappy-compress it again. The cache
//! keeps the last few compressed bodies by the identity of the body they came from: the same
//! allocation and length. It holds that body, so the allocation cannot be freed and reused for
//! other bytes while its entry lives — identity means equal content.
//!
//! A link that is the transport's only one compresses straight into its frame instead
//! ([`CacheUser::is_shared`]): with nobody to share with, the cache would cost it a second
//! buffer and a copy per message for nothing.

use std::collections::VecDeque;
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;

/// Bodies smaller than this are compressed by each link (cheaper than a lookup).
pub(crate) const MIN_SHARED_BODY: usize = 1024;
/// Most entries kept.
const MAX_ENTRIES: usize = 64;
/// Most bytes kept, bodies and their compressions: small, as sharing pays near the head,
/// where bodies are small and links send them within moments of each other.
const MAX_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Default)]
pub(crate) struct CompressedCache {
    inner: Mutex<Inner>,
    /// Links sending through the cache now ([`CacheUser`]s alive).
    users: AtomicUsize,
}

/// One link's use of a [`CompressedCache`]: counted while it lives.
#[derive(Debug)]
pub(crate) struct CacheUser(Arc<CompressedCache>);

impl CacheUser {
    /// Counts a link in until the returned handle is dropped.
    pub(crate) fn join(cache: &Arc<CompressedCache>) -> Self {
        cache.users.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(cache))
    }

    /// Whether another link sends through the same cache now, so a body this link compresses
    /// may be wanted again.
    pub(crate) fn is_shared(&self) -> bool {
        self.0.users.load(Ordering::Relaxed) > 1
    }
}

impl Deref for CacheUser {
    type Target = CompressedCache;

    fn deref(&self) -> &CompressedCache {
        &self.0
    }
}

impl Drop for CacheUser {
    fn drop(&mut self) {
        self.0.users.fetch_sub(1, Ordering::Relaxed);
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// (the body, its compression), newest last.
    entries: VecDeque<(Bytes, Bytes)>,
    /// Bodies and compressions held.
    bytes: usize,
}

impl CompressedCache {
    /// `body` Snappy-compressed: from the cache when another link compressed this very body,
    /// else compressed now by `compress` and kept.
    pub(crate) fn compressed(&self, body: &Bytes, compress: impl FnOnce(&[u8]) -> Bytes) -> Bytes {
        let same = |(b, _): &&(Bytes, Bytes)| b.as_ptr() == body.as_ptr() && b.len() == body.len();
        if let Some((_, c)) = self.lock().entries.iter().rev().find(same) {
            return c.clone();
        }
        let compressed = compress(body);
        let size = body.len() + compressed.len();
        if size > MAX_BYTES {
            return compressed;
        }
        let mut inner = self.lock();
        inner.bytes += size;
        inner.entries.push_back((body.clone(), compressed.clone()));
        while inner.entries.len() > MAX_ENTRIES || inner.bytes > MAX_BYTES {
            let Some((old_body, old)) = inner.entries.pop_front() else {
                break;
            };
            inner.bytes -= old_body.len() + old.len();
        }
        compressed
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Compressed bodies kept now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snappy(body: &[u8]) -> Bytes {
        Bytes::from(snap::raw::Encoder::new().compress_vec(body).unwrap())
    }

    #[test]
    fn one_body_is_compressed_once_and_equal_bytes_elsewhere_are_not_mistaken_for_it() {
        let cache = CompressedCache::default();
        let body = Bytes::from(vec![7u8; 4096]);
        let first = cache.compressed(&body, snappy);
        let again = cache.compressed(&body.clone(), snappy);
        assert_eq!(first.as_ptr(), again.as_ptr(), "served from the cache");
        let decoded = snap::raw::Decoder::new().decompress_vec(&first).unwrap();
        assert_eq!(decoded, body);
        // Same content, another allocation: compressed on its own (same bytes out).
        let copy = Bytes::from(vec![7u8; 4096]);
        let other = cache.compressed(&copy, snappy);
        assert_ne!(other.as_ptr(), first.as_ptr());
        assert_eq!(other, first);
        // A slice of the body is another body.
        let half = body.slice(..2048);
        let h = cache.compressed(&half, snappy);
        assert_eq!(
            snap::raw::Decoder::new().decompress_vec(&h).unwrap(),
            &body[..2048]
        );
    }

    #[test]
    fn shared_while_two_links_use_it() {
        let cache = Arc::new(CompressedCache::default());
        let first = CacheUser::join(&cache);
        assert!(!first.is_shared(), "one link alone");
        let second = CacheUser::join(&cache);
        assert!(first.is_shared() && second.is_shared());
        drop(second);
        assert!(
            !first.is_shared(),
            "alone again once the other link is gone"
        );
    }

    #[test]
    fn bounded_oldest_first() {
        let cache = CompressedCache::default();
        let bodies: Vec<Bytes> = (0..MAX_ENTRIES + 5)
            .map(|i| Bytes::from(vec![u8::try_from(i % 251).unwrap(); 2048]))
            .collect();
        for b in &bodies {
            cache.compressed(b, snappy);
        }
        let inner = cache.lock();
        assert_eq!(inner.entries.len(), MAX_ENTRIES);
        assert_eq!(inner.entries[0].0.as_ptr(), bodies[5].as_ptr());
    }
}
