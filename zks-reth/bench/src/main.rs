//! # Benchmark runner: reth's own RLPx stack, one way over TCP
//!
//! `reth-rlpx-bench` measures what reth v2.5.0's RLPx stack costs to move messages one way:
//! `reth_ecies::stream::ECIESStream` (AES-256-CTR, keccak MAC) under
//! `reth_eth_wire::P2PStream` (snappy on, `p2p` v5), both ends in this process on a TCP link over
//! 127.0.0.1, so that zks' own RLPx implementation can be laid beside it. Another program runs it
//! as a child process and parses its one line of JSON; the command line and that line are a
//! contract.
//!
//! ## What it does
//!
//! 1. Reads the bodies file, prebuilds one message per body (id byte + body, a `Bytes` cloned
//!    per send) and the plan: bodies in order, cycling, until at least `N` MiB (`N * 1048576`
//!    body bytes) are sent; the message count is the smallest that reaches it.
//! 2. On a tokio multi-thread runtime of `W` workers: binds 127.0.0.1:0, dials it,
//!    `TCP_NODELAY` on both sockets (all reth sets), fresh secp256k1 keys,
//!    `ECIESStream::connect` on the dialer and `ECIESStream::incoming` on the listener, then
//!    `UnauthedP2PStream::handshake` on both with a Hello advertising one capability `zks/5`
//!    (3 messages, or as many as `ID` needs) → `P2PStream`.
//! 3. Spawns the receiver (the listener's end) and the sender (the dialer's end) as tokio tasks.
//!    The sender `feed`s one message per call ("reth: P2PStream feed"), then flushes once. The
//!    receiver reads until all body bytes are in, checking each message's id byte and length
//!    against what was sent in that place.
//! 4. Timed span: from just before the first feed (in the sender) to the receipt of the last
//!    message (in the receiver). CPU: `getrusage(RUSAGE_SELF)` user + system over the same span
//!    (both ends are this process).
//!
//! The message id: `ID` is the wire id (0x12 = capability offset 0x10 + message 2). reth v2.5.0's
//! `P2PStream` takes and gives ids relative to the offset (its `start_send` adds 0x10), so the
//! byte before each body in the prebuilt `Bytes` is `ID - 0x10`.
//!
//! What P2PStream does per feed: `poll_ready` drains its queue of compressed frames into the
//! ECIES `Framed` (encrypted there, unflushed) only once the queue holds two; `start_send`
//! snappy-compresses and queues. The `Framed` writes its whole buffer to the socket (from its
//! `poll_ready`) whenever that holds 64 KiB or more (reth's `DEFAULT_BACKPRESSURE_BOUNDARY`;
//! tokio-util's default is 8 KiB). So no flush per message: writes of 64 KiB and more, and the
//! final flush sends the rest.
//!
//! ## Contract
//!
//! `reth-rlpx-bench --bodies FILE [--mib N] [--workers W] [--id ID]`
//!
//! - `FILE`: `[u32 little-endian length][length bytes]`, repeated; read whole. Over 1 GiB, a
//!   truncated entry, no entries, only empty bodies, or a body over 14,380,442 bytes (what one
//!   RLPx frame holds after snappy's worst case) is refused, exit code 2.
//! - `N`: MiB to send, default 128. `W`: tokio worker threads, default 2. `ID`: wire message id,
//!   0x10 to 0xff (decimal or `0x` hex), default 0x12. A bad command line: exit code 2.
//! - stdout: exactly one line,
//!   `{"impl":"reth","version":"v2.5.0","messages":M,"payload_bytes":B,"seconds":S,`
//!   `"cpu_seconds":C,"cpu_ms_per_mib":X,"mib_per_s":Y,"keccak":"keccak-asm <v> via`
//!   `alloy-primitives <v> asm-keccak","snappy":"snap <v>","workers":W}` with
//!   `MiB = B / 1048576`, `X = C * 1000 / MiB`, `Y = MiB / S` (versions from zks-reth's
//!   Cargo.lock, which the build is `--locked` to). Diagnostics go to stderr.
//! - Exit 0 on success; 1 on a failure of the run (a handshake, an I/O error, a message whose id
//!   or length differs from what was sent) or when the whole run passes its 120 s deadline.
//!
//! The keccak: reth-ecies' MAC hashes with `alloy_primitives::Keccak256`, which with
//! alloy-primitives' `asm-keccak` feature (what reth's node binary builds with; this crate's
//! default feature `asm-keccak` turns it on) is `keccak_asm::Keccak256`. Without it (as
//! `scripts/zks-reth.sh` compiles the runner, `--no-default-features`, so that zks-reth's tests
//! keep their own keccak) the `keccak` field says so and a warning goes to stderr.
//!
//! ## Build and run
//!
//! From `zks-reth/`, with reth's sources vendored (see `../shared/vendor/README.md`; the
//! canonical path, as `scripts/zks-reth.sh` spells it, keeps cargo's cache of the vendored
//! crates valid across both):
//!
//! ```sh
//! vendor="$(cd ../../shared/vendor && pwd -P)"
//! CARGO_TARGET_DIR=$PWD/target cargo --config "$vendor/reth-v2.5.0.toml" \
//!   build --release --locked -p reth-rlpx-bench
//! target/release/reth-rlpx-bench --bodies bodies.bin --mib 128 --workers 2
//! ```
//!
//! Cold, this compiles reth's networking crates and their dependencies at opt-level 3 (~390
//! CPU-s, 8.5 min on a shared two-core machine).
//!
//! The release profile builds reth at opt-level 3 (the dev profile leaves dependencies at 0:
//! a debug build warns on stderr that its figures are not comparable). `scripts/zks-reth.sh`
//! compiles it (and runs its unit tests) with clippy beside zks-reth's tests, never runs the
//! benchmark.

