//! An upstream link that stays up while its replay stream goes silent: with one trusted
//! upstream as with several, the external node finds out by probing the upstream itself over
//! a fresh link and replaces the silent link; an idle chain costs a few probes and nothing
//! else; and where the upstream refuses a probe link, the watchdog replaces a silent link.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use zks_api::transport::{Capabilities, Incoming, Link, Transport, TransportError};
use zks_api::{
    BlockNumber, CloseCause, DisconnectReason, EventStream, MemoryReplayStore, Node, NodeSettings,
    Overrides, PeerAddr, PeerId, ProtocolEvent, RawRecord, ReplaySource, SourceError, SwitchReason,
    async_trait,
};
use zks_memnet::{MemNet, MemTransport};
use zks_tests::{blocks, chain, next_matching, record, within};

/// A main node's replay source that loses wakeups, as a store with a racy notification does:
/// for each block in `lose_after` (ascending), the first `wait_for` of a later block that has
/// to wait never resolves — the block gets stored and `read` returns it, but that waiter is
/// never woken. Every other call works, so a fresh link (or a probe) is served.
struct LosesWakeups {
    inner: Arc<MemoryReplayStore>,
    lose_after: Mutex<Vec<BlockNumber>>,
    lost: AtomicUsize,
}

impl LosesWakeups {
    fn new(inner: Arc<MemoryReplayStore>, lose_after: &[BlockNumber]) -> Arc<Self> {
        Arc::new(Self {
            inner,
            lose_after: Mutex::new(lose_after.to_vec()),
            lost: AtomicUsize::new(0),
        })
    }
}

#[async_trait]
impl ReplaySource for LosesWakeups {
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
        self.inner.read(from, max, overrides).await
    }

    async fn wait_for(&self, block: BlockNumber) {
        if block >= self.next_block() {
            let lose = {
                let mut lose_after = self.lose_after.lock().unwrap();
                let lose = lose_after.first().is_some_and(|after| block > *after);
                if lose {
                    lose_after.remove(0);
                }
                lose
            };
            if lose {
                self.lost.fetch_add(1, Ordering::SeqCst);
                return std::future::pending().await;
            }
        }
        self.inner.wait_for(block).await;
    }
}

/// An external node's transport to a main node that refuses a second session from the same
/// peer while one is up, as reth does (Disconnect `AlreadyConnected`): a dial fails while a
/// link between the two is live, so the active upstream can never be probed.
#[derive(Clone, Debug)]
struct OneSessionEach(MemTransport);

#[async_trait]
impl Transport for OneSessionEach {
    fn local_id(&self) -> PeerId {
        self.0.local_id()
    }
    fn peer_id(&self, addr: &PeerAddr) -> Result<PeerId, TransportError> {
        self.0.peer_id(addr)
    }
    async fn listen(&self, caps: Capabilities) -> Result<Incoming, TransportError> {
        self.0.listen(caps).await
    }
    async fn dial(&self, addr: &PeerAddr, caps: Capabilities) -> Result<Link, TransportError> {
        if self.0.net().links_between(self.0.name(), addr.as_str()) > 0 {
            return Err(TransportError::Refused {
                peer: addr.clone(),
                reason: DisconnectReason::AlreadyConnected,
            });
        }
        self.0.dial(addr, caps).await
    }
}

/// Appends one block a second: block `b` at `b` seconds after `start`, for `b` in `from..to`.
fn produce(store: Arc<MemoryReplayStore>, from: BlockNumber, to: BlockNumber) {
    let start = tokio::time::Instant::now();
    tokio::spawn(async move {
        for b in from..to {
            tokio::time::sleep_until(start + Duration::from_secs(b)).await;
            store.push(record(b)).unwrap();
        }
    });
}

async fn main_node(
    net: &MemNet,
    name: &str,
    source: impl ReplaySource<Record = RawRecord>,
) -> Node {
    Node::builder(net.node(name))
        .main_node(source)
        .start()
        .await
        .unwrap()
}

async fn external_node(
    transport: impl Transport,
    sink: Arc<MemoryReplayStore>,
    upstreams: &[&str],
    settings: NodeSettings,
) -> Node {
    let mut builder = Node::builder(transport)
        .external_node(sink)
        .settings(settings)
        .rng_seed(5);
    for upstream in upstreams {
        builder = builder.trusted_main_node(*upstream);
    }
    builder.start().await.unwrap()
}

/// What the external node did, in event order, until it applied `last`.
#[derive(Debug, Default)]
struct Replay {
    /// Each apply's first and last block.
    applied: Vec<(BlockNumber, BlockNumber)>,
    /// Each switch: from, to, why, and the last block applied before it.
    switches: Vec<(String, String, SwitchReason, Option<BlockNumber>)>,
    /// Why each replay link ended.
    closed: Vec<CloseCause>,
}

