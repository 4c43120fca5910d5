//! [`V3RecordBytes`]: a v3 record kept as the exact bytes of its encoding.

use std::fmt;

use alloy_rlp::{Decodable, Header};
use bytes::Bytes;

use super::V3Record;
use super::limits::{BLOCK_HASHES, MAX_RECORD_BYTES};
use crate::{BlockNumber, RecordError, ReplayRecord, VersionSet, ZksVersion};

/// A ZKsync OS v3 replay record kept as the bytes of its RLP item: checked once, when it is
/// decoded from the network, and sent on verbatim.
///
/// This is the record type of a store that passes a main node's records through: a relay
/// keeps each record as it arrived and serves exactly those bytes, with no decoding or
/// re-encoding on the serving path. What it knows without decoding: the block number and chain
/// id (read from the front of the record) and, for [`follows`](ReplayRecord::follows), the
/// 256-hash window, compared as bytes.
///
/// - [`ReplayRecord::decode`] (network input) validates every rule of [`V3Record`]'s decoder
///   (strict, bounded, canonical), so a record that decodes here re-encodes byte for byte.
/// - [`from_trusted`](Self::from_trusted) (bytes this process stored after validating them)
///   checks only the record's outer shape, its block number and chain id.
/// - [`ReplayRecord::encode`] appends the bytes as they are, whatever the version.
///
/// Like [`V3Record`], it travels on zks/4 and zks/5 only ([`ReplayRecord::VERSIONS`]).
///
/// ```
/// use zks_wire::zksync_os::{V3Record, V3RecordBytes};
/// use zks_wire::{ReplayRecord, ZksVersion};
///
/// let typed = V3Record::synthetic(42, 2, 120);
/// let mut item = Vec::new();
/// typed.encode(ZksVersion::V5, &mut item);
/// let record = V3RecordBytes::decode(ZksVersion::V5, &item.clone().into())?;
/// assert_eq!((record.block_number(), record.chain_id()), (42, 270));
/// assert_eq!(record.as_bytes().as_ref(), item.as_slice());
/// assert_eq!(record.to_record()?, typed);
/// let next = V3RecordBytes::from(&V3Record::synthetic(43, 0, 0));
/// assert!(next.follows(&record));
/// # Ok::<(), zks_wire::RecordError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct V3RecordBytes {
    block_number: BlockNumber,
    chain_id: u64,
    bytes: Bytes,
}

impl V3RecordBytes {
    /// Keeps `item` after checking that it is a v3 record by every rule of
    /// [`V3Record`]'s decoder.
    ///
    /// # Errors
    ///
    /// [`RecordError`] naming the field, as [`V3Record`]'s decoder reports it.
    pub fn new(item: Bytes) -> Result<Self, RecordError> {
        let record = V3Record::decode(ZksVersion::V5, &item)?;
        Ok(Self {
            block_number: record.block_context.block_number,
            chain_id: record.block_context.chain_id,
            bytes: item,
        })
    }

    /// Keeps `item`, bytes this process validated before (a store's own records), checking
    /// only the outer list, the block number and the chain id: reading a record back costs no
    /// full decode. Bytes from anywhere else go through [`new`](Self::new).
    ///
    /// # Errors
    ///
    /// [`RecordError`] when the front of the record is not a v3 record's.
    pub fn from_trusted(item: Bytes) -> Result<Self, RecordError> {
        let (chain_id, block_number) = front(&item)?;
        Ok(Self {
            block_number,
            chain_id,
            bytes: item,
        })
    }

    /// The block this record replays.
    pub const fn block_number(&self) -> BlockNumber {
        self.block_number
    }

    /// The chain the record belongs to (`block_context.chain_id`).
    pub const fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The record's encoding: one RLP list.
    pub const fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The record's encoding, taken.
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// The typed record (a full decode).
    ///
    /// # Errors
    ///
    /// [`RecordError`] when the bytes are not a valid record: only possible for bytes kept
    /// with [`from_trusted`](Self::from_trusted) that were damaged since.
    pub fn to_record(&self) -> Result<V3Record, RecordError> {
        V3Record::decode(ZksVersion::V5, &self.bytes)
    }
}

