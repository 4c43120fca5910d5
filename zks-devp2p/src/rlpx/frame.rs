//! The RLPx frame codec: header, header-MAC, padded body, frame-MAC over two AES-256-CTR
//! streams (one per direction) and two running keccak MAC sponges.
//!
//! Sans-IO and allocation-conscious: [`FrameEncoder`] writes the frame straight into the
//! caller's output buffer and encrypts it in place; [`FrameDecoder`] splits the body off the
//! input buffer (no copy), checks its MAC, decrypts it in place and hands it back. The header is
//! processed exactly once (its size is kept in the decoder's state), because processing it twice
//! would advance the MAC and the cipher twice.
//!
//! After any error the codec is unusable: the stream is corrupt and the link must close.

use aes::Aes256;
use aes::cipher::{BlockEncrypt, KeyInit, KeyIvInit, StreamCipher};
use bytes::{Buf, BytesMut};
use keccak_asm::Digest as _;

use super::handshake::MacSponge;
use subtle::ConstantTimeEq;

use super::handshake::Secrets;
use crate::error::FrameError;

/// Frame header ciphertext length.
pub const HEADER_LEN: usize = 16;
/// MAC length (header-MAC and frame-MAC).
pub const MAC_LEN: usize = 16;
/// The largest frame-data size the 24-bit header field can carry.
pub const MAX_FRAME_DATA: usize = (1 << 24) - 1;

/// The unused header-data `[capability-id, context-id]` = RLP `[0, 0]`.
const HEADER_DATA: [u8; 3] = [0xc2, 0x80, 0x80];

type Aes256Ctr = ctr::Ctr128BE<Aes256>;

/// A running MAC: a keccak sponge plus AES-256 keyed by mac-secret.
#[derive(Clone)]
#[allow(clippy::large_enum_variant)] // the small variant exists only in unit tests
enum Mac {
    Real {
        sponge: MacSponge,
        cipher: Aes256,
        /// The digest of the sponge as it is, once computed (cleared by every absorb): a
        /// frame's header MAC starts from the digest the previous frame's MAC ended with, so
        /// each frame costs three keccak finalisations instead of four.
        digest: Option<[u8; 16]>,
    },
    /// geth's golden-frame stub: absorbs nothing, always digests to `01 × 32`.
    #[cfg(test)]
    Stub,
    /// Fuzzing builds only: absorbs nothing and accepts any MAC, so a fuzzer's frames get past
    /// the header MAC to the size checks and body handling behind it.
    #[cfg(fuzzing)]
    Unchecked,
}

impl Mac {
    fn new(sponge: MacSponge, mac_secret: &[u8; 32]) -> Self {
        Self::Real {
            sponge,
            cipher: Aes256::new(&(*mac_secret).into()),
            digest: None,
        }
    }

    fn digest16(&mut self) -> [u8; 16] {
        match self {
            Self::Real { sponge, digest, .. } => *digest.get_or_insert_with(|| {
                let full = sponge.clone().finalize();
                let mut d = [0u8; 16];
                d.copy_from_slice(&full[..16]);
                d
            }),
            #[cfg(test)]
            Self::Stub => [1; 16],
            #[cfg(fuzzing)]
            Self::Unchecked => [0; 16],
        }
    }

    fn encrypt(&self, block: &mut [u8; 16]) {
        match self {
            Self::Real { cipher, .. } => {
                let mut b = (*block).into();
                cipher.encrypt_block(&mut b);
                *block = b.into();
            }
            #[cfg(test)]
            Self::Stub => {}
            #[cfg(fuzzing)]
            Self::Unchecked => {}
        }
    }

    fn absorb(&mut self, data: &[u8]) {
        match self {
            Self::Real { sponge, digest, .. } => {
                *digest = None;
                sponge.update(data);
            }
            #[cfg(test)]
            Self::Stub => {}
            #[cfg(fuzzing)]
            Self::Unchecked => {}
        }
    }

    /// `seed = aes(D16) ^ header-ct; absorb(seed); D16`.
    fn header_mac(&mut self, header_ct: &[u8]) -> [u8; 16] {
        let mut seed = self.digest16();
        self.encrypt(&mut seed);
        for (s, c) in seed.iter_mut().zip(header_ct) {
            *s ^= c;
        }
        self.absorb(&seed);
        self.digest16()
    }

    /// `absorb(body-ct); d = D16; seed = aes(d) ^ d; absorb(seed); D16`.
    fn frame_mac(&mut self, body_ct: &[u8]) -> [u8; 16] {
        self.absorb(body_ct);
        let d = self.digest16();
        let mut seed = d;
        self.encrypt(&mut seed);
        for (s, x) in seed.iter_mut().zip(d) {
            *s ^= x;
        }
        self.absorb(&seed);
        self.digest16()
    }

