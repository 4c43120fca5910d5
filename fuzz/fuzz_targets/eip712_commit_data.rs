//! `zks_verifier::Eip712CommitBatchesScheme` on arbitrary `commit_data`, `prev_commit_data`
//! and protocol minor: the digest must be an error or a value, never a panic.
//!
//! Input: byte 0 picks the minor (28 + byte % 8: 28 to 35, half of them supported), byte 1 the
//! length of `prev_commit_data` (0 means the right one, 288; else that many bytes), then the
//! previous batch's bytes, then `commit_data` (the rest).
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use zks_api::wire::VerifyBatch;
use zks_verifier::{BatchSignatureScheme, Eip712CommitBatchesScheme};

fuzz_target!(|data: &[u8]| {
    let [minor, prev_len, rest @ ..] = data else {
        return;
    };
    let minor = 28 + u16::from(*minor % 8);
    let prev_len = match *prev_len {
        0 => Eip712CommitBatchesScheme::STORED_BATCH_INFO_BYTES,
        n => usize::from(n),
    }
    .min(rest.len());
    let (prev, commit) = rest.split_at(prev_len);
    let batch = VerifyBatch {
        batch_number: 10,
        commit_data: Bytes::copy_from_slice(commit),
        prev_commit_data: Bytes::copy_from_slice(prev),
        execution_protocol_version: minor,
        ..Default::default()
    };
    let scheme = Eip712CommitBatchesScheme::new(9, [0xe1; 20], [0xd1; 20]);
    let digest = scheme.digest(&batch);
    // Deterministic, and consistent with the parts it is built from.
    assert_eq!(scheme.digest(&batch), digest);
    match Eip712CommitBatchesScheme::batch_data(&batch) {
        Ok(batch_data) => {
            assert!(digest.is_ok());
            assert_eq!(
                Eip712CommitBatchesScheme::encoding_version(minor).ok(),
                batch_data.first().copied()
            );
            // The previous batch is re-encoded word for word; the commit struct follows.
            assert_eq!(batch_data.get(1..289), Some(prev));
        }
        Err(error) => assert_eq!(digest, Err(error)),
    }
});
