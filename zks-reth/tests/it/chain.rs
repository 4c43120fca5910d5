//! The chain spec: upstream's genesis and fork id, as zks-devp2p has them.

use alloy_primitives::keccak256;
use reth_chainspec::Head;
use zks_devp2p::eth::ChainIdentity;
use zks_reth::chain::{GENESIS_HEADER_HASH, genesis_hash, genesis_header};
use zks_reth::zksync_os_chain_spec;

/// Block 0's header hashes to H0; the announced genesis of chains 270, 506, 6565, 6566 and
/// 8022833 is keccak256(H0 ‖ chain id) and equals zks-devp2p's; the fork id is
/// `[crc32(genesis), 0]`, equal to zks-devp2p's; the spec's chain id is the chain id.
#[test]
fn chain_spec_has_upstreams_genesis_and_fork_id() {
    let header = genesis_header();
    assert_eq!(keccak256(alloy_rlp::encode(&header)), GENESIS_HEADER_HASH);
    for chain_id in [270u64, 506, 6565, 6566, 8_022_833] {
        let spec = zksync_os_chain_spec(chain_id);
        let ours = ChainIdentity::zksync_os(chain_id);
        assert_eq!(spec.chain().id(), chain_id);
        assert_eq!(spec.genesis_hash(), genesis_hash(chain_id));
        assert_eq!(spec.genesis_hash().0, ours.genesis, "chain {chain_id}");
        let fork_id = spec.fork_id(&Head {
            hash: spec.genesis_hash(),
            ..Head::default()
        });
        let theirs = ours.fork_id;
        assert_eq!(fork_id.hash.0, theirs.hash, "chain {chain_id}");
        assert_eq!(fork_id.next, 0);
        assert_eq!(theirs.next, 0);
        assert_eq!(
            fork_id.hash.0,
            crc32fast::hash(spec.genesis_hash().as_slice()).to_be_bytes()
        );
    }
}
