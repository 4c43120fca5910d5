//! The codec against upstream's current-generation vectors: zks/5, the retired zks/4, and
//! `zks_2fa/1` (`tests/vectors/upstream/`: frames built from the inputs of upstream's own
//! tests, each case naming the test it comes from).
//!
//! Every case is checked: `accept` cases decode to the value their inputs describe (built
//! independently of the decoder) and that value encodes to the frame byte for byte; `reject`
//! cases fail with the exact [`DecodeError`] assigned below; `semantic-reject` cases decode and
//! re-encode, and the value is refused on use.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use alloy_rlp::{Decodable, Header};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;
use zks_wire::limits::{MAX_MESSAGE_BYTES, MAX_SIGNATURE_BYTES};
use zks_wire::{
    BlockReplays, DecodeError, Frame, GetBlockReplays, MessageId, Protocol, RawRecord,
    RecordOverride, ReplayRecord, RequestId, TwoFaMessage, TwoFaMessageId, TwoFaVersion,
    VerifierAuth, VerifierChallenge, VerifyBatch, VerifyBatchOutcome, VerifyBatchResult,
    ZksMessage, ZksVersion,
};

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    capability: String,
    message: Option<String>,
    id: Option<u8>,
    expect: String,
    #[serde(default)]
    inputs: Value,
    decodes_as: Option<Value>,
    frame: String,
}

fn cases(text: &str) -> Vec<Case> {
    serde_json::from_str(text).unwrap()
}

fn zks5() -> Vec<Case> {
    cases(include_str!("vectors/upstream/zks5.json"))
}

fn zks4() -> Vec<Case> {
    cases(include_str!("vectors/upstream/zks4.json"))
}

fn zks_2fa1() -> Vec<Case> {
    cases(include_str!("vectors/upstream/zks_2fa1.json"))
}

fn unhex(s: &str) -> Bytes {
    Bytes::from(hex::decode(s).unwrap())
}

fn hex_field(v: &Value, name: &str) -> Bytes {
    unhex(v[name].as_str().unwrap())
}

fn u64_field(v: &Value, name: &str) -> u64 {
    v[name].as_u64().unwrap()
}

fn zks_version(case: &Case) -> ZksVersion {
    let number = case.capability.strip_prefix("zks/").unwrap();
    ZksVersion::from_number(number.parse().unwrap()).unwrap()
}

fn get_block_replays(v: &Value) -> GetBlockReplays {
    GetBlockReplays {
        starting_block: u64_field(v, "starting_block"),
        record_overrides: v["record_overrides"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| RecordOverride {
                block_number: u64_field(o, "block_number"),
                db_key: hex_field(o, "db_key"),
            })
            .collect(),
        max_blocks_per_message: v["max_blocks_per_message"].as_u64(),
    }
}

fn verify_batch(v: &Value) -> VerifyBatch {
    VerifyBatch {
        request_id: RequestId(u64_field(v, "request_id")),
        batch_number: u64_field(v, "batch_number"),
        first_block_number: u64_field(v, "first_block_number"),
        last_block_number: u64_field(v, "last_block_number"),
        pubdata_mode: u8::try_from(u64_field(v, "pubdata_mode")).unwrap(),
        commit_data: hex_field(v, "commit_data"),
        prev_commit_data: hex_field(v, "prev_commit_data"),
        execution_protocol_version: u16::try_from(u64_field(v, "execution_protocol_version"))
            .unwrap(),
    }
}

fn verify_batch_result(v: &Value) -> VerifyBatchResult {
    let outcome = match v["outcome"].as_str().unwrap() {
        "approved" => VerifyBatchOutcome::Approved {
            signature: hex_field(v, "signature"),
        },
        "refused" => VerifyBatchOutcome::Refused {
            reason: v["reason"].as_str().unwrap().to_owned(),
        },
        other => panic!("unknown outcome {other}"),
    };
    VerifyBatchResult {
        request_id: RequestId(u64_field(v, "request_id")),
        batch_number: u64_field(v, "batch_number"),
        outcome,
    }
}

fn challenge(v: &Value) -> VerifierChallenge {
    VerifierChallenge {
        nonce: hex_field(v, "nonce").as_ref().try_into().unwrap(),
    }
}

