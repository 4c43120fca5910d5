//! The zks wire codec against the golden vectors, its limits, and round trips.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use bytes::Bytes;
use common::{arb_bytes, arb_verify_batch, arb_verify_batch_result};
use proptest::prelude::*;
use serde::Deserialize;
use zks_wire::limits::{
    MAX_DB_KEY_BYTES, MAX_MESSAGE_BYTES, MAX_REASON_BYTES, MAX_RECORD_OVERRIDES,
    MAX_RECORDS_PER_MESSAGE,
};
use zks_wire::{
    BlockReplays, DecodeError, Frame, GetBlockReplays, MessageId, RecordOverride, RequestId,
    VerifierAuth, VerifierChallenge, VerifyBatch, VerifyBatchOutcome, VerifyBatchResult,
    ZksMessage, ZksVersion,
};
use zks_wire::{RawRecord, ReplayRecord};

#[derive(Deserialize)]
struct VectorFile {
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    name: String,
    hex: String,
    version: u8,
    fields: serde_json::Value,
}

fn vectors() -> Vec<Vector> {
    let text = include_str!("vectors/zks-wire.json");
    serde_json::from_str::<VectorFile>(text).unwrap().vectors
}

fn unhex(s: &str) -> Bytes {
    Bytes::from(hex::decode(s).unwrap())
}

fn field_hex(fields: &serde_json::Value, name: &str) -> Bytes {
    unhex(fields[name].as_str().unwrap())
}

fn field_u64(fields: &serde_json::Value, name: &str) -> u64 {
    fields[name].as_u64().unwrap()
}

/// The message a vector's `fields` describe, built independently of the decoder.
fn expected_message(v: &Vector) -> ZksMessage {
    let f = &v.fields;
    if v.name.starts_with("GetBlockReplays") {
        return ZksMessage::GetBlockReplays(GetBlockReplays {
            starting_block: field_u64(f, "starting_block"),
            record_overrides: f["record_overrides"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| RecordOverride {
                    block_number: field_u64(o, "block_number"),
                    db_key: field_hex(o, "db_key_hex"),
                })
                .collect(),
            max_blocks_per_message: f["max_blocks_per_message"].as_u64(),
        });
    }
    if v.name.starts_with("BlockReplays") {
        let records = f["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let record =
                    RawRecord::new(field_u64(r, "block_number"), field_hex(r, "payload_hex"));
                let mut out = Vec::new();
                record.encode(ZksVersion::V3, &mut out);
                Bytes::from(out)
            })
            .collect();
        return ZksMessage::BlockReplays(BlockReplays { records });
    }
    match v.name.as_str() {
        "VerifierRoleRequest" => ZksMessage::VerifierRoleRequest,
        "VerifierChallenge" => ZksMessage::VerifierChallenge(VerifierChallenge {
            nonce: field_hex(f, "nonce_hex").as_ref().try_into().unwrap(),
        }),
        "VerifierAuth" => ZksMessage::VerifierAuth(VerifierAuth::new(
            field_hex(f, "signature_hex").as_ref().try_into().unwrap(),
        )),
        "VerifyBatch" => ZksMessage::VerifyBatch(VerifyBatch {
            request_id: RequestId(field_u64(f, "request_id")),
            batch_number: field_u64(f, "batch_number"),
            first_block_number: field_u64(f, "first_block_number"),
            last_block_number: field_u64(f, "last_block_number"),
            pubdata_mode: u8::try_from(field_u64(f, "pubdata_mode")).unwrap(),
            commit_data: field_hex(f, "commit_data_hex"),
            prev_commit_data: field_hex(f, "prev_commit_data_hex"),
            execution_protocol_version: u16::try_from(field_u64(f, "execution_protocol_version"))
                .unwrap(),
        }),
        name if name.starts_with("VerifyBatchResult") => {
            let outcome = match f["outcome"].as_str().unwrap() {
                "approved" => VerifyBatchOutcome::Approved {
                    signature: field_hex(f, "signature_hex"),
                },
                "refused" => VerifyBatchOutcome::Refused {
                    reason: f["reason"].as_str().unwrap().to_owned(),
                },
                other => panic!("unknown outcome {other}"),
            };
            ZksMessage::VerifyBatchResult(VerifyBatchResult {
                request_id: RequestId(field_u64(f, "request_id")),
                batch_number: field_u64(f, "batch_number"),
                outcome,
            })
        }
        other => panic!("vector {other} not covered"),
    }
}

