//! The `eth` Status message (relative id 0x00) for eth/66–69.
//!
//! - eth/66–68: `[version, networkid, td, blockhash, genesis, forkid]`
//! - eth/69: `[version, networkid, genesis, forkid, earliest, latest, blockhash]`
//!
//! with `forkid = [hash (4 bytes), next]`. The layout is chosen by the negotiated version, not by
//! the version field (reth does the same; [`validate`](super::validate) then compares the two).
//!
//! Decoding is strict inside the list, as alloy-rlp's derived decoders are: canonical integers,
//! exact hash lengths, no extra fields. Bytes after the list are not read (reth ignores them).

use alloy_rlp::{Decodable, Encodable, Header};

use super::B256;
use super::error::StatusError;
use super::forkid::ForkId;
use super::identity::ChainIdentity;
use super::version::EthVersion;
use crate::rlp;

/// The largest Status we read: 1 KiB for the whole RLP list, header included, checked from the
/// list header before any field is read. The largest valid Status is well under 200 bytes
/// (eth/66–68 with a 160-bit total difficulty and a 64-bit network id and fork next).
pub const MAX_STATUS_SIZE: usize = 1024;

/// The widest total difficulty reth accepts in an eth/66–68 Status.
pub const MAX_TOTAL_DIFFICULTY_BITS: usize = 160;

/// A total difficulty: an unsigned integer of at most 256 bits, big-endian.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TotalDifficulty(pub [u8; 32]);

impl TotalDifficulty {
    /// Zero, what an upstream node announces.
    pub const ZERO: Self = Self([0; 32]);

    /// A total difficulty from a `u64`.
    pub const fn from_u64(value: u64) -> Self {
        let mut out = [0u8; 32];
        let bytes = value.to_be_bytes();
        let mut i = 0;
        while i < 8 {
            out[24 + i] = bytes[i];
            i += 1;
        }
        Self(out)
    }

    /// The number of significant bits (0 for zero).
    pub fn bit_len(&self) -> usize {
        match self.0.iter().position(|b| *b != 0) {
            Some(i) => {
                let top = self.0.get(i).copied().unwrap_or(0);
                (31 - i) * 8 + (8 - top.leading_zeros() as usize)
            }
            None => 0,
        }
    }

    fn significant(&self) -> &[u8] {
        let skip = self.0.iter().take_while(|b| **b == 0).count();
        self.0.get(skip..).unwrap_or(&[])
    }

    fn decode(buf: &mut &[u8]) -> Result<Self, alloy_rlp::Error> {
        let header = Header::decode(buf)?;
        if header.list {
            return Err(alloy_rlp::Error::UnexpectedList);
        }
        let (bytes, rest) = buf
            .split_at_checked(header.payload_length)
            .ok_or(alloy_rlp::Error::InputTooShort)?;
        *buf = rest;
        if bytes.len() > 32 {
            return Err(alloy_rlp::Error::Overflow);
        }
        if bytes.first() == Some(&0) {
            return Err(alloy_rlp::Error::LeadingZero);
        }
        let mut out = [0u8; 32];
        if let Some(tail) = out.get_mut(32 - bytes.len()..) {
            tail.copy_from_slice(bytes);
        }
        Ok(Self(out))
    }
}

impl Encodable for TotalDifficulty {
    fn encode(&self, out: &mut dyn alloy_rlp::BufMut) {
        rlp::put_string(out, self.significant());
    }

    fn length(&self) -> usize {
        rlp::string_len(self.significant())
    }
}

/// An eth/66–68 Status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StatusLegacy {
    /// The version the sender claims.
    pub version: u8,
    /// The network id.
    pub network_id: u64,
    /// The total difficulty of the sender's head.
    pub total_difficulty: TotalDifficulty,
    /// The sender's head block hash.
    pub blockhash: B256,
    /// The genesis hash.
    pub genesis: B256,
    /// The EIP-2124 fork id.
    pub fork_id: ForkId,
}

