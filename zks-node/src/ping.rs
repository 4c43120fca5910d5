//! `zks rlpx ping`: an RLPx handshake and Hello exchange with any devp2p node, then a Ping, a
//! polite Disconnect, and a report of what the peer said.
//!
//! A small tokio glue over `zks-devp2p`'s sans-IO [`Initiator`], [`FrameCodec`] and
//! [`P2pSession`]; nothing here is used by the node itself.

use std::fmt;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zks_api::DisconnectReason;
use zks_api::wire::VersionSet;
use zks_devp2p::caps::{Capability, zks_capabilities};
use zks_devp2p::p2p::{MAX_HELLO_SIZE, P2pEvent, P2pSession};
use zks_devp2p::rlpx::{FrameCodec, FrameDecoder, Initiator, MAX_FRAME_DATA};
use zks_devp2p::{Enode, NodeKey, P2pError};

/// What `ping` learned about a peer.
#[derive(Clone, Debug)]
pub struct PingReport {
    /// The peer's enode.
    pub enode: String,
    /// Its client id.
    pub client_id: String,
    /// Its capabilities.
    pub capabilities: Vec<Capability>,
    /// Its base protocol version.
    pub p2p_version: u64,
    /// The port it says it listens on.
    pub listen_port: u64,
    /// Time from sending our auth to receiving its ack (one round trip).
    pub handshake_rtt: Duration,
    /// Ping → Pong, when the peer shares a capability with us (otherwise the session cannot
    /// carry a Ping).
    pub ping_rtt: Option<Duration>,
    /// Whether the peer shares a capability with us.
    pub shared: bool,
}

