//! A probe of any devp2p node: the RLPx handshake and Hello exchange the transport itself uses,
//! then one Ping and a polite Disconnect. `zks rlpx ping` is built on it.

use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio::time::timeout;
use zks_api::DisconnectReason;
use zks_api::wire::{Capabilities, TwoFaVersion, ZksVersion};

use crate::config::Devp2pConfig;
use crate::enode::{Enode, NodeId};
use crate::error::{Error, P2pError};
use crate::eth::{self, EthVersion, Status};
use crate::p2p::{Hello, P2pEvent};
use crate::stream::{self, Role};

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
    if let (None, Some(version), Some(chain)) =
        (&ended, hs.session.eth_version(), config.chain_identity())
    {
        let exchanged = async {
            hs.send_status(chain, version).await?;
            hs.read_status(version, config).await
        };
        match exchanged.await {
            Ok((theirs, _)) => {
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
                    // A zks message (an EN-minded peer asking for replay) is not for a probe.
                    P2pEvent::Zks(_) | P2pEvent::Eth { .. } | P2pEvent::Hello => {}
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

    // A polite goodbye where the session still stands; errors here do not matter any more.
    if ended.is_none() {
        let goodbye = hs.send(|session, buf| {
            session.write_disconnect(DisconnectReason::ClientQuitting, buf);
        });
        let _ = timeout(Duration::from_secs(1), goodbye).await;
    }
    hs.shutdown().await;
    Ok(ProbeReport {
        remote_id,
        hello,
        zks,
        zks_2fa,
        status,
        handshake_rtt,
        ping_rtt,
        ended,
    })
}
