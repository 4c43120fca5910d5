//! The typed ZKsync OS v3 replay record against upstream's golden vectors (`zks5.json`,
//! `zks4.json`), its limits, and round trips.
#![cfg(feature = "zksync-os")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use alloy_rlp::Header;
use bytes::Bytes;
use proptest::prelude::*;
use serde_json::Value;
use zks_wire::zksync_os::limits::{
    BLOCK_HASHES, MAX_FORCE_PREIMAGES_PER_RECORD, MAX_RECORD_BYTES, MAX_TRANSACTIONS_PER_RECORD,
};
use zks_wire::zksync_os::{BlockContext, U256, V3Record, V3RecordBytes};
use zks_wire::{BlockReplays, Frame, RecordError, ReplayRecord, ZksMessage, ZksVersion};

const FILES: [(&str, &str); 2] = [
    ("zks5.json", include_str!("vectors/upstream/zks5.json")),
    ("zks4.json", include_str!("vectors/upstream/zks4.json")),
];

/// The v3 record cases of both files: `(file, case)`.
fn v3_cases() -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    for (file, text) in FILES {
        let cases: Vec<Value> = serde_json::from_str(text).unwrap();
        out.extend(
            cases
                .into_iter()
                .filter(|c| c["name"].as_str().unwrap().contains("v3 record"))
                .map(|c| (file, c)),
        );
    }
    out
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.strip_prefix("0x").unwrap_or(s)).unwrap()
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string"))
}

fn n(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not a number"))
}

/// A vector `U256`: `0x`-prefixed minimal hex.
fn u256(v: &Value) -> U256 {
    let digits = v.as_str().unwrap().strip_prefix("0x").unwrap();
    let padded = format!("{digits:0>64}");
    U256::from_be_bytes(unhex(&padded).try_into().unwrap())
}

fn array<const N: usize>(v: &Value, key: &str) -> [u8; N] {
    unhex(s(v, key)).try_into().unwrap()
}

