//! `zks rlpx ping`: an RLPx handshake and Hello exchange with any devp2p node, then a Ping,
//! optionally one replay request (`--fetch N`), a polite Disconnect, and a report of what the
//! peer said.
//!
//! The probe itself is [`zks_devp2p::probe_with`], the transport's own setup code; this module
//! turns its report into the command's output.
//!
//! # Output
//!
//! One `key: value` line each, the value starting at column 15 (see [`PingReport`]'s
//! `Display`). With `--fetch N` three more lines follow `ping rtt:` (and come before
//! `session:`), so that an operator can check what a main node serves before pointing a relay
//! or an external node at it:
//!
//! ```text
//! fetch:        block N on zks/5, K records in the message
//! record:       ZKsync OS v3 record: block B, chain C, protocol 0.31.0, S bytes
//! fits:         yes, a record of chain C as --chain-id says
//! ```
//!
//! `fetch:` says what was asked and on which zks version, then one of `K records in the
//! message` (`1 record`, `0 records`, … in the first `BlockReplays` that came back),
//! `no BlockReplays` (none came: see `record:`) or `not sent` (the request could not go out).
//!
//! `record:` says which encoding the first record carries, or why there is none:
//! - `ZKsync OS v3 record: block B, chain C, protocol MAJOR.MINOR.PATCH, S bytes`: it decodes
//!   as upstream's v3 replay record (`V3Record`), what upstream main nodes and ours with
//!   `--chain-id` serve;
//! - `stand-in record [block_number, payload]: block B, S bytes`: it decodes as `RawRecord`,
//!   what our nodes without a chain id serve;
//! - `an RLP item of neither layout (S bytes, starts HEX…): ERROR`: the first (at most) 8
//!   bytes in hex (`…` when there are more), and the v3 decoder's error;
//! - `none: the peer sent an empty BlockReplays`;
//! - `none within the timeout (the peer holds no block N yet, or does not serve replay)`;
//! - `none: REASON` otherwise: the peer shares no zks version, the session ended before the
//!   request (then `session:` says why), the peer disconnected, or its zks message did not
//!   decode.
//!
//! `fits:` appears with `--chain-id C` when a record came: `yes, a record of chain C as
//! --chain-id says`, `no: a record of chain D, not of --chain-id C`, or `no: --chain-id C
//! wants ZKsync OS v3 records` (for a stand-in or unknown record).
//!
//! The request is `GetBlockReplays { starting_block: N, record_overrides: [], max: Some(1) }`
//! (`max` left out on zks/1–2, which have no such field), sent once the Ping is answered; the
//! first `BlockReplays` is awaited for at most `--timeout` (other zks and `zks_2fa` messages are
//! skipped). Nothing the peer sends can make it panic: the message is capped by the transport,
//! every record is decoded by the bounded decoders of `zks-wire`.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::timeout;
use zks_api::wire::{Capabilities, GetBlockReplays, LinkCaps, Protocol, ZksMessage, ZksVersion};
use zks_api::{RawRecord, ReplayRecord};
use zks_devp2p::caps::Capability;
use zks_devp2p::eth::ChainIdentity;
use zks_devp2p::{Devp2pConfig, Enode, Error, NodeKey, ProbeLink, probe_with};
use zks_wire::zksync_os::V3Record;

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
    /// What `--fetch N` got, when it was given.
    pub fetch: Option<FetchReport>,
}

/// What one `GetBlockReplays` (`--fetch N`) got back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchReport {
    /// The block asked for.
    pub block: u64,
    /// The zks version the request went on, when it went.
    pub version: Option<ZksVersion>,
    /// The chain `--chain-id` named, to check a v3 record against.
    pub chain_id: Option<u64>,
    /// What came back.
    pub outcome: FetchOutcome,
}

/// The answer to a `GetBlockReplays`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchOutcome {
    /// The request did not go out (the session ended before, or shares no zks version).
    NotSent(String),
    /// The first `BlockReplays`: how many records it held, and what the first one is.
    Replays {
        /// Records in the message.
        count: usize,
        /// The first record, `None` for an empty message.
        first: Option<RecordKind>,
    },
    /// No `BlockReplays` within the timeout.
    NoAnswer,
    /// The session ended (or broke) before a `BlockReplays` came.
    Failed(String),
}

