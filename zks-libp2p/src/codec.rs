//! The framing of a `/zks/<version>` (or `/zks/<version>+zks_2fa/<version>`) stream: sans-IO
//! encode and decode over byte buffers.
//!
//! Every message on the stream is
//!
//! ```text
//!   length (u32, big endian) || id (1 byte) || body (length − 1 bytes)
//! ```
//!
//! where `length` counts the id byte plus the body, so it is at least 1. Ids `0x00..=0x7f` are
//! the engine's messages; two ids are reserved for the transport:
//!
//! | id | message | body |
//! |---|---|---|
//! | `0xfe` | [`Message::Ready`]: the listener accepts the link (its first message) | empty |
//! | `0xff` | [`Message::Close`]: the sender closes the link, and says why | 1 byte: the devp2p Disconnect reason code |
//!
//! Any other id, a length of 0, or a length above `1 + max_message_size` ends the link as a
//! protocol breach. The length is checked before anything is reserved for the message, and the
//! buffer then grows only as the peer's bytes actually arrive.
//!
//! **Subprotocol ids** ([`StreamIds`]), laid out as RLPx lays out capabilities, minus the
//! `0x10` that RLPx keeps for `p2p`: the zks version's ids come first, from `0x00`, and
//! `zks_2fa`'s (when the stream protocol name negotiated it) right after them. On
//! `/zks/5+zks_2fa/1`, zks/5's two ids are `0x00..=0x01` and zks_2fa/1's five are
//! `0x02..=0x06` (zks_2fa id = stream id − 2); on `/zks/5` only `0x00..=0x01` exist. A link's
//! codec turns stream ids into [`Frame`]s tagged with their protocol and relative id, and
//! back; a stream id past the negotiated ranges ends the link as a protocol breach, and a
//! frame the engine sends of a protocol the link does not carry (or past its version's table)
//! is refused before anything is written.
//!
//! Non-goals: compression (yamux and the engine's own limits make it unnecessary here) and any
//! I/O (see [`crate::link`]).

use bytes::{Buf, BufMut, Bytes, BytesMut};
use zks_api::DisconnectReason;
use zks_api::transport::kit::MessageSizeCap;
use zks_api::transport::kit::pump::{CodecError, Inbound, Outgoing};
use zks_api::wire::{Frame, LinkCaps, Protocol};

/// Bytes of the length prefix.
pub const LENGTH_PREFIX_BYTES: usize = 4;
/// Id of the transport's "link accepted" message.
pub const READY_ID: u8 = 0xfe;
/// Id of the transport's "link closed, here is why" message.
pub const CLOSE_ID: u8 = 0xff;
/// Highest id that is a subprotocol message (which ones a link uses is its [`StreamIds`]).
pub const MAX_ZKS_ID: u8 = 0x7f;
/// Most bytes reserved ahead of their arrival while a long message comes in.
const RESERVE_STEP: usize = 64 * 1024;

/// One message read from a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A message for the engine. With a link's [`StreamIds`] ([`MessageDecoder::with_ids`]) the frame
    /// is tagged with its protocol and its id is relative to it; without (the framing alone),
    /// it is tagged zks and its id is the stream id, as it came.
    Zks(Frame),
    /// The listener accepted the link.
    Ready,
    /// The peer closes the link.
    Close(DisconnectReason),
}

/// A stream carried bytes that break the framing; the link ends with
/// [`DisconnectReason::ProtocolBreach`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The length prefix is above the cap (checked before allocating).
    #[error("message of {got} bytes exceeds the cap of {max}")]
    TooLarge {
        /// Declared length (id plus body).
        got: usize,
        /// The cap (id plus body).
        max: usize,
    },
    /// A length prefix of 0: no room for the id.
    #[error("empty message (length 0)")]
    Empty,
    /// An id that is neither a message of the link's subprotocols nor a transport message.
    #[error("unknown message id {0:#04x}")]
    UnknownId(u8),
    /// The engine asked to send a frame of a subprotocol the link does not carry; it is
    /// refused, never written.
    #[error("outgoing {protocol} frame, but this link does not carry {protocol}")]
    NotCarried {
        /// The frame's protocol.
        protocol: Protocol,
    },
    /// The engine asked to send an id past its protocol's table on this link.
    #[error("outgoing {protocol} id {id} is past the {count} ids this link gives it")]
    IdOutOfRange {
        /// The frame's protocol.
        protocol: Protocol,
        /// Its relative id.
        id: u8,
        /// How many ids the protocol has on this link.
        count: u8,
    },
    /// A transport message with a malformed body.
    #[error("malformed transport message {id:#04x}")]
    MalformedControl {
        /// Its id.
        id: u8,
    },
    /// A transport message that has no place on a live link (`Ready` after the setup).
    #[error("unexpected transport message {id:#04x}")]
    UnexpectedControl {
        /// Its id.
        id: u8,
    },
    /// Reading or writing the stream failed.
    #[error("stream error: {0}")]
    Io(std::sync::Arc<str>),
}

