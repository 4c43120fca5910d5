//! Seeded replay payloads with realistic redundancy: random 32-byte words mixed with words
//! drawn from a small dictionary of keccak hashes (addresses, storage keys and code hashes
//! repeat in real blocks), so Snappy has the kind of work it has in production.

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha3::{Digest, Keccak256};
use zks_api::{BlockNumber, RawRecord};

/// How many distinct repeated hashes the payloads draw from.
const DICTIONARY: usize = 64;

/// Builds deterministic payloads from a seed.
#[derive(Debug)]
pub struct Payloads {
    rng: StdRng,
    dictionary: Vec<[u8; 32]>,
}

impl Payloads {
    /// A generator seeded with `seed`: the same seed gives the same payloads.
    pub fn new(seed: u64) -> Self {
        let dictionary = (0..DICTIONARY as u64)
            .map(|i| Keccak256::digest(i.to_be_bytes()).into())
            .collect();
        Self {
            rng: StdRng::seed_from_u64(seed),
            dictionary,
        }
    }

    /// One payload of exactly `len` bytes: each 32-byte word is a dictionary hash with
    /// probability 1/2, a fresh random word otherwise.
    pub fn payload(&mut self, len: usize) -> Bytes {
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let word: [u8; 32] = if self.rng.random_bool(0.5) {
                self.dictionary[self.rng.random_range(0..DICTIONARY)]
            } else {
                self.rng.random()
            };
            let take = (len - out.len()).min(32);
            out.extend_from_slice(&word[..take]);
        }
        Bytes::from(out)
    }

    /// Records `first..first + count`, each with a `len`-byte payload.
    pub fn records(&mut self, first: BlockNumber, count: u64, len: usize) -> Vec<RawRecord> {
        (first..first + count)
            .map(|b| RawRecord::new(b, self.payload(len)))
            .collect()
    }
}

/// Records `first..first + count` whose payloads are encoded ZKsync OS v3 records of those
/// blocks (256 block hashes, two 120-byte transactions: about 9 KiB each), the bytes a current
/// upstream main node streams.
pub(crate) fn zksync_os_records(first: BlockNumber, count: u64) -> Vec<RawRecord> {
    use zks_api::ReplayRecord;
    (first..first + count)
        .map(|b| {
            let record = zks_wire::zksync_os::V3Record::synthetic(b, 2, 120);
            let mut payload = Vec::with_capacity(record.encoded_len());
            record.encode(zks_api::wire::ZksVersion::V5, &mut payload);
            RawRecord::new(b, payload)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_exact_length_and_compressible() {
        let a = Payloads::new(1).payload(16 * 1024);
        let b = Payloads::new(1).payload(16 * 1024);
        assert_eq!(a, b);
        assert_eq!(a.len(), 16 * 1024);
        let compressed = snap::raw::Encoder::new().compress_vec(&a).unwrap();
        // Half the words repeat: Snappy should save a real share, but far from all of it.
        assert!(compressed.len() < a.len() * 9 / 10, "{}", compressed.len());
        assert!(compressed.len() > a.len() / 3, "{}", compressed.len());
        assert_eq!(Payloads::new(2).payload(250).len(), 250);
    }
}
