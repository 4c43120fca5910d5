//! ECIES as RLPx uses it, and the two handshake packets it carries (auth and ack).
//!
//! Pure functions over byte slices: no I/O, no clock. Randomness (ephemeral keys, IVs, nonces,
//! padding) is drawn by the `*_random` helpers or injected for deterministic tests.
//!
//! We send EIP-8 packets only, and accept EIP-8 (any version, extra list elements, trailing
//! padding) and legacy (pre-EIP-8) packets.

use aes::{Aes128, cipher::KeyIvInit, cipher::StreamCipher};
use hmac::{Hmac, KeyInit, Mac};
use k256::ecdsa::{RecoveryId, Signature, SigningKey, VerifyingKey};
use k256::{PublicKey, SecretKey};
use sha2::{Digest, Sha256};
use sha3::Keccak256;

use crate::enode::NodeId;
use crate::error::EciesError;
use crate::rlp;

/// Fixed ECIES overhead: `04 || R (64) || IV (16) || ... || tag (32)`.
pub const ECIES_OVERHEAD: usize = 65 + 16 + 32;

/// Largest EIP-8 size prefix we accept (geth's cap).
pub const MAX_HANDSHAKE_PACKET: usize = 2048;

/// Size of a legacy auth packet.
pub const LEGACY_AUTH_LEN: usize = 307;

/// Size of a legacy ack packet.
pub const LEGACY_ACK_LEN: usize = 210;

/// Padding we add to EIP-8 bodies: at least 100 bytes, so that our auth is ≥ 307 bytes.
pub const MIN_PADDING: usize = 100;

/// Largest padding we add.
pub const MAX_PADDING: usize = 300;

/// The handshake version we send (`auth-vsn` / `ack-vsn`).
pub const HANDSHAKE_VERSION: u64 = 4;

type Aes128Ctr = ctr::Ctr128BE<Aes128>;
type HmacSha256 = Hmac<Sha256>;

/// The X coordinate of `secret · public` (no hashing).
pub fn ecdh_x(secret: &SecretKey, public: &PublicKey) -> [u8; 32] {
    let shared = k256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), public.as_affine());
    let mut x = [0u8; 32];
    x.copy_from_slice(shared.raw_secret_bytes());
    x
}

/// keccak256 of the concatenation of `parts`.
pub fn keccak256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Keccak256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// NIST SP 800-56 concatenation KDF with SHA-256, one iteration (32 bytes), empty `S1`.
pub fn kdf(z: &[u8; 32]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(1u32.to_be_bytes());
    hasher.update(z);
    hasher.finalize().into()
}

/// The AES-128 key and the HMAC-SHA256 key derived from the ECDH value.
fn derive_keys(z: &[u8; 32]) -> ([u8; 16], [u8; 32]) {
    let k = kdf(z);
    let mut ke = [0u8; 16];
    ke.copy_from_slice(&k[..16]);
    let km: [u8; 32] = Sha256::digest(&k[16..]).into();
    (ke, km)
}

fn tag(km: &[u8; 32], iv: &[u8], ciphertext: &[u8], shared_mac_data: &[u8]) -> HmacSha256 {
    // HMAC zero-pads keys shorter than the 64-byte block, so this is HMAC keyed by `km`.
    let mut key = [0u8; 64];
    key[..32].copy_from_slice(km);
    let mut mac = <HmacSha256 as KeyInit>::new(&key.into());
    mac.update(iv);
    mac.update(ciphertext);
    mac.update(shared_mac_data);
    mac
}

/// ECIES-encrypts `plaintext` to `remote`, appending `04 || R || IV || c || tag` to `out`,
/// with a fresh ephemeral key and IV.
pub fn encrypt(remote: &PublicKey, plaintext: &[u8], shared_mac_data: &[u8], out: &mut Vec<u8>) {
    let ephemeral = crate::key::random_secret_key();
    let iv = crate::key::random_bytes::<16>();
    encrypt_with(remote, plaintext, shared_mac_data, &ephemeral, iv, out);
}

/// [`encrypt`] with injected randomness (for vectors).
pub fn encrypt_with(
    remote: &PublicKey,
    plaintext: &[u8],
    shared_mac_data: &[u8],
    ephemeral: &SecretKey,
    iv: [u8; 16],
    out: &mut Vec<u8>,
) {
    let z = ecdh_x(ephemeral, remote);
    let (ke, km) = derive_keys(&z);
    out.reserve(ECIES_OVERHEAD + plaintext.len());
    out.push(0x04);
    out.extend_from_slice(NodeId::from_public_key(&ephemeral.public_key()).as_bytes());
    out.extend_from_slice(&iv);
    let start = out.len();
    out.extend_from_slice(plaintext);
    let ciphertext = out.get_mut(start..).unwrap_or_default();
    Aes128Ctr::new(&ke.into(), &iv.into()).apply_keystream(ciphertext);
    let t = tag(&km, &iv, ciphertext, shared_mac_data)
        .finalize()
        .into_bytes();
    out.extend_from_slice(&t);
}

