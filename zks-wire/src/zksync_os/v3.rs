//! The v3 replay record and its block context: types, codec, and a synthetic builder.

use std::fmt;

use alloy_rlp::{Encodable, Header};
use bytes::Bytes;

use super::U256;
use super::cursor::Cursor;
use super::limits::{
    BLOCK_HASHES, MAX_FORCE_PREIMAGES_PER_RECORD, MAX_RECORD_BYTES, MAX_TRANSACTIONS_PER_RECORD,
};
use crate::{BlockNumber, RecordError, ReplayRecord, ZksVersion};

/// Most bytes the payload of `block_hashes` can take: 256 hashes of at most 33 bytes each.
const MAX_BLOCK_HASHES_PAYLOAD: usize = BLOCK_HASHES * 33;

/// Most bytes the payload of `protocol_version` can take: three `u64` of at most 9 bytes each.
const MAX_PROTOCOL_VERSION_PAYLOAD: usize = 3 * 9;

/// Most bytes the payload of `block_context` can take, field by field.
const MAX_BLOCK_CONTEXT_PAYLOAD: usize = 9 // chain_id
    + 9 // block_number
    + 3 + MAX_BLOCK_HASHES_PAYLOAD // block_hashes
    + 9 // timestamp
    + 3 * 33 // eip1559_basefee, pubdata_price, native_price
    + 21 // coinbase
    + 9 + 9 // gas_limit, pubdata_limit
    + 33 // mix_hash
    + 5 // execution_version
    + 33; // blob_fee

/// The block a record executes: the `block_context` list of a v3 record (13 fields).
///
/// Field order is the wire order.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BlockContext {
    /// The chain (270 on a local ZKsync OS chain).
    pub chain_id: u64,
    /// This block's number.
    pub block_number: BlockNumber,
    /// The hashes of the 256 blocks before this one, oldest first: index 255 is the parent
    /// (block `block_number - 1`), and slots before block 0 are zero. Exactly 256 on the wire.
    pub block_hashes: Box<[U256; BLOCK_HASHES]>,
    /// Block timestamp, in seconds.
    pub timestamp: u64,
    /// EIP-1559 base fee per gas.
    pub eip1559_basefee: U256,
    /// Price of one byte of pubdata.
    pub pubdata_price: U256,
    /// Native (ZK) token price used for gas accounting.
    pub native_price: U256,
    /// Fee recipient address.
    pub coinbase: [u8; 20],
    /// Block gas limit.
    pub gas_limit: u64,
    /// Most pubdata bytes the block may publish.
    pub pubdata_limit: u64,
    /// The `prevrandao` value.
    pub mix_hash: U256,
    /// Execution environment version (protocol minor 29 → 4, 30 → 5, 31 → 6, 32 → 7).
    pub execution_version: u32,
    /// Blob base fee.
    pub blob_fee: U256,
}

impl BlockContext {
    /// The previous block's hash: `block_hashes[255]`.
    pub fn parent_hash(&self) -> U256 {
        self.block_hashes[BLOCK_HASHES - 1]
    }

    fn payload_length(&self) -> usize {
        self.chain_id.length()
            + self.block_number.length()
            + hashes_header(&self.block_hashes).length_with_payload()
            + self.timestamp.length()
            + self.eip1559_basefee.length()
            + self.pubdata_price.length()
            + self.native_price.length()
            + self.coinbase.length()
            + self.gas_limit.length()
            + self.pubdata_limit.length()
            + self.mix_hash.length()
            + self.execution_version.length()
            + self.blob_fee.length()
    }

    fn encode_with(&self, payload_length: usize, out: &mut Vec<u8>) {
        list_header(payload_length).encode(out);
        self.chain_id.encode(out);
        self.block_number.encode(out);
        hashes_header(&self.block_hashes).encode(out);
        for hash in self.block_hashes.iter() {
            hash.encode(out);
        }
        self.timestamp.encode(out);
        self.eip1559_basefee.encode(out);
        self.pubdata_price.encode(out);
        self.native_price.encode(out);
        self.coinbase.encode(out);
        self.gas_limit.encode(out);
        self.pubdata_limit.encode(out);
        self.mix_hash.encode(out);
        self.execution_version.encode(out);
        self.blob_fee.encode(out);
    }

