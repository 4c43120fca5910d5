//! The RLPx handshake as two sans-IO state machines: [`Initiator`] (dials) and [`Recipient`]
//! (accepts), ending in the session [`Secrets`].
//!
//! Bytes go in through `&mut BytesMut` in any fragmentation; a call returns `Ok(None)` while it
//! needs more. A completed step consumes exactly its packet and leaves whatever follows (the
//! peer's first frame may arrive in the same read) in the buffer.

use bytes::BytesMut;
use k256::{PublicKey, SecretKey};

use super::ecies::{
    self, AckMessage, AuthMessage, LEGACY_ACK_LEN, LEGACY_AUTH_LEN, MAX_HANDSHAKE_PACKET,
    PacketFormat,
};
use crate::enode::NodeId;
use crate::error::EciesError;
use crate::key::NodeKey;

/// The keccak-256 sponge the RLPx frame MACs run on (from the handshake to the last frame):
/// `keccak-asm` behind the `Digest` API — the MAC absorbs every byte of every frame, and keccak is
/// most of the framing cost. Its backend is chosen at build time by the target's CPU features:
/// CRYPTOGAMS' scalar assembly (as OpenSSL's) for generic x86-64, an AVX2 or AVX-512VL one when
/// the build targets a CPU with them (`-C target-cpu=native` on an AVX-512 Xeon: a link's CPU per
/// byte 0.72–0.80 × the generic build's). [`MAC_KECCAK_BACKEND`] names the one built in.
pub type MacSponge = keccak_asm::Keccak256;

/// The keccak backend [`MacSponge`] was built with (`keccak_asm::IMPL`): `keccak1600-x86_64` on a
/// generic x86-64 build, `keccak1600-avx512vl-rust` or `keccak1600-avx2-rust` when the build
/// targeted a CPU with those features. For logs and `zks --version`, so an operator can see which
/// one a binary runs.
pub const MAC_KECCAK_BACKEND: &str = keccak_asm::IMPL;

/// The session secrets and the initial MAC states, from a completed handshake.
#[derive(Clone)]
pub struct Secrets {
    /// The peer's static node id, authenticated by the handshake.
    pub remote_id: NodeId,
    /// `keccak256(ephemeral-key || keccak256(recipient-nonce || initiator-nonce))`.
    pub shared_secret: [u8; 32],
    /// The AES-256-CTR key of both frame streams.
    pub aes_secret: [u8; 32],
    /// The AES-256 key of the frame MACs.
    pub mac_secret: [u8; 32],
    /// Our egress MAC sponge.
    pub egress_mac: MacSponge,
    /// Our ingress MAC sponge.
    pub ingress_mac: MacSponge,
    /// The format the peer's handshake packet used.
    pub remote_format: PacketFormat,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("remote_id", &self.remote_id)
            .field("remote_format", &self.remote_format)
            .finish_non_exhaustive()
    }
}

impl Secrets {
    /// The digest of a clone of the egress MAC state (the state itself runs on).
    pub fn egress_mac_digest(&self) -> [u8; 32] {
        keccak_asm::Digest::finalize(self.egress_mac.clone()).into()
    }

    /// The digest of a clone of the ingress MAC state.
    pub fn ingress_mac_digest(&self) -> [u8; 32] {
        keccak_asm::Digest::finalize(self.ingress_mac.clone()).into()
    }

