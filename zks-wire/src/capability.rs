//! The subprotocols a link carries: what a node advertises ([`Capabilities`]), what one link
//! negotiated ([`LinkCaps`]), and the tag every frame carries ([`Protocol`]).
//!
//! A link may carry several subprotocols at once — `zks` always, `zks_2fa` beside it where both
//! sides speak it — so frames are tagged with the one they travel on and decoded against that
//! subprotocol's negotiated version. How a transport keeps them apart is its own business (RLPx
//! message-id offsets, a tag on memnet); `eth` is answered inside the devp2p transport and never
//! reaches a link.

use std::fmt;

use crate::{VersionSet, ZksVersion};

/// A subprotocol the engine speaks; every [`Frame`](crate::Frame) names the one it travels on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Protocol {
    /// `zks/<version>`: replay (and, on zks/3–4, in-band verification).
    #[default]
    Zks,
    /// `zks_2fa/<version>`: batch verification beside zks/5.
    Zks2fa,
}

impl Protocol {
    /// The capability name as devp2p Hello messages spell it.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Zks => "zks",
            Self::Zks2fa => "zks_2fa",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A version of the `zks_2fa` subprotocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum TwoFaVersion {
    /// `zks_2fa/1`: verifier authentication and batch verification, ids `0x00..=0x04`.
    V1 = 1,
}

impl TwoFaVersion {
    /// The version number as advertised (`zks_2fa/<number>`).
    pub const fn number(self) -> u8 {
        self as u8
    }

    /// The version with this number, if we speak it.
    pub const fn from_number(number: u8) -> Option<Self> {
        match number {
            1 => Some(Self::V1),
            _ => None,
        }
    }

    /// How many message ids this version reserves (the RLPx capability length).
    pub const fn message_count(self) -> u8 {
        match self {
            Self::V1 => 5,
        }
    }
}

impl fmt::Display for TwoFaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "zks_2fa/{}", self.number())
    }
}

/// What a node advertises: the zks versions it speaks and, optionally, `zks_2fa`.
///
/// The default is [`ALL`](Self::ALL): both generations, so one node serves seed-generation
/// peers (zks/1–3) and current upstream peers (zks/5 + `zks_2fa/1`) alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Capabilities {
    /// The zks versions, any of which a link may negotiate.
    pub zks: VersionSet,
    /// The `zks_2fa` version, if advertised.
    pub zks_2fa: Option<TwoFaVersion>,
}

impl Default for Capabilities {
    fn default() -> Self {
        Self::ALL
    }
}

impl Capabilities {
    /// Every zks version we speak plus `zks_2fa/1`: the default.
    pub const ALL: Self = Self {
        zks: VersionSet::ALL,
        zks_2fa: Some(TwoFaVersion::V1),
    };

    /// The seed generation only: zks/1–3, no `zks_2fa`.
    pub const SEED: Self = Self {
        zks: VersionSet::SEED,
        zks_2fa: None,
    };

    /// What a current upstream node advertises: zks/5 and `zks_2fa/1`.
    pub const CURRENT: Self = Self {
        zks: VersionSet::CURRENT,
        zks_2fa: Some(TwoFaVersion::V1),
    };

    /// What two sides negotiate: the highest common zks version, and `zks_2fa` when both
    /// advertise the same version. `None` when they share no zks version (a link needs zks).
    pub fn negotiate(self, remote: Self) -> Option<LinkCaps> {
        let zks = self.zks.highest_common(remote.zks)?;
        let zks_2fa = match (self.zks_2fa, remote.zks_2fa) {
            (Some(a), Some(b)) if a == b => Some(a),
            _ => None,
        };
        Some(LinkCaps { zks, zks_2fa })
    }
}

impl Capabilities {
    /// These capabilities with `zks_2fa/1` added.
    #[must_use]
    pub const fn with_2fa(self) -> Self {
        Self {
            zks: self.zks,
            zks_2fa: Some(TwoFaVersion::V1),
        }
    }
}

impl From<VersionSet> for Capabilities {
    fn from(zks: VersionSet) -> Self {
        Self { zks, zks_2fa: None }
    }
}

impl<const N: usize> From<[ZksVersion; N]> for Capabilities {
    fn from(versions: [ZksVersion; N]) -> Self {
        VersionSet::from(versions).into()
    }
}

impl From<ZksVersion> for Capabilities {
    fn from(version: ZksVersion) -> Self {
        VersionSet::only(version).into()
    }
}

impl fmt::Display for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.zks)?;
        if let Some(v) = self.zks_2fa {
            write!(f, " + {v}")?;
        }
        Ok(())
    }
}

/// What one link negotiated, fixed when it is established.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkCaps {
    /// The zks version (every link has one).
    pub zks: ZksVersion,
    /// The `zks_2fa` version, when both sides speak it.
    pub zks_2fa: Option<TwoFaVersion>,
}

impl LinkCaps {
    /// A link that carries only `zks` at `version`.
    pub const fn zks(version: ZksVersion) -> Self {
        Self {
            zks: version,
            zks_2fa: None,
        }
    }

    /// Whether frames of `protocol` may travel on this link.
    pub const fn carries(self, protocol: Protocol) -> bool {
        match protocol {
            Protocol::Zks => true,
            Protocol::Zks2fa => self.zks_2fa.is_some(),
        }
    }

    /// How many message ids `protocol` reserves on this link (0 when it is not carried).
    pub const fn message_count(self, protocol: Protocol) -> u8 {
        match protocol {
            Protocol::Zks => self.zks.message_count(),
            Protocol::Zks2fa => match self.zks_2fa {
                Some(v) => v.message_count(),
                None => 0,
            },
        }
    }
}

impl From<ZksVersion> for LinkCaps {
    fn from(version: ZksVersion) -> Self {
        Self::zks(version)
    }
}

impl fmt::Display for LinkCaps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.zks)?;
        if let Some(v) = self.zks_2fa {
            write!(f, " + {v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_needs_zks_and_matches_2fa() {
        let ours = Capabilities::SEED.with_2fa();
        let seed = Capabilities::from(VersionSet::from([ZksVersion::V1, ZksVersion::V2]));
        assert_eq!(ours.negotiate(seed), Some(LinkCaps::zks(ZksVersion::V2)));
        assert_eq!(
            ours.negotiate(ours),
            Some(LinkCaps {
                zks: ZksVersion::V3,
                zks_2fa: Some(TwoFaVersion::V1)
            })
        );
        let only_2fa = Capabilities {
            zks: VersionSet::EMPTY,
            zks_2fa: Some(TwoFaVersion::V1),
        };
        assert_eq!(ours.negotiate(only_2fa), None);
        assert_eq!(ours.to_string(), "{zks/1, zks/2, zks/3} + zks_2fa/1");
        assert_eq!(
            Capabilities::default().negotiate(Capabilities::CURRENT),
            Some(LinkCaps {
                zks: ZksVersion::V5,
                zks_2fa: Some(TwoFaVersion::V1)
            })
        );
        assert_eq!(
            Capabilities::default().negotiate(Capabilities::SEED),
            Some(LinkCaps::zks(ZksVersion::V3))
        );
        assert_eq!(Capabilities::CURRENT.negotiate(Capabilities::SEED), None);
    }

    #[test]
    fn message_counts_per_protocol() {
        let caps = LinkCaps::zks(ZksVersion::V3);
        assert_eq!(caps.message_count(Protocol::Zks), 7);
        assert_eq!(caps.message_count(Protocol::Zks2fa), 0);
        assert!(!caps.carries(Protocol::Zks2fa));
    }
}
