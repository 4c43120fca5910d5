//! A probe of any devp2p node: the RLPx handshake and Hello exchange the transport itself uses,
//! then one Ping, optionally a few zks messages of the caller's ([`probe_with`]), and a polite
//! Disconnect. `zks rlpx ping` is built on it.

use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio::time::timeout;
use zks_api::DisconnectReason;
use zks_api::wire::{Capabilities, Frame, LinkCaps, TwoFaVersion, ZksVersion};

use crate::config::{Devp2pConfig, MAX_EARLY_ZKS_MESSAGES};
use crate::enode::{Enode, NodeId};
use crate::error::{Error, P2pError};
use crate::eth::{self, EthVersion, Status};
use crate::p2p::{Hello, P2pEvent};
use crate::stream::{self, HelloExchange, Role};

/// What a probe learned about a peer.
#[derive(Debug)]
pub struct ProbeReport {
    /// The peer's authenticated node id.
    pub remote_id: NodeId,
    /// The Hello it sent.
    pub hello: Hello,
    /// The zks version we would negotiate with it, if any.
    pub zks: Option<ZksVersion>,
    /// The `zks_2fa` version we would negotiate with it: both Hellos list it (so only when the
    /// probe advertises `zks_2fa`). Reported as the Hello shows it, also without zks.
    pub zks_2fa: Option<TwoFaVersion>,
    /// The `eth` version and the peer's Status, when `eth` is shared (the probe advertises
    /// `eth` when its config has a chain identity).
    pub status: Option<(EthVersion, Status)>,
    /// From sending our auth to reading its ack (one round trip plus the peer's ECIES work).
    pub handshake_rtt: Duration,
    /// Ping → Pong, when the session carried a Ping.
    pub ping_rtt: Option<Duration>,
    /// Why there is no `ping_rtt`: the peer shares no capability (a session without one
    /// carries nothing), disconnected, or did not answer in time.
    pub ended: Option<Error>,
}

/// Probes the node at `enode`, advertising `caps` (zks versions, optionally `zks_2fa`; a
/// [`VersionSet`](zks_api::wire::VersionSet) converts) with `config`'s key and client id.
/// Connect and handshake run under `config`'s handshake timeout, the Hello exchange under its
/// Hello timeout, and the Ping under its Pong timeout.
///
/// A peer that said Hello yields a report even when it then drops the session; the reason is
/// in [`ProbeReport::ended`].
///
/// # Errors
///
/// The connection, the handshake or the Hello exchange failed: [`Error::Io`],
/// [`Error::Timeout`] (phase `connect`, `handshake` or `hello`), [`Error::Disconnected`], or the
/// handshake's and framing's own errors.
pub async fn probe(
    enode: &Enode,
    config: &Devp2pConfig,
    caps: impl Into<Capabilities>,
) -> Result<ProbeReport, Error> {
    let (report, _) = probe_with(enode, config, caps, async |_: &mut ProbeLink| ()).await?;
    Ok(report)
}

