//! An in-memory replay store for tests and examples: a [`ReplaySource`] and a [`ReplaySink`].

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::watch;

use crate::{
    BlockNumber, Overrides, RawRecord, ReplayRecord, ReplaySink, ReplaySource, SinkError,
    SourceError,
};

/// An in-memory chain of replay records with push notification and record overrides.
///
/// As a source it serves an MN; as a sink it stores what an EN applied. Appends wake every
/// stream waiting in [`ReplaySource::wait_for`] at once: no polling.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use zks_api::{MemoryReplayStore, RawRecord, ReplaySource};
///
/// let store = MemoryReplayStore::new();
/// store.push(RawRecord::new(0, "genesis")).unwrap();
/// assert_eq!(store.next_block(), 1);
/// store.wait_for(0).await; // already there: resolves at once
/// # });
/// ```
#[derive(Debug)]
pub struct MemoryReplayStore<R = RawRecord> {
    inner: Mutex<Inner<R>>,
    next_block: watch::Sender<BlockNumber>,
}

#[derive(Debug)]
struct Inner<R> {
    first_block: BlockNumber,
    records: Vec<R>,
    overrides: HashMap<(BlockNumber, Bytes), R>,
}

impl<R: ReplayRecord + Clone> Default for MemoryReplayStore<R> {
    fn default() -> Self {
        Self::with_first_block(0)
    }
}

impl MemoryReplayStore<RawRecord> {
    /// An empty store of [`RawRecord`]s whose first block is 0. For another record type use
    /// [`Default`] or [`with_first_block`](Self::with_first_block).
    pub fn new() -> Self {
        Self::with_first_block(0)
    }

    /// An empty store of [`RawRecord`]s whose first block is `first_block` (an EN that joins
    /// mid-chain).
    pub fn starting_at(first_block: BlockNumber) -> Self {
        Self::with_first_block(first_block)
    }
}

