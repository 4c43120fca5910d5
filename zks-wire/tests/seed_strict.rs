//! The seed generation's per-version rules, both ways: what zks/1–2 do not define is refused
//! when decoding and when encoding for that version (`vectors/seed-strict.json`).

use bytes::Bytes;
use serde::Deserialize;
use zks_wire::{DecodeError, Frame, ZksMessage, ZksVersion};

#[derive(Deserialize)]
struct VectorFile {
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    name: String,
    version: u8,
    hex: String,
    expect: String,
    error: Option<String>,
}

fn error_name(e: &DecodeError) -> &'static str {
    match e {
        DecodeError::FieldNotInVersion { .. } => "FieldNotInVersion",
        DecodeError::TooManyRecords { .. } => "TooManyRecords",
        _ => "other",
    }
}

#[test]
fn seed_rules_hold_when_decoding_and_when_encoding() {
    let file: VectorFile = serde_json::from_str(include_str!("vectors/seed-strict.json")).unwrap();
    assert_eq!(file.vectors.len(), 8);
    for v in &file.vectors {
        let version = ZksVersion::from_number(v.version).unwrap();
        let bytes = Bytes::from(hex::decode(&v.hex).unwrap());
        let frame = Frame::from_wire(bytes.clone()).unwrap();
        let decoded = ZksMessage::decode(version, &frame);
        // The same message, decoded by a version that defines it, must be refused by the
        // version-aware encoder exactly when decoding refused it.
        let message = ZksMessage::decode(ZksVersion::V3, &frame).unwrap();
        let encoded = message.to_frame_for(version);
        match v.expect.as_str() {
            "accept" => {
                assert_eq!(decoded.as_ref(), Ok(&message), "{}", v.name);
                assert_eq!(encoded.unwrap().to_wire(), bytes, "{}", v.name);
            }
            "reject" => {
                let want = v.error.as_deref().unwrap();
                let got = decoded.expect_err(&v.name);
                assert_eq!(error_name(&got), want, "{}: {got:?}", v.name);
                assert_eq!(encoded, Err(got), "{}", v.name);
            }
            other => panic!("unknown expectation {other}"),
        }
    }
}

#[test]
fn exact_errors() {
    let frame = Frame::from_wire(Bytes::from_static(&[0x00, 0xc3, 0x2a, 0xc0, 0x40])).unwrap();
    assert_eq!(
        ZksMessage::decode(ZksVersion::V1, &frame),
        Err(DecodeError::FieldNotInVersion {
            field: "max_blocks_per_message",
            version: ZksVersion::V1
        })
    );
    let two = Frame::from_wire(Bytes::from(hex::decode("01c7c6c20580c20680").unwrap())).unwrap();
    assert_eq!(
        ZksMessage::decode(ZksVersion::V2, &two),
        Err(DecodeError::TooManyRecords { max: 1 })
    );
    // The version-aware encoder also refuses ids a version does not know or retired.
    assert_eq!(
        ZksMessage::VerifierRoleRequest.to_frame_for(ZksVersion::V5),
        Err(DecodeError::RetiredMessageId {
            id: zks_wire::MessageId::VerifierRoleRequest,
            version: ZksVersion::V5
        })
    );
    assert!(matches!(
        ZksMessage::VerifierRoleRequest.to_frame_for(ZksVersion::V2),
        Err(DecodeError::MessageNotInVersion { .. })
    ));
}
