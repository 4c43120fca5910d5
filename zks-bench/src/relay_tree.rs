//! Relays: 1 MN → R relays → N ENs beside 1 MN → N ENs (R = 0), over one transport. The MN runs
//! alone on a thread of its own, so its CPU time per block is measured apart from the relays'
//! and ENs'. Blocks are appended in bulk (time until every EN has every block), then paced
//! every 2 ms (how long each hop adds: MN append → relay apply → EN apply).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};
use tokio::time::MissedTickBehavior;
use zks_api::{
    BlockNumber, MemoryReplayStore, Node, Overrides, RawRecord, ReplaySink, ReplaySource,
    SinkError, SourceError,
};

use crate::error::within;
use crate::latency::INTERVAL;
use crate::nets::{Net, TransportKind};
use crate::payload::Payloads;
use crate::sink::BenchSink;
use crate::stats::{Percentiles, thread_cpu_time};
use crate::{BenchError, nodes};

const BLOCK_BYTES: usize = 1024;

/// What one run measured.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RelayTreeMeasured {
    pub(crate) relays: usize,
    pub(crate) ens: usize,
    pub(crate) blocks: u64,
    /// Bulk: until every EN had every block.
    pub(crate) sync: Duration,
    /// The MN thread's CPU over bulk and paced blocks, per block.
    pub(crate) mn_cpu_per_block: Duration,
    /// Paced: MN append → apply one hop down (a relay, or the ENs when there is none).
    pub(crate) hop1: Percentiles,
    /// Paced: relay apply → apply at each of its ENs (relays only).
    pub(crate) hop2: Option<Percentiles>,
    pub(crate) complete: bool,
}

/// A relay's store: serves what it applied, and stamps each apply.
#[derive(Debug, Default)]
struct StampedStore {
    inner: MemoryReplayStore,
    stamps: Mutex<Vec<(BlockNumber, BlockNumber, Instant)>>,
}

impl StampedStore {
    fn block_times(&self, n: BlockNumber) -> Vec<Option<Instant>> {
        let mut times = vec![None; usize::try_from(n).unwrap_or(0)];
        let stamps = self.stamps.lock().map(|s| s.clone()).unwrap_or_default();
        for (first, last, at) in stamps {
            for b in first..=last {
                if let Some(slot) = usize::try_from(b).ok().and_then(|i| times.get_mut(i)) {
                    *slot = Some(at);
                }
            }
        }
        times
    }
}

#[async_trait]
impl ReplaySource for StampedStore {
    type Record = RawRecord;
    fn next_block(&self) -> BlockNumber {
        ReplaySource::next_block(&self.inner)
    }
    async fn read(
        &self,
        from: BlockNumber,
        max: usize,
        overrides: &Overrides,
    ) -> Result<Vec<RawRecord>, SourceError> {
        self.inner.read(from, max, overrides).await
    }
    async fn wait_for(&self, block: BlockNumber) {
        self.inner.wait_for(block).await;
    }
}

#[async_trait]
impl ReplaySink for StampedStore {
    type Record = RawRecord;
    fn resume_block(&self) -> BlockNumber {
        self.inner.resume_block()
    }
    async fn apply(&self, records: Vec<RawRecord>) -> Result<(), SinkError> {
        let (Some(first), Some(last)) = (records.first(), records.last()) else {
            return Ok(());
        };
        let (first, last) = (first.block_number, last.block_number);
        self.inner.apply(records).await?;
        if let Ok(mut stamps) = self.stamps.lock() {
            stamps.push((first, last, Instant::now()));
        }
        Ok(())
    }
}

/// The MN on a thread and runtime of its own; answers "your CPU time so far?" until dropped.
struct MainNodeThread {
    cpu: mpsc::Sender<oneshot::Sender<Duration>>,
    thread: std::thread::JoinHandle<()>,
}

impl MainNodeThread {
    async fn start(net: Arc<Net>, source: Arc<MemoryReplayStore>) -> Result<Self, BenchError> {
        let (ready_tx, ready_rx) = oneshot::channel();
        let (cpu, mut asks) = mpsc::channel::<oneshot::Sender<Duration>>(4);
        let thread = std::thread::Builder::new()
            .name("bench-mn".to_owned())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(BenchError::transport("mn runtime", e)));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let mn: Node = match nodes::main_node(&net, "mn", source).await {
                        Ok(mn) => mn,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    while let Some(reply) = asks.recv().await {
                        let _ = reply.send(thread_cpu_time());
                    }
                    nodes::shutdown([mn]).await;
                });
            })
            .map_err(|e| BenchError::transport("mn thread", e))?;
        ready_rx
            .await
            .map_err(|e| BenchError::transport("mn thread", e))??;
        Ok(Self { cpu, thread })
    }

    async fn cpu_time(&self) -> Duration {
        let (tx, rx) = oneshot::channel();
        if self.cpu.send(tx).await.is_err() {
            return Duration::ZERO;
        }
        rx.await.unwrap_or_default()
    }

    /// Closes the question channel (the MN shuts down) and waits for the thread.
    fn stop(self) {
        let Self { cpu, thread } = self;
        drop(cpu);
        let _ = thread.join();
    }
}