#[test]
fn every_golden_vector_decodes_to_its_fields_and_encodes_to_its_bytes() {
    let vectors = vectors();
    assert_eq!(vectors.len(), 11);
    for v in &vectors {
        let version = ZksVersion::from_number(v.version).unwrap();
        let wire = unhex(&v.hex);
        let frame = Frame::from_wire(wire.clone()).unwrap();
        let expected = expected_message(v);
        assert_eq!(
            ZksMessage::decode(version, &frame).as_ref(),
            Ok(&expected),
            "{}",
            v.name
        );
        assert_eq!(expected.to_frame().to_wire(), wire.as_ref(), "{}", v.name);
    }
}

#[test]
fn raw_records_in_the_vector_decode() {
    let v = vectors()
        .into_iter()
        .find(|v| v.name.starts_with("BlockReplays two"))
        .unwrap();
    let frame = Frame::from_wire(unhex(&v.hex)).unwrap();
    let ZksMessage::BlockReplays(m) = ZksMessage::decode(ZksVersion::V3, &frame).unwrap() else {
        panic!()
    };
    let records: Vec<_> = m
        .records
        .iter()
        .map(|r| RawRecord::decode(ZksVersion::V3, r).unwrap())
        .collect();
    assert_eq!(
        records,
        [
            RawRecord::new(5, vec![0xaa, 0xbb]),
            RawRecord::new(6, vec![])
        ]
    );
}

#[test]
fn zks1_and_zks2_reject_verifier_message_ids() {
    for v in vectors().iter().filter(|v| v.version == 3) {
        let frame = Frame::from_wire(unhex(&v.hex)).unwrap();
        let id = MessageId::from_u8(frame.id).unwrap();
        for version in [ZksVersion::V1, ZksVersion::V2] {
            let got = ZksMessage::decode(version, &frame);
            if frame.id <= 0x01 {
                // zks/3 replay messages decode on zks/1–2 unless they use what zks/3 added.
                let uses_zks3 = ZksMessage::decode(ZksVersion::V3, &frame)
                    .is_ok_and(|m| m.check(version).is_err());
                assert_eq!(got.is_ok(), !uses_zks3, "{} on {version}", v.name);
            } else {
                assert_eq!(
                    got,
                    Err(DecodeError::MessageNotInVersion { id, version }),
                    "{}",
                    v.name
                );
            }
        }
    }
    let unknown = Frame::zks(0x07, Bytes::from_static(&[0xc0]));
    assert_eq!(
        ZksMessage::decode(ZksVersion::V3, &unknown),
        Err(DecodeError::UnknownMessageId { id: 0x07 })
    );
}

fn get_block_replays(overrides: usize, key_len: usize) -> Frame {
    ZksMessage::GetBlockReplays(GetBlockReplays {
        starting_block: 0,
        record_overrides: (0..overrides)
            .map(|i| RecordOverride {
                block_number: i as u64,
                db_key: vec![7; key_len].into(),
            })
            .collect(),
        max_blocks_per_message: Some(64),
    })
    .to_frame()
}

#[test]
fn rejects_1025_overrides() {
    assert!(
        ZksMessage::decode(ZksVersion::V3, &get_block_replays(MAX_RECORD_OVERRIDES, 1)).is_ok()
    );
    assert_eq!(
        ZksMessage::decode(
            ZksVersion::V3,
            &get_block_replays(MAX_RECORD_OVERRIDES + 1, 1)
        ),
        Err(DecodeError::TooManyOverrides {
            max: MAX_RECORD_OVERRIDES
        })
    );
}

