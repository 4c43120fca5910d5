//! What a link is: [`LinkInfo`], fixed when the link is established, and the peer's `eth`
//! Status where the transport exchanged one ([`EthStatus`]).

use std::fmt;

use crate::wire::LinkCaps;
use crate::{Direction, PeerAddr, PeerId};

/// Facts about one link, fixed when it is established.
///
/// Built by transports with [`LinkInfo::new`] (and [`LinkInfo::with_eth`] where the link ran the
/// `eth` Status exchange); read by everyone else.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LinkInfo {
    /// The authenticated identity of the peer.
    pub peer: PeerId,
    /// The peer's address as the transport sees it.
    pub remote_addr: PeerAddr,
    /// Who opened the link.
    pub direction: Direction,
    /// The negotiated subprotocols: the zks version, and `zks_2fa` where both sides speak it.
    pub caps: LinkCaps,
    /// The peer's `eth` Status, as it sent it and after the transport checked it against our
    /// chain: `None` where the link shares no `eth` (a node without a chain identity, memnet,
    /// libp2p).
    pub eth: Option<EthStatus>,
}

impl LinkInfo {
    /// The facts of a link without `eth`.
    pub const fn new(
        peer: PeerId,
        remote_addr: PeerAddr,
        direction: Direction,
        caps: LinkCaps,
    ) -> Self {
        Self {
            peer,
            remote_addr,
            direction,
            caps,
            eth: None,
        }
    }

    /// With the peer's `eth` Status.
    #[must_use]
    pub const fn with_eth(mut self, status: EthStatus) -> Self {
        self.eth = Some(status);
        self
    }
}

impl fmt::Display for LinkInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} ({}",
            self.peer, self.direction, self.remote_addr, self.caps
        )?;
        if let Some(eth) = &self.eth {
            write!(f, "; {eth}")?;
        }
        f.write_str(")")
    }
}

/// What a peer said in its `eth` Status: the chain it is on and, from eth/69, the blocks it
/// claims. Transport-neutral, so the node runtime, events and logs can show it whatever
/// transport ran the exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct EthStatus {
    /// The negotiated `eth` version (66–69).
    pub version: u8,
    /// The network id (a ZKsync OS chain's chain id).
    pub network_id: u64,
    /// The genesis block hash.
    pub genesis: [u8; 32],
    /// The EIP-2124 fork id: the fork hash ...
    pub fork_hash: [u8; 4],
    /// ... and the next fork's block or time (0: none scheduled).
    pub fork_next: u64,
    /// eth/69: the earliest and latest block the peer says it serves (upstream ZKsync OS
    /// nodes send `0..=0`); `None` before eth/69.
    pub blocks: Option<(u64, u64)>,
}

impl EthStatus {
    /// A Status without a block range (eth/66–68).
    pub const fn new(
        version: u8,
        network_id: u64,
        genesis: [u8; 32],
        fork_hash: [u8; 4],
        fork_next: u64,
    ) -> Self {
        Self {
            version,
            network_id,
            genesis,
            fork_hash,
            fork_next,
            blocks: None,
        }
    }

    /// With eth/69's `earliest..=latest`.
    #[must_use]
    pub const fn with_blocks(mut self, earliest: u64, latest: u64) -> Self {
        self.blocks = Some((earliest, latest));
        self
    }
}

impl fmt::Display for EthStatus {
    /// `eth/69 network 270 genesis 0x3d5c…9e1a fork 0x8f1b2c3d/0 blocks 0..=0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = &self.genesis;
        write!(
            f,
            "eth/{} network {} genesis 0x{:02x}{:02x}…{:02x}{:02x} fork 0x{:02x}{:02x}{:02x}{:02x}/{}",
            self.version,
            self.network_id,
            g[0],
            g[1],
            g[30],
            g[31],
            self.fork_hash[0],
            self.fork_hash[1],
            self.fork_hash[2],
            self.fork_hash[3],
            self.fork_next
        )?;
        if let Some((earliest, latest)) = self.blocks {
            write!(f, " blocks {earliest}..={latest}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ZksVersion;

    #[test]
    fn display_names_the_chain_and_the_block_range() {
        let mut genesis = [0u8; 32];
        genesis[0] = 0x3d;
        genesis[1] = 0x5c;
        genesis[30] = 0x9e;
        genesis[31] = 0x1a;
        let status =
            EthStatus::new(69, 270, genesis, [0x8f, 0x1b, 0x2c, 0x3d], 0).with_blocks(0, 7);
        assert_eq!(
            status.to_string(),
            "eth/69 network 270 genesis 0x3d5c…9e1a fork 0x8f1b2c3d/0 blocks 0..=7"
        );
        let legacy = EthStatus::new(68, 270, genesis, [0x8f, 0x1b, 0x2c, 0x3d], 5);
        assert_eq!(
            legacy.to_string(),
            "eth/68 network 270 genesis 0x3d5c…9e1a fork 0x8f1b2c3d/5"
        );
        let info = LinkInfo::new(
            PeerId::new("mn"),
            PeerAddr::new("mn-addr"),
            Direction::Outbound,
            LinkCaps::zks(ZksVersion::V5),
        );
        let plain = info.to_string();
        assert!(!plain.contains("eth/"), "{plain}");
        let with = info.with_eth(legacy).to_string();
        assert_eq!(with, format!("{}; {legacy})", plain.trim_end_matches(')')));
    }
}
