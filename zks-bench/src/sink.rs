//! [`BenchSink`]: a replay sink that counts, validates contiguity, and optionally timestamps
//! every apply (for append → apply latency), without storing the records.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use tokio::sync::watch;
use zks_api::{BlockNumber, RawRecord, ReplaySink, SinkError};

/// One apply call: blocks `first..=last` became visible at `at`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Applied {
    pub(crate) first: BlockNumber,
    pub(crate) last: BlockNumber,
    pub(crate) at: Instant,
}

/// Counts what the engine applies; drops the records.
#[derive(Debug)]
pub(crate) struct BenchSink {
    next: watch::Sender<BlockNumber>,
    bytes: AtomicU64,
    stamps: Option<Mutex<Vec<Applied>>>,
}

impl BenchSink {
    /// A sink starting at block 0; `timestamps` records each apply's instant.
    pub(crate) fn new(timestamps: bool) -> Self {
        Self {
            next: watch::Sender::new(0),
            bytes: AtomicU64::new(0),
            stamps: timestamps.then(|| Mutex::new(Vec::new())),
        }
    }

    /// Waits until every block below `next` is applied.
    pub(crate) async fn wait_until(&self, next: BlockNumber) {
        let mut rx = self.next.subscribe();
        // The sender lives in `self`: the channel cannot close while we wait.
        let _ = rx.wait_for(|n| *n >= next).await;
    }

    /// Payload bytes applied so far.
    pub(crate) fn payload_bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Every apply so far, in order.
    pub(crate) fn stamps(&self) -> Vec<Applied> {
        self.stamps
            .as_ref()
            .map(|s| s.lock().map(|v| v.clone()).unwrap_or_default())
            .unwrap_or_default()
    }

    /// The apply instant of each block `0..n` (None for blocks not applied).
    pub(crate) fn block_times(&self, n: BlockNumber) -> Vec<Option<Instant>> {
        let mut times = vec![None; usize::try_from(n).unwrap_or(0)];
        for a in self.stamps() {
            for b in a.first..=a.last {
                if let Some(slot) = usize::try_from(b).ok().and_then(|i| times.get_mut(i)) {
                    *slot = Some(a.at);
                }
            }
        }
        times
    }
}

#[async_trait]
impl ReplaySink for BenchSink {
    type Record = RawRecord;

    fn resume_block(&self) -> BlockNumber {
        *self.next.borrow()
    }

    async fn apply(&self, records: Vec<RawRecord>) -> Result<(), SinkError> {
        let at = Instant::now();
        let first = self.resume_block();
        let mut expected = first;
        let mut bytes = 0u64;
        for r in &records {
            if r.block_number != expected {
                return Err(SinkError::new(format!(
                    "block {} where {expected} was due",
                    r.block_number
                )));
            }
            expected += 1;
            bytes += r.payload.len() as u64;
        }
        if expected == first {
            return Ok(());
        }
        if let Some(mut v) = self.stamps.as_ref().and_then(|s| s.lock().ok()) {
            v.push(Applied {
                first,
                last: expected - 1,
                at,
            });
        }
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.next.send_replace(expected);
        Ok(())
    }
}