fn auth(v: &Value) -> VerifierAuth {
    VerifierAuth {
        signature: hex_field(v, "signature"),
    }
}

/// The `zks_2fa` message a case's inputs describe.
fn two_fa_message(case: &Case, v: &Value) -> TwoFaMessage {
    match case.message.as_deref().unwrap() {
        "VerifierRoleRequest" => TwoFaMessage::VerifierRoleRequest,
        "VerifierChallenge" => TwoFaMessage::VerifierChallenge(challenge(v)),
        "VerifierAuth" => TwoFaMessage::VerifierAuth(auth(v)),
        "VerifyBatch" => TwoFaMessage::VerifyBatch(verify_batch(v)),
        "VerifyBatchResult" => TwoFaMessage::VerifyBatchResult(verify_batch_result(v)),
        other => panic!("{}: message {other} not covered", case.name),
    }
}

/// `[block_number, payload]` stand-in records, encoded as `RawRecord`s.
fn stand_in_records(records: &[Value]) -> Vec<Bytes> {
    records
        .iter()
        .map(|r| {
            let mut out = Vec::new();
            RawRecord::new(u64_field(r, "block_number"), hex_field(r, "payload"))
                .encode(ZksVersion::V5, &mut out);
            Bytes::from(out)
        })
        .collect()
}

/// `(chain_id, block_number)` at the head of a v3 record's `block_context`, read with plain
/// alloy-rlp: enough to see that the wire layer sliced out exactly the records the inputs
/// describe (the full layout belongs to the typed records, not to the wire).
fn v3_record_head(item: &[u8]) -> (u64, u64) {
    let mut buf = item;
    let record = Header::decode(&mut buf).unwrap();
    assert!(record.list);
    assert_eq!(
        buf.len(),
        record.payload_length,
        "one item, nothing after it"
    );
    let context = Header::decode(&mut buf).unwrap();
    assert!(context.list);
    let chain_id = u64::decode(&mut buf).unwrap();
    let block_number = u64::decode(&mut buf).unwrap();
    (chain_id, block_number)
}

/// Checks one accept case of a zks capability.
fn check_zks_accept(case: &Case) {
    let version = zks_version(case);
    let wire = unhex(&case.frame);
    let frame = Frame::from_wire(wire.clone()).unwrap();
    assert_eq!(Some(frame.id), case.id, "{}", case.name);
    let decoded = ZksMessage::decode(version, &frame).unwrap_or_else(|e| {
        panic!("{}: {e}", case.name);
    });
    let v = &case.inputs;
    let expected = match case.message.as_deref().unwrap() {
        "GetBlockReplays" => ZksMessage::GetBlockReplays(get_block_replays(v)),
        "BlockReplays" => {
            let records = v["records"].as_array().unwrap();
            if records.iter().all(|r| r.get("block_context").is_some()) {
                // Real v3 records: opaque at the wire layer; check the slicing, then the bytes.
                let ZksMessage::BlockReplays(got) = &decoded else {
                    panic!("{}: {decoded:?}", case.name);
                };
                assert_eq!(got.records.len(), records.len(), "{}", case.name);
                for (raw, input) in got.records.iter().zip(records) {
                    let context = &input["block_context"];
                    assert_eq!(
                        v3_record_head(raw),
                        (
                            u64_field(context, "chain_id"),
                            u64_field(context, "block_number")
                        ),
                        "{}",
                        case.name
                    );
                }
                decoded.clone()
            } else {
                ZksMessage::BlockReplays(BlockReplays {
                    records: stand_in_records(records),
                })
            }
        }
        _ => {
            // The verifier messages: the zks_2fa payloads at id + 2.
            let message: ZksMessage = match two_fa_message(case, v) {
                TwoFaMessage::VerifierRoleRequest => ZksMessage::VerifierRoleRequest,
                TwoFaMessage::VerifierChallenge(m) => m.into(),
                TwoFaMessage::VerifierAuth(m) => m.into(),
                TwoFaMessage::VerifyBatch(m) => m.into(),
                TwoFaMessage::VerifyBatchResult(m) => m.into(),
            };
            assert_eq!(message.id() as u8, frame.id, "{}", case.name);
            message
        }
    };
    // The encoder writes exactly the frame from the inputs (for "max Some(0)" too: 0x80).
    assert_eq!(
        hex::encode(expected.to_frame().to_wire()),
        case.frame,
        "{}",
        case.name
    );
    let expected_decoded = match &case.decodes_as {
        Some(d) => ZksMessage::GetBlockReplays(get_block_replays(d)),
        None => expected,
    };
    assert_eq!(decoded, expected_decoded, "{}", case.name);
    // And what decodes re-encodes to the same bytes unless the encoding is not canonical.
    if case.decodes_as.is_none() {
        assert_eq!(decoded.to_frame().to_wire(), wire.as_ref(), "{}", case.name);
    }
}

