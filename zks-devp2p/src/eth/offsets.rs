//! Capability negotiation and the message-id offset table, for every capability.
//!
//! As reth and geth do it: a capability is shared when the exact `(name, version)` pair is on
//! both Hello lists (names are case-sensitive); per name only the highest shared version is
//! kept; the kept capabilities are sorted by name byte-wise and laid out one after the other
//! from [`BASE_PROTOCOL_LENGTH`] (`0x00..=0x0f` belong to `p2p`), each taking the message count
//! its specification fixes. The counts come from our side (we only share what we speak);
//! [`known_message_count`] has the ones a ZKsync OS node meets.
//!
//! The `p2p` session negotiates with it and routes every message id through
//! [`SharedCapabilities::resolve`]; the types are [`crate::caps`]'s.

use super::error::OffsetsError;
use super::version::EthVersion;
pub use crate::caps::BASE_PROTOCOL_LENGTH;
use crate::caps::{Capability, LocalCapability, SharedCapability, ZKS};

/// The name of the `eth` capability.
pub const ETH: &str = "eth";

/// The name of upstream's batch-verification capability.
pub const ZKS_2FA: &str = "zks_2fa";

/// The name of upstream's consensus capability (consensus nodes only).
pub const ZKS_RAFT: &str = "zks_raft";

/// The message count of a capability a ZKsync OS node may meet: eth/66–68 17, eth/69 18,
/// zks/1–2 2, zks/3–4 7, zks/5 2, zks_2fa/1 5, zks_raft/1 2. `None` for anything else.
pub fn known_message_count(name: &str, version: u32) -> Option<u8> {
    match (name, version) {
        (ETH, _) => EthVersion::from_number(version).map(EthVersion::message_count),
        (ZKS, 1 | 2 | 5) | (ZKS_RAFT, 1) => Some(2),
        (ZKS, 3 | 4) => Some(7),
        (ZKS_2FA, 1) => Some(5),
        _ => None,
    }
}

/// A capability we can advertise, with its [`known_message_count`].
pub fn known_capability(name: &str, version: u32) -> Option<LocalCapability> {
    known_message_count(name, version).map(|message_count| LocalCapability {
        cap: Capability::new(name, version),
        message_count,
    })
}

/// The negotiated capabilities of one session, sorted by name, with their id ranges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedCapabilities {
    caps: Vec<SharedCapability>,
}

impl SharedCapabilities {
    /// Negotiates the shared capabilities of our advertised list and the peer's Hello list.
    ///
    /// Duplicates are harmless: a pair listed twice on either side counts once, and if our list
    /// gives one pair two message counts, the first wins.
    ///
    /// # Errors
    ///
    /// [`OffsetsError::NoSharedCapability`] when nothing is shared;
    /// [`OffsetsError::IdSpaceExhausted`] when the ranges would pass `u16::MAX`.
    pub fn negotiate(
        ours: &[LocalCapability],
        theirs: &[Capability],
    ) -> Result<Self, OffsetsError> {
        let mut kept: Vec<&LocalCapability> = Vec::new();
        for local in ours.iter().filter(|l| theirs.contains(&l.cap)) {
            match kept.iter_mut().find(|k| k.cap.name == local.cap.name) {
                Some(k) if k.cap.version < local.cap.version => *k = local,
                Some(_) => {}
                None => kept.push(local),
            }
        }
        if kept.is_empty() {
            return Err(OffsetsError::NoSharedCapability);
        }
        kept.sort_by(|a, b| a.cap.name.as_bytes().cmp(b.cap.name.as_bytes()));
        let mut offset = BASE_PROTOCOL_LENGTH;
        let mut caps = Vec::with_capacity(kept.len());
        for k in kept {
            caps.push(SharedCapability {
                name: k.cap.name.clone(),
                version: k.cap.version,
                offset,
                message_count: k.message_count,
            });
            offset = offset
                .checked_add(u16::from(k.message_count))
                .ok_or(OffsetsError::IdSpaceExhausted)?;
        }
        Ok(Self { caps })
    }

    /// The shared capabilities in id order (sorted by name).
    pub fn as_slice(&self) -> &[SharedCapability] {
        &self.caps
    }

    /// The shared capability with this name.
    pub fn get(&self, name: &str) -> Option<&SharedCapability> {
        self.caps.iter().find(|c| c.name == name)
    }

    /// The negotiated `eth` version, if `eth` is shared in a version we speak. reth drops a
    /// session without one.
    pub fn eth_version(&self) -> Option<EthVersion> {
        self.get(ETH)
            .and_then(|c| EthVersion::from_number(c.version))
    }

    /// The first absolute id past every shared capability.
    pub fn end(&self) -> u64 {
        self.caps
            .last()
            .map_or(u64::from(BASE_PROTOCOL_LENGTH), |c| {
                u64::from(c.offset) + u64::from(c.message_count)
            })
    }

