//! EIP-2124 fork ids and the filter that judges a peer's.
//!
//! A fork id is `[hash, next]`: `hash` is the CRC-32 of the genesis hash, updated with every fork
//! block (or time) already passed; `next` is the next scheduled fork, 0 for none. A ZKsync OS
//! chain activates every fork at genesis, so its fork id is `{ crc32(genesis), 0 }` forever.
//!
//! # The filter rule implemented
//!
//! EIP-2124 accepts a remote fork id when:
//! 1. its hash equals our current hash, and either its `next` is 0 or our head has not reached
//!    its `next` (a fork announced that we do not know yet: accepted, it may be scheduled later);
//!    if our head is at or past its `next`, the remote announced a fork we passed without applying
//!    it, and it is rejected ([`ForkRejection::PassedFork`]);
//! 2. its hash is one of our past fork states and its `next` is the fork that followed it (the
//!    remote is still syncing);
//! 3. its hash is one of our future fork states (we are the one syncing).
//!
//! Otherwise it is rejected. A chain whose forks are all at genesis has no past state other than
//! the genesis state (which is the current one) and no future state, so rules 2 and 3 never
//! apply and any other hash is rejected ([`ForkRejection::UnknownHash`]). As in reth, `next` is
//! compared with our head timestamp when it is above [`TIMESTAMP_BEFORE_ETHEREUM_MAINNET`] and
//! with our head block number otherwise. reth reports both rejections as
//! `LocalIncompatibleOrStale`.

use alloy_rlp::{Encodable, Header};

use super::B256;

/// Fork `next` values above this are timestamps, below it block numbers (the timestamp of a
/// block just before Ethereum mainnet's genesis, as reth and geth use it).
pub const TIMESTAMP_BEFORE_ETHEREUM_MAINNET: u64 = 1_438_269_973;

/// An EIP-2124 fork id, `[hash (4 bytes), next]` on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ForkId {
    /// CRC-32 of the genesis hash and every passed fork, big-endian.
    pub hash: [u8; 4],
    /// The next scheduled fork (block number or timestamp), 0 for none.
    pub next: u64,
}

impl ForkId {
    /// The fork id of a chain with no fork after genesis: `{ crc32(genesis), 0 }`.
    pub fn genesis_only(genesis: &B256) -> Self {
        Self {
            hash: crc32fast::hash(genesis).to_be_bytes(),
            next: 0,
        }
    }

    fn payload_length(&self) -> usize {
        self.hash.length() + self.next.length()
    }
}

impl Encodable for ForkId {
    fn encode(&self, out: &mut dyn alloy_rlp::BufMut) {
        Header {
            list: true,
            payload_length: self.payload_length(),
        }
        .encode(out);
        self.hash.encode(out);
        self.next.encode(out);
    }

    fn length(&self) -> usize {
        let payload_length = self.payload_length();
        alloy_rlp::length_of_length(payload_length) + payload_length
    }
}

/// Why a [`ForkFilter`] rejected a remote fork id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ForkRejection {
    /// The remote announces a fork (`next`) that our head has already passed, while its hash
    /// says it has not applied it (EIP-2124 rule 1a).
    #[error("remote announces a fork our head has passed")]
    PassedFork,
    /// The hash is none of our fork states.
    #[error("unknown fork hash")]
    UnknownHash,
}

/// Judges remote fork ids for a chain with no fork after genesis (see the module docs for the
/// rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ForkFilter {
    fork_id: ForkId,
    head_number: u64,
    head_timestamp: u64,
}

impl ForkFilter {
    /// A filter for our fork id at our head (block number and timestamp).
    pub const fn new(fork_id: ForkId, head_number: u64, head_timestamp: u64) -> Self {
        Self {
            fork_id,
            head_number,
            head_timestamp,
        }
    }

    /// Our fork id.
    pub const fn fork_id(&self) -> ForkId {
        self.fork_id
    }

    /// Accepts or rejects a remote fork id.
    ///
    /// # Errors
    ///
    /// [`ForkRejection::UnknownHash`] for any hash but ours, [`ForkRejection::PassedFork`] for our
    /// hash with a `next` our head has reached.
    pub const fn validate(&self, theirs: ForkId) -> Result<(), ForkRejection> {
        if !matches_hash(self.fork_id.hash, theirs.hash) {
            return Err(ForkRejection::UnknownHash);
        }
        if theirs.next == 0 {
            return Ok(());
        }
        let head = if theirs.next > TIMESTAMP_BEFORE_ETHEREUM_MAINNET {
            self.head_timestamp
        } else {
            self.head_number
        };
        if head >= theirs.next {
            return Err(ForkRejection::PassedFork);
        }
        Ok(())
    }
}

const fn matches_hash(a: [u8; 4], b: [u8; 4]) -> bool {
    u32::from_be_bytes(a) == u32::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: ForkId = ForkId {
        hash: [0xd3, 0x38, 0xc9, 0xba],
        next: 0,
    };

    #[test]
    fn same_hash_any_future_next_is_accepted() {
        let filter = ForkFilter::new(OURS, 0, 0);
        for next in [0, 1, 1000, TIMESTAMP_BEFORE_ETHEREUM_MAINNET + 1, u64::MAX] {
            assert_eq!(filter.validate(ForkId { next, ..OURS }), Ok(()), "{next}");
        }
    }

    #[test]
    fn other_hash_is_rejected() {
        let filter = ForkFilter::new(OURS, 0, 0);
        let theirs = ForkId {
            hash: [0xd3, 0x38, 0xc9, 0xbb],
            next: 0,
        };
        assert_eq!(filter.validate(theirs), Err(ForkRejection::UnknownHash));
    }

    #[test]
    fn passed_fork_is_rejected_by_block_or_time() {
        let filter = ForkFilter::new(OURS, 100, 1_700_000_000);
        let at = |next| filter.validate(ForkId { next, ..OURS });
        assert_eq!(at(99), Err(ForkRejection::PassedFork));
        assert_eq!(at(100), Err(ForkRejection::PassedFork));
        assert_eq!(at(101), Ok(()));
        // Above the threshold `next` is a timestamp.
        assert_eq!(at(1_600_000_000), Err(ForkRejection::PassedFork));
        assert_eq!(at(1_700_000_001), Ok(()));
    }

    #[test]
    fn encodes_as_a_two_item_list() {
        let mut out = Vec::new();
        OURS.encode(&mut out);
        assert_eq!(hex::encode(&out), "c684d338c9ba80");
        assert_eq!(OURS.length(), out.len());
    }
}