    fn decode(fields: &mut Cursor<'_>) -> Result<Self, RecordError> {
        let mut ctx = fields.list("block_context", "block_context", MAX_BLOCK_CONTEXT_PAYLOAD)?;
        let chain_id = ctx.value("chain_id")?;
        let block_number = ctx.value("block_number")?;
        let block_hashes = decode_block_hashes(&mut ctx)?;
        let block_context = Self {
            chain_id,
            block_number,
            block_hashes,
            timestamp: ctx.value("timestamp")?,
            eip1559_basefee: ctx.value("eip1559_basefee")?,
            pubdata_price: ctx.value("pubdata_price")?,
            native_price: ctx.value("native_price")?,
            coinbase: ctx.value("coinbase")?,
            gas_limit: ctx.value("gas_limit")?,
            pubdata_limit: ctx.value("pubdata_limit")?,
            mix_hash: ctx.value("mix_hash")?,
            execution_version: ctx.value("execution_version")?,
            blob_fee: ctx.value("blob_fee")?,
        };
        ctx.finish()?;
        Ok(block_context)
    }
}

impl Default for BlockContext {
    /// Every field zero, all 256 block hashes zero.
    fn default() -> Self {
        Self {
            chain_id: 0,
            block_number: 0,
            block_hashes: Box::new([U256::ZERO; BLOCK_HASHES]),
            timestamp: 0,
            eip1559_basefee: U256::ZERO,
            pubdata_price: U256::ZERO,
            native_price: U256::ZERO,
            coinbase: [0; 20],
            gas_limit: 0,
            pubdata_limit: 0,
            mix_hash: U256::ZERO,
            execution_version: 0,
            blob_fee: U256::ZERO,
        }
    }
}

impl fmt::Debug for BlockContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known = self.block_hashes.iter().filter(|h| !h.is_zero()).count();
        f.debug_struct("BlockContext")
            .field("chain_id", &self.chain_id)
            .field("block_number", &self.block_number)
            .field(
                "block_hashes",
                &format_args!("[{known} of 256 non-zero, parent {}]", self.parent_hash()),
            )
            .field("timestamp", &self.timestamp)
            .field("eip1559_basefee", &self.eip1559_basefee)
            .field("pubdata_price", &self.pubdata_price)
            .field("native_price", &self.native_price)
            .field("coinbase", &Hex(&self.coinbase))
            .field("gas_limit", &self.gas_limit)
            .field("pubdata_limit", &self.pubdata_limit)
            .field("mix_hash", &self.mix_hash)
            .field("execution_version", &self.execution_version)
            .field("blob_fee", &self.blob_fee)
            .finish()
    }
}

/// A ZKsync OS v3 replay record: everything an external node needs to re-execute one block.
///
/// Field order is the wire order (10 fields; see the [module docs](super) for the layout). The
/// node version is not on the wire: a receiver stamps its own.
///
/// The codec is the same for every [`ZksVersion`]: the `version` argument of
/// [`ReplayRecord::encode`] and [`ReplayRecord::decode`] is ignored. Upstream carries this layout
/// on `zks/4` and `zks/5`, and a node with this record type advertises only those
/// ([`ReplayRecord::VERSIONS`]).
///
/// ```
/// use zks_wire::zksync_os::V3Record;
/// use zks_wire::{Bytes, ReplayRecord, ZksVersion};
///
/// let record = V3Record::synthetic(42, 2, 120);
/// let mut item = Vec::new();
/// record.encode(ZksVersion::V3, &mut item);
/// assert_eq!(item.len(), record.encoded_len());
/// let back = V3Record::decode(ZksVersion::V3, &Bytes::from(item))?;
/// assert_eq!(back, record);
/// assert_eq!(back.parent_hash(), V3Record::synthetic(41, 0, 0).block_output_hash.into());
/// # Ok::<(), zks_wire::RecordError>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct V3Record {
    /// The block to execute.
    pub block_context: BlockContext,
    /// Id of the first L1 priority transaction this block may consume.
    pub starting_l1_priority_id: u64,
    /// The block's transactions, each exactly one RLP item in alloy's network encoding (a
    /// typed `ZkEnvelope` as a byte string, a legacy one as a list), kept as received.
    ///
    /// Decoding slices each item out of the record without copying or interpreting it;
    /// encoding writes each one verbatim, so each must be one complete RLP item.
    pub transactions: Vec<Bytes>,
    /// Timestamp of the previous block, in seconds.
    pub previous_block_timestamp: u64,
    /// Protocol version `[major, minor, patch]`; exactly three on the wire.
    pub protocol_version: [u64; 3],
    /// Hash of the block's output (the next block's parent hash).
    pub block_output_hash: [u8; 32],
    /// Preimages forced into the state, as `(hash, preimage)`.
    pub force_preimages: Vec<([u8; 32], Bytes)>,
    /// Id of the first interop root this block may consume.
    pub starting_interop_root_id: u64,
    /// Number of the first migration this block may consume.
    pub starting_migration_number: u64,
    /// Number of the first interop fee update this block may consume.
    pub starting_interop_fee_number: u64,
}

