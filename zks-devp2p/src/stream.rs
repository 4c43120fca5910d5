//! The async glue for one connection: the handshake and Hello exchange over a `TcpStream`
//! (with deadlines), then the link loop that moves frames between the socket and the engine.
//!
//! This module and [`crate::transport`] are the only ones that touch sockets, clocks or tasks;
//! all protocol logic lives in the sans-IO [`crate::rlpx`] and [`crate::p2p`] modules.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, MissedTickBehavior, sleep_until, timeout};
use zks_api::transport::{InboundQueue, LinkEnd, Outbound, OutboundQueue};
use zks_api::wire::{VersionSet, ZksVersion};
use zks_api::{DisconnectReason, LinkClosed};

use crate::caps;
use crate::config::{CLOSE_GRACE, Devp2pConfig};
use crate::enode::NodeId;
use crate::error::{Error, P2pError};
use crate::p2p::{MAX_HELLO_SIZE, P2pEvent, P2pSession, PeerReason};
use crate::rlpx::{FrameCodec, Initiator, Recipient};

/// Stop taking engine messages while this many encoded bytes wait for the socket.
const WRITE_HIGH_WATER: usize = 256 * 1024;
/// Read at least this much per socket read.
const READ_CHUNK: usize = 64 * 1024;

/// A connection that finished the handshake and the Hello exchange.
pub(crate) struct Established {
    tcp: TcpStream,
    codec: FrameCodec,
    session: P2pSession,
    rbuf: BytesMut,
    /// The peer's authenticated node id.
    pub(crate) remote_id: NodeId,
    /// The negotiated zks version.
    pub(crate) version: ZksVersion,
}

/// Why setting a connection up failed, with what was learned about the peer.
pub(crate) struct SetupError {
    pub(crate) error: Error,
    pub(crate) remote_id: Option<NodeId>,
    pub(crate) remote_versions: Option<VersionSet>,
    /// The socket, to linger on (drain) after the failure is reported.
    pub(crate) linger: Option<TcpStream>,
}

impl SetupError {
    fn bare(error: impl Into<Error>) -> Self {
        Self {
            error: error.into(),
            remote_id: None,
            remote_versions: None,
            linger: None,
        }
    }
}

/// Which side we are.
pub(crate) enum Role {
    /// We dialed this node.
    Dial(NodeId),
    /// We accepted.
    Accept,
}

/// Runs the ECIES handshake (under `handshake_timeout`) and the Hello exchange (under
/// `hello_timeout`).
pub(crate) async fn setup(
    mut tcp: TcpStream,
    role: Role,
    config: &Devp2pConfig,
    versions: VersionSet,
    listen_port: u16,
) -> Result<Established, SetupError> {
    let handshake = async {
        match role {
            Role::Dial(remote) => handshake_dial(&mut tcp, config, remote).await,
            Role::Accept => handshake_accept(&mut tcp, config).await,
        }
    };
    let (codec, rbuf, wbuf, remote_id) = match timeout(config.handshake_timeout, handshake).await {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => return Err(SetupError::bare(e)),
        Err(_) => {
            return Err(SetupError::bare(Error::Timeout {
                phase: "handshake",
                after: config.handshake_timeout,
            }));
        }
    };
    let local_caps = caps::zks_capabilities(versions);
    let hello = P2pSession::hello_for(config.key.id(), &config.client_id, &local_caps, listen_port);
    let session = P2pSession::new(hello, local_caps, remote_id);
    let mut hs = HelloExchange {
        tcp,
        codec,
        session,
        rbuf,
        wbuf,
    };
    match timeout(config.hello_timeout, hs.run(config)).await {
        Ok(Ok(version)) => Ok(Established {
            tcp: hs.tcp,
            codec: hs.codec,
            session: hs.session,
            rbuf: hs.rbuf,
            remote_id,
            version,
        }),
        Ok(Err(error)) => Err(hs.fail(error, remote_id).await),
        Err(_) => {
            let error = Error::Timeout {
                phase: "hello",
                after: config.hello_timeout,
            };
            Err(hs.fail(error, remote_id).await)
        }
    }
}

async fn read_more(tcp: &mut TcpStream, buf: &mut BytesMut) -> Result<(), Error> {
    buf.reserve(4096);
    match tcp.read_buf(buf).await? {
        0 => Err(Error::Eof),
        _ => Ok(()),
    }
}

async fn handshake_dial(
    tcp: &mut TcpStream,
    config: &Devp2pConfig,
    remote: NodeId,
) -> Result<(FrameCodec, BytesMut, BytesMut, NodeId), Error> {
    let mut initiator = Initiator::new(&config.key, remote)?;
    tcp.write_all(initiator.auth_packet()).await?;
    let mut buf = BytesMut::with_capacity(1024);
    loop {
        if let Some(secrets) = initiator.read_ack(&mut buf)? {
            let codec = FrameCodec::new(&secrets, config.max_frame_size);
            return Ok((codec, buf, BytesMut::new(), secrets.remote_id));
        }
        read_more(tcp, &mut buf).await?;
    }
}

