//! The post-handshake `p2p` state machine: Hello exchange, capability negotiation, Snappy,
//! and routing of message ids to the `eth`, zks and `zks_2fa` capabilities.

use bytes::{Bytes, BytesMut};
use zks_api::DisconnectReason;
use zks_api::wire::{Frame, LinkCaps, Protocol, TwoFaVersion, ZksVersion};

use super::hello::{Hello, P2P_VERSION};
use super::message::{
    DISCONNECT, HELLO, MAX_CONTROL_PAYLOAD, MAX_DECOMPRESSED, PING, PONG, PeerReason,
    decode_disconnect, decompress, disconnect_payload, put_message_id, split_message_id,
};
use super::snappy::{WIDE_ABOVE, WideCompressor};
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
    /// The negotiated `zks_2fa` version and its first wire id, if `zks_2fa` is shared (both
    /// Hellos list the same version; ours only does when the node speaks it).
    pub zks_2fa: Option<(TwoFaVersion, u16)>,
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
    /// A message of one of the engine's subprotocols: the frame is tagged with the one it
    /// arrived on ([`Protocol::Zks`] or, where shared, [`Protocol::Zks2fa`]), its id is relative
    /// to that capability's offset and its body is decompressed.
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
    /// For bodies over [`WIDE_ABOVE`]; made on the first (a decoding half never needs one).
    wide: Option<Box<WideCompressor>>,
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
            wide: None,
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
            wide: None,
        };
        (self, twin)
    }

    /// The Hello the peer sent, once it has (also when negotiation then failed).
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

    /// The negotiated `zks_2fa` version, if `zks_2fa` is shared.
    pub fn zks_2fa_version(&self) -> Option<TwoFaVersion> {
        self.negotiated
            .as_ref()
            .and_then(|n| n.zks_2fa)
            .map(|(v, _)| v)
    }

    /// What a link on this session carries: `None` until the Hello exchange, and when zks is
    /// not shared (a link needs zks, whatever else is shared).
    pub fn link_caps(&self) -> Option<LinkCaps> {
        Some(LinkCaps {
            zks: self.zks_version()?,
            zks_2fa: self.zks_2fa_version(),
        })
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
        self.handle_capped(frame_data, usize::MAX)
    }

    /// [`handle`](Self::handle), refusing a zks or `zks_2fa` message of more than `zks_max`
    /// bytes (id plus body) before it is decompressed or copied. `eth` messages keep the
    /// protocol's cap: a peer's announcements are not cut by a main node's small zks cap.
    ///
    /// # Errors
    ///
    /// As [`handle`](Self::handle), and [`P2pError::MessageTooLarge`].
    pub fn handle_capped(
        &mut self,
        frame_data: &[u8],
        zks_max: usize,
    ) -> Result<P2pEvent, P2pError> {
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
                // Shared capabilities we do not route (none today: we only share what we
                // advertise) are as unknown as ids past every range.
                let route = if negotiated.zks.is_some_and(|(_, o)| o == cap.offset) {
                    Some(Protocol::Zks)
                } else if negotiated.zks_2fa.is_some_and(|(_, o)| o == cap.offset) {
                    Some(Protocol::Zks2fa)
                } else if negotiated.eth.is_some_and(|(_, o)| o == cap.offset) {
                    None
                } else {
                    return Err(P2pError::UnknownMessageId { got: wire_id });
                };
                // zks and zks_2fa messages are capped by the link (id + body ≤ `zks_max`): the
                // decompressed size is checked from the Snappy header, before allocating.
                let zks = route.is_some();
                let over_cap = |got: usize| zks && got.saturating_add(1) > zks_max;
                let too_large = |got: usize| P2pError::MessageTooLarge {
                    got: got.saturating_add(1),
                    max: zks_max,
                };
                let body = if negotiated.snappy {
                    let max = if zks {
                        MAX_DECOMPRESSED.min(zks_max.saturating_sub(1))
                    } else {
                        MAX_DECOMPRESSED
                    };
                    Bytes::from(decompress(payload, max).map_err(|e| match e {
                        P2pError::DecompressedTooLarge { got, .. } if over_cap(got) => {
                            too_large(got)
                        }
                        e => e,
                    })?)
                } else if over_cap(payload.len()) {
                    return Err(too_large(payload.len()));
                } else {
                    Bytes::copy_from_slice(payload)
                };
                Ok(match route {
                    Some(protocol) => P2pEvent::Zks(Frame::new(protocol, relative, body)),
                    None => P2pEvent::Eth {
                        id: relative,
                        payload: body,
                    },
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
        let zks_2fa = shared.get(caps::ZKS_2FA).and_then(|c| {
            let v = u8::try_from(c.version)
                .ok()
                .and_then(TwoFaVersion::from_number)?;
            Some((v, c.offset))
        });
        let eth = shared
            .eth_version()
            .zip(shared.get(caps::ETH).map(|c| c.offset));
        self.negotiated = Some(Negotiated {
            remote_hello: hello,
            shared,
            zks,
            zks_2fa,
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
        self.compress_into(payload, out);
    }

    /// Appends `payload` Snappy-compressed: bodies over [`WIDE_ABOVE`] with the whole body as
    /// the window, smaller ones by `snap` (whose window is then the whole body too).
    fn compress_into(&mut self, payload: &[u8], out: &mut BytesMut) {
        if payload.len() > WIDE_ABOVE {
            // Room for what a replay message usually compresses to, up front: growing a write
            // buffer that already holds other frames copies them each time.
            out.reserve(payload.len() / 2);
            self.wide
                .get_or_insert_with(Box::default)
                .compress(payload, out);
            return;
        }
        let start = out.len();
        out.resize(start + snap::raw::max_compress_len(payload.len()), 0);
        let written = self.snap_into(payload, out.get_mut(start..).unwrap_or_default());
        out.truncate(start + written);
    }

    /// Compresses `payload` with `snap` into `target`, which has
    /// [`max_compress_len`](snap::raw::max_compress_len) bytes; the bytes written.
    fn snap_into(&mut self, payload: &[u8], target: &mut [u8]) -> usize {
        // Cannot fail: the target has max_compress_len bytes and callers keep payloads far
        // below Snappy's 4 GiB input limit.
        self.encoder.compress(payload, target).unwrap_or(0)
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

    /// The first wire id of the capability `protocol` travels on, and how many ids it has,
    /// when this session carries it.
    fn route(&self, protocol: Protocol) -> Option<(u16, u8)> {
        let n = self.negotiated.as_ref()?;
        match protocol {
            Protocol::Zks => n.zks.map(|(v, o)| (o, v.message_count())),
            Protocol::Zks2fa => n.zks_2fa.map(|(v, o)| (o, v.message_count())),
            _ => None,
        }
    }

    /// Checks that a frame can be sent on this session: its protocol is shared, its id is in
    /// that capability's range, its body is within the message cap.
    ///
    /// A frame of a protocol the session does not carry is refused rather than dropped: the
    /// link contract is that a frame the engine handed over is sent or the link ends with a
    /// reason, and a `zks_2fa` message silently lost would leave the other side's verifier
    /// waiting for its timeout. The link then closes with
    /// [`SubprotocolError`](DisconnectReason::SubprotocolError), like any other frame the
    /// engine should not have sent (the engine reads [`LinkCaps`] before it sends).
    ///
    /// # Errors
    ///
    /// [`P2pError::NoSharedCapability`] before negotiation (or without zks);
    /// [`P2pError::OutgoingNotCarried`] for a protocol this session does not carry;
    /// [`P2pError::OutgoingIdOutOfRange`] / [`P2pError::OutgoingTwoFaIdOutOfRange`] for an id
    /// past its version's table; [`P2pError::OutgoingTooLarge`].
    pub fn check_zks(&self, frame: &Frame) -> Result<(), P2pError> {
        let negotiated = self
            .negotiated
            .as_ref()
            .ok_or(P2pError::NoSharedCapability)?;
        let (version, zks_offset) = negotiated.zks.ok_or(P2pError::NoSharedCapability)?;
        let out_of_range =
            |offset: u16, count: u8| frame.id >= count || u16::from(frame.id) + offset > 0x7f;
        match frame.protocol {
            Protocol::Zks => {
                if out_of_range(zks_offset, version.message_count()) {
                    return Err(P2pError::OutgoingIdOutOfRange {
                        id: frame.id,
                        version,
                    });
                }
            }
            Protocol::Zks2fa => {
                let (version, offset) = negotiated.zks_2fa.ok_or(P2pError::OutgoingNotCarried {
                    protocol: frame.protocol,
                })?;
                if out_of_range(offset, version.message_count()) {
                    return Err(P2pError::OutgoingTwoFaIdOutOfRange {
                        id: frame.id,
                        version,
                    });
                }
            }
            protocol => return Err(P2pError::OutgoingNotCarried { protocol }),
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

    /// Writes a frame's frame-data: wire id = the offset of the capability its protocol travels
    /// on + id, body compressed when Snappy is on. Call [`check_zks`](Self::check_zks) first
    /// (it says why a frame cannot go): a frame of a protocol the session does not carry, or
    /// with an id past its capability's range, is not written at all — it must not land in a
    /// neighbour's range — and the frame layer then refuses the empty frame-data, so nothing
    /// reaches the wire.
    pub fn write_zks(&mut self, frame: &Frame, out: &mut BytesMut) {
        let Some(wire) = self.wire_id(frame) else {
            return;
        };
        let snappy = self.snappy();
        self.write_payload(wire, &frame.body, snappy, out);
    }

    /// Whether message bodies are Snappy-compressed on this session.
    pub fn compresses(&self) -> bool {
        self.snappy()
    }

    /// `body` Snappy-compressed as [`write_zks`](Self::write_zks) would write it, for a caller
    /// that shares one compression among many links
    /// ([`write_zks_compressed`](Self::write_zks_compressed)).
    pub fn compress(&mut self, body: &[u8]) -> Bytes {
        if body.len() > WIDE_ABOVE {
            let mut out = BytesMut::new();
            self.compress_into(body, &mut out);
            return out.freeze();
        }
        // A zeroed allocation (calloc), not a resize of a fresh one (an explicit memset): the
        // allocator often has the memory zeroed already.
        let mut out = BytesMut::zeroed(snap::raw::max_compress_len(body.len()));
        let written = self.snap_into(body, &mut out);
        out.truncate(written);
        out.freeze()
    }

    /// As [`write_zks`](Self::write_zks), with the body already Snappy-compressed by the caller
    /// (when [`compresses`](Self::compresses)): one compression shared by many links.
    pub fn write_zks_compressed(&mut self, frame: &Frame, compressed: &[u8], out: &mut BytesMut) {
        let Some(wire) = self.wire_id(frame) else {
            return;
        };
        put_message_id(out, wire);
        out.extend_from_slice(compressed);
    }

    /// The wire id of `frame` on this session, when it is carried and in range.
    fn wire_id(&self, frame: &Frame) -> Option<u8> {
        let (offset, count) = self.route(frame.protocol)?;
        (frame.id < count)
            .then(|| u8::try_from(offset + u16::from(frame.id)).ok())
            .flatten()
            .filter(|w| *w <= 0x7f)
    }
}