    #[allow(clippy::too_many_arguments)]
    fn derive(
        ephemeral: &SecretKey,
        remote_ephemeral: &PublicKey,
        initiator_nonce: &[u8; 32],
        recipient_nonce: &[u8; 32],
        auth_packet: &[u8],
        ack_packet: &[u8],
        we_initiated: bool,
        remote_id: NodeId,
        remote_format: PacketFormat,
    ) -> Self {
        let ek = ecies::ecdh_x(ephemeral, remote_ephemeral);
        let nonce_hash = ecies::keccak256(&[recipient_nonce, initiator_nonce]);
        let shared_secret = ecies::keccak256(&[&ek, &nonce_hash]);
        let aes_secret = ecies::keccak256(&[&ek, &shared_secret]);
        let mac_secret = ecies::keccak256(&[&ek, &aes_secret]);
        let sponge = |nonce: &[u8; 32], packet: &[u8]| {
            let mut k = <MacSponge as keccak_asm::Digest>::new();
            keccak_asm::Digest::update(&mut k, ecies::xor32(&mac_secret, nonce));
            keccak_asm::Digest::update(&mut k, packet);
            k
        };
        // A side's egress absorbs the packet it sent, XORed with the other side's nonce.
        let initiator_egress = sponge(recipient_nonce, auth_packet);
        let recipient_egress = sponge(initiator_nonce, ack_packet);
        let (egress_mac, ingress_mac) = if we_initiated {
            (initiator_egress, recipient_egress)
        } else {
            (recipient_egress, initiator_egress)
        };
        Self {
            remote_id,
            shared_secret,
            aes_secret,
            mac_secret,
            egress_mac,
            ingress_mac,
            remote_format,
        }
    }
}

/// Splits one handshake packet off the front of a stream (EIP-8 framing): a first byte
/// other than `04` means EIP-8; `04` means legacy if the fixed-size legacy packet decrypts,
/// EIP-8 otherwise.
#[derive(Debug, Default)]
struct PacketReader {
    legacy_ruled_out: bool,
}

impl PacketReader {
    fn take(
        &mut self,
        secret: &SecretKey,
        buf: &mut BytesMut,
        legacy_len: usize,
    ) -> Result<Option<(BytesMut, Vec<u8>, PacketFormat)>, EciesError> {
        let Some(prefix) = buf.get(..2) else {
            return Ok(None);
        };
        let size = usize::from(u16::from_be_bytes([prefix[0], prefix[1]]));
        if prefix[0] == 0x04 && !self.legacy_ruled_out {
            if buf.len() < legacy_len {
                return Ok(None);
            }
            if let Ok(plaintext) = ecies::decrypt(secret, &buf[..legacy_len], &[]) {
                let packet = buf.split_to(legacy_len);
                return Ok(Some((packet, plaintext, PacketFormat::Legacy)));
            }
            self.legacy_ruled_out = true;
        }
        if size > MAX_HANDSHAKE_PACKET {
            return Err(EciesError::PacketTooLarge {
                got: size,
                max: MAX_HANDSHAKE_PACKET,
            });
        }
        if buf.len() < 2 + size {
            return Ok(None);
        }
        let packet = buf.split_to(2 + size);
        let plaintext = ecies::open_packet(secret, &packet, PacketFormat::Eip8)?;
        Ok(Some((packet, plaintext, PacketFormat::Eip8)))
    }
}

/// The dialing side: sends auth, reads ack.
#[derive(Debug)]
pub struct Initiator {
    key: NodeKey,
    remote_id: NodeId,
    ephemeral: SecretKey,
    nonce: [u8; 32],
    auth_packet: Vec<u8>,
    reader: PacketReader,
}

impl Initiator {
    /// Starts a handshake with `remote`, with fresh randomness.
    ///
    /// # Errors
    ///
    /// [`EciesError::InvalidPublicKey`] when `remote` is not a curve point.
    pub fn new(key: &NodeKey, remote: NodeId) -> Result<Self, EciesError> {
        Self::with_randomness(
            key,
            remote,
            crate::key::random_secret_key(),
            crate::key::random_bytes(),
            ecies::random_padding(),
            &crate::key::random_secret_key(),
            crate::key::random_bytes(),
        )
    }