/// Decrypts an ECIES message with our static key.
///
/// # Errors
///
/// [`EciesError::TooShort`], [`EciesError::InvalidPublicKey`] (bad `R`),
/// [`EciesError::TagMismatch`]. The tag is checked in constant time before decrypting.
pub fn decrypt(
    secret: &SecretKey,
    message: &[u8],
    shared_mac_data: &[u8],
) -> Result<Vec<u8>, EciesError> {
    let too_short = EciesError::TooShort {
        got: message.len(),
        min: ECIES_OVERHEAD,
    };
    if message.len() < ECIES_OVERHEAD {
        return Err(too_short);
    }
    let (point, rest) = message.split_at(65);
    let (iv, rest) = rest.split_at(16);
    let (ciphertext, tag_bytes) = rest.split_at(rest.len() - 32);
    if point.first() != Some(&0x04) {
        return Err(EciesError::InvalidPublicKey("ecies R"));
    }
    let r =
        PublicKey::from_sec1_bytes(point).map_err(|_| EciesError::InvalidPublicKey("ecies R"))?;
    let z = ecdh_x(secret, &r);
    let (ke, km) = derive_keys(&z);
    tag(&km, iv, ciphertext, shared_mac_data)
        .verify_slice(tag_bytes)
        .map_err(|_| EciesError::TagMismatch)?;
    let mut plaintext = ciphertext.to_vec();
    let iv: [u8; 16] = iv.try_into().map_err(|_| too_short)?;
    Aes128Ctr::new(&ke.into(), &iv.into()).apply_keystream(&mut plaintext);
    Ok(plaintext)
}

/// The wire format of a handshake packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketFormat {
    /// EIP-8: `size (2 bytes BE) || ECIES(RLP body || padding)`.
    Eip8,
    /// Pre-EIP-8: fixed-size plaintext, no prefix. Received only.
    Legacy,
}

/// The initiator's `auth` message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthMessage {
    /// `r || s || v` over `static-shared ^ nonce`, signed with the initiator's ephemeral key.
    pub signature: [u8; 65],
    /// The initiator's static node id.
    pub initiator_id: NodeId,
    /// The initiator's nonce.
    pub nonce: [u8; 32],
    /// `auth-vsn` (never checked).
    pub version: u64,
    /// Further list elements, raw RLP (EIP-8 forward compatibility; ignored).
    pub extra: Vec<Vec<u8>>,
}

/// The recipient's `ack` message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AckMessage {
    /// The recipient's ephemeral public key.
    pub ephemeral_id: NodeId,
    /// The recipient's nonce.
    pub nonce: [u8; 32],
    /// `ack-vsn` (never checked).
    pub version: u64,
    /// Further list elements, raw RLP (ignored).
    pub extra: Vec<Vec<u8>>,
}

const AUTH: &str = "auth";
const ACK: &str = "ack";

fn malformed(packet: &'static str) -> impl Fn(&'static str) -> EciesError {
    move |reason| EciesError::MalformedBody { packet, reason }
}

impl AuthMessage {
    /// Builds and signs an auth: `sig = sign(ephemeral, ecdh(static, remote) ^ nonce)`.
    pub fn new(
        static_key: &SecretKey,
        remote: &PublicKey,
        ephemeral: &SecretKey,
        nonce: [u8; 32],
    ) -> Self {
        let shared = ecdh_x(static_key, remote);
        let signed = xor32(&shared, &nonce);
        let signing = SigningKey::from(ephemeral.clone());
        let (sig, recid) = signing.sign_prehash_recoverable(&signed);
        let mut signature = [0u8; 65];
        signature[..64].copy_from_slice(&sig.to_bytes());
        signature[64] = recid.to_byte();
        Self {
            signature,
            initiator_id: NodeId::from_public_key(&static_key.public_key()),
            nonce,
            version: HANDSHAKE_VERSION,
            extra: Vec::new(),
        }
    }