/// An eth/69 Status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StatusEth69 {
    /// The version the sender claims.
    pub version: u8,
    /// The network id.
    pub network_id: u64,
    /// The genesis hash.
    pub genesis: B256,
    /// The EIP-2124 fork id.
    pub fork_id: ForkId,
    /// The earliest block the sender can serve.
    pub earliest: u64,
    /// The sender's latest block.
    pub latest: u64,
    /// The hash of the sender's latest block.
    pub blockhash: B256,
}

/// An `eth` Status in the layout of the version it was built or decoded for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// eth/66–68.
    Legacy(StatusLegacy),
    /// eth/69.
    Eth69(StatusEth69),
}

impl Status {
    /// The Status an upstream node sends on `version`: total difficulty 0 and head = genesis
    /// (eth/66–68); earliest 0, latest 0 and blockhash = genesis (eth/69).
    pub const fn ours(identity: &ChainIdentity, version: EthVersion) -> Self {
        if version.is_eth69() {
            Self::Eth69(StatusEth69 {
                version: version.number(),
                network_id: identity.network_id,
                genesis: identity.genesis,
                fork_id: identity.fork_id,
                earliest: 0,
                latest: 0,
                blockhash: identity.genesis,
            })
        } else {
            Self::Legacy(StatusLegacy {
                version: version.number(),
                network_id: identity.network_id,
                total_difficulty: TotalDifficulty::ZERO,
                blockhash: identity.genesis,
                genesis: identity.genesis,
                fork_id: identity.fork_id,
            })
        }
    }

    /// What the node runtime shows of it ([`LinkInfo::eth`](zks_api::transport::LinkInfo)):
    /// version, network, genesis, fork id and, on eth/69, the block range.
    pub const fn summary(&self) -> zks_api::transport::EthStatus {
        let fork = self.fork_id();
        let summary = zks_api::transport::EthStatus::new(
            self.version(),
            self.network_id(),
            *self.genesis(),
            fork.hash,
            fork.next,
        );
        match self {
            Self::Legacy(_) => summary,
            Self::Eth69(s) => summary.with_blocks(s.earliest, s.latest),
        }
    }

    /// The version field.
    pub const fn version(&self) -> u8 {
        match self {
            Self::Legacy(s) => s.version,
            Self::Eth69(s) => s.version,
        }
    }

    /// The network id.
    pub const fn network_id(&self) -> u64 {
        match self {
            Self::Legacy(s) => s.network_id,
            Self::Eth69(s) => s.network_id,
        }
    }

    /// The genesis hash.
    pub const fn genesis(&self) -> &B256 {
        match self {
            Self::Legacy(s) => &s.genesis,
            Self::Eth69(s) => &s.genesis,
        }
    }

    /// The fork id.
    pub const fn fork_id(&self) -> ForkId {
        match self {
            Self::Legacy(s) => s.fork_id,
            Self::Eth69(s) => s.fork_id,
        }
    }

    /// The head (eth/66–68) or latest (eth/69) block hash.
    pub const fn blockhash(&self) -> &B256 {
        match self {
            Self::Legacy(s) => &s.blockhash,
            Self::Eth69(s) => &s.blockhash,
        }
    }

