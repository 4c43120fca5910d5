//! One message per send: a zks-devp2p link moving four message shapes one way, measured the way
//! reth's own RLPx stack is (process CPU per MiB and MiB/s), so the two can be laid side by side
//! (`zks bench versus-reth`, [`crate::versus`]).
//!
//! Below the node: a dialed [`Link`](zks_api::transport::Link) and an accepted one on
//! 127.0.0.1, one [`Frame`] per [`LinkSender::send`](zks_api::transport::LinkSender::send), a
//! task reading the other end until every byte arrived. Every message is compressed, as reth
//! compresses each: the link is its transport's only one, so it compresses straight into its
//! frames, and the bodies cycle through more distinct allocations than zks-devp2p's shared
//! compressed-body cache would keep anyway.

use std::str::FromStr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use serde::Serialize;
use zks_api::transport::Transport;
use zks_api::wire::{Capabilities, Frame, MessageId};

use crate::error::within;
use crate::payload::zksync_os_records;
use crate::{BenchError, floor, stats};

pub(crate) const DEADLINE: Duration = Duration::from_secs(120);

/// A message shape of the per-message comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Shape {
    /// 256 random bytes.
    Random256,
    /// 16 KiB of random bytes.
    Random16k,
    /// One ZKsync OS v3 record per `BlockReplays` (what upstream ENs ask for; ~8.8 KB,
    /// incompressible).
    V3One,
    /// 64 ZKsync OS v3 records per `BlockReplays` (~566 KB; Snappy takes it to ~0.4).
    V3x64,
}

impl Shape {
    /// Every shape, smallest first.
    pub const ALL: [Self; 4] = [Self::Random256, Self::Random16k, Self::V3One, Self::V3x64];

    /// The name in tables and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Random256 => "random-256",
            Self::Random16k => "random-16k",
            Self::V3One => "v3-1",
            Self::V3x64 => "v3-64",
        }
    }

    /// What the shape is, for tables.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Random256 => "256 B random",
            Self::Random16k => "16 KiB random",
            Self::V3One => "one v3 record",
            Self::V3x64 => "64 v3 records",
        }
    }

    /// The message bodies a run cycles through: distinct allocations, more of them (by count
    /// and bytes) than the compressed-body cache holds, so none is served from it.
    ///
    /// # Errors
    ///
    /// [`BenchError::Codec`] if the records do not encode.
    pub fn bodies(self, seed: u64) -> Result<Vec<Bytes>, BenchError> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut random = |len: usize| {
            let mut body = vec![0u8; len];
            rng.fill_bytes(&mut body);
            Bytes::from(body)
        };
        Ok(match self {
            Self::Random256 => (0..4096).map(|_| random(256)).collect(),
            Self::Random16k => (0..512).map(|_| random(16 * 1024)).collect(),
            Self::V3One => {
                let records = zksync_os_records(1, 512);
                floor::replay_frames_per(&records, 1)?
                    .into_iter()
                    .map(|f| f.body)
                    .collect()
            }
            Self::V3x64 => {
                let records = zksync_os_records(1, 64 * 16);
                floor::replay_frames_per(&records, 64)?
                    .into_iter()
                    .map(|f| f.body)
                    .collect()
            }
        })
    }
}

impl FromStr for Shape {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|shape| shape.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|s| s.name()).collect();
                format!("unknown shape {s:?}: one of {}", names.join(", "))
            })
    }
}

/// One run: the JSON line `zks bench per-message` prints, the same fields as reth's runner.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct PerMessageRun {
    /// `zks` or `reth`.
    #[serde(rename = "impl")]
    pub implementation: String,
    /// Messages sent.
    pub messages: u64,
    /// Body bytes sent (without message ids).
    pub payload_bytes: u64,
    /// First send until the last message arrived.
    pub seconds: f64,
    /// Process CPU (user + sys, both ends) over the same span.
    pub cpu_seconds: f64,
    /// CPU milliseconds per MiB of payload.
    pub cpu_ms_per_mib: f64,
    /// Payload MiB per second.
    pub mib_per_s: f64,
    /// What computes the MAC's keccak.
    pub keccak: String,
    /// The Snappy implementation.
    pub snappy: String,
}

/// Which keccak zks-devp2p runs on: keccak-asm and the backend it was built with
/// (`keccak1600-x86_64`, CRYPTOGAMS' scalar assembly, unless the target CPU was given AVX2 or
/// AVX-512VL at build time — `-C target-cpu=...` — which select faster ones).
pub(crate) fn zks_keccak() -> String {
    format!("keccak-asm ({})", keccak_asm::IMPL)
}
/// Which Snappy zks-devp2p runs on.
pub(crate) const ZKS_SNAPPY: &str = "snap 1";