impl V3Record {
    /// The previous block's hash: `block_context.block_hashes[255]`.
    pub fn parent_hash(&self) -> U256 {
        self.block_context.parent_hash()
    }

    /// Length of this record's encoding (one RLP list, header included).
    pub fn encoded_len(&self) -> usize {
        list_header(self.payload_length(self.block_context.payload_length())).length_with_payload()
    }

    /// A realistic record for benchmarks and tests: chain 270, protocol `[0, 31, 0]`,
    /// execution version 6, all 256 block hashes non-zero (as on a chain past block 256),
    /// and `tx_count` transactions whose envelopes are `tx_bytes` bytes each.
    ///
    /// With no transactions the record takes about 8.6 KB (8,594 bytes for block 1,000), most
    /// of it the block hashes.
    ///
    /// Everything is a pure function of the arguments, and consecutive blocks chain: record
    /// `n`'s `block_output_hash` is record `n + 1`'s parent hash.
    ///
    /// The transactions are EIP-1559-typed stand-ins (type byte `0x02`, then filler), encoded
    /// as byte strings like real typed envelopes; they are not signed transactions.
    pub fn synthetic(block_number: BlockNumber, tx_count: usize, tx_bytes: usize) -> Self {
        let mut block_hashes = Box::new([U256::ZERO; BLOCK_HASHES]);
        for (back, slot) in (1..).zip(block_hashes.iter_mut().rev()) {
            *slot = synthetic_hash(block_number.wrapping_sub(back), 0);
        }
        let timestamp = 1_754_000_000u64.wrapping_add(block_number);
        let transactions = (0u64..)
            .take(tx_count)
            .map(|i| {
                let mut envelope = Vec::with_capacity(tx_bytes);
                if tx_bytes > 0 {
                    envelope.push(0x02);
                }
                let mut word = 0u64;
                while envelope.len() < tx_bytes {
                    let lane = i.wrapping_add(1) ^ word.rotate_left(32);
                    let bytes = synthetic_hash(block_number, lane).to_be_bytes();
                    let take = bytes.len().min(tx_bytes - envelope.len());
                    envelope.extend_from_slice(&bytes[..take]);
                    word = word.wrapping_add(1);
                }
                Bytes::from(alloy_rlp::encode(envelope.as_slice()))
            })
            .collect();
        Self {
            block_context: BlockContext {
                chain_id: 270,
                block_number,
                block_hashes,
                timestamp,
                eip1559_basefee: U256::from(100_000_000),
                pubdata_price: U256::from(1_000_000),
                native_price: U256::from(10_000_000),
                coinbase: [
                    0x36, 0x61, 0x5c, 0xf3, 0x49, 0xd7, 0xf6, 0x34, 0x48, 0x91, 0xb1, 0xe7, 0xca,
                    0x7c, 0x72, 0x88, 0x3f, 0x5d, 0xc0, 0x49,
                ],
                gas_limit: 100_000_000,
                pubdata_limit: 131_072,
                mix_hash: synthetic_hash(block_number, u64::MAX),
                execution_version: 6,
                blob_fee: U256::from(1),
            },
            starting_l1_priority_id: 7,
            transactions,
            previous_block_timestamp: timestamp.wrapping_sub(1),
            protocol_version: [0, 31, 0],
            block_output_hash: synthetic_hash(block_number, 0).to_be_bytes(),
            force_preimages: Vec::new(),
            starting_interop_root_id: 0,
            starting_migration_number: 0,
            starting_interop_fee_number: 0,
        }
    }