    /// Encodes the msg-data (the RLP list, without the message id) into a new buffer.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.length());
        self.encode(&mut out);
        out
    }

    fn payload_length(&self) -> usize {
        match self {
            Self::Legacy(s) => {
                s.version.length()
                    + s.network_id.length()
                    + s.total_difficulty.length()
                    + s.blockhash.length()
                    + s.genesis.length()
                    + s.fork_id.length()
            }
            Self::Eth69(s) => {
                s.version.length()
                    + s.network_id.length()
                    + s.genesis.length()
                    + s.fork_id.length()
                    + s.earliest.length()
                    + s.latest.length()
                    + s.blockhash.length()
            }
        }
    }

    /// Decodes the msg-data of a Status received on `version`, in that version's layout.
    ///
    /// The list's size is checked against [`MAX_STATUS_SIZE`] from its header before anything
    /// else is read; nothing is allocated. Bytes after the list are ignored.
    ///
    /// # Errors
    ///
    /// [`StatusError::TooLarge`], [`StatusError::Malformed`], [`StatusError::TrailingBytes`]
    /// (inside the Status or fork id list), and on eth/66–68
    /// [`StatusError::TotalDifficultyTooLarge`].
    pub fn decode(version: EthVersion, payload: &[u8]) -> Result<Self, StatusError> {
        let mut body = bounded_list(payload)?;
        let buf = &mut body;
        let status = if version.is_eth69() {
            Self::Eth69(StatusEth69 {
                version: field(buf, "version")?,
                network_id: field(buf, "networkid")?,
                genesis: field(buf, "genesis")?,
                fork_id: fork_id(buf)?,
                earliest: field(buf, "earliest")?,
                latest: field(buf, "latest")?,
                blockhash: field(buf, "blockhash")?,
            })
        } else {
            let version = field(buf, "version")?;
            let network_id = field(buf, "networkid")?;
            let total_difficulty =
                TotalDifficulty::decode(buf).map_err(|reason| StatusError::Malformed {
                    field: "td",
                    reason,
                })?;
            check_total_difficulty(&total_difficulty)?;
            Self::Legacy(StatusLegacy {
                version,
                network_id,
                total_difficulty,
                blockhash: field(buf, "blockhash")?,
                genesis: field(buf, "genesis")?,
                fork_id: fork_id(buf)?,
            })
        };
        if !body.is_empty() {
            return Err(StatusError::TrailingBytes {
                list: "status",
                extra: body.len(),
            });
        }
        Ok(status)
    }
}

impl Encodable for Status {
    fn encode(&self, out: &mut dyn alloy_rlp::BufMut) {
        Header {
            list: true,
            payload_length: self.payload_length(),
        }
        .encode(out);
        match self {
            Self::Legacy(s) => {
                s.version.encode(out);
                s.network_id.encode(out);
                s.total_difficulty.encode(out);
                s.blockhash.encode(out);
                s.genesis.encode(out);
                s.fork_id.encode(out);
            }
            Self::Eth69(s) => {
                s.version.encode(out);
                s.network_id.encode(out);
                s.genesis.encode(out);
                s.fork_id.encode(out);
                s.earliest.encode(out);
                s.latest.encode(out);
                s.blockhash.encode(out);
            }
        }
    }

    fn length(&self) -> usize {
        let payload_length = self.payload_length();
        alloy_rlp::length_of_length(payload_length) + payload_length
    }
}

/// Rejects a total difficulty wider than [`MAX_TOTAL_DIFFICULTY_BITS`].
pub(super) fn check_total_difficulty(td: &TotalDifficulty) -> Result<(), StatusError> {
    let bits = td.bit_len();
    if bits > MAX_TOTAL_DIFFICULTY_BITS {
        return Err(StatusError::TotalDifficultyTooLarge {
            bits,
            max: MAX_TOTAL_DIFFICULTY_BITS,
        });
    }
    Ok(())
}

fn field<T: Decodable>(buf: &mut &[u8], field: &'static str) -> Result<T, StatusError> {
    T::decode(buf).map_err(|reason| StatusError::Malformed { field, reason })
}

fn fork_id(buf: &mut &[u8]) -> Result<ForkId, StatusError> {
    let header = Header::decode(buf).map_err(|reason| StatusError::Malformed {
        field: "forkid",
        reason,
    })?;
    if !header.list {
        return Err(StatusError::Malformed {
            field: "forkid",
            reason: alloy_rlp::Error::UnexpectedString,
        });
    }
    // `Header::decode` checked that the payload is there.
    let (mut list, rest) =
        buf.split_at_checked(header.payload_length)
            .ok_or(StatusError::Malformed {
                field: "forkid",
                reason: alloy_rlp::Error::InputTooShort,
            })?;
    *buf = rest;
    let fork_id = ForkId {
        hash: field(&mut list, "forkhash")?,
        next: field(&mut list, "forknext")?,
    };
    if !list.is_empty() {
        return Err(StatusError::TrailingBytes {
            list: "forkid",
            extra: list.len(),
        });
    }
    Ok(fork_id)
}

