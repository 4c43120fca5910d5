//! The zks wire format: message ids, versions and capabilities, bodies and their RLP codec,
//! limits, and the [`ReplayRecord`] seam for the node team's own records.
//!
//! It covers zks/1–3 (our seed generation), upstream's zks/4 and zks/5 ([`ZksMessage`]), and
//! the separate `zks_2fa/1` capability ([`TwoFaMessage`]).
//!
//! This crate is pure (no I/O, no clock, no runtime: it depends on `alloy-rlp`, `bytes` and
//! `thiserror` only) and bounded: every limit in [`limits`] is checked from
//! RLP headers before the item it bounds is allocated, and nothing a peer sends can panic it.
//! Encodings are byte-identical to the golden vectors (`zks-wire/tests/vectors/zks-wire.json`,
//! and upstream's in `zks-wire/tests/vectors/upstream/`).
//!
//! ```
//! use zks_wire::{Frame, GetBlockReplays, ZksMessage, ZksVersion};
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

mod capability;
mod class;
mod disconnect;
mod error;
pub mod limits;
mod message;
mod record;
pub mod record_rlp;
mod replay;
mod rlp;
mod twofa;
mod verify;
mod version;
#[cfg(feature = "zksync-os")]
pub mod zksync_os;

/// A block number.
pub type BlockNumber = u64;

pub use alloy_rlp;
pub use bytes::Bytes;
pub use capability::{Capabilities, LinkCaps, Protocol, TwoFaVersion};
pub use class::MessageClass;
pub use disconnect::DisconnectReason;
pub use record::{RawRecord, RecordError, ReplayRecord};

pub use error::DecodeError;
pub use message::{Frame, MessageId, ZksMessage};
pub use replay::{BlockReplays, BlockReplaysWriter, GetBlockReplays, Overrides, RecordOverride};
pub use twofa::{TwoFaMessage, TwoFaMessageId};
pub use verify::{
    RequestId, VerifierAuth, VerifierChallenge, VerifyBatch, VerifyBatchOutcome, VerifyBatchResult,
};
pub use version::{VersionSet, ZksVersion};
