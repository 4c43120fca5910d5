//! Typed ZKsync OS replay records (feature `zksync-os`).
//!
//! [`V3Record`] is upstream's v3 `ReplayRecord` (`lib/network/src/wire/replays/v3.rs` in
//! `zksync-os-server`), the record that `zks/4` and `zks/5` carry in `BlockReplays`. It
//! implements [`ReplayRecord`](crate::ReplayRecord) with an encoding byte-identical to
//! upstream's golden vectors (`zks-wire/tests/vectors/upstream/zks5.json`, `zks4.json`).
//! [`V3RecordBytes`] is the same record kept as its bytes, for stores and relays that pass
//! records through unchanged.
//!
//! # Layout
//!
//! One RLP list of 10 fields, in this order:
//!
//! | # | field | encoding |
//! |---|---|---|
//! | 0 | `block_context` | list of 13 fields, below |
//! | 1 | `starting_l1_priority_id` | `u64` |
//! | 2 | `transactions` | list of RLP items, one per transaction (alloy network encoding), kept raw |
//! | 3 | `previous_block_timestamp` | `u64` |
//! | 4 | `protocol_version` | list of exactly 3 `u64`: `[major, minor, patch]` |
//! | 5 | `block_output_hash` | 32-byte string |
//! | 6 | `force_preimages` | list of `[hash (32-byte string), preimage (bytes)]` |
//! | 7 | `starting_interop_root_id` | `u64` |
//! | 8 | `starting_migration_number` | `u64` |
//! | 9 | `starting_interop_fee_number` | `u64` |
//!
//! `block_context`: `chain_id u64`, `block_number u64`, `block_hashes` (list of exactly 256
//! [`U256`], index 255 = the parent), `timestamp u64`, `eip1559_basefee U256`,
//! `pubdata_price U256`, `native_price U256`, `coinbase` (20-byte string), `gas_limit u64`,
//! `pubdata_limit u64`, `mix_hash U256`, `execution_version u32`, `blob_fee U256`.
//!
//! Integers (`u64`, `u32`, [`U256`]) are canonical RLP integers: big-endian without leading
//! zeros, zero as `0x80`.
//!
//! # Versions
//!
//! The layout does not depend on the negotiated version: encode and decode ignore their
//! [`ZksVersion`](crate::ZksVersion) argument. Upstream sends v3 records on `zks/4` and `zks/5`
//! only (`zks/3` carried v2 records, a different layout). Both record types say so in
//! [`ReplayRecord::VERSIONS`](crate::ReplayRecord::VERSIONS) ([`VERSIONS`]): a node that serves
//! or applies them advertises only zks/4 and zks/5, so a peer limited to zks/1–3 shares no
//! version with it and is refused at the handshake rather than sent records it cannot read.
//!
//! # Decoding
//!
//! A record comes from the network, so decoding is strict and bounded:
//! - every list must be used up exactly (no trailing bytes inside any list, nor after the
//!   record);
//! - integers and byte strings must be canonical, so anything that decodes re-encodes to
//!   exactly the bytes it came from;
//! - every size is checked from RLP headers, and list lengths are counted by reading headers
//!   only, before anything is allocated for them (see [`limits`]);
//! - transactions and preimages are zero-copy slices of the record's buffer.
//!
//! Errors are [`RecordError`](crate::RecordError)s naming the list and field, for example
//! `block_context.block_hashes: expected array of length 256, got 255`.
//!
//! Non-goals: transactions are not decoded (they stay opaque RLP items), and no semantic check
//! is made (hashes, fees, the execution version against the protocol minor, consecutive block
//! numbers): those belong to the node.

mod bytes;
mod cursor;
mod u256;
mod v3;

pub use bytes::V3RecordBytes;
pub use u256::U256;
pub use v3::{BlockContext, V3Record};

/// The zks versions whose `BlockReplays` carry v3 records: zks/4 and zks/5. zks/1–3 carried
/// other layouts (zks/3 upstream's v2 records; zks/1–3 here the node team's own), so a node
/// serving v3 records advertises only these two ([`ReplayRecord::VERSIONS`](crate::ReplayRecord::VERSIONS)).
pub const VERSIONS: crate::VersionSet =
    crate::VersionSet::only(crate::ZksVersion::V4).with(crate::ZksVersion::V5);

/// Bounds of a v3 record's decoder, all derived from the 16 MiB message cap.
///
/// A record travels inside one `BlockReplays` message, so no record can be larger than
/// [`MAX_MESSAGE_BYTES`](crate::limits::MAX_MESSAGE_BYTES). The count caps below keep the
/// bookkeeping a hostile record can make us allocate (one 32-byte `Bytes` handle per
/// transaction, 64 bytes per preimage entry) to a few MiB, far below what the payload bytes
/// themselves may take.
pub mod limits {
    use crate::limits::MAX_MESSAGE_BYTES;

    /// Number of block hashes in `block_context`: exactly this many, on both sides.
    pub const BLOCK_HASHES: usize = 256;

    /// Largest record accepted, in bytes: a record must fit in one message.
    pub const MAX_RECORD_BYTES: usize = MAX_MESSAGE_BYTES;

    /// Most transactions one record may carry.
    ///
    /// `MAX_MESSAGE_BYTES / 256`: a signed transaction envelope takes well over 100 bytes
    /// (a signature alone is 65), so a full message holds fewer than this, and a 100M-gas block
    /// of 21,000-gas transfers is under 4,800 transactions. Costs at most 2 MiB of handles.
    pub const MAX_TRANSACTIONS_PER_RECORD: usize = MAX_MESSAGE_BYTES / 256;

    /// Most forced preimages one record may carry.
    ///
    /// `MAX_MESSAGE_BYTES / 1024`: preimages are bytecodes force-deployed by upgrade
    /// transactions, a handful per upgrade block and each far larger than 1 KiB on average.
    /// Costs at most 1 MiB of entries.
    pub const MAX_FORCE_PREIMAGES_PER_RECORD: usize = MAX_MESSAGE_BYTES / 1024;
}
