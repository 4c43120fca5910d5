//! [`ReplayCursor`]: where one replay stream stands, how it turns records into `BlockReplays`
//! frames, and how streams at the same place share one encoding ([`SharedReplays`]).

use crate::wire::limits::{MAX_MESSAGE_BYTES, MAX_RECORDS_PER_MESSAGE};
use crate::wire::{BlockReplaysWriter, Frame, GetBlockReplays, ZksVersion};
use crate::{BlockNumber, Overrides, ReplayRecord, SourceError};

/// Where one replay stream stands, and how it turns records into `BlockReplays` frames.
#[derive(Debug, PartialEq, Eq)]
pub struct ReplayCursor {
    version: ZksVersion,
    next_block: BlockNumber,
    batch: usize,
    overrides: Overrides,
}

impl ReplayCursor {
    /// A cursor for `request` on a link of `version`.
    ///
    /// zks/1–2 send one record per message; zks/3 sends up to
    /// `clamp(max_blocks_per_message, 1, 64)` (absent means 1).
    pub fn new(version: ZksVersion, request: GetBlockReplays) -> Self {
        let batch = if version >= ZksVersion::V3 {
            let asked = request.max_blocks_per_message.unwrap_or(1);
            usize::try_from(asked)
                .unwrap_or(usize::MAX)
                .clamp(1, MAX_RECORDS_PER_MESSAGE)
        } else {
            1
        };
        Self {
            version,
            next_block: request.starting_block,
            batch,
            overrides: request.record_overrides.into_iter().collect(),
        }
    }

    /// The next block to send.
    pub fn next_block(&self) -> BlockNumber {
        self.next_block
    }

    /// Most records per message on this link.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// The overrides the peer asked for.
    pub fn overrides(&self) -> &Overrides {
        &self.overrides
    }

    /// Encodes the records a source returned for [`next_block`](Self::next_block) into one
    /// `BlockReplays` frame and advances past the records it holds.
    ///
    /// Records beyond the batch size, or that would push the message past
    /// [`MAX_MESSAGE_BYTES`], are left for the next message.
    ///
    /// # Errors
    ///
    /// [`SourceError`] when the source broke its contract: no records, records that are not
    /// contiguous from `next_block`, or a single record too large for any message.
    pub fn encode_next<R: ReplayRecord>(&mut self, records: &[R]) -> Result<Frame, SourceError> {
        let take = records.len().min(self.batch);
        let mut writer = BlockReplaysWriter::with_capacity(64 * take);
        let mut expected = self.next_block;
        let mut count = 0;
        for record in records.iter().take(self.batch) {
            if record.block_number() != expected {
                return Err(SourceError::new(format!(
                    "source returned block {} where {expected} was due",
                    record.block_number()
                )));
            }
            let before = writer.records_len();
            record.encode(self.version, writer.buffer());
            if count == 0 {
                // Size the message from its first record: one allocation instead of doubling.
                let first = writer.records_len() - before;
                writer
                    .buffer()
                    .reserve(first.saturating_mul(take - 1).min(MAX_MESSAGE_BYTES));
            }
            if writer.records_len() > MAX_MESSAGE_BYTES {
                if count == 0 {
                    return Err(SourceError::new(format!(
                        "record for block {expected} is larger than a message may be"
                    )));
                }
                writer.truncate(before);
                break;
            }
            count += 1;
            expected += 1;
        }
        if count == 0 {
            return Err(SourceError::new(format!(
                "source returned no record for block {expected}"
            )));
        }
        self.next_block = expected;
        Ok(writer.finish())
    }
}

/// What makes two replay streams' next messages the same bytes: the version, the batch size and
/// the next block (streams with record overrides never share).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShareKey {
    /// The first block of the message.
    pub first_block: BlockNumber,
    /// The link's zks version.
    pub version: ZksVersion,
    /// Most records per message.
    pub batch: usize,
}

/// One encoded `BlockReplays`, for every stream at its [`ShareKey`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedReplays {
    /// The message (cheap to clone: the body is shared).
    pub frame: Frame,
    /// One past its last block.
    pub next_block: BlockNumber,
}

impl ReplayCursor {
    /// The key under which this stream's next message can be shared with other streams;
    /// `None` with record overrides (their records are this peer's own).
    pub fn share_key(&self) -> Option<ShareKey> {
        self.overrides.is_empty().then_some(ShareKey {
            first_block: self.next_block,
            version: self.version,
            batch: self.batch,
        })
    }

    /// [`encode_next`](Self::encode_next), also returning the message as another stream at
    /// the same key can reuse it.
    ///
    /// # Errors
    ///
    /// As [`encode_next`](Self::encode_next).
    pub fn encode_shared<R: ReplayRecord>(
        &mut self,
        records: &[R],
    ) -> Result<SharedReplays, SourceError> {
        let frame = self.encode_next(records)?;
        Ok(SharedReplays {
            frame,
            next_block: self.next_block,
        })
    }

