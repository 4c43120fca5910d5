//! Replay under memnet's deterministic clock and faults.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;
use zks_api::transport::LinkClosed;
use zks_api::wire::{VersionSet, ZksVersion};
use zks_api::{BlockNumber, MemoryReplayStore, Node, RawRecord, ReplaySink, SinkError};
use zks_api::{CloseCause, ProtocolEvent};
use zks_memnet::{MemNet, MemnetConfig};
use zks_tests::{
    append, blocks, chain, external_node, main_node, next_close, next_matching, record, within,
};

/// With time paused, a block appended at the MN reaches the EN's sink without the clock
/// advancing: the stream is pushed, never polled. The lone block is sent at once, not held
/// back to fill a batch.
#[tokio::test(start_paused = true)]
async fn appended_blocks_are_pushed_without_the_clock_moving() {
    let net = MemNet::new();
    let source = chain(3);
    let mn = main_node(&net, "mn", VersionSet::ALL, source.clone()).await;
    let mut mn_events = mn.events();
    let sink = Arc::new(MemoryReplayStore::new());
    let _en = external_node(&net, "en", ZksVersion::V3, sink.clone(), "mn").await;
    within("caught up", sink.wait_until(3)).await;

    for next in 3..8 {
        let before = Instant::now();
        source.push(record(next)).unwrap();
        sink.wait_until(next + 1).await; // no timeout: a poll would need the clock to move
        assert_eq!(Instant::now(), before, "block {next} needed the clock");
        let sent = next_matching(&mut mn_events, "sent", |e| match e {
            ProtocolEvent::ReplayBlockSent {
                first_block,
                last_block,
                ..
            } if *last_block == next => Some((*first_block, *last_block)),
            _ => None,
        })
        .await;
        assert_eq!(sent, (next, next), "a lone block is sent alone, at once");
    }
}

/// Kill the link at 20 seeded random moments while streaming 5,000 blocks: the sink ends with
/// exactly 0..=4,999, no gap, no duplicate.
#[tokio::test(start_paused = true)]
async fn exactly_once_across_twenty_link_kills() {
    let net = MemNet::with_config(MemnetConfig {
        seed: 20,
        ..MemnetConfig::default()
    });
    net.set_latency(
        "mn",
        "en",
        Duration::from_micros(200),
        Duration::from_micros(300),
    );
    let source = chain(5_000);
    let _mn = main_node(&net, "mn", VersionSet::ALL, source.clone()).await;
    let sink = Arc::new(MemoryReplayStore::new());
    let en = external_node(&net, "en", VersionSet::ALL, sink.clone(), "mn").await;
    let mut events = en.events();

    let mut rng = StdRng::seed_from_u64(0x2026);
    let mut points: Vec<BlockNumber> = (0..20).map(|_| rng.random_range(1..4_900)).collect();
    points.sort_unstable();
    let mut progress = sink.subscribe();
    let mut kills = 0;
    for point in points {
        within("kill point", progress.wait_for(|next| *next > point))
            .await
            .unwrap();
        within("a live link", async {
            while net.links_between("en", "mn") == 0 {
                progress.changed().await.unwrap();
            }
        })
        .await;
        kills += net.kill("en", "mn");
    }
    assert_eq!(kills, 20);
    within("all 5,000 blocks", sink.wait_until(5_000)).await;
    assert_eq!(sink.records(), source.records());

    let mut killed_links = 0;
    while killed_links < 20 {
        let cause = next_close(&mut events, None).await;
        assert!(
            matches!(cause, CloseCause::Link(LinkClosed::ByTransport { .. })),
            "{cause:?}"
        );
        killed_links += 1;
    }
}

/// A sink that takes a millisecond per apply and checks, on every apply, how far the MN has
/// run ahead of it.
struct SlowSink {
    inner: Arc<MemoryReplayStore>,
    mn: Arc<OnceLock<Arc<Node>>>,
    max_in_flight_blocks: AtomicU64,
}

#[async_trait]
impl ReplaySink for SlowSink {
    type Record = RawRecord;

    fn resume_block(&self) -> BlockNumber {
        self.inner.resume_block()
    }

