//! Many external nodes at the same place: each `BlockReplays` is read and encoded once for all
//! of them, and every EN still gets exactly its blocks.

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
        ReplaySource::next_block(&self.inner)
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