    /// The capability an absolute message id belongs to, and the id relative to it.
    ///
    /// # Errors
    ///
    /// [`OffsetsError::BaseProtocolId`] below [`BASE_PROTOCOL_LENGTH`];
    /// [`OffsetsError::UnknownMessageId`] at or past [`Self::end`].
    pub fn resolve(&self, abs_id: u64) -> Result<(&SharedCapability, u8), OffsetsError> {
        if abs_id < u64::from(BASE_PROTOCOL_LENGTH) {
            return Err(OffsetsError::BaseProtocolId { id: abs_id });
        }
        self.caps
            .iter()
            .find(|c| c.contains(abs_id))
            .and_then(|c| {
                let rel = abs_id.checked_sub(u64::from(c.offset))?;
                Some((c, u8::try_from(rel).ok()?))
            })
            .ok_or(OffsetsError::UnknownMessageId { id: abs_id })
    }

    /// The absolute id of message `rel_id` of the shared capability `name`.
    ///
    /// # Errors
    ///
    /// [`OffsetsError::NotShared`], [`OffsetsError::RelativeIdOutOfRange`].
    pub fn absolute(&self, name: &str, rel_id: u8) -> Result<u64, OffsetsError> {
        let cap = self.get(name).ok_or(OffsetsError::NotShared)?;
        if rel_id >= cap.message_count {
            return Err(OffsetsError::RelativeIdOutOfRange {
                id: rel_id,
                count: cap.message_count,
            });
        }
        Ok(u64::from(cap.offset) + u64::from(rel_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(list: &[(&str, u32)]) -> Vec<LocalCapability> {
        list.iter()
            .map(|(n, v)| known_capability(n, *v).unwrap())
            .collect()
    }

    fn remote(list: &[(&str, u32)]) -> Vec<Capability> {
        list.iter().map(|(n, v)| Capability::new(*n, *v)).collect()
    }

    #[test]
    fn highest_shared_version_not_highest_advertised() {
        let ours = local(&[("zks", 1), ("zks", 2), ("zks", 3)]);
        let theirs = remote(&[("zks", 1), ("zks", 2), ("zks", 4)]);
        let shared = SharedCapabilities::negotiate(&ours, &theirs).unwrap();
        assert_eq!(shared.as_slice().len(), 1);
        assert_eq!(shared.get("zks").unwrap().version, 2);
        assert_eq!(shared.end(), 0x12);
    }

    #[test]
    fn names_are_case_sensitive_and_sorted_bytewise() {
        let ours = vec![
            LocalCapability {
                cap: Capability::new("ZKS", 1),
                message_count: 3,
            },
            known_capability("eth", 68).unwrap(),
        ];
        let theirs = remote(&[("eth", 68), ("ZKS", 1), ("zks", 1)]);
        let shared = SharedCapabilities::negotiate(&ours, &theirs).unwrap();
        let names: Vec<_> = shared.as_slice().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["ZKS", "eth"]);
        assert_eq!(shared.absolute("eth", 0), Ok(0x13));
        assert_eq!(shared.absolute("zks", 0), Err(OffsetsError::NotShared));
    }

    #[test]
    fn nothing_shared() {
        let ours = local(&[("eth", 69)]);
        assert_eq!(
            SharedCapabilities::negotiate(&ours, &remote(&[("eth", 68)])),
            Err(OffsetsError::NoSharedCapability)
        );
        assert_eq!(
            SharedCapabilities::negotiate(&[], &[]),
            Err(OffsetsError::NoSharedCapability)
        );
    }

    #[test]
    fn id_space_overflow_is_an_error() {
        let ours: Vec<_> = (0..300)
            .map(|i| LocalCapability {
                cap: Capability::new(format!("c{i:03}"), 1),
                message_count: 255,
            })
            .collect();
        let theirs: Vec<_> = ours.iter().map(|l| l.cap.clone()).collect();
        assert_eq!(
            SharedCapabilities::negotiate(&ours, &theirs),
            Err(OffsetsError::IdSpaceExhausted)
        );
    }

    #[test]
    fn known_counts() {
        assert_eq!(known_message_count("eth", 65), None);
        assert_eq!(known_message_count("eth", 66), Some(17));
        assert_eq!(known_message_count("eth", 69), Some(18));
        assert_eq!(known_message_count("eth", 70), None);
        assert_eq!(known_message_count("zks", 0), None);
        assert_eq!(known_message_count("zks", 4), Some(7));
        assert_eq!(known_message_count("zks", 5), Some(2));
        assert_eq!(known_message_count("zks", 6), None);
        assert_eq!(known_message_count("zks_2fa", 1), Some(5));
        assert_eq!(known_message_count("zks_2fa", 2), None);
        assert_eq!(known_message_count("ETH", 68), None);
    }
}
