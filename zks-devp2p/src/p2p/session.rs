//! The post-handshake `p2p` state machine: Hello exchange, capability negotiation, Snappy,
//! and routing of message ids to the `eth` and zks capabilities.

use bytes::{Bytes, BytesMut};
use zks_api::DisconnectReason;
use zks_api::wire::{Frame, ZksVersion};

use super::hello::{Hello, P2P_VERSION};
use super::message::{
    DISCONNECT, HELLO, MAX_CONTROL_PAYLOAD, MAX_DECOMPRESSED, PING, PONG, PeerReason,
    decode_disconnect, decompress, disconnect_payload, put_message_id, split_message_id,
};
use crate::caps::{self, LocalCapability};
use crate::enode::NodeId;
use crate::error::P2pError;
use crate::eth::{EthVersion, SharedCapabilities};

/// What the peer's Hello settled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// The peer's Hello.
    pub remote_hello: Hello,
    /// The shared capabilities and their id ranges.
    pub shared: SharedCapabilities,
    /// The negotiated zks version and its first wire id, if zks is shared.
    pub zks: Option<(ZksVersion, u16)>,
    /// The negotiated `eth` version and its first wire id, if `eth` is shared.
    pub eth: Option<(EthVersion, u16)>,
    /// Whether messages after Hello are Snappy-compressed (both sides speak p2p ≥ 5).
    pub snappy: bool,
}

/// One received message, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum P2pEvent {
    /// The peer's Hello arrived and negotiation succeeded; see [`P2pSession::negotiated`].
    Hello,
    /// A zks message (relative id, decompressed body).
    Zks(Frame),
    /// An `eth` message: relative id and decompressed msg-data (the devp2p transport answers
    /// `eth` itself; nothing of it reaches the engine).
    Eth {
        /// The id relative to the `eth` offset.
        id: u8,
        /// The msg-data.
        payload: Bytes,
    },
    /// The peer pinged: answer with a Pong.
    Ping,
    /// The peer answered our Ping.
    Pong,
    /// The peer is leaving.
    Disconnect(PeerReason),
}

/// The `p2p` session of one connection, after the RLPx handshake.
pub struct P2pSession {
    local_id: NodeId,
    remote_id: NodeId,
    local_hello: Hello,
    local_caps: Vec<LocalCapability>,
    remote_hello: Option<Hello>,
    negotiated: Option<Negotiated>,
    encoder: snap::raw::Encoder,
}

impl std::fmt::Debug for P2pSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("P2pSession")
            .field("remote_id", &self.remote_id)
            .field("negotiated", &self.negotiated)
            .finish_non_exhaustive()
    }
}

impl P2pSession {
    /// A session that will send `local_hello` (whose capabilities must match `local_caps`)
    /// to the peer the handshake authenticated as `remote_id`.
    pub fn new(local_hello: Hello, local_caps: Vec<LocalCapability>, remote_id: NodeId) -> Self {
        Self {
            local_id: local_hello.node_id,
            remote_id,
            local_hello,
            local_caps,
            remote_hello: None,
            negotiated: None,
            encoder: snap::raw::Encoder::new(),
        }
    }

    /// Our Hello for `local_id` advertising `local_caps`.
    pub fn hello_for(
        local_id: NodeId,
        client_id: &str,
        local_caps: &[LocalCapability],
        listen_port: u16,
    ) -> Hello {
        Hello {
            protocol_version: P2P_VERSION,
            client_id: client_id.to_owned(),
            capabilities: local_caps.iter().map(|c| c.cap.clone()).collect(),
            listen_port: u64::from(listen_port),
            node_id: local_id,
        }
    }

    /// The peer's Hello, once received (also when negotiation then failed).
    /// Two sessions in the same negotiated state: one to decode with, one to encode with, so
    /// a link's reading and writing halves need not share one (each has its own Snappy state).
    pub fn split(self) -> (Self, Self) {
        let twin = Self {
            local_id: self.local_id,
            remote_id: self.remote_id,
            local_hello: self.local_hello.clone(),
            local_caps: self.local_caps.clone(),
            remote_hello: self.remote_hello.clone(),
            negotiated: self.negotiated.clone(),
            encoder: snap::raw::Encoder::new(),
        };
        (self, twin)
    }

