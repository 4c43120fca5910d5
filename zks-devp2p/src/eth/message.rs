//! Passive `eth` helpers: which message an id is on a negotiated version, and the one
//! announcement a peer sends unprompted to an idle node (eth/69's BlockRangeUpdate).
//!
//! An upstream node has no `eth` request handler and gossips no transactions, so it reads
//! Status once and then accepts and ignores every well-formed `eth` message. What the session
//! does with each [`EthMessageKind`]:
//!
//! - [`EthMessageKind::Handshake`] (Status) after the handshake: reth ends the session (a Status
//!   outside the handshake is an error);
//! - announcements, requests and responses: ignore (requests go unanswered; reth does not
//!   disconnect for that);
//! - an id the version does not have: [`EthMessageError::UnknownId`], a protocol breach.

use alloy_rlp::{Decodable, Header};

use super::B256;
use super::error::EthMessageError;
use super::version::EthVersion;

/// The largest BlockRangeUpdate we read (RLP list, header included): 256 bytes, checked from the
/// list header. A valid one is at most 53 bytes.
pub const MAX_BLOCK_RANGE_UPDATE_SIZE: usize = 256;

/// An `eth` message id (relative to the `eth` offset), eth/66–69.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EthMessageId {
    /// 0x00, every version.
    Status = 0x00,
    /// 0x01, eth/66–68 (removed in eth/69).
    NewBlockHashes = 0x01,
    /// 0x02, every version.
    Transactions = 0x02,
    /// 0x03, every version.
    GetBlockHeaders = 0x03,
    /// 0x04, every version.
    BlockHeaders = 0x04,
    /// 0x05, every version.
    GetBlockBodies = 0x05,
    /// 0x06, every version.
    BlockBodies = 0x06,
    /// 0x07, eth/66–68 (removed in eth/69).
    NewBlock = 0x07,
    /// 0x08, every version.
    NewPooledTransactionHashes = 0x08,
    /// 0x09, every version.
    GetPooledTransactions = 0x09,
    /// 0x0a, every version.
    PooledTransactions = 0x0a,
    /// 0x0d, eth/66 only (removed in eth/67).
    GetNodeData = 0x0d,
    /// 0x0e, eth/66 only (removed in eth/67).
    NodeData = 0x0e,
    /// 0x0f, every version.
    GetReceipts = 0x0f,
    /// 0x10, every version.
    Receipts = 0x10,
    /// 0x11, eth/69 only.
    BlockRangeUpdate = 0x11,
}

/// What an `eth` message is to a passive node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EthMessageKind {
    /// Status: only valid as the first `eth` message.
    Handshake,
    /// Unsolicited news (blocks, transactions, block range): ignore.
    Announcement,
    /// A request: a passive node leaves it unanswered.
    Request,
    /// A response: a passive node never asked, so ignore it.
    Response,
}

impl EthMessageId {
    /// The message that relative id `id` is on `version`.
    ///
    /// # Errors
    ///
    /// [`EthMessageError::UnknownId`] for 0x0b, 0x0c, ids past the version's message count, and
    /// messages the version removed (NewBlockHashes and NewBlock on eth/69, GetNodeData and
    /// NodeData from eth/67) or does not have yet (BlockRangeUpdate before eth/69).
    pub const fn classify(version: EthVersion, id: u8) -> Result<Self, EthMessageError> {
        let eth69 = version.is_eth69();
        let message = match id {
            0x00 => Self::Status,
            0x01 if !eth69 => Self::NewBlockHashes,
            0x02 => Self::Transactions,
            0x03 => Self::GetBlockHeaders,
            0x04 => Self::BlockHeaders,
            0x05 => Self::GetBlockBodies,
            0x06 => Self::BlockBodies,
            0x07 if !eth69 => Self::NewBlock,
            0x08 => Self::NewPooledTransactionHashes,
            0x09 => Self::GetPooledTransactions,
            0x0a => Self::PooledTransactions,
            0x0d if matches!(version, EthVersion::V66) => Self::GetNodeData,
            0x0e if matches!(version, EthVersion::V66) => Self::NodeData,
            0x0f => Self::GetReceipts,
            0x10 => Self::Receipts,
            0x11 if eth69 => Self::BlockRangeUpdate,
            _ => return Err(EthMessageError::UnknownId { id, version }),
        };
        Ok(message)
    }

