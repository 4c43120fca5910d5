//! Replay throughput on loopback, in one run: the full engine (MN → EN, zks/3, 64 records per
//! message) over libp2p and over devp2p, against raw TCP (the same record bytes in 64-record
//! `u32 BE length`-prefixed frames on a plain tokio socket, no engine).
//!
//! Run with
//! `cargo test --release -p zks-libp2p --test throughput -- --ignored --nocapture`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a measurement fails loudly"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, BufWriter};
use zks_api::transport::Transport;
use zks_api::wire::VersionSet;
use zks_api::{MemoryReplayStore, Node, PeerAddr, RawRecord};

const BATCH: usize = 64;

/// An MN transport, an EN transport, and how to address the MN once it listens.
type Pair = (
    Arc<dyn Transport>,
    Arc<dyn Transport>,
    Box<dyn Fn() -> PeerAddr>,
);

fn store(records: u64, size: usize) -> Arc<MemoryReplayStore> {
    let payload = Bytes::from(vec![0x5a; size]);
    let store = Arc::new(MemoryReplayStore::new());
    store
        .extend((0..records).map(|b| RawRecord::new(b, payload.clone())))
        .unwrap();
    store
}

async fn libp2p_pair() -> Pair {
    let make = || {
        let config = zks_libp2p::Libp2pConfig::builder(zks_libp2p::key::generate_ed25519())
            .listen_addr("/ip4/127.0.0.1/tcp/0".parse().unwrap())
            .build()
            .unwrap();
        zks_libp2p::Libp2pTransport::new(config).unwrap()
    };
    let mn = make();
    let mn_handle = mn.clone();
    let addr = move || PeerAddr::new(mn_handle.local_multiaddr().unwrap().to_string());
    (Arc::new(mn), Arc::new(make()), Box::new(addr))
}

async fn devp2p_pair() -> Pair {
    let make = || {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = zks_devp2p::Devp2pConfig::builder(zks_devp2p::NodeKey::generate())
            .listen_addr(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
            .build()
            .unwrap();
        zks_devp2p::Devp2pTransport::new(config)
    };
    let mn = make();
    let mn_handle = mn.clone();
    let addr = move || PeerAddr::new(mn_handle.local_enode().unwrap().to_string());
    (Arc::new(mn), Arc::new(make()), Box::new(addr))
}

/// Full engine replay of `records` records of `size` bytes; returns the elapsed time.
async fn engine_replay(
    (mn_t, en_t, addr): Pair,
    source: Arc<MemoryReplayStore>,
    records: u64,
) -> Duration {
    let _mn = Node::builder(mn_t)
        .versions(VersionSet::ALL)
        .main_node(source)
        .start()
        .await
        .unwrap();
    let sink = Arc::new(MemoryReplayStore::new());
    let start = Instant::now();
    let _en = Node::builder(en_t)
        .versions(VersionSet::ALL)
        .external_node(sink.clone())
        .trusted_main_node(addr())
        .start()
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(300), sink.wait_until(records))
        .await
        .unwrap();
    start.elapsed()
}

/// The same record bytes in 64-record length-prefixed frames on a plain TCP socket.
async fn raw_tcp(records: u64, size: usize) -> Duration {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let start = Instant::now();
    let receiver = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        socket.set_nodelay(true).unwrap();
        let mut got = 0u64;
        let mut body = Vec::new();
        while got < records {
            let len = socket.read_u32().await.unwrap() as usize;
            assert!(len <= 16 * 1024 * 1024 + 1);
            body.resize(len, 0);
            socket.read_exact(&mut body).await.unwrap();
            got += u64::try_from(len / size).unwrap();
        }
    });
    let socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket.set_nodelay(true).unwrap();
    let mut socket = BufWriter::with_capacity(256 * 1024, socket);
    let payload = vec![0x5a; size];
    let mut sent = 0u64;
    while sent < records {
        let n = (records - sent).min(BATCH as u64);
        socket
            .write_u32(u32::try_from(n as usize * size).unwrap())
            .await
            .unwrap();
        for _ in 0..n {
            socket.write_all(&payload).await.unwrap();
        }
        sent += n;
    }
    socket.flush().await.unwrap();
    receiver.await.unwrap();
    start.elapsed()
}

fn line(what: &str, records: u64, size: usize, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    let rate = records as f64 / secs;
    let mib = (records as f64 * size as f64) / (1024.0 * 1024.0) / secs;
    println!(
        "{what:>8} {size:>6} B x {records:>7}: {:>8.3} s  {rate:>10.0} records/s  {mib:>8.1} MiB/s",
        secs
    );
    rate
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement; run in release with --nocapture"]
async fn replay_throughput_libp2p_vs_devp2p_vs_raw_tcp() {
    for (size, records) in [(256usize, 1_000_000u64), (16 * 1024, 50_000)] {
        let source = store(records, size);
        let libp2p = engine_replay(libp2p_pair().await, source.clone(), records).await;
        let devp2p = engine_replay(devp2p_pair().await, source.clone(), records).await;
        let raw = raw_tcp(records, size).await;
        let l = line("libp2p", records, size, libp2p);
        let d = line("devp2p", records, size, devp2p);
        let r = line("raw tcp", records, size, raw);
        println!(
            "  ratios ({size} B): libp2p/devp2p {:.2}, libp2p/raw {:.2}, devp2p/raw {:.2}",
            l / d,
            l / r,
            d / r
        );
    }
}
