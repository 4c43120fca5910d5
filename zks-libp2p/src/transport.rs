//! [`Libp2pTransport`]: [`zks_api::transport::Transport`] over libp2p (TCP + noise + yamux).
//!
//! Setting up a link:
//!
//! 1. The dialer connects to the `/p2p/<peer id>` multiaddr (noise authenticates the peer id).
//! 2. It opens a stream with the protocol names of what it advertises in turn, highest zks
//!    version first, and for each version the name with `zks_2fa` before the one without:
//!    `/zks/5+zks_2fa/1`, `/zks/5`, `/zks/4+zks_2fa/1`, `/zks/4`, … (see
//!    [`stream_protocol_name`]). The listener accepts exactly the names of what it advertises
//!    (`/zks/<v>` for each of its versions, and `/zks/<v>+zks_2fa/1` too when it speaks
//!    `zks_2fa/1`), so the first name accepted is the highest common zks version, with
//!    `zks_2fa` exactly when both sides speak it — what
//!    [`Capabilities::negotiate`] gives on every transport.
//! 3. The listener answers with a Ready message, or a Close message, which the dialer reports
//!    as [`TransportError::Refused`]. (A node over its active-link cap accepts the link and then
//!    closes it with `TooManyPeers`.)
//! 4. When no protocol is accepted, the dialer opens one short `/zks-versions/1` stream on which
//!    both sides send their version sets (one byte, bit `n` = `zks/n`), so the dialer fails with
//!    [`TransportError::NoCommonVersion`] naming the listener's versions and the listener
//!    reports the same error on its [`Incoming`].
//!
//! Then the stream carries messages framed as described in [`crate::codec`], until either side
//! closes it with a Close message; see [`crate::link`].

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::BytesMut;
use futures::{AsyncReadExt as _, AsyncWriteExt as _, StreamExt as _};
use libp2p::{Multiaddr, PeerId, Stream, StreamProtocol};
use libp2p_stream::OpenStreamError;
use tokio::sync::mpsc;
use tokio::time::timeout;
use tracing::Instrument as _;
use zks_api::transport::{Incoming, Link, LinkInfo, Transport, TransportError};
use zks_api::wire::{Capabilities, LinkCaps, TwoFaVersion, VersionSet, ZksVersion};
use zks_api::{Direction, DisconnectReason, PeerAddr};

use crate::addr;
use crate::codec::{self, Message, MessageDecoder};
use crate::config::{CLOSE_GRACE, Libp2pConfig};
use crate::error::Error;
use crate::link;
use crate::swarm::{ConnectError, PeerBook, SwarmHandle};

/// The protocol name of the version probe (see the [module docs](self)).
pub const VERSIONS_PROTOCOL: &str = "/zks-versions/1";

/// The stream protocol name of a zks version: `/zks/<n>`.
pub const fn protocol_name(version: ZksVersion) -> &'static str {
    match version {
        ZksVersion::V1 => "/zks/1",
        ZksVersion::V2 => "/zks/2",
        ZksVersion::V3 => "/zks/3",
        ZksVersion::V4 => "/zks/4",
        ZksVersion::V5 => "/zks/5",
    }
}

/// The stream protocol name of what a link carries: `/zks/<n>`, or `/zks/<n>+zks_2fa/<m>`
/// when it carries `zks_2fa/<m>` beside `zks/<n>`. The name is the whole negotiation: the
/// stream's ids then follow [`StreamIds`](crate::codec::StreamIds) for these caps.
pub const fn stream_protocol_name(caps: LinkCaps) -> &'static str {
    match (caps.zks, caps.zks_2fa) {
        (version, None) => protocol_name(version),
        (ZksVersion::V1, Some(TwoFaVersion::V1)) => "/zks/1+zks_2fa/1",
        (ZksVersion::V2, Some(TwoFaVersion::V1)) => "/zks/2+zks_2fa/1",
        (ZksVersion::V3, Some(TwoFaVersion::V1)) => "/zks/3+zks_2fa/1",
        (ZksVersion::V4, Some(TwoFaVersion::V1)) => "/zks/4+zks_2fa/1",
        (ZksVersion::V5, Some(TwoFaVersion::V1)) => "/zks/5+zks_2fa/1",
    }
}