/// The typed error each zks reject case must fail with; `None`: a record-layer reject.
fn zks_reject(case: &Case) -> Option<DecodeError> {
    let version = zks_version(case);
    Some(match case.name.as_str() {
        "GetBlockReplays with a fourth field" => DecodeError::TrailingBytes {
            context: "GetBlockReplays",
            count: 1,
        },
        "retired message id 0x02" => DecodeError::RetiredMessageId {
            id: MessageId::VerifierRoleRequest,
            version,
        },
        "retired message id 0x06" => DecodeError::RetiredMessageId {
            id: MessageId::VerifyBatchResult,
            version,
        },
        "unknown message id 0x07" => DecodeError::UnknownMessageId { id: 0x07 },
        "v3 record with 255 block hashes" | "v3 record with protocol version [0, 31]" => {
            return None;
        }
        other => panic!("reject case {other} has no assigned error"),
    })
}

fn check_zks_file(cases: &[Case], capability: &str) -> (usize, usize, usize) {
    let mut counts = (0, 0, 0);
    for case in cases {
        assert_eq!(case.capability, capability, "{}", case.name);
        match case.expect.as_str() {
            "accept" => {
                check_zks_accept(case);
                counts.0 += 1;
            }
            "reject" => {
                let frame = Frame::from_wire(unhex(&case.frame)).unwrap();
                let got = ZksMessage::decode(zks_version(case), &frame);
                match zks_reject(case) {
                    Some(error) => assert_eq!(got, Err(error), "{}", case.name),
                    None => {
                        // Malformed v3 records: the wire layer keeps records opaque, so the
                        // frame decodes to one record and the record decoder must refuse it.
                        let Ok(ZksMessage::BlockReplays(m)) = got else {
                            panic!("{}: {got:?}", case.name);
                        };
                        assert_eq!(m.records.len(), 1, "{}", case.name);
                        assert_eq!(v3_record_head(&m.records[0]), (270, 42), "{}", case.name);
                    }
                }
                counts.1 += 1;
            }
            other => panic!("{}: unexpected expect {other}", case.name),
        }
    }
    counts
}

#[test]
fn zks5_vectors() {
    let cases = zks5();
    assert_eq!(cases.len(), 15);
    assert_eq!(check_zks_file(&cases, "zks/5"), (9, 6, 0));
}

#[test]
fn zks4_vectors() {
    let cases = zks4();
    assert_eq!(cases.len(), 29);
    assert_eq!(check_zks_file(&cases, "zks/4"), (25, 4, 0));
}

/// The typed error each `zks_2fa/1` reject case must fail with.
fn two_fa_reject(name: &str) -> DecodeError {
    match name {
        "VerifyBatchResult tag written as 0x00" => alloy_rlp::Error::LeadingZero.into(),
        "VerifyBatchResult tag 2" => DecodeError::UnknownOutcomeTag(2),
        "VerifyBatchResult refused reason not UTF-8" => DecodeError::ReasonNotUtf8,
        "unknown message id 0x05" => DecodeError::UnknownMessageId { id: 0x05 },
        "VerifierRoleRequest with a field" => DecodeError::TrailingBytes {
            context: "VerifierRoleRequest",
            count: 1,
        },
        "empty frame" => DecodeError::MissingField("message id"),
        other => panic!("reject case {other} has no assigned error"),
    }
}

fn decode_2fa(hex: &str) -> Result<TwoFaMessage, DecodeError> {
    let frame = Frame::from_wire_as(Protocol::Zks2fa, unhex(hex))?;
    TwoFaMessage::decode(TwoFaVersion::V1, &frame)
}