    /// Takes a message another stream encoded at this stream's [`share_key`](Self::share_key)
    /// and moves past its blocks; `None` (and nothing changes) when the key is not ours.
    pub fn take_shared(&mut self, key: ShareKey, shared: &SharedReplays) -> Option<Frame> {
        if self.share_key() != Some(key) || shared.next_block <= self.next_block {
            return None;
        }
        self.next_block = shared.next_block;
        Some(shared.frame.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Bytes;
    use crate::RawRecord;
    use crate::testing::request;
    use crate::wire::{BlockReplays, RecordOverride, ZksMessage};

    #[test]
    fn batch_size_per_version() {
        assert_eq!(
            ReplayCursor::new(ZksVersion::V1, request(0, Some(64))).batch(),
            1
        );
        assert_eq!(
            ReplayCursor::new(ZksVersion::V2, request(0, None)).batch(),
            1
        );
        assert_eq!(
            ReplayCursor::new(ZksVersion::V3, request(0, None)).batch(),
            1
        );
        assert_eq!(
            ReplayCursor::new(ZksVersion::V3, request(0, Some(0))).batch(),
            1
        );
        assert_eq!(
            ReplayCursor::new(ZksVersion::V3, request(0, Some(10))).batch(),
            10
        );
        assert_eq!(
            ReplayCursor::new(ZksVersion::V3, request(0, Some(u64::MAX))).batch(),
            64
        );
    }

    #[test]
    fn encodes_exactly_like_the_wire_codec() {
        let mut cursor = ReplayCursor::new(ZksVersion::V3, request(5, Some(64)));
        let records = [
            RawRecord::new(5, vec![0xaa, 0xbb]),
            RawRecord::new(6, vec![]),
        ];
        let frame = cursor.encode_next(&records).unwrap();
        assert_eq!(hex(&frame.to_wire()), "01c9c8c40582aabbc20680");
        assert_eq!(cursor.next_block(), 7);
        // Large payloads need long-form headers; compare with the wire codec.
        let big: Vec<_> = (7..71)
            .map(|b| RawRecord::new(b, vec![7u8; 1000]))
            .collect();
        let frame = cursor.encode_next(&big).unwrap();
        let mut items = Vec::new();
        for r in &big[..64] {
            let mut item = Vec::new();
            r.encode(ZksVersion::V3, &mut item);
            items.push(Bytes::from(item));
        }
        assert_eq!(
            frame,
            ZksMessage::BlockReplays(BlockReplays { records: items }).to_frame()
        );
        assert_eq!(cursor.next_block(), 71);
    }

    #[test]
    fn rejects_source_contract_breaches() {
        let mut cursor = ReplayCursor::new(ZksVersion::V3, request(5, Some(64)));
        assert!(cursor.encode_next::<RawRecord>(&[]).is_err());
        assert!(cursor.encode_next(&[RawRecord::new(6, "")]).is_err());
        assert!(
            cursor
                .encode_next(&[RawRecord::new(5, ""), RawRecord::new(5, "")])
                .is_err()
        );
        assert_eq!(cursor.next_block(), 5);
    }

    #[test]
    fn streams_at_one_key_share_one_encoding_and_overrides_never_do() {
        let records: Vec<_> = (5..9).map(|b| RawRecord::new(b, "r")).collect();
        let mut a = ReplayCursor::new(ZksVersion::V3, request(5, Some(64)));
        let mut b = ReplayCursor::new(ZksVersion::V3, request(5, Some(64)));
        let key = a.share_key().unwrap();
        assert_eq!(b.share_key(), Some(key));
        let shared = a.encode_shared(&records).unwrap();
        assert_eq!(shared.next_block, 9);
        let frame = b.take_shared(key, &shared).unwrap();
        assert_eq!(frame, shared.frame);
        assert_eq!((a.next_block(), b.next_block()), (9, 9));
        // Not at that key any more: nothing is taken twice.
        assert_eq!(b.take_shared(key, &shared), None);
        assert_eq!(b.next_block(), 9);

        // Another batch size or version is another key.
        let c = ReplayCursor::new(ZksVersion::V3, request(5, Some(2)));
        let d = ReplayCursor::new(ZksVersion::V4, request(5, Some(64)));
        assert_ne!(c.share_key(), Some(key));
        assert_ne!(d.share_key(), Some(key));
        let mut with_overrides = ReplayCursor::new(
            ZksVersion::V3,
            GetBlockReplays {
                record_overrides: vec![RecordOverride {
                    block_number: 6,
                    db_key: Bytes::from_static(b"k"),
                }],
                ..request(5, Some(64))
            },
        );
        assert_eq!(with_overrides.share_key(), None);
        assert_eq!(with_overrides.take_shared(key, &shared), None);
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
