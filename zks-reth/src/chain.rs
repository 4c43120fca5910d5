//! A reth network for a ZKsync OS chain: the chain spec upstream's nodes present (their
//! genesis, fork id and Status: block 0 is one constant header on every chain, the announced
//! genesis hash binds in the chain id, every fork up to Cancun is active at genesis) and a
//! `NetworkManager` set up as upstream sets its own (no discovery, no NAT; eth kept by reth,
//! zks and `zks_2fa` from [`RethTransport`]).

use std::net::SocketAddr;
use std::sync::Arc;

use alloy_consensus::Header;
use alloy_genesis::{ChainConfig, Genesis};
use alloy_primitives::{B256, U256, b256, keccak256};
use reth_chainspec::{Chain, ChainSpec, ChainSpecBuilder};
use reth_network::config::SecretKey;
use reth_network::{NetworkConfigBuilder, NetworkHandle, NetworkManager};
use reth_network_peers::pk2id;
use reth_primitives_traits::SealedHeader;
use reth_tasks::{Runtime, RuntimeBuilder, RuntimeConfig, TokioConfig};
use tokio::task::JoinHandle;

use crate::{RethTransport, RethTransportConfig};

/// Hash of block 0's header, the same on every ZKsync OS chain (H0).
pub const GENESIS_HEADER_HASH: B256 =
    b256!("ef97917ce9bd9fa7d12ad6a8d81ea26c80ac1d727acc37cbb9799ae199788dc5");

/// Block 0's header: every field zero or empty but the ommers hash (empty ommers), gas limit
/// 5000 and base fee 1 gwei; no later optional fields.
pub fn genesis_header() -> Header {
    Header {
        state_root: B256::ZERO,
        transactions_root: B256::ZERO,
        receipts_root: B256::ZERO,
        gas_limit: 5000,
        base_fee_per_gas: Some(1_000_000_000),
        ..Header::default()
    }
}

/// The genesis hash a ZKsync OS node announces for `chain_id`: keccak256(H0 ‖ chain id as a
/// 32-byte big-endian word).
pub fn genesis_hash(chain_id: u64) -> B256 {
    let mut preimage = [0u8; 64];
    preimage[..32].copy_from_slice(GENESIS_HEADER_HASH.as_slice());
    preimage[32..].copy_from_slice(&U256::from(chain_id).to_be_bytes::<32>());
    keccak256(preimage)
}

/// The chain spec of ZKsync OS chain `chain_id`: every fork up to Cancun at genesis (so the fork
/// id is `[crc32(genesis hash), 0]`), the genesis header sealed with [`genesis_hash`].
pub fn zksync_os_chain_spec(chain_id: u64) -> ChainSpec {
    let genesis = Genesis {
        config: ChainConfig {
            chain_id,
            ..ChainConfig::default()
        },
        gas_limit: 5000,
        base_fee_per_gas: Some(1_000_000_000),
        ..Genesis::default()
    };
    let mut spec = ChainSpecBuilder::default()
        .chain(Chain::from_id(chain_id))
        .genesis(genesis)
        .cancun_activated()
        .build();
    spec.genesis_header = SealedHeader::new(genesis_header(), genesis_hash(chain_id));
    spec
}

/// A reth `Runtime` on the current tokio runtime (reth's network spawns its session tasks on
/// it).
///
/// # Panics
///
/// Outside a tokio runtime.
#[allow(clippy::expect_used, reason = "documented: needs a tokio runtime")]
pub fn runtime() -> Runtime {
    let config = RuntimeConfig::default().with_tokio(TokioConfig::existing_handle(
        tokio::runtime::Handle::current(),
    ));
    RuntimeBuilder::new(config)
        .build()
        .expect("a reth runtime on the current tokio runtime")
}

/// A reth network of a ZKsync OS chain with zks on it, running.
#[derive(Debug)]
pub struct ZksyncOsNetwork {
    /// The network's handle (peers, events, our record).
    pub handle: NetworkHandle,
    /// The zks transport on it, attached: give it to `zks_api::Node::builder`.
    pub transport: RethTransport,
    /// The task running the `NetworkManager`.
    pub task: JoinHandle<()>,
}

/// Starts a reth `NetworkManager` for ZKsync OS chain `chain_id`, listening on `listen`
/// (port 0: any), with the zks subprotocols of `config` registered and the transport attached.
/// Discovery (discv4, discv5, DNS) and NAT are off: peers are dialed by address.
///
/// # Errors
///
/// reth's, when the network cannot start (the address is taken).
pub async fn start_zksync_os_network(
    secret_key: SecretKey,
    chain_id: u64,
    listen: SocketAddr,
    config: RethTransportConfig,
) -> Result<ZksyncOsNetwork, reth_network::error::NetworkError> {
    let spec = Arc::new(zksync_os_chain_spec(chain_id));
    let local_id = pk2id(&secret_key.public_key(secp256k1::SECP256K1));
    let transport = RethTransport::new(local_id, config);
    let mut builder = NetworkConfigBuilder::eth(secret_key, runtime())
        .listener_addr(listen)
        .discovery_addr(listen)
        .disable_discovery()
        .disable_nat();
    for protocol in transport.sub_protocols() {
        builder = builder.add_rlpx_sub_protocol(protocol);
    }
    let manager = NetworkManager::eth(builder.build_with_noop_provider(spec)).await?;
    let handle = manager.handle().clone();
    transport.attach(handle.clone());
    let task = tokio::spawn(manager);
    Ok(ZksyncOsNetwork {
        handle,
        transport,
        task,
    })
}
