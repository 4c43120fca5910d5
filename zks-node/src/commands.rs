//! The subcommands other than `demo`.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use tokio::sync::watch;
use zks_api::{BlockNumber, Node, Role};
use zks_devp2p::NodeKey;
use zks_verifier::{AcceptedSigners, VerifierKey};

use crate::cli::{ExternalNodeArgs, MainNodeArgs};
use crate::node::{
    BatchPlan, BatchScheme, CliError, PortReservation, StopAfter, batch_loop, data_dir_node_key,
    load_key_file, log_chain, open_store, parse_enode, parse_signer, produce, signing_verifier,
    start_error, transport,
};
use crate::store;

const DEFAULT_MN_PORT: u16 = 30303;
const DEFAULT_EN_PORT: u16 = 30304;
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
) -> Result<(), CliError> {
    let report = crate::ping::ping(enode, limit, chain_id)
        .await
        .map_err(|e| e.to_string())?;
    println!("{report}");
    Ok(())
}

fn require_data(data: Option<&Path>, command: &str) -> Result<std::path::PathBuf, CliError> {
    data.map(Path::to_owned)
        .ok_or_else(|| format!("{command} needs --data DIR (or `data` in the config file)"))
}

fn serve_metrics(addr: Option<SocketAddr>) -> Result<bool, CliError> {
    match addr {
        Some(addr) => crate::metrics::install(addr).map(|()| true),
        None => Ok(false),
    }
}

/// Waits for Ctrl-C or SIGTERM.
async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
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
/// untouched.
///
/// # Errors
///
/// One line for every error a user can cause.
pub async fn main_node(args: MainNodeArgs) -> Result<(), CliError> {
    let data = require_data(args.data.as_deref(), "main-node")?;
    let signers = args
        .verifier_signer
        .iter()
        .map(|s| parse_signer(s))
        .collect::<Result<AcceptedSigners, _>>()?;
    let threshold = args.threshold.unwrap_or(1);
    if !signers.is_empty() && !(1..=signers.len()).contains(&threshold) {
        return Err(format!(
            "--threshold {threshold} is not within 1..={} (the number of --verifier-signer)",
            signers.len()
        ));
    }
    let scheme = BatchScheme::from_flags(
        args.l1_chain_id,
        args.validator_timelock.as_deref(),
        args.chain_address.as_deref(),
    )?;
    let given_key = args.key.as_deref().map(load_key_file).transpose()?;
    let addr = SocketAddr::new(
        args.addr.unwrap_or(ANY),
        args.port.unwrap_or(DEFAULT_MN_PORT),
    );
    let port = PortReservation::bind(addr)?;
    let metrics = serve_metrics(args.metrics)?;
    // Files from here on.
    let store = open_store(&data, Role::MainNode, true)?;
    let key = match given_key {
        Some(key) => key,
        None => data_dir_node_key(&data)?,
    };
    let transport = transport(key, addr.ip(), addr.port(), args.chain_id)?;
    let mut builder = Node::builder(transport.clone()).main_node(store.clone());
    if !signers.is_empty() {
        builder = builder.verifier_authenticator(signers.clone());
    }
    port.release();
    let node = Arc::new(builder.start().await.map_err(|e| start_error(addr, &e))?);
    log_chain(args.chain_id);
    log_scheme(&scheme, !signers.is_empty(), "--verifier-signer");
    if metrics {
        let head = store.clone();
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
    tracing::info!(%enode, head = store.next_block(), data = %data.display(), "main node started");

    let (stop_tx, stop) = watch::channel(false);
    let producer = args.produce_blocks.map(|rate| {
        tokio::spawn(produce(
            store.clone(),
            rate,
            args.produce_until,
            crate::node::Payload::Small,
            stop.clone(),
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

    let failure = match producer {
        Some(mut producer) => tokio::select! {
            () = terminated() => None,
            done = &mut producer => match done {
                Ok(Err(e)) => Some(e),
                // Finished producing (`--produce-until`): keep serving.
                _ => { terminated().await; None }
            },
        },
        None => {
            terminated().await;
            None
        }
    };
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
pub async fn replica(args: ExternalNodeArgs, role: Role) -> Result<(), CliError> {
    let command = store::role_name(role);
    let data = require_data(args.data.as_deref(), command)?;
    if args.main_node.is_empty() {
        return Err(format!(
            "{command} needs --main-node ENODE (or `main-node` in the config file)"
        ));
    }
    let main_nodes = args
        .main_node
        .iter()
        .map(|m| parse_enode(m).map(|_| m.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let verifier = match &args.verifier_key {
        Some(path) => Some(
            VerifierKey::from_file(path)
                .map_err(|e| format!("cannot load verifier key {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let scheme = BatchScheme::from_flags(
        args.l1_chain_id,
        args.validator_timelock.as_deref(),
        args.chain_address.as_deref(),
    )?;
    let given_key = args.key.as_deref().map(load_key_file).transpose()?;
    let addr = SocketAddr::new(
        args.addr.unwrap_or(ANY),
        args.port.unwrap_or(DEFAULT_EN_PORT),
    );
    let port = PortReservation::bind(addr)?;
    let metrics = serve_metrics(args.metrics)?;
    // Files from here on.
    let store = open_store(&data, role, true)?;
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
    let transport = transport(key, addr.ip(), addr.port(), args.chain_id)?;
    let sink = StopAfter::new(
        store.clone(),
        args.exit_at_block.unwrap_or(BlockNumber::MAX),
    );
    let builder = Node::builder(transport.clone()).limits(upstream_limits(&args));
    let mut builder = match role {
        Role::Relay => builder.relay(sink),
        _ => builder.external_node(sink),
    };
    for m in &main_nodes {
        builder = builder.trusted_main_node(m.as_str());
    }
    if let Some(key) = verifier.clone() {
        builder = builder.verifier(key.clone(), signing_verifier(key, &scheme));
    }
    let start = store.next_block();
    port.release();
    let node = builder.start().await.map_err(|e| start_error(addr, &e))?;
    log_chain(args.chain_id);
    log_scheme(&scheme, verifier.is_some(), "--verifier-key");
    if metrics {
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
    tokio::select! {
        () = terminated() => {}
        target = reached => {
            println!("reached block {target}; next block {}", store.next_block());
            let _ = std::io::stdout().flush();
        }
    }
    node.shutdown().await;
    Ok(())
}

/// The engine limits the upstream flags set.
fn upstream_limits(args: &ExternalNodeArgs) -> zks_api::Limits {
    let defaults = zks_api::Limits::default();
    defaults.clone().with_upstream_checks(
        args.upstream_probe_interval
            .unwrap_or(defaults.upstream_probe_interval),
        args.upstream_stall_timeout
            .unwrap_or(defaults.upstream_stall_timeout),
    )
}

/// `zks bench`: runs every measurement of `zks-bench` and prints the table (and JSON).
pub async fn bench(args: crate::cli::BenchArgs) -> Result<(), String> {
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