    /// A synthetic record of the next block, which [follows](ReplayRecord::follows) this one:
    /// the hash window moves by one (this record's `block_output_hash` becomes the parent
    /// hash), the timestamp moves by one second, the transactions and preimages are dropped,
    /// and the new `block_output_hash` is a deterministic stand-in. Everything else is kept.
    ///
    /// For fixtures around real records: a chain of the node team's own records continued
    /// past a captured one.
    #[must_use]
    pub fn synthetic_child(&self) -> Self {
        let mut child = self.clone();
        let ctx = &mut child.block_context;
        ctx.block_hashes.rotate_left(1);
        ctx.block_hashes[BLOCK_HASHES - 1] = U256::from_be_bytes(self.block_output_hash);
        ctx.block_number = ctx.block_number.wrapping_add(1);
        child.previous_block_timestamp = ctx.timestamp;
        ctx.timestamp = ctx.timestamp.wrapping_add(1);
        child.transactions.clear();
        child.force_preimages.clear();
        child.block_output_hash = synthetic_hash(ctx.block_number, 0x0063_6869_6c64).to_be_bytes();
        child
    }

    /// A synthetic record of the block before, which this one [follows](ReplayRecord::follows):
    /// the hash window moves back by one (the oldest slot becomes zero, and the parent's
    /// `block_output_hash` is this record's parent hash), the timestamp moves back by one
    /// second, with no transactions or preimages. Everything else is kept.
    ///
    /// For fixtures that must reach a captured record from the start of a chain.
    #[must_use]
    pub fn synthetic_parent(&self) -> Self {
        let mut parent = self.clone();
        let ctx = &mut parent.block_context;
        parent.block_output_hash = ctx.block_hashes[BLOCK_HASHES - 1].to_be_bytes();
        ctx.block_hashes.rotate_right(1);
        ctx.block_hashes[0] = U256::ZERO;
        ctx.block_number = ctx.block_number.wrapping_sub(1);
        ctx.timestamp = self.previous_block_timestamp;
        parent.previous_block_timestamp = ctx.timestamp.wrapping_sub(1);
        parent.transactions.clear();
        parent.force_preimages.clear();
        parent
    }

    fn transactions_payload(&self) -> usize {
        self.transactions.iter().map(Bytes::len).sum()
    }

    fn force_preimages_payload(&self) -> usize {
        self.force_preimages
            .iter()
            .map(|(hash, preimage)| preimage_header(hash, preimage).length_with_payload())
            .sum()
    }

    fn payload_length(&self, block_context_payload: usize) -> usize {
        list_header(block_context_payload).length_with_payload()
            + self.starting_l1_priority_id.length()
            + list_header(self.transactions_payload()).length_with_payload()
            + self.previous_block_timestamp.length()
            + protocol_version_header(&self.protocol_version).length_with_payload()
            + self.block_output_hash.length()
            + list_header(self.force_preimages_payload()).length_with_payload()
            + self.starting_interop_root_id.length()
            + self.starting_migration_number.length()
            + self.starting_interop_fee_number.length()
    }
}

impl ReplayRecord for V3Record {
    const VERSIONS: crate::VersionSet = super::VERSIONS;

    fn block_number(&self) -> BlockNumber {
        self.block_context.block_number
    }

    /// Same chain id, and the window of the 256 latest block hashes moved by exactly one
    /// block: this record's hashes of blocks `n-256..n-2` are `previous`'s hashes of the same
    /// blocks. A record from another fork disagrees at the first block where the forks part
    /// (once that block is in the window, i.e. from the record after it on).
    fn follows(&self, previous: &Self) -> bool {
        let (ours, theirs) = (&self.block_context, &previous.block_context);
        ours.chain_id == theirs.chain_id
            && theirs.block_number.checked_add(1) == Some(ours.block_number)
            && ours.block_hashes[..BLOCK_HASHES - 1] == theirs.block_hashes[1..]
    }

    /// Appends the v3 encoding, whatever `version` (see the type docs).
    fn encode(&self, _version: ZksVersion, out: &mut Vec<u8>) {
        let context_payload = self.block_context.payload_length();
        let header = list_header(self.payload_length(context_payload));
        out.reserve(header.length_with_payload());
        header.encode(out);
        self.block_context.encode_with(context_payload, out);
        self.starting_l1_priority_id.encode(out);
        list_header(self.transactions_payload()).encode(out);
        for tx in &self.transactions {
            out.extend_from_slice(tx);
        }
        self.previous_block_timestamp.encode(out);
        protocol_version_header(&self.protocol_version).encode(out);
        for part in &self.protocol_version {
            part.encode(out);
        }
        self.block_output_hash.encode(out);
        list_header(self.force_preimages_payload()).encode(out);
        for (hash, preimage) in &self.force_preimages {
            preimage_header(hash, preimage).encode(out);
            hash.encode(out);
            preimage.as_ref().encode(out);
        }
        self.starting_interop_root_id.encode(out);
        self.starting_migration_number.encode(out);
        self.starting_interop_fee_number.encode(out);
    }