impl From<std::io::Error> for FrameError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e.to_string().into())
    }
}

impl FrameError {
    /// The Disconnect reason this error maps to.
    pub const fn disconnect_reason(&self) -> DisconnectReason {
        match self {
            Self::Io(_) => DisconnectReason::TcpSubsystemError,
            Self::NotCarried { .. } | Self::IdOutOfRange { .. } => {
                DisconnectReason::SubprotocolError
            }
            _ => DisconnectReason::ProtocolBreach,
        }
    }
}

impl CodecError for FrameError {
    fn disconnect_reason(&self) -> DisconnectReason {
        Self::disconnect_reason(self)
    }

    fn tell_peer(&self) -> bool {
        !matches!(self, Self::Io(_))
    }
}

/// The stream ids of one link's subprotocols (see the [module docs](self)): the zks version's
/// from `0x00`, then `zks_2fa`'s when the link carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamIds {
    caps: LinkCaps,
}

impl StreamIds {
    /// The layout of a link that negotiated `caps`.
    pub const fn new(caps: LinkCaps) -> Self {
        Self { caps }
    }

    /// What the link carries.
    pub const fn caps(self) -> LinkCaps {
        self.caps
    }

    /// The first stream id of `protocol` and how many it has, when the link carries it.
    pub const fn range(self, protocol: Protocol) -> Option<(u8, u8)> {
        let zks = self.caps.message_count(Protocol::Zks);
        match protocol {
            Protocol::Zks => Some((0, zks)),
            Protocol::Zks2fa => match self.caps.zks_2fa {
                Some(v) => Some((zks, v.message_count())),
                None => None,
            },
            _ => None,
        }
    }

    /// The first stream id past every range.
    pub const fn end(self) -> u8 {
        self.caps.message_count(Protocol::Zks) + self.caps.message_count(Protocol::Zks2fa)
    }

    /// The frame a stream id and body stand for: tagged with its protocol, its id relative.
    ///
    /// # Errors
    ///
    /// [`FrameError::UnknownId`] past every range.
    pub fn inbound(self, stream_id: u8, body: Bytes) -> Result<Frame, FrameError> {
        let (protocol, id) = [Protocol::Zks, Protocol::Zks2fa]
            .into_iter()
            .find_map(|protocol| {
                let (start, count) = self.range(protocol)?;
                let id = stream_id.checked_sub(start).filter(|id| *id < count)?;
                Some((protocol, id))
            })
            .ok_or(FrameError::UnknownId(stream_id))?;
        Ok(Frame::new(protocol, id, body))
    }

    /// The stream id `frame` travels at.
    ///
    /// # Errors
    ///
    /// [`FrameError::NotCarried`] for a protocol the link does not carry,
    /// [`FrameError::IdOutOfRange`] for an id past its range.
    pub fn outbound(self, frame: &Frame) -> Result<u8, FrameError> {
        let protocol = frame.protocol;
        let (start, count) = self
            .range(protocol)
            .ok_or(FrameError::NotCarried { protocol })?;
        if frame.id >= count {
            return Err(FrameError::IdOutOfRange {
                protocol,
                id: frame.id,
                count,
            });
        }
        Ok(start + frame.id)
    }
}

