//! `zks_wire::zksync_os::V3RecordBytes` against the typed decoder it must agree with.
//!
//! - The whole input is one item for `V3RecordBytes::decode` and `from_trusted`: `decode`
//!   accepts exactly what `V3Record::decode` accepts, with the same error otherwise; what it
//!   accepts it keeps and encodes byte for byte; `from_trusted` never panics, and on a record
//!   the full decoder accepts it reads the same block number and chain id.
//! - The input after its first byte is cut in two records for `follows`: with bit 7 of the
//!   first byte set, after the first RLP item (as its header declares: how consecutive records
//!   sit in a `BlockReplays`); otherwise at `len * (byte & 0x7f) / 128`. Both cuts go through
//!   `from_trusted` (so damaged windows reach `follows`); `follows` never panics, and when both
//!   cuts decode fully it agrees with `V3Record::follows`, both ways round.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use zks_wire::zksync_os::{V3Record, V3RecordBytes};
use zks_wire::{ReplayRecord, ZksVersion};

fuzz_target!(|data: &[u8]| {
    let item = Bytes::copy_from_slice(data);
    let typed = V3Record::decode(ZksVersion::V5, &item);
    // The versions v3 records travel on (the layout ignores the version).
    for version in [ZksVersion::V4, ZksVersion::V5] {
        let kept = V3RecordBytes::decode(version, &item);
        match (&typed, &kept) {
            (Ok(record), Ok(bytes)) => {
                assert_eq!(bytes.block_number(), record.block_context.block_number);
                assert_eq!(bytes.chain_id(), record.block_context.chain_id);
                assert_eq!(bytes.as_bytes().as_ref(), data);
                let mut again = Vec::new();
                bytes.encode(version, &mut again);
                assert_eq!(
                    again, data,
                    "{version:?}: {bytes:?} does not encode to its input"
                );
                if version == ZksVersion::V5 {
                    assert_eq!(bytes.to_record().as_ref(), Ok(record));
                    assert_eq!(&V3RecordBytes::from(record), bytes);
                }
            }
            (Err(typed), Err(kept)) => assert_eq!(kept, typed, "{version:?}: errors differ"),
            (typed, kept) => panic!("{version:?}: V3Record says {typed:?}, V3RecordBytes {kept:?}"),
        }
    }

    let trusted = V3RecordBytes::from_trusted(item.clone());
    if let Ok(record) = &typed {
        let trusted = trusted.unwrap_or_else(|e| panic!("from_trusted refused a record: {e}"));
        assert_eq!(trusted.block_number(), record.block_context.block_number);
        assert_eq!(trusted.chain_id(), record.block_context.chain_id);
        assert_eq!(trusted.as_bytes().as_ref(), data);
    }

    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let at = if mode & 0x80 != 0 {
        first_item_len(rest).unwrap_or(rest.len()).min(rest.len())
    } else {
        rest.len() * usize::from(mode & 0x7f) / 128
    };
    let (a, b) = rest.split_at(at);
    let (a, b) = (Bytes::copy_from_slice(a), Bytes::copy_from_slice(b));
    let (Ok(ta), Ok(tb)) = (
        V3RecordBytes::from_trusted(a.clone()),
        V3RecordBytes::from_trusted(b.clone()),
    ) else {
        return;
    };
    let (b_after_a, a_after_b) = (tb.follows(&ta), ta.follows(&tb));
    // A record never follows itself (its block number is not its own successor).
    assert!(!ta.follows(&ta));
    if let (Ok(ra), Ok(rb)) = (
        V3Record::decode(ZksVersion::V5, &a),
        V3Record::decode(ZksVersion::V5, &b),
    ) {
        assert_eq!(b_after_a, rb.follows(&ra), "{tb:?} after {ta:?}");
        assert_eq!(a_after_b, ra.follows(&rb), "{ta:?} after {tb:?}");
    }
});

/// Length of the RLP item at the front of `buf` (header plus payload), as its header says.
fn first_item_len(buf: &[u8]) -> Option<usize> {
    let mut rest = buf;
    let header = zks_wire::alloy_rlp::Header::decode(&mut rest).ok()?;
    (buf.len() - rest.len()).checked_add(header.payload_length)
}