    /// [`new`](Self::new) with injected randomness (for vectors): the handshake ephemeral key,
    /// our nonce, the padding length and the ECIES ephemeral key and IV.
    ///
    /// # Errors
    ///
    /// [`EciesError::InvalidPublicKey`] when `remote` is not a curve point.
    pub fn with_randomness(
        key: &NodeKey,
        remote: NodeId,
        ephemeral: SecretKey,
        nonce: [u8; 32],
        padding: usize,
        ecies_ephemeral: &SecretKey,
        ecies_iv: [u8; 16],
    ) -> Result<Self, EciesError> {
        let remote_pub = remote
            .public_key()
            .map_err(|_| EciesError::InvalidPublicKey("remote node id"))?;
        let auth = AuthMessage::new(key.secret(), &remote_pub, &ephemeral, nonce);
        let mut body = Vec::with_capacity(175);
        auth.encode_body(&mut body);
        let auth_packet = ecies::seal_eip8(&remote_pub, &body, padding, ecies_ephemeral, ecies_iv);
        Ok(Self {
            key: key.clone(),
            remote_id: remote,
            ephemeral,
            nonce,
            auth_packet,
            reader: PacketReader::default(),
        })
    }

    /// The auth packet to send first.
    pub fn auth_packet(&self) -> &[u8] {
        &self.auth_packet
    }

    /// Feeds received bytes; once a whole ack is buffered, consumes it and returns the secrets.
    ///
    /// # Errors
    ///
    /// Any [`EciesError`]: the connection must be dropped.
    pub fn read_ack(&mut self, buf: &mut BytesMut) -> Result<Option<Secrets>, EciesError> {
        let Some((packet, plaintext, format)) =
            self.reader.take(self.key.secret(), buf, LEGACY_ACK_LEN)?
        else {
            return Ok(None);
        };
        let ack = match format {
            PacketFormat::Eip8 => AckMessage::decode_eip8(&plaintext)?,
            PacketFormat::Legacy => AckMessage::decode_legacy(&plaintext)?,
        };
        let remote_ephemeral = ack
            .ephemeral_id
            .public_key()
            .map_err(|_| EciesError::InvalidPublicKey("ack ephemeral key"))?;
        Ok(Some(Secrets::derive(
            &self.ephemeral,
            &remote_ephemeral,
            &self.nonce,
            &ack.nonce,
            &self.auth_packet,
            &packet,
            true,
            self.remote_id,
            format,
        )))
    }
}

/// The accepting side: reads auth, answers ack.
#[derive(Debug)]
pub struct Recipient {
    key: NodeKey,
    ephemeral: SecretKey,
    nonce: [u8; 32],
    padding: usize,
    ecies_ephemeral: SecretKey,
    ecies_iv: [u8; 16],
    reader: PacketReader,
}

/// What the recipient has once it has read the auth.
#[derive(Debug)]
pub struct Accepted {
    /// The ack packet to send.
    pub ack_packet: Vec<u8>,
    /// The session secrets.
    pub secrets: Secrets,
    /// The auth as received.
    pub auth: AuthMessage,
}

impl Recipient {
    /// Waits for an auth, with fresh randomness.
    pub fn new(key: &NodeKey) -> Self {
        Self::with_randomness(
            key,
            crate::key::random_secret_key(),
            crate::key::random_bytes(),
            ecies::random_padding(),
            crate::key::random_secret_key(),
            crate::key::random_bytes(),
        )
    }

    /// [`new`](Self::new) with injected randomness (for vectors).
    pub fn with_randomness(
        key: &NodeKey,
        ephemeral: SecretKey,
        nonce: [u8; 32],
        padding: usize,
        ecies_ephemeral: SecretKey,
        ecies_iv: [u8; 16],
    ) -> Self {
        Self {
            key: key.clone(),
            ephemeral,
            nonce,
            padding,
            ecies_ephemeral,
            ecies_iv,
            reader: PacketReader::default(),
        }
    }

