//! One reth RLPx link on 127.0.0.1 and its two ends: the sender's feed loop and the receiver's
//! read loop, each timing its end of the span.

use std::{
    future::poll_fn,
    sync::Arc,
    task::Poll,
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures::{SinkExt as _, StreamExt as _};
use reth_ecies::stream::ECIESStream;
use reth_eth_wire::{
    Capability, HelloMessageWithProtocols, P2PStream, ProtocolVersion, UnauthedP2PStream,
    protocol::Protocol,
};
use reth_network_peers::pk2id;
use secp256k1::{SECP256K1, SecretKey};
use tokio::net::{TcpListener, TcpStream};

use crate::report::cpu_time;

/// One end of the link: reth's `p2p` layer over its ECIES framing over TCP.
pub(crate) type Rlpx = P2PStream<ECIESStream<TcpStream>>;

/// Dials itself on 127.0.0.1 and completes both handshakes (ECIES, then `p2p` Hello with one
/// capability `zks/5` of `messages` messages): `(dialer, listener)` ends, dialer first.
pub(crate) async fn connect(messages: u8) -> Result<(Rlpx, Rlpx), String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("bind: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("local_addr: {e}"))?;
    let mut rng = secp256k1::rand::thread_rng();
    let dialer_key = SecretKey::new(&mut rng);
    let listener_key = SecretKey::new(&mut rng);
    let listener_id = pk2id(&listener_key.public_key(SECP256K1));

    let accept = async {
        let (tcp, _) = listener
            .accept()
            .await
            .map_err(|e| format!("accept: {e}"))?;
        tcp.set_nodelay(true)
            .map_err(|e| format!("listener TCP_NODELAY: {e}"))?;
        let ecies = ECIESStream::incoming(tcp, listener_key)
            .await
            .map_err(|e| format!("listener ECIES handshake: {e}"))?;
        let (p2p, _) = UnauthedP2PStream::new(ecies)
            .handshake(hello(listener_key, messages))
            .await
            .map_err(|e| format!("listener p2p handshake: {e}"))?;
        Ok::<_, String>(p2p)
    };
    let dial = async {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        tcp.set_nodelay(true)
            .map_err(|e| format!("dialer TCP_NODELAY: {e}"))?;
        let ecies = ECIESStream::connect(tcp, dialer_key, listener_id)
            .await
            .map_err(|e| format!("dialer ECIES handshake: {e}"))?;
        let (p2p, _) = UnauthedP2PStream::new(ecies)
            .handshake(hello(dialer_key, messages))
            .await
            .map_err(|e| format!("dialer p2p handshake: {e}"))?;
        Ok::<_, String>(p2p)
    };
    tokio::try_join!(dial, accept)
}

/// p2p v5, one capability `zks/5` with `messages` message ids.
fn hello(key: SecretKey, messages: u8) -> HelloMessageWithProtocols {
    HelloMessageWithProtocols::builder(pk2id(&key.public_key(SECP256K1)))
        .protocol_version(ProtocolVersion::V5)
        .client_version("reth-rlpx-bench")
        .port(0)
        .protocol(Protocol::new(Capability::new_static("zks", 5), messages))
        .build()
}

/// The sender's end of the span.
#[derive(Debug)]
pub(crate) struct Sent {
    /// Just before the first feed.
    pub(crate) start: Instant,
    /// Process CPU time then.
    pub(crate) cpu: Duration,
    /// Kept open until the receiver is done.
    pub(crate) link: Rlpx,
}

/// Feeds `count` messages, `messages` in order and cycling (one `feed` each: P2PStream
/// compresses and queues, and drains into the ECIES framing when its two-frame queue is full),
/// then flushes once.
pub(crate) async fn send(
    mut link: Rlpx,
    messages: Arc<[Bytes]>,
    count: u64,
) -> Result<Sent, String> {
    let start = Instant::now();
    let cpu = cpu_time()?;
    let mut next = 0;
    for sent in 0..count {
        let Some(message) = messages.get(next) else {
            return Err("no messages to send".to_owned());
        };
        link.feed(message.clone())
            .await
            .map_err(|e| format!("send (message {sent}): {e}"))?;
        next += 1;
        if next == messages.len() {
            next = 0;
        }
    }
    link.flush().await.map_err(|e| format!("flush: {e}"))?;
    Ok(Sent { start, cpu, link })
}

/// The receiver's end of the span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Received {
    /// When the last message was in.
    pub(crate) end: Instant,
    /// Process CPU time then.
    pub(crate) cpu: Duration,
    /// Messages read.
    pub(crate) messages: u64,
    /// Their lengths less the id byte.
    pub(crate) payload_bytes: u64,
    /// Messages whose id or length differed from what was sent in that place.
    pub(crate) mismatches: u64,
    /// The first such, described.
    pub(crate) first_mismatch: Option<String>,
}

/// Reads messages until `payload_bytes` of bodies are in, checking each one's id byte (`id`, as
/// P2PStream gives it: relative to the capability's offset 0x10) and length against `lengths`,
/// in order and cycling.
pub(crate) async fn receive(
    mut link: Rlpx,
    lengths: Arc<[usize]>,
    id: u8,
    payload_bytes: u64,
) -> Result<Received, String> {
    let mut received = Received {
        end: Instant::now(),
        cpu: Duration::ZERO,
        messages: 0,
        payload_bytes: 0,
        mismatches: 0,
        first_mismatch: None,
    };
    let mut next = 0;
    while received.payload_bytes < payload_bytes {
        // The sink is polled too (it is idle: nothing is queued but a Pong, if the sender's
        // pinger asks after 60 s), as a reth session does; P2PStream only queues the Pong.
        let message = poll_fn(|cx| {
            if let Poll::Ready(Err(e)) = link.poll_flush_unpin(cx) {
                return Poll::Ready(Some(Err(e)));
            }
            link.poll_next_unpin(cx)
        })
        .await;
        let message = match message {
            Some(Ok(message)) => message,
            Some(Err(e)) => {
                return Err(format!("receive (message {}): {e}", received.messages));
            }
            None => {
                return Err(format!(
                    "the link closed after {} messages, {} of {payload_bytes} payload bytes",
                    received.messages, received.payload_bytes
                ));
            }
        };
        let expected = lengths.get(next).copied().unwrap_or(0);
        let body = message.len().saturating_sub(1);
        if message.first() != Some(&id) || body != expected {
            received.mismatches += 1;
            if received.first_mismatch.is_none() {
                let got = message
                    .first()
                    .map_or("none".to_owned(), |id| format!("{id:#04x}"));
                received.first_mismatch = Some(format!(
                    "message {}: id {got} and {body} body bytes; sent id {id:#04x} and {expected}",
                    received.messages
                ));
            }
        }
        received.messages += 1;
        received.payload_bytes += body as u64;
        next += 1;
        if next == lengths.len() {
            next = 0;
        }
    }
    received.end = Instant::now();
    received.cpu = cpu_time()?;
    Ok(received)
}