fn protocol(caps: LinkCaps) -> StreamProtocol {
    StreamProtocol::new(stream_protocol_name(caps))
}

/// What a side advertising `caps` offers per zks version, in the dialer's order: highest
/// version first, and for each the caps with `zks_2fa` (when advertised) before those without.
fn offers(caps: Capabilities) -> impl Iterator<Item = LinkCaps> {
    caps.zks.iter().rev().flat_map(move |zks| {
        let with = caps.zks_2fa.map(|v| LinkCaps {
            zks,
            zks_2fa: Some(v),
        });
        with.into_iter().chain([LinkCaps::zks(zks)])
    })
}

/// One byte per version set: bit `n` is `zks/n`.
fn version_bits(versions: VersionSet) -> u8 {
    versions.iter().fold(0, |bits, v| bits | (1 << v.number()))
}

fn versions_from_bits(bits: u8) -> VersionSet {
    ZksVersion::ALL
        .into_iter()
        .filter(|v| bits & (1 << v.number()) != 0)
        .collect()
}

/// The libp2p transport.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use zks_api::transport::Transport;
/// use zks_api::wire::VersionSet;
/// use zks_libp2p::{Libp2pConfig, Libp2pTransport, key};
///
/// let config = Libp2pConfig::builder(key::generate_ed25519())
///     .listen_addr("/ip4/127.0.0.1/tcp/0".parse()?)
///     .build()?;
/// let transport = Libp2pTransport::new(config)?;
/// let mut incoming = transport.listen(VersionSet::ALL.into()).await?;
/// println!("listening as {}", transport.local_multiaddr().ok_or("not bound")?);
/// while let Some(link) = incoming.next().await {
///     println!("{:?}", link.map(|l| l.info().clone()));
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Libp2pTransport {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Link tasks and the accept loop hold clones: the swarm runs while any of them does.
    swarm: Arc<SwarmHandle>,
    shared: Arc<Shared>,
    bound: Mutex<Option<Multiaddr>>,
    /// The sender of the `Incoming` the listener feeds: closed once the node let go of it.
    incoming: Mutex<Option<mpsc::Sender<Result<Link, TransportError>>>>,
    listening: Mutex<bool>,
}

/// What link tasks and the accept loop need.
#[derive(Debug)]
struct Shared {
    config: Arc<Libp2pConfig>,
    local: PeerId,
    book: Arc<PeerBook>,
}

impl Shared {
    fn remote_addr(&self, peer: PeerId) -> PeerAddr {
        let seen = self.book.get(&peer).unwrap_or_else(Multiaddr::empty);
        PeerAddr::new(addr::with_peer(&seen, peer).to_string())
    }
}

impl Libp2pTransport {
    /// A transport with this configuration; starts the swarm task, binds nothing until
    /// [`listen`](Transport::listen).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] when the swarm cannot be built.
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime.
    pub fn new(config: Libp2pConfig) -> Result<Self, Error> {
        let book = Arc::new(PeerBook::default());
        let swarm = Arc::new(SwarmHandle::spawn(&config, Arc::clone(&book))?);
        let shared = Shared {
            local: config.peer_id(),
            config: Arc::new(config),
            book,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                swarm,
                shared: Arc::new(shared),
                bound: Mutex::new(None),
                incoming: Mutex::new(None),
                listening: Mutex::new(false),
            }),
        })
    }

    /// Our libp2p peer id.
    pub fn local_peer_id(&self) -> PeerId {
        self.inner.shared.local
    }

    /// The configuration.
    pub fn config(&self) -> &Libp2pConfig {
        &self.inner.shared.config
    }

    /// The bound listen address, once listening.
    pub fn local_addr(&self) -> Option<Multiaddr> {
        self.inner.bound.lock().ok()?.clone()
    }

    /// Our dialable address with `/p2p/<peer id>`, once listening (an unspecified listen IP is
    /// shown as loopback).
    pub fn local_multiaddr(&self) -> Option<Multiaddr> {
        let bound = self.local_addr()?;
        Some(addr::with_peer(
            &addr::dialable(&bound),
            self.local_peer_id(),
        ))
    }

    async fn open(
        &self,
        peer: PeerId,
        target: Multiaddr,
        addr: &PeerAddr,
        caps: Capabilities,
    ) -> Result<(Stream, LinkCaps, BytesMut), TransportError> {
        let unreachable = |reason: String| TransportError::Unreachable {
            addr: addr.clone(),
            reason: reason.into(),
        };
        let handshake = |reason: String| TransportError::Handshake {
            peer: addr.clone(),
            reason: reason.into(),
        };
        match self.inner.swarm.connect(peer, target).await {
            Ok(()) => {}
            Err(ConnectError::Unreachable(e)) => return Err(unreachable(e)),
            Err(ConnectError::Handshake(e)) => return Err(handshake(e)),
        }
        let mut control = self.inner.swarm.control.clone();
        for offer in offers(caps) {
            match control.open_stream(peer, protocol(offer)).await {
                Ok(mut stream) => {
                    let rbuf = await_ready(&mut stream).await.map_err(|e| match e {
                        ReadyError::Refused(reason) => TransportError::Refused {
                            peer: addr.clone(),
                            reason,
                        },
                        ReadyError::Other(e) => handshake(e),
                    })?;
                    return Ok((stream, offer, rbuf));
                }
                Err(OpenStreamError::UnsupportedProtocol(_)) => {}
                Err(e) => return Err(handshake(e.to_string())),
            }
        }
        let remote = probe_versions(&mut control, peer, caps.zks).await;
        Err(TransportError::NoCommonVersion {
            peer: addr::to_zks_peer(&peer),
            local: caps.zks,
            remote,
        })
    }
}

