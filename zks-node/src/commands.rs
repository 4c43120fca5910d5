//! The subcommands other than `demo`.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::watch;
use zks_api::wire::{Capabilities, TwoFaVersion};
use zks_api::{BlockNumber, Node, RawRecord, Role};
use zks_devp2p::NodeKey;
use zks_verifier::{AcceptedSigners, VerifierKey};
use zks_wire::zksync_os::V3RecordBytes;

use crate::CliError;
use crate::batch::{BatchPlan, BatchScheme, BatchSource, batch_loop};
use crate::cli::{ExternalNodeArgs, MainNodeArgs};
use crate::exit::Failure;
use crate::keys::{data_dir_node_key, load_key_file};
use crate::net::{PortReservation, log_chain, parse_enode, parse_signer, start_error, transport};
use crate::produce::{Produce, produce};
use crate::stop::StopAfter;
use crate::store::{self, RecordFormat, RedbReplayStore};

/// The listen port of a node of a ZKsync OS chain, whatever its role: upstream's
/// `network.port`, so boot-node URLs and firewall rules written for upstream nodes fit ours.
const ZKSYNC_OS_PORT: u16 = 3060;
/// Without a chain id (our own nodes only): devp2p's customary port for the main node, the
/// next one for external nodes and relays, so both run on one host out of the box.
const DEFAULT_MN_PORT: u16 = 30303;
const DEFAULT_EN_PORT: u16 = 30304;

/// The port a node listens on unless `--port` says otherwise.
fn default_port(format: RecordFormat, main_node: bool) -> u16 {
    match format {
        RecordFormat::ZksyncOsV3 { .. } => ZKSYNC_OS_PORT,
        RecordFormat::StandIn if main_node => DEFAULT_MN_PORT,
        RecordFormat::StandIn => DEFAULT_EN_PORT,
    }
}
const ANY: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

/// `zks key generate`.
///
/// # Errors
///
/// One line when the file exists or cannot be written.
pub fn key_generate(out: Option<&Path>, verifier: bool) -> Result<(), CliError> {
    let (secret, id) = if verifier {
        let secret: [u8; 32] = loop {
            let bytes: [u8; 32] = rand::random();
            if VerifierKey::from_bytes(&bytes).is_ok() {
                break bytes;
            }
        };
        let key = VerifierKey::from_bytes(&secret).map_err(|e| e.to_string())?;
        (hex::encode(secret), key.address().to_string())
    } else {
        let key = NodeKey::generate();
        (key.to_hex(), key.id().to_string())
    };
    let Some(path) = out else {
        println!("{secret}");
        eprintln!("{id}");
        return Ok(());
    };
    // Complete or absent, whenever the process is killed; never over an existing file.
    crate::files::create_new(path, format!("{secret}\n").as_bytes(), true).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            format!(
                "key file {} already exists; not overwriting it",
                path.display()
            )
        } else {
            format!("cannot write key file {}: {e}", path.display())
        }
    })?;
    println!("{id}");
    Ok(())
}

/// `zks store dump`.
///
/// # Errors
///
/// One line when the directory holds no store or it cannot be read.
pub fn store_dump(data: &Path) -> Result<(), CliError> {
    let store = store::open_existing(data).map_err(|e| e.to_string())?;
    let summary = store.summary().map_err(|e| e.to_string())?;
    println!("{summary}");
    Ok(())
}

/// `zks rlpx ping`.
///
/// # Errors
///
/// One line when the peer cannot be reached or breaks the handshake.
pub async fn rlpx_ping(
    enode: &str,
    limit: std::time::Duration,
    chain_id: Option<u64>,
    fetch: Option<u64>,
) -> Result<(), CliError> {
    let report = crate::ping::ping(enode, limit, chain_id, fetch)
        .await
        .map_err(|e| e.to_string())?;
    println!("{report}");
    Ok(())
}

fn require_data(data: Option<&Path>, command: &str) -> Result<PathBuf, CliError> {
    data.map(Path::to_owned)
        .ok_or_else(|| format!("{command} needs --data DIR (or `data` in the config file)"))
}

fn serve_metrics(addr: Option<SocketAddr>) -> Result<bool, CliError> {
    match addr {
        Some(addr) => crate::metrics::install(addr).map(|()| true),
        None => Ok(false),
    }
}

