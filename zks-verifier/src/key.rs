//! Verifier keys: loading, address derivation, and the verifier auth signature (`zks_2fa/1`,
//! and in-band on zks/3–4).
//!
//! An external node proves it holds a verifier key by signing
//! `keccak256(VERIFIER_AUTH_DOMAIN || nonce)` for a nonce the main node chose; the main node
//! recovers the address and checks it against its [`AcceptedSigners`].

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use k256::ecdsa::{RecoveryId, Signature, SigningKey, VerifyingKey};
use sha3::{Digest, Keccak256};
use zks_api::VERIFIER_AUTH_DOMAIN;
use zks_api::{AuthOutcome, ChallengeSigner, SignerAddress, SignerAuthenticator};

use crate::error::{SignatureError, VerifierKeyError};

/// Length of a recoverable secp256k1 signature: `r (32) || s (32) || v (1)`.
pub const RECOVERABLE_SIGNATURE_BYTES: usize = 65;

/// keccak256 of the concatenation of `parts`.
pub(crate) fn keccak256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Keccak256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// A verifier's secp256k1 signing key.
///
/// Neither [`Debug`](fmt::Debug) nor [`Display`](fmt::Display) prints the secret: both show
/// the [address](Self::address). The secret is zeroed when the key is dropped.
///
/// ```
/// use zks_verifier::VerifierKey;
///
/// let key = VerifierKey::from_hex(
///     "0x7726827caac94a7f9e1b160f7ea819f172f7b6f9d2a97f992c38edeab82d4110",
/// )?;
/// assert_eq!(key.to_string(), "0x36615cf349d7f6344891b1e7ca7c72883f5dc049");
/// assert!(!format!("{key:?}").contains("7726827c"));
/// # Ok::<_, zks_verifier::VerifierKeyError>(())
/// ```
#[derive(Clone)]
pub struct VerifierKey {
    signing: SigningKey,
    address: SignerAddress,
}

impl VerifierKey {
    /// A key from its 32-byte secret.
    ///
    /// # Errors
    ///
    /// [`VerifierKeyError::OutOfRange`] if the secret is zero or not below the curve order.
    pub fn from_bytes(secret: &[u8; 32]) -> Result<Self, VerifierKeyError> {
        let signing = SigningKey::from_slice(secret).map_err(|_| VerifierKeyError::OutOfRange)?;
        Ok(Self::from_signing_key(signing))
    }

    /// A key from 64 hex digits, with or without a `0x` prefix; surrounding whitespace is
    /// ignored.
    ///
    /// # Errors
    ///
    /// [`VerifierKeyError::NotHex`] or [`VerifierKeyError::OutOfRange`].
    pub fn from_hex(text: &str) -> Result<Self, VerifierKeyError> {
        let text = text.trim();
        let digits = text
            .strip_prefix("0x")
            .or_else(|| text.strip_prefix("0X"))
            .unwrap_or(text);
        let mut secret = [0u8; 32];
        hex::decode_to_slice(digits, &mut secret).map_err(|_| VerifierKeyError::NotHex)?;
        let key = Self::from_bytes(&secret);
        secret.fill(0);
        key
    }

    /// A key from a file holding its hex secret (as [`from_hex`](Self::from_hex)).
    ///
    /// # Errors
    ///
    /// [`VerifierKeyError::Read`] if the file cannot be read, else as [`from_hex`](Self::from_hex).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, VerifierKeyError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| VerifierKeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        let key = Self::from_hex(&text);
        // Best effort: do not leave the secret's hex in freed memory.
        let mut bytes = text.into_bytes();
        bytes.fill(0);
        key
    }

    /// A fresh key from the OS random number generator.
    pub fn generate() -> Self {
        loop {
            let secret: [u8; 32] = rand::random();
            if let Ok(key) = Self::from_bytes(&secret) {
                return key;
            }
        }
    }

    fn from_signing_key(signing: SigningKey) -> Self {
        let address = address_of(signing.verifying_key());
        Self { signing, address }
    }

    /// The key's address: the last 20 bytes of keccak256 of the uncompressed public key
    /// (without its `0x04` prefix).
    pub fn address(&self) -> SignerAddress {
        self.address
    }

    /// Signs a 32-byte prehash: `r || s || v` with `v = 27 + recovery id`, low-s normalised,
    /// deterministic nonce (RFC 6979).
    pub fn sign_prehash(&self, prehash: &[u8; 32]) -> [u8; RECOVERABLE_SIGNATURE_BYTES] {
        let (signature, recovery) = self.signing.sign_prehash_recoverable(prehash);
        // k256 normalises s while signing and flips the recovery id to match; normalise again
        // in case that ever changes, adjusting `v` the same way.
        let (signature, recovery) = match signature.normalize_s() {
            normalized if normalized == signature => (signature, recovery.to_byte()),
            normalized => (normalized, recovery.to_byte() ^ 1),
        };
        let mut out = [0u8; RECOVERABLE_SIGNATURE_BYTES];
        out[..64].copy_from_slice(&signature.to_bytes());
        out[64] = 27 + recovery;
        out
    }

    /// Signs a verifier challenge: [`sign_prehash`](Self::sign_prehash) over
    /// [`auth_prehash`]`(nonce)`.
    pub fn sign_auth(&self, nonce: &[u8; 32]) -> [u8; RECOVERABLE_SIGNATURE_BYTES] {
        self.sign_prehash(&auth_prehash(nonce))
    }
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifierKey")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.address, f)
    }
}

