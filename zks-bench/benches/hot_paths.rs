//! Criterion benches of the per-byte hot paths: RLPx frame seal/open (zks-devp2p's codec with
//! Snappy), zks `BlockReplays` encode (MN) and decode + validate (EN), and Snappy alone.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use bytes::BytesMut;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use zks_api::engine::{EnAction, EnSession, ReplayRequest, SessionTimeouts};
use zks_api::wire::ZksVersion;
use zks_api::{RawRecord, ReplayRecord};
use zks_bench::hot::{Payloads, Session, replay_frames};

const SIZES: [(usize, &str); 2] = [(256, "256B"), (16 * 1024, "16KiB")];

fn records(len: usize) -> Vec<RawRecord> {
    Payloads::new(42).records(0, 64, len)
}

fn frame_seal_open(c: &mut Criterion) {
    let mut g = c.benchmark_group("rlpx_frame");
    for (len, name) in SIZES {
        let frame = replay_frames(&records(len)).unwrap().remove(0);
        g.throughput(Throughput::Bytes(frame.body.len() as u64));
        let mut session = Session::new().unwrap();
        let mut wire = BytesMut::new();
        g.bench_function(format!("seal_open_{name}x64"), |b| {
            b.iter(|| {
                wire.clear();
                session.seal(&frame, &mut wire).unwrap();
                session.open(&mut wire).unwrap()
            });
        });
    }
    g.finish();
}

fn block_replays(c: &mut Criterion) {
    let mut g = c.benchmark_group("block_replays");
    for (len, name) in SIZES {
        let recs = records(len);
        let bytes: u64 = recs.iter().map(|r| r.payload.len() as u64).sum();
        g.throughput(Throughput::Bytes(bytes));
        g.bench_function(format!("encode_{name}x64"), |b| {
            b.iter(|| replay_frames(&recs).unwrap());
        });
        let frame = replay_frames(&recs).unwrap().remove(0);
        let epoch = std::time::Instant::now();
        g.bench_function(format!("decode_validate_{name}x64"), |b| {
            b.iter_batched(
                || {
                    let mut s = EnSession::<RawRecord>::new(
                        ZksVersion::V3,
                        Some(ReplayRequest {
                            starting_block: 0,
                            record_overrides: vec![],
                            max_blocks_per_message: 64,
                        }),
                        false,
                        SessionTimeouts::default(),
                        epoch,
                    );
                    while s.poll_outbound().is_some() {}
                    s
                },
                |mut s| match s.handle_frame(&frame, epoch).unwrap() {
                    EnAction::Records(r) => r.last().map(ReplayRecord::block_number),
                    _ => None,
                },
                BatchSize::SmallInput,
            );
        });
    }
    g.finish();
}

fn snappy(c: &mut Criterion) {
    let mut g = c.benchmark_group("snappy");
    for (len, name) in SIZES {
        let body = replay_frames(&records(len)).unwrap().remove(0).body;
        g.throughput(Throughput::Bytes(body.len() as u64));
        let mut enc = snap::raw::Encoder::new();
        let mut out = vec![0u8; snap::raw::max_compress_len(body.len())];
        g.bench_function(format!("compress_{name}x64"), |b| {
            b.iter(|| enc.compress(&body, &mut out).unwrap());
        });
        let n = enc.compress(&body, &mut out).unwrap();
        let compressed = out[..n].to_vec();
        let mut dec = snap::raw::Decoder::new();
        let mut plain = vec![0u8; body.len()];
        g.bench_function(format!("decompress_{name}x64"), |b| {
            b.iter(|| dec.decompress(&compressed, &mut plain).unwrap());
        });
    }
    g.finish();
}

criterion_group!(benches, frame_seal_open, block_replays, snappy);
criterion_main!(benches);
