//! One replay path alone, for a profiler: `profile_replay <memnet|devp2p|libp2p|tcp>
//! <record bytes | v3> <records> [repeats] [records per message]` (`v3`: encoded ZKsync OS v3
//! records, as a current upstream main node streams them).

use std::process::ExitCode;

use zks_bench::TransportKind;
use zks_bench::hot::{Payloads, replay_per_message, zksync_os_records};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let kind = match args.first().map(String::as_str) {
        Some("memnet") => TransportKind::Memnet,
        Some("devp2p") => TransportKind::Devp2p,
        Some("libp2p") => TransportKind::Libp2p,
        Some("tcp") => TransportKind::RawTcp,
        _ => {
            eprintln!(
                "usage: profile_replay <memnet|devp2p|libp2p|tcp> <bytes|v3> <records> [repeats] [per message]"
            );
            return ExitCode::FAILURE;
        }
    };
    let num = |i: usize, default: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (bytes, count, repeats) = (num(1, 16384), num(2, 20_000), num(3, 1));
    let per_message = usize::try_from(num(4, 64)).unwrap_or(64);
    let records = if args.get(1).map(String::as_str) == Some("v3") {
        zksync_os_records(count)
    } else {
        Payloads::new(42).records(0, count, usize::try_from(bytes).unwrap_or(256))
    };
    let Ok(runtime) = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    else {
        return ExitCode::FAILURE;
    };
    for _ in 0..repeats {
        match runtime.block_on(replay_per_message(kind, &records, per_message)) {
            Ok((n, t)) => println!("{n} records in {t:?}: {:.0}/s", n as f64 / t.as_secs_f64()),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