enum ReadyError {
    Refused(DisconnectReason),
    Other(String),
}

/// Reads the listener's first message; returns whatever was read beyond it.
async fn await_ready(stream: &mut Stream) -> Result<BytesMut, ReadyError> {
    // The first message is Ready or Close: a few bytes.
    let decoder = MessageDecoder::new(16);
    let mut rbuf = BytesMut::new();
    let mut scratch = [0u8; 64];
    loop {
        match decoder.decode(&mut rbuf) {
            Ok(Some(Message::Ready)) => return Ok(rbuf),
            Ok(Some(Message::Close(reason))) => return Err(ReadyError::Refused(reason)),
            Ok(Some(Message::Zks(_))) => {
                return Err(ReadyError::Other(
                    "expected Ready, got a zks message".to_owned(),
                ));
            }
            Ok(None) => {}
            Err(e) => return Err(ReadyError::Other(e.to_string())),
        }
        match stream.read(&mut scratch).await {
            Ok(0) => return Err(ReadyError::Other("stream closed before Ready".to_owned())),
            Ok(n) => rbuf.extend_from_slice(scratch.get(..n).unwrap_or_default()),
            Err(e) => return Err(ReadyError::Other(e.to_string())),
        }
    }
}

/// Exchanges version sets with `peer` after no zks protocol was accepted; empty when the peer
/// does not answer.
async fn probe_versions(
    control: &mut libp2p_stream::Control,
    peer: PeerId,
    versions: VersionSet,
) -> VersionSet {
    let exchange = async {
        let mut stream = control
            .open_stream(peer, StreamProtocol::new(VERSIONS_PROTOCOL))
            .await
            .ok()?;
        stream.write_all(&[version_bits(versions)]).await.ok()?;
        stream.flush().await.ok()?;
        let mut bits = [0u8; 1];
        stream.read_exact(&mut bits).await.ok()?;
        let _ = stream.close().await;
        Some(versions_from_bits(bits[0]))
    };
    timeout(CLOSE_GRACE, exchange)
        .await
        .ok()
        .flatten()
        .unwrap_or_default()
}

#[async_trait]
impl Transport for Libp2pTransport {
    fn local_id(&self) -> zks_api::PeerId {
        addr::to_zks_peer(&self.local_peer_id())
    }

    fn peer_id(&self, addr: &PeerAddr) -> Result<zks_api::PeerId, TransportError> {
        Ok(addr::to_zks_peer(&addr::parse(addr)?.0))
    }

    fn local_peer_addr(&self) -> Option<PeerAddr> {
        let open = self
            .inner
            .incoming
            .lock()
            .ok()?
            .as_ref()
            .is_some_and(|tx| !tx.is_closed());
        open.then(|| self.local_multiaddr())
            .flatten()
            .map(|a| PeerAddr::new(a.to_string()))
    }

