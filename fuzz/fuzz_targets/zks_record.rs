//! `zks_api::RawRecord::decode` for every version on one arbitrary RLP item, and
//! `zks_api::wire::Frame::from_wire` on the same bytes.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use zks_api::wire::{Frame, ZksVersion};
use zks_api::{RawRecord, ReplayRecord};

fuzz_target!(|data: &[u8]| {
    let item = Bytes::copy_from_slice(data);
    for version in ZksVersion::ALL {
        if let Ok(record) = RawRecord::decode(version, &item) {
            // The payload is a view into the item, and a record that decodes is canonical:
            // re-encoding gives back exactly the bytes it came from.
            assert!(record.payload.len() < data.len());
            let mut again = Vec::new();
            record.encode(version, &mut again);
            assert_eq!(again, data, "{version:?}: {record:?} is not canonical");
            assert_eq!(
                RawRecord::decode(version, &Bytes::from(again)).as_ref(),
                Ok(&record)
            );
        }
    }
    match Frame::from_wire(item) {
        Ok(frame) => {
            assert_eq!(frame.len(), data.len());
            assert_eq!(frame.to_wire(), data);
        }
        Err(_) => assert!(data.is_empty()),
    }
});
