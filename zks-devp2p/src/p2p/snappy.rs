//! Snappy compression of large message bodies with a window over the whole body.
//!
//! Snappy's reference encoders (and the `snap` crate) compress in independent 64 KiB blocks, so
//! nothing in one block is matched against another. A `BlockReplays` of 64 ZKsync OS records is
//! ~566 KB whose records repeat their neighbours' block hashes (255 of 256): every ~7th record
//! starts a block with no neighbour in reach and goes out as literals, and the message leaves
//! at ~0.4 of its size. The raw format itself has no such limit — a copy's offset may reach
//! anywhere back into what was already decompressed (4-byte offsets) — so [`WideCompressor`]
//! emits the same format with the whole body as its window. Any Snappy decoder reads it (the
//! `snap` crate here and in reth, snappyjs); it is used for bodies over [`WIDE_ABOVE`] only,
//! below which `snap`'s window is the whole body anyway.
//!
//! The algorithm is Snappy's own: a hash table of 4-byte sequences, greedy matches, and a
//! lookup step that grows over incompressible stretches, so random data costs little. Matches
//! are also extended backwards over bytes the step skipped.

use bytes::{BufMut, BytesMut};

/// Bodies longer than this are compressed by [`WideCompressor`].
pub const WIDE_ABOVE: usize = 64 * 1024;
/// log2 of the hash table's entries.
const TABLE_BITS: u32 = 15;
/// Shorter inputs are one literal.
const MIN_INPUT: usize = 16;
/// A copy with a 4-byte offset costs 5 bytes: shorter matches that far back go as literals.
const MIN_FAR_MATCH: usize = 8;
/// The largest input whose positions fit the table's `u32` entries.
const MAX_INPUT: usize = u32::MAX as usize;

/// Snappy raw-format compression with the whole input as its window. Keeps its hash table
/// between calls (its entries are only hints: every candidate is compared before use).
pub struct WideCompressor {
    table: Box<[u32]>,
}

impl std::fmt::Debug for WideCompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WideCompressor").finish_non_exhaustive()
    }
}

impl Default for WideCompressor {
    fn default() -> Self {
        Self {
            table: vec![0; 1 << TABLE_BITS].into_boxed_slice(),
        }
    }
}

impl WideCompressor {
    /// A compressor with an empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the Snappy raw encoding of `input` to `out`: its length as a varint, then
    /// literals and copies. Inputs of 4 GiB or more (above Snappy's limit; never a devp2p
    /// message) are written as literals, which a decoder then refuses like any oversized input.
    pub fn compress(&mut self, input: &[u8], out: &mut BytesMut) {
        put_varint(out, input.len() as u64);
        if input.len() < MIN_INPUT || input.len() > MAX_INPUT {
            for chunk in input.chunks(1 << 24) {
                put_literal(out, chunk);
            }
            return;
        }
        let n = input.len();
        let mut literal_from = 0;
        let mut pos = 1;
        let mut skip = 32usize;
        while pos + 4 <= n {
            let here = load32(input, pos);
            let slot = hash(here);
            let candidate = self.table[slot] as usize;
            // Positions fit u32: n <= MAX_INPUT.
            self.table[slot] = pos as u32;
            if candidate < pos && load32(input, candidate) == here {
                let offset = pos - candidate;
                let forward = 4 + common_prefix(&input[candidate + 4..], &input[pos + 4..]);
                // Backwards over what the lookup step skipped, down to the pending literal.
                let mut back = 0;
                while pos - back > literal_from
                    && candidate > back
                    && input[candidate - back - 1] == input[pos - back - 1]
                {
                    back += 1;
                }
                let len = forward + back;
                if offset < 1 << 16 || len >= MIN_FAR_MATCH {
                    let start = pos - back;
                    if literal_from < start {
                        put_literal(out, &input[literal_from..start]);
                    }
                    put_copy(out, offset, len);
                    pos = start + len;
                    literal_from = pos;
                    skip = 32;
                    if pos + 3 <= n {
                        // The position before the next lookup, so a run of matches is seen.
                        let before = pos - 1;
                        self.table[hash(load32(input, before))] = before as u32;
                    }
                    continue;
                }
            }
            let step = skip >> 5;
            skip += step;
            pos += step;
        }
        if literal_from < n {
            put_literal(out, &input[literal_from..]);
        }
    }
}