async fn replay_until(events: &mut EventStream, last: BlockNumber) -> Replay {
    let mut replay = Replay::default();
    loop {
        match next_matching(events, "the external node's events", |e| Some(e.clone())).await {
            ProtocolEvent::ReplayApplied {
                first_block,
                last_block,
                ..
            } => {
                replay.applied.push((first_block, last_block));
                if last_block == last {
                    return replay;
                }
            }
            ProtocolEvent::UpstreamSwitched { from, to, reason } => {
                let before = replay.applied.last().map(|(_, last)| *last);
                replay
                    .switches
                    .push((from.to_string(), to.to_string(), reason, before));
            }
            ProtocolEvent::Closed { cause, .. } => replay.closed.push(cause),
            _ => {}
        }
    }
}

/// Every block from 0 to `last` applied exactly once, in order.
fn assert_contiguous(applied: &[(BlockNumber, BlockNumber)], last: BlockNumber) {
    let mut next = 0;
    for &(first, end) in applied {
        assert_eq!(first, next, "applies {applied:?}");
        assert!(end >= first, "applies {applied:?}");
        next = end + 1;
    }
    assert_eq!(next, last + 1, "applies {applied:?}");
}

/// Every event published so far, without waiting.
fn drain(events: &mut EventStream) -> Vec<ProtocolEvent> {
    std::iter::from_fn(|| events.next().now_or_never().flatten()).collect()
}

/// One main node whose replay stream goes silent twice (lost wakeups after blocks 20 and 100)
/// while it keeps producing, and one external node with it as its only upstream. Each time
/// the EN stalls at the next block, and once the stall timeout has passed a fresh probe link
/// gets that block: the silent link is replaced by a fresh one to the same main node — one
/// `Silent` switch per stall, nothing applied twice, nothing skipped.
#[tokio::test(start_paused = true)]
async fn a_single_upstream_that_goes_silent_is_replaced_by_a_fresh_link() {
    let net = MemNet::new();
    let store = chain(1);
    let source = LosesWakeups::new(Arc::clone(&store), &[20, 100]);
    let mn = main_node(&net, "mn", Arc::clone(&source)).await;
    let mut mn_events = mn.events();
    let sink = Arc::new(MemoryReplayStore::new());
    let en = external_node(
        net.node("en"),
        Arc::clone(&sink),
        &["mn"],
        NodeSettings::default(),
    )
    .await;
    let mut en_events = en.events();
    produce(Arc::clone(&store), 1, 200);

    let replay = replay_until(&mut en_events, 199).await;
    assert_eq!(source.lost.load(Ordering::SeqCst), 2);
    // Stalled at 21 and at 101 (the last apply before each switch ended at 20 and at 100),
    // replaced after the 30 s stall timeout plus the 5 s the silent link had to deliver what
    // the probe found.
    let silent = SwitchReason::Silent {
        idle: Duration::from_secs(35),
    };
    assert_eq!(
        replay.switches,
        [
            ("mn".into(), "mn".into(), silent, Some(20)),
            ("mn".into(), "mn".into(), silent, Some(100)),
        ]
    );
    assert!(
        replay
            .closed
            .iter()
            .all(|cause| matches!(cause, CloseCause::Superseded)),
        "{:?}",
        replay.closed
    );
    assert_eq!(replay.closed.len(), 2);
    assert_contiguous(&replay.applied, 199);
    assert_eq!(sink.block_numbers(), blocks(0, 200));
    assert_eq!(sink.records(), store.records());

    // At the main node: three replay links (from 0, 21 and 101) and the two probes that found
    // the blocks (21 and 101), nothing else.
    let requested: Vec<_> = drain(&mut mn_events)
        .into_iter()
        .filter_map(|e| match e {
            ProtocolEvent::ReplayRequested { starting_block, .. } => Some(starting_block),
            _ => None,
        })
        .collect();
    assert_eq!(requested, [0, 21, 21, 101, 101]);
}