    fn full_digest(&self) -> [u8; 32] {
        match self {
            Self::Real { sponge, .. } => sponge.clone().finalize().into(),
            #[cfg(test)]
            Self::Stub => [1; 32],
            #[cfg(fuzzing)]
            Self::Unchecked => [0; 32],
        }
    }

    /// Whether a received MAC is the expected one (constant time).
    fn matches(&self, expected: &[u8; 16], got: &[u8]) -> bool {
        #[cfg(fuzzing)]
        if matches!(self, Self::Unchecked) {
            return true;
        }
        // One constant-time comparison of the two 128-bit values, not sixteen of bytes.
        let Ok(got) = <[u8; 16]>::try_from(got) else {
            return false;
        };
        bool::from(u128::from_ne_bytes(*expected).ct_eq(&u128::from_ne_bytes(got)))
    }
}

fn ctr(aes_secret: &[u8; 32]) -> Aes256Ctr {
    Aes256Ctr::new(&(*aes_secret).into(), &[0u8; 16].into())
}

const fn padding(n: usize) -> usize {
    (16 - n % 16) % 16
}

/// The sending half of a frame stream.
pub struct FrameEncoder {
    cipher: Aes256Ctr,
    mac: Mac,
    max: usize,
}

impl std::fmt::Debug for FrameEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameEncoder")
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl FrameEncoder {
    /// Appends one frame to `out`; `write` appends the frame-data (`RLP(msg-id) || msg-data`)
    /// to the buffer it is given. Nothing is appended on error.
    ///
    /// # Errors
    ///
    /// [`FrameError::Empty`] for no data, [`FrameError::TooLarge`] above the cap.
    pub fn encode_with(
        &mut self,
        out: &mut BytesMut,
        write: impl FnOnce(&mut BytesMut),
    ) -> Result<(), FrameError> {
        let start = out.len();
        out.resize(start + HEADER_LEN + MAC_LEN, 0);
        write(out);
        let n = out.len() - start - HEADER_LEN - MAC_LEN;
        if n == 0 {
            out.truncate(start);
            return Err(FrameError::Empty);
        }
        if n > self.max {
            out.truncate(start);
            return Err(FrameError::TooLarge {
                got: n,
                max: self.max,
            });
        }
        out.resize(out.len() + padding(n), 0);
        let frame = out.get_mut(start..).unwrap_or_default();
        let (header, body) = frame.split_at_mut(HEADER_LEN + MAC_LEN);
        let (header_ct, header_mac) = header.split_at_mut(HEADER_LEN);
        // n ≤ 2^24 − 1 was checked above (max never exceeds MAX_FRAME_DATA).
        let size = (n as u32).to_be_bytes();
        header_ct[..3].copy_from_slice(&size[1..]);
        header_ct[3..6].copy_from_slice(&HEADER_DATA);
        header_ct[6..].fill(0);
        self.cipher.apply_keystream(header_ct);
        header_mac.copy_from_slice(&self.mac.header_mac(header_ct));
        self.cipher.apply_keystream(body);
        let frame_mac = self.mac.frame_mac(body);
        out.extend_from_slice(&frame_mac);
        Ok(())
    }

    /// Appends one frame carrying `frame_data`.
    ///
    /// # Errors
    ///
    /// As [`encode_with`](Self::encode_with).
    pub fn encode(&mut self, frame_data: &[u8], out: &mut BytesMut) -> Result<(), FrameError> {
        self.encode_with(out, |buf| buf.extend_from_slice(frame_data))
    }

    /// The largest frame-data this encoder writes.
    pub fn max_frame_size(&self) -> usize {
        self.max
    }

    /// Sets the largest frame-data this encoder writes (capped at 2^24 − 1).
    pub fn set_max_frame_size(&mut self, max: usize) {
        self.max = max.min(MAX_FRAME_DATA);
    }

    /// The digest of the running egress MAC (for tests against vectors).
    pub fn mac_digest(&self) -> [u8; 32] {
        self.mac.full_digest()
    }
}

/// The receiving half of a frame stream.
pub struct FrameDecoder {
    cipher: Aes256Ctr,
    mac: Mac,
    max: usize,
    /// The frame-data size of a header already processed, whose body is awaited.
    body_len: Option<usize>,
}

impl std::fmt::Debug for FrameDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameDecoder")
            .field("max", &self.max)
            .field("body_len", &self.body_len)
            .finish_non_exhaustive()
    }
}

