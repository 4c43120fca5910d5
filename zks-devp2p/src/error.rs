//! The crate's error type and its layer enums.
//!
//! Every error says what happens next: [`Error::disconnect_reason`] is the reason sent to the
//! peer (when a session exists to send it on) and reported to the engine.

use std::io;
use std::time::Duration;

use zks_api::DisconnectReason;

/// Errors of the ECIES handshake layer (auth and ack packets).
///
/// All of them end the connection attempt; there is no session yet to send a Disconnect on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EciesError {
    /// The ECIES message is shorter than its fixed overhead.
    #[error("ecies message too short: {got} bytes, need at least {min}")]
    TooShort {
        /// Bytes received.
        got: usize,
        /// Minimum length.
        min: usize,
    },
    /// The handshake packet announces more bytes than we accept.
    #[error("handshake packet too large: {got} bytes, max {max}")]
    PacketTooLarge {
        /// Announced size.
        got: usize,
        /// Our cap.
        max: usize,
    },
    /// The ephemeral point `R` (or a public key in the body) is not a valid curve point.
    #[error("invalid public key in {0}")]
    InvalidPublicKey(&'static str),
    /// The HMAC tag does not match: wrong key, corrupted or forged packet.
    #[error("ecies tag check failed")]
    TagMismatch,
    /// The decrypted body does not parse.
    #[error("malformed {packet} body: {reason}")]
    MalformedBody {
        /// `auth` or `ack`.
        packet: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// The auth signature does not recover to a public key.
    #[error("auth signature does not recover a key")]
    InvalidSignature,
}

/// Errors of the RLPx frame layer.
///
/// All of them mean the stream is corrupt: the link closes with
/// [`DisconnectReason::ProtocolBreach`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The header MAC does not match.
    #[error("frame header mac mismatch")]
    HeaderMacMismatch,
    /// The frame MAC does not match.
    #[error("frame body mac mismatch")]
    BodyMacMismatch,
    /// The frame announces (or would need) more bytes than allowed.
    #[error("frame too large: {got} bytes, max {max}")]
    TooLarge {
        /// The frame-data size.
        got: usize,
        /// The cap in force.
        max: usize,
    },
    /// A frame with no data (a message needs at least its id).
    #[error("empty frame")]
    Empty,
}

