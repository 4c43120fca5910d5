//! The framing floor: the single-core cost of what RLPx does to every byte of a zks message
//! (Snappy compress + AES-256-CTR + keccak MAC on send; keccak MAC + AES-256-CTR + Snappy
//! decompress on receive), on the exact `BlockReplays` bodies the engine sends.
//!
//! Measured with the primitives alone (the same `aes`, `ctr`, `snap` crates, and keccak from
//! both `keccak-asm` — what zks-devp2p uses — and `sha3`; the physical floor is the faster) and
//! through zks-devp2p's own sans-IO codec (`FrameCodec` sealing and
//! opening frames of a session set up by an in-memory handshake, `P2pSession` compressing and
//! decompressing), so codec overhead shows as the gap between the two.

use std::time::{Duration, Instant};

use aes::Aes256;
use aes::cipher::{BlockEncrypt, KeyInit, KeyIvInit, StreamCipher};
use bytes::BytesMut;
use sha3::{Digest, Keccak256};
use zks_api::engine::ReplayCursor;
use zks_api::wire::{Frame, GetBlockReplays, VersionSet, ZksVersion};
use zks_api::{RawRecord, ReplayRecord};
use zks_devp2p::NodeKey;
use zks_devp2p::p2p::{P2pEvent, P2pSession};
use zks_devp2p::rlpx::{FrameCodec, FrameDecoder, FrameEncoder, Initiator, Recipient};

use crate::BenchError;
use crate::report::FloorRow;
use crate::stats::mib_per_s;
use crate::throughput::BATCH;

type Aes256Ctr = ctr::Ctr128BE<Aes256>;

/// The `BlockReplays` frames the engine sends for `records`, 64 records each.
///
/// # Errors
///
/// [`BenchError::Codec`] if the records are not contiguous.
pub fn replay_frames<R: ReplayRecord>(records: &[R]) -> Result<Vec<Frame>, BenchError> {
    replay_frames_per(records, BATCH)
}

/// [`replay_frames`] with `per_message` records per message.
///
/// # Errors
///
/// [`BenchError::Codec`] if the records are not contiguous.
pub(crate) fn replay_frames_per<R: ReplayRecord>(
    records: &[R],
    per_message: usize,
) -> Result<Vec<Frame>, BenchError> {
    let per_message = per_message.max(1);
    let mut cursor = ReplayCursor::new(
        ZksVersion::V3,
        GetBlockReplays {
            starting_block: records.first().map_or(0, ReplayRecord::block_number),
            record_overrides: Vec::new(),
            max_blocks_per_message: Some(per_message as u64),
        },
    );
    records
        .chunks(per_message)
        .map(|chunk| {
            cursor
                .encode_next(chunk)
                .map_err(|e| BenchError::codec("encode BlockReplays", e))
        })
        .collect()
}

/// Send-side and receive-side time over a set of messages.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FloorTimes {
    pub(crate) send: Duration,
    pub(crate) recv: Duration,
    /// Compressed bytes / uncompressed bytes.
    pub(crate) compression: f64,
    /// The part of `send` spent compressing (a main node does it once for every EN at the
    /// same place).
    pub(crate) compress: Duration,
    /// The thread's CPU time over the whole loop (send, receive and the round-trip check):
    /// unlike `send + recv` (wall clock), it does not grow when a neighbour takes the core.
    pub(crate) cpu: Duration,
}

/// A keccak-256 sponge, whichever crate computes it: the floor is measured with each.
pub(crate) trait Sponge: Clone {
    /// An empty sponge.
    fn fresh() -> Self;
    /// Absorbs `data`.
    fn absorb(&mut self, data: &[u8]);
    /// The first 16 bytes of the digest of a copy of the state.
    fn digest16(&self) -> [u8; 16];
}

/// RustCrypto's pure-Rust keccak.
impl Sponge for Keccak256 {
    fn fresh() -> Self {
        Self::new()
    }
    fn absorb(&mut self, data: &[u8]) {
        self.update(data);
    }
    fn digest16(&self) -> [u8; 16] {
        let full = self.clone().finalize();
        let mut d = [0u8; 16];
        d.copy_from_slice(&full[..16]);
        d
    }
}

/// `keccak-asm` (its backend as built: `keccak_asm::IMPL`), what zks-devp2p's MAC runs on.
impl Sponge for zks_devp2p::rlpx::MacSponge {
    fn fresh() -> Self {
        <Self as keccak_asm::Digest>::new()
    }
    fn absorb(&mut self, data: &[u8]) {
        keccak_asm::Digest::update(self, data);
    }
    fn digest16(&self) -> [u8; 16] {
        let full = keccak_asm::Digest::finalize(self.clone());
        let mut d = [0u8; 16];
        d.copy_from_slice(&full[..16]);
        d
    }
}