    /// The EIP-8 RLP body `[sig, initiator-id, nonce, version]` (169 bytes for version 4).
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        let payload = rlp::string_len(&self.signature)
            + rlp::string_len(self.initiator_id.as_bytes())
            + rlp::string_len(&self.nonce)
            + rlp::uint_len(self.version);
        rlp::put_list_header(out, payload);
        rlp::put_string(out, &self.signature);
        rlp::put_string(out, self.initiator_id.as_bytes());
        rlp::put_string(out, &self.nonce);
        rlp::put_uint(out, self.version);
    }

    /// Parses an EIP-8 plaintext: one RLP list (≥ 4 items, extra ignored), then anything.
    ///
    /// # Errors
    ///
    /// [`EciesError::MalformedBody`].
    pub fn decode_eip8(plaintext: &[u8]) -> Result<Self, EciesError> {
        let err = malformed(AUTH);
        let mut buf = plaintext;
        let mut list = rlp::next_list(&mut buf).map_err(&err)?;
        let signature = rlp::next_fixed::<65>(&mut list).map_err(&err)?;
        let id = rlp::next_fixed::<64>(&mut list).map_err(&err)?;
        let nonce = rlp::next_fixed::<32>(&mut list).map_err(&err)?;
        let version = rlp::next_uint_lenient(&mut list).map_err(&err)?;
        let extra = collect_extra(list).map_err(&err)?;
        Ok(Self {
            signature,
            initiator_id: NodeId(id),
            nonce,
            version,
            extra,
        })
    }

    /// Parses a legacy 194-byte plaintext `sig || keccak(eph) || id || nonce || 00`.
    ///
    /// # Errors
    ///
    /// [`EciesError::MalformedBody`] for a wrong length.
    pub fn decode_legacy(plaintext: &[u8]) -> Result<Self, EciesError> {
        if plaintext.len() != LEGACY_AUTH_LEN - ECIES_OVERHEAD {
            return Err(malformed(AUTH)("legacy auth must be 194 bytes"));
        }
        let mut signature = [0u8; 65];
        signature.copy_from_slice(&plaintext[..65]);
        let mut id = [0u8; 64];
        id.copy_from_slice(&plaintext[97..161]);
        let mut nonce = [0u8; 32];
        nonce.copy_from_slice(&plaintext[161..193]);
        Ok(Self {
            signature,
            initiator_id: NodeId(id),
            nonce,
            version: HANDSHAKE_VERSION,
            extra: Vec::new(),
        })
    }

    /// Recovers the initiator's ephemeral public key from the signature (the recipient's
    /// check; a lie shows up as a MAC failure on the first frame).
    ///
    /// # Errors
    ///
    /// [`EciesError::InvalidPublicKey`] for a bad initiator id, [`EciesError::InvalidSignature`]
    /// when nothing recovers.
    pub fn recover_ephemeral(&self, static_key: &SecretKey) -> Result<PublicKey, EciesError> {
        let initiator = self
            .initiator_id
            .public_key()
            .map_err(|_| EciesError::InvalidPublicKey("auth initiator id"))?;
        let shared = ecdh_x(static_key, &initiator);
        let signed = xor32(&shared, &self.nonce);
        recover(&signed, &self.signature)
    }
}

impl AckMessage {
    /// The EIP-8 RLP body `[ephemeral-id, nonce, version]` (102 bytes for version 4).
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        let payload = rlp::string_len(self.ephemeral_id.as_bytes())
            + rlp::string_len(&self.nonce)
            + rlp::uint_len(self.version);
        rlp::put_list_header(out, payload);
        rlp::put_string(out, self.ephemeral_id.as_bytes());
        rlp::put_string(out, &self.nonce);
        rlp::put_uint(out, self.version);
    }

    /// Parses an EIP-8 plaintext: one RLP list (≥ 3 items), then anything.
    ///
    /// # Errors
    ///
    /// [`EciesError::MalformedBody`].
    pub fn decode_eip8(plaintext: &[u8]) -> Result<Self, EciesError> {
        let err = malformed(ACK);
        let mut buf = plaintext;
        let mut list = rlp::next_list(&mut buf).map_err(&err)?;
        let id = rlp::next_fixed::<64>(&mut list).map_err(&err)?;
        let nonce = rlp::next_fixed::<32>(&mut list).map_err(&err)?;
        let version = rlp::next_uint_lenient(&mut list).map_err(&err)?;
        let extra = collect_extra(list).map_err(&err)?;
        Ok(Self {
            ephemeral_id: NodeId(id),
            nonce,
            version,
            extra,
        })
    }

    /// Parses a legacy 97-byte plaintext `ephemeral-id || nonce || 00`.
    ///
    /// # Errors
    ///
    /// [`EciesError::MalformedBody`] for a wrong length.
    pub fn decode_legacy(plaintext: &[u8]) -> Result<Self, EciesError> {
        if plaintext.len() != LEGACY_ACK_LEN - ECIES_OVERHEAD {
            return Err(malformed(ACK)("legacy ack must be 97 bytes"));
        }
        let mut id = [0u8; 64];
        id.copy_from_slice(&plaintext[..64]);
        let mut nonce = [0u8; 32];
        nonce.copy_from_slice(&plaintext[64..96]);
        Ok(Self {
            ephemeral_id: NodeId(id),
            nonce,
            version: HANDSHAKE_VERSION,
            extra: Vec::new(),
        })
    }
}