/// The record a vector's `inputs` describe, built independently of the decoder.
fn expected_record(r: &Value) -> V3Record {
    let c = &r["block_context"];
    let hashes: Vec<U256> = c["block_hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(u256)
        .collect();
    V3Record {
        block_context: BlockContext {
            chain_id: n(c, "chain_id"),
            block_number: n(c, "block_number"),
            block_hashes: Box::new(hashes.try_into().unwrap()),
            timestamp: n(c, "timestamp"),
            eip1559_basefee: u256(&c["eip1559_basefee"]),
            pubdata_price: u256(&c["pubdata_price"]),
            native_price: u256(&c["native_price"]),
            coinbase: array(c, "coinbase"),
            gas_limit: n(c, "gas_limit"),
            pubdata_limit: n(c, "pubdata_limit"),
            mix_hash: u256(&c["mix_hash"]),
            execution_version: u32::try_from(n(c, "execution_version")).unwrap(),
            blob_fee: u256(&c["blob_fee"]),
        },
        starting_l1_priority_id: n(r, "starting_l1_priority_id"),
        transactions: r["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| Bytes::from(unhex(t.as_str().unwrap())))
            .collect(),
        previous_block_timestamp: n(r, "previous_block_timestamp"),
        protocol_version: r["protocol_version"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_u64().unwrap())
            .collect::<Vec<_>>()
            .try_into()
            .unwrap(),
        block_output_hash: array(r, "block_output_hash"),
        force_preimages: r["force_preimages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (array(p, "hash"), Bytes::from(unhex(s(p, "preimage")))))
            .collect(),
        starting_interop_root_id: n(r, "starting_interop_root_id"),
        starting_migration_number: n(r, "starting_migration_number"),
        starting_interop_fee_number: n(r, "starting_interop_fee_number"),
    }
}

/// The raw record items of a vector's `BlockReplays` frame, through the message decoder.
fn record_items(case: &Value) -> Vec<Bytes> {
    let frame = Frame::from_wire(Bytes::from(unhex(s(case, "frame")))).unwrap();
    match ZksMessage::decode(ZksVersion::V3, &frame).unwrap() {
        ZksMessage::BlockReplays(BlockReplays { records }) => records,
        other => panic!("not a BlockReplays: {other:?}"),
    }
}

fn encode(record: &V3Record, version: ZksVersion) -> Vec<u8> {
    let mut out = Vec::new();
    record.encode(version, &mut out);
    out
}

fn decode(bytes: &[u8]) -> Result<V3Record, RecordError> {
    V3Record::decode(ZksVersion::V3, &Bytes::copy_from_slice(bytes))
}

fn assert_rejects(bytes: &[u8], needle: &str) {
    let err = decode(bytes).expect_err("decoded a malformed record");
    assert!(
        err.to_string().contains(needle),
        "error {err:?} does not mention {needle:?}"
    );
}

#[test]
fn every_v3_vector_case_is_covered() {
    let cases = v3_cases();
    let names: Vec<_> = cases
        .iter()
        .map(|(f, c)| format!("{f}: {}", s(c, "name")))
        .collect();
    assert_eq!(cases.len(), 8, "{names:#?}");
    assert_eq!(
        cases
            .iter()
            .filter(|(_, c)| s(c, "expect") == "accept")
            .count(),
        4
    );
}

#[test]
fn accepted_vectors_decode_to_their_inputs_and_re_encode_byte_for_byte() {
    for (file, case) in v3_cases() {
        if s(&case, "expect") != "accept" {
            continue;
        }
        let name = format!("{file}: {}", s(&case, "name"));
        let items = record_items(&case);
        let inputs = case["inputs"]["records"].as_array().unwrap();
        assert_eq!(items.len(), inputs.len(), "{name}");
        let mut decoded = Vec::new();
        for (item, input) in items.iter().zip(inputs) {
            let expected = expected_record(input);
            // The layout is the same whatever the version argument.
            for version in ZksVersion::ALL {
                let record = V3Record::decode(version, item).unwrap();
                assert_eq!(record, expected, "{name}");
                assert_eq!(encode(&record, version), item.as_ref(), "{name}");
            }
            // Built from the inputs alone, the record encodes to the vector's bytes.
            assert_eq!(encode(&expected, ZksVersion::V3), item.as_ref(), "{name}");
            assert_eq!(expected.encoded_len(), item.len(), "{name}");
            assert_eq!(
                expected.block_number(),
                n(&input["block_context"], "block_number")
            );
            decoded.push(expected);
        }
        // The record and block_context hex given alongside the frame, where there is one.
        if let Some(record_hex) = case["record"].as_str() {
            assert_eq!(items[0].as_ref(), unhex(record_hex), "{name}");
            let ctx = unhex(s(&case, "block_context"));
            let mut item = items[0].as_ref();
            Header::decode(&mut item).unwrap();
            assert!(item.starts_with(&ctx), "{name}: block_context bytes");
        }
        // And the whole frame is rebuilt from the typed records.
        let encoded: Vec<Vec<u8>> = decoded.iter().map(|r| encode(r, ZksVersion::V3)).collect();
        let mut body = Vec::new();
        BlockReplays::encode_records(encoded.iter().map(Vec::as_slice), &mut body);
        let mut frame = vec![1];
        frame.extend(body);
        assert_eq!(frame, unhex(s(&case, "frame")), "{name}");
    }
}

#[test]
fn vector_records_chain_and_expose_the_parent_hash() {
    let (_, case) = v3_cases()
        .into_iter()
        .find(|(_, c)| s(c, "name").contains("two consecutive"))
        .unwrap();
    let records: Vec<V3Record> = record_items(&case)
        .iter()
        .map(|item| V3Record::decode(ZksVersion::V3, item).unwrap())
        .collect();
    let [b42, b43] = records.as_slice() else {
        panic!("two records")
    };
    assert_eq!(b42.block_number(), 42);
    assert_eq!(b43.block_number(), 43);
    assert_eq!(b43.parent_hash(), U256::from(b42.block_output_hash));
    assert_eq!(
        b42.block_context.block_hashes[255],
        b43.block_context.block_hashes[254]
    );
    // The continuity check an EN runs before applying: b43 follows b42, nothing else does.
    assert!(b43.follows(b42));
    assert!(!b42.follows(b43));
    assert!(!b43.follows(b43));
    let mut fork = b43.clone();
    fork.block_context.block_hashes[200] = U256::from(7u64);
    assert!(!fork.follows(b42), "another history");
    let mut other_chain = b43.clone();
    other_chain.block_context.chain_id += 1;
    assert!(!other_chain.follows(b42));
    // Block 0 sits at index 214 for block 42, and everything before it is zero.
    let hashes = &b42.block_context.block_hashes;
    assert!(hashes[..214].iter().all(U256::is_zero));
    assert!(hashes[214..].iter().all(|h| !h.is_zero()));
    assert_eq!(b43.force_preimages.len(), 1);
    assert_eq!(
        b43.force_preimages[0].1.as_ref(),
        b"zks-vectors: forced preimage"
    );
    assert_eq!(b43.starting_interop_root_id, 1);
    assert_eq!(b42.protocol_version, [0, 31, 0]);
}

#[test]
fn rejected_vectors_fail_with_upstreams_reason() {
    let mut seen = 0;
    for (file, case) in v3_cases() {
        if s(&case, "expect") != "reject" {
            continue;
        }
        let name = format!("{file}: {}", s(&case, "name"));
        // The message layer keeps records opaque, so the frame itself decodes...
        let items = record_items(&case);
        assert_eq!(items.len(), 1, "{name}");
        // ...and the record decoder refuses it, with upstream's wording.
        let upstream = s(&case, "decoder_error");
        let needle = upstream
            .strip_prefix("Custom(\"")
            .and_then(|e| e.strip_suffix("\")"))
            .unwrap();
        for version in ZksVersion::ALL {
            let err = V3Record::decode(version, &items[0]).expect_err(&name);
            assert!(
                err.to_string().contains(needle),
                "{name}: {err} does not say {needle:?}"
            );
        }
        seen += 1;
    }
    assert_eq!(seen, 4);
}

/// The bytes record type passes every accepted vector record through unchanged, chains the
/// consecutive ones as the typed check does, and refuses the malformed ones with the same
/// reason; it travels on zks/4 and zks/5 only, as the typed record.
#[test]
fn vector_records_pass_through_as_bytes() {
    let mut accepted = 0;
    for (file, case) in v3_cases() {
        let name = format!("{file}: {}", s(&case, "name"));
        let items = record_items(&case);
        if s(&case, "expect") == "reject" {
            let typed = V3Record::decode(ZksVersion::V5, &items[0]).unwrap_err();
            let kept = V3RecordBytes::decode(ZksVersion::V5, &items[0]).unwrap_err();
            assert_eq!(kept, typed, "{name}");
            continue;
        }
        let records: Vec<V3RecordBytes> = items
            .iter()
            .map(|item| V3RecordBytes::decode(ZksVersion::V5, item).unwrap())
            .collect();
        for (record, item) in records.iter().zip(&items) {
            let typed = V3Record::decode(ZksVersion::V5, item).unwrap();
            assert_eq!(record.block_number(), typed.block_number(), "{name}");
            assert_eq!(record.chain_id(), 270, "{name}");
            for version in [ZksVersion::V4, ZksVersion::V5] {
                let mut out = Vec::new();
                record.encode(version, &mut out);
                assert_eq!(out, item.as_ref(), "{name}");
            }
            assert_eq!(V3RecordBytes::from(&typed), *record, "{name}");
            assert_eq!(record.to_record().unwrap(), typed, "{name}");
            let trusted = V3RecordBytes::from_trusted(item.clone()).unwrap();
            assert_eq!(trusted, *record, "{name}");
            accepted += 1;
        }
        if let [b42, b43] = records.as_slice() {
            assert!(b43.follows(b42), "{name}");
            assert!(!b42.follows(b43), "{name}");
            assert!(!b43.follows(b43), "{name}");
        }
    }
    assert_eq!(accepted, 6);
    let versions = [ZksVersion::V4, ZksVersion::V5].into();
    assert_eq!(<V3RecordBytes as ReplayRecord>::VERSIONS, versions);
    assert_eq!(<V3Record as ReplayRecord>::VERSIONS, versions);
}

/// The first accepted vector record, as bytes and typed.
fn vector_record() -> (Vec<u8>, V3Record) {
    let (_, case) = v3_cases()
        .into_iter()
        .find(|(_, c)| s(c, "name").contains("one v3 record"))
        .unwrap();
    let bytes = unhex(s(&case, "record"));
    let record = decode(&bytes).unwrap();
    (bytes, record)
}

/// Re-wraps `payload` as a list.
fn list(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    Header {
        list: true,
        payload_length: payload.len(),
    }
    .encode(&mut out);
    out.extend_from_slice(payload);
    out
}

/// The record's 10 top-level fields as raw items.
fn top_fields(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut buf = bytes;
    let header = Header::decode(&mut buf).unwrap();
    assert!(header.list);
    split_items(buf)
}

fn split_items(mut buf: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let start = buf;
        let header = Header::decode(&mut buf).unwrap();
        let len = start.len() - buf.len() + header.payload_length;
        out.push(start[..len].to_vec());
        buf = &start[len..];
    }
    out
}

fn payload(item: &[u8]) -> &[u8] {
    let mut buf = item;
    let header = Header::decode(&mut buf).unwrap();
    &buf[..header.payload_length]
}

/// A record made of these top-level fields.
fn assemble(fields: &[Vec<u8>]) -> Vec<u8> {
    list(&fields.concat())
}

/// The vector record with its `block_context` fields replaced by `edit`.
fn with_context(edit: impl FnOnce(&mut Vec<Vec<u8>>)) -> Vec<u8> {
    let (bytes, _) = vector_record();
    let mut fields = top_fields(&bytes);
    let mut ctx = split_items(payload(&fields[0]));
    edit(&mut ctx);
    fields[0] = list(&ctx.concat());
    assemble(&fields)
}

#[test]
fn rejects_trailing_bytes_after_and_inside_every_list() {
    let (bytes, _) = vector_record();
    // After the record.
    let mut after = bytes.clone();
    after.push(0x80);
    assert_rejects(&after, "trailing bytes after the list");
    // Inside the record: an 11th field.
    let mut fields = top_fields(&bytes);
    fields.push(vec![0x80]);
    assert_rejects(&assemble(&fields), "record.end: 1 trailing bytes");
    // Inside block_context: a 14th field.
    assert_rejects(
        &with_context(|ctx| ctx.push(vec![0x01])),
        "block_context.end",
    );
    // Inside a force preimage entry.
    let mut fields = top_fields(&bytes);
    let mut entry = vec![0xa0];
    entry.extend([0x11; 32]);
    entry.extend([0x82, 0xaa, 0xbb, 0x80]);
    fields[6] = list(&list(&entry));
    assert_rejects(&assemble(&fields), "force_preimage.end");
    // A list header that claims more than there is.
    let mut truncated = bytes.clone();
    truncated.pop();
    assert!(decode(&truncated).is_err());
}

#[test]
fn rejects_missing_fields() {
    let (bytes, _) = vector_record();
    let mut fields = top_fields(&bytes);
    fields.pop();
    assert_rejects(
        &assemble(&fields),
        "record.starting_interop_fee_number: missing",
    );
    assert_rejects(
        &with_context(|ctx| {
            ctx.pop();
        }),
        "block_context.blob_fee: missing",
    );
    assert_rejects(&[0xc0], "record.block_context: missing");
}

#[test]
fn rejects_wrong_item_types() {
    let (bytes, _) = vector_record();
    // The record is a byte string.
    assert_rejects(&[0x82, 0xc1, 0x80], "expected a list");
    // block_context as a string.
    let mut fields = top_fields(&bytes);
    fields[0] = vec![0x80];
    assert_rejects(&assemble(&fields), "record.block_context: expected a list");
    // A list where a u64 is due.
    let mut fields = top_fields(&bytes);
    fields[1] = vec![0xc0];
    assert!(decode(&assemble(&fields)).is_err());
    // A 31-byte block_output_hash.
    let mut fields = top_fields(&bytes);
    let mut short = vec![0x9f];
    short.extend([0x22; 31]);
    fields[5] = short;
    assert_rejects(&assemble(&fields), "record.block_output_hash");
    // A 19-byte coinbase.
    assert_rejects(
        &with_context(|ctx| {
            let mut c = vec![0x93];
            c.extend([0x36; 19]);
            ctx[7] = c;
        }),
        "block_context.coinbase",
    );
}

#[test]
fn rejects_block_hash_counts_other_than_256() {
    for count in [0, 1, 255, 257, 300] {
        let hashes = list(&vec![0x01; count]);
        assert_rejects(
            &with_context(|ctx| ctx[2] = hashes),
            "block_context.block_hashes: expected array of length 256",
        );
    }
    // 256 is fine, whatever the values.
    let hashes = list(&[0x01; 256]);
    let record = decode(&with_context(|ctx| ctx[2] = hashes)).unwrap();
    assert!(
        record
            .block_context
            .block_hashes
            .iter()
            .all(|h| *h == U256::from(1))
    );
    // A list too big to be 256 hashes is refused from its header alone.
    let hashes = list(&vec![0x01; BLOCK_HASHES * 33 + 1]);
    assert_rejects(
        &with_context(|ctx| ctx[2] = hashes),
        "block_context.block_hashes: list of 8449 bytes exceeds",
    );
}

#[test]
fn rejects_protocol_versions_other_than_three_parts() {
    let (bytes, _) = vector_record();
    for parts in [&[][..], &[0x1f], &[0x00, 0x1f], &[0x80, 0x1f, 0x80, 0x80]] {
        let mut fields = top_fields(&bytes);
        fields[4] = list(parts);
        assert_rejects(&assemble(&fields), "expected array of length 3");
    }
    let mut fields = top_fields(&bytes);
    fields[4] = list(&[0x80, 0x1f, 0x01]);
    let record = decode(&assemble(&fields)).unwrap();
    assert_eq!(record.protocol_version, [0, 31, 1]);
}

#[test]
fn rejects_non_canonical_integers() {
    let (bytes, _) = vector_record();
    let cases: [(usize, Vec<u8>, &str); 6] = [
        // eip1559_basefee with a leading zero
        (
            4,
            vec![0x85, 0x00, 0x05, 0xf5, 0xe1, 0x00],
            "eip1559_basefee",
        ),
        // mix_hash of 33 bytes
        (10, [&[0xa1u8][..], &[0x01; 33]].concat(), "mix_hash"),
        // blob_fee 1 written as a one-byte string
        (12, vec![0x81, 0x01], "blob_fee"),
        // a block hash with a leading zero: zero as 0x00
        (2, list(&[0x00; 256]), "block_hashes.item"),
        // timestamp with a leading zero
        (3, vec![0x85, 0x00, 0x68, 0x8b, 0xea, 0xaa], "timestamp"),
        // execution_version beyond u32
        (
            11,
            vec![0x85, 0x01, 0x00, 0x00, 0x00, 0x00],
            "execution_version",
        ),
    ];
    for (index, item, needle) in cases {
        assert_rejects(&with_context(|ctx| ctx[index] = item), needle);
    }
    // A u64 at the top level with a leading zero.
    let mut fields = top_fields(&bytes);
    fields[1] = vec![0x82, 0x00, 0x07];
    assert_rejects(&assemble(&fields), "starting_l1_priority_id");
    // The untouched record still decodes (the edits above are what failed).
    assert!(decode(&bytes).is_ok());
}

/// The vector record carrying `count` one-byte transactions.
fn with_transactions(count: usize) -> Vec<u8> {
    let (bytes, _) = vector_record();
    let mut fields = top_fields(&bytes);
    fields[2] = list(&vec![0x01; count]);
    assemble(&fields)
}

#[test]
fn transactions_are_kept_raw_and_capped() {
    // Legacy (list) and typed (string) envelopes, kept as they came.
    let (bytes, _) = vector_record();
    let legacy = list(&[0x01, 0x02]);
    let typed = [&[0x84u8, 0x02][..], &[0xc1, 0x80, 0x80]].concat();
    let mut fields = top_fields(&bytes);
    fields[2] = list(&[legacy.clone(), typed.clone(), vec![0x05]].concat());
    let encoded = assemble(&fields);
    let record = decode(&encoded).unwrap();
    assert_eq!(
        record.transactions,
        [
            Bytes::from(legacy),
            Bytes::from(typed),
            Bytes::from_static(&[0x05])
        ]
    );
    assert_eq!(encode(&record, ZksVersion::V1), encoded);

    let at_cap = decode(&with_transactions(MAX_TRANSACTIONS_PER_RECORD)).unwrap();
    assert_eq!(at_cap.transactions.len(), MAX_TRANSACTIONS_PER_RECORD);
    assert_rejects(
        &with_transactions(MAX_TRANSACTIONS_PER_RECORD + 1),
        "more than 65536 transactions",
    );
    // A malformed item inside the list fails the count, before anything is kept.
    let mut fields = top_fields(&bytes);
    fields[2] = list(&[0x82, 0x01]);
    assert_rejects(&assemble(&fields), "transactions.item");
}

/// The vector record carrying `count` copies of one small preimage entry.
fn with_preimages(count: usize) -> Vec<u8> {
    let (bytes, _) = vector_record();
    let mut entry = vec![0xa0];
    entry.extend([0x33; 32]);
    entry.push(0x01);
    let entry = list(&entry);
    let mut fields = top_fields(&bytes);
    fields[6] = list(&entry.repeat(count));
    assemble(&fields)
}

#[test]
fn force_preimages_are_capped() {
    let record = decode(&with_preimages(MAX_FORCE_PREIMAGES_PER_RECORD)).unwrap();
    assert_eq!(record.force_preimages.len(), MAX_FORCE_PREIMAGES_PER_RECORD);
    assert_eq!(
        record.force_preimages[0],
        ([0x33; 32], Bytes::from_static(&[0x01]))
    );
    assert_rejects(
        &with_preimages(MAX_FORCE_PREIMAGES_PER_RECORD + 1),
        "more than 16384 preimages",
    );
    // An entry that is not a list.
    let (bytes, _) = vector_record();
    let mut fields = top_fields(&bytes);
    fields[6] = list(&[0x80]);
    assert_rejects(&assemble(&fields), "force_preimages.item: expected a list");
}

#[test]
fn rejects_records_larger_than_a_message() {
    let big = vec![0u8; MAX_RECORD_BYTES + 1];
    assert_rejects(&big, "exceeds the limit of 16777216");
}

#[test]
fn synthetic_records_are_realistic_and_round_trip() {
    let empty = V3Record::synthetic(1_000, 0, 0);
    assert_eq!(empty.encoded_len(), 8_594);
    assert!(empty.encoded_len() >= 8_500);
    assert!(
        empty
            .block_context
            .block_hashes
            .iter()
            .all(|h| !h.is_zero())
    );
    for (block, txs, tx_bytes) in [
        (0, 0, 0),
        (1, 1, 1),
        (42, 3, 0),
        (7, 10, 200),
        (u64::MAX, 2, 33),
    ] {
        let record = V3Record::synthetic(block, txs, tx_bytes);
        assert_eq!(record.block_number(), block);
        assert_eq!(record.transactions.len(), txs);
        let bytes = encode(&record, ZksVersion::V3);
        assert_eq!(bytes.len(), record.encoded_len());
        assert_eq!(decode(&bytes).unwrap(), record);
        assert_eq!(
            V3Record::synthetic(block, txs, tx_bytes),
            record,
            "deterministic"
        );
    }
    let with_txs = V3Record::synthetic(5, 100, 150);
    assert!(
        with_txs
            .transactions
            .iter()
            .all(|t| t.len() == 152 && t[2] == 0x02)
    );
    assert_eq!(
        with_txs.encoded_len(),
        V3Record::synthetic(5, 0, 0).encoded_len() + 100 * 152 + 2
    );
    // Consecutive synthetic blocks chain.
    let (a, b) = (
        V3Record::synthetic(99, 0, 0),
        V3Record::synthetic(100, 0, 0),
    );
    assert_eq!(b.parent_hash(), U256::from(a.block_output_hash));
    assert_eq!(
        a.block_context.block_hashes[1..],
        b.block_context.block_hashes[..255]
    );
}

#[test]
fn default_record_round_trips_and_debug_is_short() {
    let record = V3Record::default();
    let bytes = encode(&record, ZksVersion::V2);
    assert_eq!(decode(&bytes).unwrap(), record);
    let debug = format!("{:?}", V3Record::synthetic(42, 3, 100));
    assert!(debug.len() < 1_000, "{debug}");
    assert!(debug.contains("3 txs"), "{debug}");
    assert!(debug.contains("0.31.0"), "{debug}");
}

fn arb_u256() -> impl Strategy<Value = U256> {
    prop_oneof![
        Just(U256::ZERO),
        any::<u64>().prop_map(U256::from),
        any::<[u8; 32]>().prop_map(U256::from_be_bytes),
    ]
}

fn arb_item() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..80)
            .prop_map(|b| Bytes::from(alloy_rlp::encode(b.as_slice()))),
        proptest::collection::vec(any::<u64>(), 0..6)
            .prop_map(|v| Bytes::from(alloy_rlp::encode(&v))),
    ]
}