/// Sends `bodies` (cycling) over a fresh zks-devp2p link, one frame per send, until `total`
/// bytes of bodies went out; measures until the receiver has them all.
///
/// # Errors
///
/// A link that cannot be set up, closes early, or takes longer than two minutes.
pub(crate) async fn devp2p(bodies: &[Bytes], total: u64) -> Result<PerMessageRun, BenchError> {
    let (frames, queued) = plan(bodies, total)?;
    let transport = |name: &str| {
        let config = zks_devp2p::Devp2pConfig::builder(zks_devp2p::NodeKey::generate())
            .listen_addr(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
            .client_id(format!("zks-bench/{name}"))
            .build()
            .map_err(|e| BenchError::transport("devp2p config", e))?;
        Ok::<_, BenchError>(zks_devp2p::Devp2pTransport::new(config))
    };
    let (a, b) = (transport("receiver")?, transport("sender")?);
    let mut incoming = a
        .listen(Capabilities::CURRENT)
        .await
        .map_err(|e| BenchError::transport("per-message listen", e))?;
    let addr = a
        .local_peer_addr()
        .ok_or_else(|| BenchError::transport("per-message", "listener has no address"))?;
    let (dialed, accepted) = within("per-message link", DEADLINE, async {
        tokio::join!(b.dial(&addr, Capabilities::CURRENT), incoming.next())
    })
    .await?;
    let dialed = dialed.map_err(|e| BenchError::transport("per-message dial", e))?;
    let accepted = accepted
        .ok_or_else(|| BenchError::transport("per-message", "listener closed"))?
        .map_err(|e| BenchError::transport("per-message accept", e))?;
    let (_, sender, _dialed_rx) = dialed.split();
    let (_, _accepted_tx, mut receiver) = accepted.split();

    let messages = frames.len() as u64;

    let cpu0 = stats::cpu_time();
    let start = Instant::now();
    let send = tokio::spawn(async move {
        for frame in frames {
            if sender.send(frame).await.is_err() {
                return Err(BenchError::transport(
                    "per-message",
                    "link closed while sending",
                ));
            }
        }
        Ok(sender)
    });
    let recv = tokio::spawn(async move {
        let mut got = 0u64;
        while got < queued {
            match receiver.recv().await {
                Ok(frame) => got += frame.body.len() as u64,
                Err(closed) => {
                    return Err(BenchError::transport("per-message receive", closed));
                }
            }
        }
        Ok(Instant::now())
    });
    let (sent, done) = within("per-message transfer", DEADLINE, async {
        tokio::join!(send, recv)
    })
    .await?;
    let end = done.map_err(BenchError::task("per-message receiver"))??;
    let cpu = stats::cpu_time().saturating_sub(cpu0);
    let elapsed = end.saturating_duration_since(start);
    // Hold the sender until everything arrived: dropping it closes the link.
    drop(sent.map_err(BenchError::task("per-message sender"))??);
    Ok(PerMessageRun::new(
        "zks",
        messages,
        queued,
        elapsed,
        cpu,
        &zks_keccak(),
        ZKS_SNAPPY,
    ))
}

/// The frames to send, built before the clock starts (a clone of a `Bytes` per send): `bodies`
/// in order, cycling, until `total` bytes; and the bytes they carry.
///
/// # Errors
///
/// [`BenchError::Transport`] when there is no body, or an empty one (the cycle would not end).
pub(crate) fn plan(bodies: &[Bytes], total: u64) -> Result<(Vec<Frame>, u64), BenchError> {
    if bodies.is_empty() || bodies.iter().any(Bytes::is_empty) {
        return Err(BenchError::transport("per-message", "no bodies to send"));
    }
    let mut frames = Vec::new();
    let mut queued = 0u64;
    for body in bodies.iter().cycle() {
        if queued >= total {
            break;
        }
        queued += body.len() as u64;
        frames.push(Frame::zks(MessageId::BlockReplays as u8, body.clone()));
    }
    Ok((frames, queued))
}

impl PerMessageRun {
    /// The run as one line of JSON.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub(crate) fn new(
        implementation: &str,
        messages: u64,
        payload_bytes: u64,
        elapsed: Duration,
        cpu: Duration,
        keccak: &str,
        snappy: &str,
    ) -> Self {
        let mib = payload_bytes as f64 / f64::from(1 << 20);
        Self {
            implementation: implementation.to_owned(),
            messages,
            payload_bytes,
            seconds: elapsed.as_secs_f64(),
            cpu_seconds: cpu.as_secs_f64(),
            cpu_ms_per_mib: stats::ratio(cpu.as_secs_f64() * 1e3, mib),
            mib_per_s: stats::mib_per_s(payload_bytes, elapsed),
            keccak: keccak.to_owned(),
            snappy: snappy.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_have_the_sizes_the_comparison_names_and_parse_back() {
        let sizes = |shape: Shape| {
            let bodies = shape.bodies(42).unwrap();
            let first = bodies[0].len();
            (bodies.len(), first)
        };
        assert_eq!(sizes(Shape::Random256), (4096, 256));
        assert_eq!(sizes(Shape::Random16k), (512, 16384));
        let (n, one) = sizes(Shape::V3One);
        assert_eq!(n, 512);
        assert!((8_000..10_000).contains(&one), "{one}");
        let (n, many) = sizes(Shape::V3x64);
        assert_eq!(n, 16);
        assert!((500_000..600_000).contains(&many), "{many}");
        for shape in Shape::ALL {
            assert_eq!(shape.name().parse::<Shape>(), Ok(shape));
        }
        assert!("v3".parse::<Shape>().is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_devp2p_run_delivers_every_byte_it_counts() {
        let bodies = Shape::V3One.bodies(1).unwrap();
        let total = 3 * bodies[0].len() as u64 + 1;
        let run = devp2p(&bodies, total).await.unwrap();
        assert_eq!(run.messages, 4);
        assert_eq!(
            run.payload_bytes,
            bodies[..4].iter().map(|b| b.len() as u64).sum::<u64>()
        );
        assert_eq!(run.implementation, "zks");
        assert!(run.cpu_ms_per_mib > 0.0 && run.mib_per_s > 0.0);
    }
}
