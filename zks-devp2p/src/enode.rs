//! Node ids and `enode://` URLs.
//!
//! An enode URL is `enode://<128 hex node id>@<host>:<tcp port>[?discport=<udp port>]`. The host
//! is an IPv4 literal, a bracketed IPv6 literal or a DNS name; `enode://<id>` alone is an
//! "incomplete" node that names an identity but cannot be dialed.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use k256::PublicKey;
use k256::elliptic_curve::sec1::ToSec1Point;
use zks_api::PeerId;

/// A devp2p node id: the 64-byte uncompressed secp256k1 public key without the `04` prefix.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub [u8; 64]);

impl NodeId {
    /// The node id of a public key.
    pub fn from_public_key(key: &PublicKey) -> Self {
        let point = key.to_sec1_point(false);
        let mut id = [0u8; 64];
        // An uncompressed SEC1 point is 65 bytes: `04 || x || y`.
        if let Some(xy) = point.as_bytes().get(1..65) {
            id.copy_from_slice(xy);
        }
        Self(id)
    }

    /// The public key, if the id is a point on the curve.
    ///
    /// # Errors
    ///
    /// [`EnodeError::InvalidPublicKey`] when it is not.
    pub fn public_key(&self) -> Result<PublicKey, EnodeError> {
        let mut sec1 = [0u8; 65];
        sec1[0] = 0x04;
        sec1[1..].copy_from_slice(&self.0);
        PublicKey::from_sec1_bytes(&sec1).map_err(|_| EnodeError::InvalidPublicKey)
    }

    /// A node id from 64 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 64]>::try_from(bytes).ok().map(Self)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }

    /// The transport-neutral peer id (the same 64 bytes).
    pub fn to_peer_id(&self) -> PeerId {
        PeerId::new(self.0)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = hex::encode(self.0);
        write!(f, "NodeId({}…{})", &hex[..8], &hex[120..])
    }
}

/// Why an enode URL does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnodeError {
    /// It does not start with `enode://`.
    #[error("missing enode:// scheme")]
    MissingScheme,
    /// The id is not 128 hex characters.
    #[error("invalid public key (wrong length, want 128 hex chars)")]
    WrongIdLength,
    /// The id is not hex, or not a curve point.
    #[error("invalid public key")]
    InvalidPublicKey,
    /// The host is empty or malformed.
    #[error("invalid host")]
    InvalidHost,
    /// The TCP port is not a decimal u16.
    #[error("invalid port")]
    InvalidPort,
    /// The `discport` query parameter is not a decimal u16.
    #[error("invalid discport in query")]
    InvalidDiscport,
    /// The URL names no address, so it cannot be dialed.
    #[error("enode has no address")]
    NoAddress,
}

/// A host: IP literal or DNS name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    /// An IPv4 or IPv6 literal.
    Ip(IpAddr),
    /// A DNS name (resolved when dialing).
    Dns(String),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Self::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
            Self::Dns(name) => f.write_str(name),
        }
    }
}

/// Where a node listens.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EnodeAddr {
    /// The host.
    pub host: Host,
    /// The RLPx TCP port.
    pub tcp_port: u16,
    /// The discovery UDP port (equal to `tcp_port` unless `?discport=` says otherwise).
    pub udp_port: u16,
}

/// A parsed `enode://` URL.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Enode {
    /// The node id.
    pub id: NodeId,
    /// The address, absent for an incomplete node.
    pub addr: Option<EnodeAddr>,
}

impl Enode {
    /// An enode for `id` listening at `ip:port` (UDP = TCP).
    pub fn new(id: NodeId, ip: IpAddr, port: u16) -> Self {
        Self {
            id,
            addr: Some(EnodeAddr {
                host: Host::Ip(ip),
                tcp_port: port,
                udp_port: port,
            }),
        }
    }

    /// `host:port` for dialing.
    ///
    /// # Errors
    ///
    /// [`EnodeError::NoAddress`] for an incomplete node.
    pub fn dial_target(&self) -> Result<(String, u16), EnodeError> {
        let addr = self.addr.as_ref().ok_or(EnodeError::NoAddress)?;
        let host = match &addr.host {
            Host::Ip(ip) => ip.to_string(),
            Host::Dns(name) => name.clone(),
        };
        Ok((host, addr.tcp_port))
    }
}

impl FromStr for Enode {
    type Err = EnodeError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let rest = url
            .strip_prefix("enode://")
            .ok_or(EnodeError::MissingScheme)?;
        let (id_hex, addr) = match rest.split_once('@') {
            Some((id, addr)) => (id, Some(addr)),
            None => (rest, None),
        };
        if id_hex.len() != 128 {
            return Err(EnodeError::WrongIdLength);
        }
        let mut id = [0u8; 64];
        hex::decode_to_slice(id_hex, &mut id).map_err(|_| EnodeError::InvalidPublicKey)?;
        let id = NodeId(id);
        id.public_key()?;
        let Some(addr) = addr else {
            return Ok(Self { id, addr: None });
        };
        let (hostport, query) = match addr.split_once('?') {
            Some((hp, q)) => (hp, Some(q)),
            None => (addr, None),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (ip, port) = v6.split_once("]:").ok_or(EnodeError::InvalidHost)?;
            let ip = ip.parse().map_err(|_| EnodeError::InvalidHost)?;
            (Host::Ip(IpAddr::V6(ip)), port)
        } else {
            let (host, port) = hostport.rsplit_once(':').ok_or(EnodeError::InvalidPort)?;
            let host = match host.parse::<IpAddr>() {
                Ok(ip) => Host::Ip(ip),
                Err(_) if is_dns_name(host) => Host::Dns(host.to_owned()),
                Err(_) => return Err(EnodeError::InvalidHost),
            };
            (host, port)
        };
        let tcp_port = parse_port(port).ok_or(EnodeError::InvalidPort)?;
        let mut udp_port = tcp_port;
        if let Some(query) = query {
            for pair in query.split('&') {
                if let Some(value) = pair.strip_prefix("discport=") {
                    udp_port = parse_port(value).ok_or(EnodeError::InvalidDiscport)?;
                }
            }
        }
        Ok(Self {
            id,
            addr: Some(EnodeAddr {
                host,
                tcp_port,
                udp_port,
            }),
        })
    }
}

impl fmt::Display for Enode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "enode://{}", self.id)?;
        if let Some(addr) = &self.addr {
            write!(f, "@{}:{}", addr.host, addr.tcp_port)?;
            if addr.udp_port != addr.tcp_port {
                write!(f, "?discport={}", addr.udp_port)?;
            }
        }
        Ok(())
    }
}

fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn is_dns_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_round_trip() {
        let id = crate::key::NodeKey::generate().id();
        let enode = Enode::new(
            id,
            "127.0.0.1".parse().unwrap_or(IpAddr::from([127, 0, 0, 1])),
            30303,
        );
        let text = enode.to_string();
        assert_eq!(text.parse::<Enode>(), Ok(enode));
        assert_eq!(
            "enode://00@1.2.3.4:5".parse::<Enode>(),
            Err(EnodeError::WrongIdLength)
        );
    }
}
