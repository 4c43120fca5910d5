//! Runs the benchmark without the `zks` CLI: `cargo run --release -p zks-bench --example bench
//! -- [--quick] [--json FILE]`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut opts = if args.iter().any(|a| a == "--quick") {
        zks_bench::BenchOptions::quick()
    } else {
        zks_bench::BenchOptions::full()
    };
    if args.iter().any(|a| a == "--no-libp2p") {
        opts.libp2p = false;
    }
    let json = args
        .iter()
        .position(|a| a == "--json")
        .and_then(|i| args.get(i + 1).cloned());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(zks_bench::run(opts)) {
        Ok(report) => {
            println!("{}", report.to_table());
            if let Some(path) = json
                && let Err(e) = std::fs::write(&path, report.to_json())
            {
                eprintln!("{path}: {e}");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench failed: {e}");
            ExitCode::FAILURE
        }
    }
}