    /// The relative id.
    pub const fn id(self) -> u8 {
        self as u8
    }

    /// What the message is to a passive node.
    pub const fn kind(self) -> EthMessageKind {
        match self {
            Self::Status => EthMessageKind::Handshake,
            Self::NewBlockHashes
            | Self::Transactions
            | Self::NewBlock
            | Self::NewPooledTransactionHashes
            | Self::BlockRangeUpdate => EthMessageKind::Announcement,
            Self::GetBlockHeaders
            | Self::GetBlockBodies
            | Self::GetPooledTransactions
            | Self::GetNodeData
            | Self::GetReceipts => EthMessageKind::Request,
            Self::BlockHeaders
            | Self::BlockBodies
            | Self::PooledTransactions
            | Self::NodeData
            | Self::Receipts => EthMessageKind::Response,
        }
    }
}

/// Checks the outer shape every `eth` message has: msg-data that starts with one RLP list, all
/// of whose declared bytes are present. Nothing inside is read, and bytes after the list are
/// ignored. The frame layer already bounds the size (16 MiB decompressed).
///
/// # Errors
///
/// [`EthMessageError::Malformed`] (field `message`).
pub fn check_envelope(payload: &[u8]) -> Result<(), EthMessageError> {
    let malformed = |reason| EthMessageError::Malformed {
        field: "message",
        reason,
    };
    let (header_len, payload_len) = declared_list(payload).map_err(malformed)?;
    let available = payload.len().saturating_sub(header_len) as u64;
    if payload_len > available {
        return Err(malformed(alloy_rlp::Error::InputTooShort));
    }
    Ok(())
}

/// eth/69 BlockRangeUpdate (0x11): `[earliest, latest, latest_hash]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BlockRangeUpdate {
    /// The earliest block the sender can serve.
    pub earliest: u64,
    /// The sender's latest block.
    pub latest: u64,
    /// The hash of the latest block.
    pub latest_hash: B256,
}

impl BlockRangeUpdate {
    /// Decodes the msg-data, checking the list's declared size against
    /// [`MAX_BLOCK_RANGE_UPDATE_SIZE`] first. Bytes after the list are ignored.
    ///
    /// # Errors
    ///
    /// [`EthMessageError::TooLarge`], [`EthMessageError::Malformed`],
    /// [`EthMessageError::TrailingBytes`].
    pub fn decode(payload: &[u8]) -> Result<Self, EthMessageError> {
        const WHAT: &str = "BlockRangeUpdate";
        let malformed = |field, reason| EthMessageError::Malformed { field, reason };
        let (header_len, payload_len) =
            declared_list(payload).map_err(|e| malformed("BlockRangeUpdate", e))?;
        let total = payload_len.saturating_add(header_len as u64);
        if total > MAX_BLOCK_RANGE_UPDATE_SIZE as u64 {
            return Err(EthMessageError::TooLarge {
                message: WHAT,
                got: usize::try_from(total).unwrap_or(usize::MAX),
                max: MAX_BLOCK_RANGE_UPDATE_SIZE,
            });
        }
        // `total` ≤ MAX_BLOCK_RANGE_UPDATE_SIZE, so it fits a usize.
        let mut body = payload
            .get(header_len..total as usize)
            .ok_or(malformed(WHAT, alloy_rlp::Error::InputTooShort))?;
        let update = Self {
            earliest: u64::decode(&mut body).map_err(|e| malformed("earliest", e))?,
            latest: u64::decode(&mut body).map_err(|e| malformed("latest", e))?,
            latest_hash: B256::decode(&mut body).map_err(|e| malformed("latest_hash", e))?,
        };
        if !body.is_empty() {
            return Err(EthMessageError::TrailingBytes {
                message: WHAT,
                extra: body.len(),
            });
        }
        Ok(update)
    }

    /// Checks that the range is not empty (`earliest ≤ latest`), the rule eth/69 applies to
    /// the Status's block range.
    ///
    /// # Errors
    ///
    /// [`EthMessageError::InvalidBlockRange`].
    pub const fn validate(&self) -> Result<(), EthMessageError> {
        if self.earliest > self.latest {
            return Err(EthMessageError::InvalidBlockRange {
                earliest: self.earliest,
                latest: self.latest,
            });
        }
        Ok(())
    }
}

