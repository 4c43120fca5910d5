//! Message ids, Disconnect, Ping/Pong and Snappy.

use zks_api::DisconnectReason;

use crate::error::P2pError;

/// `p2p` message id of Hello.
pub const HELLO: u64 = 0x00;
/// `p2p` message id of Disconnect.
pub const DISCONNECT: u64 = 0x01;
/// `p2p` message id of Ping.
pub const PING: u64 = 0x02;
/// `p2p` message id of Pong.
pub const PONG: u64 = 0x03;

/// The largest decompressed base-protocol message (Ping, Pong, Disconnect) we inflate.
pub const MAX_CONTROL_PAYLOAD: usize = 1024;

/// The largest decompressed message we inflate (16 MiB).
pub const MAX_DECOMPRESSED: usize = zks_api::wire::limits::MAX_MESSAGE_BYTES;

/// Splits `RLP-int(msg-id) || msg-data`. With `allow_zero_byte`, a bare `00` is read as id 0
/// (lenient Hello); otherwise `00` is a non-canonical integer and rejected.
///
/// # Errors
///
/// [`P2pError::InvalidMessageId`].
pub fn split_message_id(
    frame_data: &[u8],
    allow_zero_byte: bool,
) -> Result<(u64, &[u8]), P2pError> {
    match frame_data {
        [0x00, rest @ ..] if allow_zero_byte => Ok((0, rest)),
        [b, rest @ ..] if *b != 0 && *b < 0x80 => Ok((u64::from(*b), rest)),
        [0x80, rest @ ..] => Ok((0, rest)),
        [0x81, b, rest @ ..] if *b >= 0x80 => Ok((u64::from(*b), rest)),
        _ => Err(P2pError::InvalidMessageId),
    }
}

/// Appends `RLP-int(id)`.
pub fn put_message_id(out: &mut impl Extend<u8>, id: u8) {
    match id {
        0 => out.extend([0x80]),
        1..=0x7f => out.extend([id]),
        _ => out.extend([0x81, id]),
    }
}

/// How a Disconnect payload decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerReason {
    /// A known reason.
    Known(DisconnectReason),
    /// A reason code we do not know.
    Other(u8),
    /// No reason, or a payload that does not decode.
    Unknown,
}

impl PeerReason {
    /// The reason as the engine sees it; unknown codes and missing reasons become
    /// [`DisconnectReason::Requested`] (the seam has no "other" reason).
    pub fn to_reason(self) -> DisconnectReason {
        match self {
            Self::Known(r) => r,
            Self::Other(_) | Self::Unknown => DisconnectReason::Requested,
        }
    }
}

fn reason_from_code(code: u8) -> PeerReason {
    DisconnectReason::from_code(code).map_or(PeerReason::Other(code), PeerReason::Known)
}

fn raw_reason(payload: &[u8]) -> Option<PeerReason> {
    match payload {
        [] | [0xc0] => Some(PeerReason::Unknown),
        [0x00] | [0x80] | [0xc1, 0x00] | [0xc1, 0x80] => Some(reason_from_code(0)),
        [b] | [0xc1, b] if *b < 0x80 => Some(reason_from_code(*b)),
        [0x81, b] | [0xc2, 0x81, b] if *b >= 0x80 => Some(reason_from_code(*b)),
        _ => None,
    }
}

/// Decodes a Disconnect payload in any shape peers send: raw first (`[reason]`, bare reason,
/// `00`/`80`), then Snappy-decompressed; anything else is "reason unknown". Never fails: a
/// Disconnect ends the link whatever it holds.
pub fn decode_disconnect(payload: &[u8]) -> PeerReason {
    if let Some(reason) = raw_reason(payload) {
        return reason;
    }
    match decompress(payload, MAX_CONTROL_PAYLOAD) {
        Ok(inner) => raw_reason(&inner).unwrap_or(PeerReason::Unknown),
        Err(_) => PeerReason::Unknown,
    }
}

/// The Disconnect payload `[reason]`.
pub fn disconnect_payload(reason: DisconnectReason) -> [u8; 2] {
    let code = reason.code();
    [0xc1, if code == 0 { 0x80 } else { code }]
}

/// Inflates a Snappy raw block, checking the announced length against `max` before
/// allocating.
///
/// # Errors
///
/// [`P2pError::DecompressedTooLarge`] or [`P2pError::Snappy`].
pub fn decompress(payload: &[u8], max: usize) -> Result<Vec<u8>, P2pError> {
    let len = snap::raw::decompress_len(payload).map_err(|_| P2pError::Snappy)?;
    if len > max {
        return Err(P2pError::DecompressedTooLarge { got: len, max });
    }
    let mut out = vec![0u8; len];
    let n = snap::raw::Decoder::new()
        .decompress(payload, &mut out)
        .map_err(|_| P2pError::Snappy)?;
    if n != len {
        return Err(P2pError::Snappy);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert_eq!(split_message_id(&[0x80, 1], false), Ok((0, &[1u8][..])));
        assert_eq!(
            split_message_id(&[0x00, 1], false),
            Err(P2pError::InvalidMessageId)
        );
        assert_eq!(split_message_id(&[0x00, 1], true), Ok((0, &[1u8][..])));
        assert_eq!(split_message_id(&[0x81, 0x80], false), Ok((0x80, &[][..])));
        assert_eq!(
            split_message_id(&[0x81, 0x10], false),
            Err(P2pError::InvalidMessageId)
        );
        assert_eq!(
            split_message_id(&[], false),
            Err(P2pError::InvalidMessageId)
        );
    }

    #[test]
    fn length_bomb_rejected_before_allocating() {
        assert_eq!(
            decompress(&[0x80, 0x80, 0x80, 0x08], MAX_CONTROL_PAYLOAD),
            Err(P2pError::DecompressedTooLarge {
                got: 16_777_216,
                max: MAX_CONTROL_PAYLOAD
            })
        );
    }
}
