//! Resource bounds over real devp2p sockets, in their own test binary so that process-wide
//! measurements (resident memory, file descriptors, live tasks) see only this scenario.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use zks_api::transport::{LinkClosed, Transport};
use zks_api::wire::{GetBlockReplays, VersionSet, ZksMessage};
use zks_api::{CloseCause, ProtocolEvent};
use zks_api::{DisconnectReason, MemoryReplayStore, Node, PeerAddr, RawRecord, ReplaySink as _};
use zks_devp2p::{Devp2pConfig, Devp2pTransport, NodeKey};
use zks_tests::within;

const BLOCK: usize = 16 * 1024;
const BLOCKS: u64 = 5_000;
const POOL: usize = 1 << 20;
const MN_LINK_CAPACITY: usize = 4;
const SLOW_LINK_CAPACITY: usize = 2;

fn transport(link_capacity: usize, ping: Duration, pong: Duration) -> Devp2pTransport {
    let config = Devp2pConfig::builder(NodeKey::generate())
        .listen_addr(([127, 0, 0, 1], 0).into())
        .link_capacity(link_capacity)
        .ping_interval(ping)
        .pong_timeout(pong)
        .build()
        .unwrap();
    Devp2pTransport::new(config)
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_bounds_under_hostile_peers() {
    a_reader_that_stops_is_bounded_and_cut_off_while_others_stream().await;
    half_open_handshakes_leak_nothing().await;
}

/// An EN that stops reading while the MN streams 16 KiB blocks. What the MN holds for it is
/// bounded by construction — `MN_LINK_CAPACITY` encoded messages in the link queue plus the
/// transport's 256 KiB write buffer — and everything beyond sits in the kernel's socket
/// buffers; here we check the process's resident memory does not grow with what was sent,
/// that a normal EN on the same MN gets every block, and that the stuck EN is disconnected
/// for not answering pings.
async fn a_reader_that_stops_is_bounded_and_cut_off_while_others_stream() {
    // Incompressible payloads: disjoint windows of a pseudo-random pool, shared (not copied)
    // by every record.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let pool = Bytes::from(
        (0..POOL)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state.to_le_bytes()[0]
            })
            .collect::<Vec<_>>(),
    );
    let payload = |b: u64| {
        let offset = usize::try_from(b).unwrap() * 17_011 % (POOL - BLOCK);
        pool.slice(offset..offset + BLOCK)
    };
    let chain = Arc::new(MemoryReplayStore::new());
    chain
        .extend((0..BLOCKS).map(|b| RawRecord::new(b, payload(b))))
        .unwrap();
    // Pings every second, 5 s to answer: long enough for a busy but reading EN, short enough to
    // cut off the stuck one within the test.
    let mn_transport = Arc::new(transport(
        MN_LINK_CAPACITY,
        Duration::from_secs(1),
        Duration::from_secs(5),
    ));
    let mn = Node::builder(Arc::clone(&mn_transport))
        .main_node(chain.clone())
        .start()
        .await
        .unwrap();
    let mut events = mn.events();
    let enode = PeerAddr::new(mn_transport.local_enode().unwrap().to_string());
    let baseline = resident_bytes();

    // The stuck reader: asks for everything, then never reads.
    let slow = transport(
        SLOW_LINK_CAPACITY,
        Duration::from_secs(15),
        Duration::from_secs(20),
    );
    let slow_id = slow.local_id();
    let (_, tx, _never_read) = slow
        .dial(&enode, VersionSet::ALL.into())
        .await
        .unwrap()
        .split();
    let request = GetBlockReplays {
        starting_block: 0,
        record_overrides: vec![],
        max_blocks_per_message: Some(64),
    };
    tx.send(ZksMessage::GetBlockReplays(request).to_frame())
        .await
        .unwrap();

    let fast_sink = Arc::new(MemoryReplayStore::new());
    let fast_transport = transport(
        MN_LINK_CAPACITY,
        Duration::from_secs(15),
        Duration::from_secs(20),
    );
    let fast_id = fast_transport.local_id();
    let _fast = Node::builder(fast_transport)
        .external_node(fast_sink.clone())
        .trusted_main_node(enode.clone())
        .start()
        .await
        .unwrap();

    let mut peak_resident = baseline;
    let mut sent_to_slow = 0;
    let cause = within("the stuck EN to be cut off", async {
        loop {
            match tokio::time::timeout(Duration::from_millis(20), events.next()).await {
                Ok(Some(ProtocolEvent::Closed { peer, cause, .. })) if peer == slow_id => {
                    return cause;
                }
                Ok(Some(ProtocolEvent::ReplayBlockSent {
                    peer, last_block, ..
                })) if peer == slow_id => {
                    sent_to_slow = sent_to_slow.max(last_block + 1);
                }
                Ok(Some(ProtocolEvent::Closed { peer, cause, .. })) if peer == fast_id => {
                    panic!("the normal EN was disconnected: {cause}");
                }
                Ok(Some(_)) | Err(_) => {}
                Ok(None) => panic!("MN events ended"),
            }
            // The normal EN keeps what it applied (its records slice the messages it received):
            // count only what is not its sink's.
            let held = fast_sink.resume_block() * BLOCK as u64;
            peak_resident = peak_resident.max(resident_bytes().saturating_sub(held));
        }
    })
    .await;
    assert!(
        matches!(
            cause,
            CloseCause::Link(LinkClosed::ByTransport {
                reason: DisconnectReason::PingTimeout,
                ..
            })
        ),
        "{cause:?}"
    );
    within("the normal EN", fast_sink.wait_until(BLOCKS)).await;
    assert_eq!(fast_sink.block_numbers(), zks_tests::blocks(0, BLOCKS));

    let grown = peak_resident.saturating_sub(baseline);
    let sent_bytes = sent_to_slow * BLOCK as u64;
    eprintln!(
        "stuck reader: {sent_to_slow} blocks ({} MiB) left the MN's engine for it; \
         resident memory beyond the normal EN's sink grew by at most {} MiB",
        sent_bytes >> 20,
        grown >> 20
    );
    // The engine stops producing once the link queue is full; the bytes that did leave are in
    // the kernel, not in our heap. 32 MiB covers both ends' bounded buffers for both links and
    // allocator slack (the normal EN's applied records are subtracted above).
    assert!(
        grown < 32 << 20,
        "resident memory grew by {} MiB",
        grown >> 20
    );
    drop((tx, _never_read));
}

