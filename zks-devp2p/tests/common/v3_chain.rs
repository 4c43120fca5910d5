//! A ZKsync OS chain of v3 replay records built around upstream's golden vector records.
//!
//! Self-contained (it needs `zks-wire` with feature `zksync-os` and `serde_json`, and reads
//! `zks-wire/tests/vectors/upstream/zks5.json` relative to this file, three levels up: the same
//! path from any `<crate>/tests/common/` of the workspace), so a crate's tests can copy it as is.
//!
//! [`v3_chain`] builds blocks 1 to `last` of chain 270 (block 0 is the genesis, never a
//! replay record). Blocks 42 and 43 are upstream's two consecutive vector records, byte for
//! byte ([`upstream_pair`]); the others are made to fit around them, each following the one
//! before ([`ReplayRecord::follows`]):
//! - blocks 1..=41 take their 256-hash windows from block 42's window, shifted: block `k`'s
//!   window is block 42's moved back by `42 - k` slots, zero before block 0, so its last slot
//!   (the parent) is block `k - 1`'s hash as block 42 knows it; its `block_output_hash` is its
//!   own hash as block 42 knows it;
//! - blocks 44..=last shift the previous window by one and put the previous block's
//!   `block_output_hash` in the last slot (as block 43 does with block 42's).
//!
//! Every other field comes from [`V3Record::synthetic`] (chain 270, protocol 0.31.0, execution
//! version 6, timestamps one second apart, as in the vectors), with 0–2 stand-in transactions
//! per block so records differ in size; blocks after 43 keep its `starting_interop_root_id`.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use zks_wire::zksync_os::limits::BLOCK_HASHES;
use zks_wire::zksync_os::{U256, V3Record};
use zks_wire::{BlockReplays, Bytes, Frame, ReplayRecord, ZksMessage, ZksVersion};

/// Upstream's zks/5 vectors.
const ZKS5_VECTORS: &str = include_str!("../../../zks-wire/tests/vectors/upstream/zks5.json");

/// The vector case holding two consecutive v3 records.
const PAIR_CASE: &str = "BlockReplays, two consecutive v3 records (blocks 42, 43)";

/// The vector case holding a malformed v3 record.
const MALFORMED_CASE: &str = "v3 record with 255 block hashes";

/// The chain of every record here.
pub const CHAIN_ID: u64 = 270;

/// The block of the first vector record (the second is the next block).
pub const VECTOR_BLOCK: u64 = 42;

/// The record items of a vector case's `frame` (a `BlockReplays`: id byte `01`, then the body),
/// exactly as they are on the wire.
fn vector_items(case: &str) -> Vec<Bytes> {
    let cases: serde_json::Value = serde_json::from_str(ZKS5_VECTORS).unwrap();
    let case = cases
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == case)
        .unwrap_or_else(|| panic!("no vector case {case:?}"));
    let frame = hex::decode(case["frame"].as_str().unwrap()).unwrap();
    assert_eq!(frame[0], 0x01, "{case}: not a BlockReplays frame");
    let frame = Frame::zks(0x01, frame[1..].to_vec());
    match ZksMessage::decode(ZksVersion::V5, &frame) {
        Ok(ZksMessage::BlockReplays(BlockReplays { records })) => records,
        other => panic!("{case}: {other:?}"),
    }
}

/// Upstream's two consecutive v3 records (blocks 42 and 43 of chain 270) as they are on the
/// wire: the record items of the zks/5 vector "BlockReplays, two consecutive v3 records
/// (blocks 42, 43)".
pub fn upstream_pair() -> [Bytes; 2] {
    vector_items(PAIR_CASE).try_into().unwrap()
}

/// Upstream's malformed v3 record (block 42 with 255 block hashes) as it is on the wire: the
/// record item of the zks/5 vector "v3 record with 255 block hashes". It does not decode:
/// `block_context.block_hashes: expected array of length 256, got 255`.
pub fn upstream_malformed() -> Bytes {
    let [item]: [Bytes; 1] = vector_items(MALFORMED_CASE).try_into().unwrap();
    item
}

/// A record's canonical encoding (the same on every zks version).
pub fn encoded(record: &V3Record) -> Vec<u8> {
    let mut out = Vec::with_capacity(record.encoded_len());
    record.encode(ZksVersion::V5, &mut out);
    out
}

/// Blocks 1 to `last` (at least 43) of chain 270 as v3 records, each following the one before;
/// blocks 42 and 43 are [`upstream_pair`]'s, decoded (see the module docs for the rest).
/// Each record encodes canonically ([`encoded`]) and decodes back to itself.
pub fn v3_chain(last: u64) -> Vec<V3Record> {
    assert!(
        last > VECTOR_BLOCK,
        "the chain holds blocks 42 and 43: last >= 43"
    );
    let [first, second] = upstream_pair()
        .map(|item| V3Record::decode(ZksVersion::V5, &item).expect("vector record decodes"));
    assert_eq!(first.block_context.block_number, VECTOR_BLOCK);
    assert_eq!(second.block_context.block_number, VECTOR_BLOCK + 1);

    // Block 42's window: slot `BLOCK_HASHES - 42 + b` holds block b's hash, for b < 42.
    let window = &first.block_context.block_hashes;
    let hash_of = |block: u64| window[BLOCK_HASHES - VECTOR_BLOCK as usize + block as usize];
    let mut chain: Vec<V3Record> = (1..VECTOR_BLOCK)
        .map(|block| {
            let mut record = filler(block);
            let back = (VECTOR_BLOCK - block) as usize;
            let mut hashes = Box::new([U256::ZERO; BLOCK_HASHES]);
            hashes[back..].copy_from_slice(&window[..BLOCK_HASHES - back]);
            record.block_context.block_hashes = hashes;
            record.block_output_hash = hash_of(block).to_be_bytes();
            record
        })
        .collect();
    chain.push(first);
    chain.push(second);
    for block in VECTOR_BLOCK + 2..=last {
        let previous = chain.last().unwrap();
        let mut record = filler(block);
        let mut hashes = Box::new([U256::ZERO; BLOCK_HASHES]);
        hashes[..BLOCK_HASHES - 1].copy_from_slice(&previous.block_context.block_hashes[1..]);
        hashes[BLOCK_HASHES - 1] = U256::from_be_bytes(previous.block_output_hash);
        record.block_context.block_hashes = hashes;
        record.starting_interop_root_id = previous.starting_interop_root_id;
        chain.push(record);
    }
    chain
}

/// The fields of block `block` that are not its place in the chain.
fn filler(block: u64) -> V3Record {
    let record = V3Record::synthetic(block, (block % 3) as usize, 96);
    assert_eq!(record.block_context.chain_id, CHAIN_ID);
    record
}