    async fn apply(&self, records: Vec<RawRecord>) -> Result<(), SinkError> {
        if let Some(mn) = self.mn.get() {
            let sent_through = mn
                .sessions()
                .iter()
                .filter(|s| s.info.peer.to_string() == "slow")
                .filter_map(|s| s.sent_through)
                .max()
                .unwrap_or(0);
            let in_flight = (sent_through + 1).saturating_sub(self.inner.resume_block());
            self.max_in_flight_blocks
                .fetch_max(in_flight, Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
        self.inner.apply(records).await
    }
}

/// A slow EN next to a fast one: the fast one finishes while the slow one is far behind, and
/// the MN holds at most a fixed, small number of encoded messages for the slow link.
#[tokio::test(start_paused = true)]
async fn a_slow_en_neither_slows_others_nor_grows_the_mn() {
    const CAPACITY: usize = 4;
    const BLOCKS: u64 = 20_000;
    let net = MemNet::with_config(MemnetConfig {
        link_capacity: CAPACITY,
        ..MemnetConfig::default()
    });
    let source = chain(BLOCKS);
    let mn = Arc::new(main_node(&net, "mn", VersionSet::ALL, source.clone()).await);

    let mn_slot = Arc::new(OnceLock::new());
    let slow_store = Arc::new(MemoryReplayStore::new());
    let slow_sink = Arc::new(SlowSink {
        inner: slow_store.clone(),
        mn: mn_slot.clone(),
        max_in_flight_blocks: AtomicU64::new(0),
    });
    mn_slot.set(Arc::clone(&mn)).ok();
    let _slow = external_node(&net, "slow", ZksVersion::V3, slow_sink.clone(), "mn").await;
    let fast_store = Arc::new(MemoryReplayStore::new());
    let _fast = external_node(&net, "fast", ZksVersion::V3, fast_store.clone(), "mn").await;

    within("fast EN", fast_store.wait_until(BLOCKS)).await;
    let slow_at = slow_store.resume_block();
    assert!(
        slow_at < BLOCKS / 4,
        "slow EN should be far behind, is at {slow_at}"
    );
    assert_eq!(fast_store.records(), source.records());

    within("slow EN", slow_store.wait_until(BLOCKS)).await;
    assert_eq!(slow_store.block_numbers(), blocks(0, BLOCKS));

    // Messages between the MN's engine and the slow sink: the MN's send queue, the wire window
    // and the EN's receive queue (CAPACITY each), plus the one being applied.
    let bound_messages = 3 * CAPACITY as u64 + 1;
    let max_blocks = slow_sink.max_in_flight_blocks.load(Ordering::Relaxed);
    eprintln!("slow EN: max {max_blocks} blocks in flight; slow at {slow_at} when fast done");
    assert!(max_blocks > 0);
    assert!(
        max_blocks <= bound_messages * 64,
        "MN ran {max_blocks} blocks ahead of the slow EN; bound is {bound_messages} messages of 64"
    );
    append(&source, BLOCKS, BLOCKS + 1);
    within("one more", slow_store.wait_until(BLOCKS + 1)).await;
}

/// A sink whose disk fills after block `room - 1`: what does not fit is a local fault.
struct FullDisk {
    inner: Arc<MemoryReplayStore>,
    room: BlockNumber,
    applies: AtomicU64,
}

#[async_trait]
impl ReplaySink for FullDisk {
    type Record = RawRecord;

    fn resume_block(&self) -> BlockNumber {
        self.inner.resume_block()
    }

    async fn apply(&self, records: Vec<RawRecord>) -> Result<(), SinkError> {
        self.applies.fetch_add(1, Ordering::Relaxed);
        let (fits, rest): (Vec<_>, Vec<_>) = records
            .into_iter()
            .partition(|r| r.block_number < self.room);
        if !fits.is_empty() {
            self.inner.apply(fits).await?;
        }
        if rest.is_empty() {
            return Ok(());
        }
        Err(SinkError::local_fault(
            "/data/replay.redb: No space left on device",
        ))
    }
}

/// Our own storage failing is not the main node's fault: the EN closes the link once, logs no
/// refusal against the main node, and dials nobody again (an hour of virtual time later, still
/// one link was ever made and the sink holds exactly what fit).
#[tokio::test(start_paused = true)]
async fn a_local_sink_fault_stops_dialing_and_blames_no_upstream() {
    let net = MemNet::new();
    let source = chain(100);
    let mn = main_node(&net, "mn", VersionSet::ALL, source.clone()).await;
    let mut mn_events = mn.events();
    let sink = Arc::new(FullDisk {
        inner: Arc::new(MemoryReplayStore::new()),
        room: 10,
        applies: AtomicU64::new(0),
    });
    let en = external_node(&net, "en", VersionSet::ALL, sink.clone(), "mn").await;
    let mut events = en.events();
    let cause = next_close(&mut events, None).await;
    match &cause {
        CloseCause::Sink(e) => {
            assert!(e.is_local_fault(), "{e:?}");
            assert_eq!(e.to_string(), "/data/replay.redb: No space left on device");
        }
        other => panic!("closed for {other:?}"),
    }
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(net.links_between("en", "mn"), 0);
    let mut established = 0;
    while let Ok(Some(event)) =
        tokio::time::timeout(Duration::from_millis(1), mn_events.next()).await
    {
        if matches!(event, ProtocolEvent::Established { .. }) {
            established += 1;
        }
    }
    assert_eq!(
        established, 1,
        "the EN dialed again after its own disk failed"
    );
    assert_eq!(sink.inner.resume_block(), 10);
    assert!(sink.applies.load(Ordering::Relaxed) >= 1);
    drop(en);
}