impl ChallengeSigner for VerifierKey {
    fn address(&self) -> SignerAddress {
        self.address
    }

    fn sign_challenge(&self, nonce: &[u8; 32]) -> [u8; 65] {
        self.sign_auth(nonce)
    }
}

/// What an external node signs to answer a challenge:
/// `keccak256(VERIFIER_AUTH_DOMAIN || nonce)`.
pub fn auth_prehash(nonce: &[u8; 32]) -> [u8; 32] {
    keccak256(&[VERIFIER_AUTH_DOMAIN, nonce])
}

/// The address that signed a challenge `nonce`, from `r || s || v` (v in {0, 1, 27, 28}).
///
/// # Errors
///
/// [`SignatureError`] if the signature is malformed or recovers to no key. A well-formed
/// signature by another key, or over another nonce, recovers to some other address: compare
/// the result with the signer you expect.
pub fn recover_auth_signer(
    nonce: &[u8; 32],
    signature: &[u8; RECOVERABLE_SIGNATURE_BYTES],
) -> Result<SignerAddress, SignatureError> {
    recover_prehash(&auth_prehash(nonce), signature)
}

/// The address that signed `prehash`, from `r || s || v` (v in {0, 1, 27, 28}).
///
/// # Errors
///
/// [`SignatureError::RecoveryByte`] for another `v`, [`SignatureError::HighS`] if `s` is not
/// normalised, [`SignatureError::Unrecoverable`] if `r`/`s` are out of range or no key
/// recovers.
pub fn recover_prehash(
    prehash: &[u8; 32],
    signature: &[u8; RECOVERABLE_SIGNATURE_BYTES],
) -> Result<SignerAddress, SignatureError> {
    let v = signature[64];
    let recovery = match v {
        0 | 1 => v,
        27 | 28 => v - 27,
        other => return Err(SignatureError::RecoveryByte(other)),
    };
    let recovery = RecoveryId::from_byte(recovery).ok_or(SignatureError::RecoveryByte(v))?;
    let parsed =
        Signature::from_slice(&signature[..64]).map_err(|_| SignatureError::Unrecoverable)?;
    if parsed.normalize_s() != parsed {
        return Err(SignatureError::HighS);
    }
    let key = VerifyingKey::recover_from_prehash(prehash, &parsed, recovery)
        .map_err(|_| SignatureError::Unrecoverable)?;
    Ok(address_of(&key))
}

/// The Ethereum-style address of a public key.
fn address_of(key: &VerifyingKey) -> SignerAddress {
    let point = key.to_sec1_point(false);
    let uncompressed = point.as_bytes();
    // An uncompressed SEC1 point is 0x04 || x || y; hash x || y.
    let hash = keccak256(&[uncompressed.get(1..).unwrap_or_default()]);
    let mut address = [0u8; 20];
    address.copy_from_slice(&hash[12..]);
    SignerAddress(address)
}

