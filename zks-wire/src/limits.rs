//! Decode-time limits of the zks wire protocol, all in one place.
//!
//! Every limit is checked from RLP headers (or the frame length) before anything is allocated
//! for the item it bounds. A message that breaks one is rejected with a typed
//! [`DecodeError`](super::DecodeError) and the link that carried it is ended.

/// Largest zks message body accepted, in bytes (uncompressed).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// Most record overrides one `GetBlockReplays` may carry.
pub const MAX_RECORD_OVERRIDES: usize = 1024;

/// Largest encoded override list (the RLP payload of the list), in bytes.
pub const MAX_OVERRIDE_LIST_BYTES: usize = 64 * 1024;

/// Longest `db_key` of a record override, in bytes.
pub const MAX_DB_KEY_BYTES: usize = 32;

/// Most records one `BlockReplays` may carry.
pub const MAX_RECORDS_PER_MESSAGE: usize = 64;

/// Longest refusal reason in a `VerifyBatchResult`, in bytes of UTF-8.
pub const MAX_REASON_BYTES: usize = 1024;

/// Longest approval signature in a `VerifyBatchResult`, and longest `VerifierAuth` signature on
/// zks/4 and `zks_2fa/1` (where its length is checked on use, not on decode), in bytes.
///
/// The default scheme produces 65 bytes; the bound leaves room for other schemes without
/// letting a peer make us hold an arbitrary blob.
pub const MAX_SIGNATURE_BYTES: usize = 1024;

/// Length of a verifier challenge nonce.
pub const NONCE_BYTES: usize = 32;

/// Length of a verifier auth signature: `r (32) || s (32) || v (1)`.
pub const AUTH_SIGNATURE_BYTES: usize = 65;