fn arb_record() -> impl Strategy<Value = V3Record> {
    let context = (
        (any::<u64>(), any::<u64>(), any::<u64>(), any::<[u8; 20]>()),
        (arb_u256(), arb_u256(), arb_u256(), arb_u256(), arb_u256()),
        (any::<u64>(), any::<u64>(), any::<u32>()),
        proptest::collection::vec(arb_u256(), 1..4),
    )
        .prop_map(
            |(
                (chain_id, block_number, timestamp, coinbase),
                (fee, pubdata, native, mix, blob),
                (gas, pubdata_limit, ev),
                seeds,
            )| {
                let mut block_hashes = Box::new([U256::ZERO; 256]);
                for (i, slot) in block_hashes.iter_mut().enumerate() {
                    *slot = seeds[i % seeds.len()];
                }
                BlockContext {
                    chain_id,
                    block_number,
                    block_hashes,
                    timestamp,
                    eip1559_basefee: fee,
                    pubdata_price: pubdata,
                    native_price: native,
                    coinbase,
                    gas_limit: gas,
                    pubdata_limit,
                    mix_hash: mix,
                    execution_version: ev,
                    blob_fee: blob,
                }
            },
        );
    (
        context,
        (
            any::<u64>(),
            any::<u64>(),
            any::<[u64; 3]>(),
            any::<[u8; 32]>(),
        ),
        proptest::collection::vec(arb_item(), 0..5),
        proptest::collection::vec(
            (
                any::<[u8; 32]>(),
                proptest::collection::vec(any::<u8>(), 0..70),
            ),
            0..3,
        ),
        (any::<u64>(), any::<u64>(), any::<u64>()),
    )
        .prop_map(
            |(
                block_context,
                (l1, prev, protocol_version, output),
                txs,
                preimages,
                (root, mig, fee),
            )| V3Record {
                block_context,
                starting_l1_priority_id: l1,
                transactions: txs,
                previous_block_timestamp: prev,
                protocol_version,
                block_output_hash: output,
                force_preimages: preimages
                    .into_iter()
                    .map(|(h, p)| (h, Bytes::from(p)))
                    .collect(),
                starting_interop_root_id: root,
                starting_migration_number: mig,
                starting_interop_fee_number: fee,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_record_round_trips(record in arb_record()) {
        let bytes = encode(&record, ZksVersion::V3);
        prop_assert_eq!(bytes.len(), record.encoded_len());
        let back = decode(&bytes).unwrap();
        prop_assert_eq!(&back, &record);
        prop_assert_eq!(encode(&back, ZksVersion::V1), bytes);
    }

    #[test]
    fn truncations_of_a_record_never_decode(cut in 1usize..1_740) {
        let (bytes, _) = vector_record();
        let cut = cut.min(bytes.len() - 1);
        prop_assert!(decode(&bytes[..cut]).is_err());
    }

    #[test]
    fn corrupted_records_either_fail_or_re_encode_exactly(at in 0usize..1_740, byte in any::<u8>()) {
        let (mut bytes, _) = vector_record();
        let at = at % bytes.len();
        bytes[at] = byte;
        if let Ok(record) = decode(&bytes) {
            prop_assert_eq!(encode(&record, ZksVersion::V3), bytes.clone());
        }
        // The bytes type accepts exactly what the typed decoder accepts.
        let kept = V3RecordBytes::decode(ZksVersion::V5, &Bytes::from(bytes.clone()));
        prop_assert_eq!(kept.is_ok(), decode(&bytes).is_ok());
        // Its cheap path never panics on damaged bytes, and a full decode still judges them.
        if let Ok(trusted) = V3RecordBytes::from_trusted(Bytes::from(bytes.clone())) {
            prop_assert_eq!(trusted.to_record().is_ok(), decode(&bytes).is_ok());
        }
    }
}