#[test]
fn zks_2fa1_vectors() {
    let cases = zks_2fa1();
    assert_eq!(cases.len(), 23);
    let mut counts = (0, 0, 0);
    for case in &cases {
        assert_eq!(case.capability, "zks_2fa/1", "{}", case.name);
        match case.expect.as_str() {
            "accept" | "semantic-reject" => {
                let expected = two_fa_message(case, &case.inputs);
                assert_eq!(Some(expected.id() as u8), case.id, "{}", case.name);
                let frame = expected.to_frame();
                assert_eq!(frame.protocol, Protocol::Zks2fa);
                assert_eq!(hex::encode(frame.to_wire()), case.frame, "{}", case.name);
                let decoded = decode_2fa(&case.frame);
                assert_eq!(decoded.as_ref(), Ok(&expected), "{}", case.name);
                if case.expect == "accept" {
                    counts.0 += 1;
                } else {
                    // The only semantic reject: a 64-byte auth signature, refused on use.
                    let Ok(TwoFaMessage::VerifierAuth(auth)) = decoded else {
                        panic!("{}", case.name);
                    };
                    assert_eq!(
                        auth.rsv(),
                        Err(DecodeError::WrongLength {
                            field: "signature",
                            expected: 65,
                            got: 64
                        }),
                        "{}",
                        case.name
                    );
                    counts.2 += 1;
                }
                if let TwoFaMessage::VerifierAuth(auth) = &expected
                    && case.expect == "accept"
                {
                    assert_eq!(
                        auth.rsv().map(|rsv| rsv.to_vec()),
                        Ok(auth.signature.to_vec())
                    );
                }
            }
            "reject" => {
                assert_eq!(
                    decode_2fa(&case.frame),
                    Err(two_fa_reject(&case.name)),
                    "{}",
                    case.name
                );
                counts.1 += 1;
            }
            other => panic!("{}: unexpected expect {other}", case.name),
        }
    }
    assert_eq!(counts, (16, 6, 1));
}

/// zks/4's verifier frames are the `zks_2fa/1` frames with the id moved up by 2, and both
/// decode to the same payloads.
#[test]
fn zks4_verifier_payloads_are_the_2fa_payloads() {
    let two_fa = zks_2fa1();
    let mut pairs = 0;
    for case in zks4().iter().filter(|c| c.id.is_some_and(|id| id >= 2)) {
        let other = two_fa.iter().find(|c| c.name == case.name).unwrap();
        assert_eq!(other.id.map(|id| id + 2), case.id, "{}", case.name);
        assert_eq!(case.frame[2..], other.frame[2..], "{}", case.name);
        let zks = ZksMessage::decode(
            ZksVersion::V4,
            &Frame::from_wire(unhex(&case.frame)).unwrap(),
        )
        .unwrap();
        let body_2fa = {
            let mut out = Vec::new();
            decode_2fa(&other.frame).unwrap().encode_body(&mut out);
            out
        };
        let mut body_zks = Vec::new();
        zks.encode_body(&mut body_zks);
        assert_eq!(body_zks, body_2fa, "{}", case.name);
        pairs += 1;
    }
    assert_eq!(pairs, 16);
}

/// zks/5 refuses the verifier ids as retired whatever the body; zks/3 and zks/4 still decode
/// them, and zks/1–2 never knew them.
#[test]
fn zks5_retires_the_verifier_ids_and_zks3_keeps_them() {
    let verifier_frames: Vec<Frame> = zks4()
        .iter()
        .filter(|c| c.expect == "accept" && c.id.is_some_and(|id| id >= 2))
        .map(|c| Frame::from_wire(unhex(&c.frame)).unwrap())
        .collect();
    let ids: std::collections::BTreeSet<u8> = verifier_frames.iter().map(|f| f.id).collect();
    assert_eq!(ids, (0x02..=0x06).collect());
    for frame in &verifier_frames {
        let id = MessageId::from_u8(frame.id).unwrap();
        assert_eq!(
            ZksMessage::decode(ZksVersion::V5, frame),
            Err(DecodeError::RetiredMessageId {
                id,
                version: ZksVersion::V5
            })
        );
        let v3 = ZksMessage::decode(ZksVersion::V3, frame).unwrap();
        assert_eq!(v3.id(), id);
        assert_eq!(ZksMessage::decode(ZksVersion::V4, frame), Ok(v3));
        assert_eq!(
            ZksMessage::decode(ZksVersion::V2, frame),
            Err(DecodeError::MessageNotInVersion {
                id,
                version: ZksVersion::V2
            })
        );
    }
    for version in [ZksVersion::V3, ZksVersion::V4, ZksVersion::V5] {
        assert_eq!(
            ZksMessage::decode(version, &Frame::zks(0x07, Bytes::from_static(&[0xc0]))),
            Err(DecodeError::UnknownMessageId { id: 0x07 })
        );
    }
}

