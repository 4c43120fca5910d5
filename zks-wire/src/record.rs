//! Replay records: the node team's own type, encoded per negotiated version.

use std::fmt;
use std::sync::Arc;

use alloy_rlp::{Encodable, Header};
use bytes::Bytes;

use crate::{BlockNumber, VersionSet, ZksVersion};

/// A block replay record, as the node team defines it.
///
/// Each record knows its block number and how to encode itself as **one RLP item** for a given
/// protocol version: record encodings are versioned, so an older version may omit fields a newer
/// one carries. The engine never looks inside a record beyond its block number and, where the
/// type offers it, the continuity check [`follows`](Self::follows).
///
/// `Clone` lets an external node keep the last record it applied, to check the next one
/// against it.
pub trait ReplayRecord: Clone + Send + Sync + fmt::Debug + 'static {
    /// The zks versions whose `BlockReplays` carry this record type. A node advertises only
    /// these of its configured versions, so a peer that speaks none of them shares no version
    /// with it and is refused at the handshake, instead of being sent records it cannot read.
    ///
    /// Default: every version ([`VersionSet::ALL`]): the engine cannot know what the team's
    /// records are. ZKsync OS v3 records travel on zks/4 and zks/5 only.
    const VERSIONS: VersionSet = VersionSet::ALL;

    /// The block this record replays.
    fn block_number(&self) -> BlockNumber;

    /// Appends this record's encoding for `version`: exactly one RLP item.
    fn encode(&self, version: ZksVersion, out: &mut Vec<u8>);

    /// Decodes a record from its encoding for `version`. `item` is exactly one RLP item, as it
    /// arrived in a `BlockReplays`; it comes from the network, so it must be validated.
    ///
    /// # Errors
    ///
    /// [`RecordError`] when the bytes are not a valid record; the link that sent it is ended.
    fn decode(version: ZksVersion, item: &Bytes) -> Result<Self, RecordError>
    where
        Self: Sized;

    /// Whether this record can come right after `previous` (the record of the block before)
    /// on one chain. An external node checks every record it applies against the one before
    /// it — inside a message, across messages and across links to different main nodes — and
    /// ends the link (zks-api's `CloseCause::Diverged`, Disconnect `UselessPeer`) instead of
    /// splicing a record from another chain onto its sink.
    ///
    /// The default says yes: the framework cannot see into the team's records, so without this
    /// check a main node on another fork is detected only by the team's own sink. Records that
    /// carry their parent's hash (ZKsync OS v3 records do) should compare it.
    fn follows(&self, previous: &Self) -> bool {
        let _ = previous;
        true
    }
}

/// A record that could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordError {
    /// The block that was due where the record stood, once known.
    due: Option<BlockNumber>,
    description: Arc<str>,
}

impl RecordError {
    /// An error with this description.
    pub fn new(description: impl fmt::Display) -> Self {
        Self {
            due: None,
            description: Arc::from(description.to_string()),
        }
    }

    /// This error, saying which block was due where the record stood (the engine adds it: a
    /// record that does not decode has no block number of its own).
    #[must_use]
    pub fn where_due(self, block: BlockNumber) -> Self {
        Self {
            due: Some(block),
            ..self
        }
    }

    /// The block that was due where the record stood, when known.
    pub fn due(&self) -> Option<BlockNumber> {
        self.due
    }
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.due {
            Some(block) => write!(
                f,
                "invalid replay record where block {block} was due: {}",
                self.description
            ),
            None => write!(f, "invalid replay record: {}", self.description),
        }
    }
}

impl std::error::Error for RecordError {}

impl From<alloy_rlp::Error> for RecordError {
    fn from(e: alloy_rlp::Error) -> Self {
        Self::new(e)
    }
}

/// A ready-made record: a block number and opaque payload bytes.
///
/// Encoded as `[block_number, payload]` in every version. Used by the demo and the tests, and
/// by node teams that keep their records pre-serialised.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RawRecord {
    /// The block.
    pub block_number: BlockNumber,
    /// The record's bytes.
    pub payload: Bytes,
}

impl RawRecord {
    /// A record for `block_number` carrying `payload`.
    pub fn new(block_number: BlockNumber, payload: impl Into<Bytes>) -> Self {
        Self {
            block_number,
            payload: payload.into(),
        }
    }
}

impl fmt::Debug for RawRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RawRecord(#{}, {} bytes)",
            self.block_number,
            self.payload.len()
        )
    }
}

impl ReplayRecord for RawRecord {
    fn block_number(&self) -> BlockNumber {
        self.block_number
    }

    fn encode(&self, _version: ZksVersion, out: &mut Vec<u8>) {
        let payload_length = self.block_number.length() + self.payload.length();
        Header {
            list: true,
            payload_length,
        }
        .encode(out);
        self.block_number.encode(out);
        self.payload.encode(out);
    }

    fn decode(_version: ZksVersion, item: &Bytes) -> Result<Self, RecordError> {
        let mut fields = crate::record_rlp::Fields::new(item)?;
        let block_number = fields.value("block_number")?;
        let payload = fields.bytes("payload")?;
        fields.finish()?;
        Ok(Self {
            block_number,
            payload,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_record_round_trip_and_layout() {
        let r = RawRecord::new(5, vec![0xaa, 0xbb]);
        let mut out = Vec::new();
        r.encode(ZksVersion::V3, &mut out);
        assert_eq!(out, [0xc4, 0x05, 0x82, 0xaa, 0xbb]);
        assert_eq!(RawRecord::decode(ZksVersion::V1, &Bytes::from(out)), Ok(r));
    }

    #[test]
    fn raw_record_rejects_malformed() {
        for bad in [
            &[0x05][..],
            &[0xc1, 0x05],
            &[0xc3, 0x05, 0x80, 0x80],
            &[0xc4, 0x05, 0x82],
        ] {
            assert!(RawRecord::decode(ZksVersion::V3, &Bytes::copy_from_slice(bad)).is_err());
        }
    }
}
