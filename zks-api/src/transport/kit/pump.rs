//! The link pump: the one loop that moves messages between a framed byte stream and a
//! [`LinkEnd`], written once for every byte transport (devp2p, libp2p).
//!
//! A transport brings a pair of [`tokio_util::codec`] halves for its framing — a [`Decoder`]
//! yielding [`Inbound`] and an [`Encoder`] taking [`Outgoing`] — and hands them to [`run`] with
//! the stream's read and write halves. The pump owns everything that is the same on every
//! transport:
//!
//! - **Backpressure both ways.** A received message is only taken off the stream once the
//!   node's receive queue has room (unread bytes stay in the socket, which stops the peer).
//!   Node messages are only taken while fewer than [`PumpConfig::write_high_water`] encoded
//!   bytes wait for the stream — and *reading stops too* while the write buffer is over that
//!   bound, so a peer that sends Pings and never reads our Pongs cannot grow our memory.
//! - **Keepalive** ([`Keepalive`], optional): a Ping every interval, the link ends when its
//!   Pong does not come in time.
//! - **Closing with a reason**: what the node asked for, or what went wrong, is sent to the
//!   peer when the stream can still carry it, reported to the node as [`LinkClosed`], and the
//!   stream is drained for a grace period so the peer reads it before the connection goes.

use std::io;
use std::time::Duration;

use futures::StreamExt as _;
use futures::future::poll_fn;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::codec::{Decoder, Encoder, FramedRead, FramedWrite};

use super::end::{InboundQueue, LinkEnd, Outbound, OutboundQueue};
use crate::DisconnectReason;
use crate::transport::close::LinkClosed;
use crate::wire::Frame;

/// One message a link codec read off the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inbound {
    /// A message for the node.
    Frame(Frame),
    /// The peer asks for a [`Outgoing::Pong`].
    Ping,
    /// The peer answers our Ping.
    Pong,
    /// The peer closes the link and says why.
    Close(DisconnectReason),
}

/// One message for a link codec to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outgoing {
    /// A message from the node.
    Frame(Frame),
    /// A keepalive probe.
    Ping,
    /// The answer to the peer's Ping.
    Pong,
    /// We close the link, telling the peer why.
    Close(DisconnectReason),
}

/// What a link codec's errors must say for the pump to end the link properly.
pub trait CodecError: std::error::Error + From<io::Error> + Send + Sync + 'static {
    /// The reason sent to the peer (when [`tell_peer`](Self::tell_peer)) and reported to the
    /// engine.
    fn disconnect_reason(&self) -> DisconnectReason;

    /// Whether the stream can still carry a close message after this error (not after an I/O
    /// error or the end of the stream).
    fn tell_peer(&self) -> bool;
}

/// Keepalive settings: a Ping every `interval`; the link ends when no Pong comes within
/// `timeout` of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeepaliveConfig {
    /// Time between Pings.
    pub interval: Duration,
    /// How long a Pong may take.
    pub timeout: Duration,
}

/// How a pump runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PumpConfig {
    /// Encoded bytes that may wait for the stream before the pump stops taking node messages
    /// and stops reading.
    pub write_high_water: usize,
    /// Keepalive, or `None` when the transport has its own.
    pub keepalive: Option<KeepaliveConfig>,
    /// How long the close message may take to go out, and how long the stream is drained after.
    pub close_grace: Duration,
}

impl Default for PumpConfig {
    /// A 256 KiB write bound, no keepalive, a 2 s close grace.
    fn default() -> Self {
        Self {
            write_high_water: 256 * 1024,
            keepalive: None,
            close_grace: Duration::from_secs(2),
        }
    }
}

/// The keepalive state machine, sans-IO: time is an argument.
#[derive(Debug)]
pub struct Keepalive {
    config: KeepaliveConfig,
    next_ping: Instant,
    pong_due: Option<Instant>,
}

/// What the keepalive wants done at a deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeepaliveAction {
    /// Send a Ping.
    Ping,
    /// The Pong did not come in time: end the link.
    Expired,
}