impl alloy_rlp::Encodable for BlockRangeUpdate {
    fn encode(&self, out: &mut dyn alloy_rlp::BufMut) {
        Header {
            list: true,
            payload_length: self.payload_length(),
        }
        .encode(out);
        self.earliest.encode(out);
        self.latest.encode(out);
        self.latest_hash.encode(out);
    }

    fn length(&self) -> usize {
        let payload_length = self.payload_length();
        alloy_rlp::length_of_length(payload_length) + payload_length
    }
}

impl BlockRangeUpdate {
    fn payload_length(&self) -> usize {
        use alloy_rlp::Encodable;
        self.earliest.length() + self.latest.length() + self.latest_hash.length()
    }
}

/// Reads the header of the RLP list at the start of `input`: its length and the payload length
/// it declares, without requiring the payload to be present (so a caller can check the declared
/// size against a cap first). Rejects strings and non-canonical headers as alloy-rlp does.
pub(super) fn declared_list(input: &[u8]) -> Result<(usize, u64), alloy_rlp::Error> {
    let (&first, rest) = input.split_first().ok_or(alloy_rlp::Error::InputTooShort)?;
    match first {
        0x00..=0xbf => Err(alloy_rlp::Error::UnexpectedString),
        0xc0..=0xf7 => Ok((1, u64::from(first - 0xc0))),
        0xf8..=0xff => {
            let len_of_len = usize::from(first - 0xf7);
            let len = rest
                .get(..len_of_len)
                .ok_or(alloy_rlp::Error::InputTooShort)?;
            if len.first() == Some(&0) {
                return Err(alloy_rlp::Error::LeadingZero);
            }
            let declared = len.iter().fold(0u64, |v, b| (v << 8) | u64::from(*b));
            if declared < 56 {
                return Err(alloy_rlp::Error::NonCanonicalSize);
            }
            Ok((1 + len_of_len, declared))
        }
    }
}

#[cfg(test)]
mod tests {
    use alloy_rlp::Encodable;

    use super::*;

    #[test]
    fn classifies_per_version() {
        use EthVersion::{V66, V67, V68, V69};
        let ok = |v, id| EthMessageId::classify(v, id);
        let unknown = |version, id| Err(EthMessageError::UnknownId { id, version });
        assert_eq!(ok(V66, 0x00), Ok(EthMessageId::Status));
        assert_eq!(ok(V68, 0x01), Ok(EthMessageId::NewBlockHashes));
        assert_eq!(ok(V69, 0x01), unknown(V69, 0x01));
        assert_eq!(ok(V68, 0x07), Ok(EthMessageId::NewBlock));
        assert_eq!(ok(V69, 0x07), unknown(V69, 0x07));
        assert_eq!(ok(V66, 0x0d), Ok(EthMessageId::GetNodeData));
        assert_eq!(ok(V67, 0x0d), unknown(V67, 0x0d));
        assert_eq!(ok(V67, 0x0e), unknown(V67, 0x0e));
        assert_eq!(ok(V68, 0x11), unknown(V68, 0x11));
        assert_eq!(ok(V69, 0x11), Ok(EthMessageId::BlockRangeUpdate));
        for v in EthVersion::ALL {
            assert_eq!(ok(v, 0x0b), unknown(v, 0x0b));
            assert_eq!(ok(v, 0x0c), unknown(v, 0x0c));
            assert_eq!(ok(v, 0x12), unknown(v, 0x12));
            assert_eq!(ok(v, 0xff), unknown(v, 0xff));
            // Every known id is below the version's message count, and round-trips.
            for id in 0..=u8::MAX {
                if let Ok(m) = ok(v, id) {
                    assert!(id < v.message_count(), "{v} {id:#x}");
                    assert_eq!(m.id(), id);
                }
            }
        }
    }

    #[test]
    fn kinds() {
        assert_eq!(EthMessageId::Status.kind(), EthMessageKind::Handshake);
        assert_eq!(
            EthMessageId::BlockRangeUpdate.kind(),
            EthMessageKind::Announcement
        );
        assert_eq!(EthMessageId::GetReceipts.kind(), EthMessageKind::Request);
        assert_eq!(
            EthMessageId::PooledTransactions.kind(),
            EthMessageKind::Response
        );
    }

