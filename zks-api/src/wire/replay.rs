//! Replay messages: `GetBlockReplays` (0x00) and `BlockReplays` (0x01).

use alloy_rlp::Encodable;
use bytes::Bytes;

use super::DecodeError;
use super::limits::{
    MAX_DB_KEY_BYTES, MAX_OVERRIDE_LIST_BYTES, MAX_RECORD_OVERRIDES, MAX_RECORDS_PER_MESSAGE,
};
use super::rlp::{Limit, Reader, list_header};
use crate::BlockNumber;

/// EN → MN: stream replay records from `starting_block` on.
///
/// Body: `[starting_block, [[block_number, db_key], ...], max_blocks_per_message?]`; the last
/// field is omitted when absent.
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

    pub(crate) fn decode(body: &Bytes) -> Result<Self, DecodeError> {
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
        let max_blocks_per_message = if fields.is_empty() {
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

    pub(crate) fn decode(body: &Bytes) -> Result<Self, DecodeError> {
        let mut top = Reader::new(body);
        let mut outer = top.list("BlockReplays", None)?;
        top.finish("BlockReplays")?;
        let mut list = outer.list("records", None)?;
        outer.finish("BlockReplays")?;
        let mut records = Vec::with_capacity(list.remaining().min(MAX_RECORDS_PER_MESSAGE));
        while !list.is_empty() {
            if records.len() == MAX_RECORDS_PER_MESSAGE {
                return Err(DecodeError::TooManyRecords {
                    max: MAX_RECORDS_PER_MESSAGE,
                });
            }
            records.push(list.raw_item("record")?);
        }
        Ok(Self { records })
    }
}