/// A running keccak MAC as RLPx keeps it: sponge plus an AES-256 block cipher for the seeds.
struct Mac<S> {
    sponge: S,
    cipher: Aes256,
    /// The digest the last frame's MAC ended with: the next header MAC starts from it, as in
    /// zks-devp2p (three keccak finalisations per frame, not four).
    last: Option<[u8; 16]>,
}

impl<S: Sponge> Mac<S> {
    fn new() -> Self {
        Self {
            sponge: S::fresh(),
            cipher: Aes256::new(&[7u8; 32].into()),
            last: None,
        }
    }

    fn digest16(&self) -> [u8; 16] {
        self.sponge.digest16()
    }

    /// The header MAC then the frame MAC over `body`: three digests per frame, as zks-devp2p
    /// computes them (the header's seed is the previous frame's final digest).
    fn frame(&mut self, header: &[u8; 16], body: &[u8]) -> [u8; 16] {
        let start = self.last.take().unwrap_or_else(|| self.digest16());
        let mut seed = start.into();
        self.cipher.encrypt_block(&mut seed);
        let mut seed: [u8; 16] = seed.into();
        for (s, h) in seed.iter_mut().zip(header) {
            *s ^= h;
        }
        self.sponge.absorb(&seed);
        // The header MAC goes on the wire: it is computed, whatever the floor does with it.
        std::hint::black_box(self.digest16());
        self.sponge.absorb(body);
        let d = self.digest16();
        let mut seed = d.into();
        self.cipher.encrypt_block(&mut seed);
        let mut seed: [u8; 16] = seed.into();
        for (s, x) in seed.iter_mut().zip(d) {
            *s ^= x;
        }
        self.sponge.absorb(&seed);
        let tag = self.digest16();
        self.last = Some(tag);
        tag
    }
}

/// The primitives floor, over `frames`, repeated `reps` times (one core, one thread), with the
/// MAC's keccak from `S`.
pub(crate) fn primitives<S: Sponge>(
    frames: &[Frame],
    reps: usize,
) -> Result<FloorTimes, BenchError> {
    let mut encoder = snap::raw::Encoder::new();
    let mut decoder = snap::raw::Decoder::new();
    let mut send_ctr = Aes256Ctr::new(&[1u8; 32].into(), &[0u8; 16].into());
    let mut recv_ctr = Aes256Ctr::new(&[1u8; 32].into(), &[0u8; 16].into());
    let (mut send_mac, mut recv_mac) = (Mac::<S>::new(), Mac::<S>::new());
    let max = frames.iter().map(|f| f.body.len()).max().unwrap_or(0);
    let mut wire = vec![0u8; snap::raw::max_compress_len(max) + 16];
    // Bodies over 64 KiB: zks-devp2p's whole-body window (snap's blocks are 64 KiB).
    let mut wide = zks_devp2p::p2p::snappy::WideCompressor::new();
    let mut wide_wire = BytesMut::new();
    let mut plain = vec![0u8; max];
    let (mut send, mut recv, mut compress) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let (mut raw_bytes, mut compressed_bytes) = (0u64, 0u64);
    let cpu0 = crate::stats::thread_cpu_time();
    for _ in 0..reps {
        for frame in frames {
            let t = Instant::now();
            let (n, wire) = if frame.body.len() > zks_devp2p::p2p::snappy::WIDE_ABOVE {
                wide_wire.clear();
                wide.compress(&frame.body, &mut wide_wire);
                let n = wide_wire.len();
                wide_wire.resize(n.div_ceil(16) * 16, 0);
                (n, &mut wide_wire[..])
            } else {
                let n = encoder
                    .compress(&frame.body, &mut wire)
                    .map_err(|e| BenchError::codec("floor snappy", e))?;
                (n, &mut wire[..])
            };
            compress += t.elapsed();
            let padded = n.div_ceil(16) * 16;
            let mut header = [0u8; 16];
            send_ctr.apply_keystream(&mut header);
            send_ctr.apply_keystream(&mut wire[..padded]);
            let tag = send_mac.frame(&header, &wire[..padded]);
            send += t.elapsed();

            let t = Instant::now();
            let check = recv_mac.frame(&header, &wire[..padded]);
            if check != tag {
                return Err(BenchError::codec("floor", "MAC mismatch"));
            }
            let mut h = header;
            recv_ctr.apply_keystream(&mut h);
            recv_ctr.apply_keystream(&mut wire[..padded]);
            let m = decoder
                .decompress(&wire[..n], &mut plain)
                .map_err(|e| BenchError::codec("floor snappy", e))?;
            recv += t.elapsed();
            if plain[..m] != frame.body[..] {
                return Err(BenchError::codec("floor", "round trip mismatch"));
            }
            raw_bytes += frame.body.len() as u64;
            compressed_bytes += n as u64;
        }
    }
    Ok(FloorTimes {
        send,
        recv,
        compression: compressed_bytes as f64 / raw_bytes.max(1) as f64,
        compress,
        cpu: crate::stats::thread_cpu_time().saturating_sub(cpu0),
    })
}