    async fn listen(&self, caps: Capabilities) -> Result<Incoming, TransportError> {
        let versions = caps.zks;
        {
            let mut listening = self
                .inner
                .listening
                .lock()
                .map_err(|_| TransportError::Listen("poisoned".into()))?;
            if *listening {
                return Err(TransportError::Listen("already listening".into()));
            }
            *listening = true;
        }
        let shared = &self.inner.shared;
        let bound = self
            .inner
            .swarm
            .listen(shared.config.listen_addr.clone())
            .await
            .map_err(|e| TransportError::Listen(e.into()))?;
        if let Ok(mut slot) = self.inner.bound.lock() {
            *slot = Some(bound.clone());
        }
        let mut control = self.inner.swarm.control.clone();
        let mut streams = Vec::new();
        for offer in offers(caps) {
            let incoming = control
                .accept(protocol(offer))
                .map_err(|e| TransportError::Listen(e.to_string().into()))?;
            streams.push(incoming.map(move |(p, s)| (Some(offer), p, s)).boxed());
        }
        let probes = control
            .accept(StreamProtocol::new(VERSIONS_PROTOCOL))
            .map_err(|e| TransportError::Listen(e.to_string().into()))?;
        streams.push(probes.map(|(p, s)| (None, p, s)).boxed());
        let (tx, incoming) = Incoming::channel(shared.config.link_capacity);
        if let Ok(mut slot) = self.inner.incoming.lock() {
            *slot = Some(tx.clone());
        }
        let shared = Arc::clone(shared);
        let keep = Arc::clone(&self.inner.swarm);
        tokio::spawn(
            accept_loop(
                shared,
                keep,
                futures::stream::select_all(streams),
                tx,
                versions,
            )
            .instrument(tracing::info_span!("libp2p-listener", %bound)),
        );
        tracing::info!(%bound, peer = %self.local_peer_id(), %caps, "listening");
        Ok(incoming)
    }

    async fn dial(&self, addr: &PeerAddr, caps: Capabilities) -> Result<Link, TransportError> {
        let (peer, target) = addr::parse(addr)?;
        let shared = Arc::clone(&self.inner.shared);
        let span = tracing::info_span!("libp2p", %peer, direction = %Direction::Outbound);
        let opened = timeout(
            shared.config.handshake_timeout,
            self.open(peer, target, addr, caps),
        )
        .instrument(span.clone())
        .await;
        let (stream, link_caps, rbuf) = match opened {
            Ok(Ok(opened)) => opened,
            Ok(Err(e)) => {
                tracing::info!(parent: &span, error = %e, "dial failed");
                return Err(e);
            }
            Err(_) => {
                return Err(TransportError::Handshake {
                    peer: addr.clone(),
                    reason: "timed out".into(),
                });
            }
        };
        let info = LinkInfo::new(
            addr::to_zks_peer(&peer),
            addr.clone(),
            Direction::Outbound,
            link_caps,
        );
        tracing::debug!(parent: &span, caps = %link_caps, "link established");
        let (link, end) = Link::channel(info, shared.config.link_capacity);
        let config = Arc::clone(&shared.config);
        let keep = Arc::clone(&self.inner.swarm);
        tokio::spawn(
            async move {
                link::run(stream, link_caps, end, config, rbuf).await;
                drop(keep);
            }
            .instrument(span),
        );
        Ok(link)
    }
}

/// An accepted stream: what its protocol name negotiated (`None`: the version probe).
type Accepted = (Option<LinkCaps>, PeerId, Stream);

async fn accept_loop(
    shared: Arc<Shared>,
    keep: Arc<SwarmHandle>,
    mut streams: futures::stream::SelectAll<futures::stream::BoxStream<'static, Accepted>>,
    tx: mpsc::Sender<Result<Link, TransportError>>,
    versions: VersionSet,
) {
    loop {
        let accepted = tokio::select! {
            () = tx.closed() => break,
            accepted = streams.next() => accepted,
        };
        let Some((caps, peer, stream)) = accepted else {
            break;
        };
        let span = tracing::info_span!("libp2p", %peer, direction = %Direction::Inbound);
        let Some(caps) = caps else {
            tokio::spawn(answer_probe(stream, peer, versions, tx.clone()).instrument(span));
            continue;
        };
        // Admission (the active-link cap, trusted peers) is the node's: every link goes to it.
        let shared = Arc::clone(&shared);
        let tx = tx.clone();
        let keep = Arc::clone(&keep);
        tokio::spawn(
            async move {
                serve_inbound(&shared, stream, peer, caps, tx).await;
                drop(keep);
            }
            .instrument(span),
        );
    }
    tracing::debug!("listener stopped: incoming links are no longer taken");
}

