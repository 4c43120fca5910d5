//! The Hello message: strict to send, lenient to receive.

use crate::caps::Capability;
use crate::enode::NodeId;
use crate::error::P2pError;
use crate::rlp;

/// The base protocol version we send (5: Snappy).
pub const P2P_VERSION: u64 = 5;

/// The largest Hello (and first frame) we accept or send.
pub const MAX_HELLO_SIZE: usize = 2048;

/// The most capabilities we read from a Hello.
pub const MAX_CAPABILITIES: usize = 64;

/// Longest capability name we read.
const MAX_CAP_NAME: usize = 32;

/// A Hello message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    /// The base protocol version.
    pub protocol_version: u64,
    /// Free-form client name.
    pub client_id: String,
    /// Advertised capabilities.
    pub capabilities: Vec<Capability>,
    /// Legacy listen port (ignored on receipt; may be non-canonical).
    pub listen_port: u64,
    /// The sender's node id.
    pub node_id: NodeId,
}

const WHAT: &str = "hello";

fn bad(reason: &'static str) -> P2pError {
    P2pError::Malformed { what: WHAT, reason }
}

impl Hello {
    /// Encodes the msg-data (without the message id): a plain 5-element list.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let caps_payload: usize = self.capabilities.iter().map(cap_len).sum();
        let caps_len = list_len(caps_payload);
        let payload = rlp::uint_len(self.protocol_version)
            + rlp::string_len(self.client_id.as_bytes())
            + caps_len
            + rlp::uint_len(self.listen_port)
            + rlp::string_len(self.node_id.as_bytes());
        rlp::put_list_header(out, payload);
        rlp::put_uint(out, self.protocol_version);
        rlp::put_string(out, self.client_id.as_bytes());
        rlp::put_list_header(out, caps_payload);
        for cap in &self.capabilities {
            rlp::put_list_header(out, cap_payload(cap));
            rlp::put_string(out, cap.name.as_bytes());
            rlp::put_uint(out, u64::from(cap.version));
        }
        rlp::put_uint(out, self.listen_port);
        rlp::put_string(out, self.node_id.as_bytes());
    }

    /// Decodes msg-data leniently: extra list elements and trailing bytes are ignored, the
    /// listen port is read as raw bytes, unknown capability names are kept.
    ///
    /// # Errors
    ///
    /// [`P2pError::HelloTooLarge`], [`P2pError::TooManyCapabilities`],
    /// [`P2pError::InvalidIdentity`] (node id not 64 bytes), [`P2pError::Malformed`].
    pub fn decode(payload: &[u8]) -> Result<Self, P2pError> {
        if payload.len() > MAX_HELLO_SIZE {
            return Err(P2pError::HelloTooLarge {
                got: payload.len(),
                max: MAX_HELLO_SIZE,
            });
        }
        let mut buf = payload;
        let mut list = rlp::next_list(&mut buf).map_err(bad)?;
        let protocol_version = rlp::next_uint_lenient(&mut list).map_err(bad)?;
        let client_id =
            String::from_utf8_lossy(rlp::next_string(&mut list).map_err(bad)?).into_owned();
        let mut caps = rlp::next_list(&mut list).map_err(bad)?;
        let mut capabilities = Vec::new();
        while !caps.is_empty() {
            if capabilities.len() == MAX_CAPABILITIES {
                let mut count = capabilities.len();
                while !caps.is_empty() {
                    rlp::next_item(&mut caps).map_err(bad)?;
                    count += 1;
                }
                return Err(P2pError::TooManyCapabilities {
                    got: count,
                    max: MAX_CAPABILITIES,
                });
            }
            let mut cap = rlp::next_list(&mut caps).map_err(bad)?;
            let name = rlp::next_string(&mut cap).map_err(bad)?;
            if name.len() > MAX_CAP_NAME {
                return Err(bad("capability name too long"));
            }
            let name = std::str::from_utf8(name).map_err(|_| bad("capability name not utf-8"))?;
            let version = rlp::next_uint_lenient(&mut cap).map_err(bad)?;
            capabilities.push(Capability::new(
                name,
                u32::try_from(version).unwrap_or(u32::MAX),
            ));
        }
        let listen_port = rlp::next_uint_lenient(&mut list).map_err(bad)?;
        let node_id = rlp::next_string(&mut list).map_err(bad)?;
        let node_id = NodeId::from_slice(node_id).ok_or(P2pError::InvalidIdentity)?;
        Ok(Self {
            protocol_version,
            client_id,
            capabilities,
            listen_port,
            node_id,
        })
    }
}

fn cap_payload(cap: &Capability) -> usize {
    rlp::string_len(cap.name.as_bytes()) + rlp::uint_len(u64::from(cap.version))
}

fn cap_len(cap: &Capability) -> usize {
    list_len(cap_payload(cap))
}

fn list_len(payload: usize) -> usize {
    alloy_rlp::Header {
        list: true,
        payload_length: payload,
    }
    .length()
        + payload
}