impl<R: ReplayRecord + Clone> MemoryReplayStore<R> {
    /// An empty store whose first block is `first_block`.
    pub fn with_first_block(first_block: BlockNumber) -> Self {
        Self {
            inner: Mutex::new(Inner {
                first_block,
                records: Vec::new(),
                overrides: HashMap::new(),
            }),
            next_block: watch::Sender::new(first_block),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<R>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends records, which must continue the chain; wakes waiting streams.
    ///
    /// # Errors
    ///
    /// When a record is not the next block; records before it stay appended.
    pub fn extend(&self, records: impl IntoIterator<Item = R>) -> Result<(), SinkError> {
        let mut inner = self.lock();
        let mut result = Ok(());
        for record in records {
            let expected = inner.first_block + inner.records.len() as u64;
            if record.block_number() != expected {
                result = Err(SinkError::new(format!(
                    "record for block {} does not continue the chain at {expected}",
                    record.block_number()
                )));
                break;
            }
            inner.records.push(record);
        }
        let next = inner.first_block + inner.records.len() as u64;
        drop(inner);
        self.next_block.send_replace(next);
        result
    }

    /// Appends one record; see [`extend`](Self::extend).
    ///
    /// # Errors
    ///
    /// When the record is not the next block.
    pub fn push(&self, record: R) -> Result<(), SinkError> {
        self.extend([record])
    }

    /// Stores `record` as the override of `block` under `db_key`.
    pub fn set_override(&self, block: BlockNumber, db_key: impl Into<Bytes>, record: R) {
        self.lock().overrides.insert((block, db_key.into()), record);
    }

    /// A copy of every stored record, in order.
    pub fn records(&self) -> Vec<R> {
        self.lock().records.clone()
    }

    /// The block numbers stored, in order.
    pub fn block_numbers(&self) -> Vec<BlockNumber> {
        self.lock()
            .records
            .iter()
            .map(ReplayRecord::block_number)
            .collect()
    }

    /// Waits until the store holds every block below `next_block`.
    pub async fn wait_until(&self, next_block: BlockNumber) {
        let mut rx = self.next_block.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = rx.wait_for(|n| *n >= next_block).await;
    }

    /// A receiver that sees `next_block` change.
    pub fn subscribe(&self) -> watch::Receiver<BlockNumber> {
        self.next_block.subscribe()
    }
}

#[async_trait]
impl<R: ReplayRecord + Clone> ReplaySource for MemoryReplayStore<R> {
    type Record = R;

    fn next_block(&self) -> BlockNumber {
        *self.next_block.borrow()
    }

    fn first_block(&self) -> BlockNumber {
        self.lock().first_block
    }

    async fn read(
        &self,
        from: BlockNumber,
        max: usize,
        overrides: &Overrides,
    ) -> Result<Vec<R>, SourceError> {
        let inner = self.lock();
        let Some(start) = from.checked_sub(inner.first_block) else {
            return Err(SourceError::new(format!(
                "block {from} is before the first stored block {}",
                inner.first_block
            )));
        };
        let start = usize::try_from(start)
            .unwrap_or(usize::MAX)
            .min(inner.records.len());
        let end = start.saturating_add(max).min(inner.records.len());
        Ok(inner.records[start..end]
            .iter()
            .map(|record| {
                let block = record.block_number();
                overrides
                    .get(block)
                    .and_then(|key| inner.overrides.get(&(block, key.clone())))
                    .unwrap_or(record)
                    .clone()
            })
            .collect())
    }

    async fn wait_for(&self, block: BlockNumber) {
        self.wait_until(block.saturating_add(1)).await;
    }

    fn holds_overrides(&self, overrides: &Overrides) -> bool {
        let inner = self.lock();
        overrides
            .iter()
            .all(|(block, key)| inner.overrides.contains_key(&(block, key.clone())))
    }
}

#[async_trait]
impl<R: ReplayRecord + Clone> ReplaySink for MemoryReplayStore<R> {
    type Record = R;

    fn resume_block(&self) -> BlockNumber {
        *self.next_block.borrow()
    }

    async fn apply(&self, records: Vec<R>) -> Result<(), SinkError> {
        // All or nothing: validate before appending.
        let next = self.resume_block();
        if records
            .iter()
            .zip(next..)
            .any(|(r, expected)| r.block_number() != expected)
        {
            return Err(SinkError::new(format!(
                "records do not continue the chain at {next}"
            )));
        }
        self.extend(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn overrides_replace_requested_blocks_only() {
        let store = MemoryReplayStore::new();
        store
            .extend((0..4).map(|b| RawRecord::new(b, "canonical")))
            .unwrap();
        store.set_override(2, "alt", RawRecord::new(2, "overridden"));
        let overrides: Overrides = [crate::wire::RecordOverride {
            block_number: 2,
            db_key: Bytes::from_static(b"alt"),
        }]
        .into_iter()
        .collect();
        let got = store.read(1, 10, &overrides).await.unwrap();
        let payloads: Vec<_> = got.iter().map(|r| r.payload.clone()).collect();
        assert_eq!(payloads, ["canonical", "overridden", "canonical"]);
        assert_eq!(
            store.read(1, 10, &Overrides::default()).await.unwrap()[1].payload,
            "canonical"
        );
    }

    #[tokio::test]
    async fn apply_is_all_or_nothing() {
        let store = MemoryReplayStore::starting_at(5);
        let bad = vec![RawRecord::new(5, ""), RawRecord::new(7, "")];
        assert!(store.apply(bad).await.is_err());
        assert_eq!(store.block_numbers(), Vec::<u64>::new());
        store
            .apply(vec![RawRecord::new(5, ""), RawRecord::new(6, "")])
            .await
            .unwrap();
        assert_eq!(store.block_numbers(), [5, 6]);
        assert!(store.read(4, 1, &Overrides::default()).await.is_err());
    }
}
