//! Addresses: multiaddrs ending in `/p2p/<peer id>`, and the mapping to [`zks_api::PeerId`].

use std::net::SocketAddr;

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use zks_api::PeerAddr;
use zks_api::transport::TransportError;

/// The transport-neutral id of a libp2p peer: its peer id bytes (the multihash).
pub fn to_zks_peer(peer: &PeerId) -> zks_api::PeerId {
    zks_api::PeerId::new(peer.to_bytes())
}

/// The libp2p peer id behind a [`zks_api::PeerId`] made by [`to_zks_peer`].
pub fn from_zks_peer(peer: &zks_api::PeerId) -> Option<PeerId> {
    PeerId::from_bytes(peer.as_bytes()).ok()
}

/// Parses a dialable address: a multiaddr whose last component is `/p2p/<peer id>`. Returns the
/// peer and the address without that component.
///
/// # Errors
///
/// [`TransportError::InvalidAddress`] when it does not parse or names no peer.
pub fn parse(addr: &PeerAddr) -> Result<(PeerId, Multiaddr), TransportError> {
    let invalid = |reason: &str| TransportError::InvalidAddress {
        addr: addr.clone(),
        reason: reason.into(),
    };
    let mut multiaddr: Multiaddr = addr
        .as_str()
        .parse()
        .map_err(|e: libp2p::multiaddr::Error| invalid(&e.to_string()))?;
    match multiaddr.pop() {
        Some(Protocol::P2p(peer)) => Ok((peer, multiaddr)),
        _ => Err(invalid("the address must end in /p2p/<peer id>")),
    }
}

/// `addr` with `/p2p/<peer>` appended (once).
pub fn with_peer(addr: &Multiaddr, peer: PeerId) -> Multiaddr {
    let mut addr = addr.clone();
    if matches!(addr.iter().last(), Some(Protocol::P2p(_))) {
        addr.pop();
    }
    addr.with(Protocol::P2p(peer))
}

/// The socket address of a `/ip4|ip6/<ip>/tcp/<port>` multiaddr.
pub fn socket_addr(addr: &Multiaddr) -> Option<SocketAddr> {
    let mut parts = addr.iter();
    let ip = match parts.next()? {
        Protocol::Ip4(ip) => ip.into(),
        Protocol::Ip6(ip) => ip.into(),
        _ => return None,
    };
    let Protocol::Tcp(port) = parts.next()? else {
        return None;
    };
    match parts.next() {
        None | Some(Protocol::P2p(_)) => Some(SocketAddr::new(ip, port)),
        Some(_) => None,
    }
}

/// A listen address others can dial: an unspecified IP is shown as loopback.
pub(crate) fn dialable(addr: &Multiaddr) -> Multiaddr {
    addr.iter()
        .map(|p| match p {
            Protocol::Ip4(ip) if ip.is_unspecified() => {
                Protocol::Ip4(std::net::Ipv4Addr::LOCALHOST)
            }
            Protocol::Ip6(ip) if ip.is_unspecified() => {
                Protocol::Ip6(std::net::Ipv6Addr::LOCALHOST)
            }
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_p2p_addresses() {
        let peer = PeerId::random();
        let text = format!("/ip4/127.0.0.1/tcp/30304/p2p/{peer}");
        let (got, rest) = parse(&PeerAddr::new(&text)).unwrap();
        assert_eq!(got, peer);
        assert_eq!(rest.to_string(), "/ip4/127.0.0.1/tcp/30304");
        assert_eq!(with_peer(&rest, peer).to_string(), text);
        assert_eq!(from_zks_peer(&to_zks_peer(&peer)), Some(peer));
        for bad in [
            "/ip4/127.0.0.1/tcp/30304",
            "enode://x@1.2.3.4:1",
            "",
            "/p2p/nope",
        ] {
            assert!(
                matches!(
                    parse(&PeerAddr::new(bad)),
                    Err(TransportError::InvalidAddress { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn socket_addrs() {
        let a: Multiaddr = "/ip4/0.0.0.0/tcp/5".parse().unwrap();
        assert_eq!(socket_addr(&a), Some(SocketAddr::from(([0, 0, 0, 0], 5))));
        assert_eq!(dialable(&a).to_string(), "/ip4/127.0.0.1/tcp/5");
        let quic: Multiaddr = "/ip4/1.2.3.4/udp/5/quic-v1".parse().unwrap();
        assert_eq!(socket_addr(&quic), None);
    }
}
