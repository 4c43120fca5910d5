//! Work done once for many: each `BlockReplays` is read and encoded once for all the external
//! nodes at the same place, and an EN applies the messages that arrived together in one sink
//! call; every EN still gets exactly its blocks.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use zks_api::{
    BlockNumber, MemoryReplayStore, Node, Overrides, ProtocolEvent, RawRecord, ReplaySource,
    SourceError, async_trait,
};
use zks_memnet::MemNet;
use zks_tests::{blocks, next_matching, record, within};

/// Counts reads.
struct Counting {
    inner: MemoryReplayStore,
    reads: AtomicUsize,
}

#[async_trait]
impl ReplaySource for Counting {
    type Record = RawRecord;
    fn next_block(&self) -> BlockNumber {
        self.inner.next_block()
    }
    async fn read(
        &self,
        from: BlockNumber,
        max: usize,
        overrides: &Overrides,
    ) -> Result<Vec<RawRecord>, SourceError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.read(from, max, overrides).await
    }
    async fn wait_for(&self, block: BlockNumber) {
        self.inner.wait_for(block).await;
    }
}

#[tokio::test(start_paused = true)]
async fn eight_external_nodes_at_one_place_cost_one_read_per_message() {
    const ENS: usize = 8;
    let net = MemNet::new();
    let source = Arc::new(Counting {
        inner: MemoryReplayStore::new(),
        reads: AtomicUsize::new(0),
    });
    let mn = Node::builder(net.node("mn"))
        .main_node(Arc::clone(&source))
        .start()
        .await
        .unwrap();
    let mut events = mn.events();
    let mut sinks = Vec::new();
    let mut nodes = Vec::new();
    for i in 0..ENS {
        let sink = Arc::new(MemoryReplayStore::new());
        nodes.push(
            Node::builder(net.node(&format!("en{i}")))
                .external_node(Arc::clone(&sink))
                .trusted_main_node("mn")
                .start()
                .await
                .unwrap(),
        );
        sinks.push(sink);
    }
    for _ in 0..ENS {
        next_matching(&mut events, "a replay request", |e| {
            matches!(e, ProtocolEvent::ReplayRequested { .. }).then_some(())
        })
        .await;
    }
    source.inner.extend((0..640).map(record)).unwrap();
    for sink in &sinks {
        within("every EN at 640", sink.wait_until(640)).await;
        assert_eq!(sink.block_numbers(), blocks(0, 640));
    }
    // 640 blocks in messages of 64: ten reads, whatever the number of ENs.
    assert_eq!(source.reads.load(Ordering::Relaxed), 10);
}

/// Counts applies.
struct CountingSink {
    inner: MemoryReplayStore,
    applies: AtomicUsize,
}

#[async_trait]
impl zks_api::ReplaySink for CountingSink {
    type Record = RawRecord;
    fn resume_block(&self) -> BlockNumber {
        self.inner.resume_block()
    }
    async fn apply(&self, records: Vec<RawRecord>) -> Result<(), zks_api::SinkError> {
        self.applies.fetch_add(1, Ordering::Relaxed);
        self.inner.apply(records).await
    }
}

/// One record per message, as upstream ENs ask: messages that arrived together are applied
/// in one sink call (one transaction), still exactly once and in order.
#[tokio::test(start_paused = true)]
async fn messages_that_arrive_together_are_applied_together() {
    let net = MemNet::new();
    let source = Arc::new(MemoryReplayStore::new());
    let _mn = Node::builder(net.node("mn"))
        .main_node(Arc::clone(&source))
        .start()
        .await
        .unwrap();
    let sink = Arc::new(CountingSink {
        inner: MemoryReplayStore::new(),
        applies: AtomicUsize::new(0),
    });
    let en = Node::builder(net.node("en"))
        .external_node(Arc::clone(&sink))
        .trusted_main_node("mn")
        .settings(zks_api::NodeSettings::default().with_max_blocks_per_message(1))
        .start()
        .await
        .unwrap();
    let mut events = en.events();
    source.extend((0..1_000).map(record)).unwrap();
    within("the EN at 1000", sink.inner.wait_until(1_000)).await;
    assert_eq!(sink.inner.block_numbers(), blocks(0, 1_000));
    let applies = sink.applies.load(Ordering::Relaxed);
    // memnet queues 4 messages per link: every apply takes what the queue held (one each
    // before, 1,000 applies).
    assert!(
        applies <= 1_000 / 4,
        "{applies} applies for 1,000 one-record messages"
    );
    // Each apply is reported once, with its exact range, contiguous from 0.
    let mut next = 0;
    while next < 1_000 {
        let (first, last) = next_matching(&mut events, "an apply", |e| match e {
            ProtocolEvent::ReplayApplied {
                first_block,
                last_block,
                ..
            } => Some((*first_block, *last_block)),
            _ => None,
        })
        .await;
        assert_eq!(first, next);
        next = last + 1;
    }
    assert_eq!(next, 1_000);
}