/// As [`probe`], and once the session stands (Hello exchanged, the `eth` Status too where
/// shared, the Ping answered) runs `exchange` on it, before the Disconnect: a short,
/// caller-driven conversation over the session's zks (and `zks_2fa`) capability through a
/// [`ProbeLink`], such as one request and its answer.
///
/// `exchange` runs only on a standing session; its output is `None` when the session ended
/// before it (the reason is in [`ProbeReport::ended`]). The probe bounds nothing inside it:
/// `exchange` bounds its own waits (every [`ProbeLink`] method may be put under a timeout).
/// Afterwards the probe says Disconnect (`ClientQuitting`) unless the link broke in `exchange`
/// (an error from a [`ProbeLink`] method, or a cancelled [`send`](ProbeLink::send)).
///
/// ```no_run
/// use std::time::Duration;
/// use zks_api::wire::{Capabilities, GetBlockReplays, ZksMessage};
/// use zks_devp2p::{Devp2pConfig, Enode, NodeKey, ProbeLink, probe_with};
///
/// # async fn run(enode: Enode) -> Result<(), zks_devp2p::Error> {
/// let config = Devp2pConfig::builder(NodeKey::generate()).build()?;
/// let ask = async |link: &mut ProbeLink| {
///     let request = ZksMessage::GetBlockReplays(GetBlockReplays {
///         starting_block: 1,
///         ..GetBlockReplays::default()
///     });
///     link.send(&request.to_frame()).await?;
///     // The first answer within 5 s, if any.
///     tokio::time::timeout(Duration::from_secs(5), link.recv()).await.ok().transpose()
/// };
/// let (report, answer) = probe_with(&enode, &config, Capabilities::default(), ask).await?;
/// println!("{:?}: {answer:?}", report.hello.client_id);
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// As [`probe`].
pub async fn probe_with<T>(
    enode: &Enode,
    config: &Devp2pConfig,
    caps: impl Into<Capabilities>,
    exchange: impl AsyncFnOnce(&mut ProbeLink) -> T,
) -> Result<(ProbeReport, Option<T>), Error> {
    let caps = caps.into();
    let (host, port) = enode
        .dial_target()
        .map_err(|e| Error::Io(std::io::Error::new(std::io::ErrorKind::InvalidInput, e)))?;
    let tcp = timeout(
        config.handshake_timeout,
        TcpStream::connect((host.as_str(), port)),
    )
    .await
    .map_err(|_| Error::Timeout {
        phase: "connect",
        after: config.handshake_timeout,
    })??;
    let _ = tcp.set_nodelay(true);

    let started = Instant::now();
    let (mut hs, remote_id) = stream::handshake(
        tcp,
        Role::Dial(enode.id),
        config,
        caps,
        0,
        config.handshake_timeout,
    )
    .await?;
    let handshake_rtt = started.elapsed();

    let exchanged = timeout(config.hello_timeout, hs.exchange(config))
        .await
        .map_err(|_| Error::Timeout {
            phase: "hello",
            after: config.hello_timeout,
        })?;
    let mut ended = match exchanged {
        Ok(()) => None,
        // It said Hello, but a session that shares nothing cannot carry a Ping.
        Err(e @ Error::P2p(P2pError::NoSharedCapability)) => Some(e),
        Err(e) => return Err(e),
    };
    let Some(hello) = hs.session.remote_hello().cloned() else {
        return Err(P2pError::ExpectedHello { got: 0 }.into());
    };
    let zks = hs.session.zks_version();
    let zks_2fa = hs.session.zks_2fa_version();

    // With eth shared: our Status, the peer's, and reth's checks on it.
    let mut status = None;
    let mut held = Vec::new();
    if let (None, Some(version), Some(chain)) =
        (&ended, hs.session.eth_version(), config.chain_identity())
    {
        let exchanged = async {
            hs.send_status(chain, version).await?;
            hs.read_status(version, config).await
        };
        match exchanged.await {
            Ok((theirs, early)) => {
                held = early;
                if let Err(e) = eth::validate(chain, version, &theirs) {
                    ended = Some(Box::new(e).into());
                }
                status = Some((version, theirs));
            }
            Err(e) => ended = Some(e),
        }
    }

    let mut ping_rtt = None;
    if ended.is_none() {
        let sent = Instant::now();
        let pong = timeout(config.pong_timeout, async {
            hs.send(|session, buf| session.write_ping(buf)).await?;
            loop {
                match hs.next_event().await? {
                    P2pEvent::Pong => return Ok(sent.elapsed()),
                    P2pEvent::Ping => hs.send(|session, buf| session.write_pong(buf)).await?,
                    P2pEvent::Disconnect(reason) => {
                        return Err(Error::Disconnected(reason.to_reason()));
                    }
                    // A zks message (an EN-minded peer asking for replay) is kept for
                    // `exchange`, as many as a link holds before the Status.
                    P2pEvent::Zks(frame) => {
                        if held.len() < MAX_EARLY_ZKS_MESSAGES {
                            held.push(frame);
                        }
                    }
                    P2pEvent::Eth { .. } | P2pEvent::Hello => {}
                }
            }
        })
        .await;
        match pong {
            Ok(Ok(rtt)) => ping_rtt = Some(rtt),
            Ok(Err(e)) => ended = Some(e),
            Err(_) => {
                ended = Some(Error::Timeout {
                    phase: "pong",
                    after: config.pong_timeout,
                });
            }
        }
    }

    // The caller's exchange, on a standing session only.
    let mut output = None;
    let mut goodbye = ended.is_none();
    if ended.is_none() {
        let mut link = ProbeLink {
            hs,
            held: held.into(),
            broken: false,
        };
        output = Some(exchange(&mut link).await);
        goodbye = !link.broken;
        hs = link.hs;
    }

    // A polite goodbye where the session still stands; errors here do not matter any more.
    if goodbye {
        let goodbye = hs.send(|session, buf| {
            session.write_disconnect(DisconnectReason::ClientQuitting, buf);
        });
        let _ = timeout(Duration::from_secs(1), goodbye).await;
    }
    hs.shutdown().await;
    Ok((
        ProbeReport {
            remote_id,
            hello,
            zks,
            zks_2fa,
            status,
            handshake_rtt,
            ping_rtt,
            ended,
        },
        output,
    ))
}

