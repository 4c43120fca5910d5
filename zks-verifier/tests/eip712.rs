//! `Eip712CommitBatchesScheme` against upstream's vectors (`tests/vectors/`: upstream's dummy
//! batch at minors 29, 30 and 31 and a full minor-31 batch), its typed errors on malformed batches, and what `SigningVerifier` and the
//! quorum collector make of a batch the scheme cannot digest.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256, Bytes as AbiBytes, U256, keccak256};
use alloy_sol_types::{SolStruct, SolValue};
use bytes::Bytes;
use proptest::prelude::*;
use serde_json::Value;
use zks_api::SignerAddress;
use zks_api::wire::{RequestId, VerifyBatch, VerifyBatchOutcome, VerifyBatchResult};
use zks_verifier::commit_abi::{
    CommitBatchInfoV29, CommitBatchInfoV30, CommitBatchInfoV31, CommitBatchesMultisig,
    StoredBatchInfo,
};
use zks_verifier::{
    Action, ApprovalRejection, BatchSignatureScheme, DecodeFault, Eip712CommitBatchesScheme,
    QuorumCollector, QuorumConfig, QuorumError, SchemeError, SignatureError, SigningVerifier,
    VerifierKey,
};

const VECTORS: &str = include_str!("vectors/batch-signature-eip712.json");
const AUTH_VECTORS: &str = include_str!("vectors/verifier-auth.json");

fn cases() -> Vec<Value> {
    serde_json::from_str::<Value>(VECTORS)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn case(name: &str) -> Value {
    cases()
        .into_iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no vector {name:?}"))
}

/// The batch cases: every case with `inputs`.
fn batch_cases() -> Vec<Value> {
    let cases: Vec<_> = cases()
        .into_iter()
        .filter(|c| c.get("inputs").is_some())
        .collect();
    assert_eq!(cases.len(), 4, "three dummy batches and a full one");
    cases
}

fn hex_field(value: &Value) -> Vec<u8> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is not a string"));
    hex::decode(text.strip_prefix("0x").unwrap_or(text)).unwrap()
}

fn b256(value: &Value) -> B256 {
    B256::from_slice(&hex_field(value))
}

fn address(value: &Value) -> Address {
    Address::from_slice(&hex_field(value))
}

fn u256(value: &Value) -> U256 {
    let text = value.as_str().unwrap();
    U256::from_str_radix(text.strip_prefix("0x").unwrap(), 16).unwrap()
}

fn u64_field(value: &Value) -> u64 {
    value
        .as_u64()
        .unwrap_or_else(|| panic!("{value} is not a u64"))
}

fn array32(value: &Value) -> [u8; 32] {
    hex_field(value).try_into().unwrap()
}

/// "0.31.0" → 31.
fn minor_of(case: &Value) -> u16 {
    let version = case["inputs"]["protocol_version"].as_str().unwrap();
    let parts: Vec<_> = version.split('.').collect();
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[0], "0");
    parts[1].parse().unwrap()
}

fn scheme_of(case: &Value) -> Eip712CommitBatchesScheme {
    let domain = &case["inputs"]["domain"];
    assert_eq!(domain["name"], Eip712CommitBatchesScheme::DOMAIN_NAME);
    assert_eq!(domain["version"], Eip712CommitBatchesScheme::DOMAIN_VERSION);
    Eip712CommitBatchesScheme::new(
        u64_field(&domain["chainId"]),
        address(&domain["verifyingContract"]),
        address(&case["inputs"]["message"]["chainAddress"]),
    )
}

fn batch_of(case: &Value) -> VerifyBatch {
    let message = &case["inputs"]["message"];
    let number = u64_field(&message["processBatchFrom"]);
    assert_eq!(u64_field(&message["processBatchTo"]), number);
    VerifyBatch {
        request_id: RequestId(1),
        batch_number: number,
        commit_data: hex_field(&case["commit_data"]).into(),
        prev_commit_data: hex_field(&case["prev_commit_data"]).into(),
        execution_protocol_version: minor_of(case),
        ..Default::default()
    }
}

fn key_of(case: &Value) -> VerifierKey {
    VerifierKey::from_hex(case["inputs"]["signing_key"].as_str().unwrap()).unwrap()
}

