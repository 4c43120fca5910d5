//! `zks_api::wire::TwoFaMessage::decode` (`zks_2fa/1`) on arbitrary `id || body`.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use zks_api::wire::{Frame, Protocol, TwoFaMessage, TwoFaVersion, ZksMessage, ZksVersion};

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = Frame::from_wire_as(Protocol::Zks2fa, Bytes::copy_from_slice(data)) else {
        assert!(data.is_empty());
        return;
    };
    if let Ok(message) = TwoFaMessage::decode(TwoFaVersion::V1, &frame) {
        // Every zks_2fa/1 encoding the decoder accepts is canonical (minimal integers and
        // headers, no trailing bytes, tags 0/1 only): re-encoding gives back the input.
        let again = message.to_frame();
        assert_eq!(again.protocol, Protocol::Zks2fa);
        assert_eq!(again.to_wire(), data, "{message:?} is not canonical");
        assert_eq!(
            TwoFaMessage::decode(TwoFaVersion::V1, &again).as_ref(),
            Ok(&message)
        );
        // zks/4 carries the same payloads at id + 2 and decodes them alike.
        let in_band = Frame::zks(frame.id + 2, frame.body.clone());
        let zks = ZksMessage::decode(ZksVersion::V4, &in_band);
        assert!(zks.is_ok(), "{message:?} does not decode on zks/4: {zks:?}");
    }
    // A zks_2fa decoder never takes a zks frame.
    let zks = Frame::zks(frame.id, frame.body);
    assert!(TwoFaMessage::decode(TwoFaVersion::V1, &zks).is_err());
});