    /// Decodes the v3 layout, whatever `version` (see the type docs). Every list is bounded
    /// from its header (or counted) before anything is allocated for it; see
    /// [`limits`](super::limits).
    fn decode(_version: ZksVersion, item: &Bytes) -> Result<Self, RecordError> {
        if item.len() > MAX_RECORD_BYTES {
            return Err(RecordError::new(format_args!(
                "record of {} bytes exceeds the limit of {MAX_RECORD_BYTES}",
                item.len()
            )));
        }
        let mut fields = Cursor::top(item, "record")?;
        let block_context = BlockContext::decode(&mut fields)?;
        let starting_l1_priority_id = fields.value("starting_l1_priority_id")?;
        let transactions = decode_transactions(&mut fields)?;
        let previous_block_timestamp = fields.value("previous_block_timestamp")?;
        let protocol_version = decode_protocol_version(&mut fields)?;
        let block_output_hash = fields.value("block_output_hash")?;
        let force_preimages = decode_force_preimages(&mut fields)?;
        let record = Self {
            block_context,
            starting_l1_priority_id,
            transactions,
            previous_block_timestamp,
            protocol_version,
            block_output_hash,
            force_preimages,
            starting_interop_root_id: fields.value("starting_interop_root_id")?,
            starting_migration_number: fields.value("starting_migration_number")?,
            starting_interop_fee_number: fields.value("starting_interop_fee_number")?,
        };
        fields.finish()?;
        Ok(record)
    }
}

impl fmt::Debug for V3Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [major, minor, patch] = self.protocol_version;
        f.debug_struct("V3Record")
            .field("block_context", &self.block_context)
            .field("starting_l1_priority_id", &self.starting_l1_priority_id)
            .field(
                "transactions",
                &format_args!(
                    "[{} txs, {} bytes]",
                    self.transactions.len(),
                    self.transactions_payload()
                ),
            )
            .field("previous_block_timestamp", &self.previous_block_timestamp)
            .field("protocol_version", &format_args!("{major}.{minor}.{patch}"))
            .field("block_output_hash", &Hex(&self.block_output_hash))
            .field(
                "force_preimages",
                &format_args!(
                    "[{} preimages, {} bytes]",
                    self.force_preimages.len(),
                    self.force_preimages
                        .iter()
                        .map(|(_, p)| p.len())
                        .sum::<usize>()
                ),
            )
            .field("starting_interop_root_id", &self.starting_interop_root_id)
            .field("starting_migration_number", &self.starting_migration_number)
            .field(
                "starting_interop_fee_number",
                &self.starting_interop_fee_number,
            )
            .finish()
    }
}

/// Reads exactly 256 block hashes; the vectors' error text is upstream's.
fn decode_block_hashes(ctx: &mut Cursor<'_>) -> Result<Box<[U256; BLOCK_HASHES]>, RecordError> {
    let mut list = ctx.list("block_hashes", "block_hashes", MAX_BLOCK_HASHES_PAYLOAD)?;
    let count = list.count_items("item", BLOCK_HASHES)?;
    if count != BLOCK_HASHES {
        let got = if count > BLOCK_HASHES {
            "more".to_owned()
        } else {
            count.to_string()
        };
        return Err(ctx.error(
            "block_hashes",
            format_args!("expected array of length {BLOCK_HASHES}, got {got}"),
        ));
    }
    let mut hashes = Box::new([U256::ZERO; BLOCK_HASHES]);
    for hash in hashes.iter_mut() {
        *hash = list.value("item")?;
    }
    list.finish()?;
    Ok(hashes)
}

/// Reads `[major, minor, patch]`; the vectors' error text is upstream's.
fn decode_protocol_version(fields: &mut Cursor<'_>) -> Result<[u64; 3], RecordError> {
    let mut list = fields.list(
        "protocol_version",
        "protocol_version",
        MAX_PROTOCOL_VERSION_PAYLOAD,
    )?;
    let count = list.count_items("item", 3)?;
    if count != 3 {
        return Err(fields.error(
            "protocol_version",
            format_args!("expected array of length 3, got {count}"),
        ));
    }
    let version = [
        list.value("major")?,
        list.value("minor")?,
        list.value("patch")?,
    ];
    list.finish()?;
    Ok(version)
}