impl From<&V3Record> for V3RecordBytes {
    fn from(record: &V3Record) -> Self {
        let mut out = Vec::with_capacity(record.encoded_len());
        record.encode(ZksVersion::V5, &mut out);
        Self {
            block_number: record.block_context.block_number,
            chain_id: record.block_context.chain_id,
            bytes: Bytes::from(out),
        }
    }
}

impl From<V3Record> for V3RecordBytes {
    fn from(record: V3Record) -> Self {
        Self::from(&record)
    }
}

impl TryFrom<&V3RecordBytes> for V3Record {
    type Error = RecordError;

    fn try_from(record: &V3RecordBytes) -> Result<Self, RecordError> {
        record.to_record()
    }
}

impl ReplayRecord for V3RecordBytes {
    const VERSIONS: VersionSet = super::VERSIONS;

    fn block_number(&self) -> BlockNumber {
        self.block_number
    }

    /// The bytes as they are, whatever `version`.
    fn encode(&self, _version: ZksVersion, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.bytes);
    }

    /// Validates `item` as [`new`](Self::new) does and keeps it (a shared slice of the
    /// message buffer, not a copy).
    fn decode(_version: ZksVersion, item: &Bytes) -> Result<Self, RecordError> {
        Self::new(item.clone())
    }

    /// As [`V3Record`]'s check, on the encodings: same chain, consecutive blocks, and this
    /// record's first 255 block hashes are `previous`'s last 255. Canonical encodings are
    /// equal exactly when the values are, so comparing bytes is comparing hashes.
    fn follows(&self, previous: &Self) -> bool {
        if self.chain_id != previous.chain_id
            || previous.block_number.checked_add(1) != Some(self.block_number)
        {
            return false;
        }
        let (Some(ours), Some(theirs)) = (window(&self.bytes), window(&previous.bytes)) else {
            return false;
        };
        match (drop_last(ours), drop_first(theirs)) {
            (Some(ours), Some(theirs)) => ours == theirs,
            _ => false,
        }
    }
}

impl fmt::Debug for V3RecordBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "V3RecordBytes(#{}, chain {}, {} bytes)",
            self.block_number,
            self.chain_id,
            self.bytes.len()
        )
    }
}

/// Enters the list at the front of `buf`: returns its payload, `buf` moved past it.
fn enter_list<'a>(buf: &mut &'a [u8]) -> Option<&'a [u8]> {
    let header = Header::decode(buf).ok()?;
    if !header.list || buf.len() < header.payload_length {
        return None;
    }
    let (payload, rest) = buf.split_at(header.payload_length);
    *buf = rest;
    Some(payload)
}

/// Moves `buf` past one RLP item.
fn skip_item(buf: &mut &[u8]) -> Option<()> {
    let header = Header::decode(buf).ok()?;
    *buf = buf.get(header.payload_length..)?;
    Some(())
}

/// The payload of `block_context` of the record `item` (which must be exactly one list).
fn block_context(item: &[u8]) -> Option<&[u8]> {
    let mut buf = item;
    let mut record = enter_list(&mut buf)?;
    if !buf.is_empty() {
        return None;
    }
    enter_list(&mut record)
}

/// Chain id and block number from the front of a record.
fn front(item: &Bytes) -> Result<(u64, BlockNumber), RecordError> {
    if item.len() > MAX_RECORD_BYTES {
        return Err(RecordError::new(format_args!(
            "record of {} bytes exceeds the limit of {MAX_RECORD_BYTES}",
            item.len()
        )));
    }
    let mut ctx = block_context(item)
        .ok_or_else(|| RecordError::new("record: not a list holding a block_context list"))?;
    let chain_id = u64::decode(&mut ctx)
        .map_err(|e| RecordError::new(format_args!("block_context.chain_id: {e}")))?;
    let block_number = u64::decode(&mut ctx)
        .map_err(|e| RecordError::new(format_args!("block_context.block_number: {e}")))?;
    Ok((chain_id, block_number))
}