fn stored_batch_info(v: &Value) -> StoredBatchInfo {
    StoredBatchInfo {
        batchNumber: u64_field(&v["batchNumber"]),
        batchHash: b256(&v["batchHash"]),
        indexRepeatedStorageChanges: u64_field(&v["indexRepeatedStorageChanges"]),
        numberOfLayer1Txs: u256(&v["numberOfLayer1Txs"]),
        priorityOperationsHash: b256(&v["priorityOperationsHash"]),
        dependencyRootsRollingHash: b256(&v["dependencyRootsRollingHash"]),
        l2LogsTreeRoot: b256(&v["l2LogsTreeRoot"]),
        timestamp: u256(&v["timestamp"]),
        commitment: b256(&v["commitment"]),
    }
}

/// The commit struct of the case's minor, built from the named input fields and encoded.
fn encoded_commit_batch_info(case: &Value) -> Vec<u8> {
    let v = &case["inputs"]["commit_batch_info"];
    let count = v.as_object().unwrap().len();
    let u8_field = |name: &str| u8::try_from(u64_field(&v[name])).unwrap();
    match minor_of(case) {
        29 => {
            assert_eq!(count, 12);
            CommitBatchInfoV29 {
                batchNumber: u64_field(&v["batchNumber"]),
                newStateCommitment: b256(&v["newStateCommitment"]),
                numberOfLayer1Txs: u256(&v["numberOfLayer1Txs"]),
                priorityOperationsHash: b256(&v["priorityOperationsHash"]),
                dependencyRootsRollingHash: b256(&v["dependencyRootsRollingHash"]),
                l2LogsTreeRoot: b256(&v["l2LogsTreeRoot"]),
                l2DaValidator: address(&v["l2DaValidator"]),
                daCommitment: b256(&v["daCommitment"]),
                firstBlockTimestamp: u64_field(&v["firstBlockTimestamp"]),
                lastBlockTimestamp: u64_field(&v["lastBlockTimestamp"]),
                chainId: u256(&v["chainId"]),
                operatorDAInput: hex_field(&v["operatorDAInput"]).into(),
            }
            .abi_encode()
        }
        30 => {
            assert_eq!(count, 14);
            CommitBatchInfoV30 {
                batchNumber: u64_field(&v["batchNumber"]),
                newStateCommitment: b256(&v["newStateCommitment"]),
                numberOfLayer1Txs: u256(&v["numberOfLayer1Txs"]),
                priorityOperationsHash: b256(&v["priorityOperationsHash"]),
                dependencyRootsRollingHash: b256(&v["dependencyRootsRollingHash"]),
                l2LogsTreeRoot: b256(&v["l2LogsTreeRoot"]),
                daCommitmentScheme: u8_field("daCommitmentScheme"),
                daCommitment: b256(&v["daCommitment"]),
                firstBlockTimestamp: u64_field(&v["firstBlockTimestamp"]),
                firstBlockNumber: u64_field(&v["firstBlockNumber"]),
                lastBlockTimestamp: u64_field(&v["lastBlockTimestamp"]),
                lastBlockNumber: u64_field(&v["lastBlockNumber"]),
                chainId: u256(&v["chainId"]),
                operatorDAInput: hex_field(&v["operatorDAInput"]).into(),
            }
            .abi_encode()
        }
        31 | 32 => {
            assert_eq!(count, 16);
            CommitBatchInfoV31 {
                batchNumber: u64_field(&v["batchNumber"]),
                newStateCommitment: b256(&v["newStateCommitment"]),
                numberOfLayer1Txs: u256(&v["numberOfLayer1Txs"]),
                numberOfLayer2Txs: u256(&v["numberOfLayer2Txs"]),
                priorityOperationsHash: b256(&v["priorityOperationsHash"]),
                dependencyRootsRollingHash: b256(&v["dependencyRootsRollingHash"]),
                l2LogsTreeRoot: b256(&v["l2LogsTreeRoot"]),
                daCommitmentScheme: u8_field("daCommitmentScheme"),
                daCommitment: b256(&v["daCommitment"]),
                firstBlockTimestamp: u64_field(&v["firstBlockTimestamp"]),
                firstBlockNumber: u64_field(&v["firstBlockNumber"]),
                lastBlockTimestamp: u64_field(&v["lastBlockTimestamp"]),
                lastBlockNumber: u64_field(&v["lastBlockNumber"]),
                chainId: u256(&v["chainId"]),
                operatorDAInput: hex_field(&v["operatorDAInput"]).into(),
                slChainId: u256(&v["slChainId"]),
            }
            .abi_encode()
        }
        other => panic!("minor {other}"),
    }
}