mod args;
mod bodies;
mod link;
mod report;

use std::{
    process::ExitCode,
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;

use crate::{
    args::{Args, Command, FIRST_CAPABILITY_ID, USAGE},
    bodies::Plan,
    report::Report,
};

/// The whole run, from the start of the process.
const DEADLINE: Duration = Duration::from_secs(120);

/// The capability's message count unless `ID` needs more.
const CAPABILITY_MESSAGES: u8 = 3;

fn main() -> ExitCode {
    let started = Instant::now();
    let args = match args::parse(std::env::args().skip(1)) {
        Ok(Command::Run(args)) => args,
        Ok(Command::Help) => {
            eprintln!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("reth-rlpx-bench: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if cfg!(debug_assertions) {
        eprintln!(
            "reth-rlpx-bench: a debug build (reth unoptimised): figures are not comparable; \
             build with --release"
        );
    }
    if !cfg!(feature = "asm-keccak") {
        eprintln!(
            "reth-rlpx-bench: built without the asm-keccak feature: reth's MAC keccak is not \
             the assembly one reth's node uses"
        );
    }
    let Some(Prepared {
        messages,
        lengths,
        plan,
    }) = prepare(&args)
    else {
        return ExitCode::from(2);
    };

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("reth-rlpx-bench: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let id = args.id - FIRST_CAPABILITY_ID;
    let capability_messages = CAPABILITY_MESSAGES.max(id + 1);
    let deadline = tokio::time::Instant::from_std(started + DEADLINE);
    // The timer is made inside the runtime (timeout_at needs its clock).
    let outcome = runtime.block_on(async {
        tokio::time::timeout_at(
            deadline,
            run(messages, lengths, plan, id, capability_messages),
        )
        .await
    });
    // Tasks still running after a failure are dropped, not awaited.
    runtime.shutdown_background();
    match outcome {
        Ok(Ok((seconds, cpu_seconds))) => {
            let report = Report {
                messages: plan.messages,
                payload_bytes: plan.payload_bytes,
                seconds,
                cpu_seconds,
                workers: args.workers,
            };
            println!("{}", report.json());
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            eprintln!("reth-rlpx-bench: {e}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!(
                "reth-rlpx-bench: the run passed its deadline of {} s",
                DEADLINE.as_secs()
            );
            ExitCode::FAILURE
        }
    }
}

/// What is ready before the link is made.
#[derive(Debug)]
struct Prepared {
    /// One per body: `ID - 0x10`, then the body.
    messages: Arc<[Bytes]>,
    /// The bodies' lengths, in the same order.
    lengths: Arc<[usize]>,
    /// How many messages, how many body bytes.
    plan: Plan,
}

/// The prebuilt messages, their body lengths and the plan; `None` (said on stderr) when the
/// file or the arguments cannot give them.
fn prepare(args: &Args) -> Option<Prepared> {
    let path = args.bodies.display();
    let data = bodies::read(&args.bodies)
        .inspect_err(|e| eprintln!("reth-rlpx-bench: {e}"))
        .ok()?;
    let bodies = bodies::split(&data)
        .inspect_err(|e| eprintln!("reth-rlpx-bench: {path}: {e}"))
        .ok()?;
    let Some(target) = args.mib.checked_mul(1 << 20) else {
        eprintln!("reth-rlpx-bench: --mib {} is too large", args.mib);
        return None;
    };
    let id = args.id - FIRST_CAPABILITY_ID;
    let messages: Arc<[Bytes]> = bodies
        .iter()
        .map(|body| {
            let mut message = Vec::with_capacity(1 + body.len());
            message.push(id);
            message.extend_from_slice(body);
            Bytes::from(message)
        })
        .collect();
    let lengths: Arc<[usize]> = bodies.iter().map(|body| body.len()).collect();
    let plan = bodies::plan(&lengths, target);
    Some(Prepared {
        messages,
        lengths,
        plan,
    })
}

/// Connects, sends and receives; the span's seconds and process CPU seconds.
async fn run(
    messages: Arc<[Bytes]>,
    lengths: Arc<[usize]>,
    plan: Plan,
    id: u8,
    capability_messages: u8,
) -> Result<(f64, f64), String> {
    let (dialer, listener) = link::connect(capability_messages).await?;
    let receiving = tokio::spawn(link::receive(listener, lengths, id, plan.payload_bytes));
    let sending = tokio::spawn(link::send(dialer, messages, plan.messages));
    let (sent, received) = tokio::try_join!(joined(sending), joined(receiving))?;
    drop(sent.link);
    if let Some(first) = received.first_mismatch {
        return Err(format!(
            "{} of {} messages differ from what was sent; the first: {first}",
            received.mismatches, received.messages
        ));
    }
    if received.messages != plan.messages || received.payload_bytes != plan.payload_bytes {
        return Err(format!(
            "received {} messages / {} payload bytes, sent {} / {}",
            received.messages, received.payload_bytes, plan.messages, plan.payload_bytes
        ));
    }
    let seconds = received
        .end
        .saturating_duration_since(sent.start)
        .as_secs_f64();
    let cpu = received.cpu.saturating_sub(sent.cpu).as_secs_f64();
    Ok((seconds, cpu))
}

/// A task's result, its panic or cancellation as an error.
async fn joined<T>(task: tokio::task::JoinHandle<Result<T, String>>) -> Result<T, String> {
    task.await.map_err(|e| format!("task: {e}"))?
}
