//! Protocol versions and the message ids each one knows.

use std::fmt;

use super::MessageId;

/// A version of the `zks` subprotocol.
///
/// Versions are ordered: a higher version knows every message of a lower one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum ZksVersion {
    /// `zks/1`: replay streaming, one record per message.
    V1 = 1,
    /// `zks/2`: replay streaming with a newer record encoding.
    V2 = 2,
    /// `zks/3`: batched replay plus verifier authentication and batch verification.
    V3 = 3,
    /// `zks/4` (upstream, retired there): zks/3's table with upstream's v3 records; the verifier
    /// messages carry the `zks_2fa/1` payloads at ids `0x02..=0x06`.
    V4 = 4,
    /// `zks/5` (upstream's current generation): replay only (`0x00`, `0x01`); ids `0x02..=0x06`
    /// are retired, verification moved to the separate `zks_2fa` capability.
    V5 = 5,
}

impl ZksVersion {
    /// Every version the codec knows, lowest first.
    pub const ALL: [Self; 5] = [Self::V1, Self::V2, Self::V3, Self::V4, Self::V5];

    /// The highest version the codec knows (not necessarily one a node advertises: see
    /// [`VersionSet::ALL`]).
    pub const LATEST: Self = Self::V5;

    /// The version number as advertised in capability lists (`zks/<number>`).
    pub const fn number(self) -> u8 {
        self as u8
    }

    /// The version with this number, if it exists.
    pub const fn from_number(number: u8) -> Option<Self> {
        match number {
            1 => Some(Self::V1),
            2 => Some(Self::V2),
            3 => Some(Self::V3),
            4 => Some(Self::V4),
            5 => Some(Self::V5),
            _ => None,
        }
    }

    /// How many message ids this version reserves (the RLPx capability length).
    pub const fn message_count(self) -> u8 {
        match self {
            Self::V1 | Self::V2 | Self::V5 => 2,
            Self::V3 | Self::V4 => 7,
        }
    }

    /// Whether `id` is a message of this version.
    pub const fn knows(self, id: MessageId) -> bool {
        (id as u8) < self.message_count()
    }

    /// Whether `id` was a message of an earlier version that this one retired: the verifier ids
    /// `0x02..=0x06` on zks/5, which must not be reused.
    pub const fn retires(self, id: MessageId) -> bool {
        matches!(self, Self::V5) && !self.knows(id)
    }

    /// Whether this version carries verifier authentication and batch verification in band
    /// (zks/3 and zks/4; zks/5 leaves them to `zks_2fa`).
    pub const fn supports_verification(self) -> bool {
        matches!(self, Self::V3 | Self::V4)
    }

    /// Whether the optional `max_blocks_per_message` of `GetBlockReplays` follows upstream's
    /// trailing-field rule (zks/4 and zks/5): a `0x80` in its slot decodes as absent.
    /// Whether `GetBlockReplays` carries `max_blocks_per_message` (zks/3 on).
    pub const fn has_max_blocks_field(self) -> bool {
        self.number() >= 3
    }

    /// Most records one `BlockReplays` may carry: one on zks/1–2, which stream a record per
    /// message, [`MAX_RECORDS_PER_MESSAGE`](crate::limits::MAX_RECORDS_PER_MESSAGE) on zks/3 on.
    pub const fn max_records_per_message(self) -> usize {
        if self.has_max_blocks_field() {
            crate::limits::MAX_RECORDS_PER_MESSAGE
        } else {
            1
        }
    }

    pub(crate) const fn empty_trailing_is_absent(self) -> bool {
        matches!(self, Self::V4 | Self::V5)
    }

    /// Whether a `VerifierAuth` signature must be 65 bytes to decode (zks/3, our own encoding).
    /// On zks/4, as on `zks_2fa/1`, any length decodes and the length is checked when the
    /// signature is used ([`VerifierAuth::rsv`](crate::VerifierAuth::rsv)).
    pub(crate) const fn auth_signature_is_fixed(self) -> bool {
        matches!(self, Self::V3)
    }
}

impl fmt::Display for ZksVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "zks/{}", self.number())
    }
}

/// A set of protocol versions, as a node advertises them.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct VersionSet(u8);

impl VersionSet {
    /// The empty set.
    pub const EMPTY: Self = Self(0);

    /// Every version we speak, zks/1 to zks/5: what a node advertises by default, so one node
    /// talks to both generations (the highest shared version wins).
    pub const ALL: Self = Self(0b11_1110);

    /// The seed generation of versions: zks/1, zks/2 and zks/3 (verification in-band on zks/3).
    pub const SEED: Self = Self(0b1110);