/// The minor-31 dummy batch, a well-formed batch to break in the negative tests.
fn good_batch() -> (Eip712CommitBatchesScheme, VerifyBatch) {
    let case = case("dummy batch 1, minor 31");
    (scheme_of(&case), batch_of(&case))
}

fn with_commit(batch: &VerifyBatch, commit: &[u8]) -> VerifyBatch {
    VerifyBatch {
        commit_data: Bytes::copy_from_slice(commit),
        ..batch.clone()
    }
}

fn malformed(minor: u16, fault: DecodeFault) -> SchemeError {
    SchemeError::MalformedCommitData { minor, fault }
}

// ---- the vectors ----

#[test]
fn type_strings_and_hashes_match_the_vector() {
    let v = case("type hashes");
    let type_string = v["type_string"].as_str().unwrap();
    assert_eq!(CommitBatchesMultisig::eip712_encode_type(), type_string);
    assert_eq!(keccak256(type_string).0, array32(&v["type_hash"]));
    assert_eq!(
        CommitBatchesMultisig::default().eip712_type_hash().0,
        array32(&v["type_hash"])
    );

    let scheme = Eip712CommitBatchesScheme::new(1, [0x22; 20], [0; 20]);
    let domain = scheme.domain();
    assert_eq!(
        domain.encode_type(),
        v["domain_type_string"].as_str().unwrap()
    );
    assert_eq!(domain.type_hash().0, array32(&v["domain_type_hash"]));
    assert_eq!(domain.salt, None);
    assert_eq!(
        keccak256(Eip712CommitBatchesScheme::DOMAIN_NAME).0,
        array32(&v["name_hash"])
    );
    assert_eq!(
        keccak256(Eip712CommitBatchesScheme::DOMAIN_VERSION).0,
        array32(&v["version_hash"])
    );
}

#[test]
fn encoding_versions_match_the_vector_and_nothing_else_is_supported() {
    let v = case("type hashes");
    let table = v["encoding_versions"].as_object().unwrap();
    assert_eq!(table.len(), 4);
    for (minor, version) in table {
        let minor: u16 = minor.parse().unwrap();
        assert_eq!(
            Eip712CommitBatchesScheme::encoding_version(minor),
            Ok(u8::try_from(version.as_u64().unwrap()).unwrap()),
            "minor {minor}"
        );
    }
    for minor in (0..=u16::MAX).filter(|m| !(29..=32).contains(m)) {
        assert_eq!(
            Eip712CommitBatchesScheme::encoding_version(minor),
            Err(SchemeError::UnsupportedProtocolVersion(minor))
        );
    }
}

#[test]
fn da_commitment_scheme_of_the_vectors_is_blobs_and_pubdata_keccak256() {
    let v = case("type hashes");
    let schemes = &v["da_commitment_schemes"];
    let expected = [
        ("NONE", 0),
        ("EMPTY_NO_DA", 1),
        ("PUBDATA_KECCAK256", 2),
        ("BLOBS_AND_PUBDATA_KECCAK256", 3),
        ("BLOBS_ZKSYNC_OS", 4),
    ];
    assert_eq!(schemes.as_object().unwrap().len(), expected.len());
    for (name, value) in expected {
        assert_eq!(u64_field(&schemes[name]), value, "{name}");
    }
    // Every V30/V31 vector batch uses scheme 3, and it survives decoding.
    for case in batch_cases().iter().filter(|c| minor_of(c) >= 30) {
        let field = &case["inputs"]["commit_batch_info"]["daCommitmentScheme"];
        assert_eq!(
            u64_field(field),
            u64_field(&schemes["BLOBS_AND_PUBDATA_KECCAK256"])
        );
    }
}