/// Which encoding a record carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordKind {
    /// It decodes as a ZKsync OS v3 record.
    V3 {
        /// `block_context.block_number`.
        block: u64,
        /// `block_context.chain_id`.
        chain_id: u64,
        /// `[major, minor, patch]`.
        protocol: [u64; 3],
        /// Encoded size.
        size: usize,
    },
    /// It decodes as a stand-in `[block_number, payload]`.
    StandIn {
        /// Its block number.
        block: u64,
        /// Encoded size.
        size: usize,
    },
    /// Neither.
    Neither {
        /// Encoded size.
        size: usize,
        /// Its first (at most) [`HEAD_BYTES`] bytes.
        head: Vec<u8>,
        /// What the v3 decoder said.
        error: String,
    },
}

/// How many leading bytes of an unknown record the report shows.
pub const HEAD_BYTES: usize = 8;

impl RecordKind {
    /// Classifies one record, an RLP item as it arrived in a `BlockReplays` on `version`:
    /// the v3 layout first, then the stand-in one.
    pub fn of(version: ZksVersion, item: &Bytes) -> Self {
        let v3 = match V3Record::decode(version, item) {
            Ok(record) => {
                return Self::V3 {
                    block: record.block_context.block_number,
                    chain_id: record.block_context.chain_id,
                    protocol: record.protocol_version,
                    size: item.len(),
                };
            }
            Err(e) => e,
        };
        if let Ok(record) = RawRecord::decode(version, item) {
            return Self::StandIn {
                block: record.block_number,
                size: item.len(),
            };
        }
        Self::Neither {
            size: item.len(),
            head: item.iter().take(HEAD_BYTES).copied().collect(),
            error: v3.to_string(),
        }
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::V3 {
                block,
                chain_id,
                protocol: [major, minor, patch],
                size,
            } => write!(
                f,
                "ZKsync OS v3 record: block {block}, chain {chain_id}, protocol \
                 {major}.{minor}.{patch}, {size} bytes"
            ),
            Self::StandIn { block, size } => write!(
                f,
                "stand-in record [block_number, payload]: block {block}, {size} bytes"
            ),
            Self::Neither { size, head, error } => {
                let more = if *size > head.len() { "…" } else { "" };
                write!(
                    f,
                    "an RLP item of neither layout ({size} bytes, starts {}{more}): {error}",
                    hex::encode(head)
                )
            }
        }
    }
}

