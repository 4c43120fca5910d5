//! The node's static secp256k1 key: generate, parse, load and save as a hex file.
//!
//! The key is the node's identity: keep it across restarts. The file holds 64 hex characters
//! (optionally `0x`-prefixed, surrounding whitespace ignored).

use std::fmt;
use std::path::Path;

use k256::SecretKey;
use rand::RngCore;

use crate::enode::NodeId;

/// Why a key could not be loaded, parsed or saved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeKeyError {
    /// The text is not 64 hex characters.
    #[error("secret key must be 64 hex characters, got {got}")]
    BadLength {
        /// Characters found.
        got: usize,
    },
    /// Not hex.
    #[error("secret key is not hex")]
    NotHex,
    /// Zero or not below the curve order.
    #[error("secret key is out of range")]
    OutOfRange,
    /// Reading or writing the file failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// A node's static secret key.
#[derive(Clone)]
pub struct NodeKey {
    secret: SecretKey,
    id: NodeId,
}

impl NodeKey {
    /// A fresh random key from the OS-seeded thread RNG.
    pub fn generate() -> Self {
        random_secret_key().into()
    }

    /// The key with these 32 big-endian bytes.
    ///
    /// # Errors
    ///
    /// [`NodeKeyError::OutOfRange`] for zero or a value not below the curve order.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, NodeKeyError> {
        SecretKey::from_slice(bytes)
            .map(Self::from)
            .map_err(|_| NodeKeyError::OutOfRange)
    }

    /// Parses 64 hex characters (optionally `0x`-prefixed, whitespace trimmed).
    ///
    /// # Errors
    ///
    /// [`NodeKeyError::BadLength`], [`NodeKeyError::NotHex`] or [`NodeKeyError::OutOfRange`].
    pub fn from_hex(text: &str) -> Result<Self, NodeKeyError> {
        let text = text.trim();
        let text = text.strip_prefix("0x").unwrap_or(text);
        if text.len() != 64 {
            return Err(NodeKeyError::BadLength { got: text.len() });
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(|_| NodeKeyError::NotHex)?;
        Self::from_bytes(&bytes)
    }

    /// The key as 64 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.secret.to_bytes())
    }

    /// Loads the key from a hex file.
    ///
    /// # Errors
    ///
    /// [`NodeKeyError::Io`] if the file cannot be read, or a parse error.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, NodeKeyError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| NodeKeyError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_hex(&text)
    }

    /// Saves the key as a hex file (with owner-only permissions on Unix).
    ///
    /// # Errors
    ///
    /// [`NodeKeyError::Io`] if the file cannot be written.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), NodeKeyError> {
        let path = path.as_ref();
        let io_err = |source| NodeKeyError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(io_err)?;
        std::io::Write::write_all(&mut file, format!("{}\n", self.to_hex()).as_bytes())
            .map_err(io_err)
    }

    /// Loads the key at `path`, or generates and saves one if the file does not exist.
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load) and [`save`](Self::save).
    pub fn load_or_generate(path: impl AsRef<Path>) -> Result<Self, NodeKeyError> {
        let path = path.as_ref();
        if path.exists() {
            Self::load(path)
        } else {
            let key = Self::generate();
            key.save(path)?;
            Ok(key)
        }
    }

    /// The node id (64-byte uncompressed public key without the `04` prefix).
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The underlying secret key.
    pub fn secret(&self) -> &SecretKey {
        &self.secret
    }
}

impl From<SecretKey> for NodeKey {
    fn from(secret: SecretKey) -> Self {
        let id = NodeId::from_public_key(&secret.public_key());
        Self { secret, id }
    }
}

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeKey({})", self.id)
    }
}

/// A random secret scalar from the OS-seeded thread RNG (k256's own `random` wants a newer
/// `rand_core` than `rand` 0.9 provides, so draw bytes and reject the rare out-of-range ones).
pub(crate) fn random_secret_key() -> SecretKey {
    let mut rng = rand::rng();
    loop {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        if let Ok(key) = SecretKey::from_slice(&bytes) {
            return key;
        }
    }
}

/// 32 random bytes (nonces, IVs).
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_file() {
        let key = NodeKey::generate();
        let again = NodeKey::from_hex(&format!("0x{}\n", key.to_hex())).map_err(|e| e.to_string());
        assert_eq!(again.map(|k| k.id()), Ok(key.id()));
        let dir = std::env::temp_dir().join(format!("zks-devp2p-key-{}", key.to_hex()));
        assert!(key.save(&dir).is_ok());
        assert_eq!(NodeKey::load(&dir).map(|k| k.id()).ok(), Some(key.id()));
        let _ = std::fs::remove_file(&dir);
    }

    #[test]
    fn rejects_bad_keys() {
        assert!(matches!(
            NodeKey::from_hex("abcd"),
            Err(NodeKeyError::BadLength { got: 4 })
        ));
        assert!(matches!(
            NodeKey::from_hex(&"zz".repeat(32)),
            Err(NodeKeyError::NotHex)
        ));
        assert!(matches!(
            NodeKey::from_hex(&"00".repeat(32)),
            Err(NodeKeyError::OutOfRange)
        ));
        assert!(matches!(
            NodeKey::from_hex(&"ff".repeat(32)),
            Err(NodeKeyError::OutOfRange)
        ));
    }
}
