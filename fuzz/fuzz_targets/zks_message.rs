//! `zks_api::wire::ZksMessage::decode` for every version on arbitrary `id || body`.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use zks_api::wire::{Frame, ZksMessage, ZksVersion};

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = Frame::from_wire(Bytes::copy_from_slice(data)) else {
        return;
    };
    for version in ZksVersion::ALL {
        if let Ok(message) = ZksMessage::decode(version, &frame) {
            // What decodes re-encodes to a frame that decodes to the same message.
            let again = message.to_frame();
            assert_eq!(ZksMessage::decode(version, &again).as_ref(), Ok(&message));
        }
    }
});
