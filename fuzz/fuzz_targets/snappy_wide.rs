//! The whole-body-window Snappy encoder used for large message bodies: whatever it is given,
//! `snap`'s decoder (the one reth and we decode with) gives back exactly the input, and the
//! output stays within Snappy's worst-case bound.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use zks_devp2p::p2p::snappy::WideCompressor;

fuzz_target!(|data: &[u8]| {
    let Some((&gap, rest)) = data.split_first() else {
        return;
    };
    // The input twice, `gap` KiB apart (zeros between), so matches reach past 64 KiB.
    let mut body = rest.to_vec();
    body.resize(rest.len() + usize::from(gap) * 1024, 0);
    body.extend_from_slice(rest);
    let mut compressor = WideCompressor::new();
    for input in [rest, &body[..]] {
        let mut out = BytesMut::new();
        compressor.compress(input, &mut out);
        assert!(out.len() <= snap::raw::max_compress_len(input.len()));
        let back = snap::raw::Decoder::new()
            .decompress_vec(&out)
            .expect("decodes");
        assert_eq!(back, input);
    }
});
