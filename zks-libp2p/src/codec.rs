//! The framing of a `/zks/<version>` stream: sans-IO encode and decode over byte buffers.
//!
//! Every message on the stream is
//!
//! ```text
//!   length (u32, big endian) || id (1 byte) || body (length − 1 bytes)
//! ```
//!
//! where `length` counts the id byte plus the body, so it is at least 1. Ids `0x00..=0x7f` are
//! zks messages, handed to the engine as they are; two ids are reserved for the transport:
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
//! Non-goals: compression (yamux and the engine's own limits make it unnecessary here) and any
//! I/O (see [`crate::link`]).

use bytes::{Buf, BufMut, Bytes, BytesMut};
use zks_api::DisconnectReason;
use zks_api::transport::pump::{CodecError, Inbound, Outgoing};
use zks_api::wire::Frame;

/// Bytes of the length prefix.
pub const LENGTH_PREFIX_BYTES: usize = 4;
/// Id of the transport's "link accepted" message.
pub const READY_ID: u8 = 0xfe;
/// Id of the transport's "link closed, here is why" message.
pub const CLOSE_ID: u8 = 0xff;
/// Highest id that is a zks message (carried as is; the engine checks it against the version).
pub const MAX_ZKS_ID: u8 = 0x7f;
/// Most bytes reserved ahead of their arrival while a long message comes in.
const RESERVE_STEP: usize = 64 * 1024;

/// One message read from a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A zks message for the engine.
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
    /// An id that is neither a zks message nor a transport message.
    #[error("unknown message id {0:#04x}")]
    UnknownId(u8),
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

/// The framing of a live link as a `tokio_util` codec, for the shared link pump
/// ([`zks_api::transport::pump`]).
#[derive(Clone, Copy, Debug)]
pub struct LinkCodec {
    decoder: Decoder,
    max_message_size: usize,
}

impl LinkCodec {
    /// A codec for bodies of at most `max_message_size` bytes, both ways.
    pub const fn new(max_message_size: usize) -> Self {
        Self {
            decoder: Decoder::new(max_message_size),
            max_message_size,
        }
    }
}

impl tokio_util::codec::Decoder for LinkCodec {
    type Item = Inbound;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, FrameError> {
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
            Outgoing::Frame(frame) => encode_frame(&frame, self.max_message_size, dst),
            Outgoing::Close(reason) => {
                encode_close(reason, dst);
                Ok(())
            }
            // Liveness is yamux's and the swarm's business; the framing has no ping.
            Outgoing::Ping | Outgoing::Pong => Ok(()),
        }
    }
}

/// Appends a zks message to `dst`.
///
/// # Errors
///
/// [`FrameError::TooLarge`] when the body is above `max_message_size`, and
/// [`FrameError::UnknownId`] for an id the framing reserves.
pub fn encode_frame(
    frame: &Frame,
    max_message_size: usize,
    dst: &mut BytesMut,
) -> Result<(), FrameError> {
    if frame.id > MAX_ZKS_ID {
        return Err(FrameError::UnknownId(frame.id));
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
    dst.put_u8(frame.id);
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

/// Splits messages off a read buffer; see the [module docs](self) for the format.
#[derive(Clone, Copy, Debug)]
pub struct Decoder {
    max_message_size: usize,
}

impl Decoder {
    /// A decoder accepting bodies of at most `max_message_size` bytes.
    pub const fn new(max_message_size: usize) -> Self {
        Self { max_message_size }
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
            0..=MAX_ZKS_ID => Ok(Some(Message::Zks(Frame::zks(id, data)))),
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
    use super::*;

    fn frame(id: u8, body: &'static [u8]) -> Frame {
        Frame::zks(id, Bytes::from_static(body))
    }

    #[test]
    fn round_trips_messages_split_anywhere() {
        let mut wire = BytesMut::new();
        encode_ready(&mut wire);
        encode_frame(&frame(1, b"hello"), 16, &mut wire).unwrap();
        encode_frame(&frame(0, b""), 16, &mut wire).unwrap();
        encode_close(DisconnectReason::TooManyPeers, &mut wire);
        let expected = vec![
            Message::Ready,
            Message::Zks(frame(1, b"hello")),
            Message::Zks(frame(0, b"")),
            Message::Close(DisconnectReason::TooManyPeers),
        ];
        let decoder = Decoder::new(16);
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
        let decoder = Decoder::new(1024);
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
        let decoder = Decoder::new(16 * 1024 * 1024);
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
        let decoder = Decoder::new(1024);
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
            encode_frame(&frame(CLOSE_ID, b""), 16, &mut dst),
            Err(FrameError::UnknownId(CLOSE_ID))
        );
        assert!(matches!(
            encode_frame(&frame(1, &[0; 17]), 16, &mut dst),
            Err(FrameError::TooLarge { .. })
        ));
        assert!(dst.is_empty());
    }
}