/// Ctrl-C or SIGTERM, listened for from the moment it is made: a signal that comes while the
/// node is still starting (a supervisor stopping it at once) is kept, not left to the default
/// action, which kills the process mid-start instead of closing its store.
struct Termination {
    #[cfg(unix)]
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Termination {
    fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Self {
                signals: signal(SignalKind::interrupt())
                    .and_then(|int| Ok((int, signal(SignalKind::terminate())?)))
                    .ok(),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// Resolves at the first Ctrl-C or SIGTERM since [`listen`](Self::listen).
    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some((int, term)) = &mut self.signals {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Says which batch signature scheme is active (INFO) when the node uses one: a main node with
/// verifier signers, a verifier external node. A node that verifies no batches warns that the
/// EIP-712 flags it was given are ignored.
fn log_scheme(scheme: &BatchScheme, used: bool, without: &str) {
    if used {
        scheme.log();
    } else if *scheme != BatchScheme::Zks {
        tracing::warn!(
            "--l1-chain-id, --validator-timelock and --chain-address are ignored: this node \
             verifies no batches (no {without})"
        );
    }
}

/// `zks main-node`.
///
/// Start-up order: every flag is checked, then the listen port is bound, and only then are
/// files created (the data dir, its store, its node key), so a busy port leaves the data dir
/// untouched. With `--chain-id` the node keeps and serves that chain's v3 records, without it
/// stand-in records (see [`RecordFormat`]).
///
/// # Errors
///
/// One line for every error a user can cause.
pub async fn main_node(args: MainNodeArgs) -> Result<(), Failure> {
    match RecordFormat::for_chain(args.chain.chain_id) {
        RecordFormat::StandIn => serve::<RawRecord>(args, RecordFormat::StandIn).await,
        format => serve::<V3RecordBytes>(args, format).await,
    }
}

/// Refuses our own batch signature scheme on a ZKsync OS chain: its batches are upstream's
/// ABI structs, signed under EIP-712 as upstream's verifiers sign them, and a verifier of that
/// chain must never be sent our demo batches.
fn require_eip712(format: RecordFormat, scheme: &BatchScheme, flag: &str) -> Result<(), CliError> {
    if let (Some(chain_id), BatchScheme::Zks) = (format.chain_id(), scheme) {
        return Err(format!(
            "{flag} with --chain-id {chain_id}: batches of a ZKsync OS chain are signed under \
             upstream's EIP-712 scheme; give --l1-chain-id, --validator-timelock and \
             --chain-address"
        ));
    }
    Ok(())
}

async fn serve<R: Produce + BatchSource>(
    args: MainNodeArgs,
    format: RecordFormat,
) -> Result<(), Failure> {
    let mut termination = Termination::listen();
    let data = require_data(args.node.data.as_deref(), "main-node")?;
    let signers = args
        .verifier_signer
        .iter()
        .map(|s| parse_signer(s))
        .collect::<Result<AcceptedSigners, _>>()?;
    let threshold = args.threshold.unwrap_or(1);
    if !signers.is_empty() && !(1..=signers.len()).contains(&threshold) {
        return Err(Failure::from(format!(
            "--threshold {threshold} is not within 1..={} (the number of --verifier-signer)",
            signers.len()
        )));
    }
    let scheme = BatchScheme::from_flags(
        args.chain.l1_chain_id,
        args.chain.validator_timelock.as_deref(),
        args.chain.chain_address.as_deref(),
    )?;
    if !signers.is_empty() {
        require_eip712(format, &scheme, "--verifier-signer")?;
    }
    let given_key = args.node.key.as_deref().map(load_key_file).transpose()?;
    let addr = SocketAddr::new(
        args.node.addr.unwrap_or(ANY),
        args.node.port.unwrap_or(default_port(format, true)),
    );
    let port = PortReservation::bind(addr)?;
    let metrics = serve_metrics(args.node.metrics)?;
    // Files from here on.
    let store: RedbReplayStore<R> = open_store(&data, Role::MainNode, format, true)?;
    let key = match given_key {
        Some(key) => key,
        None => data_dir_node_key(&data)?,
    };
    let transport = transport(key, addr.ip(), addr.port(), args.chain.chain_id)?;
    let keepalive = args.replay_keepalive.and_then(crate::cli::Limit::duration);
    let mut builder = Node::builder(transport.clone())
        .settings(zks_api::NodeSettings::default().with_replay_keepalive(keepalive))
        .main_node(store.clone());
    if !signers.is_empty() {
        builder = builder.verifier_authenticator(signers.clone());
    }
    port.release();
    let node = Arc::new(builder.start().await.map_err(|e| start_error(addr, &e))?);
    log_chain(args.chain.chain_id);
    log_scheme(&scheme, !signers.is_empty(), "--verifier-signer");
    if metrics {
        let head = store.clone();
        let caps = advertised::<R>(Capabilities::ALL);
        crate::metrics::record_build_info("main-node", format, &caps.to_string());
        tokio::spawn(crate::metrics::record_events(
            node.events(),
            Some(Arc::new(move || head.next_block())),
        ));
    }
    let enode = transport
        .local_enode()
        .map_or_else(|| "(not listening)".to_owned(), |e| e.to_string());
    println!("enode: {enode}");
    println!("head: {}", store.next_block());
    let _ = std::io::stdout().flush();
    tracing::info!(%enode, head = store.next_block(), data = %data.display(), records = %format, keccak = zks_devp2p::rlpx::MAC_KECCAK_BACKEND, "main node started");

    let (stop_tx, stop) = watch::channel(false);
    let producer = args.produce_blocks.map(|rate| {
        tokio::spawn(produce(
            store.clone(),
            rate,
            args.produce_until,
            stop.clone(),
            |_, _, _| {},
        ))
    });
    let batches = (!signers.is_empty()).then(|| {
        tokio::spawn(batch_loop(
            Arc::clone(&node),
            store.clone(),
            BatchPlan {
                signers,
                threshold,
                size: args.batch_size.unwrap_or(100),
                scheme,
                quorum_timeout: args.quorum_timeout.and_then(crate::cli::Limit::duration),
            },
            stop.clone(),
            |outcome| match outcome.result {
                Ok(quorum) => tracing::info!(
                    batch = outcome.number,
                    last_block = outcome.last_block,
                    signatures = quorum.signatures.len(),
                    elapsed = ?outcome.elapsed,
                    "batch verified"
                ),
                Err(error) => tracing::warn!(batch = outcome.number, %error, "batch not verified"),
            },
        ))
    });

    let produced = match producer {
        Some(mut producer) => tokio::select! {
            () = termination.recv() => None,
            done = &mut producer => Some(done),
        },
        None => {
            termination.recv().await;
            None
        }
    };
    let failure = match produced {
        // The store's fault (a full disk) is said below, with its exit status.
        Some(Ok(Err(_))) if store.fault().is_some() => None,
        Some(Ok(Err(e))) => Some(Failure::from(e)),
        // Finished producing (`--produce-until`): keep serving.
        Some(_) => {
            termination.recv().await;
            None
        }
        None => None,
    };
    // A full disk stops the producer (the store logged it); the main node then exits, for its
    // supervisor to restart it once there is room.
    let failure = failure.or_else(|| {
        store
            .fault()
            .map(|fault| crate::exit::store_failed(&fault, store.next_block()))
    });
    let _ = stop_tx.send(true);
    if let Some(batches) = batches {
        batches.abort();
    }
    tracing::info!("shutting down");
    if let Ok(node) = Arc::try_unwrap(node) {
        node.shutdown().await;
    }
    failure.map_or(Ok(()), Err)
}

/// Opens the store of `data` for `role` holding `format`, as one line on error.
///
/// # Errors
///
/// The store's error, one line.
pub fn open_store<R: store::StoredRecord>(
    data: &Path,
    role: Role,
    format: RecordFormat,
    durable: bool,
) -> Result<RedbReplayStore<R>, Failure> {
    RedbReplayStore::open_format(data, role, format, durable).map_err(|e| match e {
        store::StoreError::Io {
            disk_full: true, ..
        } => Failure::temporary(format!(
            "{e}; exiting with status {} (EX_TEMPFAIL): restart once the disk has room",
            crate::exit::EX_TEMPFAIL
        )),
        e => Failure::from(e.to_string()),
    })
}

/// What a node configured with `caps` advertises: the versions that carry its records.
fn advertised<R: zks_api::ReplayRecord>(caps: Capabilities) -> Capabilities {
    Capabilities {
        zks: caps.zks.intersection(R::VERSIONS),
        zks_2fa: caps.zks_2fa,
    }
}

/// What an external node or relay advertises: every zks version its records travel on, and
/// `zks_2fa/1` only when it verifies (as upstream external nodes do), so a node that does not
/// verify is never asked to.
fn replica_capabilities(verifier: bool) -> Capabilities {
    Capabilities {
        zks: zks_api::wire::VersionSet::ALL,
        zks_2fa: verifier.then_some(TwoFaVersion::V1),
    }
}

/// `zks external-node` (`role` [`Role::ExternalNode`]) and `zks relay` ([`Role::Relay`]: the
/// same, and the store is also served to external nodes that link to us).
///
/// Start-up order as for [`main_node`]: flags, then the port, then files. With
/// `--exit-at-block N` the store applies blocks up to N and refuses every later one
/// ([`StopAfter`]), so the node stops with exactly blocks `..=N` applied in this run.
///
/// # Errors
///
/// One line for every error a user can cause.
pub async fn replica(args: ExternalNodeArgs, role: Role) -> Result<(), Failure> {
    match RecordFormat::for_chain(args.chain.chain_id) {
        RecordFormat::StandIn => replicate::<RawRecord>(args, role, RecordFormat::StandIn).await,
        format => replicate::<V3RecordBytes>(args, role, format).await,
    }
}

async fn replicate<R: BatchSource>(
    args: ExternalNodeArgs,
    role: Role,
    format: RecordFormat,
) -> Result<(), Failure> {
    let mut termination = Termination::listen();
    let command = store::role_name(role);
    let data = require_data(args.node.data.as_deref(), command)?;
    if args.main_node.is_empty() {
        return Err(Failure::from(format!(
            "{command} needs --main-node ENODE (or `main-node` in the config file)"
        )));
    }
    let main_nodes = args
        .main_node
        .iter()
        .map(|m| parse_enode(m).map(|_| m.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let verifier = match &args.verifier_key {
        Some(path) => {
            crate::keys::require_private(path, "verifier key")?;
            Some(
                VerifierKey::from_file(path)
                    .map_err(|e| format!("cannot load verifier key {}: {e}", path.display()))?,
            )
        }
        None => None,
    };
    let scheme = BatchScheme::from_flags(
        args.chain.l1_chain_id,
        args.chain.validator_timelock.as_deref(),
        args.chain.chain_address.as_deref(),
    )?;
    if verifier.is_some() {
        require_eip712(format, &scheme, "--verifier-key")?;
    }
    let given_key = args.node.key.as_deref().map(load_key_file).transpose()?;
    let addr = SocketAddr::new(
        args.node.addr.unwrap_or(ANY),
        args.node.port.unwrap_or(default_port(format, false)),
    );
    let port = PortReservation::bind(addr)?;
    let metrics = serve_metrics(args.node.metrics)?;
    // Files from here on.
    let store: RedbReplayStore<R> = open_store(&data, role, format, true)?;
    if let Some(target) = args.exit_at_block
        && store.next_block() > target
    {
        tracing::warn!(
            exit_at_block = target,
            next_block = store.next_block(),
            "the store already holds block {target}; not starting"
        );
        println!("reached block {target}; next block {}", store.next_block());
        return Ok(());
    }
    let key = match given_key {
        Some(key) => key,
        None => data_dir_node_key(&data)?,
    };
    let transport = transport(key, addr.ip(), addr.port(), args.chain.chain_id)?;
    let sink = StopAfter::new(
        store.clone(),
        args.exit_at_block.unwrap_or(BlockNumber::MAX),
    );
    let builder = Node::builder(transport.clone())
        .capabilities(replica_capabilities(verifier.is_some()))
        .settings(upstream_settings(&args));
    let mut builder = match role {
        Role::Relay => builder.relay(sink),
        _ => builder.external_node(sink),
    };
    for m in &main_nodes {
        builder = builder.trusted_main_node(m.as_str());
    }
    if let Some(key) = verifier.clone() {
        let checks = R::verifier(key.clone(), &scheme, store.clone())?;
        builder = builder.verifier(key, checks);
    }
    if role == Role::ExternalNode && args.replay_keepalive.is_some() {
        tracing::warn!(
            "--replay-keepalive is ignored: an external node serves no replay (a relay does)"
        );
    }
    let start = store.next_block();
    port.release();
    let node = builder.start().await.map_err(|e| start_error(addr, &e))?;
    log_chain(args.chain.chain_id);
    log_scheme(&scheme, verifier.is_some(), "--verifier-key");
    if metrics {
        let caps = advertised::<R>(replica_capabilities(verifier.is_some()));
        crate::metrics::record_build_info(command, format, &caps.to_string());
        // From the start, not from the first apply: a restarted node is not at block 0.
        crate::metrics::record_head(store.next_block());
        tokio::spawn(crate::metrics::record_events(node.events(), None));
    }
    println!(
        "{} {} resuming at block {start}{}",
        command.replace('-', " "),
        transport
            .local_enode()
            .map_or_else(|| "(not listening)".to_owned(), |e| e.to_string()),
        verifier.map_or_else(String::new, |k| format!(", verifier {}", k.address()))
    );
    let _ = std::io::stdout().flush();

    let mut heads = store.subscribe();
    let reached = async {
        let Some(target) = args.exit_at_block else {
            return std::future::pending::<BlockNumber>().await;
        };
        let _ = heads.wait_for(|next| *next > target).await;
        target
    };
    let failure = tokio::select! {
        () = termination.recv() => None,
        target = reached => {
            println!("reached block {target}; next block {}", store.next_block());
            let _ = std::io::stdout().flush();
            None
        }
        // The disk is full (the store logged it; the node stopped dialing): exit for the
        // supervisor to restart us once there is room.
        fault = store.failed() => Some(crate::exit::store_failed(&fault, store.next_block())),
    };
    node.shutdown().await;
    failure.map_or(Ok(()), Err)
}

/// The node settings the upstream flags set.
fn upstream_settings(args: &ExternalNodeArgs) -> zks_api::NodeSettings {
    let defaults = zks_api::NodeSettings::default();
    let watchdog = args
        .upstream_watchdog
        .map_or(defaults.upstream_watchdog(), crate::cli::Limit::duration);
    defaults
        .clone()
        .with_upstream_checks(
            args.upstream_probe_interval
                .unwrap_or(defaults.upstream_probe_interval()),
            args.upstream_stall_timeout
                .unwrap_or(defaults.upstream_stall_timeout()),
        )
        .with_upstream_watchdog(watchdog)
        .with_replay_keepalive(args.replay_keepalive.and_then(crate::cli::Limit::duration))
}

/// `zks bench`: runs every measurement of `zks-bench` and prints the table (and JSON).
pub async fn bench(args: crate::cli::BenchArgs) -> Result<(), String> {
    match args.only {
        Some(crate::cli::BenchCommand::PerMessage {
            shape,
            mib,
            workers,
            codec_only,
        }) => {
            // A runtime of its own with a fixed number of workers, as reth's runner has, whatever
            // this machine's core count gives the binary's runtime.
            let run = tokio::task::spawn_blocking(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(workers.max(1))
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start the benchmark's runtime: {e}"))?;
                runtime
                    .block_on(async {
                        if codec_only {
                            zks_bench::per_message_codec(shape, mib).await
                        } else {
                            zks_bench::per_message(shape, mib).await
                        }
                    })
                    .map_err(|e| format!("benchmark failed: {e}"))
            })
            .await
            .map_err(|e| format!("benchmark task failed: {e}"))??;
            println!("{}", run.to_json_line());
            return Ok(());
        }
        Some(crate::cli::BenchCommand::VersusReth {
            runner,
            rounds,
            mib,
            shapes,
            json,
        }) => return versus_reth(runner, rounds, mib, shapes, json).await,
        None => {}
    }
    let mut opts = if args.smoke {
        zks_bench::BenchOptions::smoke()
    } else if args.quick {
        zks_bench::BenchOptions::quick()
    } else {
        zks_bench::BenchOptions::full()
    };
    if args.no_libp2p {
        opts.libp2p = false;
    }
    let report = zks_bench::run(opts)
        .await
        .map_err(|e| format!("benchmark failed: {e}"))?;
    println!("{}", report.to_table());
    if let Some(path) = args.json {
        crate::files::replace(&path, report.to_json().as_bytes(), false)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

/// `zks bench versus-reth`: runs child processes, off the async workers.
async fn versus_reth(
    runner: PathBuf,
    rounds: usize,
    mib: u64,
    shapes: Vec<zks_bench::Shape>,
    json: Option<PathBuf>,
) -> Result<(), String> {
    let zks = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    if !runner.is_file() {
        return Err(format!(
            "no reth runner at {} (build it: scripts/reth-rlpx-bench.sh)",
            runner.display()
        ));
    }
    let work_dir = std::env::temp_dir().join(format!("zks-versus-reth-{}", std::process::id()));
    std::fs::create_dir_all(&work_dir)
        .map_err(|e| format!("cannot create {}: {e}", work_dir.display()))?;
    let opts = zks_bench::VersusOptions {
        zks,
        reth_runner: runner,
        rounds,
        mib,
        shapes: if shapes.is_empty() {
            zks_bench::Shape::ALL.to_vec()
        } else {
            shapes
        },
        work_dir: work_dir.clone(),
    };
    let result = tokio::task::spawn_blocking(move || zks_bench::versus(&opts))
        .await
        .map_err(|e| format!("comparison task failed: {e}"))?;
    let _ = std::fs::remove_dir_all(&work_dir);
    let report = result.map_err(|e| format!("comparison failed: {e}"))?;
    println!("{}", report.to_table());
    if let Some(path) = json {
        crate::files::replace(&path, report.to_json().as_bytes(), false)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}