/// The session of a [`probe_with`], lent to its `exchange`: zks and `zks_2fa` frames out and in
/// on the capabilities the Hellos negotiated, Pings answered, `eth` messages after the Status
/// ignored (a probe serves no chain data).
///
/// An error from any method means the session is gone (the peer left, broke the protocol, or
/// the socket failed): later calls fail too, and the probe closes the socket without a
/// Disconnect.
pub struct ProbeLink {
    hs: HelloExchange,
    /// zks frames the peer sent before `exchange` began (during the Status exchange and the
    /// Ping), at most [`MAX_EARLY_ZKS_MESSAGES`].
    held: std::collections::VecDeque<Frame>,
    /// An error ended the session, or a send was cancelled midway.
    broken: bool,
}

impl std::fmt::Debug for ProbeLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeLink")
            .field("caps", &self.caps())
            .field("held", &self.held.len())
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

impl ProbeLink {
    /// What the session carries: the negotiated zks version and `zks_2fa` where shared;
    /// `None` when the peer shares no zks version (then nothing can be sent).
    pub fn caps(&self) -> Option<LinkCaps> {
        self.hs.session.link_caps()
    }

    /// The negotiated `eth` version, when the Status exchange passed.
    pub fn eth_version(&self) -> Option<EthVersion> {
        self.hs.session.eth_version()
    }

    /// Sends `frame` ([`Protocol::Zks`](zks_api::wire::Protocol::Zks) or, where shared,
    /// [`Protocol::Zks2fa`](zks_api::wire::Protocol::Zks2fa), with a relative id) as the
    /// transport's links do, compressed when the session says so.
    ///
    /// Not cancel safe: a send dropped midway (under a timeout) leaves a partial frame on the
    /// wire, so the link counts as broken.
    ///
    /// # Errors
    ///
    /// [`Error::P2p`] for a frame the session cannot carry (no shared zks, a protocol or id it
    /// does not carry, too large: see [`P2pSession::check_zks`](crate::p2p::P2pSession::check_zks)),
    /// which leaves the link usable; the socket's errors, which end it.
    pub async fn send(&mut self, frame: &Frame) -> Result<(), Error> {
        self.usable()?;
        self.hs.session.check_zks(frame)?;
        self.broken = true;
        self.hs
            .send(|session, buf| session.write_zks(frame, buf))
            .await?;
        self.broken = false;
        Ok(())
    }

    /// The next zks or `zks_2fa` frame from the peer (frames it sent before `exchange` began
    /// come first), its body decompressed and capped as the transport caps any message.
    /// Answers Pings and skips Pongs and `eth` messages while it waits.
    ///
    /// Cancel safe (it may be put under a timeout): nothing read is lost. Only a cancel while
    /// it writes a Pong leaves the link broken.
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] when the peer leaves, [`Error::Eof`] when the socket closes,
    /// the framing's and session's errors for what breaks the protocol.
    pub async fn recv(&mut self) -> Result<Frame, Error> {
        if let Some(frame) = self.held.pop_front() {
            return Ok(frame);
        }
        self.usable()?;
        let got = self.next_frame().await;
        if got.is_err() {
            self.broken = true;
        }
        got
    }

    async fn next_frame(&mut self) -> Result<Frame, Error> {
        loop {
            match self.hs.next_event().await? {
                P2pEvent::Zks(frame) => return Ok(frame),
                P2pEvent::Ping => {
                    self.broken = true;
                    self.hs.send(|session, buf| session.write_pong(buf)).await?;
                    self.broken = false;
                }
                P2pEvent::Pong | P2pEvent::Eth { .. } => {}
                P2pEvent::Disconnect(reason) => {
                    return Err(Error::Disconnected(reason.to_reason()));
                }
                P2pEvent::Hello => return Err(P2pError::DuplicateHello.into()),
            }
        }
    }

    fn usable(&self) -> Result<(), Error> {
        if self.broken {
            return Err(Error::Eof);
        }
        Ok(())
    }
}
