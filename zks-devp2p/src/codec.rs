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

use crate::compressed::{CacheUser, CompressedCache, MIN_SHARED_BODY};
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
    compressed: CacheUser,
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
            compressed: CacheUser::join(&compressed),
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
                // Through the cache only when another link may send the same body: alone, a
                // link compresses straight into its frame (no second buffer, no copy).
                if session.compresses()
                    && frame.body.len() >= MIN_SHARED_BODY
                    && self.compressed.is_shared()
                {
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

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use zks_api::transport::{Link, LinkInfo};
    use zks_api::wire::{Frame, LinkCaps, VersionSet, ZksVersion};
    use zks_api::{Direction, PeerAddr, PeerId};

    use super::*;
    use crate::NodeKey;
    use crate::caps::zks_capabilities;
    use crate::rlpx::{FrameCodec, Initiator, MAX_FRAME_DATA, Recipient};

    /// The two ends of a session past its Hello exchange, both codecs over one cache.
    fn ends(cache: &Arc<CompressedCache>) -> (Devp2pEncoder, Devp2pDecoder) {
        let (a, b) = (NodeKey::generate(), NodeKey::generate());
        let Ok(mut init) = Initiator::new(&a, b.id()) else {
            panic!("valid id")
        };
        let mut recipient = Recipient::new(&b);
        let Ok(Some(accepted)) = recipient.read_auth(&mut BytesMut::from(init.auth_packet()))
        else {
            panic!("auth")
        };
        let Ok(Some(secrets)) = init.read_ack(&mut BytesMut::from(&accepted.ack_packet[..])) else {
            panic!("ack")
        };
        let caps = zks_capabilities(VersionSet::SEED);
        let mut sa = P2pSession::new(
            P2pSession::hello_for(a.id(), "a", &caps, 0),
            caps.clone(),
            b.id(),
        );
        let mut sb = P2pSession::new(P2pSession::hello_for(b.id(), "b", &caps, 0), caps, a.id());
        let hello = |from: &mut P2pSession, to: &mut P2pSession| {
            let mut hello = BytesMut::new();
            from.write_hello(&mut hello);
            assert_eq!(to.handle(&hello), Ok(P2pEvent::Hello));
        };
        hello(&mut sa, &mut sb);
        hello(&mut sb, &mut sa);
        let info = LinkInfo::new(
            PeerId::from("peer"),
            PeerAddr::from("peer"),
            Direction::Inbound,
            LinkCaps::zks(ZksVersion::V3),
        );
        let (_, end) = Link::channel(info, 1);
        let ignored = Arc::new(AtomicU64::new(0));
        let a_codecs = FrameCodec::new(&secrets, MAX_FRAME_DATA);
        let b_codecs = FrameCodec::new(&accepted.secrets, MAX_FRAME_DATA);
        let (_, encoder) = codecs(
            a_codecs,
            sa,
            None,
            Arc::clone(&ignored),
            end.size_cap(),
            Arc::clone(cache),
        );
        let (decoder, _) = codecs(
            b_codecs,
            sb,
            None,
            ignored,
            end.size_cap(),
            Arc::clone(cache),
        );
        (encoder, decoder)
    }

    fn through(encoder: &mut Devp2pEncoder, decoder: &mut Devp2pDecoder, frame: &Frame) -> Inbound {
        let mut wire = BytesMut::new();
        encoder
            .encode(Outgoing::Frame(frame.clone()), &mut wire)
            .unwrap_or_else(|e| panic!("{e}"));
        let Ok(Some(got)) = decoder.decode(&mut wire) else {
            panic!("no message")
        };
        assert!(wire.is_empty());
        got
    }

    #[test]
    fn a_link_alone_compresses_into_its_frame_and_links_together_share_the_cache() {
        let cache = Arc::new(CompressedCache::default());
        // The other end's encoder is dropped in `ends`: one link sends through the cache.
        let (mut encoder, mut decoder) = ends(&cache);
        let body = |seed: u32| -> Bytes {
            (0..2048u32)
                .flat_map(|i| (i % seed).to_be_bytes())
                .collect()
        };
        let first = Frame::zks(3, body(7));
        assert_eq!(
            through(&mut encoder, &mut decoder, &first),
            Inbound::Frame(first.clone())
        );
        assert_eq!(
            cache.len(),
            0,
            "alone: compressed into the frame, nothing kept"
        );
        // A second link joins: bodies are kept for it, and still arrive whole.
        let other = CacheUser::join(&cache);
        let second = Frame::zks(3, body(11));
        assert_eq!(
            through(&mut encoder, &mut decoder, &second),
            Inbound::Frame(second.clone())
        );
        assert_eq!(cache.len(), 1, "shared: compressed once for both links");
        // Small bodies never go through the cache.
        let small = Frame::zks(3, Bytes::from_static(&[0xc0; 100]));
        assert_eq!(
            through(&mut encoder, &mut decoder, &small),
            Inbound::Frame(small.clone())
        );
        assert_eq!(cache.len(), 1);
        drop(other);
        let third = Frame::zks(3, body(13));
        assert_eq!(
            through(&mut encoder, &mut decoder, &third),
            Inbound::Frame(third.clone())
        );
        assert_eq!(cache.len(), 1, "alone again: the new body is not kept");
    }
}