    /// Feeds received bytes; once a whole auth is buffered, consumes it and returns the ack to
    /// send and the secrets. A legacy auth is answered with an EIP-8 ack (every maintained
    /// client reads EIP-8).
    ///
    /// # Errors
    ///
    /// Any [`EciesError`]: the connection must be dropped.
    pub fn read_auth(&mut self, buf: &mut BytesMut) -> Result<Option<Accepted>, EciesError> {
        let Some((packet, plaintext, format)) =
            self.reader.take(self.key.secret(), buf, LEGACY_AUTH_LEN)?
        else {
            return Ok(None);
        };
        let auth = match format {
            PacketFormat::Eip8 => AuthMessage::decode_eip8(&plaintext)?,
            PacketFormat::Legacy => AuthMessage::decode_legacy(&plaintext)?,
        };
        let remote_ephemeral = auth.recover_ephemeral(self.key.secret())?;
        let initiator_pub = auth
            .initiator_id
            .public_key()
            .map_err(|_| EciesError::InvalidPublicKey("auth initiator id"))?;
        let ack = AckMessage {
            ephemeral_id: NodeId::from_public_key(&self.ephemeral.public_key()),
            nonce: self.nonce,
            version: ecies::HANDSHAKE_VERSION,
            extra: Vec::new(),
        };
        let mut body = Vec::with_capacity(110);
        ack.encode_body(&mut body);
        let ack_packet = ecies::seal_eip8(
            &initiator_pub,
            &body,
            self.padding,
            &self.ecies_ephemeral,
            self.ecies_iv,
        );
        let secrets = Secrets::derive(
            &self.ephemeral,
            &remote_ephemeral,
            &auth.nonce,
            &self.nonce,
            &packet,
            &ack_packet,
            false,
            auth.initiator_id,
            format,
        );
        Ok(Some(Accepted {
            ack_packet,
            secrets,
            auth,
        }))
    }
}

/// Derives secrets from known packets and keys, for vector tests of the key schedule.
///
/// `we_initiated` selects which side's MAC states are returned.
#[allow(clippy::too_many_arguments)]
pub fn derive_secrets(
    ephemeral: &SecretKey,
    remote_ephemeral: &PublicKey,
    initiator_nonce: &[u8; 32],
    recipient_nonce: &[u8; 32],
    auth_packet: &[u8],
    ack_packet: &[u8],
    we_initiated: bool,
    remote_id: NodeId,
) -> Secrets {
    Secrets::derive(
        ephemeral,
        remote_ephemeral,
        initiator_nonce,
        recipient_nonce,
        auth_packet,
        ack_packet,
        we_initiated,
        remote_id,
        PacketFormat::Eip8,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_memory_handshake_agrees() {
        let a = NodeKey::generate();
        let b = NodeKey::generate();
        let Ok(mut init) = Initiator::new(&a, b.id()) else {
            panic!("valid id")
        };
        assert!(init.auth_packet().len() >= 307 + 77);
        let mut resp = Recipient::new(&b);
        let mut wire = BytesMut::from(init.auth_packet());
        wire.extend_from_slice(b"first frame");
        let accepted = resp.read_auth(&mut wire);
        let Ok(Some(accepted)) = accepted else {
            panic!("auth: {accepted:?}")
        };
        assert_eq!(&wire[..], b"first frame");
        let mut wire = BytesMut::from(&accepted.ack_packet[..]);
        let Ok(Some(secrets_a)) = init.read_ack(&mut wire) else {
            panic!("ack")
        };
        let secrets_b = accepted.secrets;
        assert_eq!(secrets_a.remote_id, b.id());
        assert_eq!(secrets_b.remote_id, a.id());
        assert_eq!(secrets_a.aes_secret, secrets_b.aes_secret);
        assert_eq!(
            secrets_a.egress_mac_digest(),
            secrets_b.ingress_mac_digest()
        );
        assert_eq!(
            secrets_a.ingress_mac_digest(),
            secrets_b.egress_mac_digest()
        );
    }

    #[test]
    fn rejects_oversized_prefix() {
        let b = NodeKey::generate();
        let mut resp = Recipient::new(&b);
        let mut wire = BytesMut::from(&b"hello garbage"[..]);
        assert_eq!(
            resp.read_auth(&mut wire).map(|a| a.is_some()),
            Err(EciesError::PacketTooLarge {
                got: 0x6865,
                max: 2048
            })
        );
    }
}