/// 1 MN → `relays` relays → `ens` ENs (EN i on relay i mod `relays`); `relays` 0: 1 MN → `ens`.
pub(crate) async fn relay_tree(
    kind: TransportKind,
    relays: usize,
    ens: usize,
    blocks: u64,
    paced: u64,
    seed: u64,
) -> Result<RelayTreeMeasured, BenchError> {
    let net = Arc::new(Net::new(kind).ok_or_else(|| BenchError::transport("relays", "no engine"))?);
    let source = Arc::new(MemoryReplayStore::new());
    let mn = MainNodeThread::start(Arc::clone(&net), Arc::clone(&source)).await?;
    let mut payloads = Payloads::new(seed);
    let bulk = payloads.records(0, blocks, BLOCK_BYTES);
    let tail = payloads.records(blocks, paced, BLOCK_BYTES);

    let mut up = Vec::new();
    let mut stores = Vec::new();
    for r in 0..relays {
        let store = Arc::new(StampedStore::default());
        let node = Node::builder(net.transport(&format!("relay{r}"))?)
            .settings(nodes::settings())
            .relay(Arc::clone(&store))
            .trusted_main_node(net.addr("mn")?)
            .rng_seed(seed)
            .start()
            .await
            .map_err(BenchError::node("relay"))?;
        up.push(node);
        stores.push(store);
    }
    let mut sinks = Vec::with_capacity(ens);
    for i in 0..ens {
        let sink = Arc::new(BenchSink::new(true));
        let upstream = if relays == 0 {
            "mn".to_owned()
        } else {
            format!("relay{}", i % relays)
        };
        up.push(nodes::external_node(&net, &format!("en{i}"), &upstream, Arc::clone(&sink)).await?);
        sinks.push(sink);
    }
    let all_at = |n: BlockNumber| {
        let sinks = &sinks;
        async move {
            for sink in sinks {
                sink.wait_until(n).await;
            }
        }
    };
    // Block 0 first: every EN is linked (through its relay) before anything is timed.
    let mut bulk = bulk.into_iter();
    source
        .extend(bulk.next())
        .map_err(|e| BenchError::transport("relays source", e))?;
    within(
        "relays: every EN linked",
        Duration::from_secs(120),
        all_at(1),
    )
    .await?;
    let cpu0 = mn.cpu_time().await;
    let start = Instant::now();
    source
        .extend(bulk)
        .map_err(|e| BenchError::transport("relays source", e))?;
    let mut complete = within(
        "relays: bulk sync",
        Duration::from_secs(300),
        all_at(blocks),
    )
    .await
    .is_ok();
    let sync = start.elapsed();

    let end = blocks + paced;
    let mut appended = Vec::with_capacity(usize::try_from(paced).unwrap_or(0));
    if complete {
        let mut tick = tokio::time::interval(INTERVAL);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        for block in tail {
            tick.tick().await;
            appended.push(Instant::now());
            source
                .push(block)
                .map_err(|e| BenchError::transport("relays source", e))?;
        }
        complete = within("relays: paced", Duration::from_secs(120), all_at(end))
            .await
            .is_ok();
    }
    let mn_cpu = mn.cpu_time().await.saturating_sub(cpu0);

    let relay_times: Vec<_> = stores.iter().map(|s| s.block_times(end)).collect();
    let en_times: Vec<_> = sinks.iter().map(|s| s.block_times(end)).collect();
    let (mut hop1, mut hop2) = (Vec::new(), Vec::new());
    for (k, at) in appended.iter().enumerate() {
        let b = usize::try_from(blocks)
            .unwrap_or(usize::MAX)
            .saturating_add(k);
        if relays == 0 {
            hop1.extend(
                en_times
                    .iter()
                    .filter_map(|t| t.get(b).copied().flatten())
                    .map(|t| t.saturating_duration_since(*at)),
            );
            continue;
        }
        hop1.extend(
            relay_times
                .iter()
                .filter_map(|t| t.get(b).copied().flatten())
                .map(|t| t.saturating_duration_since(*at)),
        );
        for (i, times) in en_times.iter().enumerate() {
            let relay_at = relay_times[i % relays].get(b).copied().flatten();
            if let (Some(relay_at), Some(en_at)) = (relay_at, times.get(b).copied().flatten()) {
                hop2.push(en_at.saturating_duration_since(relay_at));
            }
        }
    }
    nodes::shutdown(up).await;
    mn.stop();
    let per = u32::try_from(end.max(1)).unwrap_or(u32::MAX);
    Ok(RelayTreeMeasured {
        relays,
        ens,
        blocks,
        sync,
        mn_cpu_per_block: mn_cpu / per,
        hop1: Percentiles::of(&mut hop1),
        hop2: (relays > 0).then(|| Percentiles::of(&mut hop2)),
        complete,
    })
}