/// The payload of `block_context.block_hashes`: 256 canonical integers.
fn window(item: &[u8]) -> Option<&[u8]> {
    let mut ctx = block_context(item)?;
    skip_item(&mut ctx)?; // chain_id
    skip_item(&mut ctx)?; // block_number
    enter_list(&mut ctx)
}

/// The window without its first (oldest) hash.
fn drop_first(window: &[u8]) -> Option<&[u8]> {
    let mut rest = window;
    skip_item(&mut rest)?;
    Some(rest)
}

/// The window without its last (newest) hash; `None` unless it holds exactly 256.
fn drop_last(window: &[u8]) -> Option<&[u8]> {
    let mut rest = window;
    for _ in 0..BLOCK_HASHES - 1 {
        skip_item(&mut rest)?;
    }
    let head = window.len() - rest.len();
    skip_item(&mut rest)?;
    rest.is_empty().then(|| &window[..head])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::zksync_os::U256;

    fn bytes_of(record: &V3Record) -> V3RecordBytes {
        V3RecordBytes::from(record)
    }

    #[test]
    fn follows_agrees_with_the_typed_check() {
        let a = V3Record::synthetic(1000, 1, 50);
        let b = V3Record::synthetic(1001, 0, 0);
        let mut fork = V3Record::synthetic(1001, 0, 0);
        fork.block_context.block_hashes[200] = U256::from(7);
        let mut other_chain = V3Record::synthetic(1001, 0, 0);
        other_chain.block_context.chain_id = 271;
        let mut newest_differs = V3Record::synthetic(1001, 0, 0);
        newest_differs.block_context.block_hashes[255] = U256::from(9);
        let cases = [
            (&b, &a),
            (&fork, &a),
            (&other_chain, &a),
            (&newest_differs, &a),
            (&a, &b),
            (&a, &a),
        ];
        for (next, prev) in cases {
            assert_eq!(
                bytes_of(next).follows(&bytes_of(prev)),
                next.follows(prev),
                "{next:?} after {prev:?}"
            );
        }
        assert!(bytes_of(&b).follows(&bytes_of(&a)));
        assert!(!bytes_of(&fork).follows(&bytes_of(&a)));
        // Only the parent slot is new: a different parent hash still follows, as typed.
        assert!(bytes_of(&newest_differs).follows(&bytes_of(&a)));
    }

    #[test]
    fn trusted_bytes_keep_their_front_and_refuse_what_is_not_a_record() {
        let record = bytes_of(&V3Record::synthetic(9, 0, 0));
        let again = V3RecordBytes::from_trusted(record.as_bytes().clone()).unwrap();
        assert_eq!(again, record);
        for bad in [
            &[][..],
            &[0x80],
            &[0xc0],
            &[0xc1, 0xc0],
            &[0xc2, 0xc1, 0x01],
        ] {
            assert!(
                V3RecordBytes::from_trusted(Bytes::copy_from_slice(bad)).is_err(),
                "{bad:02x?}"
            );
        }
        // Damage the trusted path cannot see is found by a full decode.
        let mut damaged = record.as_bytes().to_vec();
        let last = damaged.len() - 1;
        damaged[last] = 0x00;
        let kept = V3RecordBytes::from_trusted(Bytes::from(damaged.clone())).unwrap();
        assert!(kept.to_record().is_err());
        assert!(V3RecordBytes::new(Bytes::from(damaged)).is_err());
    }

    #[test]
    fn only_a_window_of_exactly_256_hashes_loses_its_newest() {
        let items = |n: usize| vec![0x01u8; n];
        assert_eq!(drop_last(&items(256)), Some(&items(255)[..]));
        assert_eq!(drop_last(&items(255)), None);
        assert_eq!(drop_last(&items(257)), None);
        // A string header promising more than is there ends the walk, never panics.
        assert_eq!(drop_last(&[0xa0, 0x01]), None);
        assert_eq!(drop_first(&[0xb8]), None);
    }
}