    #[test]
    fn block_range_update_round_trips() {
        let update = BlockRangeUpdate {
            earliest: 0,
            latest: 1000,
            latest_hash: [0xab; 32],
        };
        let mut out = Vec::new();
        update.encode(&mut out);
        assert_eq!(out.len(), update.length());
        assert_eq!(&out[..4], &[0xe5, 0x80, 0x82, 0x03]);
        assert_eq!(BlockRangeUpdate::decode(&out), Ok(update));
        assert_eq!(update.validate(), Ok(()));
        // Bytes after the list are ignored.
        out.push(0x01);
        assert_eq!(BlockRangeUpdate::decode(&out), Ok(update));
    }

    #[test]
    fn block_range_update_rejections() {
        let good = hex::decode(format!("e38001a0{}", "11".repeat(32))).unwrap();
        assert!(BlockRangeUpdate::decode(&good).is_ok());
        // Declared 16 MiB: rejected from the header, before looking for the payload.
        assert_eq!(
            BlockRangeUpdate::decode(&[0xfb, 0x01, 0x00, 0x00, 0x00]),
            Err(EthMessageError::TooLarge {
                message: "BlockRangeUpdate",
                got: 0x0100_0000 + 5,
                max: MAX_BLOCK_RANGE_UPDATE_SIZE
            })
        );
        // An extra field inside the list.
        let extra = hex::decode(format!("e48001a0{}01", "11".repeat(32))).unwrap();
        assert_eq!(
            BlockRangeUpdate::decode(&extra),
            Err(EthMessageError::TrailingBytes {
                message: "BlockRangeUpdate",
                extra: 1
            })
        );
        // A 31-byte hash.
        let short = hex::decode(format!("e280019f{}", "11".repeat(31))).unwrap();
        assert_eq!(
            BlockRangeUpdate::decode(&short),
            Err(EthMessageError::Malformed {
                field: "latest_hash",
                reason: alloy_rlp::Error::UnexpectedLength
            })
        );
        // A non-canonical integer.
        let lead = hex::decode(format!("e4810501a0{}", "11".repeat(32))).unwrap();
        assert_eq!(
            BlockRangeUpdate::decode(&lead),
            Err(EthMessageError::Malformed {
                field: "earliest",
                reason: alloy_rlp::Error::NonCanonicalSingleByte
            })
        );
        // Not a list.
        assert_eq!(
            BlockRangeUpdate::decode(&[0x80]),
            Err(EthMessageError::Malformed {
                field: "BlockRangeUpdate",
                reason: alloy_rlp::Error::UnexpectedString
            })
        );
        // Truncated.
        assert_eq!(
            BlockRangeUpdate::decode(&good[..good.len() - 1]),
            Err(EthMessageError::Malformed {
                field: "BlockRangeUpdate",
                reason: alloy_rlp::Error::InputTooShort
            })
        );
        let empty = BlockRangeUpdate {
            earliest: 2,
            latest: 1,
            latest_hash: [1; 32],
        };
        assert_eq!(
            empty.validate(),
            Err(EthMessageError::InvalidBlockRange {
                earliest: 2,
                latest: 1
            })
        );
    }

    #[test]
    fn envelope() {
        assert_eq!(check_envelope(&[0xc0]), Ok(()));
        assert_eq!(check_envelope(&[0xc2, 0x01, 0x02, 0xff]), Ok(()));
        let err = |reason| {
            Err(EthMessageError::Malformed {
                field: "message",
                reason,
            })
        };
        assert_eq!(check_envelope(&[]), err(alloy_rlp::Error::InputTooShort));
        assert_eq!(
            check_envelope(&[0x01]),
            err(alloy_rlp::Error::UnexpectedString)
        );
        assert_eq!(
            check_envelope(&[0xc2, 0x01]),
            err(alloy_rlp::Error::InputTooShort)
        );
        assert_eq!(
            check_envelope(&[0xf8, 0x01, 0x01]),
            err(alloy_rlp::Error::NonCanonicalSize)
        );
        assert_eq!(
            check_envelope(&[0xf9, 0x00, 0x40]),
            err(alloy_rlp::Error::LeadingZero)
        );
        assert_eq!(
            check_envelope(&[0xf9, 0x01]),
            err(alloy_rlp::Error::InputTooShort)
        );
        assert_eq!(
            check_envelope(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            err(alloy_rlp::Error::InputTooShort)
        );
    }
}
