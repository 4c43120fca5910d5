//! [`EthVersion`]: the `eth` versions we speak.

/// An `eth` protocol version we speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EthVersion {
    /// eth/66.
    V66 = 66,
    /// eth/67.
    V67 = 67,
    /// eth/68.
    V68 = 68,
    /// eth/69.
    V69 = 69,
}

impl EthVersion {
    /// Every version, newest first (the order upstream advertises them in its Hello).
    pub const ALL: [Self; 4] = [Self::V69, Self::V68, Self::V67, Self::V66];

    /// The version with this number, if we speak it.
    pub const fn from_number(number: u32) -> Option<Self> {
        match number {
            66 => Some(Self::V66),
            67 => Some(Self::V67),
            68 => Some(Self::V68),
            69 => Some(Self::V69),
            _ => None,
        }
    }

    /// The version number.
    pub const fn number(self) -> u8 {
        self as u8
    }

    /// How many message ids the version reserves: 17 for eth/66–68, 18 for eth/69 (which adds
    /// BlockRangeUpdate at 0x11).
    pub const fn message_count(self) -> u8 {
        match self {
            Self::V66 | Self::V67 | Self::V68 => 17,
            Self::V69 => 18,
        }
    }

    /// Whether the Status has the eth/69 layout (block range instead of total difficulty).
    pub const fn is_eth69(self) -> bool {
        matches!(self, Self::V69)
    }
}

impl std::fmt::Display for EthVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "eth/{}", self.number())
    }
}
