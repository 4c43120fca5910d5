//! Replay messages: `GetBlockReplays` (0x00) and `BlockReplays` (0x01).

use std::collections::BTreeMap;

use alloy_rlp::Encodable;
use bytes::Bytes;

use super::limits::{MAX_DB_KEY_BYTES, MAX_OVERRIDE_LIST_BYTES, MAX_RECORD_OVERRIDES};
use super::rlp::{Limit, Reader, list_header};
use super::{DecodeError, Frame, MessageId};
use crate::BlockNumber;

/// EN → MN: stream replay records from `starting_block` on.
///
/// Body: `[starting_block, [[block_number, db_key], ...], max_blocks_per_message?]`; the last
/// field is omitted when absent. On zks/4–5 a `0x80` in that slot also decodes as absent
/// (upstream's trailing rule), so `Some(0)` encodes but does not round-trip there; a main node
/// treats absent, 0 and 1 alike.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GetBlockReplays {
    /// First block the EN wants.
    pub starting_block: BlockNumber,
    /// Blocks for which the EN wants an alternative record, named by `db_key`.
    pub record_overrides: Vec<RecordOverride>,
    /// Most records per `BlockReplays` the EN accepts; absent means one (zks/1–2 never send it).
    pub max_blocks_per_message: Option<u64>,
}

/// A request to replace the record of one block with the record stored under `db_key`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordOverride {
    /// The block whose record is replaced.
    pub block_number: BlockNumber,
    /// The key of the replacement record, at most
    /// [`MAX_DB_KEY_BYTES`](super::limits::MAX_DB_KEY_BYTES).
    pub db_key: Bytes,
}

impl RecordOverride {
    fn payload_length(&self) -> usize {
        self.block_number.length() + self.db_key.length()
    }

    fn length(&self) -> usize {
        list_header(self.payload_length()).length_with_payload()
    }
}

impl GetBlockReplays {
    fn overrides_payload_length(&self) -> usize {
        self.record_overrides
            .iter()
            .map(RecordOverride::length)
            .sum()
    }

    fn payload_length(&self) -> usize {
        self.starting_block.length()
            + list_header(self.overrides_payload_length()).length_with_payload()
            + self.max_blocks_per_message.map_or(0, |m| m.length())
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        list_header(self.payload_length()).encode(out);
        self.starting_block.encode(out);
        list_header(self.overrides_payload_length()).encode(out);
        for o in &self.record_overrides {
            list_header(o.payload_length()).encode(out);
            o.block_number.encode(out);
            o.db_key.encode(out);
        }
        if let Some(max) = self.max_blocks_per_message {
            max.encode(out);
        }
    }

    /// `empty_is_absent`: upstream's trailing rule (zks/4–5), a `0x80` in the optional slot
    /// decodes as `None`; otherwise (zks/1–3) it is `Some(0)`.
    pub(crate) fn decode(body: &Bytes, empty_is_absent: bool) -> Result<Self, DecodeError> {
        let mut top = Reader::new(body);
        let mut fields = top.list("GetBlockReplays", None)?;
        top.finish("GetBlockReplays")?;

        let starting_block = fields.value("starting_block")?;
        let mut list = fields.list(
            "record_overrides",
            Some(Limit {
                max: MAX_OVERRIDE_LIST_BYTES,
                error: |size, max| DecodeError::OverrideListTooLarge { size, max },
            }),
        )?;
        // Every override takes at least 3 bytes, so the byte cap also caps this allocation.
        let mut record_overrides =
            Vec::with_capacity((list.remaining() / 3).min(MAX_RECORD_OVERRIDES));
        while !list.is_empty() {
            if record_overrides.len() == MAX_RECORD_OVERRIDES {
                return Err(DecodeError::TooManyOverrides {
                    max: MAX_RECORD_OVERRIDES,
                });
            }
            let mut item = list.list("record override", None)?;
            let block_number = item.value("override block_number")?;
            let db_key = item.bytes(
                "db_key",
                Some(Limit {
                    max: MAX_DB_KEY_BYTES,
                    error: |len, max| DecodeError::DbKeyTooLong { len, max },
                }),
            )?;
            item.finish("record override")?;
            record_overrides.push(RecordOverride {
                block_number,
                db_key,
            });
        }
        // Absent when the list ends here, or (zks/4–5) when the slot holds `0x80`.
        let max_blocks_per_message =
            if fields.is_empty() || (empty_is_absent && fields.skip_empty_string()) {
                None
            } else {
                Some(fields.value("max_blocks_per_message")?)
            };
        fields.finish("GetBlockReplays")?;
        Ok(Self {
            starting_block,
            record_overrides,
            max_blocks_per_message,
        })
    }
}

