//! `zks rlpx ping`: an RLPx handshake and Hello exchange with any devp2p node, then a Ping, a
//! polite Disconnect, and a report of what the peer said.
//!
//! The probe itself is [`zks_devp2p::probe`], the transport's own setup code; this module turns
//! its report into the command's output.

use std::fmt;
use std::time::Duration;

use zks_api::wire::{Capabilities, LinkCaps};
use zks_devp2p::caps::Capability;
use zks_devp2p::eth::ChainIdentity;
use zks_devp2p::{Devp2pConfig, Enode, Error, NodeKey, probe};

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
    /// What a link with the peer would carry (`zks/5 + zks_2fa/1`), when it shares a zks
    /// version with us.
    pub zks: Option<String>,
    /// The peer's `eth` Status, when `eth` is shared (with `--chain-id`).
    pub status: Option<String>,
    /// Why the session ended early (a Status mismatch, a Disconnect, no shared capability).
    pub ended: Option<String>,
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
        match &self.zks {
            Some(zks) => writeln!(f, "zks:          {zks}")?,
            None => writeln!(f, "zks:          no shared version")?,
        }
        if let Some(status) = &self.status {
            writeln!(f, "eth status:   {status}")?;
        }
        match self.ping_rtt {
            Some(rtt) => write!(f, "ping rtt:     {:.2} ms", ms(rtt))?,
            None => write!(f, "ping rtt:     n/a")?,
        }
        if let Some(ended) = &self.ended {
            write!(f, "\nsession:      ended after Hello: {ended}")?;
        }
        Ok(())
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

/// Pings `url` with [`zks_devp2p::probe`]: handshake, Hello, Ping/Pong (if a capability is
/// shared), Disconnect; every step within `limit`.
///
/// # Errors
///
/// [`PingError`], one line each.
pub async fn ping(
    url: &str,
    limit: Duration,
    chain_id: Option<u64>,
) -> Result<PingReport, PingError> {
    let bad_enode = |reason: String| PingError::BadEnode {
        url: url.to_owned(),
        reason,
    };
    let enode: Enode = url
        .parse()
        .map_err(|e: zks_devp2p::enode::EnodeError| bad_enode(e.to_string()))?;
    let (host, port) = enode.dial_target().map_err(|e| bad_enode(e.to_string()))?;
    let peer = format!("{host}:{port}");
    let mut builder = Devp2pConfig::builder(NodeKey::generate())
        .client_id(concat!("zks-rlpx-ping/", env!("CARGO_PKG_VERSION")))
        .handshake_timeout(limit)
        .hello_timeout(limit)
        .status_timeout(limit)
        .pong_timeout(limit);
    if let Some(id) = chain_id {
        builder = builder.chain_identity(ChainIdentity::zksync_os(id));
    }
    let config = builder.build().map_err(|e| bad_enode(e.to_string()))?;
    // We advertise every zks version and zks_2fa, so zks nodes of either generation
    // negotiate; others still say Hello.
    let report = probe(&enode, &config, Capabilities::default())
        .await
        .map_err(|e| match e {
            Error::Timeout { phase, after } => PingError::Timeout {
                peer: peer.clone(),
                phase,
                after,
            },
            Error::Io(e) => PingError::Connect {
                addr: peer.clone(),
                reason: e.to_string(),
            },
            other => PingError::Protocol {
                peer: peer.clone(),
                reason: other.to_string(),
            },
        })?;
    Ok(PingReport {
        enode: url.to_owned(),
        client_id: report.hello.client_id,
        capabilities: report.hello.capabilities,
        p2p_version: report.hello.protocol_version,
        listen_port: report.hello.listen_port,
        handshake_rtt: report.handshake_rtt,
        ping_rtt: report.ping_rtt,
        zks: report.zks.map(|zks| {
            LinkCaps {
                zks,
                zks_2fa: report.zks_2fa,
            }
            .to_string()
        }),
        status: report.status.map(|(version, s)| {
            let fork = s.fork_id();
            format!(
                "{version}, network id {}, genesis 0x{}, fork id 0x{}/{}",
                s.network_id(),
                hex::encode(s.genesis()),
                hex::encode(fork.hash),
                fork.next
            )
        }),
        ended: report.ended.map(|e| e.to_string()),
    })
}
