//! Sans-IO building blocks for the `eth` capability, as a reth-based ZKsync OS node needs it.
//!
//! A stock reth peer only keeps a session whose `eth` Status it accepts, so a node that talks
//! `zks` to reth must also speak just enough `eth`: send the Status an upstream node sends, check
//! the peer's Status as reth does, and then stay passive (accept well-formed `eth` traffic and
//! ignore it). This module has the pieces, all pure functions on byte slices:
//!
//! - [`ChainIdentity`]: network id, patched genesis hash and fork id of a ZKsync OS chain
//!   ([`ChainIdentity::zksync_os`]);
//! - [`Status`]: the eth/66–69 Status message, encoded exactly as upstream does and decoded
//!   within [`MAX_STATUS_SIZE`];
//! - [`validate`]: reth's checks on a peer's Status, with the EIP-2124 [`ForkFilter`];
//! - [`SharedCapabilities`]: capability negotiation and the message-id offset table for every
//!   capability (`eth`, `zks`, `zks_2fa`, …);
//! - [`EthMessageId`] and [`BlockRangeUpdate`]: classify incoming `eth` ids and decode the one
//!   announcement (eth/69's BlockRangeUpdate) that a peer sends on its own.
//!
//! Non-goals: no socket, clock or task lives here; the session that sends our Status, applies
//! the 10 s Status timeout and disconnects on an error is the link pump's job. There is no
//! decoder for blocks, transactions or receipts: a passive node ignores them.

mod error;
mod forkid;
mod identity;
mod message;
mod offsets;
mod status;
mod validate;
mod version;

pub use error::{EthMessageError, GenesisMismatch, OffsetsError, StatusError};
pub use forkid::{ForkFilter, ForkId, ForkRejection, TIMESTAMP_BEFORE_ETHEREUM_MAINNET};
pub use identity::{
    ChainIdentity, EMPTY_OMMERS_HASH, GENESIS_BASE_FEE, GENESIS_GAS_LIMIT, GENESIS_HEADER_HASH,
    genesis_header_rlp,
};
pub use message::{
    BlockRangeUpdate, EthMessageId, EthMessageKind, MAX_BLOCK_RANGE_UPDATE_SIZE, check_envelope,
};
pub use offsets::{
    BASE_PROTOCOL_LENGTH, ETH, SharedCapabilities, ZKS_2FA, ZKS_RAFT, known_capability,
    known_message_count,
};
pub use status::{
    MAX_STATUS_SIZE, MAX_TOTAL_DIFFICULTY_BITS, Status, StatusEth69, StatusLegacy, TotalDifficulty,
};
pub use validate::validate;
pub use version::EthVersion;

/// A 32-byte hash (alloy's `B256`), big-endian as on the wire.
pub type B256 = [u8; 32];