fn decode_transactions(fields: &mut Cursor<'_>) -> Result<Vec<Bytes>, RecordError> {
    let mut list = fields.list("transactions", "transactions", MAX_RECORD_BYTES)?;
    let count = list.count_items("item", MAX_TRANSACTIONS_PER_RECORD)?;
    if count > MAX_TRANSACTIONS_PER_RECORD {
        return Err(fields.error(
            "transactions",
            format_args!("more than {MAX_TRANSACTIONS_PER_RECORD} transactions"),
        ));
    }
    let mut transactions = Vec::with_capacity(count);
    while !list.is_empty() {
        transactions.push(list.raw_item("item")?);
    }
    Ok(transactions)
}

fn decode_force_preimages(fields: &mut Cursor<'_>) -> Result<Vec<([u8; 32], Bytes)>, RecordError> {
    let mut list = fields.list("force_preimages", "force_preimages", MAX_RECORD_BYTES)?;
    let count = list.count_items("item", MAX_FORCE_PREIMAGES_PER_RECORD)?;
    if count > MAX_FORCE_PREIMAGES_PER_RECORD {
        return Err(fields.error(
            "force_preimages",
            format_args!("more than {MAX_FORCE_PREIMAGES_PER_RECORD} preimages"),
        ));
    }
    let mut preimages = Vec::with_capacity(count);
    while !list.is_empty() {
        let bound = list.remaining();
        let mut entry = list.list("item", "force_preimage", bound)?;
        let hash = entry.value("hash")?;
        let preimage = entry.bytes("preimage")?;
        entry.finish()?;
        preimages.push((hash, preimage));
    }
    Ok(preimages)
}

fn list_header(payload_length: usize) -> Header {
    Header {
        list: true,
        payload_length,
    }
}

fn hashes_header(hashes: &[U256; BLOCK_HASHES]) -> Header {
    list_header(hashes.iter().map(Encodable::length).sum())
}

fn protocol_version_header(version: &[u64; 3]) -> Header {
    list_header(version.iter().map(Encodable::length).sum())
}

fn preimage_header(hash: &[u8; 32], preimage: &Bytes) -> Header {
    list_header(hash.length() + preimage.as_ref().length())
}

/// A deterministic stand-in hash for block `block` (and a `lane` for other values): four
/// splitmix64 words, first byte forced non-zero so every hash encodes to 33 bytes.
fn synthetic_hash(block: BlockNumber, lane: u64) -> U256 {
    let mut state = block ^ lane.rotate_left(17) ^ 0x7a6b_732d_7633_0000;
    let mut out = [0; 32];
    for chunk in out.chunks_exact_mut(8) {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_be_bytes());
    }
    out[0] |= 0x01;
    U256::from_be_bytes(out)
}

/// Bytes as lowercase hex without a prefix, for `Debug`.
struct Hex<'a>(&'a [u8]);

impl fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_neighbours_follow_and_undo_each_other() {
        let mid = V3Record::synthetic(300, 2, 40);
        let child = mid.synthetic_child();
        let parent = mid.synthetic_parent();
        assert!(child.follows(&mid));
        assert!(mid.follows(&parent));
        assert!(child.synthetic_child().follows(&child));
        assert!(parent.follows(&parent.synthetic_parent()));
        assert_eq!(
            child.parent_hash(),
            U256::from_be_bytes(mid.block_output_hash)
        );
        assert_eq!(
            mid.parent_hash(),
            U256::from_be_bytes(parent.block_output_hash)
        );
        assert_eq!((parent.block_number(), child.block_number()), (299, 301));
        assert_eq!(child.previous_block_timestamp, mid.block_context.timestamp);
        assert_eq!(mid.previous_block_timestamp, parent.block_context.timestamp);
        assert!(child.transactions.is_empty() && parent.transactions.is_empty());
        // Going back from a block near the start of the chain zeroes the oldest slots.
        let mut early = V3Record::synthetic(3, 0, 0);
        for slot in early.block_context.block_hashes[..253].iter_mut() {
            *slot = U256::ZERO;
        }
        let one = early.synthetic_parent().synthetic_parent();
        assert_eq!(one.block_number(), 1);
        assert!(
            one.block_context.block_hashes[..255]
                .iter()
                .all(U256::is_zero)
        );
    }
}
