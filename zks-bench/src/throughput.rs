//! Replay throughput, MN → 1 EN, for each transport and for the raw TCP baseline.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use zks_api::{MemoryReplayStore, RawRecord};

use crate::error::within;
use crate::nets::{Net, TransportKind};
use crate::sink::BenchSink;
use crate::{BenchError, nodes};

/// Records per message, as zks/3 sends them (the EN asks for 64).
pub(crate) const BATCH: usize = 64;
const DEADLINE: Duration = Duration::from_secs(300);

/// One throughput measurement.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Measured {
    pub(crate) records: u64,
    pub(crate) payload_bytes: u64,
    pub(crate) elapsed: Duration,
    /// Process CPU (user + sys, every thread: both ends) over the same span.
    pub(crate) cpu: Duration,
}

impl Measured {
    /// Payload MiB per second.
    pub(crate) fn mib_per_s(&self) -> f64 {
        crate::stats::mib_per_s(self.payload_bytes, self.elapsed)
    }

    /// Process CPU milliseconds per MiB of payload.
    pub(crate) fn cpu_ms_per_mib(&self) -> f64 {
        crate::stats::ratio(
            self.cpu.as_secs_f64() * 1e3,
            self.payload_bytes as f64 / f64::from(1 << 20),
        )
    }
}

/// The run with the median elapsed time of `runs`.
pub(crate) fn median_of(mut runs: Vec<Measured>) -> Result<Measured, BenchError> {
    runs.sort_by_key(|m| m.elapsed);
    runs.get(runs.len() / 2)
        .copied()
        .ok_or_else(|| BenchError::transport("throughput", "no run"))
}

/// Runs `f` `n` times (at least once) and keeps the run with the median elapsed time.
pub(crate) async fn median<F, Fut>(n: usize, mut f: F) -> Result<Measured, BenchError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Measured, BenchError>>,
{
    let mut runs = Vec::with_capacity(n.max(1));
    for _ in 0..n.max(1) {
        runs.push(f().await?);
    }
    median_of(runs)
}

/// MN → EN over `kind`: from starting the EN (dial, handshake, request) until its sink holds
/// every record.
pub(crate) async fn replay(
    kind: TransportKind,
    records: &[RawRecord],
) -> Result<Measured, BenchError> {
    replay_per_message(kind, records, BATCH).await
}

/// [`replay`], the EN asking for `per_message` records per message (upstream ENs ask for 1).
pub(crate) async fn replay_per_message(
    kind: TransportKind,
    records: &[RawRecord],
    per_message: usize,
) -> Result<Measured, BenchError> {
    let Some(net) = Net::new(kind) else {
        return raw_tcp(records).await;
    };
    let source = Arc::new(MemoryReplayStore::new());
    source
        .extend(records.iter().cloned())
        .map_err(|e| BenchError::transport("throughput source", e))?;
    let n = records.len() as u64;
    let mn = nodes::main_node(&net, "mn", source).await?;
    let sink = Arc::new(BenchSink::new(false));
    let cpu0 = crate::stats::cpu_time();
    let start = Instant::now();
    let settings = nodes::en_settings().with_max_blocks_per_message(per_message);
    let en = nodes::external_node_with(&net, "en", "mn", Arc::clone(&sink), settings).await?;
    within("replay throughput", DEADLINE, sink.wait_until(n)).await?;
    let elapsed = start.elapsed();
    let cpu = crate::stats::cpu_time().saturating_sub(cpu0);
    nodes::shutdown([en, mn]).await;
    Ok(Measured {
        records: n,
        payload_bytes: sink.payload_bytes(),
        elapsed,
        cpu,
    })
}

/// The baseline: the same records in batches of [`BATCH`] as `u32`-length-prefixed frames
/// (`[u64 block, u32 len, payload]...`) on a plain tokio socket; the receiver parses every
/// record (zero-copy slices, as the engine does) and checks contiguity. No crypto, no
/// compression, no engine.
pub(crate) async fn raw_tcp(records: &[RawRecord]) -> Result<Measured, BenchError> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(BenchError::io("raw tcp bind"))?;
    let addr = listener
        .local_addr()
        .map_err(BenchError::io("raw tcp addr"))?;
    let to_send: Vec<RawRecord> = records.to_vec();
    let sender = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await?;
        tcp.set_nodelay(true)?;
        let mut out = BufWriter::with_capacity(256 * 1024, tcp);
        let mut frame = BytesMut::new();
        for batch in to_send.chunks(BATCH) {
            frame.clear();
            let len: usize = batch.iter().map(|r| 12 + r.payload.len()).sum();
            frame.put_u32(u32::try_from(len).unwrap_or(u32::MAX));
            for r in batch {
                frame.put_u64(r.block_number);
                frame.put_u32(u32::try_from(r.payload.len()).unwrap_or(u32::MAX));
                frame.put_slice(&r.payload);
            }
            out.write_all(&frame).await?;
        }
        out.flush().await?;
        Ok::<_, std::io::Error>(())
    });
    let cpu0 = crate::stats::cpu_time();
    let start = Instant::now();
    let mut tcp = TcpStream::connect(addr)
        .await
        .map_err(BenchError::io("raw tcp connect"))?;
    tcp.set_nodelay(true)
        .map_err(BenchError::io("raw tcp nodelay"))?;
    let n = records.len() as u64;
    let receive = async {
        let mut buf = BytesMut::with_capacity(1024 * 1024);
        let mut expected = 0u64;
        let mut bytes = 0u64;
        while expected < n {
            while buf.len() < 4 || buf.len() < 4 + (&buf[..4]).get_u32() as usize {
                buf.reserve(256 * 1024);
                if tcp.read_buf(&mut buf).await? == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
            }
            let len = buf.get_u32() as usize;
            let mut frame = buf.split_to(len).freeze();
            while frame.has_remaining() {
                let block = frame.get_u64();
                let plen = frame.get_u32() as usize;
                let payload = frame.split_to(plen);
                let record = RawRecord::new(block, payload);
                if record.block_number != expected {
                    return Err(std::io::Error::other("raw tcp: block out of order"));
                }
                bytes += record.payload.len() as u64;
                expected += 1;
            }
        }
        Ok::<_, std::io::Error>(bytes)
    };
    let bytes = within("raw tcp", DEADLINE, receive)
        .await?
        .map_err(BenchError::io("raw tcp receive"))?;
    let elapsed = start.elapsed();
    let cpu = crate::stats::cpu_time().saturating_sub(cpu0);
    sender
        .await
        .map_err(BenchError::task("raw tcp sender"))?
        .map_err(BenchError::io("raw tcp send"))?;
    Ok(Measured {
        records: n,
        payload_bytes: bytes,
        elapsed,
        cpu,
    })
}
