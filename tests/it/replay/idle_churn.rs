//! Idle-chain reconnect churn at a main node.
//!
//! An upstream EN drops its main node after 300 s without a zks message and redials (backoff
//! 1 s), asking again from its next block. On a chain that stays idle, every upstream EN so
//! reconnects every ~5 minutes, each time with `GetBlockReplays { starting_block: its next
//! block, overrides: [], max: Some(1) }`. The main node must take that without cost or noise:
//! no WARN line, nothing sent, no record read, and no link or session left behind.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use zks_api::transport::{LinkClosed, Transport};
use zks_api::wire::{
    Capabilities, GetBlockReplays, TwoFaVersion, VersionSet, ZksMessage, ZksVersion,
};
use zks_api::{
    BlockNumber, CloseCause, DisconnectReason, MemoryReplayStore, Node, Overrides, ProtocolEvent,
    RawRecord, ReplaySource, SourceError,
};
use zks_memnet::MemNet;
use zks_tests::{chain, next_matching};

/// The blocks the main node holds: 0..N; an EN that has them all asks from N.
const N: BlockNumber = 1_000;
/// How many times the EN drops and redials.
const CYCLES: usize = 20;
/// The upstream EN's replay watchdog (`sequencer.en_replay_watchdog_timeout`, default).
const WATCHDOG: Duration = Duration::from_secs(300);
/// The upstream EN's first redial backoff.
const BACKOFF: Duration = Duration::from_secs(1);

/// A replay source that records every call the engine makes.
struct Counting {
    inner: Arc<MemoryReplayStore>,
    calls: Arc<Mutex<Calls>>,
}

#[derive(Debug, Default)]
struct Calls {
    /// `(from, max)` of each `read`.
    reads: Vec<(BlockNumber, usize)>,
    /// The block of each `wait_for`.
    waits: Vec<BlockNumber>,
}

impl Counting {
    fn calls(&self) -> std::sync::MutexGuard<'_, Calls> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[zks_api::async_trait]
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
        self.calls().reads.push((from, max));
        self.inner.read(from, max, overrides).await
    }

    async fn wait_for(&self, block: BlockNumber) {
        self.calls().waits.push(block);
        self.inner.wait_for(block).await;
    }
}

/// How the EN lets go of its main node in cycle `i`: reth's `DisconnectRequested` (what
/// `disconnect_peer` sends), a `ClientQuitting`, or dropping the link without a word.
fn farewell(i: usize) -> Option<DisconnectReason> {
    match i % 3 {
        0 => Some(DisconnectReason::Requested),
        1 => Some(DisconnectReason::ClientQuitting),
        _ => None,
    }
}

/// Every event already published, without waiting.
async fn drain(events: &mut zks_api::EventStream) -> Vec<ProtocolEvent> {
    let mut out = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout(Duration::ZERO, events.next()).await {
        out.push(event);
    }
    out
}

/// The level and message of every captured line at INFO or above (`fmt` without time writes
/// the level first, then the spans, the target and the message).
fn lines_at_info_or_above(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim_start();
            let (level, rest) = line.split_once(' ')?;
            if !["INFO", "WARN", "ERROR"].contains(&level) {
                return None;
            }
            // `spans: target: message fields`
            let message = rest.splitn(3, ": ").nth(2).unwrap_or(rest);
            Some((level.to_owned(), message.to_owned()))
        })
        .collect()
}