async fn handshake_accept(
    tcp: &mut TcpStream,
    config: &Devp2pConfig,
) -> Result<(FrameCodec, BytesMut, BytesMut, NodeId), Error> {
    let mut recipient = Recipient::new(&config.key);
    let mut buf = BytesMut::with_capacity(1024);
    loop {
        if let Some(accepted) = recipient.read_auth(&mut buf)? {
            let codec = FrameCodec::new(&accepted.secrets, config.max_frame_size);
            // The ack goes out together with our Hello.
            let wbuf = BytesMut::from(&accepted.ack_packet[..]);
            return Ok((codec, buf, wbuf, accepted.secrets.remote_id));
        }
        read_more(tcp, &mut buf).await?;
    }
}

struct HelloExchange {
    tcp: TcpStream,
    codec: FrameCodec,
    session: P2pSession,
    rbuf: BytesMut,
    wbuf: BytesMut,
}

impl HelloExchange {
    async fn run(&mut self, config: &Devp2pConfig) -> Result<ZksVersion, Error> {
        let session = &self.session;
        self.codec
            .encoder
            .encode_with(&mut self.wbuf, |buf| session.write_hello(buf))?;
        self.tcp.write_all(&self.wbuf).await?;
        self.wbuf.clear();
        // The first frame is Hello or Disconnect, at most 2 KiB.
        self.codec.decoder.set_max_frame_size(MAX_HELLO_SIZE);
        loop {
            let Some(data) = self.codec.decoder.decode(&mut self.rbuf)? else {
                read_more(&mut self.tcp, &mut self.rbuf).await?;
                continue;
            };
            return match self.session.handle(&data)? {
                P2pEvent::Hello => {
                    self.codec.decoder.set_max_frame_size(config.max_frame_size);
                    self.session
                        .zks_version()
                        .ok_or(Error::P2p(P2pError::NoSharedCapability))
                }
                P2pEvent::Disconnect(reason) => Err(Error::Disconnected(reason.to_reason())),
                // `handle` only yields Hello or Disconnect before the Hello exchange.
                _ => Err(Error::P2p(P2pError::ExpectedHello { got: 0 })),
            };
        }
    }

    /// Tells the peer why (when the error has a reason worth sending) and half-closes.
    async fn fail(mut self, error: Error, remote_id: NodeId) -> SetupError {
        let remote_versions = self
            .session
            .remote_hello()
            .map(|h| caps::zks_versions(&h.capabilities));
        if sends_disconnect(&error) {
            let reason = error.disconnect_reason();
            let session = &mut self.session;
            let mut wbuf = std::mem::take(&mut self.wbuf);
            if self
                .codec
                .encoder
                .encode_with(&mut wbuf, |buf| session.write_disconnect(reason, buf))
                .is_ok()
            {
                let _ = timeout(CLOSE_GRACE, self.tcp.write_all(&wbuf)).await;
            }
        }
        let _ = timeout(CLOSE_GRACE, self.tcp.shutdown()).await;
        SetupError {
            error,
            remote_id: Some(remote_id),
            remote_versions,
            linger: Some(self.tcp),
        }
    }
}

/// Whether we tell the peer about this error (not when it left, or the socket is gone).
fn sends_disconnect(error: &Error) -> bool {
    !matches!(error, Error::Io(_) | Error::Eof | Error::Disconnected(_))
}

/// Reads and discards until EOF or the grace period ends, so the peer can read our Disconnect
/// before the connection resets.
pub(crate) async fn linger(mut tcp: TcpStream) {
    let drain = async {
        let mut sink = [0u8; 4096];
        while let Ok(n) = tcp.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    };
    let _ = timeout(CLOSE_GRACE, drain).await;
}

/// How a live link ended.
enum Ending {
    /// The peer sent Disconnect.
    ByPeer(PeerReason),
    /// The engine asked to close, or let go of the link.
    Local {
        reason: DisconnectReason,
        detail: &'static str,
    },
    /// Something failed.
    Failed(Error),
}

