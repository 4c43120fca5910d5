//! Per-record checksums: every value of the `records` and `overrides` tables ends with the
//! CRC-32 (IEEE) of the block number (8 bytes, little-endian) followed by the record, so a
//! flipped byte in a record, or a record moved to another block's key, is found when it is
//! read, before it is served. redb checksums its pages, but checks them only when it repairs a
//! file after a crash (or in `check_integrity`), not on reads: a flipped byte inside a stored
//! value is otherwise read back silently.
//!
//! Stores record the scheme in their meta table (`"checksum" = "crc32"`); stores made before
//! it have no such key, keep their values bare, and are read without checks (said once at
//! open). Their new records stay bare too: one store, one layout.

use zks_api::BlockNumber;

/// The meta key naming the checksum scheme.
pub(crate) const CHECKSUM_KEY: &str = "checksum";
/// The meta value of the CRC-32 scheme.
pub(crate) const CHECKSUM_CRC32: &str = "crc32";
/// Bytes a checksum adds to a value.
pub const CHECKSUM_LEN: usize = 4;

fn crc(block: BlockNumber, record: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&block.to_le_bytes());
    hasher.update(record);
    hasher.finalize()
}

/// The value stored for `record` as block `block`: the record, then its checksum.
pub fn seal(block: BlockNumber, record: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(record.len() + CHECKSUM_LEN);
    value.extend_from_slice(record);
    value.extend_from_slice(&crc(block, record).to_le_bytes());
    value
}

/// The record in `value`, stored as block `block`, if its checksum verifies.
///
/// # Errors
///
/// What does not verify, naming the block.
pub fn unseal(block: BlockNumber, value: &[u8]) -> Result<&[u8], String> {
    let Some(split) = value.len().checked_sub(CHECKSUM_LEN) else {
        return Err(format!(
            "the record of block {block} is {} bytes, shorter than its checksum",
            value.len()
        ));
    };
    let (record, sum) = value.split_at(split);
    let mut stored = [0u8; CHECKSUM_LEN];
    stored.copy_from_slice(sum);
    let stored = u32::from_le_bytes(stored);
    let computed = crc(block, record);
    if stored != computed {
        return Err(format!(
            "the record of block {block} fails its checksum (stored {stored:08x}, computed \
             {computed:08x}): its bytes were changed on disk"
        ));
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_record_verifies_and_any_flipped_bit_or_other_block_fails() {
        let record = b"the record of block 7".to_vec();
        let value = seal(7, &record);
        assert_eq!(value.len(), record.len() + CHECKSUM_LEN);
        assert_eq!(unseal(7, &value), Ok(&record[..]));
        for byte in 0..value.len() {
            for bit in 0..8 {
                let mut damaged = value.clone();
                damaged[byte] ^= 1 << bit;
                let err = unseal(7, &damaged).unwrap_err();
                assert!(
                    err.starts_with("the record of block 7 fails its checksum"),
                    "{err}"
                );
            }
        }
        assert!(unseal(8, &value).is_err(), "moved to another block");
        assert_eq!(
            unseal(3, &[1, 2]),
            Err("the record of block 3 is 2 bytes, shorter than its checksum".to_owned())
        );
        assert!(unseal(3, &value[..2]).is_err());
    }
}