impl fmt::Display for FetchReport {
    /// The `fetch:`, `record:` and (with a chain id and a record) `fits:` lines, without a
    /// final newline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let block = self.block;
        let on = self.version.map(|v| format!(" on {v}")).unwrap_or_default();
        match &self.outcome {
            FetchOutcome::NotSent(why) => {
                writeln!(f, "fetch:        block {block}{on}, not sent")?;
                write!(f, "record:       none: {why}")
            }
            FetchOutcome::NoAnswer => {
                writeln!(f, "fetch:        block {block}{on}, no BlockReplays")?;
                write!(
                    f,
                    "record:       none within the timeout (the peer holds no block {block} \
                     yet, or does not serve replay)"
                )
            }
            FetchOutcome::Failed(why) => {
                writeln!(f, "fetch:        block {block}{on}, no BlockReplays")?;
                write!(f, "record:       none: {why}")
            }
            FetchOutcome::Replays { count, first } => {
                let records = if *count == 1 { "record" } else { "records" };
                writeln!(
                    f,
                    "fetch:        block {block}{on}, {count} {records} in the message"
                )?;
                let Some(first) = first else {
                    return write!(f, "record:       none: the peer sent an empty BlockReplays");
                };
                write!(f, "record:       {first}")?;
                match (self.chain_id, first) {
                    (None, _) => Ok(()),
                    (Some(wanted), RecordKind::V3 { chain_id, .. }) if *chain_id == wanted => {
                        write!(
                            f,
                            "\nfits:         yes, a record of chain {wanted} as --chain-id says"
                        )
                    }
                    (Some(wanted), RecordKind::V3 { chain_id, .. }) => write!(
                        f,
                        "\nfits:         no: a record of chain {chain_id}, not of --chain-id \
                         {wanted}"
                    ),
                    (Some(wanted), _) => write!(
                        f,
                        "\nfits:         no: --chain-id {wanted} wants ZKsync OS v3 records"
                    ),
                }
            }
        }
    }
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
        if let Some(fetch) = &self.fetch {
            write!(f, "\n{fetch}")?;
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

/// Pings `url` with [`zks_devp2p::probe_with`]: handshake, Hello, Ping/Pong (if a capability
/// is shared), with `fetch` one `GetBlockReplays` from that block and the first `BlockReplays`
/// back (see the module docs), Disconnect; every step within `limit`.
///
/// # Errors
///
/// [`PingError`], one line each.
pub async fn ping(
    url: &str,
    limit: Duration,
    chain_id: Option<u64>,
    fetch: Option<u64>,
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
    let exchange = async |link: &mut ProbeLink| match fetch {
        Some(block) => Some(fetch_one(link, block, limit).await),
        None => None,
    };
    let (report, fetched) = probe_with(&enode, &config, Capabilities::default(), exchange)
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
        fetch: fetch.map(|block| {
            let (version, outcome) = fetched.flatten().unwrap_or_else(|| {
                let why = "the session ended before the request (see session:)";
                (None, FetchOutcome::NotSent(why.to_owned()))
            });
            FetchReport {
                block,
                version,
                chain_id,
                outcome,
            }
        }),
    })
}