/// A chain that stops growing is not a silent stream: for an hour the external node keeps its
/// one link, and probes its main node only on the backoff schedule — at 30, 60, 120 and 240 s
/// of idleness, then every 240 s (8 × the 30 s stall timeout): 18 probes in 3,660 s.
#[tokio::test(start_paused = true)]
async fn an_idle_chain_costs_a_probe_every_few_minutes_and_no_switch() {
    let net = MemNet::new();
    let store = chain(100);
    let mn = main_node(&net, "mn", Arc::clone(&store)).await;
    let mut mn_events = mn.events();
    let sink = Arc::new(MemoryReplayStore::new());
    let en = external_node(
        net.node("en"),
        Arc::clone(&sink),
        &["mn"],
        NodeSettings::default(),
    )
    .await;
    let mut en_events = en.events();
    within("EN at 100", sink.wait_until(100)).await;
    let conn = en.sessions()[0].conn;

    tokio::time::sleep(Duration::from_secs(3_660)).await;

    let en_events = drain(&mut en_events);
    assert!(
        !en_events.iter().any(|e| matches!(
            e,
            ProtocolEvent::UpstreamSwitched { .. } | ProtocolEvent::Closed { .. }
        )),
        "{en_events:?}"
    );
    let sessions = en.sessions();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].conn, conn, "the replay link was never replaced");
    let mn_events = drain(&mut mn_events);
    let requested: Vec<_> = mn_events
        .iter()
        .filter_map(|e| match e {
            ProtocolEvent::ReplayRequested { starting_block, .. } => Some(*starting_block),
            _ => None,
        })
        .collect();
    let mut want = vec![0];
    want.extend([100; 18]);
    assert_eq!(requested, want);
    let links = mn_events
        .iter()
        .filter(|e| matches!(e, ProtocolEvent::Established { .. }))
        .count();
    assert_eq!(links, 19, "the replay link and 18 probes");
    assert_eq!(mn.sessions().len(), 1, "no probe link left open");
    assert_eq!(sink.block_numbers(), blocks(0, 100));
}

/// The main node refuses a second session from the external node, so the active upstream can
/// never be probed and a silent stream cannot be told from an idle chain: after the 300 s
/// watchdog the link is replaced, and the fresh link delivers what the silent one did not.
#[tokio::test(start_paused = true)]
async fn the_watchdog_replaces_a_silent_link_the_upstream_will_not_let_us_probe() {
    let net = MemNet::new();
    let store = chain(1);
    let source = LosesWakeups::new(Arc::clone(&store), &[20]);
    let _mn = main_node(&net, "mn", Arc::clone(&source)).await;
    let sink = Arc::new(MemoryReplayStore::new());
    let en = external_node(
        OneSessionEach(net.node("en")),
        Arc::clone(&sink),
        &["mn"],
        NodeSettings::default(),
    )
    .await;
    let mut en_events = en.events();
    produce(Arc::clone(&store), 1, 400);

    let replay = replay_until(&mut en_events, 399).await;
    assert_eq!(source.lost.load(Ordering::SeqCst), 1);
    let watchdog = SwitchReason::Watchdog {
        idle: Duration::from_secs(300),
    };
    assert_eq!(
        replay.switches,
        [("mn".into(), "mn".into(), watchdog, Some(20))]
    );
    assert_contiguous(&replay.applied, 399);
    assert_eq!(sink.block_numbers(), blocks(0, 400));
    assert_eq!(sink.records(), store.records());
}

/// With probes refused, the watchdog cannot tell an idle chain from a silent stream either: it
/// replaces the link once per 300 s of silence (three times in 1,000 s), and never applies
/// anything twice. Turned off (`None`), nothing is replaced however long the silence.
#[tokio::test(start_paused = true)]
async fn without_probes_the_watchdog_replaces_once_per_period_and_none_turns_it_off() {
    for (watchdog, replaced) in [(Some(Duration::from_secs(300)), 3), (None, 0)] {
        let net = MemNet::new();
        let store = chain(50);
        let _mn = main_node(&net, "mn", Arc::clone(&store)).await;
        let sink = Arc::new(MemoryReplayStore::new());
        let settings = NodeSettings::default().with_upstream_watchdog(watchdog);
        let en = external_node(
            OneSessionEach(net.node("en")),
            Arc::clone(&sink),
            &["mn"],
            settings,
        )
        .await;
        let mut en_events = en.events();
        within("EN at 50", sink.wait_until(50)).await;
        let mut switched_at = Vec::new();
        let start = tokio::time::Instant::now();
        let window = tokio::time::timeout(Duration::from_secs(1_000), async {
            loop {
                let reason = en_events
                    .find(|e| match e {
                        ProtocolEvent::UpstreamSwitched { reason, .. } => Some(*reason),
                        _ => None,
                    })
                    .await
                    .expect("the node runs");
                switched_at.push((start.elapsed(), reason));
            }
        })
        .await;
        assert!(window.is_err());
        assert_eq!(switched_at.len(), replaced, "{watchdog:?}: {switched_at:?}");
        let mut previous = Duration::ZERO;
        for (at, reason) in &switched_at {
            assert_eq!(
                *reason,
                SwitchReason::Watchdog {
                    idle: Duration::from_secs(300)
                }
            );
            // A fresh link's own 300 s of silence, after the previous one's redial (which the
            // main node may refuse once while it still sees the old session).
            let gap = *at - previous;
            assert!(
                gap >= Duration::from_secs(300) && gap < Duration::from_secs(301),
                "{switched_at:?}"
            );
            previous = *at;
        }
        assert_eq!(sink.block_numbers(), blocks(0, 50));
        assert_eq!(en.sessions().len(), 1);
    }
}