/// MN → EN: consecutive replay records.
///
/// Body: `[[record, ...]]`. Each record is one RLP item whose layout belongs to the record type
/// and the negotiated version (see [`ReplayRecord`](crate::ReplayRecord)); the wire layer keeps
/// each one as its raw encoding, sliced from the received buffer without copying.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockReplays {
    /// The records, each a complete RLP item.
    pub records: Vec<Bytes>,
}

impl BlockReplays {
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        Self::encode_records(self.records.iter().map(|r| r.as_ref()), out);
    }

    /// Encodes a `BlockReplays` body from already-encoded records without building the message.
    pub fn encode_records<'a>(records: impl Iterator<Item = &'a [u8]> + Clone, out: &mut Vec<u8>) {
        let payload: usize = records.clone().map(<[u8]>::len).sum();
        let inner = list_header(payload);
        list_header(inner.length_with_payload()).encode(out);
        inner.encode(out);
        for r in records {
            out.extend_from_slice(r);
        }
    }

    /// Decodes a body holding at most `max` records (the version's limit).
    pub(crate) fn decode(body: &Bytes, max: usize) -> Result<Self, DecodeError> {
        let mut top = Reader::new(body);
        let mut outer = top.list("BlockReplays", None)?;
        top.finish("BlockReplays")?;
        let mut list = outer.list("records", None)?;
        outer.finish("BlockReplays")?;
        let mut records = Vec::with_capacity(list.remaining().min(max));
        while !list.is_empty() {
            if records.len() == max {
                return Err(DecodeError::TooManyRecords { max });
            }
            records.push(list.raw_item("record")?);
        }
        Ok(Self { records })
    }
}

/// Builds one `BlockReplays` frame in a single buffer: records are encoded straight into it,
/// and the two list headers are written into room left in front once the size is known, so the
/// message is never copied.
///
/// ```
/// use zks_wire::{BlockReplays, BlockReplaysWriter, Frame, ZksMessage, ZksVersion};
///
/// let mut writer = BlockReplaysWriter::with_capacity(16);
/// writer.buffer().extend_from_slice(&[0x82, 0xaa, 0xbb]); // one record: an RLP item
/// let frame = writer.finish();
/// assert_eq!(frame.to_wire(), [0x01, 0xc4, 0xc3, 0x82, 0xaa, 0xbb]);
/// ```
#[derive(Debug)]
pub struct BlockReplaysWriter {
    body: Vec<u8>,
}

impl BlockReplaysWriter {
    /// Room for two RLP list headers (at most 9 bytes each) in front of the records.
    const HEADROOM: usize = 18;

    /// A writer with room for `records_bytes` of encoded records.
    pub fn with_capacity(records_bytes: usize) -> Self {
        let mut body = Vec::with_capacity(Self::HEADROOM + records_bytes);
        body.resize(Self::HEADROOM, 0);
        Self { body }
    }

    /// The buffer to append encoded records to, each exactly one RLP item.
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.body
    }

    /// Bytes of encoded records so far.
    pub fn records_len(&self) -> usize {
        self.body.len() - Self::HEADROOM
    }

    /// Drops everything appended after the first `records_len` bytes of records (to take back
    /// a record that does not fit).
    pub fn truncate(&mut self, records_len: usize) {
        self.body.truncate(Self::HEADROOM + records_len);
    }

    /// Writes the headers and returns the frame.
    pub fn finish(self) -> Frame {
        let Self { mut body } = self;
        let records_len = body.len() - Self::HEADROOM;
        let inner = list_header(records_len);
        let outer = list_header(inner.length() + records_len);
        let start = Self::HEADROOM - inner.length() - outer.length();
        let mut head = &mut body[start..Self::HEADROOM];
        outer.encode(&mut head);
        inner.encode(&mut head);
        Frame::zks(
            MessageId::BlockReplays as u8,
            Bytes::from(body).slice(start..),
        )
    }
}

/// The record overrides an EN asked for: block number → `db_key` of the replacement record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides(BTreeMap<BlockNumber, Bytes>);

impl Overrides {
    /// The key requested for `block`, if any.
    pub fn get(&self, block: BlockNumber) -> Option<&Bytes> {
        self.0.get(&block)
    }

    /// Whether no override was requested.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many blocks have an override.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The overrides, by block.
    pub fn iter(&self) -> impl Iterator<Item = (BlockNumber, &Bytes)> {
        self.0.iter().map(|(b, k)| (*b, k))
    }
}

impl FromIterator<RecordOverride> for Overrides {
    /// Collects overrides; if a block is named twice, the first request wins.
    fn from_iter<I: IntoIterator<Item = RecordOverride>>(iter: I) -> Self {
        let mut map = BTreeMap::new();
        for o in iter {
            map.entry(o.block_number).or_insert(o.db_key);
        }
        Self(map)
    }
}