async fn serve_inbound(
    shared: &Shared,
    mut stream: Stream,
    peer: PeerId,
    caps: LinkCaps,
    tx: mpsc::Sender<Result<Link, TransportError>>,
) {
    let mut ready = BytesMut::new();
    codec::encode_ready(&mut ready);
    let sent = timeout(shared.config.handshake_timeout, async {
        stream.write_all(&ready).await?;
        stream.flush().await
    })
    .await;
    if !matches!(sent, Ok(Ok(()))) {
        tracing::info!("inbound link failed before it was ready");
        return;
    }
    let info = LinkInfo::new(
        addr::to_zks_peer(&peer),
        shared.remote_addr(peer),
        Direction::Inbound,
        caps,
    );
    tracing::debug!(%caps, "link established");
    let (link, end) = Link::channel(info, shared.config.link_capacity);
    if tx.send(Ok(link)).await.is_err() {
        return;
    }
    link::run(
        stream,
        caps,
        end,
        Arc::clone(&shared.config),
        BytesMut::new(),
    )
    .await;
}

/// Answers a version probe, and reports the failed negotiation when there is no common version.
async fn answer_probe(
    mut stream: Stream,
    peer: PeerId,
    versions: VersionSet,
    tx: mpsc::Sender<Result<Link, TransportError>>,
) {
    let exchange = async {
        let mut bits = [0u8; 1];
        stream.read_exact(&mut bits).await?;
        stream.write_all(&[version_bits(versions)]).await?;
        stream.close().await?;
        Ok::<_, std::io::Error>(versions_from_bits(bits[0]))
    };
    let Ok(Ok(remote)) = timeout(CLOSE_GRACE, exchange).await else {
        tracing::debug!("version probe failed");
        return;
    };
    if versions.highest_common(remote).is_none() {
        tracing::info!(%remote, local = %versions, "no common zks version");
        // Never block on a full queue of failure reports.
        let _ = tx.try_send(Err(TransportError::NoCommonVersion {
            peer: addr::to_zks_peer(&peer),
            local: versions,
            remote,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_bits_round_trip() {
        for bits in 0..=u8::MAX {
            let set = versions_from_bits(bits);
            assert_eq!(versions_from_bits(version_bits(set)), set);
        }
        assert_eq!(version_bits(VersionSet::SEED), 0b1110);
        assert_eq!(version_bits(VersionSet::ALL), 0b11_1110);
        assert_eq!(protocol_name(ZksVersion::V2), "/zks/2");
        assert_eq!(protocol_name(ZksVersion::V4), "/zks/4");
        assert_eq!(protocol_name(ZksVersion::V5), "/zks/5");
        assert_eq!(version_bits(VersionSet::CODEC), 0b11_1110);
    }

    #[test]
    fn offers_put_zks_2fa_first_per_version_highest_first() {
        let names: Vec<_> = offers(Capabilities {
            zks: VersionSet::from([ZksVersion::V3, ZksVersion::V5]),
            zks_2fa: Some(TwoFaVersion::V1),
        })
        .map(stream_protocol_name)
        .collect();
        assert_eq!(
            names,
            ["/zks/5+zks_2fa/1", "/zks/5", "/zks/3+zks_2fa/1", "/zks/3"]
        );
        let names: Vec<_> = offers(VersionSet::from([ZksVersion::V1, ZksVersion::V2]).into())
            .map(stream_protocol_name)
            .collect();
        assert_eq!(names, ["/zks/2", "/zks/1"]);
        // Every name is a valid, distinct stream protocol.
        let all: Vec<_> = offers(Capabilities {
            zks: VersionSet::CODEC,
            zks_2fa: Some(TwoFaVersion::V1),
        })
        .map(|c| protocol(c).to_string())
        .collect();
        assert_eq!(all.len(), 10);
        assert!(all.iter().all(|n| n.starts_with("/zks/")));
        let mut unique = all.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), all.len());
    }
}
