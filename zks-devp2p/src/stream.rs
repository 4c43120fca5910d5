//! The async glue for one connection: the handshake and Hello exchange over a `TcpStream`
//! (with deadlines), then the shared link pump (`zks_api::transport::kit::pump`) over this crate's
//! codecs ([`crate::codec`]).
//!
//! This module and [`crate::transport`] are the only ones that touch sockets, clocks or tasks;
//! all protocol logic lives in the sans-IO [`crate::rlpx`] and [`crate::p2p`] modules.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_util::codec::{FramedRead, FramedWrite};
use zks_api::DisconnectReason;
use zks_api::transport::kit::LinkEnd;
use zks_api::transport::kit::pump::{self, KeepaliveConfig, PumpConfig};
use zks_api::wire::{Capabilities, Frame, LinkCaps, VersionSet};

use crate::caps;
use crate::config::{CLOSE_GRACE, Devp2pConfig, MAX_EARLY_ZKS_MESSAGES};
use crate::enode::NodeId;
use crate::error::{Error, P2pError};
use crate::eth::{self, EthVersion, Status};
use crate::p2p::{MAX_HELLO_SIZE, P2pEvent, P2pSession};
use crate::rlpx::{FrameCodec, Initiator, Recipient};

/// The relative id of the `eth` Status.
const STATUS_ID: u8 = 0x00;

/// A connection that finished the handshake, the Hello exchange and (with `eth`) the Status.
pub(crate) struct Established {
    tcp: TcpStream,
    codec: FrameCodec,
    session: P2pSession,
    rbuf: BytesMut,
    /// The peer's authenticated node id.
    pub(crate) remote_id: NodeId,
    /// What the link carries: the negotiated zks version, and `zks_2fa` where shared.
    pub(crate) caps: LinkCaps,
    /// The negotiated `eth` version, when the Status exchange passed.
    pub(crate) eth: Option<EthVersion>,
    /// The peer's Status, when the exchange passed (checked against our chain).
    pub(crate) peer_status: Option<Status>,
    /// zks and `zks_2fa` messages that arrived before the peer's Status, for the engine.
    pub(crate) held: Vec<Frame>,
}