/// 20 watchdog cycles of one upstream-style EN against an idle main node holding 0..1000:
/// each asks from 1000 with `Some(1)`, hears nothing for 300 s, lets go (three ways, in
/// turn) and redials after 1 s. The main node reads no record (it only waits for block 1000,
/// once per link, and that wait ends with the link), sends nothing, logs two INFO lines per
/// link (established, closed) and no WARN or ERROR, and holds no link, session or slot after
/// the last one.
#[tokio::test(start_paused = true)]
async fn an_idle_main_node_takes_watchdog_reconnects_without_reads_sends_or_warnings() {
    let (logs, _logging) = zks_tests::logs::capture();

    let net = MemNet::new();
    let calls = Arc::new(Mutex::new(Calls::default()));
    let source = Counting {
        inner: chain(N),
        calls: Arc::clone(&calls),
    };
    let mn = Node::builder(net.node("mn"))
        .capabilities(Capabilities {
            zks: VersionSet::only(ZksVersion::V5),
            zks_2fa: Some(TwoFaVersion::V1),
        })
        .main_node(source)
        .start()
        .await
        .unwrap();
    let mut events = mn.events();
    let mut all = mn.events();
    let free_slots = mn.free_link_slots();
    let en = net.node("en");

    for i in 0..CYCLES {
        let link = en
            .dial(&"mn".into(), VersionSet::only(ZksVersion::V5).into())
            .await
            .unwrap();
        let (_, tx, mut rx) = link.split();
        let request = GetBlockReplays {
            starting_block: N,
            record_overrides: vec![],
            max_blocks_per_message: Some(1),
        };
        tx.send(ZksMessage::GetBlockReplays(request).to_frame())
            .await
            .unwrap();
        let (conn, from, max, overrides) =
            next_matching(&mut events, "the replay request", |e| match e {
                ProtocolEvent::ReplayRequested {
                    conn,
                    starting_block,
                    max_blocks_per_message,
                    overrides,
                    ..
                } => Some((*conn, *starting_block, *max_blocks_per_message, *overrides)),
                _ => None,
            })
            .await;
        assert_eq!((from, max, overrides), (N, 1, 0), "cycle {i}");
        // The chain is idle: nothing comes within the watchdog's 300 s.
        assert!(
            tokio::time::timeout(WATCHDOG, rx.recv()).await.is_err(),
            "cycle {i}: the main node sent something"
        );
        match farewell(i) {
            Some(reason) => tx.close(reason),
            None => drop((tx, rx)),
        }
        let cause = next_matching(&mut events, "the link's end", |e| match e {
            ProtocolEvent::Closed { conn: c, cause, .. } if *c == conn => Some(cause.clone()),
            _ => None,
        })
        .await;
        // A dropped link reaches the other side as `Requested` (the transport contract).
        let told = farewell(i).unwrap_or(DisconnectReason::Requested);
        assert!(
            matches!(cause, CloseCause::Link(LinkClosed::ByPeer(r)) if r == told),
            "cycle {i}: {cause:?}"
        );
        tokio::time::sleep(BACKOFF).await;
    }

    // Nothing is held after the last disconnect.
    assert!(mn.sessions().is_empty(), "{:?}", mn.sessions());
    assert_eq!(mn.link_count(), 0);
    assert_eq!(mn.free_link_slots(), free_slots);
    assert_eq!(net.links_between("en", "mn"), 0);

    // No record was read: each link only waited for block N, once.
    {
        let calls = calls.lock().unwrap_or_else(PoisonError::into_inner);
        assert_eq!(calls.reads, []);
        assert_eq!(calls.waits, [N; CYCLES]);
    }

    // Per link: one request, one end; never a block sent.
    let events = drain(&mut all).await;
    let count = |f: fn(&ProtocolEvent) -> bool| events.iter().filter(|e| f(e)).count();
    assert_eq!(
        count(|e| matches!(e, ProtocolEvent::ReplayRequested { .. })),
        CYCLES
    );
    assert_eq!(count(|e| matches!(e, ProtocolEvent::Closed { .. })), CYCLES);
    assert_eq!(
        count(|e| matches!(e, ProtocolEvent::ReplayBlockSent { .. })),
        0
    );

    // Logs: the node's start, then established and closed per link, all INFO.
    let text = logs.text();
    let lines = lines_at_info_or_above(&text);
    assert!(
        lines.iter().all(|(level, _)| level == "INFO"),
        "WARN or ERROR logged:\n{text}"
    );
    let mut expected = vec!["node started".to_owned()];
    for i in 0..CYCLES {
        let told = farewell(i).unwrap_or(DisconnectReason::Requested);
        expected.push("link established trusted=false addr=en".to_owned());
        expected.push(format!("link closed cause=peer disconnected: {told}"));
    }
    let messages: Vec<String> = lines
        .into_iter()
        .map(|(_, message)| {
            message
                .split(" caps=")
                .next()
                .unwrap_or(&message)
                .to_owned()
        })
        .collect();
    assert_eq!(messages, expected, "{text}");
}

/// With `NodeSettings::replay_keepalive` a main node sends an idle replay stream an empty
/// `BlockReplays` (`01 c1 c0`) every period without one: an upstream-style EN's 300 s watchdog
/// never fires, so it keeps its link instead of reconnecting every ~5 minutes. A real message
/// starts the period over.
#[tokio::test(start_paused = true)]
async fn a_replay_keepalive_keeps_an_upstream_ens_link_on_an_idle_chain() {
    use tokio::time::Instant;
    use zks_api::wire::{Frame, Protocol};

    let net = MemNet::new();
    let chain = chain(N);
    let mn = Node::builder(net.node("mn"))
        .settings(
            zks_api::NodeSettings::default().with_replay_keepalive(Some(Duration::from_secs(120))),
        )
        .main_node(Arc::clone(&chain))
        .start()
        .await
        .unwrap();
    let (_, tx, mut rx) = net
        .node("en")
        .dial(&"mn".into(), VersionSet::only(ZksVersion::V5).into())
        .await
        .unwrap()
        .split();
    let start = Instant::now();
    tx.send(
        ZksMessage::GetBlockReplays(GetBlockReplays {
            starting_block: N,
            record_overrides: vec![],
            max_blocks_per_message: Some(1),
        })
        .to_frame(),
    )
    .await
    .unwrap();
    let mut seen = Vec::new();
    // The chain stays idle for 10 minutes, then block N lands.
    let append_at = start + Duration::from_secs(610);
    loop {
        let frame = tokio::select! {
            frame = rx.recv() => frame.unwrap(),
            () = tokio::time::sleep_until(append_at), if chain.next_block() == N => {
                zks_tests::append(&chain, N, N + 1);
                continue;
            }
        };
        let at = start.elapsed().as_secs();
        assert_eq!(frame.protocol, Protocol::Zks);
        seen.push((at, frame.to_wire()));
        if seen.len() == 7 {
            break;
        }
    }
    let keepalive = Frame::zks(0x01, vec![0xc1, 0xc0]).to_wire();
    let block = ZksMessage::decode(
        ZksVersion::V5,
        &Frame::from_wire(seen[5].1.clone().into()).unwrap(),
    );
    assert!(
        matches!(&block, Ok(ZksMessage::BlockReplays(r)) if r.records.len() == 1),
        "{block:?}"
    );
    let times: Vec<u64> = seen.iter().map(|(at, _)| *at).collect();
    assert_eq!(times, [120, 240, 360, 480, 600, 610, 730]);
    for (i, (_, bytes)) in seen.iter().enumerate() {
        if i != 5 {
            assert_eq!(bytes, &keepalive, "message {i}");
        }
    }
    assert_eq!(mn.link_count(), 1, "the same link all along");
}