/// Errors of the base `p2p` protocol (Hello, Disconnect, Ping/Pong, Snappy, message ids).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum P2pError {
    /// A message id is not a canonical RLP integer, or is out of range.
    #[error("invalid message id encoding")]
    InvalidMessageId,
    /// The first message was neither Hello nor Disconnect.
    #[error("expected Hello, got message id {got:#04x}")]
    ExpectedHello {
        /// The id received.
        got: u64,
    },
    /// A second Hello after the first.
    #[error("unexpected second Hello")]
    DuplicateHello,
    /// An id reserved by `p2p` but unused (0x04–0x0f), or at or past the end of the last
    /// shared capability (reth's `UnknownReservedMessageId`; since v2.5.0 reth no longer routes
    /// the latter to the last capability). It is never handed to any capability: the session
    /// ends with [`ProtocolBreach`](DisconnectReason::ProtocolBreach), as every breach does.
    #[error("message id {got:#04x} is outside the negotiated ranges")]
    UnknownMessageId {
        /// The wire id.
        got: u64,
    },
    /// The Hello is larger than allowed.
    #[error("hello too large: {got} bytes, max {max}")]
    HelloTooLarge {
        /// Its size.
        got: usize,
        /// The cap.
        max: usize,
    },
    /// The Hello advertises more capabilities than we read.
    #[error("hello lists too many capabilities: {got}, max {max}")]
    TooManyCapabilities {
        /// How many it lists.
        got: usize,
        /// Our cap.
        max: usize,
    },
    /// RLP that does not decode.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// The message.
        what: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// The Hello node id is not 64 bytes or is all zero.
    #[error("invalid node id in Hello")]
    InvalidIdentity,
    /// The Hello node id differs from the key authenticated by the handshake.
    #[error("Hello node id differs from the handshake key")]
    UnexpectedIdentity,
    /// The peer is ourselves.
    #[error("connected to self")]
    ConnectedToSelf,
    /// The peer's base protocol version is too old for us (we need Snappy, version 5).
    #[error("incompatible p2p version {got}, need at least {min}")]
    IncompatibleVersion {
        /// The peer's version.
        got: u64,
        /// Our minimum.
        min: u64,
    },
    /// No capability is shared (or no zks version, which is what we are here for).
    #[error("no shared capability")]
    NoSharedCapability,
    /// The peer shares no `eth` version and this node requires one.
    #[error("no shared eth version, and this node requires one")]
    EthRequired,
    /// After Hello, an `eth` message other than Status came first.
    #[error("expected the eth Status, got eth message {got:#04x}")]
    ExpectedStatus {
        /// Its id, relative to `eth`.
        got: u8,
    },
    /// A second `eth` Status on one session.
    #[error("second eth Status")]
    DuplicateStatus,
    /// More zks messages before the peer's `eth` Status than we hold.
    #[error("more than {max} zks messages before the eth Status")]
    TooManyEarlyMessages {
        /// The limit.
        max: usize,
    },
    /// The Snappy block does not decode.
    #[error("invalid snappy block")]
    Snappy,
    /// The Snappy block announces more than the cap.
    #[error("decompressed size {got} exceeds max {max}")]
    DecompressedTooLarge {
        /// The announced size.
        got: usize,
        /// The cap.
        max: usize,
    },
    /// A zks message is larger than the engine takes on this link (a main node's peers send
    /// requests of a few KiB; see `zks_api::NodeSettings::max_request_bytes`).
    #[error("zks message of {got} bytes exceeds this link's cap of {max}")]
    MessageTooLarge {
        /// Its size (id plus body; announced decompressed size with Snappy).
        got: usize,
        /// The cap.
        max: usize,
    },
    /// A message we are asked to send is larger than the protocol allows.
    #[error("outgoing message too large: {got} bytes, max {max}")]
    OutgoingTooLarge {
        /// Its size.
        got: usize,
        /// The cap.
        max: usize,
    },
    /// The engine asked to send a message id its negotiated version does not know.
    #[error("outgoing zks id {id} is not in {version}")]
    OutgoingIdOutOfRange {
        /// The relative id.
        id: u8,
        /// The negotiated version.
        version: zks_api::wire::ZksVersion,
    },
    /// The engine asked to send a `zks_2fa` message id its negotiated version does not know.
    #[error("outgoing zks_2fa id {id} is not in {version}")]
    OutgoingTwoFaIdOutOfRange {
        /// The relative id.
        id: u8,
        /// The negotiated version.
        version: zks_api::wire::TwoFaVersion,
    },
    /// The engine asked to send a frame of a subprotocol this session does not carry (not
    /// shared with this peer): it is refused, never written.
    #[error("outgoing {protocol} frame, but this session does not carry {protocol}")]
    OutgoingNotCarried {
        /// The frame's protocol.
        protocol: zks_api::wire::Protocol,
    },
}