impl Established {
    /// Refuses the link: sends Disconnect `reason`, half-closes and lingers (each bounded by
    /// the close grace) so the peer reads why.
    pub(crate) async fn refuse(mut self, reason: DisconnectReason) {
        let wbuf = BytesMut::new();
        say_goodbye(
            &mut self.tcp,
            &mut self.codec,
            &mut self.session,
            Some(reason),
            wbuf,
        )
        .await;
        linger(self.tcp).await;
    }
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

/// Runs the ECIES handshake (under `handshake_deadline`: the configured `handshake_timeout`,
/// or shorter for an inbound socket under pressure) and the Hello exchange (under
/// `hello_timeout`), advertising `caps`.
/// `authenticated` is called once the ECIES handshake is done (the peer did the key exchange).
pub(crate) async fn setup(
    tcp: TcpStream,
    role: Role,
    config: &Devp2pConfig,
    caps: Capabilities,
    listen_port: u16,
    handshake_deadline: Duration,
    authenticated: impl FnOnce(),
) -> Result<Established, SetupError> {
    let (mut hs, remote_id) = handshake(tcp, role, config, caps, listen_port, handshake_deadline)
        .await
        .map_err(SetupError::bare)?;
    authenticated();
    let caps = match timeout(config.hello_timeout, hs.run(config)).await {
        Ok(Ok(caps)) => caps,
        Ok(Err(error)) => return Err(hs.fail(error, remote_id).await),
        Err(_) => {
            let error = Error::Timeout {
                phase: "hello",
                after: config.hello_timeout,
            };
            return Err(hs.fail(error, remote_id).await);
        }
    };
    let (peer_status, held) = match hs.status_exchange(config).await {
        Ok(done) => done,
        Err(error) => return Err(hs.fail(error, remote_id).await),
    };
    Ok(Established {
        tcp: hs.tcp,
        codec: hs.codec,
        session: hs.session,
        rbuf: hs.rbuf,
        remote_id,
        caps,
        eth: peer_status.map(|(version, _)| version),
        peer_status: peer_status.map(|(_, status)| status),
        held,
    })
}

/// The ECIES handshake under `deadline`; returns the connection ready for the Hello
/// exchange, advertising `caps`, and the peer's authenticated id.
pub(crate) async fn handshake(
    mut tcp: TcpStream,
    role: Role,
    config: &Devp2pConfig,
    caps: Capabilities,
    listen_port: u16,
    deadline: Duration,
) -> Result<(HelloExchange, NodeId), Error> {
    let handshake = async {
        match role {
            Role::Dial(remote) => handshake_dial(&mut tcp, config, remote).await,
            Role::Accept => handshake_accept(&mut tcp, config).await,
        }
    };
    let (codec, rbuf, wbuf, remote_id) = match timeout(deadline, handshake).await {
        Ok(done) => done?,
        Err(_) => {
            return Err(Error::Timeout {
                phase: "handshake",
                after: deadline,
            });
        }
    };
    // reth's order: eth (newest first), then the subprotocols (zks, then zks_2fa).
    let mut local_caps = caps::eth_capabilities(config.eth_versions());
    local_caps.extend(caps::subprotocol_capabilities(caps));
    let hello = P2pSession::hello_for(config.key.id(), &config.client_id, &local_caps, listen_port);
    let session = P2pSession::new(hello, local_caps, remote_id);
    let hs = HelloExchange {
        tcp,
        codec,
        session,
        rbuf,
        wbuf,
    };
    Ok((hs, remote_id))
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

/// A connection between the ECIES handshake and the end of setup: the frame codec, the `p2p`
/// session, and the bytes read or due for writing.
pub(crate) struct HelloExchange {
    tcp: TcpStream,
    codec: FrameCodec,
    pub(crate) session: P2pSession,
    rbuf: BytesMut,
    wbuf: BytesMut,
}

impl HelloExchange {
    /// Sends our Hello and reads the peer's, or its Disconnect. A peer that shares no
    /// capability with us still said Hello: that is [`P2pError::NoSharedCapability`], with the
    /// peer's Hello in the session.
    pub(crate) async fn exchange(&mut self, config: &Devp2pConfig) -> Result<(), Error> {
        self.send(|session, buf| session.write_hello(buf)).await?;
        // The first frame is Hello or Disconnect, at most 2 KiB.
        self.codec.decoder.set_max_frame_size(MAX_HELLO_SIZE);
        let event = self.next_event().await;
        self.codec.decoder.set_max_frame_size(config.max_frame_size);
        match event? {
            P2pEvent::Hello => Ok(()),
            P2pEvent::Disconnect(reason) => Err(Error::Disconnected(reason.to_reason())),
            // `handle` only yields Hello or Disconnect before the Hello exchange.
            _ => Err(Error::P2p(P2pError::ExpectedHello { got: 0 })),
        }
    }

    /// The Hello exchange, then what the link carries. A peer that shares no zks version is
    /// useless to us whatever else it shares (`eth`, `zks_2fa`): a link needs zks.
    async fn run(&mut self, config: &Devp2pConfig) -> Result<LinkCaps, Error> {
        self.exchange(config).await?;
        self.session
            .link_caps()
            .ok_or(Error::P2p(P2pError::NoSharedCapability))
    }

    /// After Hello: when `eth` is shared, sends our Status at once and waits (under the Status
    /// timeout) for the peer's, checking it as reth does. zks and `zks_2fa` messages that come
    /// first are held
    /// (at most [`MAX_EARLY_ZKS_MESSAGES`]) and returned for the engine; Pings are answered.
    /// Without a shared `eth`, passes unless this node requires it.
    async fn status_exchange(
        &mut self,
        config: &Devp2pConfig,
    ) -> Result<(Option<(EthVersion, Status)>, Vec<Frame>), Error> {
        let (Some(version), Some(chain)) = (self.session.eth_version(), config.chain_identity())
        else {
            if config.require_eth() {
                return Err(P2pError::EthRequired.into());
            }
            if config.chain_identity().is_none()
                && let Some(hello) = self.session.remote_hello()
            {
                warn_eth_unspoken(hello);
            }
            return Ok((None, Vec::new()));
        };
        self.send_status(chain, version).await?;
        let (theirs, held) = self.read_status(version, config).await?;
        eth::validate(chain, version, &theirs).map_err(Box::new)?;
        Ok((Some((version, theirs)), held))
    }

    /// Sends our `eth` Status for `chain` at `version`.
    pub(crate) async fn send_status(
        &mut self,
        chain: &eth::ChainIdentity,
        version: EthVersion,
    ) -> Result<(), Error> {
        let ours = Status::ours(chain, version).to_vec();
        let mut sent = Ok(());
        self.send(|session, buf| sent = session.write_eth(STATUS_ID, &ours, buf))
            .await?;
        Ok(sent?)
    }

    /// Reads the peer's `eth` Status (decoded, not yet checked) under the Status timeout,
    /// holding the zks and `zks_2fa` messages that come first and answering Pings.
    pub(crate) async fn read_status(
        &mut self,
        version: EthVersion,
        config: &Devp2pConfig,
    ) -> Result<(Status, Vec<Frame>), Error> {
        let mut held = Vec::new();
        let wait = async {
            loop {
                match self.next_event().await? {
                    P2pEvent::Eth {
                        id: STATUS_ID,
                        payload,
                    } => {
                        return Ok::<_, Error>(
                            Status::decode(version, &payload).map_err(Box::new)?,
                        );
                    }
                    P2pEvent::Eth { id, .. } => {
                        return Err(P2pError::ExpectedStatus { got: id }.into());
                    }
                    P2pEvent::Zks(frame) => {
                        if held.len() == MAX_EARLY_ZKS_MESSAGES {
                            return Err(P2pError::TooManyEarlyMessages {
                                max: MAX_EARLY_ZKS_MESSAGES,
                            }
                            .into());
                        }
                        held.push(frame);
                    }
                    P2pEvent::Ping => self.send(|session, buf| session.write_pong(buf)).await?,
                    P2pEvent::Pong => {}
                    P2pEvent::Disconnect(reason) => {
                        return Err(Error::Disconnected(reason.to_reason()));
                    }
                    P2pEvent::Hello => return Err(P2pError::DuplicateHello.into()),
                }
            }
        };
        match timeout(config.status_timeout(), wait).await {
            Ok(Ok(status)) => Ok((status, held)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Timeout {
                phase: "status",
                after: config.status_timeout(),
            }),
        }
    }

    /// Encodes one frame with `write` (after whatever is already due, such as our ack) and
    /// writes it.
    pub(crate) async fn send(
        &mut self,
        write: impl FnOnce(&mut P2pSession, &mut BytesMut),
    ) -> Result<(), Error> {
        let session = &mut self.session;
        self.codec
            .encoder
            .encode_with(&mut self.wbuf, |buf| write(session, buf))?;
        self.tcp.write_all(&self.wbuf).await?;
        self.wbuf.clear();
        Ok(())
    }

    /// The next `p2p` event from the peer.
    pub(crate) async fn next_event(&mut self) -> Result<P2pEvent, Error> {
        loop {
            if let Some(data) = self.codec.decoder.decode(&mut self.rbuf)? {
                return Ok(self.session.handle(&data)?);
            }
            read_more(&mut self.tcp, &mut self.rbuf).await?;
        }
    }

    /// Half-closes the connection.
    pub(crate) async fn shutdown(mut self) {
        let _ = timeout(CLOSE_GRACE, self.tcp.shutdown()).await;
    }

    /// Tells the peer why (when the error has a reason worth sending) and half-closes.
    async fn fail(mut self, error: Error, remote_id: NodeId) -> SetupError {
        let remote_versions = self
            .session
            .remote_hello()
            .map(|h| caps::zks_versions(&h.capabilities));
        let reason = error.tells_peer().then(|| error.disconnect_reason());
        let wbuf = std::mem::take(&mut self.wbuf);
        say_goodbye(
            &mut self.tcp,
            &mut self.codec,
            &mut self.session,
            reason,
            wbuf,
        )
        .await;
        SetupError {
            error,
            remote_id: Some(remote_id),
            remote_versions,
            linger: Some(self.tcp),
        }
    }
}

/// Reads and discards until EOF or the grace period ends, so the peer can read our Disconnect
/// before the connection resets.
pub(crate) async fn linger(mut tcp: TcpStream) {
    pump::linger(&mut tcp, CLOSE_GRACE).await;
}

/// Runs a live link with the shared pump until it ends, then closes the socket.
pub(crate) async fn run_link(
    established: Established,
    end: LinkEnd,
    config: Arc<Devp2pConfig>,
    eth_ignored: Arc<AtomicU64>,
    compressed: Arc<crate::compressed::CompressedCache>,
) {
    let Established {
        tcp,
        codec,
        session,
        rbuf,
        eth,
        held,
        ..
    } = established;
    // What came before the Status goes first; never more than the queue holds.
    for frame in held {
        if end.deliver(frame).await.is_err() {
            break;
        }
    }
    let size_cap = end.size_cap();
    let (decoder, encoder) =
        crate::codec::codecs(codec, session, eth, eth_ignored, size_cap, compressed);
    let (rd, wr) = tcp.into_split();
    let mut reader = FramedRead::with_capacity(rd, decoder, crate::codec::READ_CHUNK);
    reader.read_buffer_mut().extend_from_slice(&rbuf);
    // Grows with what is written: an idle link holds no write buffer.
    let writer = FramedWrite::with_capacity(wr, encoder, 0);
    let pump = PumpConfig {
        keepalive: Some(KeepaliveConfig {
            interval: config.ping_interval,
            timeout: config.pong_timeout,
        }),
        close_grace: CLOSE_GRACE,
        ..PumpConfig::default()
    };
    pump::run(reader, writer, end, pump).await;
}

/// Ends a connection politely: writes a Disconnect with `reason` (if any) after what `wbuf`
/// already holds, then half-closes; each step bounded by the close grace.
async fn say_goodbye(
    tcp: &mut TcpStream,
    codec: &mut FrameCodec,
    session: &mut P2pSession,
    reason: Option<DisconnectReason>,
    mut wbuf: BytesMut,
) {
    if let Some(reason) = reason
        && codec
            .encoder
            .encode_with(&mut wbuf, |buf| session.write_disconnect(reason, buf))
            .is_ok()
    {
        let _ = timeout(CLOSE_GRACE, tcp.write_all(&wbuf)).await;
    }
    let _ = timeout(CLOSE_GRACE, tcp.shutdown()).await;
}

/// Peers already told about at WARN (below), bounded: beyond it, only INFO.
const ETH_WARNINGS: usize = 256;

/// Says, once per peer at WARN (then at INFO), that a peer speaks `eth` while this node has
/// no chain identity: a reth-based ZKsync OS node ends such a session with `UselessPeer` right
/// after the Hello, and without this line only that node's log would say why.
fn warn_eth_unspoken(hello: &crate::p2p::Hello) {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock, PoisonError};

    let eth: Vec<String> = hello
        .capabilities
        .iter()
        .filter(|c| c.name == "eth")
        .map(|c| format!("eth/{}", c.version))
        .collect();
    if eth.is_empty() {
        return;
    }
    static WARNED: OnceLock<Mutex<HashSet<[u8; 64]>>> = OnceLock::new();
    let first = {
        let mut warned = WARNED
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        warned.len() < ETH_WARNINGS && warned.insert(hello.node_id.0)
    };
    let peer = hello.node_id;
    let eth = eth.join(", ");
    if first {
        tracing::warn!(
            %peer,
            %eth,
            "the peer speaks eth and this node does not (it has no chain identity): a reth-based \
             ZKsync OS node ends the session with UselessPeer; give this node the chain's \
             identity (the zks binary: --chain-id)"
        );
    } else {
        tracing::info!(%peer, %eth, "the peer speaks eth and this node does not");
    }
}
