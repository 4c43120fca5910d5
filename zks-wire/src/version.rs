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
}

impl ZksVersion {
    /// Every version, lowest first.
    pub const ALL: [Self; 3] = [Self::V1, Self::V2, Self::V3];

    /// The highest version this crate speaks.
    pub const LATEST: Self = Self::V3;

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
            _ => None,
        }
    }

    /// How many message ids this version reserves (the RLPx capability length).
    pub const fn message_count(self) -> u8 {
        match self {
            Self::V1 | Self::V2 => 2,
            Self::V3 => 7,
        }
    }

    /// Whether `id` is a message of this version.
    pub const fn knows(self, id: MessageId) -> bool {
        (id as u8) < self.message_count()
    }

    /// Whether this version carries verifier authentication and batch verification.
    pub const fn supports_verification(self) -> bool {
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

    /// Every version this crate speaks.
    pub const ALL: Self = Self(0b1110);

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
        Self(self.0 & other.0).highest()
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
        assert_eq!(mn, VersionSet::ALL);
        assert_eq!(mn.to_string(), "{zks/1, zks/2, zks/3}");
    }
}