/// The error of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The ECIES handshake failed.
    #[error(transparent)]
    Ecies(#[from] EciesError),
    /// The frame stream is corrupt.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The base protocol was violated.
    #[error(transparent)]
    P2p(#[from] P2pError),
    /// An enode URL does not parse.
    #[error(transparent)]
    Enode(#[from] crate::enode::EnodeError),
    /// A key does not parse or cannot be stored.
    #[error(transparent)]
    Key(#[from] crate::key::NodeKeyError),
    /// The socket failed.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// The peer closed the TCP connection.
    #[error("connection closed by peer")]
    Eof,
    /// A phase took too long.
    #[error("{phase} timed out after {after:?}")]
    Timeout {
        /// Which phase: `handshake`, `hello`, `pong`.
        phase: &'static str,
        /// The limit.
        after: Duration,
    },
    /// The peer sent Disconnect.
    #[error("peer disconnected: {0}")]
    Disconnected(DisconnectReason),
    /// The peer's `eth` Status is missing, malformed, or not of our chain.
    #[error("eth status: {0}")]
    Status(#[from] Box<crate::eth::StatusError>),
    /// The peer sent a malformed `eth` message.
    #[error(transparent)]
    Eth(#[from] crate::eth::EthMessageError),
    /// A [`Devp2pConfig`](crate::Devp2pConfig) setting is out of range.
    #[error("invalid config: {reason}")]
    InvalidConfig {
        /// Which rule was broken.
        reason: &'static str,
    },
}

impl EciesError {
    /// The Disconnect reason this error maps to (never sendable: no session exists yet).
    pub const fn disconnect_reason(&self) -> DisconnectReason {
        DisconnectReason::ProtocolBreach
    }
}

impl FrameError {
    /// The Disconnect reason this error maps to.
    pub const fn disconnect_reason(&self) -> DisconnectReason {
        DisconnectReason::ProtocolBreach
    }
}

impl P2pError {
    /// The Disconnect reason this error maps to.
    pub const fn disconnect_reason(&self) -> DisconnectReason {
        match self {
            Self::InvalidIdentity => DisconnectReason::InvalidIdentity,
            Self::UnexpectedIdentity => DisconnectReason::UnexpectedIdentity,
            Self::ConnectedToSelf => DisconnectReason::ConnectedToSelf,
            Self::IncompatibleVersion { .. } => DisconnectReason::IncompatibleVersion,
            Self::NoSharedCapability | Self::EthRequired => DisconnectReason::UselessPeer,
            Self::OutgoingTooLarge { .. }
            | Self::OutgoingIdOutOfRange { .. }
            | Self::OutgoingTwoFaIdOutOfRange { .. }
            | Self::OutgoingNotCarried { .. } => DisconnectReason::SubprotocolError,
            Self::InvalidMessageId
            | Self::ExpectedHello { .. }
            | Self::DuplicateHello
            | Self::ExpectedStatus { .. }
            | Self::DuplicateStatus
            | Self::TooManyEarlyMessages { .. }
            | Self::UnknownMessageId { .. }
            | Self::HelloTooLarge { .. }
            | Self::TooManyCapabilities { .. }
            | Self::Malformed { .. }
            | Self::Snappy
            | Self::MessageTooLarge { .. }
            | Self::DecompressedTooLarge { .. } => DisconnectReason::ProtocolBreach,
        }
    }
}

impl Error {
    /// The Disconnect reason this error maps to: what the peer is told (when a session exists)
    /// and what the engine sees in [`zks_api::transport::LinkClosed::ByTransport`].
    pub fn disconnect_reason(&self) -> DisconnectReason {
        match self {
            Self::Ecies(e) => e.disconnect_reason(),
            Self::Frame(e) => e.disconnect_reason(),
            Self::P2p(e) => e.disconnect_reason(),
            Self::Enode(_) | Self::Key(_) | Self::InvalidConfig { .. } => {
                DisconnectReason::Requested
            }
            Self::Io(_) | Self::Eof => DisconnectReason::TcpSubsystemError,
            Self::Timeout { phase, .. } => {
                if *phase == "pong" {
                    DisconnectReason::PingTimeout
                } else {
                    DisconnectReason::TcpSubsystemError
                }
            }
            Self::Disconnected(reason) => *reason,
            Self::Status(e) => e.disconnect_reason(),
            Self::Eth(e) => e.disconnect_reason(),
        }
    }

    /// Whether the peer is told about this error with a Disconnect: not when it left, nor when
    /// the socket is gone.
    pub(crate) fn tells_peer(&self) -> bool {
        !matches!(self, Self::Io(_) | Self::Eof | Self::Disconnected(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_stays_small() {
        assert!(size_of::<Error>() <= 48, "{}", size_of::<Error>());
    }

    #[test]
    fn reasons() {
        assert_eq!(
            Error::from(FrameError::HeaderMacMismatch).disconnect_reason(),
            DisconnectReason::ProtocolBreach
        );
        assert_eq!(
            Error::from(P2pError::NoSharedCapability).disconnect_reason(),
            DisconnectReason::UselessPeer
        );
        assert_eq!(
            Error::Timeout {
                phase: "pong",
                after: Duration::from_secs(1)
            }
            .disconnect_reason(),
            DisconnectReason::PingTimeout
        );
    }
}