impl Keepalive {
    /// Starts the clock at `now`: the first Ping is due one interval later.
    pub fn new(config: KeepaliveConfig, now: Instant) -> Self {
        Self {
            config,
            next_ping: now + config.interval,
            pong_due: None,
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) next has something to do.
    pub fn poll_timeout(&self) -> Instant {
        self.pong_due
            .map_or(self.next_ping, |due| due.min(self.next_ping))
    }

    /// What is due at `now`, if anything.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<KeepaliveAction> {
        if self.pong_due.is_some_and(|due| now >= due) {
            return Some(KeepaliveAction::Expired);
        }
        if now < self.next_ping {
            return None;
        }
        self.next_ping = now + self.config.interval;
        if self.pong_due.is_some() {
            return None; // one Ping outstanding at a time
        }
        self.pong_due = Some(now + self.config.timeout);
        Some(KeepaliveAction::Ping)
    }

    /// The peer answered.
    pub fn on_pong(&mut self) {
        self.pong_due = None;
    }

    /// Reading was paused from `since` to `now` (the node was not taking messages, so a Pong
    /// may be waiting unread): the Pong deadline does not run meanwhile.
    pub fn paused(&mut self, since: Instant, now: Instant) {
        if let Some(due) = &mut self.pong_due {
            *due += now.saturating_duration_since(since);
        }
    }
}

/// How a live link ended.
#[derive(Debug)]
enum Ending<E> {
    /// The peer closed it.
    ByPeer(DisconnectReason),
    /// The node asked to close, or let go of the link.
    Local {
        reason: DisconnectReason,
        detail: &'static str,
    },
    /// Our keepalive gave up on the peer.
    PingTimeout(Duration),
    /// The stream ended without a close message.
    Eof,
    /// The codec or the stream failed.
    Failed(E),
}

