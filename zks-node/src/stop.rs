//! [`StopAfter`]: the sink behind `--exit-at-block`.

use async_trait::async_trait;
use zks_api::{
    BlockNumber, Overrides, ReplayRecord as _, ReplaySink, ReplaySource, SinkError, SourceError,
};

/// A sink that applies blocks up to `last` and refuses every block after it, for
/// `--exit-at-block`: records past `last` are never applied.
///
/// Records arrive in batches that need not end at `last`; a batch that crosses it has its part
/// up to `last` applied (one atomic apply of the inner sink) and the rest refused with a
/// [`SinkError`], which ends the link (the node is about to stop anyway).
#[derive(Clone, Debug)]
pub struct StopAfter<S> {
    inner: S,
    last: BlockNumber,
}

/// Why [`StopAfter`] refused records.
#[derive(Debug, thiserror::Error)]
#[error(
    "--exit-at-block {last}: not applying blocks {first}..={end} (stopping after block {last})"
)]
pub struct StoppedAt {
    /// The last block applied.
    pub last: BlockNumber,
    /// The first block refused.
    pub first: BlockNumber,
    /// The last block refused.
    pub end: BlockNumber,
}

impl<S> StopAfter<S> {
    /// `inner`, applying nothing after block `last`.
    pub fn new(inner: S, last: BlockNumber) -> Self {
        Self { inner, last }
    }
}

#[async_trait]
impl<S: ReplaySink> ReplaySink for StopAfter<S> {
    type Record = S::Record;

    fn resume_block(&self) -> BlockNumber {
        self.inner.resume_block()
    }

    async fn apply(&self, mut records: Vec<S::Record>) -> Result<(), SinkError> {
        let keep = records
            .iter()
            .take_while(|r| r.block_number() <= self.last)
            .count();
        let refused = records.split_off(keep);
        if !records.is_empty() {
            self.inner.apply(records).await?;
        }
        match (refused.first(), refused.last()) {
            (Some(first), Some(end)) => Err(SinkError::new(StoppedAt {
                last: self.last,
                first: first.block_number(),
                end: end.block_number(),
            })),
            _ => Ok(()),
        }
    }
}

/// A relay serves what it applied: reads go to the store as they are.
#[async_trait]
impl<S: ReplaySource> ReplaySource for StopAfter<S> {
    type Record = S::Record;

    fn next_block(&self) -> BlockNumber {
        self.inner.next_block()
    }

    fn first_block(&self) -> BlockNumber {
        self.inner.first_block()
    }

    async fn read(
        &self,
        from: BlockNumber,
        max: usize,
        overrides: &Overrides,
    ) -> Result<Vec<S::Record>, SourceError> {
        self.inner.read(from, max, overrides).await
    }

    async fn wait_for(&self, block: BlockNumber) {
        self.inner.wait_for(block).await;
    }

    fn holds_overrides(&self, overrides: &Overrides) -> bool {
        self.inner.holds_overrides(overrides)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use zks_api::{RawRecord, Role};

    use super::*;
    use crate::store::RedbReplayStore;

    fn records(range: std::ops::Range<u64>) -> Vec<RawRecord> {
        range.map(|b| RawRecord::new(b, format!("b{b}"))).collect()
    }

    #[tokio::test]
    async fn stop_after_applies_up_to_the_last_block_and_refuses_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbReplayStore::open(dir.path(), Role::ExternalNode).unwrap();
        let sink = StopAfter::new(store.clone(), 5);
        sink.apply(records(0..3)).await.unwrap();
        assert_eq!(store.next_block(), 3);
        // A batch across the boundary: 3..=5 applied, 6..=9 refused.
        let err = sink.apply(records(3..10)).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "--exit-at-block 5: not applying blocks 6..=9 (stopping after block 5)"
        );
        assert_eq!(store.next_block(), 6);
        assert_eq!(sink.resume_block(), 6);
        // A batch wholly past it: nothing applied.
        let err = sink.apply(records(6..8)).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "--exit-at-block 5: not applying blocks 6..=7 (stopping after block 5)"
        );
        assert_eq!(store.summary().unwrap().last, Some(5));
    }

    #[tokio::test]
    async fn stop_after_the_last_possible_block_applies_everything() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbReplayStore::open(dir.path(), Role::ExternalNode).unwrap();
        let sink = StopAfter::new(store.clone(), BlockNumber::MAX);
        sink.apply(records(0..100)).await.unwrap();
        assert_eq!(store.next_block(), 100);
    }
}