fn load32(input: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&input[at..at + 4]);
    u32::from_le_bytes(word)
}

fn hash(word: u32) -> usize {
    (word.wrapping_mul(0x1e35_a7bd) >> (32 - TABLE_BITS)) as usize
}

/// How many leading bytes `a` and `b` share.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let mut i = 0;
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        let x = u64::from_le_bytes(x.try_into().unwrap_or_default());
        let y = u64::from_le_bytes(y.try_into().unwrap_or_default());
        if x != y {
            return i + ((x ^ y).trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + a[i..]
        .iter()
        .zip(&b[i..])
        .take_while(|(x, y)| x == y)
        .count()
}

fn put_varint(out: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        out.put_u8((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.put_u8(v as u8);
}

/// A literal element: tag 00, length − 1 in the tag or in 1–4 bytes after it.
fn put_literal(out: &mut BytesMut, bytes: &[u8]) {
    let Some(n) = bytes.len().checked_sub(1) else {
        return;
    };
    if n < 60 {
        out.put_u8((n as u8) << 2);
    } else {
        let extra = match n {
            0..=0xff => 1,
            0x100..=0xffff => 2,
            0x1_0000..=0xff_ffff => 3,
            _ => 4,
        };
        out.put_u8((59 + extra as u8) << 2);
        out.put_slice(&(n as u32).to_le_bytes()[..extra]);
    }
    out.put_slice(bytes);
}

/// Copies of `len` (≥ 4) bytes from `offset` back, as elements of at most 64 bytes.
fn put_copy(out: &mut BytesMut, offset: usize, mut len: usize) {
    while len >= 68 {
        put_copy_element(out, offset, 64);
        len -= 64;
    }
    if len > 64 {
        put_copy_element(out, offset, 60);
        len -= 60;
    }
    put_copy_element(out, offset, len);
}

/// One copy element: 1-byte offset form (tag 01) for short near copies, 2-byte (tag 10), or
/// 4-byte (tag 11).
fn put_copy_element(out: &mut BytesMut, offset: usize, len: usize) {
    debug_assert!((4..=64).contains(&len) && offset > 0);
    if len < 12 && offset < 2048 {
        out.put_u8(1 | ((len - 4) as u8) << 2 | ((offset >> 8) as u8) << 5);
        out.put_u8(offset as u8);
    } else if offset < 1 << 16 {
        out.put_u8(2 | ((len - 1) as u8) << 2);
        out.put_u16_le(offset as u16);
    } else {
        out.put_u8(3 | ((len - 1) as u8) << 2);
        out.put_u32_le(offset as u32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(input: &[u8]) -> usize {
        let mut out = BytesMut::new();
        WideCompressor::new().compress(input, &mut out);
        let back = snap::raw::Decoder::new().decompress_vec(&out).unwrap();
        assert_eq!(back, input);
        out.len()
    }

    fn xorshift(seed: &mut u64) -> u8 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed as u8
    }

    #[test]
    fn any_snappy_decoder_reads_it_back() {
        assert_eq!(round_trip(b""), 1);
        assert_eq!(round_trip(b"abc"), 1 + 1 + 3);
        round_trip(&[0u8; 100_000]);
        let mut seed = 0x1234_5678_u64;
        // Random stays random: one literal.
        let random: Vec<u8> = (0..200_000).map(|_| xorshift(&mut seed)).collect();
        assert_eq!(round_trip(&random), 3 + 4 + random.len());
    }

    #[test]
    fn a_match_beyond_64_kib_is_a_four_byte_offset_copy() {
        let mut seed = 7u64;
        let head: Vec<u8> = (0..64).map(|_| xorshift(&mut seed)).collect();
        let mut input = head.clone();
        input.extend_from_slice(&[0u8; 70_000]);
        input.extend_from_slice(&head);
        let mut out = BytesMut::new();
        WideCompressor::new().compress(&input, &mut out);
        assert_eq!(
            snap::raw::Decoder::new().decompress_vec(&out).unwrap(),
            input
        );
        // The second head is one copy of 64 bytes from 70,064 back (tag 11, length − 1 = 63).
        let offset = 70_064u32.to_le_bytes();
        assert_eq!(
            out[out.len() - 5..],
            [0xff, offset[0], offset[1], offset[2], offset[3]]
        );
    }

    /// Records whose 256-word window moves by one word per record, each with 400 fresh bytes:
    /// what 64 ZKsync OS records in one message look like. Past the first 64 KiB `snap` finds
    /// no neighbour for the record that starts each block; the whole-body window does.
    #[test]
    fn neighbouring_records_compress_across_64_kib() {
        let mut seed = 99u64;
        let words: Vec<[u8; 32]> = (0..256 + 64)
            .map(|_| std::array::from_fn(|_| xorshift(&mut seed)))
            .collect();
        let mut input = Vec::new();
        for record in 0..64 {
            for word in &words[record..record + 256] {
                input.push(0xa0);
                input.extend_from_slice(word);
            }
            input.extend((0..400).map(|_| xorshift(&mut seed)));
        }
        let wide = round_trip(&input);
        let snap = snap::raw::Encoder::new()
            .compress_vec(&input)
            .unwrap()
            .len();
        assert!(wide * 10 < snap * 6, "wide {wide}, snap {snap}");
        // Fresh bytes (first record, 433 per record) plus a 3-byte copy per 64 matched bytes,
        // and 1 % of the input for where the lookup step lands late.
        let fresh = 256 * 33 + 64 * 400 + 63 * 33;
        assert!(
            wide < fresh + input.len() * 3 / 64 + input.len() / 100,
            "{wide}"
        );
    }

    #[test]
    fn every_element_form_decodes() {
        // Literal lengths around each tag boundary, copies of every length and offset class.
        for len in [1, 59, 60, 61, 255, 256, 257, 65_535, 65_536, 65_537] {
            let mut out = BytesMut::new();
            put_varint(&mut out, len as u64);
            let lit: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            put_literal(&mut out, &lit);
            assert_eq!(snap::raw::Decoder::new().decompress_vec(&out).unwrap(), lit);
        }
        for offset in [1, 7, 2047, 2048, 65_535, 65_536, 70_000] {
            for len in [4, 11, 12, 63, 64, 65, 67, 68, 200] {
                let head: Vec<u8> = (0..offset).map(|i| (i * 7 % 253) as u8).collect();
                let mut expected = head.clone();
                for i in 0..len {
                    let b = expected[expected.len() - offset];
                    expected.push(b);
                    let _ = i;
                }
                let mut out = BytesMut::new();
                put_varint(&mut out, expected.len() as u64);
                put_literal(&mut out, &head);
                put_copy(&mut out, offset, len);
                assert_eq!(
                    snap::raw::Decoder::new().decompress_vec(&out).unwrap(),
                    expected,
                    "offset {offset} len {len}"
                );
            }
        }
    }

    #[test]
    fn a_stale_table_from_another_input_is_harmless() {
        let mut c = WideCompressor::new();
        let mut first = BytesMut::new();
        c.compress(&[9u8; 300_000], &mut first);
        let other: Vec<u8> = (0..100_000u32)
            .flat_map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes())
            .collect();
        let mut out = BytesMut::new();
        c.compress(&other, &mut out);
        assert_eq!(
            snap::raw::Decoder::new().decompress_vec(&out).unwrap(),
            other
        );
    }
}