/// 1,000 connections that send half an auth packet and hang up leave no task and no file
/// descriptor behind.
async fn half_open_handshakes_leak_nothing() {
    let mn_transport = Arc::new(transport(
        4,
        Duration::from_secs(15),
        Duration::from_secs(20),
    ));
    let mn = Node::builder(Arc::clone(&mn_transport))
        .main_node(Arc::new(MemoryReplayStore::new()))
        .start()
        .await
        .unwrap();
    let addr = mn_transport.local_addr().unwrap();
    let metrics = tokio::runtime::Handle::current().metrics();
    // Settle, then take the baseline.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (tasks_before, fds_before) = (metrics.num_alive_tasks(), open_fds());

    for i in 0..1_000u32 {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        // An EIP-8 auth starts with its 2-byte size; send that and a little garbage.
        let partial = [0x01, 0x90, (i % 251) as u8, 0x42, 0x00];
        tcp.write_all(&partial[..1 + (i as usize % partial.len())])
            .await
            .unwrap();
        drop(tcp);
    }
    within("connection tasks to end", async {
        while metrics.num_alive_tasks() > tasks_before || open_fds() > fds_before {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(mn.link_count(), 0);
    eprintln!(
        "after 1,000 half-open handshakes: {} live tasks (was {tasks_before}), {} fds (was {fds_before})",
        metrics.num_alive_tasks(),
        open_fds()
    );
    mn.shutdown().await;
}
