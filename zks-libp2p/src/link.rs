//! The async glue for one live link: the shared link pump ([`zks_api::transport::kit::pump`]) over
//! a `/zks/<version>` (or `/zks/<version>+zks_2fa/<version>`) yamux stream, with this crate's
//! [`LinkCodec`] for what the stream negotiated.
//!
//! Backpressure is end to end: a received message is only read off the stream once the
//! engine's receive queue has room (unread bytes stay in yamux's bounded per-stream receive
//! window, which stops the sender), and engine messages are only taken while fewer than the
//! pump's write bound of encoded bytes wait for the stream's send window.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::BytesMut;
use futures::AsyncReadExt as _;
use libp2p::Stream;
use tokio::io::ReadBuf;
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::compat::FuturesAsyncWriteCompatExt as _;
use zks_api::transport::kit::LinkEnd;
use zks_api::transport::kit::pump::{self, PumpConfig};
use zks_api::wire::LinkCaps;

use crate::codec::LinkCodec;
use crate::config::{CLOSE_GRACE, Libp2pConfig};

/// Bytes read from the stream per read.
const READ_CHUNK: usize = 64 * 1024;

/// Runs a live link that negotiated `caps` until it ends, reports how to the engine, and
/// closes the stream. `rbuf` holds bytes already read from the stream.
pub(crate) async fn run(
    stream: Stream,
    caps: LinkCaps,
    end: LinkEnd,
    config: Arc<Libp2pConfig>,
    rbuf: BytesMut,
) {
    let codec = LinkCodec::new(config.max_message_size, caps).with_size_cap(end.size_cap());
    let (rd, wr) = stream.split();
    let rd = ScratchReader {
        inner: rd,
        scratch: vec![0; READ_CHUNK].into_boxed_slice(),
    };
    let mut reader = FramedRead::with_capacity(rd, codec.clone(), READ_CHUNK);
    reader.read_buffer_mut().extend_from_slice(&rbuf);
    // Grows with what is written: an idle link holds no write buffer.
    let writer = FramedWrite::with_capacity(wr.compat_write(), codec, 0);
    // Liveness is yamux's and the swarm's business: no keepalive here.
    let pump = PumpConfig {
        close_grace: CLOSE_GRACE,
        ..PumpConfig::default()
    };
    pump::run(reader, writer, end, pump).await;
}

/// A `futures` reader as a `tokio` one that reads through a scratch buffer initialised once.
///
/// `tokio_util`'s compat layer must zero the whole unfilled part of the read buffer before
/// every read (a `futures` reader takes `&mut [u8]`), which for a 64 KiB read buffer and small
/// messages costs a memset per read; copying only the bytes read is cheaper.
struct ScratchReader<R> {
    inner: R,
    scratch: Box<[u8]>,
}

impl<R: futures::AsyncRead + Unpin> tokio::io::AsyncRead for ScratchReader<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let want = buf.remaining().min(this.scratch.len());
        let Some(scratch) = this.scratch.get_mut(..want) else {
            return Poll::Ready(Ok(()));
        };
        let n = ready!(Pin::new(&mut this.inner).poll_read(cx, scratch))?;
        buf.put_slice(scratch.get(..n).unwrap_or_default());
        Poll::Ready(Ok(()))
    }
}
