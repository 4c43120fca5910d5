//! Node identity: a libp2p keypair (ed25519 or secp256k1) kept in a file.
//!
//! **File format:** the keypair's libp2p protobuf encoding
//! ([`Keypair::to_protobuf_encoding`]), written as lowercase hex on one line. Reading also
//! accepts the raw protobuf bytes, and surrounding whitespace or a `0x` prefix around the hex.
//! The protobuf encoding names the key type, so one file format serves both key types.

use std::path::Path;

use libp2p::identity::Keypair;

use crate::error::Error;

/// Largest key file read (a protobuf keypair is well under 200 bytes).
const MAX_KEY_FILE: usize = 4096;

/// A fresh ed25519 identity.
pub fn generate_ed25519() -> Keypair {
    Keypair::generate_ed25519()
}

/// A fresh secp256k1 identity.
pub fn generate_secp256k1() -> Keypair {
    Keypair::generate_secp256k1()
}

/// Decodes a keypair from the contents of a key file (hex text or raw protobuf bytes).
///
/// # Errors
///
/// [`Error::Key`] when the bytes are neither.
pub fn decode_keypair(contents: &[u8]) -> Result<Keypair, Error> {
    if contents.len() > MAX_KEY_FILE {
        return Err(Error::Key(format!(
            "key file of {} bytes is too large",
            contents.len()
        )));
    }
    let from_hex = std::str::from_utf8(contents).ok().and_then(|text| {
        let text = text.trim();
        hex::decode(text.strip_prefix("0x").unwrap_or(text)).ok()
    });
    let bytes = from_hex.as_deref().unwrap_or(contents);
    Keypair::from_protobuf_encoding(bytes).map_err(|e| Error::Key(e.to_string()))
}

/// The key file contents for `keypair`: hex of its protobuf encoding, newline-terminated.
///
/// # Errors
///
/// [`Error::Key`] when the key type cannot be encoded.
pub fn encode_keypair(keypair: &Keypair) -> Result<String, Error> {
    let bytes = keypair
        .to_protobuf_encoding()
        .map_err(|e| Error::Key(e.to_string()))?;
    Ok(format!("{}\n", hex::encode(bytes)))
}

/// Reads a keypair file.
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be read, [`Error::Key`] when it holds no keypair.
pub fn read_keypair_file(path: impl AsRef<Path>) -> Result<Keypair, Error> {
    let contents = std::fs::read(path)?;
    decode_keypair(&contents)
}

/// Writes `keypair` to a file in the documented format.
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be written.
pub fn write_keypair_file(path: impl AsRef<Path>, keypair: &Keypair) -> Result<(), Error> {
    std::fs::write(path, encode_keypair(keypair)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_round_trip_both_key_types() {
        for key in [generate_ed25519(), generate_secp256k1()] {
            let text = encode_keypair(&key).unwrap();
            let back = decode_keypair(text.as_bytes()).unwrap();
            assert_eq!(back.public(), key.public());
            let raw = key.to_protobuf_encoding().unwrap();
            assert_eq!(decode_keypair(&raw).unwrap().public(), key.public());
            let prefixed = format!("  0x{}  ", text.trim());
            assert_eq!(
                decode_keypair(prefixed.as_bytes()).unwrap().public(),
                key.public()
            );
        }
        assert!(matches!(decode_keypair(b"not a key"), Err(Error::Key(_))));
        assert!(matches!(decode_keypair(&[0; 5000]), Err(Error::Key(_))));
    }

    #[test]
    fn key_file_on_disk() {
        let path = std::env::temp_dir().join(format!("zks-libp2p-key-{}", std::process::id()));
        let key = generate_secp256k1();
        write_keypair_file(&path, &key).unwrap();
        assert_eq!(read_keypair_file(&path).unwrap().public(), key.public());
        let _ = std::fs::remove_file(&path);
    }
}