/// With a second upstream that has the block too, a silent active upstream still gets a fresh
/// link rather than losing replay to the lower-priority one: the upstreams are probed in
/// priority order, and the active one comes before those below it.
#[tokio::test(start_paused = true)]
async fn a_silent_preferred_upstream_is_relinked_not_left() {
    let net = MemNet::new();
    let store = chain(1);
    let source = LosesWakeups::new(Arc::clone(&store), &[20]);
    let _a = main_node(&net, "mn-a", Arc::clone(&source)).await;
    let b = main_node(&net, "mn-b", Arc::clone(&store)).await;
    let mut b_events = b.events();
    let sink = Arc::new(MemoryReplayStore::new());
    let settings = NodeSettings::default();
    let en = external_node(
        net.node("en"),
        Arc::clone(&sink),
        &["mn-a", "mn-b"],
        settings,
    )
    .await;
    let mut en_events = en.events();
    produce(Arc::clone(&store), 1, 100);

    let replay = replay_until(&mut en_events, 99).await;
    let silent = SwitchReason::Silent {
        idle: Duration::from_secs(35),
    };
    assert_eq!(
        replay.switches,
        [("mn-a".into(), "mn-a".into(), silent, Some(20))]
    );
    assert_contiguous(&replay.applied, 99);
    assert_eq!(sink.records(), store.records());
    let asked_b = drain(&mut b_events)
        .into_iter()
        .any(|e| matches!(e, ProtocolEvent::ReplayRequested { .. }));
    assert!(!asked_b, "mn-b was probed or asked for replay");
}

/// An external node's transport whose dials take `delay` (a slow handshake over a long path).
#[derive(Clone, Debug)]
struct SlowDials(MemTransport, Duration);

#[async_trait]
impl Transport for SlowDials {
    fn local_id(&self) -> PeerId {
        self.0.local_id()
    }
    fn peer_id(&self, addr: &PeerAddr) -> Result<PeerId, TransportError> {
        self.0.peer_id(addr)
    }
    async fn listen(&self, caps: Capabilities) -> Result<Incoming, TransportError> {
        self.0.listen(caps).await
    }
    async fn dial(&self, addr: &PeerAddr, caps: Capabilities) -> Result<Link, TransportError> {
        tokio::time::sleep(self.1).await;
        self.0.dial(addr, caps).await
    }
}

/// `upstream_probe_timeout` bounds a whole probe, dial included: with dials taking 4 s and
/// 1 s each way to the main node, a probe needs 6 s and never finds the block within the
/// 5 s default, so the silent link is not replaced by a probe (a 10 s timeout finds it: one
/// `Silent` switch, after the 30 s stall, the 6 s probe and the 10 s the link had to deliver).
#[tokio::test(start_paused = true)]
async fn a_probe_gets_the_probe_timeout_in_all_dial_included() {
    for (probe_timeout, switches) in [(Duration::from_secs(5), 0), (Duration::from_secs(10), 1)] {
        let net = MemNet::new();
        net.set_latency("en", "mn", Duration::from_secs(1), Duration::ZERO);
        let store = chain(1);
        let source = LosesWakeups::new(Arc::clone(&store), &[20]);
        let _mn = main_node(&net, "mn", Arc::clone(&source)).await;
        let sink = Arc::new(MemoryReplayStore::new());
        let settings = NodeSettings::default()
            .with_upstream_probe_timeout(probe_timeout)
            .with_upstream_watchdog(None);
        let en = external_node(
            SlowDials(net.node("en"), Duration::from_secs(4)),
            Arc::clone(&sink),
            &["mn"],
            settings,
        )
        .await;
        let mut events = en.events();
        produce(Arc::clone(&store), 1, 100);
        if switches == 0 {
            // Stalled at 21 for good: ten minutes, probes on their backoff schedule, no switch.
            let replay = replay_until(&mut events, 20).await;
            tokio::time::sleep(Duration::from_secs(600)).await;
            let later: Vec<_> = drain(&mut events)
                .into_iter()
                .filter(|e| {
                    matches!(
                        e,
                        ProtocolEvent::UpstreamSwitched { .. }
                            | ProtocolEvent::ReplayApplied { .. }
                    )
                })
                .collect();
            assert!(replay.switches.is_empty() && later.is_empty(), "{later:?}");
            assert_eq!(sink.block_numbers(), blocks(0, 21));
        } else {
            let replay = replay_until(&mut events, 99).await;
            let silent = SwitchReason::Silent {
                idle: Duration::from_secs(46),
            };
            assert_eq!(
                replay.switches,
                [("mn".into(), "mn".into(), silent, Some(20))]
            );
            assert_eq!(sink.block_numbers(), blocks(0, 100));
        }
    }
}