/// The payload of the RLP list at the start of `input`, after checking the size its header
/// declares against [`MAX_STATUS_SIZE`].
fn bounded_list(input: &[u8]) -> Result<&[u8], StatusError> {
    let malformed = |reason| StatusError::Malformed {
        field: "status",
        reason,
    };
    let (header_len, payload_len) = super::message::declared_list(input).map_err(malformed)?;
    let total = payload_len.saturating_add(header_len as u64);
    if total > MAX_STATUS_SIZE as u64 {
        return Err(StatusError::TooLarge {
            got: usize::try_from(total).unwrap_or(usize::MAX),
            max: MAX_STATUS_SIZE,
        });
    }
    // `total` ≤ MAX_STATUS_SIZE, so it fits a usize.
    input
        .get(header_len..total as usize)
        .ok_or(malformed(alloy_rlp::Error::InputTooShort))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours(version: EthVersion) -> Status {
        Status::ours(&ChainIdentity::zksync_os(270), version)
    }

    #[test]
    fn round_trips_every_version() {
        for version in EthVersion::ALL {
            let status = ours(version);
            let bytes = status.to_vec();
            assert_eq!(bytes.len(), status.length());
            assert_eq!(Status::decode(version, &bytes), Ok(status), "{version}");
        }
    }

    #[test]
    fn total_difficulty_bits() {
        assert_eq!(TotalDifficulty::ZERO.bit_len(), 0);
        assert_eq!(TotalDifficulty::from_u64(1).bit_len(), 1);
        assert_eq!(TotalDifficulty::from_u64(0x80).bit_len(), 8);
        assert_eq!(TotalDifficulty::from_u64(u64::MAX).bit_len(), 64);
        assert_eq!(TotalDifficulty([0xff; 32]).bit_len(), 256);
        let mut td = [0u8; 32];
        td[12] = 1;
        assert_eq!(TotalDifficulty(td).bit_len(), 153);
    }

    #[test]
    fn total_difficulty_encodes_minimally() {
        let mut out = Vec::new();
        TotalDifficulty::ZERO.encode(&mut out);
        TotalDifficulty::from_u64(5).encode(&mut out);
        TotalDifficulty::from_u64(0x1234).encode(&mut out);
        assert_eq!(out, [0x80, 0x05, 0x82, 0x12, 0x34]);
        let mut buf = &out[..];
        assert_eq!(TotalDifficulty::decode(&mut buf), Ok(TotalDifficulty::ZERO));
        assert_eq!(
            TotalDifficulty::decode(&mut buf),
            Ok(TotalDifficulty::from_u64(5))
        );
        assert_eq!(
            TotalDifficulty::decode(&mut buf),
            Ok(TotalDifficulty::from_u64(0x1234))
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn total_difficulty_rejects_non_canonical() {
        let bad: [(&[u8], alloy_rlp::Error); 5] = [
            (&[0x00], alloy_rlp::Error::LeadingZero),
            (&[0x82, 0x00, 0x01], alloy_rlp::Error::LeadingZero),
            (&[0x81, 0x05], alloy_rlp::Error::NonCanonicalSingleByte),
            (&[0xc0], alloy_rlp::Error::UnexpectedList),
            (&[0x82, 0x01], alloy_rlp::Error::InputTooShort),
        ];
        for (bytes, err) in bad {
            assert_eq!(
                TotalDifficulty::decode(&mut &bytes[..]),
                Err(err),
                "{bytes:x?}"
            );
        }
        let mut wide = vec![0xa1, 0x01];
        wide.extend([0u8; 32]);
        assert_eq!(
            TotalDifficulty::decode(&mut &wide[..]),
            Err(alloy_rlp::Error::Overflow)
        );
    }
}