#[test]
fn vector_inputs_encode_to_the_vector_commit_and_prev_data() {
    for case in batch_cases() {
        let name = case["name"].as_str().unwrap();
        assert_eq!(
            encoded_commit_batch_info(&case),
            hex_field(&case["commit_data"]),
            "{name}: commit_data"
        );
        let prev = stored_batch_info(&case["inputs"]["stored_batch_info"]).abi_encode();
        assert_eq!(prev, hex_field(&case["prev_commit_data"]), "{name}: prev");
        assert_eq!(
            prev.len(),
            Eip712CommitBatchesScheme::STORED_BATCH_INFO_BYTES
        );
        assert_eq!(
            keccak256(&prev).0,
            array32(&case["prev_stored_batch_hash"]),
            "{name}: prev_stored_batch_hash"
        );
    }
}

#[test]
fn batch_data_matches_every_vector() {
    for case in batch_cases() {
        let name = case["name"].as_str().unwrap();
        let batch = batch_of(&case);
        let data = Eip712CommitBatchesScheme::batch_data(&batch).unwrap();
        assert_eq!(
            hex::encode(&data),
            case["batch_data"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            data.len() as u64,
            u64_field(&case["batch_data_len"]),
            "{name}"
        );
        assert_eq!(
            u64::from(data[0]),
            u64_field(&case["encoding_version"]),
            "{name}"
        );
    }
}

#[test]
fn domain_separator_struct_hash_and_digest_match_every_vector() {
    for case in batch_cases() {
        let name = case["name"].as_str().unwrap();
        let scheme = scheme_of(&case);
        let batch = batch_of(&case);
        assert_eq!(
            scheme.domain_separator(),
            array32(&case["domain_separator"]),
            "{name}"
        );
        let message = scheme.message(&batch).unwrap();
        assert_eq!(
            message.eip712_type_hash().0,
            array32(&case["type_hash"]),
            "{name}"
        );
        assert_eq!(
            message.eip712_hash_struct().0,
            array32(&case["struct_hash"]),
            "{name}"
        );
        assert_eq!(
            scheme.digest(&batch),
            Ok(array32(&case["digest"])),
            "{name}"
        );
    }
}

#[test]
fn signatures_and_signers_match_every_vector() {
    for case in batch_cases() {
        let name = case["name"].as_str().unwrap();
        let scheme = scheme_of(&case);
        let batch = batch_of(&case);
        let key = key_of(&case);
        let signer = SignerAddress(hex_field(&case["signer"]).try_into().unwrap());
        assert_eq!(key.address(), signer, "{name}");
        let signature = scheme.sign(&key, &batch).unwrap();
        assert_eq!(
            hex::encode(&signature),
            case["signature"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(scheme.recover(&batch, &signature), Ok(signer), "{name}");
        // The vector's own bytes recover too (not just ours).
        assert_eq!(
            scheme.recover(&batch, &hex_field(&case["signature"])),
            Ok(signer),
            "{name}"
        );
    }
}

#[test]
fn the_vector_signing_key_is_the_default_verifier_key_of_the_auth_vectors() {
    let auth: Value = serde_json::from_str(AUTH_VECTORS).unwrap();
    let keys = auth
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "test keys")
        .unwrap()["keys"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(keys.len(), 2);
    for entry in &keys {
        let key = VerifierKey::from_hex(entry["private_key"].as_str().unwrap()).unwrap();
        assert_eq!(
            hex::encode(key.address().0),
            entry["address"].as_str().unwrap()
        );
    }
    for case in batch_cases() {
        assert_eq!(case["inputs"]["signing_key"], keys[0]["private_key"]);
        assert_eq!(case["signer"], keys[0]["address"]);
    }
}

#[test]
fn minor_32_digests_like_minor_31() {
    for case in batch_cases().iter().filter(|c| minor_of(c) == 31) {
        let scheme = scheme_of(case);
        let batch = VerifyBatch {
            execution_protocol_version: 32,
            ..batch_of(case)
        };
        assert_eq!(scheme.digest(&batch), Ok(array32(&case["digest"])));
    }
}

#[test]
fn the_digest_ignores_the_request_id_and_the_fields_outside_the_message() {
    let (scheme, batch) = good_batch();
    let expected = scheme.digest(&batch).unwrap();
    let other = VerifyBatch {
        request_id: RequestId(99),
        first_block_number: 5,
        last_block_number: 6,
        pubdata_mode: 2,
        ..batch
    };
    assert_eq!(scheme.digest(&other), Ok(expected));
}

// ---- round trips ----

#[test]
fn a_fresh_key_signs_and_recovers_and_another_batch_number_recovers_someone_else() {
    let (scheme, batch) = good_batch();
    let key = VerifierKey::generate();
    let signature = scheme.sign(&key, &batch).unwrap();
    assert_eq!(signature.len(), 65);
    assert!(matches!(signature[64], 27 | 28));
    assert_eq!(scheme.recover(&batch, &signature), Ok(key.address()));

    let next = VerifyBatch {
        batch_number: batch.batch_number + 1,
        ..batch.clone()
    };
    assert_ne!(scheme.digest(&next), scheme.digest(&batch));
    let recovered = scheme.recover(&next, &signature).unwrap();
    assert_ne!(recovered, key.address());
}

#[test]
fn each_domain_value_changes_the_digest() {
    let (scheme, batch) = good_batch();
    let base = scheme.digest(&batch).unwrap();
    for other in [
        Eip712CommitBatchesScheme::new(2, [0x22; 20], [0; 20]),
        Eip712CommitBatchesScheme::new(1, [0x23; 20], [0; 20]),
        Eip712CommitBatchesScheme::new(1, [0x22; 20], [1; 20]),
    ] {
        assert_ne!(other.digest(&batch).unwrap(), base, "{other:?}");
    }
    assert_eq!(
        Eip712CommitBatchesScheme::new(1, [0x22; 20], [0; 20]).digest(&batch),
        Ok(base)
    );
}

#[test]
fn bytes_after_the_encoding_are_ignored() {
    // Upstream's decoder, like alloy's default, reads one value and stops; the vectors do not
    // reject trailing bytes, so neither do we.
    let (scheme, batch) = good_batch();
    let mut longer = batch.commit_data.to_vec();
    longer.extend_from_slice(&[0xab; 33]);
    assert_eq!(
        scheme.digest(&with_commit(&batch, &longer)),
        scheme.digest(&batch)
    );
}

// ---- malformed batches ----

#[test]
fn unsupported_minors_are_a_typed_error_everywhere() {
    let (scheme, batch) = good_batch();
    let key = VerifierKey::generate();
    let signature = scheme.sign(&key, &batch).unwrap();
    for minor in [0, 1, 28, 33, 34, u16::MAX] {
        let bad = VerifyBatch {
            execution_protocol_version: minor,
            ..batch.clone()
        };
        let error = SchemeError::UnsupportedProtocolVersion(minor);
        assert_eq!(scheme.digest(&bad), Err(error));
        assert_eq!(scheme.sign(&key, &bad), Err(error));
        assert_eq!(Eip712CommitBatchesScheme::batch_data(&bad), Err(error));
        assert_eq!(
            scheme.recover(&bad, &signature),
            Err(SignatureError::Batch(error))
        );
    }
}

#[test]
fn a_malformed_signature_is_reported_before_the_batch() {
    let (scheme, batch) = good_batch();
    let bad = VerifyBatch {
        execution_protocol_version: 7,
        ..batch
    };
    assert_eq!(
        scheme.recover(&bad, &[0; 64]),
        Err(SignatureError::Length {
            got: 64,
            expected: 65
        })
    );
}

#[test]
fn truncated_commit_data_is_truncated_at_every_length() {
    for case in batch_cases() {
        let name = case["name"].as_str().unwrap();
        let scheme = scheme_of(&case);
        let batch = batch_of(&case);
        let minor = batch.execution_protocol_version;
        let full = scheme.digest(&batch).unwrap();
        // The decoder (like upstream's) does not insist on the zero padding after the last
        // bytes value: without it the value is the same, and so is the digest.
        let da_input = hex_field(&case["inputs"]["commit_batch_info"]["operatorDAInput"]).len();
        let padding = (32 - da_input % 32) % 32;
        let len = batch.commit_data.len();
        for cut in 0..len {
            let short = with_commit(&batch, &batch.commit_data[..cut]);
            let expected = if cut >= len - padding {
                Ok(full)
            } else {
                Err(malformed(minor, DecodeFault::Truncated))
            };
            assert_eq!(scheme.digest(&short), expected, "{name}: {cut} bytes");
        }
    }
}

#[test]
fn garbage_commit_data_is_a_typed_error() {
    let (scheme, batch) = good_batch();
    // An offset word beyond any address.
    assert_eq!(
        scheme.digest(&with_commit(&batch, &[0xff; 1024])),
        Err(malformed(31, DecodeFault::OutOfRange))
    );
    // An offset word far past the end.
    let mut far = vec![0; 1024];
    far[24..32].fill(0x7f);
    assert_eq!(
        scheme.digest(&with_commit(&batch, &far)),
        Err(malformed(31, DecodeFault::Truncated))
    );
    // Text, shorter than the offset word.
    assert_eq!(
        scheme.digest(&with_commit(&batch, b"not abi at all")),
        Err(malformed(31, DecodeFault::Truncated))
    );
    // A zero offset: the struct overlaps its own offset word and runs out.
    assert_eq!(
        scheme.digest(&with_commit(&batch, &[0; 64])),
        Err(malformed(31, DecodeFault::Truncated))
    );
}

#[test]
fn a_huge_declared_length_fails_without_allocating_it() {
    let (scheme, batch) = good_batch();
    let mut commit = batch.commit_data.to_vec();
    // The V31 vector: offset word, 16 head words, then operatorDAInput's length word.
    let length_word = 32 + 16 * 32;
    assert_eq!(commit.len(), length_word + 32);
    commit[length_word..].fill(0xff);
    assert_eq!(
        scheme.digest(&with_commit(&batch, &commit)),
        Err(malformed(31, DecodeFault::OutOfRange))
    );
    // 2^64 - 1 bytes: a usize, far beyond the input.
    commit[length_word..length_word + 24].fill(0);
    assert_eq!(
        scheme.digest(&with_commit(&batch, &commit)),
        Err(malformed(31, DecodeFault::Truncated))
    );
}

#[test]
fn out_of_range_fields_are_a_typed_error() {
    let (scheme, batch) = good_batch();
    // Word 1 after the offset word: uint64 batchNumber; word 8: uint8 daCommitmentScheme.
    for (word, byte) in [(1usize, 0usize), (1, 23), (8, 30), (10, 0)] {
        let mut commit = batch.commit_data.to_vec();
        commit[word * 32 + byte] = 1;
        assert_eq!(
            scheme.digest(&with_commit(&batch, &commit)),
            Err(malformed(31, DecodeFault::OutOfRange)),
            "word {word} byte {byte}"
        );
    }
    // V29's address l2DaValidator (word 7) with a bit above its 20 bytes.
    let v29 = batch_of(&case("dummy batch 1, minor 29"));
    let mut commit = v29.commit_data.to_vec();
    commit[7 * 32 + 11] = 1;
    assert_eq!(
        scheme.digest(&with_commit(&v29, &commit)),
        Err(malformed(29, DecodeFault::OutOfRange))
    );
}

#[test]
fn another_minor_s_struct_does_not_decode() {
    let (scheme, v31) = good_batch();
    let v29 = batch_of(&case("dummy batch 1, minor 29"));
    // V29 data read as V31 runs out of words.
    assert_eq!(
        scheme.digest(&with_commit(&v31, &v29.commit_data)),
        Err(malformed(31, DecodeFault::Truncated))
    );
}

#[test]
fn wrong_prev_lengths_are_a_typed_error() {
    let (scheme, batch) = good_batch();
    for len in [0, 1, 32, 287, 289, 320, 576] {
        let bad = VerifyBatch {
            prev_commit_data: vec![0; len].into(),
            ..batch.clone()
        };
        assert_eq!(
            scheme.digest(&bad),
            Err(SchemeError::PrevCommitDataLength {
                got: len,
                expected: 288
            })
        );
    }
}

#[test]
fn out_of_range_prev_fields_are_a_typed_error() {
    let (scheme, batch) = good_batch();
    // uint64 batchNumber (word 0) and uint64 indexRepeatedStorageChanges (word 2).
    for word in [0, 2] {
        let mut prev = batch.prev_commit_data.to_vec();
        prev[word * 32] = 0x80;
        let bad = VerifyBatch {
            prev_commit_data: prev.into(),
            ..batch.clone()
        };
        assert_eq!(
            scheme.digest(&bad),
            Err(SchemeError::MalformedPrevCommitData(
                DecodeFault::OutOfRange
            ))
        );
    }
}

#[test]
fn errors_are_checked_minor_first_then_prev_then_commit() {
    let (scheme, batch) = good_batch();
    let everything_wrong = VerifyBatch {
        commit_data: Bytes::from_static(b"x"),
        prev_commit_data: Bytes::from_static(b"y"),
        execution_protocol_version: 40,
        ..batch.clone()
    };
    assert_eq!(
        scheme.digest(&everything_wrong),
        Err(SchemeError::UnsupportedProtocolVersion(40))
    );
    let bad_prev_and_commit = VerifyBatch {
        execution_protocol_version: 31,
        ..everything_wrong
    };
    assert_eq!(
        scheme.digest(&bad_prev_and_commit),
        Err(SchemeError::PrevCommitDataLength {
            got: 1,
            expected: 288
        })
    );
}

// ---- SigningVerifier ----

/// A decision function that approves everything.
type Decide = Box<dyn Fn(&VerifyBatch) -> Result<(), String> + Send + Sync>;

/// A verifier under `scheme` that approves everything, and how often it was asked.
fn counting_verifier(
    scheme: Eip712CommitBatchesScheme,
    key: VerifierKey,
) -> (SigningVerifier<Decide>, Arc<AtomicUsize>) {
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&asked);
    let decide: Decide = Box::new(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
        Ok(())
    });
    let verifier = SigningVerifier::with_scheme(key, Arc::new(scheme), decide);
    (verifier, asked)
}

#[test]
fn signing_verifier_approves_a_vector_batch_with_the_vector_signature() {
    for case in batch_cases() {
        let (verifier, asked) = counting_verifier(scheme_of(&case), key_of(&case));
        assert_eq!(
            verifier.decide(&batch_of(&case)),
            VerifyBatchOutcome::Approved {
                signature: hex_field(&case["signature"]).into()
            }
        );
        assert_eq!(asked.load(Ordering::SeqCst), 1);
    }
}

#[test]
fn signing_verifier_refuses_what_the_scheme_cannot_digest_without_asking() {
    let (scheme, batch) = good_batch();
    let (verifier, asked) = counting_verifier(scheme, VerifierKey::generate());
    let cases = [
        (
            VerifyBatch {
                execution_protocol_version: 28,
                ..batch.clone()
            },
            "unsupported protocol minor 28: commit data is defined for minors 29 to 32",
        ),
        (
            with_commit(&batch, &batch.commit_data[..100]),
            "malformed commit data for protocol minor 31: truncated: an offset or length points \
             past the end of the data",
        ),
        (
            VerifyBatch {
                prev_commit_data: Bytes::from_static(&[0; 287]),
                ..batch.clone()
            },
            "malformed previous commit data: 287 bytes, expected 288",
        ),
    ];
    for (bad, reason) in cases {
        assert_eq!(
            verifier.decide(&bad),
            VerifyBatchOutcome::Refused {
                reason: reason.to_owned()
            }
        );
    }
    assert_eq!(
        asked.load(Ordering::SeqCst),
        0,
        "the decision function is not asked"
    );
}

#[tokio::test]
async fn signing_verifier_refuses_through_the_verifier_trait() {
    use zks_api::Verifier;
    let (scheme, batch) = good_batch();
    let (verifier, _) = counting_verifier(scheme, VerifierKey::generate());
    let mut prev = batch.prev_commit_data.to_vec();
    prev[0] = 1;
    let bad = VerifyBatch {
        prev_commit_data: prev.into(),
        ..batch
    };
    assert_eq!(
        verifier.verify(&bad).await,
        VerifyBatchOutcome::Refused {
            reason: "malformed previous commit data: a value is out of range for its type"
                .to_owned()
        }
    );
}

// ---- the quorum collector ----

fn approval(request_id: RequestId, batch: &VerifyBatch, signature: Bytes) -> VerifyBatchResult {
    VerifyBatchResult {
        request_id,
        batch_number: batch.batch_number,
        outcome: VerifyBatchOutcome::Approved { signature },
    }
}

#[test]
fn the_collector_reaches_a_quorum_under_the_eip712_scheme() {
    let case = case("non-trivial batch 10, minor 31");
    let scheme = scheme_of(&case);
    let batch = batch_of(&case);
    let keys = [key_of(&case), VerifierKey::generate()];
    let config = QuorumConfig::new(keys.iter().map(VerifierKey::address), 2);
    let start = Instant::now();
    let mut collector = QuorumCollector::new(start, batch.clone(), config, &scheme).unwrap();
    assert_eq!(collector.digest(), Ok(array32(&case["digest"])));
    let Some(Action::Send(request)) = collector.poll_action() else {
        panic!("no request");
    };
    for key in &keys {
        let signature = scheme.sign(key, &request).unwrap();
        collector.handle_result(
            start,
            key.address(),
            approval(request.request_id, &batch, signature),
        );
    }
    let Some(Action::Finish(quorum)) = collector.poll_action() else {
        panic!("no quorum");
    };
    assert_eq!(quorum.digest, array32(&case["digest"]));
    assert_eq!(
        quorum.signatures[&keys[0].address()],
        Bytes::from(hex_field(&case["signature"]))
    );
}

#[test]
fn the_collector_counts_approvals_of_an_undigestable_batch_as_invalid() {
    let (scheme, good) = good_batch();
    let bad = with_commit(&good, &good.commit_data[..64]);
    let error = malformed(31, DecodeFault::Truncated);
    let key = VerifierKey::generate();
    let config = QuorumConfig::new([key.address()], 1).with_total_timeout(Duration::from_secs(5));
    let start = Instant::now();
    let mut collector = QuorumCollector::new(start, bad.clone(), config, &scheme).unwrap();
    assert_eq!(collector.digest(), Err(error));
    let Some(Action::Send(request)) = collector.poll_action() else {
        panic!("no request");
    };
    // Even a signature over the well-formed batch's digest does not count.
    let signature = scheme.sign(&key, &good).unwrap();
    collector.handle_result(
        start,
        key.address(),
        approval(request.request_id, &bad, signature),
    );
    assert_eq!(
        collector.tally().rejected.get(&key.address()),
        Some(&ApprovalRejection::Undigestable(error))
    );
    assert!(collector.tally().approved.is_empty());
    assert!(collector.poll_action().is_none());
    collector.handle_timeout(start + Duration::from_secs(5));
    assert!(matches!(
        collector.poll_action(),
        Some(Action::Fail(QuorumError::NotEnoughSigners {
            got: 0,
            needed: 1,
            ..
        }))
    ));
}

#[test]
fn abi_bytes_round_trip_through_the_message() {
    // The message's batchData is exactly `batch_data`, so an MN can rebuild it from the parts.
    let (scheme, batch) = good_batch();
    let message = scheme.message(&batch).unwrap();
    assert_eq!(message.chainAddress, scheme.chain_address());
    assert_eq!(message.processBatchFrom, U256::from(batch.batch_number));
    assert_eq!(message.processBatchTo, U256::from(batch.batch_number));
    assert_eq!(
        message.batchData,
        AbiBytes::from(Eip712CommitBatchesScheme::batch_data(&batch).unwrap())
    );
}

// ---- mutated vectors ----

proptest! {
    /// Byte flips, cuts and extensions of the full vector, under any minor near the supported
    /// ones: the digest is a value or a typed error, never a panic, and agrees with
    /// `batch_data`.
    #[test]
    fn mutated_vectors_never_panic(
        minor in 27u16..=34,
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in any::<prop::sample::Index>(),
        extra in prop::collection::vec(any::<u8>(), 0..64),
        prev_flip in prop::option::of((0usize..288, any::<u8>())),
    ) {
        let case = case("non-trivial batch 10, minor 31");
        let scheme = scheme_of(&case);
        let batch = batch_of(&case);
        let mut commit = batch.commit_data.to_vec();
        for (index, byte) in flips {
            let at = index.index(commit.len());
            commit[at] = byte;
        }
        commit.truncate(cut.index(commit.len() + 1));
        commit.extend_from_slice(&extra);
        let mut prev = batch.prev_commit_data.to_vec();
        if let Some((at, byte)) = prev_flip {
            prev[at] = byte;
        }
        let mutated = VerifyBatch {
            commit_data: commit.into(),
            prev_commit_data: prev.into(),
            execution_protocol_version: minor,
            ..batch
        };
        let digest = scheme.digest(&mutated);
        prop_assert_eq!(scheme.digest(&mutated), digest);
        match Eip712CommitBatchesScheme::batch_data(&mutated) {
            Ok(data) => {
                prop_assert!(digest.is_ok());
                prop_assert_eq!(
                    Eip712CommitBatchesScheme::encoding_version(minor).ok(),
                    data.first().copied()
                );
            }
            Err(error) => prop_assert_eq!(digest, Err(error)),
        }
    }
}
