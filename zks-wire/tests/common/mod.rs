//! Strategies shared by the property tests of both generations (the verifier payloads are the
//! same on zks/3–4 and on zks_2fa/1).

use bytes::Bytes;
use proptest::prelude::*;
use zks_wire::{RequestId, VerifyBatch, VerifyBatchOutcome, VerifyBatchResult};

/// Up to `max` arbitrary bytes.
pub(crate) fn arb_bytes(max: usize) -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..=max).prop_map(Bytes::from)
}

/// Any `VerifyBatch`, with commit data of up to 100 bytes.
pub(crate) fn arb_verify_batch() -> impl Strategy<Value = VerifyBatch> {
    (
        (any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>()),
        any::<u8>(),
        arb_bytes(100),
        arb_bytes(100),
        any::<u16>(),
    )
        .prop_map(|((r, b, f, l), p, c, pc, e)| VerifyBatch {
            request_id: RequestId(r),
            batch_number: b,
            first_block_number: f,
            last_block_number: l,
            pubdata_mode: p,
            commit_data: c,
            prev_commit_data: pc,
            execution_protocol_version: e,
        })
}

/// Any `VerifyBatchResult`: an approval with up to 100 signature bytes, or a short refusal.
pub(crate) fn arb_verify_batch_result() -> impl Strategy<Value = VerifyBatchResult> {
    (
        any::<u64>(),
        any::<u64>(),
        prop_oneof![
            arb_bytes(100).prop_map(|signature| VerifyBatchOutcome::Approved { signature }),
            "\\PC{0,50}".prop_map(|reason| VerifyBatchOutcome::Refused { reason }),
        ],
    )
        .prop_map(|(r, b, outcome)| VerifyBatchResult {
            request_id: RequestId(r),
            batch_number: b,
            outcome,
        })
}
