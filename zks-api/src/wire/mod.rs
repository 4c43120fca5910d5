//! The zks wire protocol: message ids, versions, bodies, and their RLP codec.
//!
//! This module is pure (no I/O, no clock) and bounded: every limit in [`limits`] is checked from
//! RLP headers before the item it bounds is allocated, and nothing a peer sends can panic it.
//! Encodings are byte-identical to the golden vectors (`zks-api/tests/vectors/zks-wire.json`).
//!
//! ```
//! use zks_api::wire::{Frame, GetBlockReplays, ZksMessage, ZksVersion};
//!
//! let request = ZksMessage::GetBlockReplays(GetBlockReplays {
//!     starting_block: 42,
//!     record_overrides: vec![],
//!     max_blocks_per_message: Some(64),
//! });
//! let frame = request.to_frame();
//! assert_eq!(frame.to_wire(), [0x00, 0xc3, 0x2a, 0xc0, 0x40]);
//! assert_eq!(ZksMessage::decode(ZksVersion::V3, &frame), Ok(request));
//! ```

mod error;
pub mod limits;
mod message;
mod replay;
mod rlp;
mod verify;
mod version;

pub use error::DecodeError;
pub use message::{Frame, MessageId, ZksMessage};
pub use replay::{BlockReplays, GetBlockReplays, RecordOverride};
pub use verify::{
    RequestId, VerifierAuth, VerifierChallenge, VerifyBatch, VerifyBatchOutcome, VerifyBatchResult,
};
pub use version::{VersionSet, ZksVersion};