impl fmt::Display for PingReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let caps: Vec<String> = self
            .capabilities
            .iter()
            .map(|c| format!("{}/{}", c.name, c.version))
            .collect();
        writeln!(f, "peer:         {}", self.enode)?;
        writeln!(f, "client:       {}", self.client_id)?;
        writeln!(f, "capabilities: {}", caps.join(", "))?;
        writeln!(f, "p2p version:  {}", self.p2p_version)?;
        writeln!(f, "listen port:  {}", self.listen_port)?;
        writeln!(f, "handshake rtt: {:.2} ms", ms(self.handshake_rtt))?;
        match self.ping_rtt {
            Some(rtt) => write!(f, "ping rtt:     {:.2} ms", ms(rtt)),
            None => write!(f, "ping rtt:     n/a (no shared capability)"),
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Why a ping failed; one line each.
#[derive(Debug, thiserror::Error)]
pub enum PingError {
    /// The enode does not parse or has no address.
    #[error("invalid enode URL {url:?}: {reason}")]
    BadEnode {
        /// The text given.
        url: String,
        /// Why.
        reason: String,
    },
    /// TCP connect failed.
    #[error("cannot connect to {addr}: {reason}")]
    Connect {
        /// host:port.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The peer did not answer in time.
    #[error("{peer} did not answer the {phase} within {after:?}")]
    Timeout {
        /// The peer.
        peer: String,
        /// Which step.
        phase: &'static str,
        /// The limit.
        after: Duration,
    },
    /// The peer broke the handshake or disconnected.
    #[error("{peer}: {reason}")]
    Protocol {
        /// The peer.
        peer: String,
        /// What happened.
        reason: String,
    },
}

/// Pings `url`: handshake, Hello, Ping/Pong (if a capability is shared), Disconnect.
///
/// # Errors
///
/// [`PingError`], one line each.
pub async fn ping(url: &str, limit: Duration) -> Result<PingReport, PingError> {
    let enode: Enode =
        url.parse()
            .map_err(|e: zks_devp2p::enode::EnodeError| PingError::BadEnode {
                url: url.to_owned(),
                reason: e.to_string(),
            })?;
    let (host, port) = enode.dial_target().map_err(|e| PingError::BadEnode {
        url: url.to_owned(),
        reason: e.to_string(),
    })?;
    let peer = format!("{host}:{port}");
    let timed = |phase: &'static str| {
        let peer = peer.clone();
        move |_| PingError::Timeout {
            peer,
            phase,
            after: limit,
        }
    };
    let protocol = |reason: String| PingError::Protocol {
        peer: peer.clone(),
        reason,
    };
    let mut tcp = tokio::time::timeout(limit, TcpStream::connect((host.as_str(), port)))
        .await
        .map_err(timed("TCP connect"))?
        .map_err(|e| PingError::Connect {
            addr: peer.clone(),
            reason: e.to_string(),
        })?;
    let _ = tcp.set_nodelay(true);
    let key = NodeKey::generate();

    // RLPx handshake.
    let started = Instant::now();
    let mut initiator =
        Initiator::new(&key, enode.id).map_err(|e| protocol(format!("handshake: {e}")))?;
    let mut rbuf = BytesMut::with_capacity(4096);
    let secrets = tokio::time::timeout(limit, async {
        tcp.write_all(initiator.auth_packet())
            .await
            .map_err(|e| protocol(format!("write: {e}")))?;
        loop {
            if let Some(secrets) = initiator
                .read_ack(&mut rbuf)
                .map_err(|e| protocol(format!("handshake: {e}")))?
            {
                return Ok(secrets);
            }
            read_more(&mut tcp, &mut rbuf).await.map_err(&protocol)?;
        }
    })
    .await
    .map_err(timed("RLPx handshake"))??;
    let handshake_rtt = started.elapsed();
    let mut codec = FrameCodec::new(&secrets, MAX_FRAME_DATA);

    // Hello exchange: we advertise zks/1..3, so zks nodes negotiate; others still say Hello.
    let local_caps = zks_capabilities(VersionSet::ALL);
    let client_id = concat!("zks-rlpx-ping/", env!("CARGO_PKG_VERSION"));
    let hello = P2pSession::hello_for(key.id(), client_id, &local_caps, 0);
    let mut session = P2pSession::new(hello, local_caps, enode.id);
    let mut wbuf = BytesMut::new();
    codec
        .encoder
        .encode_with(&mut wbuf, |buf| session.write_hello(buf))
        .map_err(|e| protocol(e.to_string()))?;
    codec.decoder.set_max_frame_size(MAX_HELLO_SIZE);
    let shared = tokio::time::timeout(limit, async {
        tcp.write_all(&wbuf)
            .await
            .map_err(|e| protocol(format!("write: {e}")))?;
        wbuf.clear();
        let data = next_frame(&mut tcp, &mut codec.decoder, &mut rbuf)
            .await
            .map_err(&protocol)?;
        match session.handle(&data) {
            Ok(P2pEvent::Hello) => Ok(true),
            Err(P2pError::NoSharedCapability) => Ok(false),
            Ok(P2pEvent::Disconnect(reason)) => {
                Err(protocol(format!("disconnected before Hello: {reason:?}")))
            }
            Ok(other) => Err(protocol(format!("unexpected {other:?} before Hello"))),
            Err(e) => Err(protocol(e.to_string())),
        }
    })
    .await
    .map_err(timed("Hello"))??;
    codec.decoder.set_max_frame_size(MAX_FRAME_DATA);
    let Some(remote) = session.remote_hello().cloned() else {
        return Err(protocol("no Hello received".to_owned()));
    };

    // Ping/Pong, answering the peer's own pings meanwhile.
    let mut ping_rtt = None;
    if shared {
        let sent = Instant::now();
        codec
            .encoder
            .encode_with(&mut wbuf, |buf| session.write_ping(buf))
            .map_err(|e| protocol(e.to_string()))?;
        let pong = tokio::time::timeout(limit, async {
            tcp.write_all(&wbuf)
                .await
                .map_err(|e| protocol(format!("write: {e}")))?;
            wbuf.clear();
            loop {
                let data = next_frame(&mut tcp, &mut codec.decoder, &mut rbuf)
                    .await
                    .map_err(&protocol)?;
                match session.handle(&data) {
                    Ok(P2pEvent::Pong) => return Ok(sent.elapsed()),
                    Ok(P2pEvent::Ping) => {
                        codec
                            .encoder
                            .encode_with(&mut wbuf, |buf| session.write_pong(buf))
                            .map_err(|e| protocol(e.to_string()))?;
                        tcp.write_all(&wbuf)
                            .await
                            .map_err(|e| protocol(format!("write: {e}")))?;
                        wbuf.clear();
                    }
                    Ok(P2pEvent::Disconnect(reason)) => {
                        return Err(protocol(format!("disconnected before Pong: {reason:?}")));
                    }
                    // zks messages (an EN-minded peer asking for replay) are ignored.
                    Ok(_) => {}
                    Err(e) => return Err(protocol(e.to_string())),
                }
            }
        })
        .await;
        // A peer that never answers still said Hello: report it without an RTT.
        ping_rtt = pong.ok().transpose()?;
    }

    // A polite goodbye; errors here do not matter any more.
    if codec
        .encoder
        .encode_with(&mut wbuf, |buf| {
            session.write_disconnect(DisconnectReason::ClientQuitting, buf);
        })
        .is_ok()
    {
        let _ = tokio::time::timeout(Duration::from_secs(1), tcp.write_all(&wbuf)).await;
    }
    let _ = tcp.shutdown().await;

    Ok(PingReport {
        enode: url.to_owned(),
        client_id: remote.client_id,
        capabilities: remote.capabilities,
        p2p_version: remote.protocol_version,
        listen_port: remote.listen_port,
        handshake_rtt,
        ping_rtt,
        shared,
    })
}

/// The next whole frame's data, reading from the socket as needed.
async fn next_frame(
    tcp: &mut TcpStream,
    decoder: &mut FrameDecoder,
    buf: &mut BytesMut,
) -> Result<BytesMut, String> {
    loop {
        if let Some(data) = decoder.decode(buf).map_err(|e| e.to_string())? {
            return Ok(data);
        }
        read_more(tcp, buf).await?;
    }
}

async fn read_more(tcp: &mut TcpStream, buf: &mut BytesMut) -> Result<(), String> {
    buf.reserve(4096);
    match tcp.read_buf(buf).await {
        Ok(0) => Err("connection closed by peer".to_owned()),
        Ok(_) => Ok(()),
        Err(e) => Err(format!("read: {e}")),
    }
}