/// The framing of a live link as a `tokio_util` codec, for the shared link pump
/// ([`zks_api::transport::kit::pump`]).
///
/// A frame of a protocol the link does not carry is refused, not dropped: the link contract is
/// that what the engine handed over is sent or the link ends with a reason, and a lost
/// `zks_2fa` message would leave the other side's verifier waiting for its timeout. The pump
/// then closes the link with [`SubprotocolError`](DisconnectReason::SubprotocolError), as for
/// any frame the engine should not have sent (it reads the link's caps first).
#[derive(Clone, Debug)]
pub struct LinkCodec {
    decoder: MessageDecoder,
    ids: StreamIds,
    max_message_size: usize,
    /// The engine's cap on this link's inbound messages, when it set one.
    size_cap: Option<MessageSizeCap>,
}

impl LinkCodec {
    /// A codec for a link that negotiated `caps`, for bodies of at most `max_message_size`
    /// bytes, both ways.
    pub const fn new(max_message_size: usize, caps: LinkCaps) -> Self {
        let ids = StreamIds::new(caps);
        Self {
            decoder: MessageDecoder::new(max_message_size).with_ids(ids),
            ids,
            max_message_size,
            size_cap: None,
        }
    }

    /// Also refuses inbound messages above the engine's cap for the link, from the length
    /// prefix, before their bytes are buffered.
    #[must_use]
    pub fn with_size_cap(mut self, cap: MessageSizeCap) -> Self {
        self.size_cap = Some(cap);
        self
    }
}

impl tokio_util::codec::Decoder for LinkCodec {
    type Item = Inbound;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, FrameError> {
        if let (Some(cap), Some(prefix)) = (&self.size_cap, src.get(..LENGTH_PREFIX_BYTES)) {
            let mut be = [0u8; LENGTH_PREFIX_BYTES];
            be.copy_from_slice(prefix);
            let len = usize::try_from(u32::from_be_bytes(be)).unwrap_or(usize::MAX);
            let max = cap.get();
            if len > max {
                return Err(FrameError::TooLarge { got: len, max });
            }
        }
        Ok(match self.decoder.decode(src)? {
            None => None,
            Some(Message::Zks(frame)) => Some(Inbound::Frame(frame)),
            Some(Message::Close(reason)) => Some(Inbound::Close(reason)),
            Some(Message::Ready) => return Err(FrameError::UnexpectedControl { id: READY_ID }),
        })
    }
}

impl tokio_util::codec::Encoder<Outgoing> for LinkCodec {
    type Error = FrameError;

    fn encode(&mut self, item: Outgoing, dst: &mut BytesMut) -> Result<(), FrameError> {
        match item {
            Outgoing::Frame(frame) => encode_frame(&frame, self.ids, self.max_message_size, dst),
            Outgoing::Close(reason) => {
                encode_close(reason, dst);
                Ok(())
            }
            // Liveness is yamux's and the swarm's business; the framing has no ping.
            Outgoing::Ping | Outgoing::Pong => Ok(()),
        }
    }
}

/// Appends `frame` to `dst`, at the stream id `ids` gives it; nothing is appended on error.
///
/// # Errors
///
/// [`FrameError::NotCarried`] and [`FrameError::IdOutOfRange`] from [`StreamIds::outbound`],
/// and [`FrameError::TooLarge`] when the body is above `max_message_size`.
pub fn encode_frame(
    frame: &Frame,
    ids: StreamIds,
    max_message_size: usize,
    dst: &mut BytesMut,
) -> Result<(), FrameError> {
    let stream_id = ids.outbound(frame)?;
    if stream_id > MAX_ZKS_ID {
        return Err(FrameError::UnknownId(stream_id));
    }
    let len = frame.body.len() + 1;
    if frame.body.len() > max_message_size {
        return Err(FrameError::TooLarge {
            got: len,
            max: max_message_size + 1,
        });
    }
    let prefix = u32::try_from(len).map_err(|_| FrameError::TooLarge {
        got: len,
        max: max_message_size + 1,
    })?;
    dst.reserve(LENGTH_PREFIX_BYTES + len);
    dst.put_u32(prefix);
    dst.put_u8(stream_id);
    dst.put_slice(&frame.body);
    Ok(())
}

/// Appends the "link accepted" message to `dst`.
pub fn encode_ready(dst: &mut BytesMut) {
    dst.put_u32(1);
    dst.put_u8(READY_ID);
}