#[test]
fn empty_max_slot_is_absent_on_zks4_and_zks5_only() {
    let frame = Frame::from_wire(unhex("00c380c080")).unwrap();
    let request = |max| {
        Ok(ZksMessage::GetBlockReplays(GetBlockReplays {
            starting_block: 0,
            record_overrides: vec![],
            max_blocks_per_message: max,
        }))
    };
    assert_eq!(ZksMessage::decode(ZksVersion::V5, &frame), request(None));
    assert_eq!(ZksMessage::decode(ZksVersion::V4, &frame), request(None));
    // Our seed generation keeps reading the slot as a value.
    assert_eq!(ZksMessage::decode(ZksVersion::V3, &frame), request(Some(0)));
    // A present, non-zero max is a value wherever the field exists (zks/3 on; zks/1–2 do not
    // define it); a non-canonical one fails everywhere.
    let one = Frame::from_wire(unhex("00c380c001")).unwrap();
    let leading_zero = Frame::from_wire(unhex("00c380c000")).unwrap();
    for version in ZksVersion::ALL {
        let expected = if version.has_max_blocks_field() {
            request(Some(1))
        } else {
            Err(DecodeError::FieldNotInVersion {
                field: "max_blocks_per_message",
                version,
            })
        };
        assert_eq!(ZksMessage::decode(version, &one), expected);
        assert_eq!(
            ZksMessage::decode(version, &leading_zero),
            Err(alloy_rlp::Error::LeadingZero.into())
        );
    }
}

#[test]
fn auth_signature_length_is_a_decode_rule_on_zks3_only() {
    // `[signature]` with 64 bytes of 0x07.
    let short = Frame::zks(0x04, unhex(&format!("f842b840{}", "07".repeat(64))));
    assert_eq!(
        ZksMessage::decode(ZksVersion::V3, &short),
        Err(DecodeError::WrongLength {
            field: "signature",
            expected: 65,
            got: 64
        })
    );
    let ZksMessage::VerifierAuth(auth) = ZksMessage::decode(ZksVersion::V4, &short).unwrap() else {
        panic!()
    };
    assert_eq!(auth.signature.len(), 64);
    assert!(auth.rsv().is_err());
    assert_eq!(VerifierAuth::new([7; 65]).rsv(), Ok([7; 65]));
    assert_eq!(VerifierAuth::from([7; 65]), VerifierAuth::new([7; 65]));

    // Any length is still bounded before it is sliced out.
    let long = TwoFaMessage::VerifierAuth(VerifierAuth {
        signature: vec![7; MAX_SIGNATURE_BYTES + 1].into(),
    })
    .to_frame();
    assert_eq!(
        TwoFaMessage::decode(TwoFaVersion::V1, &long),
        Err(DecodeError::SignatureTooLong {
            len: MAX_SIGNATURE_BYTES + 1,
            max: MAX_SIGNATURE_BYTES
        })
    );
    let at_limit = TwoFaMessage::VerifierAuth(VerifierAuth {
        signature: vec![7; MAX_SIGNATURE_BYTES].into(),
    });
    assert_eq!(
        TwoFaMessage::decode(TwoFaVersion::V1, &at_limit.to_frame()),
        Ok(at_limit)
    );
}