#[test]
fn rejects_a_33_byte_db_key() {
    assert!(ZksMessage::decode(ZksVersion::V3, &get_block_replays(1, MAX_DB_KEY_BYTES)).is_ok());
    assert_eq!(
        ZksMessage::decode(ZksVersion::V3, &get_block_replays(1, MAX_DB_KEY_BYTES + 1)),
        Err(DecodeError::DbKeyTooLong { len: 33, max: 32 })
    );
}

#[test]
fn rejects_an_override_list_over_64_kib_before_reading_it() {
    // `[0, <list of 64 KiB + 1 payload bytes>]`: the list header alone must be enough to refuse.
    let payload_len: usize = 64 * 1024 + 1;
    let len_bytes = &(payload_len as u32).to_be_bytes()[1..];
    let mut list = vec![0xfa];
    list.extend_from_slice(len_bytes);
    list.resize(list.len() + payload_len, 0x01);
    let mut body = vec![0xfa];
    body.extend_from_slice(&((1 + list.len()) as u32).to_be_bytes()[1..]);
    body.push(0x80); // starting_block 0
    body.extend_from_slice(&list);
    let frame = Frame::zks(0, body);
    assert_eq!(
        ZksMessage::decode(ZksVersion::V3, &frame),
        Err(DecodeError::OverrideListTooLarge {
            size: payload_len,
            max: 64 * 1024
        })
    );
}

#[test]
fn rejects_65_records_in_one_block_replays() {
    let replays = |n: u64| {
        let records = (0..n)
            .map(|b| {
                let mut out = Vec::new();
                RawRecord::new(b, "r").encode(ZksVersion::V3, &mut out);
                Bytes::from(out)
            })
            .collect();
        ZksMessage::BlockReplays(BlockReplays { records }).to_frame()
    };
    assert!(ZksMessage::decode(ZksVersion::V3, &replays(64)).is_ok());
    assert_eq!(
        ZksMessage::decode(ZksVersion::V3, &replays(65)),
        Err(DecodeError::TooManyRecords {
            max: MAX_RECORDS_PER_MESSAGE
        })
    );
}

#[test]
fn rejects_an_oversized_message_before_decoding() {
    let frame = Frame::zks(1, Bytes::from(vec![0u8; MAX_MESSAGE_BYTES + 1]));
    assert_eq!(
        ZksMessage::decode(ZksVersion::V3, &frame),
        Err(DecodeError::MessageTooLarge {
            size: MAX_MESSAGE_BYTES + 1,
            max: MAX_MESSAGE_BYTES
        })
    );
}

#[test]
fn rejects_a_long_reason_and_bad_tags() {
    let result = |reason: String| {
        ZksMessage::VerifyBatchResult(VerifyBatchResult {
            request_id: RequestId(1),
            batch_number: 2,
            outcome: VerifyBatchOutcome::Refused { reason },
        })
        .to_frame()
    };
    assert!(ZksMessage::decode(ZksVersion::V3, &result("x".repeat(MAX_REASON_BYTES))).is_ok());
    assert_eq!(
        ZksMessage::decode(ZksVersion::V3, &result("x".repeat(MAX_REASON_BYTES + 1))),
        Err(DecodeError::ReasonTooLong {
            len: 1025,
            max: 1024
        })
    );
    let bad_tag = Frame::zks(6, Bytes::from_static(&[0x01, 0x02, 0x02, 0x80]));
    assert_eq!(
        ZksMessage::decode(ZksVersion::V3, &bad_tag),
        Err(DecodeError::UnknownOutcomeTag(2))
    );
}

#[test]
fn rejects_malformed_shapes_without_panicking() {
    let cases: &[(u8, &[u8])] = &[
        (0, &[]),                             // empty body
        (0, &[0xc1]),                         // truncated list
        (0, &[0xc0]),                         // missing starting_block
        (0, &[0xc3, 0x2a, 0xc0, 0x40, 0x00]), // trailing bytes after the list
        (0, &[0xc4, 0x2a, 0xc0, 0x40, 0x01]), // extra field
        (0, &[0xc2, 0x2a, 0x80]),             // overrides not a list
        (1, &[0xc1, 0x80]),                   // records not a list
        (1, &[0xc2, 0xc1, 0xc5]),             // truncated record
        (2, &[0xc1, 0x80]),                   // role request with a field
        (3, &[0xc2, 0x81, 0x11]),             // short nonce
        (4, &[0xc0]),                         // missing signature
        (5, &[0xc1, 0x29]),                   // truncated VerifyBatch
        (6, &[0x29, 0x07]),                   // missing tag
        (6, &[0x29, 0x07, 0x01, 0x81, 0xff]), // reason not UTF-8
    ];
    for (id, body) in cases {
        let frame = Frame::zks(*id, Bytes::copy_from_slice(body));
        assert!(
            ZksMessage::decode(ZksVersion::V3, &frame).is_err(),
            "{id} {body:02x?}"
        );
    }
}