/// Appends the "link closed" message with `reason` to `dst`.
pub fn encode_close(reason: DisconnectReason, dst: &mut BytesMut) {
    dst.put_u32(2);
    dst.put_u8(CLOSE_ID);
    dst.put_u8(reason.code());
}

/// The old name of [`MessageDecoder`] (it shared its name with tokio-util's `Decoder` trait,
/// which [`LinkCodec`] implements).
#[deprecated(since = "0.1.0", note = "renamed MessageDecoder")]
pub type Decoder = MessageDecoder;

/// Splits messages off a read buffer; see the [module docs](self) for the format.
#[derive(Clone, Copy, Debug)]
pub struct MessageDecoder {
    max_message_size: usize,
    ids: Option<StreamIds>,
}

impl MessageDecoder {
    /// A decoder accepting bodies of at most `max_message_size` bytes: the framing alone, which
    /// yields every id `0x00..=0x7f` as a zks frame with the stream id as it came (what a
    /// stream holds before its link's layout is known).
    pub const fn new(max_message_size: usize) -> Self {
        Self {
            max_message_size,
            ids: None,
        }
    }

    /// This decoder, mapping stream ids through a link's layout: frames come tagged with their
    /// protocol and relative id, and an id past the layout's ranges is
    /// [`FrameError::UnknownId`].
    #[must_use]
    pub const fn with_ids(self, ids: StreamIds) -> Self {
        Self {
            ids: Some(ids),
            ..self
        }
    }

    /// The next complete message in `src`, consuming its bytes; `Ok(None)` when more bytes are
    /// needed (then `src` has room reserved for at most the next 64 KiB of the message).
    ///
    /// # Errors
    ///
    /// A [`FrameError`]: the stream is corrupt and the link ends.
    pub fn decode(&self, src: &mut BytesMut) -> Result<Option<Message>, FrameError> {
        let Some(prefix) = src.get(..LENGTH_PREFIX_BYTES) else {
            return Ok(None);
        };
        let mut be = [0u8; LENGTH_PREFIX_BYTES];
        be.copy_from_slice(prefix);
        // u32 always fits usize on the targets libp2p supports; saturate otherwise.
        let len = usize::try_from(u32::from_be_bytes(be)).unwrap_or(usize::MAX);
        let max = self.max_message_size.saturating_add(1);
        if len > max {
            return Err(FrameError::TooLarge { got: len, max });
        }
        if len == 0 {
            return Err(FrameError::Empty);
        }
        let total = LENGTH_PREFIX_BYTES + len;
        if src.len() < total {
            let missing = total - src.len();
            src.reserve(missing.min(RESERVE_STEP));
            return Ok(None);
        }
        src.advance(LENGTH_PREFIX_BYTES);
        let mut data: Bytes = src.split_to(len).freeze();
        let id = data.get_u8();
        match id {
            0..=MAX_ZKS_ID => Ok(Some(Message::Zks(match self.ids {
                Some(ids) => ids.inbound(id, data)?,
                None => Frame::zks(id, data),
            }))),
            READY_ID if data.is_empty() => Ok(Some(Message::Ready)),
            CLOSE_ID if data.len() == 1 => DisconnectReason::from_code(data[0])
                .map(|reason| Some(Message::Close(reason)))
                .ok_or(FrameError::MalformedControl { id }),
            READY_ID | CLOSE_ID => Err(FrameError::MalformedControl { id }),
            _ => Err(FrameError::UnknownId(id)),
        }
    }
}

#[cfg(test)]
mod tests {
    use zks_api::wire::{TwoFaVersion, ZksVersion};

    use super::*;

    fn frame(id: u8, body: &'static [u8]) -> Frame {
        Frame::zks(id, Bytes::from_static(body))
    }

    fn twofa(id: u8, body: &'static [u8]) -> Frame {
        Frame::new(Protocol::Zks2fa, id, Bytes::from_static(body))
    }

    const ZKS3: StreamIds = StreamIds::new(LinkCaps::zks(ZksVersion::V3));
    const ZKS5: StreamIds = StreamIds::new(LinkCaps::zks(ZksVersion::V5));
    const ZKS5_2FA: StreamIds = StreamIds::new(LinkCaps {
        zks: ZksVersion::V5,
        zks_2fa: Some(TwoFaVersion::V1),
    });

