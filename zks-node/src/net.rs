//! The node's place on the network: its listen port (reserved before any file is made), its
//! devp2p transport and chain identity, and the addresses it is given.

use std::net::{IpAddr, SocketAddr};

use zks_api::SignerAddress;
use zks_devp2p::eth::ChainIdentity;
use zks_devp2p::{Devp2pConfig, Devp2pTransport, Enode, NodeKey};

use crate::CliError;

/// The client id we announce in Hello.
pub const CLIENT_ID: &str = concat!("zks/v", env!("CARGO_PKG_VERSION"));

/// The node's listen address, bound before the node creates any file and held until the
/// transport binds it: a busy port (or an address not on this host) is reported before the
/// data dir is touched.
///
/// The transport binds its own socket, so the reservation is released just before the node
/// starts ([`release`](Self::release)); between the two, another process could take the port,
/// and the node's start then fails with the same message.
#[derive(Debug)]
pub struct PortReservation {
    addr: SocketAddr,
    listener: Option<std::net::TcpListener>,
}

impl PortReservation {
    /// Binds `addr`.
    ///
    /// # Errors
    ///
    /// `cannot listen on ADDR: REASON`.
    pub fn bind(addr: SocketAddr) -> Result<Self, CliError> {
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        Ok(Self {
            addr,
            listener: Some(listener),
        })
    }

    /// The address asked for.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Frees the port for the transport.
    pub fn release(mut self) {
        drop(self.listener.take());
    }
}

/// A devp2p transport listening on `ip:port`; with `chain_id`, it speaks `eth` as a ZKsync OS
/// node of that chain does.
///
/// # Errors
///
/// When the config is invalid (it never is for these settings).
pub fn transport(
    key: NodeKey,
    ip: IpAddr,
    port: u16,
    chain_id: Option<u64>,
) -> Result<Devp2pTransport, CliError> {
    let mut builder = Devp2pConfig::builder(key)
        .listen_addr(SocketAddr::new(ip, port))
        .client_id(CLIENT_ID);
    if let Some(id) = chain_id {
        builder = builder.chain_identity(ChainIdentity::zksync_os(id));
    }
    let config = builder.build().map_err(|e| format!("devp2p config: {e}"))?;
    Ok(Devp2pTransport::new(config))
}

/// Says at start-up which chain identity the node's `eth` Status carries, or that it
/// advertises no `eth` (so reth-based nodes will not keep a session with it).
pub fn log_chain(chain_id: Option<u64>) {
    match chain_id {
        Some(id) => {
            let identity = ChainIdentity::zksync_os(id);
            tracing::info!(
                chain_id = id,
                genesis = %hex::encode(identity.genesis),
                fork_hash = %hex::encode(identity.fork_id.hash),
                "eth/66-69 advertised with this chain's Status"
            );
        }
        None => tracing::info!(
            "no --chain-id: eth is not advertised; reth-based ZKsync OS nodes will drop the session"
        ),
    }
}

/// Maps a node start failure to one line (`port in use` in particular).
pub fn start_error(addr: SocketAddr, error: &zks_api::Error) -> CliError {
    match error {
        zks_api::Error::Transport(zks_api::transport::TransportError::Listen(reason)) => {
            format!("cannot listen on {addr}: {reason}")
        }
        other => format!("cannot start the node: {other}"),
    }
}

/// Parses a verifier address `0x` + 40 hex digits.
///
/// # Errors
///
/// One line naming the text.
pub fn parse_signer(text: &str) -> Result<SignerAddress, CliError> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    let mut bytes = [0u8; 20];
    hex::decode_to_slice(digits, &mut bytes)
        .map_err(|_| format!("invalid verifier address {text:?}: want 0x + 40 hex digits"))?;
    Ok(SignerAddress(bytes))
}

/// Parses and checks an enode URL, as the transport will.
///
/// # Errors
///
/// One line naming the text.
pub fn parse_enode(text: &str) -> Result<Enode, CliError> {
    let enode: Enode = text
        .parse()
        .map_err(|e| format!("invalid enode URL {text:?}: {e}"))?;
    enode
        .dial_target()
        .map_err(|e| format!("invalid enode URL {text:?}: {e}"))?;
    Ok(enode)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_busy_port_is_reported_with_its_address() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let err = PortReservation::bind(addr).unwrap_err();
        assert!(
            err.starts_with(&format!("cannot listen on {addr}: ")),
            "{err}"
        );
        assert!(err.to_lowercase().contains("in use"), "{err}");
        drop(taken);
        // Held until released, then free for the transport.
        let reserved = PortReservation::bind(addr).unwrap();
        assert!(std::net::TcpListener::bind(addr).is_err());
        reserved.release();
        drop(std::net::TcpListener::bind(addr).unwrap());
    }
}
