//! The per-message run with no link around the codec: what zks-devp2p's RLPx framing, MAC,
//! AES and Snappy cost over a loopback socket by themselves, the bound under any work on the
//! link's queues and tasks.
//!
//! One task seals each frame into a buffer and writes it to the socket every 64 KiB, as reth's
//! `P2PStream::feed` over tokio-util's `Framed` does; another reads and opens frames until every
//! byte arrived. No link queue, no pump task, no node queue — and no keepalive, back-pressure
//! accounting or events, so it is a measuring stick, not a transport.

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use crate::error::within;
use crate::floor::Session;
use crate::per_message::{DEADLINE, PerMessageRun, ZKS_SNAPPY, plan, zks_keccak};
use crate::{BenchError, stats};

/// The sealed bytes written to the socket at a time.
const WRITE_AT: usize = 64 * 1024;

/// Sends `bodies` (cycling) through the bare codec over 127.0.0.1, one frame per body, until
/// `total` bytes of bodies went out; measures until the reader has opened them all.
///
/// # Errors
///
/// A socket that cannot be set up or closes early, a frame that does not open, or a run over
/// two minutes.
pub(crate) async fn codec(bodies: &[Bytes], total: u64) -> Result<PerMessageRun, BenchError> {
    let (frames, queued) = plan(bodies, total)?;
    let (mut sealer, mut opener) = Session::new()?.split();
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(BenchError::io("codec-only bind"))?;
    let addr = listener
        .local_addr()
        .map_err(BenchError::io("codec-only bind"))?;
    let (dialed, accepted) = within("codec-only socket", DEADLINE, async {
        tokio::join!(TcpStream::connect(addr), listener.accept())
    })
    .await?;
    let mut out = dialed.map_err(BenchError::io("codec-only connect"))?;
    let (mut inp, _) = accepted.map_err(BenchError::io("codec-only accept"))?;
    out.set_nodelay(true)
        .map_err(BenchError::io("codec-only socket"))?;
    inp.set_nodelay(true)
        .map_err(BenchError::io("codec-only socket"))?;

    let messages = frames.len() as u64;
    let cpu0 = stats::cpu_time();
    let start = Instant::now();
    let send = tokio::spawn(async move {
        let mut buf = BytesMut::with_capacity(2 * WRITE_AT);
        for frame in &frames {
            sealer.seal(frame, &mut buf)?;
            if buf.len() >= WRITE_AT {
                out.write_all(&buf)
                    .await
                    .map_err(BenchError::io("codec-only write"))?;
                buf.clear();
            }
        }
        out.write_all(&buf)
            .await
            .map_err(BenchError::io("codec-only write"))?;
        // Kept open until the reader is done: closing it early is what the reader reports.
        Ok::<_, BenchError>(out)
    });
    let recv = tokio::spawn(async move {
        let mut buf = BytesMut::with_capacity(2 * WRITE_AT);
        let mut got = 0u64;
        loop {
            while let Some(frame) = opener.open(&mut buf)? {
                got += frame.body.len() as u64;
            }
            if got >= queued {
                return Ok(Instant::now());
            }
            if buf.capacity() - buf.len() < WRITE_AT / 4 {
                buf.reserve(WRITE_AT);
            }
            if inp
                .read_buf(&mut buf)
                .await
                .map_err(BenchError::io("codec-only read"))?
                == 0
            {
                return Err(BenchError::transport(
                    "codec-only",
                    format!("closed after {got} of {queued} bytes"),
                ));
            }
        }
    });
    let (sent, done) = within("codec-only transfer", DEADLINE, async {
        tokio::join!(send, recv)
    })
    .await?;
    let end = done.map_err(BenchError::task("codec-only reader"))??;
    let cpu = stats::cpu_time().saturating_sub(cpu0);
    drop(sent.map_err(BenchError::task("codec-only writer"))??);
    Ok(PerMessageRun::new(
        "zks-codec",
        messages,
        queued,
        end.saturating_duration_since(start),
        cpu,
        &zks_keccak(),
        ZKS_SNAPPY,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::per_message::Shape;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_codec_run_opens_every_byte_it_counts() {
        let bodies = Shape::Random16k.bodies(1).unwrap();
        // Nine bodies: the last write is a partial 64 KiB, the reader sees frames split
        // across reads.
        let total = 8 * 16_384 + 1;
        let run = codec(&bodies, total).await.unwrap();
        assert_eq!(run.implementation, "zks-codec");
        assert_eq!(run.messages, 9);
        assert_eq!(run.payload_bytes, 9 * 16_384);
        assert!(run.seconds > 0.0 && run.mib_per_s > 0.0);
    }

    #[tokio::test]
    async fn no_bodies_or_an_empty_one_is_an_error_not_a_hang() {
        for bodies in [vec![], vec![Bytes::from_static(b"x"), Bytes::new()]] {
            let err = codec(&bodies, 1).await.unwrap_err();
            assert!(
                matches!(err, BenchError::Transport { what: "per-message", ref detail } if detail == "no bodies to send"),
                "{err}"
            );
        }
    }
}