    /// The current upstream generation: zks/5 only (verification on `zks_2fa` beside it). Upstream
    /// nodes since v0.21.0 accept nothing else.
    pub const CURRENT: Self = Self(0b10_0000);

    /// Same as [`ALL`](Self::ALL).
    #[doc(hidden)]
    pub const CODEC: Self = Self::ALL;

    /// A set holding exactly `version`.
    pub const fn only(version: ZksVersion) -> Self {
        Self(1 << version.number())
    }

    /// This set with `version` added.
    #[must_use]
    pub const fn with(self, version: ZksVersion) -> Self {
        Self(self.0 | (1 << version.number()))
    }

    /// Whether `version` is in the set.
    pub const fn contains(self, version: ZksVersion) -> bool {
        self.0 & (1 << version.number()) != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The highest version in the set.
    pub fn highest(self) -> Option<ZksVersion> {
        self.iter().next_back()
    }

    /// The highest version both sets hold: the one two peers negotiate.
    pub fn highest_common(self, other: Self) -> Option<ZksVersion> {
        self.intersection(other).highest()
    }

    /// The versions both sets hold.
    #[must_use]
    pub const fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    /// The versions in the set, lowest first.
    pub fn iter(self) -> impl DoubleEndedIterator<Item = ZksVersion> {
        ZksVersion::ALL
            .into_iter()
            .filter(move |v| self.contains(*v))
    }
}

impl FromIterator<ZksVersion> for VersionSet {
    fn from_iter<I: IntoIterator<Item = ZksVersion>>(iter: I) -> Self {
        iter.into_iter().fold(Self::EMPTY, Self::with)
    }
}

impl<const N: usize> From<[ZksVersion; N]> for VersionSet {
    fn from(versions: [ZksVersion; N]) -> Self {
        versions.into_iter().collect()
    }
}

impl From<ZksVersion> for VersionSet {
    fn from(version: ZksVersion) -> Self {
        Self::only(version)
    }
}

impl fmt::Debug for VersionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl fmt::Display for VersionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, v) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{v}")?;
        }
        f.write_str("}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_counts_per_version() {
        assert_eq!(ZksVersion::V1.message_count(), 2);
        assert_eq!(ZksVersion::V2.message_count(), 2);
        assert_eq!(ZksVersion::V3.message_count(), 7);
        assert_eq!(ZksVersion::V4.message_count(), 7);
        assert_eq!(ZksVersion::V5.message_count(), 2);
        assert!(ZksVersion::V4.knows(MessageId::VerifyBatchResult));
        assert!(!ZksVersion::V5.knows(MessageId::VerifierRoleRequest));
        assert!(ZksVersion::V5.retires(MessageId::VerifierRoleRequest));
        assert!(ZksVersion::V5.retires(MessageId::VerifyBatchResult));
        assert!(!ZksVersion::V5.retires(MessageId::BlockReplays));
        assert!(!ZksVersion::V2.retires(MessageId::VerifierRoleRequest));
        assert!(ZksVersion::V3.supports_verification());
        assert!(ZksVersion::V4.supports_verification());
        assert!(!ZksVersion::V5.supports_verification());
        for v in ZksVersion::ALL {
            assert_eq!(ZksVersion::from_number(v.number()), Some(v));
        }
        assert_eq!(ZksVersion::from_number(6), None);
        assert!(ZksVersion::V2.knows(MessageId::BlockReplays));
        assert!(!ZksVersion::V2.knows(MessageId::VerifierRoleRequest));
        assert!(ZksVersion::V3.knows(MessageId::VerifyBatchResult));
    }

    #[test]
    fn negotiation_picks_highest_common() {
        let mn = VersionSet::from([ZksVersion::V1, ZksVersion::V2, ZksVersion::V3]);
        let en = VersionSet::from([ZksVersion::V1, ZksVersion::V2]);
        assert_eq!(mn.highest_common(en), Some(ZksVersion::V2));
        assert_eq!(
            VersionSet::only(ZksVersion::V3).highest_common(ZksVersion::V1.into()),
            None
        );
        assert_eq!(mn, VersionSet::SEED);
        assert_eq!(mn.to_string(), "{zks/1, zks/2, zks/3}");
        assert_eq!(
            VersionSet::ALL,
            ZksVersion::ALL.into_iter().collect::<VersionSet>()
        );
        assert_eq!(VersionSet::CURRENT, VersionSet::only(ZksVersion::V5));
        assert_eq!(
            VersionSet::ALL.highest_common(VersionSet::CURRENT),
            Some(ZksVersion::V5)
        );
        assert_eq!(
            VersionSet::ALL.highest_common(VersionSet::SEED),
            Some(ZksVersion::V3)
        );
        assert_eq!(VersionSet::CURRENT.highest_common(VersionSet::SEED), None);
    }
}
