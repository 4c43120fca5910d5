//! The reasons a link is closed for.

use std::fmt;

/// Why a link is being closed: the devp2p Disconnect reasons, which every transport maps to its
/// own means (memnet carries them as is; libp2p logs them before resetting the stream).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// `0x00`: the application asked to disconnect.
    Requested = 0x00,
    /// `0x01`: a network or I/O error.
    TcpSubsystemError = 0x01,
    /// `0x02`: the peer broke the protocol (bad message, violation).
    ProtocolBreach = 0x02,
    /// `0x03`: no shared capability, or the peer is of no use to us.
    UselessPeer = 0x03,
    /// `0x04`: we are at our connection limit.
    TooManyPeers = 0x04,
    /// `0x05`: we already have a link to this peer.
    AlreadyConnected = 0x05,
    /// `0x06`: incompatible base protocol version.
    IncompatibleVersion = 0x06,
    /// `0x07`: the peer's identity is invalid.
    InvalidIdentity = 0x07,
    /// `0x08`: we are shutting down.
    ClientQuitting = 0x08,
    /// `0x09`: the peer's identity is not the one we dialed.
    UnexpectedIdentity = 0x09,
    /// `0x0a`: we dialed ourselves.
    ConnectedToSelf = 0x0a,
    /// `0x0b`: the peer did not answer a ping in time.
    PingTimeout = 0x0b,
    /// `0x10`: a subprotocol-specific reason.
    SubprotocolError = 0x10,
}

impl DisconnectReason {
    /// The devp2p reason code.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The reason with this devp2p code, if it is one.
    pub const fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0x00 => Self::Requested,
            0x01 => Self::TcpSubsystemError,
            0x02 => Self::ProtocolBreach,
            0x03 => Self::UselessPeer,
            0x04 => Self::TooManyPeers,
            0x05 => Self::AlreadyConnected,
            0x06 => Self::IncompatibleVersion,
            0x07 => Self::InvalidIdentity,
            0x08 => Self::ClientQuitting,
            0x09 => Self::UnexpectedIdentity,
            0x0a => Self::ConnectedToSelf,
            0x0b => Self::PingTimeout,
            0x10 => Self::SubprotocolError,
            _ => return None,
        })
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Self::Requested => "disconnect requested",
            Self::TcpSubsystemError => "network error",
            Self::ProtocolBreach => "breach of protocol",
            Self::UselessPeer => "useless peer",
            Self::TooManyPeers => "too many peers",
            Self::AlreadyConnected => "already connected",
            Self::IncompatibleVersion => "incompatible p2p protocol version",
            Self::InvalidIdentity => "invalid node identity",
            Self::ClientQuitting => "client quitting",
            Self::UnexpectedIdentity => "unexpected identity",
            Self::ConnectedToSelf => "connected to self",
            Self::PingTimeout => "ping timeout",
            Self::SubprotocolError => "subprotocol error",
        };
        write!(f, "{text} ({:#04x})", self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disconnect_codes_round_trip() {
        for code in 0..=0xff {
            if let Some(reason) = DisconnectReason::from_code(code) {
                assert_eq!(reason.code(), code);
            }
        }
        assert_eq!(DisconnectReason::from_code(0x0c), None);
        assert_eq!(
            DisconnectReason::TooManyPeers.to_string(),
            "too many peers (0x04)"
        );
    }
}