#[test]
fn frames_of_the_other_subprotocol_are_refused() {
    let role_2fa = TwoFaMessage::VerifierRoleRequest.to_frame();
    assert_eq!(role_2fa.to_wire(), [0x00, 0xc0]);
    assert_eq!(
        ZksMessage::decode(ZksVersion::V5, &role_2fa),
        Err(DecodeError::WrongProtocol {
            expected: Protocol::Zks,
            got: Protocol::Zks2fa
        })
    );
    let role_zks = Frame::zks(0x00, Bytes::from_static(&[0xc0]));
    assert_eq!(
        TwoFaMessage::decode(TwoFaVersion::V1, &role_zks),
        Err(DecodeError::WrongProtocol {
            expected: Protocol::Zks2fa,
            got: Protocol::Zks
        })
    );
}

#[test]
fn two_fa_limits_and_malformed_shapes() {
    let big = Frame::new(
        Protocol::Zks2fa,
        0x03,
        Bytes::from(vec![0u8; MAX_MESSAGE_BYTES + 1]),
    );
    assert_eq!(
        TwoFaMessage::decode(TwoFaVersion::V1, &big),
        Err(DecodeError::MessageTooLarge {
            size: MAX_MESSAGE_BYTES + 1,
            max: MAX_MESSAGE_BYTES
        })
    );
    // Stricter than upstream, which ignores bytes after the payload: ours never sends them.
    assert_eq!(
        decode_2fa("0429070183626164ff"),
        Err(DecodeError::TrailingBytes {
            context: "VerifyBatchResult",
            count: 1
        })
    );
    let cases: &[(u8, &[u8])] = &[
        (0x00, &[]),                             // empty body
        (0x01, &[0xc2, 0x81, 0x11]),             // short nonce
        (0x02, &[0xc0]),                         // missing signature
        (0x02, &[0xc1, 0xc0]),                   // signature is a list
        (0x03, &[0xc1, 0x29]),                   // truncated VerifyBatch
        (0x04, &[0x29, 0x07]),                   // missing tag
        (0x04, &[0x29, 0x07, 0x80]),             // missing signature
        (0x04, &[0xc3, 0x29, 0x07, 0x80]),       // a list, not four items
        (0x04, &[0x29, 0x07, 0x01, 0x81, 0xff]), // reason not UTF-8
    ];
    for (id, body) in cases {
        let frame = Frame::new(Protocol::Zks2fa, *id, Bytes::copy_from_slice(body));
        assert!(
            TwoFaMessage::decode(TwoFaVersion::V1, &frame).is_err(),
            "{id} {body:02x?}"
        );
    }
    for id in 0x05..=0xff {
        let frame = Frame::new(Protocol::Zks2fa, id, Bytes::from_static(&[0xc0]));
        assert_eq!(
            TwoFaMessage::decode(TwoFaVersion::V1, &frame),
            Err(DecodeError::UnknownMessageId { id })
        );
    }
    assert_eq!(
        TwoFaMessageId::from_u8(TwoFaVersion::V1, 0x04),
        Some(TwoFaMessageId::VerifyBatchResult)
    );
}

mod properties {
    use proptest::prelude::*;

    use super::common::{arb_bytes, arb_verify_batch, arb_verify_batch_result};
    use super::*;

    fn arb_message() -> impl Strategy<Value = TwoFaMessage> {
        let batch = arb_verify_batch().prop_map(TwoFaMessage::VerifyBatch);
        let result = arb_verify_batch_result().prop_map(TwoFaMessage::VerifyBatchResult);
        prop_oneof![
            batch,
            result,
            arb_bytes(100)
                .prop_map(|signature| TwoFaMessage::VerifierAuth(VerifierAuth { signature })),
            any::<[u8; 32]>()
                .prop_map(|nonce| TwoFaMessage::VerifierChallenge(VerifierChallenge { nonce })),
            Just(TwoFaMessage::VerifierRoleRequest),
        ]
    }

    proptest! {
        #[test]
        fn every_2fa_message_round_trips(message in arb_message()) {
            let frame = message.to_frame();
            prop_assert_eq!(TwoFaMessage::decode(TwoFaVersion::V1, &frame), Ok(message));
        }

        #[test]
        fn arbitrary_2fa_bytes_never_panic(
            id in 0u8..7,
            body in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            let frame = Frame::new(Protocol::Zks2fa, id, body);
            if let Ok(message) = TwoFaMessage::decode(TwoFaVersion::V1, &frame) {
                prop_assert_eq!(message.to_frame(), frame);
            }
        }
    }
}