/// Both ends of an RLPx session after an in-memory handshake and Hello exchange: side a
/// seals, side b opens.
pub struct Session {
    sealer: Sealer,
    opener: Opener,
}

/// Side a's sending half of a [`Session`]: compress and frame.
pub struct Sealer {
    encoder: FrameEncoder,
    session: P2pSession,
}

/// Side b's receiving half of a [`Session`]: MAC check, decrypt, decompress.
pub struct Opener {
    decoder: FrameDecoder,
    session: P2pSession,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opener").finish_non_exhaustive()
    }
}

impl Sealer {
    /// Seals `frame` (compress + frame) onto `out`.
    pub fn seal(&mut self, frame: &Frame, out: &mut BytesMut) -> Result<(), BenchError> {
        let session = &mut self.session;
        self.encoder
            .encode_with(out, |buf| session.write_zks(frame, buf))
            .map_err(|e| BenchError::codec("seal", e))
    }
}

impl Opener {
    /// Opens the frame at the front of `wire`, or `None` while it is incomplete.
    pub fn open(&mut self, wire: &mut BytesMut) -> Result<Option<Frame>, BenchError> {
        let Some(data) = self
            .decoder
            .decode(wire)
            .map_err(|e| BenchError::codec("open", e))?
        else {
            return Ok(None);
        };
        match self.session.handle(&data) {
            Ok(P2pEvent::Zks(frame)) => Ok(Some(frame)),
            Ok(other) => Err(BenchError::codec("open", format!("unexpected {other:?}"))),
            Err(e) => Err(BenchError::codec("open", e)),
        }
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").finish_non_exhaustive()
    }
}

impl Session {
    /// Runs the ECIES handshake and the Hello exchange between two fresh keys, in memory.
    pub fn new() -> Result<Self, BenchError> {
        let err = |e: &dyn std::fmt::Display| BenchError::codec("in-memory handshake", e);
        let (ka, kb) = (NodeKey::generate(), NodeKey::generate());
        let mut init = Initiator::new(&ka, kb.id()).map_err(|e| err(&e))?;
        let mut resp = Recipient::new(&kb);
        let mut wire = BytesMut::from(init.auth_packet());
        let accepted = resp
            .read_auth(&mut wire)
            .map_err(|e| err(&e))?
            .ok_or_else(|| err(&"auth incomplete"))?;
        let mut wire = BytesMut::from(&accepted.ack_packet[..]);
        let secrets_a = init
            .read_ack(&mut wire)
            .map_err(|e| err(&e))?
            .ok_or_else(|| err(&"ack incomplete"))?;
        let max = zks_devp2p::rlpx::MAX_FRAME_DATA;
        let caps = zks_devp2p::caps::zks_capabilities(VersionSet::ALL);
        let hello_a = P2pSession::hello_for(ka.id(), "bench-a", &caps, 0);
        let hello_b = P2pSession::hello_for(kb.id(), "bench-b", &caps, 0);
        let mut a = (
            FrameCodec::new(&secrets_a, max),
            P2pSession::new(hello_a, caps.clone(), kb.id()),
        );
        let mut b = (
            FrameCodec::new(&accepted.secrets, max),
            P2pSession::new(hello_b, caps, ka.id()),
        );
        hello(&mut a, &mut b)?;
        hello(&mut b, &mut a)?;
        Ok(Self {
            sealer: Sealer {
                encoder: a.0.encoder,
                session: a.1,
            },
            opener: Opener {
                decoder: b.0.decoder,
                session: b.1,
            },
        })
    }

    /// Side a's sending half and side b's receiving half, to drive from two tasks.
    pub fn split(self) -> (Sealer, Opener) {
        (self.sealer, self.opener)
    }

    /// Seals `frame` on side a (compress + frame) into `out`.
    pub fn seal(&mut self, frame: &Frame, out: &mut BytesMut) -> Result<(), BenchError> {
        self.sealer.seal(frame, out)
    }

    /// Opens one frame from `wire` on side b (MAC check, decrypt, decompress).
    pub fn open(&mut self, wire: &mut BytesMut) -> Result<Frame, BenchError> {
        self.opener
            .open(wire)?
            .ok_or_else(|| BenchError::codec("open", "frame incomplete"))
    }
}

