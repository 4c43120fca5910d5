//! The devp2p framing of a live link as a pair of `tokio_util` codecs, for the shared link pump
//! ([`zks_api::transport::kit::pump`]): RLPx frames (AES-CTR + MACs) below, the `p2p` session
//! (Ping/Pong, Disconnect, Snappy, capability offsets) above.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};
use zks_api::DisconnectReason;
use zks_api::transport::kit::MessageSizeCap;
use zks_api::transport::kit::pump::{CodecError, Inbound, Outgoing};

use crate::compressed::{CompressedCache, MIN_SHARED_BODY};
use crate::error::{Error, P2pError};
use crate::eth::{BlockRangeUpdate, EthMessageId, EthVersion, check_envelope};
use crate::p2p::{P2pEvent, P2pSession};
use crate::rlpx::{FrameDecoder, FrameEncoder};

/// Read at least this much per socket read.
pub(crate) const READ_CHUNK: usize = 64 * 1024;

/// Reads frames and turns them into [`Inbound`] messages. `eth` traffic after the Status
/// exchange is checked and dropped here (a passive `eth` peer answers nothing): a second
/// Status or a malformed message ends the session, as reth would.
pub(crate) struct Devp2pDecoder {
    frames: FrameDecoder,
    session: P2pSession,
    eth: Option<EthVersion>,
    eth_ignored: Arc<AtomicU64>,
    /// The engine's cap on this link's zks messages, checked before decompressing.
    size_cap: MessageSizeCap,
}

/// Turns [`Outgoing`] messages into frames.
pub(crate) struct Devp2pEncoder {
    frames: FrameEncoder,
    session: P2pSession,
    /// Bodies many links send, compressed once.
    compressed: Arc<CompressedCache>,
}

/// The codecs of a session whose Hello exchange is done.
pub(crate) fn codecs(
    frames: crate::rlpx::FrameCodec,
    session: P2pSession,
    eth: Option<EthVersion>,
    eth_ignored: Arc<AtomicU64>,
    size_cap: MessageSizeCap,
    compressed: Arc<CompressedCache>,
) -> (Devp2pDecoder, Devp2pEncoder) {
    let (reader, writer) = session.split();
    (
        Devp2pDecoder {
            frames: frames.decoder,
            session: reader,
            eth,
            eth_ignored,
            size_cap,
        },
        Devp2pEncoder {
            frames: frames.encoder,
            session: writer,
            compressed,
        },
    )
}

impl Decoder for Devp2pDecoder {
    type Item = Inbound;
    type Error = Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Inbound>, Error> {
        loop {
            let Some(data) = self.frames.decode(buf)? else {
                // Read in large chunks: the reservation is a constant, not the peer's to choose.
                if buf.capacity() - buf.len() < READ_CHUNK / 4 {
                    buf.reserve(READ_CHUNK);
                }
                return Ok(None);
            };
            let event = self.session.handle_capped(&data, self.size_cap.get())?;
            return Ok(Some(match event {
                P2pEvent::Zks(frame) => Inbound::Frame(frame),
                P2pEvent::Ping => Inbound::Ping,
                P2pEvent::Pong => Inbound::Pong,
                P2pEvent::Disconnect(reason) => Inbound::Close(reason.to_reason()),
                P2pEvent::Hello => return Err(P2pError::DuplicateHello.into()),
                P2pEvent::Eth { id, payload } => {
                    self.passive_eth(id, &payload)?;
                    continue;
                }
            }));
        }
    }
}

impl Devp2pDecoder {
    /// Checks an `eth` message that arrived after the Status exchange and drops it.
    fn passive_eth(&self, id: u8, payload: &[u8]) -> Result<(), Error> {
        // `eth` is only routed here when it was negotiated, and then the Status passed.
        let Some(version) = self.eth else {
            return Err(P2pError::UnknownMessageId { got: u64::from(id) }.into());
        };
        let message = EthMessageId::classify(version, id)?;
        match message {
            EthMessageId::Status => return Err(P2pError::DuplicateStatus.into()),
            EthMessageId::BlockRangeUpdate => BlockRangeUpdate::decode(payload)?.validate()?,
            _ => check_envelope(payload)?,
        }
        self.eth_ignored.fetch_add(1, Ordering::Relaxed);
        tracing::trace!(?message, "eth message ignored");
        Ok(())
    }
}

impl Encoder<Outgoing> for Devp2pEncoder {
    type Error = Error;

    fn encode(&mut self, item: Outgoing, out: &mut BytesMut) -> Result<(), Error> {
        let session = &mut self.session;
        match item {
            Outgoing::Frame(frame) => {
                session.check_zks(&frame)?;
                if session.compresses() && frame.body.len() >= MIN_SHARED_BODY {
                    let compressed = self
                        .compressed
                        .compressed(&frame.body, |body| session.compress(body));
                    self.frames.encode_with(out, |b| {
                        session.write_zks_compressed(&frame, &compressed, b);
                    })?;
                } else {
                    self.frames
                        .encode_with(out, |b| session.write_zks(&frame, b))?;
                }
            }
            Outgoing::Ping => self.frames.encode_with(out, |b| session.write_ping(b))?,
            Outgoing::Pong => self.frames.encode_with(out, |b| session.write_pong(b))?,
            Outgoing::Close(reason) => self
                .frames
                .encode_with(out, |b| session.write_disconnect(reason, b))?,
        }
        Ok(())
    }
}

impl CodecError for Error {
    fn disconnect_reason(&self) -> DisconnectReason {
        Self::disconnect_reason(self)
    }

    fn tell_peer(&self) -> bool {
        self.tells_peer()
    }
}