fn collect_extra(mut list: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
    let mut extra = Vec::new();
    while !list.is_empty() {
        extra.push(rlp::next_item(&mut list)?.raw.to_vec());
    }
    Ok(extra)
}

/// Wraps an EIP-8 body: `size || ECIES(body || zero padding, S2 = size)`.
pub fn seal_eip8(
    remote: &PublicKey,
    body: &[u8],
    padding: usize,
    ephemeral: &SecretKey,
    iv: [u8; 16],
) -> Vec<u8> {
    let mut plaintext = Vec::with_capacity(body.len() + padding);
    plaintext.extend_from_slice(body);
    plaintext.resize(body.len() + padding, 0);
    let size = u16::try_from(plaintext.len() + ECIES_OVERHEAD).unwrap_or(u16::MAX);
    let prefix = size.to_be_bytes();
    let mut packet = Vec::with_capacity(2 + usize::from(size));
    packet.extend_from_slice(&prefix);
    encrypt_with(remote, &plaintext, &prefix, ephemeral, iv, &mut packet);
    packet
}

/// A random padding length in `MIN_PADDING..=MAX_PADDING`.
pub fn random_padding() -> usize {
    let [a, b] = crate::key::random_bytes::<2>();
    MIN_PADDING + usize::from(u16::from_le_bytes([a, b])) % (MAX_PADDING - MIN_PADDING + 1)
}

/// Decrypts a whole handshake packet (as received, prefix included for EIP-8).
///
/// # Errors
///
/// Any [`EciesError`].
pub fn open_packet(
    secret: &SecretKey,
    packet: &[u8],
    format: PacketFormat,
) -> Result<Vec<u8>, EciesError> {
    match format {
        PacketFormat::Legacy => decrypt(secret, packet, &[]),
        PacketFormat::Eip8 => {
            let (prefix, message) = packet.split_at(packet.len().min(2));
            decrypt(secret, message, prefix)
        }
    }
}

/// Decodes a complete auth packet.
///
/// # Errors
///
/// Any [`EciesError`].
pub fn read_auth(
    secret: &SecretKey,
    packet: &[u8],
    format: PacketFormat,
) -> Result<AuthMessage, EciesError> {
    let plaintext = open_packet(secret, packet, format)?;
    match format {
        PacketFormat::Eip8 => AuthMessage::decode_eip8(&plaintext),
        PacketFormat::Legacy => AuthMessage::decode_legacy(&plaintext),
    }
}

/// Decodes a complete ack packet.
///
/// # Errors
///
/// Any [`EciesError`].
pub fn read_ack(
    secret: &SecretKey,
    packet: &[u8],
    format: PacketFormat,
) -> Result<AckMessage, EciesError> {
    let plaintext = open_packet(secret, packet, format)?;
    match format {
        PacketFormat::Eip8 => AckMessage::decode_eip8(&plaintext),
        PacketFormat::Legacy => AckMessage::decode_legacy(&plaintext),
    }
}

/// Recovers the signer of a 32-byte prehash from `r || s || v`, normalising high-S first
/// (libsecp256k1 peers accept high-S; k256 does not).
///
/// # Errors
///
/// [`EciesError::InvalidSignature`].
pub fn recover(prehash: &[u8; 32], signature: &[u8; 65]) -> Result<PublicKey, EciesError> {
    let sig = Signature::from_slice(&signature[..64]).map_err(|_| EciesError::InvalidSignature)?;
    let mut v = signature[64];
    let normalized = sig.normalize_s();
    if normalized != sig {
        v ^= 1;
    }
    let recid = RecoveryId::from_byte(v).ok_or(EciesError::InvalidSignature)?;
    let key = VerifyingKey::recover_from_prehash(prehash, &normalized, recid)
        .map_err(|_| EciesError::InvalidSignature)?;
    Ok(PublicKey::from(&key))
}

/// `a ^ b`.
pub fn xor32(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
        *o = x ^ y;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypt_decrypt_round_trip() {
        let key = crate::key::random_secret_key();
        let mut msg = Vec::new();
        encrypt(&key.public_key(), b"hello", b"ad", &mut msg);
        assert_eq!(msg.len(), ECIES_OVERHEAD + 5);
        assert_eq!(decrypt(&key, &msg, b"ad"), Ok(b"hello".to_vec()));
        assert_eq!(decrypt(&key, &msg, b""), Err(EciesError::TagMismatch));
        assert_eq!(
            decrypt(&key, &msg[..100], b"ad"),
            Err(EciesError::TooShort { got: 100, min: 113 })
        );
        let mut bad = msg.clone();
        bad[0] = 0x02;
        assert_eq!(
            decrypt(&key, &bad, b"ad"),
            Err(EciesError::InvalidPublicKey("ecies R"))
        );
    }

    #[test]
    fn keccak_is_not_sha3() {
        assert_eq!(
            hex::encode(keccak256(&[])),
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
    }
}