    /// The Hello the peer sent, once it has.
    pub fn remote_hello(&self) -> Option<&Hello> {
        self.remote_hello.as_ref()
    }

    /// The negotiation result, once the peer's Hello was accepted.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_ref()
    }

    /// The negotiated `eth` version, if `eth` is shared.
    pub fn eth_version(&self) -> Option<EthVersion> {
        self.negotiated.as_ref().and_then(|n| n.eth).map(|(v, _)| v)
    }

    /// The negotiated zks version.
    pub fn zks_version(&self) -> Option<ZksVersion> {
        self.negotiated.as_ref().and_then(|n| n.zks).map(|(v, _)| v)
    }

    fn snappy(&self) -> bool {
        self.negotiated.as_ref().is_some_and(|n| n.snappy)
    }

    /// Handles one received frame-data.
    ///
    /// # Errors
    ///
    /// Any [`P2pError`]: send Disconnect with its reason and close.
    pub fn handle(&mut self, frame_data: &[u8]) -> Result<P2pEvent, P2pError> {
        let Some(negotiated) = &self.negotiated else {
            let (id, payload) = split_message_id(frame_data, true)?;
            return match id {
                HELLO => self.handle_hello(payload),
                DISCONNECT => Ok(P2pEvent::Disconnect(decode_disconnect(payload))),
                got => Err(P2pError::ExpectedHello { got }),
            };
        };
        let (id, payload) = split_message_id(frame_data, false)?;
        match id {
            HELLO => Err(P2pError::DuplicateHello),
            DISCONNECT => Ok(P2pEvent::Disconnect(decode_disconnect(payload))),
            PING | PONG => {
                if negotiated.snappy {
                    decompress(payload, MAX_CONTROL_PAYLOAD)?;
                }
                Ok(if id == PING {
                    P2pEvent::Ping
                } else {
                    P2pEvent::Pong
                })
            }
            wire_id => {
                let (cap, relative) = negotiated
                    .shared
                    .resolve(wire_id)
                    .map_err(|_| P2pError::UnknownMessageId { got: wire_id })?;
                let is_zks = negotiated.zks.is_some_and(|(_, o)| o == cap.offset);
                let is_eth = negotiated.eth.is_some_and(|(_, o)| o == cap.offset);
                if !is_zks && !is_eth {
                    return Err(P2pError::UnknownMessageId { got: wire_id });
                }
                let body = if negotiated.snappy {
                    Bytes::from(decompress(payload, MAX_DECOMPRESSED)?)
                } else {
                    Bytes::copy_from_slice(payload)
                };
                Ok(if is_zks {
                    P2pEvent::Zks(Frame::zks(relative, body))
                } else {
                    P2pEvent::Eth {
                        id: relative,
                        payload: body,
                    }
                })
            }
        }
    }

    fn handle_hello(&mut self, payload: &[u8]) -> Result<P2pEvent, P2pError> {
        let hello = Hello::decode(payload)?;
        if hello.node_id.0 == [0u8; 64] {
            return Err(P2pError::InvalidIdentity);
        }
        if hello.node_id != self.remote_id {
            return Err(P2pError::UnexpectedIdentity);
        }
        if hello.node_id == self.local_id {
            return Err(P2pError::ConnectedToSelf);
        }
        let snappy = hello.protocol_version >= 5 && self.local_hello.protocol_version >= 5;
        self.remote_hello = Some(hello.clone());
        // Nothing shared (or, impossibly with our few capabilities, ids past u16): useless.
        let shared = SharedCapabilities::negotiate(&self.local_caps, &hello.capabilities)
            .map_err(|_| P2pError::NoSharedCapability)?;
        let zks = shared.get(caps::ZKS).and_then(|c| {
            let v = u8::try_from(c.version)
                .ok()
                .and_then(ZksVersion::from_number)?;
            Some((v, c.offset))
        });
        let eth = shared
            .eth_version()
            .zip(shared.get(caps::ETH).map(|c| c.offset));
        self.negotiated = Some(Negotiated {
            remote_hello: hello,
            shared,
            zks,
            eth,
            snappy,
        });
        Ok(P2pEvent::Hello)
    }

    /// Writes our Hello's frame-data (never compressed).
    pub fn write_hello(&self, out: &mut BytesMut) {
        put_message_id(out, 0);
        let mut payload = Vec::with_capacity(128);
        self.local_hello.encode(&mut payload);
        out.extend_from_slice(&payload);
    }

    fn write_payload(&mut self, id: u8, payload: &[u8], compress: bool, out: &mut BytesMut) {
        put_message_id(out, id);
        if !compress {
            out.extend_from_slice(payload);
            return;
        }
        let start = out.len();
        out.resize(start + snap::raw::max_compress_len(payload.len()), 0);
        let target = out.get_mut(start..).unwrap_or_default();
        // Cannot fail: the target has max_compress_len bytes and callers keep payloads far
        // below Snappy's 4 GiB input limit.
        let written = self.encoder.compress(payload, target).unwrap_or(0);
        out.truncate(start + written);
    }

    /// Writes a Ping (compressed when Snappy is on).
    pub fn write_ping(&mut self, out: &mut BytesMut) {
        let snappy = self.snappy();
        self.write_payload(PING as u8, &[0xc0], snappy, out);
    }

    /// Writes a Pong.
    pub fn write_pong(&mut self, out: &mut BytesMut) {
        let snappy = self.snappy();
        self.write_payload(PONG as u8, &[0xc0], snappy, out);
    }

    /// Writes Disconnect `[reason]`: uncompressed before the Hello exchange, compressed after.
    pub fn write_disconnect(&mut self, reason: DisconnectReason, out: &mut BytesMut) {
        let snappy = self.snappy();
        self.write_payload(DISCONNECT as u8, &disconnect_payload(reason), snappy, out);
    }

    /// Writes an `eth` message's frame-data (wire id = `eth` offset + `id`), compressed when
    /// Snappy is on.
    ///
    /// # Errors
    ///
    /// [`P2pError::NoSharedCapability`] when `eth` is not shared, and
    /// [`P2pError::OutgoingTooLarge`] above the message cap.
    pub fn write_eth(
        &mut self,
        id: u8,
        payload: &[u8],
        out: &mut BytesMut,
    ) -> Result<(), P2pError> {
        let (_, offset) = self
            .negotiated
            .as_ref()
            .and_then(|n| n.eth)
            .ok_or(P2pError::NoSharedCapability)?;
        let max = MAX_DECOMPRESSED - 1;
        if payload.len() > max {
            return Err(P2pError::OutgoingTooLarge {
                got: payload.len(),
                max,
            });
        }
        let wire = u8::try_from(offset + u16::from(id)).unwrap_or(0x7f);
        let snappy = self.snappy();
        self.write_payload(wire, payload, snappy, out);
        Ok(())
    }

    /// Checks that a zks frame can be sent on this session.
    ///
    /// # Errors
    ///
    /// [`P2pError::OutgoingIdOutOfRange`], [`P2pError::OutgoingTooLarge`], or
    /// [`P2pError::NoSharedCapability`] before negotiation.
    pub fn check_zks(&self, frame: &Frame) -> Result<(), P2pError> {
        let (version, offset) = self
            .negotiated
            .as_ref()
            .and_then(|n| n.zks)
            .ok_or(P2pError::NoSharedCapability)?;
        if frame.id >= version.message_count() || u16::from(frame.id) + offset > 0x7f {
            return Err(P2pError::OutgoingIdOutOfRange {
                id: frame.id,
                version,
            });
        }
        let max = MAX_DECOMPRESSED - 1;
        if frame.body.len() > max {
            return Err(P2pError::OutgoingTooLarge {
                got: frame.body.len(),
                max,
            });
        }
        Ok(())
    }

    /// Writes a zks frame's frame-data (wire id = offset + id, body compressed when Snappy is
    /// on). Call [`check_zks`](Self::check_zks) first; an unchecked frame is written with the
    /// id clamped into range.
    pub fn write_zks(&mut self, frame: &Frame, out: &mut BytesMut) {
        let offset = self
            .negotiated
            .as_ref()
            .and_then(|n| n.zks)
            .map_or(caps::BASE_PROTOCOL_LENGTH, |(_, o)| o);
        let wire = u8::try_from(offset + u16::from(frame.id)).unwrap_or(0x7f);
        let snappy = self.snappy();
        self.write_payload(wire, &frame.body, snappy, out);
    }
}