    #[test]
    fn round_trips_messages_split_anywhere() {
        let mut wire = BytesMut::new();
        encode_ready(&mut wire);
        encode_frame(&frame(1, b"hello"), ZKS3, 16, &mut wire).unwrap();
        encode_frame(&frame(0, b""), ZKS3, 16, &mut wire).unwrap();
        encode_close(DisconnectReason::TooManyPeers, &mut wire);
        let expected = vec![
            Message::Ready,
            Message::Zks(frame(1, b"hello")),
            Message::Zks(frame(0, b"")),
            Message::Close(DisconnectReason::TooManyPeers),
        ];
        let decoder = MessageDecoder::new(16);
        for chunk in 1..wire.len() {
            let mut src = BytesMut::new();
            let mut got = Vec::new();
            for piece in wire.chunks(chunk) {
                src.extend_from_slice(piece);
                while let Some(m) = decoder.decode(&mut src).unwrap() {
                    got.push(m);
                }
            }
            assert_eq!(got, expected, "chunk {chunk}");
            assert!(src.is_empty());
        }
    }

    #[test]
    fn rejects_oversized_length_before_allocating() {
        let decoder = MessageDecoder::new(1024);
        let mut src = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
        let before = src.capacity();
        assert_eq!(
            decoder.decode(&mut src),
            Err(FrameError::TooLarge {
                got: 0xffff_ffff,
                max: 1025
            })
        );
        assert_eq!(src.capacity(), before);
        let mut src = BytesMut::from(&1026u32.to_be_bytes()[..]);
        assert!(matches!(
            decoder.decode(&mut src),
            Err(FrameError::TooLarge { .. })
        ));
        let mut src = BytesMut::from(&1025u32.to_be_bytes()[..]);
        assert_eq!(decoder.decode(&mut src), Ok(None));
    }

    #[test]
    fn reserves_at_most_one_step_ahead() {
        let decoder = MessageDecoder::new(16 * 1024 * 1024);
        let mut src = BytesMut::from(&(16u32 * 1024 * 1024).to_be_bytes()[..]);
        assert_eq!(decoder.decode(&mut src), Ok(None));
        assert!(
            src.capacity() <= LENGTH_PREFIX_BYTES + RESERVE_STEP + 64,
            "{}",
            src.capacity()
        );
    }

    #[test]
    fn rejects_garbage() {
        let decoder = MessageDecoder::new(1024);
        let cases: [(&[u8], FrameError); 5] = [
            (&[0, 0, 0, 0], FrameError::Empty),
            (&[0, 0, 0, 1, 0x80], FrameError::UnknownId(0x80)),
            (
                &[0, 0, 0, 2, READY_ID, 0],
                FrameError::MalformedControl { id: READY_ID },
            ),
            (
                &[0, 0, 0, 1, CLOSE_ID],
                FrameError::MalformedControl { id: CLOSE_ID },
            ),
            (
                &[0, 0, 0, 2, CLOSE_ID, 0x0c],
                FrameError::MalformedControl { id: CLOSE_ID },
            ),
        ];
        for (bytes, expected) in cases {
            let mut src = BytesMut::from(bytes);
            assert_eq!(decoder.decode(&mut src), Err(expected), "{bytes:?}");
        }
    }

    #[test]
    fn refuses_to_encode_reserved_ids_or_oversized_bodies() {
        let mut dst = BytesMut::new();
        assert_eq!(
            encode_frame(&frame(CLOSE_ID, b""), ZKS3, 16, &mut dst),
            Err(FrameError::IdOutOfRange {
                protocol: Protocol::Zks,
                id: CLOSE_ID,
                count: 7
            })
        );
        assert!(matches!(
            encode_frame(&frame(1, &[0; 17]), ZKS3, 16, &mut dst),
            Err(FrameError::TooLarge { .. })
        ));
        assert!(dst.is_empty());
    }