/// Runs a live link until it ends, then reports how to the engine and closes the socket.
pub(crate) async fn run_link(established: Established, end: LinkEnd, config: Arc<Devp2pConfig>) {
    let Established {
        mut tcp,
        mut codec,
        mut session,
        mut rbuf,
        ..
    } = established;
    let (mut outbound, inbound) = end.split();
    let mut wbuf = BytesMut::new();
    let ending = drive(
        &mut tcp,
        &mut codec,
        &mut session,
        &mut rbuf,
        &mut wbuf,
        &mut outbound,
        &inbound,
        &config,
    )
    .await;
    let (closed, send) = match ending {
        Ending::ByPeer(reason) => {
            tracing::debug!(?reason, "peer disconnected");
            (LinkClosed::ByPeer(reason.to_reason()), None)
        }
        Ending::Local { reason, detail } => {
            tracing::debug!(%reason, detail, "closing link");
            (
                LinkClosed::ByTransport {
                    reason,
                    detail: detail.into(),
                },
                Some(reason),
            )
        }
        Ending::Failed(error) => {
            let reason = error.disconnect_reason();
            tracing::info!(%reason, %error, "link failed");
            let send = sends_disconnect(&error).then_some(reason);
            (
                LinkClosed::ByTransport {
                    reason,
                    detail: error.to_string().into(),
                },
                send,
            )
        }
    };
    inbound.close(closed);
    if let Some(reason) = send {
        let _ = codec
            .encoder
            .encode_with(&mut wbuf, |buf| session.write_disconnect(reason, buf));
        let _ = timeout(CLOSE_GRACE, tcp.write_all(&wbuf)).await;
    }
    let _ = timeout(CLOSE_GRACE, tcp.shutdown()).await;
    linger(tcp).await;
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    tcp: &mut TcpStream,
    codec: &mut FrameCodec,
    session: &mut P2pSession,
    rbuf: &mut BytesMut,
    wbuf: &mut BytesMut,
    outbound: &mut OutboundQueue,
    inbound: &InboundQueue,
    config: &Devp2pConfig,
) -> Ending {
    let (mut rd, mut wr) = tcp.split();
    let mut pending = None;
    let mut ping =
        tokio::time::interval_at(Instant::now() + config.ping_interval, config.ping_interval);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut pong_deadline: Option<Instant> = None;
    loop {
        // Handle whatever complete frames are buffered, up to the first one for the engine.
        while pending.is_none() {
            let data = match codec.decoder.decode(rbuf) {
                Ok(Some(data)) => data,
                Ok(None) => break,
                Err(e) => return Ending::Failed(e.into()),
            };
            match session.handle(&data) {
                Ok(P2pEvent::Zks(frame)) => pending = Some(frame),
                Ok(P2pEvent::Ping) => {
                    let s = &mut *session;
                    if let Err(e) = codec.encoder.encode_with(wbuf, |b| s.write_pong(b)) {
                        return Ending::Failed(e.into());
                    }
                }
                Ok(P2pEvent::Pong) => pong_deadline = None,
                Ok(P2pEvent::Disconnect(reason)) => return Ending::ByPeer(reason),
                Ok(P2pEvent::Hello) => return Ending::Failed(P2pError::DuplicateHello.into()),
                Err(e) => return Ending::Failed(e.into()),
            }
        }
        if rbuf.capacity() - rbuf.len() < READ_CHUNK / 4 {
            rbuf.reserve(READ_CHUNK);
        }
        let pong_at = pong_deadline.unwrap_or_else(far_future);
        tokio::select! {
            biased;
            permit = inbound.reserve(), if pending.is_some() => match permit {
                Ok(permit) => {
                    if let Some(frame) = pending.take() {
                        permit.deliver(frame);
                    }
                }
                Err(_) => {
                    return Ending::Local {
                        reason: outbound.close_reason().unwrap_or(DisconnectReason::Requested),
                        detail: "engine dropped the link",
                    };
                }
            },
            () = inbound.engine_gone(), if pending.is_none() => {
                return Ending::Local {
                    reason: outbound.close_reason().unwrap_or(DisconnectReason::Requested),
                    detail: "engine dropped the link",
                };
            }
            written = wr.write(wbuf), if !wbuf.is_empty() => match written {
                Ok(0) => return Ending::Failed(Error::Eof),
                Ok(n) => wbuf.advance(n),
                Err(e) => return Ending::Failed(e.into()),
            },
            read = rd.read_buf(rbuf), if pending.is_none() => match read {
                Ok(0) => return Ending::Failed(Error::Eof),
                Ok(_) => {}
                Err(e) => return Ending::Failed(e.into()),
            },
            next = outbound.next_outbound(), if wbuf.len() < WRITE_HIGH_WATER => match next {
                Some(Outbound::Frame(frame)) => {
                    if let Err(e) = session.check_zks(&frame) {
                        return Ending::Failed(e.into());
                    }
                    let s = &mut *session;
                    if let Err(e) = codec.encoder.encode_with(wbuf, |b| s.write_zks(&frame, b)) {
                        tracing::warn!(error = %e, id = frame.id, "cannot send zks message");
                        return Ending::Local {
                            reason: DisconnectReason::SubprotocolError,
                            detail: "outgoing message does not fit a frame",
                        };
                    }
                }
                Some(Outbound::Close(reason)) => {
                    // What is already encoded still goes out (a frame may be half written),
                    // then the Disconnect; nothing more is taken from the engine.
                    return Ending::Local { reason, detail: "closed by this side" };
                }
                None => {
                    return Ending::Local {
                        reason: DisconnectReason::Requested,
                        detail: "engine dropped its sender",
                    };
                }
            },
            _ = ping.tick() => {
                if pong_deadline.is_none() {
                    let s = &mut *session;
                    if let Err(e) = codec.encoder.encode_with(wbuf, |b| s.write_ping(b)) {
                        return Ending::Failed(e.into());
                    }
                    pong_deadline = Some(Instant::now() + config.pong_timeout);
                }
            }
            // While the engine is not taking messages we do not read, so a Pong may be
            // waiting unread: the deadline only runs while we read.
            () = sleep_until(pong_at), if pong_deadline.is_some() && pending.is_none() => {
                return Ending::Failed(Error::Timeout {
                    phase: "pong",
                    after: config.pong_timeout,
                });
            }
        }
    }
}