fn arb_message() -> impl Strategy<Value = ZksMessage> {
    let get = (
        any::<u64>(),
        proptest::collection::vec((any::<u64>(), arb_bytes(32)), 0..8),
        proptest::option::of(any::<u64>()),
    )
        .prop_map(|(starting_block, o, max)| {
            ZksMessage::GetBlockReplays(GetBlockReplays {
                starting_block,
                record_overrides: o
                    .into_iter()
                    .map(|(block_number, db_key)| RecordOverride {
                        block_number,
                        db_key,
                    })
                    .collect(),
                max_blocks_per_message: max,
            })
        });
    let replays = proptest::collection::vec((any::<u64>(), arb_bytes(300)), 0..64).prop_map(|r| {
        let records = r
            .into_iter()
            .map(|(b, p)| {
                let mut out = Vec::new();
                RawRecord::new(b, p).encode(ZksVersion::V3, &mut out);
                Bytes::from(out)
            })
            .collect();
        ZksMessage::BlockReplays(BlockReplays { records })
    });
    let batch = arb_verify_batch().prop_map(ZksMessage::VerifyBatch);
    let result = arb_verify_batch_result().prop_map(ZksMessage::VerifyBatchResult);
    let auth = (any::<[u8; 32]>(), any::<[u8; 32]>(), any::<u8>()).prop_map(|(r, s, v)| {
        let mut signature = [0u8; 65];
        signature[..32].copy_from_slice(&r);
        signature[32..64].copy_from_slice(&s);
        signature[64] = v;
        ZksMessage::VerifierAuth(VerifierAuth::new(signature))
    });
    let challenge = any::<[u8; 32]>()
        .prop_map(|nonce| ZksMessage::VerifierChallenge(VerifierChallenge { nonce }));
    prop_oneof![
        get,
        replays,
        batch,
        result,
        auth,
        challenge,
        Just(ZksMessage::VerifierRoleRequest)
    ]
}

proptest! {
    #[test]
    fn every_message_round_trips(message in arb_message()) {
        let frame = message.to_frame();
        prop_assert_eq!(ZksMessage::decode(ZksVersion::V3, &frame), Ok(message));
    }

    #[test]
    fn arbitrary_bytes_never_panic(id in 0u8..8, body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let frame = Frame::zks(id, body);
        for version in ZksVersion::ALL {
            let _ = ZksMessage::decode(version, &frame);
        }
    }
}

#[test]
fn zks5_retires_the_seed_verifier_ids_that_zks3_accepts() {
    for v in vectors().iter().filter(|v| v.version == 3) {
        let frame = Frame::from_wire(unhex(&v.hex)).unwrap();
        let v3 = ZksMessage::decode(ZksVersion::V3, &frame);
        assert!(v3.is_ok(), "{}", v.name);
        let v5 = ZksMessage::decode(ZksVersion::V5, &frame);
        if frame.id <= 0x01 {
            assert_eq!(v5, v3, "{}", v.name);
        } else {
            let id = MessageId::from_u8(frame.id).unwrap();
            assert_eq!(
                v5,
                Err(DecodeError::RetiredMessageId {
                    id,
                    version: ZksVersion::V5
                }),
                "{}",
                v.name
            );
            // zks/4 shares zks/3's table and payload layouts.
            assert_eq!(ZksMessage::decode(ZksVersion::V4, &frame), v3, "{}", v.name);
        }
    }
}