    /// zks/5 at `0x00..=0x01`, zks_2fa/1 right after at `0x02..=0x06`: exact bytes both ways.
    #[test]
    fn zks_2fa_ids_follow_the_zks_version() {
        assert_eq!(ZKS5_2FA.range(Protocol::Zks), Some((0, 2)));
        assert_eq!(ZKS5_2FA.range(Protocol::Zks2fa), Some((2, 5)));
        assert_eq!(ZKS5_2FA.end(), 7);
        assert_eq!(ZKS5.range(Protocol::Zks2fa), None);
        assert_eq!(ZKS5.end(), 2);
        let zks3_2fa = StreamIds::new(LinkCaps {
            zks: ZksVersion::V3,
            zks_2fa: Some(TwoFaVersion::V1),
        });
        assert_eq!(zks3_2fa.range(Protocol::Zks2fa), Some((7, 5)));

        let mut wire = BytesMut::new();
        encode_frame(&frame(1, b"\xc1\xc0"), ZKS5_2FA, 16, &mut wire).unwrap();
        encode_frame(&twofa(0, b"\xc0"), ZKS5_2FA, 16, &mut wire).unwrap();
        encode_frame(&twofa(4, b"\x80"), ZKS5_2FA, 16, &mut wire).unwrap();
        encode_frame(&twofa(0, b"\xc0"), zks3_2fa, 16, &mut wire).unwrap();
        assert_eq!(
            &wire[..],
            [
                0, 0, 0, 3, 0x01, 0xc1, 0xc0, // zks BlockReplays
                0, 0, 0, 2, 0x02, 0xc0, // zks_2fa VerifierRoleRequest
                0, 0, 0, 2, 0x06, 0x80, // zks_2fa id 4
                0, 0, 0, 2, 0x07, 0xc0, // zks_2fa id 0 after zks/3's seven ids
            ]
        );
        let decoder = MessageDecoder::new(16).with_ids(ZKS5_2FA);
        let mut src = wire.split_to(19);
        assert_eq!(
            decoder.decode(&mut src),
            Ok(Some(Message::Zks(frame(1, b"\xc1\xc0"))))
        );
        assert_eq!(
            decoder.decode(&mut src),
            Ok(Some(Message::Zks(twofa(0, b"\xc0"))))
        );
        assert_eq!(
            decoder.decode(&mut src),
            Ok(Some(Message::Zks(twofa(4, b"\x80"))))
        );
        assert_eq!(decoder.decode(&mut src), Ok(None));
        // On zks/5 + zks_2fa/1, stream id 7 is past both ranges.
        assert_eq!(decoder.decode(&mut wire), Err(FrameError::UnknownId(0x07)));
        // The framing alone passes stream ids through as they came.
        let mut src = BytesMut::from(&[0, 0, 0, 2, 0x06, 0x80][..]);
        assert_eq!(
            MessageDecoder::new(16).decode(&mut src),
            Ok(Some(Message::Zks(frame(6, b"\x80"))))
        );
    }

    #[test]
    fn without_zks_2fa_its_ids_are_unknown_and_its_frames_refused() {
        let decoder = MessageDecoder::new(16).with_ids(ZKS5);
        let mut src = BytesMut::from(&[0, 0, 0, 2, 0x02, 0xc0][..]);
        assert_eq!(decoder.decode(&mut src), Err(FrameError::UnknownId(0x02)));
        let mut dst = BytesMut::new();
        assert_eq!(
            encode_frame(&twofa(0, b"\xc0"), ZKS5, 16, &mut dst),
            Err(FrameError::NotCarried {
                protocol: Protocol::Zks2fa
            })
        );
        assert_eq!(
            encode_frame(&twofa(5, b"\xc0"), ZKS5_2FA, 16, &mut dst),
            Err(FrameError::IdOutOfRange {
                protocol: Protocol::Zks2fa,
                id: 5,
                count: 5
            })
        );
        assert_eq!(
            encode_frame(&frame(2, b"\xc0"), ZKS5_2FA, 16, &mut dst),
            Err(FrameError::IdOutOfRange {
                protocol: Protocol::Zks,
                id: 2,
                count: 2
            })
        );
        assert!(dst.is_empty());
        assert_eq!(
            FrameError::NotCarried {
                protocol: Protocol::Zks2fa
            }
            .disconnect_reason(),
            DisconnectReason::SubprotocolError
        );
    }
}
