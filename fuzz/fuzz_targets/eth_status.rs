//! The `eth` decoders on arbitrary msg-data: `Status::decode` for every version (what decodes
//! re-encodes to exactly the list it was read from, and validation never panics), and the
//! passive helpers `BlockRangeUpdate::decode` and `check_envelope`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zks_devp2p::eth::{
    self, BlockRangeUpdate, ChainIdentity, EthVersion, MAX_BLOCK_RANGE_UPDATE_SIZE,
    MAX_STATUS_SIZE, Status,
};

fuzz_target!(|data: &[u8]| {
    let ours = ChainIdentity::zksync_os(270);
    for version in EthVersion::ALL {
        if let Ok(status) = Status::decode(version, data) {
            // Decoding is canonical, so the encoding is the list's own bytes; the rest of the
            // input is ignored.
            let again = status.to_vec();
            assert!(again.len() <= MAX_STATUS_SIZE);
            assert_eq!(data.get(..again.len()), Some(&again[..]));
            assert_eq!(Status::decode(version, &again), Ok(status));
            let _ = eth::validate(&ours, version, &status);
        }
    }
    if let Ok(update) = BlockRangeUpdate::decode(data) {
        let _ = update.validate();
        // The smallest is `[0, 0, hash]`: 1 + 1 + 1 + 33 bytes.
        assert!(data.len() >= 36 && data.len().min(MAX_BLOCK_RANGE_UPDATE_SIZE) >= 36);
        assert!(eth::check_envelope(data).is_ok());
    }
    let _ = eth::check_envelope(data);
});
