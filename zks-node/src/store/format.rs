//! Which records a store holds ([`RecordFormat`], fixed when the store is created) and how
//! each record type is kept ([`StoredRecord`]).

use std::fmt;

use bytes::Bytes;
use zks_api::{BlockNumber, RawRecord, ReplayRecord};
use zks_wire::zksync_os::V3RecordBytes;

/// The records of a store, recorded in it when it is created and checked at every open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordFormat {
    /// Stand-in records `[block_number, payload]` ([`RawRecord`]), for nodes that name no
    /// ZKsync OS chain: our own nodes only (a reth-based ZKsync OS node never gets as far as
    /// replay with a node that does not speak `eth`). The chain starts at block 0.
    StandIn,
    /// ZKsync OS v3 records of one chain ([`V3RecordBytes`]), each kept as the bytes that
    /// arrived and served as they are. Block 0 is the chain's genesis, which every node has
    /// and which is no replay record, so the chain of records starts at block 1.
    ZksyncOsV3 {
        /// The chain (`block_context.chain_id` of every record).
        chain_id: u64,
    },
}

/// The meta value naming [`RecordFormat::StandIn`] (also what a store without the key holds:
/// stores made before the format was recorded).
pub(super) const STAND_IN: &str = "stand-in";
/// The meta value naming [`RecordFormat::ZksyncOsV3`].
pub(super) const ZKSYNC_OS_V3: &str = "zksync-os-v3";

impl RecordFormat {
    /// The format a node with this chain id keeps: v3 records of that chain, or stand-ins.
    pub fn for_chain(chain_id: Option<u64>) -> Self {
        chain_id.map_or(Self::StandIn, |chain_id| Self::ZksyncOsV3 { chain_id })
    }

    /// The first block a chain of these records holds: where an empty store resumes.
    pub const fn first_block(self) -> BlockNumber {
        match self {
            Self::StandIn => 0,
            Self::ZksyncOsV3 { .. } => 1,
        }
    }

    /// The chain id, for v3 records.
    pub const fn chain_id(self) -> Option<u64> {
        match self {
            Self::StandIn => None,
            Self::ZksyncOsV3 { chain_id } => Some(chain_id),
        }
    }

    /// How the format is recorded: the value of the meta key and, for v3, the chain id.
    pub(super) fn meta(self) -> (&'static str, Option<String>) {
        match self {
            Self::StandIn => (STAND_IN, None),
            Self::ZksyncOsV3 { chain_id } => (ZKSYNC_OS_V3, Some(chain_id.to_string())),
        }
    }

    /// The format recorded as `records` (absent: stand-in) and `chain_id`.
    pub(super) fn from_meta(records: Option<&str>, chain_id: Option<&str>) -> Result<Self, String> {
        match (records.unwrap_or(STAND_IN), chain_id) {
            (STAND_IN, None) => Ok(Self::StandIn),
            (ZKSYNC_OS_V3, Some(id)) => id
                .parse()
                .map(|chain_id| Self::ZksyncOsV3 { chain_id })
                .map_err(|_| format!("the recorded chain id {id:?} is not a number")),
            (ZKSYNC_OS_V3, None) => Err("v3 records without a recorded chain id".to_owned()),
            (STAND_IN, Some(id)) => Err(format!("stand-in records with a chain id ({id})")),
            (other, _) => Err(format!("unknown record format {other:?}")),
        }
    }
}

impl fmt::Display for RecordFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::StandIn => f.write_str("stand-in records (no chain id)"),
            Self::ZksyncOsV3 { chain_id } => {
                write!(f, "ZKsync OS v3 records of chain {chain_id}")
            }
        }
    }
}

/// A record type a store can keep: how it is stored and read back, and which stores hold it.
pub trait StoredRecord: ReplayRecord {
    /// Whether a store of `format` holds this record type.
    fn kept_in(format: RecordFormat) -> bool;

    /// Why this record does not belong in a store of `format` (another chain), if it does not.
    fn mismatch(&self, format: RecordFormat) -> Option<String>;

    /// The bytes stored for the record.
    fn value(&self) -> &[u8];

    /// The record of `block` from the bytes this store stored for it.
    ///
    /// # Errors
    ///
    /// What is wrong with the bytes, when they are not such a record (a damaged store).
    fn from_value(block: BlockNumber, value: &[u8]) -> Result<Self, String>;
}

/// Stand-ins keep their payload only: the block is the key.
impl StoredRecord for RawRecord {
    fn kept_in(format: RecordFormat) -> bool {
        format == RecordFormat::StandIn
    }

    fn mismatch(&self, _format: RecordFormat) -> Option<String> {
        None
    }

    fn value(&self) -> &[u8] {
        &self.payload
    }

    fn from_value(block: BlockNumber, value: &[u8]) -> Result<Self, String> {
        Ok(Self::new(block, Bytes::copy_from_slice(value)))
    }
}

/// v3 records keep their whole encoding, exactly as it arrived.
impl StoredRecord for V3RecordBytes {
    fn kept_in(format: RecordFormat) -> bool {
        matches!(format, RecordFormat::ZksyncOsV3 { .. })
    }

    fn mismatch(&self, format: RecordFormat) -> Option<String> {
        let chain_id = format.chain_id()?;
        (self.chain_id() != chain_id).then(|| {
            format!(
                "the record of block {} is of chain {}, this store holds chain {chain_id}",
                self.block_number(),
                self.chain_id()
            )
        })
    }

    fn value(&self) -> &[u8] {
        self.as_bytes()
    }

    fn from_value(block: BlockNumber, value: &[u8]) -> Result<Self, String> {
        let record = Self::from_trusted(Bytes::copy_from_slice(value))
            .map_err(|e| format!("the record of block {block}: {e}"))?;
        if record.block_number() != block {
            return Err(format!(
                "the record stored as block {block} is block {}",
                record.block_number()
            ));
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_round_trip_through_their_meta_and_refuse_what_they_are_not() {
        for format in [
            RecordFormat::StandIn,
            RecordFormat::ZksyncOsV3 { chain_id: 270 },
        ] {
            let (records, chain) = format.meta();
            assert_eq!(
                RecordFormat::from_meta(Some(records), chain.as_deref()),
                Ok(format)
            );
        }
        // Stores made before the format was recorded hold stand-ins.
        assert_eq!(
            RecordFormat::from_meta(None, None),
            Ok(RecordFormat::StandIn)
        );
        assert_eq!(
            RecordFormat::from_meta(Some("v9"), None),
            Err("unknown record format \"v9\"".to_owned())
        );
        assert_eq!(
            RecordFormat::from_meta(Some(ZKSYNC_OS_V3), Some("x")),
            Err("the recorded chain id \"x\" is not a number".to_owned())
        );
        assert!(RecordFormat::from_meta(Some(ZKSYNC_OS_V3), None).is_err());
        assert!(RecordFormat::from_meta(Some(STAND_IN), Some("1")).is_err());
        assert_eq!(
            RecordFormat::ZksyncOsV3 { chain_id: 270 }.to_string(),
            "ZKsync OS v3 records of chain 270"
        );
        assert_eq!(RecordFormat::for_chain(None).first_block(), 0);
        assert_eq!(RecordFormat::for_chain(Some(5)).first_block(), 1);
    }
}
