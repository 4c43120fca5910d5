//! The chain identity a ZKsync OS node announces in its `eth` Status.
//!
//! Upstream (`zksync-os-server`) gives every chain the same block 0, whatever its genesis file
//! says: a header whose fields are all zero or empty except the ommers hash, the gas limit and
//! the base fee. Its hash is [`GENESIS_HEADER_HASH`] (H0). The chain spec then replaces the
//! genesis hash by `keccak256(H0 ‖ chain id as a 32-byte big-endian word)`, so that chains differ,
//! and activates every fork at genesis, so the EIP-2124 fork id is the CRC-32 of that hash with
//! no next fork. The network id is the chain id.

use alloy_rlp::{Encodable, Header};

use super::B256;
use super::forkid::{ForkFilter, ForkId};
use crate::rlpx::ecies::keccak256;

/// H0: the hash of the constant block-0 header every upstream chain starts from
/// (`keccak256(genesis_header_rlp())`).
pub const GENESIS_HEADER_HASH: B256 = [
    0xef, 0x97, 0x91, 0x7c, 0xe9, 0xbd, 0x9f, 0xa7, 0xd1, 0x2a, 0xd6, 0xa8, 0xd8, 0x1e, 0xa2, 0x6c,
    0x80, 0xac, 0x1d, 0x72, 0x7a, 0xcc, 0x37, 0xcb, 0xb9, 0x79, 0x9a, 0xe1, 0x99, 0x78, 0x8d, 0xc5,
];

/// The ommers hash of a block without ommers: `keccak256(rlp([]))`.
pub const EMPTY_OMMERS_HASH: B256 = [
    0x1d, 0xcc, 0x4d, 0xe8, 0xde, 0xc7, 0x5d, 0x7a, 0xab, 0x85, 0xb5, 0x67, 0xb6, 0xcc, 0xd4, 0x1a,
    0xd3, 0x12, 0x45, 0x1b, 0x94, 0x8a, 0x74, 0x13, 0xf0, 0xa1, 0x42, 0xfd, 0x40, 0xd4, 0x93, 0x47,
];

/// The gas limit of the constant block-0 header.
pub const GENESIS_GAS_LIMIT: u64 = 5000;

/// The base fee per gas of the constant block-0 header (1 gwei).
pub const GENESIS_BASE_FEE: u64 = 1_000_000_000;

/// The RLP of the constant block-0 header: the fifteen pre-London fields plus the base fee, all
/// zero or empty except [`EMPTY_OMMERS_HASH`], [`GENESIS_GAS_LIMIT`] and [`GENESIS_BASE_FEE`].
///
/// [`GENESIS_HEADER_HASH`] is its keccak-256; the constant exists so that nothing is hashed at
/// run time, and a unit test ties the two together.
pub fn genesis_header_rlp() -> Vec<u8> {
    let zero_hash: B256 = [0; 32];
    let fields: [&dyn Encodable; 16] = [
        &zero_hash,         // parent hash
        &EMPTY_OMMERS_HASH, // ommers hash
        &[0u8; 20],         // beneficiary
        &zero_hash,         // state root
        &zero_hash,         // transactions root
        &zero_hash,         // receipts root
        &[0u8; 256],        // logs bloom
        &0u64,              // difficulty
        &0u64,              // number
        &GENESIS_GAS_LIMIT, // gas limit
        &0u64,              // gas used
        &0u64,              // timestamp
        &[0u8; 0],          // extra data
        &zero_hash,         // mix hash
        &[0u8; 8],          // nonce
        &GENESIS_BASE_FEE,  // base fee per gas
    ];
    let payload_length = fields.iter().map(|f| f.length()).sum();
    let mut out = Vec::with_capacity(payload_length + 3);
    Header {
        list: true,
        payload_length,
    }
    .encode(&mut out);
    for field in fields {
        field.encode(&mut out);
    }
    out
}

/// What a node tells its peers about its chain in the `eth` Status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChainIdentity {
    /// The network id (for ZKsync OS: the chain id).
    pub network_id: u64,
    /// The genesis hash as the chain spec reports it (for ZKsync OS: the patched hash).
    pub genesis: B256,
    /// The EIP-2124 fork id at our head.
    pub fork_id: ForkId,
}

impl ChainIdentity {
    /// The identity an upstream ZKsync OS node on `chain_id` announces: network id = chain id,
    /// genesis = `keccak256(H0 ‖ chain_id as a 32-byte big-endian word)`, fork id =
    /// `{ crc32(genesis), next: 0 }`.
    pub fn zksync_os(chain_id: u64) -> Self {
        let mut word = [0u8; 32];
        word[24..].copy_from_slice(&chain_id.to_be_bytes());
        let genesis = keccak256(&[&GENESIS_HEADER_HASH, &word]);
        Self {
            network_id: chain_id,
            genesis,
            fork_id: ForkId::genesis_only(&genesis),
        }
    }

    /// The EIP-2124 filter for peers' fork ids: our fork id at our head, which for an upstream
    /// node is always the genesis (block 0, timestamp 0).
    pub const fn fork_filter(&self) -> ForkFilter {
        ForkFilter::new(self.fork_id, 0, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genesis_header_hashes_to_h0() {
        assert_eq!(keccak256(&[&genesis_header_rlp()]), GENESIS_HEADER_HASH);
        assert_eq!(keccak256(&[&[0xc0]]), EMPTY_OMMERS_HASH);
    }

    #[test]
    fn chain_270() {
        let id = ChainIdentity::zksync_os(270);
        assert_eq!(id.network_id, 270);
        assert_eq!(
            hex::encode(id.genesis),
            "622307310f77330a662d1ceae0cc7c6947544afd48d62f83e47d6f9d270c824d"
        );
        assert_eq!(
            id.fork_id,
            ForkId {
                hash: [0xd3, 0x38, 0xc9, 0xba],
                next: 0
            }
        );
        assert_ne!(ChainIdentity::zksync_os(271).genesis, id.genesis);
    }
}