/// Sends `from`'s Hello to `to`, which must accept it.
fn hello(
    from: &mut (FrameCodec, P2pSession),
    to: &mut (FrameCodec, P2pSession),
) -> Result<(), BenchError> {
    let err = |e: &dyn std::fmt::Display| BenchError::codec("in-memory Hello", e);
    let mut out = BytesMut::new();
    let session = &from.1;
    from.0
        .encoder
        .encode_with(&mut out, |buf| session.write_hello(buf))
        .map_err(|e| err(&e))?;
    let data =
        to.0.decoder
            .decode(&mut out)
            .map_err(|e| err(&e))?
            .ok_or_else(|| err(&"hello frame incomplete"))?;
    match to.1.handle(&data).map_err(|e| err(&e))? {
        P2pEvent::Hello => Ok(()),
        other => Err(err(&format!("expected Hello, got {other:?}"))),
    }
}

/// The floor through zks-devp2p's own codec, over `frames`, repeated `reps` times.
pub(crate) fn codec(frames: &[Frame], reps: usize) -> Result<FloorTimes, BenchError> {
    let mut session = Session::new()?;
    let mut wire = BytesMut::new();
    let (mut send, mut recv) = (Duration::ZERO, Duration::ZERO);
    let (mut raw_bytes, mut wire_bytes) = (0u64, 0u64);
    for _ in 0..reps {
        for frame in frames {
            wire.clear();
            let t = Instant::now();
            session.seal(frame, &mut wire)?;
            send += t.elapsed();
            wire_bytes += wire.len() as u64;
            let t = Instant::now();
            let got = session.open(&mut wire)?;
            recv += t.elapsed();
            if got.body != frame.body {
                return Err(BenchError::codec("codec floor", "round trip mismatch"));
            }
            raw_bytes += frame.body.len() as u64;
        }
    }
    Ok(FloorTimes {
        send,
        recv,
        compression: wire_bytes as f64 / raw_bytes.max(1) as f64,
        // Inside the codec's send; the primitives floor reports it.
        compress: Duration::ZERO,
        cpu: send + recv,
    })
}

/// Payload bytes carried by `records`.
pub(crate) fn payload_bytes(records: &[RawRecord]) -> u64 {
    records.iter().map(|r| r.payload.len() as u64).sum()
}

/// The floor row for `records` sent `per_message` to a message: the primitives with each keccak
/// (the faster is the floor) and the codec, `reps` times over, off the async threads.
///
/// # Errors
///
/// [`BenchError::Codec`] if the records are not contiguous or a codec rejects its own bytes.
pub(crate) async fn measure(
    records: &[RawRecord],
    per_message: usize,
    reps: usize,
) -> Result<FloorRow, BenchError> {
    let record_bytes = records.first().map_or(0, |r| r.payload.len());
    let frames = replay_frames_per(records, per_message)?;
    let bytes = payload_bytes(records) * reps as u64;
    let (asm, pure, codec) = tokio::task::spawn_blocking(move || {
        Ok::<_, BenchError>((
            primitives::<zks_devp2p::rlpx::MacSponge>(&frames, reps)?,
            primitives::<Keccak256>(&frames, reps)?,
            codec(&frames, reps)?,
        ))
    })
    .await
    .map_err(BenchError::task("framing floor"))??;
    let floor_of = |t: &FloorTimes| mib_per_s(bytes, t.send).min(mib_per_s(bytes, t.recv));
    let sha3_floor = floor_of(&pure);
    // The floor is the fastest keccak measured.
    let (prim, keccak) = if floor_of(&asm) >= sha3_floor {
        (asm, "keccak-asm")
    } else {
        (pure, "sha3")
    };
    let send = mib_per_s(bytes, prim.send);
    let recv = mib_per_s(bytes, prim.recv);
    Ok(FloorRow {
        record_bytes,
        per_message,
        send_mib_per_s: send,
        recv_mib_per_s: recv,
        floor_mib_per_s: send.min(recv),
        serial_mib_per_s: mib_per_s(bytes, prim.send + prim.recv),
        cpu_ms_per_mib: ms_per_mib(prim.cpu, bytes),
        compress_ms_per_mib: ms_per_mib(prim.compress, bytes),
        codec_send_mib_per_s: mib_per_s(bytes, codec.send),
        codec_recv_mib_per_s: mib_per_s(bytes, codec.recv),
        compression: prim.compression,
        keccak,
        sha3_floor_mib_per_s: sha3_floor,
    })
}

fn ms_per_mib(t: Duration, bytes: u64) -> f64 {
    crate::stats::ratio(t.as_secs_f64() * 1e3, bytes as f64 / f64::from(1 << 20))
}
