//! `zks_wire::zksync_os::V3Record::decode` on one arbitrary RLP item, for every version.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use zks_wire::zksync_os::V3Record;
use zks_wire::{ReplayRecord, ZksVersion};

fuzz_target!(|data: &[u8]| {
    let item = Bytes::copy_from_slice(data);
    let first = V3Record::decode(ZksVersion::V1, &item);
    for version in ZksVersion::ALL {
        // The layout does not depend on the version: every version agrees.
        let decoded = V3Record::decode(version, &item);
        assert_eq!(decoded, first, "{version:?} disagrees");
        if let Ok(record) = decoded {
            // A record that decodes is canonical: re-encoding gives back exactly its bytes,
            // and those decode again to the same record.
            let mut again = Vec::new();
            record.encode(version, &mut again);
            assert_eq!(again, data, "{version:?}: {record:?} is not canonical");
            assert_eq!(again.len(), record.encoded_len());
            assert_eq!(
                V3Record::decode(version, &Bytes::from(again)).as_ref(),
                Ok(&record)
            );
            // Raw parts are views into the input, never larger than it.
            let raw: usize = record.transactions.iter().map(Bytes::len).sum::<usize>()
                + record
                    .force_preimages
                    .iter()
                    .map(|(_, p)| p.len())
                    .sum::<usize>();
            assert!(raw < data.len());
        }
    }
});
