//! A 256-bit unsigned quantity kept as 32 big-endian bytes, with canonical RLP.

use std::fmt;

use alloy_rlp::{Decodable, Encodable, Header};

/// A 256-bit unsigned integer, stored as 32 big-endian bytes.
///
/// This is the wire's `U256` (fees, prices, `mix_hash`, block hashes), without arithmetic: the
/// record only carries these values. RLP encodes it as an integer: the big-endian bytes without
/// leading zeros (zero is the empty string `0x80`). Decoding accepts only that canonical form:
/// a byte string of at most 32 bytes that does not start with `0x00`.
///
/// `Debug` and `Display` print minimal `0x`-prefixed hex (`0x0`, `0x5f5e100`), as the vectors do.
///
/// ```
/// use zks_wire::zksync_os::U256;
///
/// let fee = U256::from(100_000_000u64);
/// assert_eq!(fee.to_string(), "0x5f5e100");
/// assert_eq!(alloy_rlp::encode(fee), [0x84, 0x05, 0xf5, 0xe1, 0x00]);
/// assert_eq!(alloy_rlp::encode(U256::ZERO), [0x80]);
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct U256([u8; 32]);

impl U256 {
    /// Zero.
    pub const ZERO: Self = Self([0; 32]);

    /// The value with these 32 big-endian bytes.
    pub const fn from_be_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 big-endian bytes.
    pub const fn to_be_bytes(self) -> [u8; 32] {
        self.0
    }

    /// The 32 big-endian bytes, borrowed.
    pub const fn as_be_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The value of up to 32 big-endian bytes (left-padded with zeros), or `None` if `bytes`
    /// is longer than 32. Leading zeros are allowed here; only RLP decoding insists on the
    /// canonical form.
    pub fn from_be_slice(bytes: &[u8]) -> Option<Self> {
        let pad = 32usize.checked_sub(bytes.len())?;
        let mut out = [0; 32];
        out[pad..].copy_from_slice(bytes);
        Some(Self(out))
    }

    /// The value as a `u64`, if it fits.
    pub fn to_u64(&self) -> Option<u64> {
        let (high, low) = self.0.split_at(24);
        if high.iter().any(|&b| b != 0) {
            return None;
        }
        let mut word = [0; 8];
        word.copy_from_slice(low);
        Some(u64::from_be_bytes(word))
    }

    /// Whether the value is zero.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 32]
    }

    /// The big-endian bytes without leading zeros (empty for zero): the RLP integer payload.
    pub fn significant_bytes(&self) -> &[u8] {
        let start = self.0.iter().position(|&b| b != 0).unwrap_or(32);
        &self.0[start..]
    }
}

impl From<u64> for U256 {
    fn from(value: u64) -> Self {
        let mut out = [0; 32];
        out[24..].copy_from_slice(&value.to_be_bytes());
        Self(out)
    }
}

impl From<[u8; 32]> for U256 {
    fn from(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl From<U256> for [u8; 32] {
    fn from(value: U256) -> Self {
        value.0
    }
}

impl fmt::Display for U256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.significant_bytes().split_first() {
            None => f.write_str("0x0"),
            Some((first, rest)) => {
                write!(f, "0x{first:x}")?;
                rest.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
    }
}

impl fmt::Debug for U256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Encodable for U256 {
    fn encode(&self, out: &mut dyn alloy_rlp::BufMut) {
        // The integer rules are the byte-string rules applied to the significant bytes:
        // empty → 0x80, one byte below 0x80 → itself, otherwise a short string header.
        self.significant_bytes().encode(out);
    }

    fn length(&self) -> usize {
        self.significant_bytes().length()
    }
}

impl Decodable for U256 {
    fn decode(buf: &mut &[u8]) -> alloy_rlp::Result<Self> {
        // `decode_bytes` already rejects a non-canonical single byte (`81 05`) and long-form
        // headers for short strings; what is left is the integer's own rules.
        let bytes = Header::decode_bytes(buf, false)?;
        if bytes.first() == Some(&0) {
            return Err(alloy_rlp::Error::LeadingZero);
        }
        Self::from_be_slice(bytes).ok_or(alloy_rlp::Error::Overflow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rlp(value: U256) -> Vec<u8> {
        alloy_rlp::encode(value)
    }

    #[test]
    fn encodes_minimally() {
        assert_eq!(rlp(U256::ZERO), [0x80]);
        assert_eq!(rlp(U256::from(1)), [0x01]);
        assert_eq!(rlp(U256::from(0x7f)), [0x7f]);
        assert_eq!(rlp(U256::from(0x80)), [0x81, 0x80]);
        let max = U256::from_be_bytes([0xff; 32]);
        let encoded = rlp(max);
        assert_eq!(encoded.len(), 33);
        assert_eq!(encoded[0], 0xa0);
        assert_eq!(max.length(), 33);
    }

    #[test]
    fn decodes_only_canonical() {
        for (bytes, want) in [
            (&[0x80][..], Some(U256::ZERO)),
            (&[0x05], Some(U256::from(5))),
            (&[0x82, 0x01, 0x00], Some(U256::from(256))),
            // leading zero
            (&[0x82, 0x00, 0x01], None),
            (&[0x81, 0x00], None),
            (&[0x00], None),
            // single byte written long
            (&[0x81, 0x05], None),
            // a list
            (&[0xc0], None),
        ] {
            assert_eq!(U256::decode(&mut &bytes[..]).ok(), want, "{bytes:02x?}");
        }
        let mut too_long = vec![0xa1, 0x01];
        too_long.extend([0; 32]);
        assert_eq!(
            U256::decode(&mut too_long.as_slice()),
            Err(alloy_rlp::Error::Overflow)
        );
    }

    #[test]
    fn conversions_and_display() {
        let v = U256::from(0x5f5e100);
        assert_eq!(v.to_u64(), Some(0x5f5e100));
        assert_eq!(v.to_string(), "0x5f5e100");
        assert_eq!(format!("{:?}", U256::ZERO), "0x0");
        assert_eq!(U256::from_be_slice(&[1, 0]), Some(U256::from(256)));
        assert_eq!(U256::from_be_slice(&[0; 33]), None);
        assert_eq!(U256::from_be_bytes([0xff; 32]).to_u64(), None);
        assert!(U256::ZERO.is_zero());
    }
}
