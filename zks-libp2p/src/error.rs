//! The crate's error type.

/// What can go wrong outside a link (links report through [`zks_api::transport::LinkClosed`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid; nothing was started.
    #[error("invalid libp2p config: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: &'static str,
    },
    /// A keypair file could not be read or decoded.
    #[error("invalid keypair: {0}")]
    Key(String),
    /// An I/O error (reading or writing a key file).
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}