/// Runs a live link until it ends, reports how to the node, tells the peer why where it
/// still can, and drains the stream for the grace period.
///
/// `reader` may already hold buffered bytes (from the transport's setup).
pub async fn run<R, W, D, E>(
    mut reader: FramedRead<R, D>,
    mut writer: FramedWrite<W, E>,
    end: LinkEnd,
    config: PumpConfig,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
    D: Decoder<Item = Inbound>,
    D::Error: CodecError,
    E: Encoder<Outgoing, Error = D::Error>,
{
    let (mut outbound, inbound) = end.split();
    let ending = drive(&mut reader, &mut writer, &mut outbound, &inbound, &config).await;
    let (closed, tell) = match ending {
        Ending::ByPeer(reason) => {
            tracing::debug!(%reason, "peer closed the link");
            (LinkClosed::ByPeer(reason), None)
        }
        Ending::Local { reason, detail } => {
            tracing::debug!(%reason, detail, "closing link");
            let closed = LinkClosed::ByTransport {
                reason,
                detail: detail.into(),
            };
            (closed, Some(reason))
        }
        Ending::PingTimeout(after) => {
            let reason = DisconnectReason::PingTimeout;
            // The node logs the link's end once, with this detail, at the level for its kind.
            tracing::debug!(%reason, ?after, "link failed: no pong");
            let closed = LinkClosed::ByTransport {
                reason,
                detail: format!("no pong within {after:?}").into(),
            };
            (closed, Some(reason))
        }
        Ending::Eof => {
            let closed = LinkClosed::ByTransport {
                reason: DisconnectReason::TcpSubsystemError,
                detail: "stream closed by the peer without a close message".into(),
            };
            (closed, None)
        }
        Ending::Failed(error) => {
            let reason = error.disconnect_reason();
            tracing::debug!(%reason, %error, "link failed");
            let tell = error.tell_peer().then_some(reason);
            let closed = LinkClosed::ByTransport {
                reason,
                detail: error.to_string().into(),
            };
            (closed, tell)
        }
    };
    inbound.close(closed);
    let grace = config.close_grace;
    let Some(reason) = tell else {
        let _ = timeout(grace, writer.get_mut().shutdown()).await;
        return;
    };
    // What is already encoded still goes out (a message may be half written), then the close.
    let buffer = writer.write_buffer_mut();
    let mut encoded = std::mem::take(buffer);
    let told = writer
        .encoder_mut()
        .encode(Outgoing::Close(reason), &mut encoded);
    *writer.write_buffer_mut() = encoded;
    let flushed = timeout(grace, async {
        futures::SinkExt::<Outgoing>::flush(&mut writer).await?;
        writer.get_mut().shutdown().await.map_err(D::Error::from)
    })
    .await;
    if told.is_ok() && matches!(flushed, Ok(Ok(()))) {
        linger(reader.get_mut(), grace).await;
    }
}

/// Reads and discards until the peer closes its side or `grace` ends, so the peer can read
/// our close message before the connection goes away.
pub async fn linger<R: AsyncRead + Unpin>(reader: &mut R, grace: Duration) {
    let drain = async {
        let mut sink = [0u8; 4096];
        while let Ok(n) = reader.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    };
    let _ = timeout(grace, drain).await;
}

async fn drive<R, W, D, E>(
    reader: &mut FramedRead<R, D>,
    writer: &mut FramedWrite<W, E>,
    outbound: &mut OutboundQueue,
    inbound: &InboundQueue,
    config: &PumpConfig,
) -> Ending<D::Error>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
    D: Decoder<Item = Inbound>,
    D::Error: CodecError,
    E: Encoder<Outgoing, Error = D::Error>,
{
    let mut keepalive = config.keepalive.map(|k| Keepalive::new(k, Instant::now()));
    let mut pending: Option<Frame> = None;
    let mut paused_since: Option<Instant> = None;
    // Both live across turns of the loop: a new timer entry and a new waiter on the node's
    // queue per message would cost more than the message's own handling.
    let sleep = sleep_until(Instant::now() + Duration::from_secs(86_400 * 365));
    tokio::pin!(sleep);
    let gone = inbound.node_gone();
    tokio::pin!(gone);
    loop {
        // What the read buffer already holds goes to the node now, while it has room (also the
        // bytes handed over from the transport's setup, which `FramedRead` would not decode
        // before it reads again).
        match take_buffered(
            reader,
            writer,
            inbound,
            &mut pending,
            &mut keepalive,
            config,
        ) {
            Ok(()) => {}
            Err(Stop::Gone) => return node_gone(outbound),
            Err(Stop::End(ending)) => return ending,
        }
        let backlog = writer.write_buffer().len();
        let reading = pending.is_none() && backlog < config.write_high_water;
        // While the node is not taking messages a Pong may be waiting unread: the Pong
        // deadline stops meanwhile. A full write buffer does not stop it — a peer that does not
        // read our messages does not read our Ping either, and must time out.
        match (pending.is_none(), paused_since) {
            (false, None) => paused_since = Some(Instant::now()),
            (true, Some(since)) => {
                if let Some(k) = &mut keepalive {
                    k.paused(since, Instant::now());
                }
                paused_since = None;
            }
            _ => {}
        }
        if let Some(k) = &keepalive {
            let wake = k.poll_timeout();
            if sleep.deadline() != wake {
                sleep.as_mut().reset(wake);
            }
        }
        tokio::select! {
            biased;
            permit = inbound.reserve(), if pending.is_some() => match permit {
                Ok(permit) => {
                    if let Some(frame) = pending.take() {
                        permit.deliver(frame);
                    }
                }
                Err(_) => return node_gone(outbound),
            },
            () = &mut gone, if pending.is_none() => return node_gone(outbound),
            flushed = poll_fn(|cx| futures::Sink::<Outgoing>::poll_flush(std::pin::Pin::new(&mut *writer), cx)),
                if backlog > 0 =>
            {
                if let Err(e) = flushed {
                    return Ending::Failed(e);
                }
            }
            read = reader.next(), if reading => match read {
                None => return Ending::Eof,
                Some(Err(e)) => return Ending::Failed(e),
                Some(Ok(Inbound::Frame(frame))) => pending = Some(frame),
                Some(Ok(Inbound::Ping)) => {
                    if let Err(e) = encode(writer, Outgoing::Pong) {
                        return Ending::Failed(e);
                    }
                }
                Some(Ok(Inbound::Pong)) => {
                    if let Some(k) = &mut keepalive {
                        k.on_pong();
                    }
                }
                Some(Ok(Inbound::Close(reason))) => return Ending::ByPeer(reason),
            },
            next = outbound.next_outbound(), if backlog < config.write_high_water => match next {
                Some(Outbound::Frame(frame)) => {
                    if let Err(ending) = encode_frame(writer, frame) {
                        return ending;
                    }
                    // Coalesce: what else the node has ready goes into the same write (one
                    // syscall and wakeup for many small messages; each stays its own frame).
                    let bound = COALESCE_BYTES.min(config.write_high_water);
                    while writer.write_buffer().len() < bound {
                        match outbound.try_next_outbound() {
                            Some(Outbound::Frame(frame)) => {
                                if let Err(ending) = encode_frame(writer, frame) {
                                    return ending;
                                }
                            }
                            Some(Outbound::Close(reason)) => {
                                return Ending::Local { reason, detail: "closed by this side" };
                            }
                            None => break,
                        }
                    }
                }
                // What is already encoded still goes out, then the close; nothing more is
                // taken from the node.
                Some(Outbound::Close(reason)) => {
                    return Ending::Local { reason, detail: "closed by this side" };
                }
                None => {
                    return Ending::Local {
                        reason: DisconnectReason::Requested,
                        detail: "node dropped its sender",
                    };
                }
            },
            () = &mut sleep, if keepalive.is_some() => {
                let now = Instant::now();
                let Some(k) = &mut keepalive else { continue };
                // While the node holds up reading a Pong may be waiting unread: its
                // deadline waits too.
                if let Some(since) = paused_since.as_mut() {
                    k.paused(*since, now);
                    *since = now;
                }
                match k.handle_timeout(now) {
                    Some(KeepaliveAction::Ping) => {
                        if let Err(e) = encode(writer, Outgoing::Ping) {
                            return Ending::Failed(e);
                        }
                    }
                    Some(KeepaliveAction::Expired) => {
                        return Ending::PingTimeout(config.keepalive.map_or(Duration::ZERO, |c| c.timeout));
                    }
                    None => {}
                }
            }
        }
    }
}

/// Why [`take_buffered`] stopped the link.
enum Stop<E> {
    /// The node dropped its receiver.
    Gone,
    /// Anything else.
    End(Ending<E>),
}

/// Hands the node what is decoded and what the read buffer already holds, while its queue has
/// room and the write bound allows reading; answers Pings and takes Pongs on the way. Never
/// waits and never reads the stream: a read of many messages is one wakeup, not one per
/// message.
fn take_buffered<R, W, D, E>(
    reader: &mut FramedRead<R, D>,
    writer: &mut FramedWrite<W, E>,
    inbound: &InboundQueue,
    pending: &mut Option<Frame>,
    keepalive: &mut Option<Keepalive>,
    config: &PumpConfig,
) -> Result<(), Stop<D::Error>>
where
    D: Decoder<Item = Inbound>,
    D::Error: CodecError,
    E: Encoder<Outgoing, Error = D::Error>,
{
    loop {
        if let Some(frame) = pending.take() {
            match inbound.try_reserve() {
                Ok(Some(permit)) => permit.deliver(frame),
                Ok(None) => {
                    *pending = Some(frame);
                    return Ok(());
                }
                Err(_) => return Err(Stop::Gone),
            }
        }
        if writer.write_buffer().len() >= config.write_high_water || reader.read_buffer().is_empty()
        {
            return Ok(());
        }
        let mut buffer = std::mem::take(reader.read_buffer_mut());
        let decoded = reader.decoder_mut().decode(&mut buffer);
        *reader.read_buffer_mut() = buffer;
        match decoded.map_err(|e| Stop::End(Ending::Failed(e)))? {
            None => return Ok(()),
            Some(Inbound::Frame(frame)) => *pending = Some(frame),
            Some(Inbound::Ping) => {
                encode(writer, Outgoing::Pong).map_err(|e| Stop::End(Ending::Failed(e)))?;
            }
            Some(Inbound::Pong) => {
                if let Some(k) = keepalive {
                    k.on_pong();
                }
            }
            Some(Inbound::Close(reason)) => return Err(Stop::End(Ending::ByPeer(reason))),
        }
    }
}

/// How many encoded bytes the pump gathers from messages already waiting before it writes.
const COALESCE_BYTES: usize = 64 * 1024;

/// Encodes one node message; a message the framing cannot carry ends the link.
fn encode_frame<W, E: Encoder<Outgoing>>(
    writer: &mut FramedWrite<W, E>,
    frame: Frame,
) -> Result<(), Ending<E::Error>>
where
    E::Error: std::fmt::Display,
{
    encode(writer, Outgoing::Frame(frame)).map_err(|e| {
        tracing::warn!(error = %e, "cannot send message");
        Ending::Local {
            reason: DisconnectReason::SubprotocolError,
            detail: "outgoing message does not fit the framing",
        }
    })
}

fn encode<W, E: Encoder<Outgoing>>(
    writer: &mut FramedWrite<W, E>,
    item: Outgoing,
) -> Result<(), E::Error> {
    let mut buffer = std::mem::take(writer.write_buffer_mut());
    let result = writer.encoder_mut().encode(item, &mut buffer);
    *writer.write_buffer_mut() = buffer;
    result
}

fn node_gone<E>(outbound: &OutboundQueue) -> Ending<E> {
    Ending::Local {
        reason: outbound
            .close_reason()
            .unwrap_or(DisconnectReason::Requested),
        detail: "node dropped the link",
    }
}

#[cfg(test)]
mod tests {
    use bytes::{BufMut, BytesMut};
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, DuplexStream};

    use super::*;
    use crate::transport::{Link, LinkInfo, LinkReceiver, LinkSender};
    use crate::wire::{LinkCaps, ZksVersion};
    use crate::{Direction, PeerAddr, PeerId};

    /// One byte per message: `0xff` is a Ping, `0xfe` a Pong, anything else a frame with that
    /// id and no body.
    #[derive(Clone, Copy)]
    struct ByteCodec;

    #[derive(Debug, thiserror::Error)]
    #[error("test codec: {0}")]
    struct TestError(#[from] io::Error);

    impl CodecError for TestError {
        fn disconnect_reason(&self) -> DisconnectReason {
            DisconnectReason::TcpSubsystemError
        }
        fn tell_peer(&self) -> bool {
            false
        }
    }

    impl Decoder for ByteCodec {
        type Item = Inbound;
        type Error = TestError;
        fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, TestError> {
            if src.is_empty() {
                return Ok(None);
            }
            Ok(Some(match src.split_to(1)[0] {
                0xff => Inbound::Ping,
                0xfe => Inbound::Pong,
                id => Inbound::Frame(Frame::zks(id, crate::Bytes::new())),
            }))
        }
    }

    impl Encoder<Outgoing> for ByteCodec {
        type Error = TestError;
        fn encode(&mut self, item: Outgoing, dst: &mut BytesMut) -> Result<(), TestError> {
            dst.put_u8(match item {
                Outgoing::Frame(f) => f.id,
                Outgoing::Ping => 0xff,
                Outgoing::Pong => 0xfe,
                Outgoing::Close(r) => r.code(),
            });
            Ok(())
        }
    }

    fn info() -> LinkInfo {
        LinkInfo::new(
            PeerId::from("peer"),
            PeerAddr::from("peer"),
            Direction::Inbound,
            LinkCaps::zks(ZksVersion::V3),
        )
    }

    /// Starts a pump on one end of an in-memory pipe of `pipe` bytes; returns the other end
    /// and the node's receiver.
    fn start(
        pipe: usize,
        buffered: &[u8],
        high_water: usize,
    ) -> (DuplexStream, LinkReceiver, LinkSender) {
        let (ours, theirs) = tokio::io::duplex(pipe);
        let (link, end) = Link::channel(info(), 4);
        let (rd, wr) = tokio::io::split(ours);
        let mut reader = FramedRead::new(rd, ByteCodec);
        reader.read_buffer_mut().extend_from_slice(buffered);
        let writer = FramedWrite::new(wr, ByteCodec);
        let config = PumpConfig {
            write_high_water: high_water,
            ..PumpConfig::default()
        };
        tokio::spawn(run(reader, writer, end, config));
        let (_, sender, receiver) = link.split();
        (theirs, receiver, sender)
    }

    /// Counts the writes that reach the stream.
    struct CountingWriter<W> {
        inner: W,
        writes: Arc<std::sync::atomic::AtomicUsize>,
    }

    impl<W: AsyncWrite + Unpin> AsyncWrite for CountingWriter<W> {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<io::Result<usize>> {
            self.writes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
        }
        fn poll_flush(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::pin::Pin::new(&mut self.inner).poll_flush(cx)
        }
        fn poll_shutdown(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn messages_waiting_together_go_out_in_one_write() {
        let (ours, mut theirs) = tokio::io::duplex(1024);
        let (link, end) = Link::channel(info(), 4);
        let (_, sender, _receiver) = link.split();
        for id in 1..=4 {
            sender
                .try_send(Frame::zks(id, crate::Bytes::new()))
                .unwrap();
        }
        let writes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (rd, wr) = tokio::io::split(ours);
        let writer = FramedWrite::new(
            CountingWriter {
                inner: wr,
                writes: Arc::clone(&writes),
            },
            ByteCodec,
        );
        tokio::spawn(run(
            FramedRead::new(rd, ByteCodec),
            writer,
            end,
            PumpConfig::default(),
        ));
        let mut got = [0u8; 4];
        timeout(Duration::from_secs(1), theirs.read_exact(&mut got))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, [1, 2, 3, 4]);
        assert_eq!(writes.load(std::sync::atomic::Ordering::Relaxed), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn bytes_buffered_before_the_pump_are_delivered_without_more_input() {
        let (_peer, mut rx, _keep) = start(64, &[7, 8], 1024);
        // Nothing more arrives: with paused time a stuck pump would let the timeout fire.
        let first = timeout(Duration::from_secs(1), rx.recv()).await;
        assert_eq!(first.ok().and_then(Result::ok).map(|f| f.id), Some(7));
        let second = timeout(Duration::from_secs(1), rx.recv()).await;
        assert_eq!(second.ok().and_then(Result::ok).map(|f| f.id), Some(8));
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_of_more_messages_than_the_queue_holds_arrives_whole_and_in_order() {
        // Ten frames and a Ping in one read, a queue of four: the first four go over at once,
        // the rest wait in the read buffer (not in a second queue) and follow as the node reads;
        // the Ping between them is answered on the way.
        let mut bytes: Vec<u8> = (1..=5).collect();
        bytes.push(0xff);
        bytes.extend(6..=10);
        let (mut peer, mut rx, _keep) = start(64, &bytes, 1024);
        let mut got = Vec::new();
        for _ in 0..10 {
            let frame = timeout(Duration::from_secs(1), rx.recv()).await;
            got.push(frame.ok().and_then(Result::ok).map(|f| f.id));
        }
        assert_eq!(got, (1..=10).map(Some).collect::<Vec<_>>());
        let mut pong = [0u8; 1];
        timeout(Duration::from_secs(1), peer.read_exact(&mut pong))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(pong, [0xfe]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_pings_and_never_reads_is_stopped_by_the_write_bound() {
        // A 1 KiB pipe each way and a 64-byte write bound: once 64 Pongs wait unread the pump
        // stops reading, so the peer can write about 1 KiB + 64 Pings and then stalls.
        let (mut peer, _rx, _keep) = start(1024, &[], 64);
        let pings = vec![0xffu8; 1 << 20];
        let mut written = 0;
        for chunk in pings.chunks(256) {
            match timeout(Duration::from_secs(5), peer.write_all(chunk)).await {
                Ok(Ok(())) => written += chunk.len(),
                _ => break,
            }
        }
        assert!(
            written <= 4 * 1024,
            "the pump kept reading Pings while its Pongs went unread: {written} bytes"
        );
    }

    #[test]
    fn keepalive_pings_once_per_interval_and_expires() {
        let start = Instant::now();
        let config = KeepaliveConfig {
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
        };
        let mut k = Keepalive::new(config, start);
        assert_eq!(k.poll_timeout(), start + Duration::from_secs(10));
        assert_eq!(k.handle_timeout(start + Duration::from_secs(9)), None);
        let t = start + Duration::from_secs(10);
        assert_eq!(k.handle_timeout(t), Some(KeepaliveAction::Ping));
        assert_eq!(k.poll_timeout(), t + Duration::from_secs(5));
        k.on_pong();
        assert_eq!(k.poll_timeout(), t + Duration::from_secs(10));
        let t2 = t + Duration::from_secs(10);
        assert_eq!(k.handle_timeout(t2), Some(KeepaliveAction::Ping));
        // Reading paused for 3 s: the deadline moves by as much.
        k.paused(t2, t2 + Duration::from_secs(3));
        assert_eq!(k.handle_timeout(t2 + Duration::from_secs(5)), None);
        assert_eq!(
            k.handle_timeout(t2 + Duration::from_secs(8)),
            Some(KeepaliveAction::Expired)
        );
    }
}
