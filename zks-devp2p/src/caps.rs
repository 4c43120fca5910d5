//! Capabilities as Hello messages carry them, and the ones we advertise (`eth` with a chain
//! identity, then zks, then `zks_2fa` when the node speaks it: upstream's order). Negotiation
//! and the message-id offset table are [`SharedCapabilities`](crate::eth::SharedCapabilities):
//! shared `(name, version)` pairs, the highest version per name, sorted by name from `0x10`
//! (`0x00..=0x0f` belong to `p2p`), so `eth`, `zks`, `zks_2fa` in that order.

use zks_api::wire::{Capabilities, TwoFaVersion, VersionSet, ZksVersion};

/// The name of our capability.
pub const ZKS: &str = "zks";

/// The name of the batch-verification capability beside zks/5.
pub const ZKS_2FA: &str = crate::eth::ZKS_2FA;

/// The name of Ethereum's wire protocol, which reth requires on every session.
pub const ETH: &str = crate::eth::ETH;

/// The first message id after the base protocol's.
pub const BASE_PROTOCOL_LENGTH: u16 = 0x10;

/// A capability as advertised in a Hello.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Capability {
    /// Its name (case-sensitive).
    pub name: String,
    /// Its version.
    pub version: u32,
}

impl Capability {
    /// A capability.
    pub fn new(name: impl Into<String>, version: u32) -> Self {
        Self {
            name: name.into(),
            version,
        }
    }
}

/// A capability we speak, with the number of message ids its specification reserves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalCapability {
    /// Name and version.
    pub cap: Capability,
    /// How many message ids it uses.
    pub message_count: u8,
}

/// A negotiated capability and its id range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedCapability {
    /// Its name.
    pub name: String,
    /// The highest shared version.
    pub version: u32,
    /// Its first wire message id.
    pub offset: u16,
    /// How many ids it uses.
    pub message_count: u8,
}

impl SharedCapability {
    /// Whether a wire id falls in this capability's range.
    pub fn contains(&self, wire_id: u64) -> bool {
        let start = u64::from(self.offset);
        wire_id >= start && wire_id < start + u64::from(self.message_count)
    }
}

/// The zks capabilities for a set of versions.
pub fn zks_capabilities(versions: VersionSet) -> Vec<LocalCapability> {
    versions
        .iter()
        .map(|v| LocalCapability {
            cap: Capability::new(ZKS, u32::from(v.number())),
            message_count: v.message_count(),
        })
        .collect()
}

/// The `zks_2fa` capability of `version`.
pub fn twofa_capability(version: TwoFaVersion) -> LocalCapability {
    LocalCapability {
        cap: Capability::new(ZKS_2FA, u32::from(version.number())),
        message_count: version.message_count(),
    }
}

/// The subprotocol capabilities a node with `caps` advertises, in upstream's Hello order: the
/// zks versions, then `zks_2fa` when it speaks it. (`eth`, when spoken, goes before them.)
pub fn subprotocol_capabilities(caps: Capabilities) -> Vec<LocalCapability> {
    let mut list = zks_capabilities(caps.zks);
    list.extend(caps.zks_2fa.map(twofa_capability));
    list
}

/// The `eth` capabilities for a set of versions, in the order given (reth lists 69 first).
pub fn eth_capabilities(versions: &[crate::eth::EthVersion]) -> Vec<LocalCapability> {
    versions
        .iter()
        .map(|v| LocalCapability {
            cap: Capability::new(ETH, u32::from(v.number())),
            message_count: v.message_count(),
        })
        .collect()
}

/// The zks versions a remote capability list advertises.
pub fn zks_versions(caps: &[Capability]) -> VersionSet {
    caps.iter()
        .filter(|c| c.name == ZKS)
        .filter_map(|c| {
            u8::try_from(c.version)
                .ok()
                .and_then(ZksVersion::from_number)
        })
        .collect()
}

/// What a remote capability list advertises of ours: its zks versions, and the `zks_2fa`
/// version (the highest one we know) if it lists one.
pub fn remote_capabilities(caps: &[Capability]) -> Capabilities {
    let zks_2fa = caps
        .iter()
        .filter(|c| c.name == ZKS_2FA)
        .filter_map(|c| {
            u8::try_from(c.version)
                .ok()
                .and_then(TwoFaVersion::from_number)
        })
        .max();
    Capabilities {
        zks: zks_versions(caps),
        zks_2fa,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subprotocols_in_upstream_order() {
        let caps = Capabilities {
            zks: VersionSet::only(ZksVersion::V5),
            zks_2fa: Some(TwoFaVersion::V1),
        };
        let list = subprotocol_capabilities(caps);
        assert_eq!(
            list,
            [
                LocalCapability {
                    cap: Capability::new("zks", 5),
                    message_count: 2
                },
                LocalCapability {
                    cap: Capability::new("zks_2fa", 1),
                    message_count: 5
                }
            ]
        );
        let advertised: Vec<_> = list.iter().map(|l| l.cap.clone()).collect();
        assert_eq!(remote_capabilities(&advertised), caps);
        assert_eq!(
            subprotocol_capabilities(VersionSet::ALL.into()),
            zks_capabilities(VersionSet::ALL)
        );
        // Unknown zks_2fa versions and names that only look alike are not ours.
        let other = [Capability::new("zks_2fa", 2), Capability::new("ZKS_2FA", 1)];
        assert_eq!(
            remote_capabilities(&other),
            Capabilities {
                zks: VersionSet::EMPTY,
                zks_2fa: None
            }
        );
    }

    #[test]
    fn zks_only() {
        let local = zks_capabilities(VersionSet::ALL);
        let remote = vec![Capability::new("zks", 1), Capability::new("zks", 2)];
        let shared = crate::eth::SharedCapabilities::negotiate(&local, &remote).unwrap();
        let shared = shared.as_slice();
        assert_eq!(
            shared,
            [SharedCapability {
                name: "zks".into(),
                version: 2,
                offset: 0x10,
                message_count: 2
            }]
        );
        assert!(shared[0].contains(0x11));
        assert!(!shared[0].contains(0x12));
        assert_eq!(
            zks_versions(&remote),
            VersionSet::from([ZksVersion::V1, ZksVersion::V2])
        );
    }
}
