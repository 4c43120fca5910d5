//! `zks-netns`: runs the network-namespace scenarios and prints their reports.
//!
//! ```text
//! zks-netns [--only flood|fleet|tree] [--tries N] [--keep]   the scenarios (default: all)
//! zks-netns attack --target=IP:PORT ...        the attacker (started by the flood itself)
//! zks-netns soak [--minutes N] [--rate R] [--seed S] [--dir D] [--out FILE]   the soak
//! ```
//!
//! Without root or network namespaces it says `SKIPPED` and why, and exits 0, unless
//! `ZKS_REQUIRE_NETNS=1`, which makes that a failure.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use zks_netns::attack::{self, AttackConfig};
use zks_netns::fleet::{self, FleetConfig};
use zks_netns::flood::{self, FloodConfig};
use zks_netns::soak::{self, SoakConfig};
use zks_netns::tree::{self, TreeConfig};
use zks_netns::{Run, bed};

/// Which scenarios to run.
#[derive(Debug)]
struct Options {
    flood: bool,
    fleet: bool,
    tree: bool,
    tries: usize,
    keep: bool,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options {
        flood: true,
        fleet: true,
        tree: true,
        tries: FloodConfig::default().tries,
        keep: false,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--only" => {
                let only = args.next().map(String::as_str);
                if !matches!(only, Some("flood" | "fleet" | "tree")) {
                    bail!("--only takes flood, fleet or tree, not {only:?}");
                }
                options.flood = only == Some("flood");
                options.fleet = only == Some("fleet");
                options.tree = only == Some("tree");
            }
            "--tries" => {
                options.tries = args
                    .next()
                    .context("--tries needs a number")?
                    .parse()
                    .context("--tries needs a number")?;
                if options.tries == 0 {
                    bail!("--tries must be positive");
                }
            }
            "--keep" => options.keep = true,
            "-h" | "--help" => {
                println!(
                    "zks-netns [--only flood|fleet|tree] [--tries N] [--keep]: the \
                     network-namespace scenarios (root; see tests/netns/README.md); --keep \
                     keeps the logs and data dirs of a run that passed too"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    Ok(options)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("attack") {
        let result = AttackConfig::from_args(&args[1..])
            .and_then(|config| runtime()?.block_on(attack::run(config)));
        return match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("zks-netns attack: error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    if args.first().map(String::as_str) == Some("soak") {
        return soak_main(&args[1..]);
    }
    let options = match parse(&args) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("zks-netns: error: {e:#}");
            return ExitCode::from(2);
        }
    };
    if let Err(reason) = bed::check_root() {
        return skipped(&reason);
    }
    // Held for the whole run, from the probe on.
    let _lock = match bed::RunLock::acquire() {
        Ok(lock) => lock,
        Err(e) => {
            println!("zks-netns: error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(reason) = bed::probe() {
        return skipped(&reason);
    }
    match runtime().and_then(|rt| rt.block_on(scenarios(options))) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            println!("zks-netns: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `zks-netns soak`: not a CI step; runs under a lock and namespace prefix of its own, so
/// scenario runs (CI in other checkouts) go on meanwhile.
fn soak_main(args: &[String]) -> ExitCode {
    let (config, parent) = match soak_args(args) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("zks-netns soak: error: {e:#}");
            return ExitCode::from(2);
        }
    };
    if let Err(reason) = bed::check_root() {
        println!("zks-netns soak: cannot run: {reason:#}");
        return ExitCode::FAILURE;
    }
    let result = (|| {
        let _lock = bed::RunLock::acquire_named(soak::LOCK)?;
        let swept = bed::sweep_prefix(soak::PREFIX)?;
        if !swept.is_empty() {
            println!(
                "zks-netns soak: removed leftover namespaces: {}",
                swept.join(" ")
            );
        }
        std::fs::create_dir_all(&parent)
            .with_context(|| format!("creating {}", parent.display()))?;
        let dir = tempfile::Builder::new()
            .prefix("zkss-run-")
            .tempdir_in(&parent)
            .with_context(|| format!("cannot create a run directory in {}", parent.display()))?
            .keep();
        println!("zks-netns soak: run directory {} (kept)", dir.display());
        let run = Run {
            zks: zks_netns::find_zks()?,
            exe: std::env::current_exe().context("cannot find this executable")?,
            dir,
        };
        runtime()?.block_on(async {
            tokio::select! {
                ok = soak::run(&run, config) => ok,
                () = interrupted() => {
                    println!("zks-netns soak: interrupted; testbed torn down");
                    Ok(false)
                }
            }
        })
    })();
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            println!("zks-netns soak: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn soak_args(args: &[String]) -> Result<(SoakConfig, std::path::PathBuf)> {
    let mut config = SoakConfig {
        minutes: 60,
        rate: 500.0,
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs()),
        out: None,
    };
    let mut parent = std::path::PathBuf::from("/var/tmp");
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--minutes" => config.minutes = value()?.parse().context("--minutes: a number")?,
            "--rate" => config.rate = value()?.parse().context("--rate: blocks per second")?,
            "--seed" => config.seed = value()?.parse().context("--seed: a number")?,
            "--dir" => parent = value()?.into(),
            "--out" => config.out = Some(value()?.into()),
            "-h" | "--help" => {
                println!(
                    "zks-netns soak [--minutes N (60)] [--rate BLOCKS/S (500)] [--seed S] \
                     [--dir PARENT (/var/tmp)] [--out FILE]: the hour-long soak (root; see \
                     tests/netns/README.md); the report is written to FILE too"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    if config.minutes < 2 || !config.rate.is_finite() || config.rate <= 0.0 {
        bail!("--minutes must be at least 2 and --rate positive");
    }
    Ok((config, parent))
}

/// Says plainly that nothing ran and why; a failure with `ZKS_REQUIRE_NETNS=1`.
fn skipped(reason: &anyhow::Error) -> ExitCode {
    println!("zks-netns: SKIPPED — cannot create network namespaces: {reason:#}");
    if std::env::var("ZKS_REQUIRE_NETNS").is_ok_and(|v| v == "1") {
        println!("zks-netns: FAILED — ZKS_REQUIRE_NETNS=1 requires the netns scenarios");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Runs the chosen scenarios, prints their reports; `Ok(false)` when one failed. Call it
/// holding the [`bed::RunLock`].
async fn scenarios(options: Options) -> Result<bool> {
    let zks = zks_netns::find_zks()?;
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let swept = bed::sweep()?;
    if !swept.is_empty() {
        println!(
            "zks-netns: removed {} namespace(s) left by an earlier run: {}",
            swept.len(),
            swept.join(" ")
        );
    }
    // Data dirs and logs on tmpfs where there is one: the nodes' fsyncs then cost no disk.
    let parent = std::path::Path::new("/dev/shm");
    let parent = if parent.is_dir() {
        parent.to_owned()
    } else {
        std::env::temp_dir()
    };
    remove_old_run_dirs(&parent);
    let dir = tempfile::Builder::new()
        .prefix(RUN_DIR_PREFIX)
        .tempdir_in(&parent)
        .with_context(|| format!("cannot create a run directory in {}", parent.display()))?;
    let run = Run {
        zks,
        exe,
        dir: dir.path().to_owned(),
    };
    println!("zks-netns: zks binary {}", run.zks.display());

    let work = async {
        let mut passed = 0;
        let mut failed = 0;
        if options.flood {
            let started = Instant::now();
            let outcome = flood::run(
                &run,
                FloodConfig {
                    tries: options.tries,
                    ..FloodConfig::default()
                },
            )
            .await
            .map(|report| {
                println!("{report}");
                if !report.target_met() {
                    println!(
                        "zks-netns: flood: TARGET MISSED — p99 under the flood is not below {} \
                         ms (see the slow tries above; a failure only with {}=1)",
                        flood::P99_TARGET.as_millis(),
                        flood::STRICT_ENV
                    );
                }
                report.failures()
            });
            if verdict("flood", outcome, started) {
                passed += 1;
            } else {
                failed += 1;
            }
        }
        let mut direct = None;
        if options.fleet {
            let started = Instant::now();
            let outcome = fleet::run(&run, FleetConfig::default())
                .await
                .map(|report| {
                    println!("{report}");
                    direct = Some((report.mn_cpu_per_block(), report.config.ens));
                    report.failures()
                });
            if verdict("fleet", outcome, started) {
                passed += 1;
            } else {
                failed += 1;
            }
        }
        if options.tree {
            let started = Instant::now();
            let outcome = tree::run(&run, TreeConfig::default()).await.map(|report| {
                println!("{report}");
                if let Some((fleet_cpu, fleet_ens)) = direct {
                    println!("{}", cpu_comparison(&report, fleet_cpu, fleet_ens));
                }
                report.failures()
            });
            if verdict("tree", outcome, started) {
                passed += 1;
            } else {
                failed += 1;
            }
        }
        (passed, failed)
    };
    let (passed, failed) = tokio::select! {
        counts = work => counts,
        () = interrupted() => {
            // Dropping `work` dropped every process and testbed guard: all is torn down.
            println!("zks-netns: interrupted; testbed torn down");
            return Ok(false);
        }
    };
    if failed > 0 || options.keep {
        let kept = dir.keep();
        println!("zks-netns: logs and data dirs kept in {}", kept.display());
    }
    println!("zks-netns: {passed} passed, {failed} failed");
    Ok(failed == 0)
}

/// The main node's CPU per block in the tree against the fleet's direct fan-out, this run.
fn cpu_comparison(
    tree: &tree::TreeReport,
    fleet_cpu: std::time::Duration,
    fleet_ens: usize,
) -> String {
    let tree_cpu = tree.mn_cpu_per_block().as_secs_f64() * 1e6;
    let fleet_cpu = fleet_cpu.as_secs_f64() * 1e6;
    format!(
        "tree vs fleet: main node CPU per block {tree_cpu:.0} µs (3 relay links, {} ENs behind \
         them, v3 records of ~9 KiB) vs {fleet_cpu:.0} µs (fleet: {fleet_ens} direct links, \
         128-byte stand-in records): ratio {:.2}; per block and downstream link {:.0} vs {:.0} µs",
        tree.config.ens,
        tree_cpu / fleet_cpu.max(f64::MIN_POSITIVE),
        tree_cpu / 3.0,
        fleet_cpu / fleet_ens.max(1) as f64
    )
}

/// Prints a scenario's verdict; true when it passed.
fn verdict(name: &str, outcome: Result<Vec<String>>, started: Instant) -> bool {
    let took = started.elapsed().as_secs_f64();
    match outcome {
        Ok(failures) if failures.is_empty() => {
            println!("zks-netns: {name} PASSED ({took:.1} s)\n");
            true
        }
        Ok(failures) => {
            for failure in failures {
                println!("zks-netns: {name}: {failure}");
            }
            println!("zks-netns: {name} FAILED ({took:.1} s)\n");
            false
        }
        Err(e) => {
            println!("zks-netns: {name} FAILED ({took:.1} s): {e:#}\n");
            false
        }
    }
}

const RUN_DIR_PREFIX: &str = "zksnt-run-";

/// Removes the run directories earlier runs kept (after a failure, or when killed): the next
/// run supersedes them, and on tmpfs they hold memory.
fn remove_old_run_dirs(parent: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(RUN_DIR_PREFIX)
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn interrupted() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