/// Asks the peer for `block` (one record per message) and waits at most `limit` for the first
/// `BlockReplays`; returns the zks version the request went on, and what came.
async fn fetch_one(
    link: &mut ProbeLink,
    block: u64,
    limit: Duration,
) -> (Option<ZksVersion>, FetchOutcome) {
    let Some(version) = link.caps().map(|c| c.zks) else {
        let why = "the peer shares no zks version".to_owned();
        return (None, FetchOutcome::NotSent(why));
    };
    let request = ZksMessage::GetBlockReplays(GetBlockReplays {
        starting_block: block,
        record_overrides: Vec::new(),
        max_blocks_per_message: version.has_max_blocks_field().then_some(1),
    });
    let frame = match request.to_frame_for(version) {
        Ok(frame) => frame,
        Err(e) => return (Some(version), FetchOutcome::NotSent(e.to_string())),
    };
    let outcome = timeout(limit, async {
        if let Err(e) = link.send(&frame).await {
            return FetchOutcome::NotSent(format!("the request could not be sent: {e}"));
        }
        loop {
            let frame = match link.recv().await {
                Ok(frame) => frame,
                Err(Error::Disconnected(reason)) => {
                    return FetchOutcome::Failed(format!("the peer disconnected: {reason}"));
                }
                Err(e) => return FetchOutcome::Failed(format!("the session broke: {e}")),
            };
            // zks_2fa traffic, and zks messages other than BlockReplays (an EN-minded peer
            // asking for replay itself), are not the answer.
            if frame.protocol != Protocol::Zks {
                continue;
            }
            match ZksMessage::decode(version, &frame) {
                Ok(ZksMessage::BlockReplays(replays)) => {
                    return FetchOutcome::Replays {
                        count: replays.records.len(),
                        first: replays.records.first().map(|r| RecordKind::of(version, r)),
                    };
                }
                Ok(_) => {}
                Err(e) => {
                    return FetchOutcome::Failed(format!(
                        "the peer's zks message 0x{:02x} does not decode: {e}",
                        frame.id
                    ));
                }
            }
        }
    })
    .await
    .unwrap_or(FetchOutcome::NoAnswer);
    (Some(version), outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetch(chain_id: Option<u64>, outcome: FetchOutcome) -> String {
        FetchReport {
            block: 9,
            version: Some(ZksVersion::V5),
            chain_id,
            outcome,
        }
        .to_string()
    }

    #[test]
    fn every_fetch_outcome_has_its_lines() {
        let v3 = |chain_id| {
            Some(RecordKind::V3 {
                block: 9,
                chain_id,
                protocol: [0, 32, 1],
                size: 700,
            })
        };
        assert_eq!(
            fetch(
                Some(270),
                FetchOutcome::Replays {
                    count: 2,
                    first: v3(270)
                }
            ),
            "fetch:        block 9 on zks/5, 2 records in the message\n\
             record:       ZKsync OS v3 record: block 9, chain 270, protocol 0.32.1, 700 bytes\n\
             fits:         yes, a record of chain 270 as --chain-id says"
        );
        assert_eq!(
            fetch(
                Some(271),
                FetchOutcome::Replays {
                    count: 1,
                    first: v3(270)
                }
            ),
            "fetch:        block 9 on zks/5, 1 record in the message\n\
             record:       ZKsync OS v3 record: block 9, chain 270, protocol 0.32.1, 700 bytes\n\
             fits:         no: a record of chain 270, not of --chain-id 271"
        );
        let neither = Some(RecordKind::Neither {
            size: 3,
            head: vec![0xc2, 0x01, 0x02],
            error: "bad".to_owned(),
        });
        assert_eq!(
            fetch(
                Some(270),
                FetchOutcome::Replays {
                    count: 1,
                    first: neither
                }
            ),
            "fetch:        block 9 on zks/5, 1 record in the message\n\
             record:       an RLP item of neither layout (3 bytes, starts c20102): bad\n\
             fits:         no: --chain-id 270 wants ZKsync OS v3 records"
        );
        assert_eq!(
            fetch(
                None,
                FetchOutcome::Replays {
                    count: 0,
                    first: None
                }
            ),
            "fetch:        block 9 on zks/5, 0 records in the message\n\
             record:       none: the peer sent an empty BlockReplays"
        );
        assert_eq!(
            fetch(Some(270), FetchOutcome::NoAnswer),
            "fetch:        block 9 on zks/5, no BlockReplays\n\
             record:       none within the timeout (the peer holds no block 9 yet, or does not \
             serve replay)"
        );
        assert_eq!(
            fetch(
                None,
                FetchOutcome::Failed("the peer disconnected: x".to_owned())
            ),
            "fetch:        block 9 on zks/5, no BlockReplays\n\
             record:       none: the peer disconnected: x"
        );
        let not_sent = FetchReport {
            block: 9,
            version: None,
            chain_id: None,
            outcome: FetchOutcome::NotSent("the peer shares no zks version".to_owned()),
        };
        assert_eq!(
            not_sent.to_string(),
            "fetch:        block 9, not sent\n\
             record:       none: the peer shares no zks version"
        );
    }

    #[test]
    fn records_are_told_apart_by_layout() {
        let v3 = V3Record::synthetic(42, 1, 100);
        let mut item = Vec::new();
        v3.encode(ZksVersion::V5, &mut item);
        assert_eq!(
            RecordKind::of(ZksVersion::V5, &Bytes::from(item.clone())),
            RecordKind::V3 {
                block: 42,
                chain_id: 270,
                protocol: [0, 31, 0],
                size: item.len(),
            }
        );
        let mut item = Vec::new();
        RawRecord::new(3, vec![0xaa; 4]).encode(ZksVersion::V1, &mut item);
        assert_eq!(
            RecordKind::of(ZksVersion::V1, &Bytes::from(item)),
            RecordKind::StandIn { block: 3, size: 7 }
        );
        // Exactly eight bytes: shown whole, no ellipsis.
        let eight = Bytes::from_static(&[0xc7, 0xc0, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06]);
        let kind = RecordKind::of(ZksVersion::V5, &eight);
        let RecordKind::Neither { error, .. } = &kind else {
            panic!("{kind:?}");
        };
        assert_eq!(
            kind.to_string(),
            format!("an RLP item of neither layout (8 bytes, starts c7c0010203040506): {error}")
        );
        assert!(error.starts_with("invalid replay record: "), "{error}");
    }
}