impl FrameDecoder {
    /// Takes one frame off the front of `buf` if it is complete, returning its frame-data.
    /// `Ok(None)` means more bytes are needed (the buffer's capacity is grown to fit the body,
    /// once its size has been checked).
    ///
    /// # Errors
    ///
    /// [`FrameError::HeaderMacMismatch`], [`FrameError::BodyMacMismatch`],
    /// [`FrameError::TooLarge`], [`FrameError::Empty`]. The decoder is unusable afterwards.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        let n = match self.body_len {
            Some(n) => n,
            None => {
                let Some(header) = buf.get(..HEADER_LEN + MAC_LEN) else {
                    return Ok(None);
                };
                let (header_ct, header_mac) = header.split_at(HEADER_LEN);
                let expected = self.mac.header_mac(header_ct);
                if !self.mac.matches(&expected, header_mac) {
                    return Err(FrameError::HeaderMacMismatch);
                }
                let mut plain = [0u8; HEADER_LEN];
                plain.copy_from_slice(header_ct);
                self.cipher.apply_keystream(&mut plain);
                let n = u32::from_be_bytes([0, plain[0], plain[1], plain[2]]) as usize;
                if n == 0 {
                    return Err(FrameError::Empty);
                }
                if n > self.max {
                    return Err(FrameError::TooLarge {
                        got: n,
                        max: self.max,
                    });
                }
                buf.advance(HEADER_LEN + MAC_LEN);
                self.body_len = Some(n);
                n
            }
        };
        let padded = n + padding(n);
        let total = padded + MAC_LEN;
        if buf.len() < total {
            buf.reserve(total - buf.len());
            return Ok(None);
        }
        let mut body = buf.split_to(total);
        let (body_ct, frame_mac) = body.split_at_mut(padded);
        let expected = self.mac.frame_mac(body_ct);
        if !self.mac.matches(&expected, frame_mac) {
            return Err(FrameError::BodyMacMismatch);
        }
        self.cipher.apply_keystream(body_ct);
        body.truncate(n);
        self.body_len = None;
        Ok(Some(body))
    }

    /// The largest frame-data accepted.
    pub fn max_frame_size(&self) -> usize {
        self.max
    }

    /// Sets the largest frame-data accepted (capped at 2^24 − 1). Applies from the next header.
    pub fn set_max_frame_size(&mut self, max: usize) {
        self.max = max.min(MAX_FRAME_DATA);
    }

    /// The digest of the running ingress MAC (for tests against vectors).
    pub fn mac_digest(&self) -> [u8; 32] {
        self.mac.full_digest()
    }
}

/// Both halves of a session's frame stream.
#[derive(Debug)]
pub struct FrameCodec {
    /// Our sending half.
    pub encoder: FrameEncoder,
    /// Our receiving half.
    pub decoder: FrameDecoder,
}

impl FrameCodec {
    /// The codec of a completed handshake, accepting and writing frame-data up to `max` bytes.
    pub fn new(secrets: &Secrets, max: usize) -> Self {
        let max = max.min(MAX_FRAME_DATA);
        Self {
            encoder: FrameEncoder {
                cipher: ctr(&secrets.aes_secret),
                mac: Mac::new(secrets.egress_mac.clone(), &secrets.mac_secret),
                max,
            },
            decoder: FrameDecoder {
                cipher: ctr(&secrets.aes_secret),
                mac: Mac::new(secrets.ingress_mac.clone(), &secrets.mac_secret),
                max,
                body_len: None,
            },
        }
    }

    /// Fuzzing builds only (`--cfg fuzzing`): the codec of `secrets` whose decoder accepts any
    /// MAC, so a fuzzer reaches what lies behind the header MAC — the frame size, its checks
    /// against `max`, body buffering and truncation — with arbitrary headers.
    #[cfg(fuzzing)]
    pub fn unauthenticated(secrets: &Secrets, max: usize) -> Self {
        let mut codec = Self::new(secrets, max);
        codec.decoder.mac = Mac::Unchecked;
        codec
    }

    #[cfg(test)]
    fn stub(aes_secret: &[u8; 32]) -> Self {
        Self {
            encoder: FrameEncoder {
                cipher: ctr(aes_secret),
                mac: Mac::Stub,
                max: MAX_FRAME_DATA,
            },
            decoder: FrameDecoder {
                cipher: ctr(aes_secret),
                mac: Mac::Stub,
                max: MAX_FRAME_DATA,
                body_len: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geth_golden_frame_with_stub_mac() {
        let text = include_str!("../../tests/vectors/rlpx-frames.json");
        let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        let g = &v["official"]["geth_frame_golden"];
        let hex_of = |key: &str| hex::decode(g[key].as_str().unwrap_or("")).unwrap_or_default();
        let mut aes = [0u8; 32];
        aes.copy_from_slice(
            &hex::decode(g["setup"]["aes_secret"].as_str().unwrap_or("")).unwrap_or_default(),
        );
        let mut codec = FrameCodec::stub(&aes);
        let mut out = BytesMut::new();
        assert_eq!(
            codec.encoder.encode(&hex_of("frame_data"), &mut out),
            Ok(())
        );
        assert_eq!(hex::encode(&out), g["wire"].as_str().unwrap_or("?"));
        let decoded = codec.decoder.decode(&mut out);
        assert_eq!(
            decoded.map(|d| d.map(|d| d.to_vec())),
            Ok(Some(hex_of("frame_data")))
        );
        assert!(out.is_empty());
    }
}
