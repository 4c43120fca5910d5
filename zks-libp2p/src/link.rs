//! The async glue for one live link: the shared link pump ([`zks_api::transport::pump`]) over
//! a `/zks/<version>` yamux stream, with this crate's [`LinkCodec`].
//!
//! Backpressure is end to end: a received message is only read off the stream once the
//! engine's receive queue has room (unread bytes stay in yamux's bounded per-stream receive
//! window, which stops the sender), and engine messages are only taken while fewer than the
//! pump's write bound of encoded bytes wait for the stream's send window.

use std::sync::Arc;

use bytes::BytesMut;
use libp2p::Stream;
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::compat::FuturesAsyncReadCompatExt as _;
use zks_api::transport::LinkEnd;
use zks_api::transport::pump::{self, PumpConfig};

use crate::codec::LinkCodec;
use crate::config::{CLOSE_GRACE, Libp2pConfig};

/// Bytes read from the stream per read.
const READ_CHUNK: usize = 64 * 1024;

/// Runs a live link until it ends, reports how to the engine, and closes the stream.
/// `rbuf` holds bytes already read from the stream.
pub(crate) async fn run(stream: Stream, end: LinkEnd, config: Arc<Libp2pConfig>, rbuf: BytesMut) {
    let codec = LinkCodec::new(config.max_message_size);
    let (rd, wr) = tokio::io::split(stream.compat());
    let mut reader = FramedRead::with_capacity(rd, codec, READ_CHUNK);
    reader.read_buffer_mut().extend_from_slice(&rbuf);
    let writer = FramedWrite::new(wr, codec);
    // Liveness is yamux's and the swarm's business: no keepalive here.
    let pump = PumpConfig {
        close_grace: CLOSE_GRACE,
        ..PumpConfig::default()
    };
    pump::run(reader, writer, end, pump).await;
}