/// The set of verifier addresses a main node accepts.
///
/// As a [`SignerAuthenticator`] it answers `VerifierAuth`: the session is authorized iff the
/// signature recovers to a member.
///
/// ```
/// use zks_api::{AuthOutcome, SignerAuthenticator};
/// use zks_verifier::{AcceptedSigners, VerifierKey};
///
/// let key = VerifierKey::generate();
/// let accepted = AcceptedSigners::from_iter([key.address()]);
/// let nonce = [7u8; 32];
/// assert_eq!(
///     accepted.authenticate(&nonce, &key.sign_auth(&nonce)),
///     AuthOutcome::Authorized(key.address()),
/// );
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AcceptedSigners(BTreeSet<SignerAddress>);

impl AcceptedSigners {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `signer`; returns whether it was new.
    pub fn insert(&mut self, signer: SignerAddress) -> bool {
        self.0.insert(signer)
    }

    /// Whether `signer` is accepted.
    pub fn contains(&self, signer: &SignerAddress) -> bool {
        self.0.contains(signer)
    }

    /// How many signers are accepted.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no signer is accepted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The accepted signers, in address order.
    pub fn iter(&self) -> impl Iterator<Item = &SignerAddress> {
        self.0.iter()
    }
}

impl FromIterator<SignerAddress> for AcceptedSigners {
    fn from_iter<I: IntoIterator<Item = SignerAddress>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl Extend<SignerAddress> for AcceptedSigners {
    fn extend<I: IntoIterator<Item = SignerAddress>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

impl SignerAuthenticator for AcceptedSigners {
    fn authenticate(&self, nonce: &[u8; 32], signature: &[u8; 65]) -> AuthOutcome {
        match recover_auth_signer(nonce, signature) {
            Ok(signer) if self.contains(&signer) => AuthOutcome::Authorized(signer),
            Ok(signer) => AuthOutcome::Unauthorized(Some(signer)),
            Err(_) => AuthOutcome::Unauthorized(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `VerifierAuth` entry of the zks wire vectors.
    struct AuthVector {
        nonce: [u8; 32],
        prehash: [u8; 32],
        signature: [u8; 65],
        signer: SignerAddress,
        key_hex: String,
    }

    fn auth_vector() -> AuthVector {
        let text = include_str!("../../zks-wire/tests/vectors/zks-wire.json");
        let json: serde_json::Value = serde_json::from_str(text).unwrap();
        let entry = json["vectors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "VerifierAuth")
            .unwrap();
        let fields = &entry["fields"];
        let bytes = |name: &str| hex::decode(fields[name].as_str().unwrap()).unwrap();
        assert_eq!(
            fields["domain"].as_str().unwrap().as_bytes(),
            VERIFIER_AUTH_DOMAIN
        );
        AuthVector {
            nonce: bytes("nonce_hex").try_into().unwrap(),
            prehash: bytes("prehash_hex").try_into().unwrap(),
            signature: bytes("signature_hex").try_into().unwrap(),
            signer: SignerAddress(bytes("signer_address_hex").try_into().unwrap()),
            key_hex: fields["test_private_key_hex"].as_str().unwrap().to_owned(),
        }
    }

    #[test]
    fn auth_vector_prehash_matches() {
        let v = auth_vector();
        assert_eq!(auth_prehash(&v.nonce), v.prehash);
    }

    #[test]
    fn auth_vector_recovers_to_the_listed_address() {
        let v = auth_vector();
        assert_eq!(recover_auth_signer(&v.nonce, &v.signature), Ok(v.signer));
    }

    #[test]
    fn auth_vector_signing_reproduces_the_exact_bytes() {
        let v = auth_vector();
        let key = VerifierKey::from_hex(&v.key_hex).unwrap();
        assert_eq!(key.address(), v.signer);
        assert_eq!(key.sign_auth(&v.nonce), v.signature);
        assert_eq!(key.sign_challenge(&v.nonce), v.signature);
    }

    #[test]
    fn recovery_accepts_v_zero_and_one() {
        let v = auth_vector();
        let mut raw = v.signature;
        raw[64] -= 27;
        assert_eq!(recover_auth_signer(&v.nonce, &raw), Ok(v.signer));
    }

    #[test]
    fn recovery_rejects_other_v() {
        let v = auth_vector();
        for bad in [2u8, 26, 29, 255] {
            let mut raw = v.signature;
            raw[64] = bad;
            assert_eq!(
                recover_auth_signer(&v.nonce, &raw),
                Err(SignatureError::RecoveryByte(bad))
            );
        }
    }

    #[test]
    fn recovery_rejects_high_s() {
        let v = auth_vector();
        let low = Signature::from_slice(&v.signature[..64]).unwrap();
        // n - s is the high-s twin of the same signature.
        let high = Signature::from_scalars(low.r().to_bytes(), (-*low.s()).to_bytes()).unwrap();
        let mut raw = v.signature;
        raw[..64].copy_from_slice(&high.to_bytes());
        raw[64] = if raw[64] == 27 { 28 } else { 27 };
        assert_eq!(
            recover_auth_signer(&v.nonce, &raw),
            Err(SignatureError::HighS)
        );
    }

    #[test]
    fn recovery_rejects_zero_and_out_of_range_scalars() {
        let v = auth_vector();
        let mut zero = v.signature;
        zero[..64].fill(0);
        assert_eq!(
            recover_auth_signer(&v.nonce, &zero),
            Err(SignatureError::Unrecoverable)
        );
        let mut max = v.signature;
        max[..32].fill(0xff);
        assert_eq!(
            recover_auth_signer(&v.nonce, &max),
            Err(SignatureError::Unrecoverable)
        );
    }

    #[test]
    fn another_nonce_recovers_to_another_address() {
        let v = auth_vector();
        let other = recover_auth_signer(&[0x22; 32], &v.signature);
        assert_ne!(other, Ok(v.signer));
    }

    #[test]
    fn keys_load_from_hex_with_or_without_prefix_and_from_files() {
        let v = auth_vector();
        let plain = VerifierKey::from_hex(&v.key_hex).unwrap();
        let prefixed = VerifierKey::from_hex(&format!("0x{}\n", v.key_hex)).unwrap();
        assert_eq!(plain.address(), prefixed.address());
        let path = std::env::temp_dir().join(format!("zks-verifier-key-{}", std::process::id()));
        std::fs::write(&path, format!("  0x{}  \n", v.key_hex)).unwrap();
        let from_file = VerifierKey::from_file(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(from_file.address(), v.signer);
    }

    #[test]
    fn bad_keys_are_rejected_without_echoing_them() {
        assert!(matches!(
            VerifierKey::from_hex("12"),
            Err(VerifierKeyError::NotHex)
        ));
        assert!(matches!(
            VerifierKey::from_hex(&"zz".repeat(32)),
            Err(VerifierKeyError::NotHex)
        ));
        assert!(matches!(
            VerifierKey::from_hex(&"00".repeat(32)),
            Err(VerifierKeyError::OutOfRange)
        ));
        assert!(matches!(
            VerifierKey::from_hex(&"ff".repeat(32)),
            Err(VerifierKeyError::OutOfRange)
        ));
        let missing = VerifierKey::from_file("/nonexistent/zks-verifier-key");
        assert!(matches!(missing, Err(VerifierKeyError::Read { .. })));
    }

    #[test]
    fn debug_and_display_never_print_the_secret() {
        let v = auth_vector();
        let key = VerifierKey::from_hex(&v.key_hex).unwrap();
        for shown in [format!("{key:?}"), format!("{key:#?}"), key.to_string()] {
            assert!(!shown.contains(&v.key_hex), "{shown}");
            assert!(!shown.contains(&v.key_hex[..16]), "{shown}");
            assert!(
                shown.contains("36615cf349d7f6344891b1e7ca7c72883f5dc049"),
                "{shown}"
            );
        }
    }

    #[test]
    fn accepted_signers_authorize_members_only() {
        let member = VerifierKey::generate();
        let stranger = VerifierKey::generate();
        let accepted = AcceptedSigners::from_iter([member.address()]);
        let nonce = [9u8; 32];
        assert_eq!(
            accepted.authenticate(&nonce, &member.sign_auth(&nonce)),
            AuthOutcome::Authorized(member.address())
        );
        assert_eq!(
            accepted.authenticate(&nonce, &stranger.sign_auth(&nonce)),
            AuthOutcome::Unauthorized(Some(stranger.address()))
        );
        // A member's signature over another nonce (a replay) recovers to someone else.
        let replayed = member.sign_auth(&[1u8; 32]);
        assert!(matches!(
            accepted.authenticate(&nonce, &replayed),
            AuthOutcome::Unauthorized(Some(addr)) if addr != member.address()
        ));
        let mut garbage = [0u8; 65];
        garbage[64] = 27;
        assert_eq!(
            accepted.authenticate(&nonce, &garbage),
            AuthOutcome::Unauthorized(None)
        );
    }
}
