//! `zks`: see `zks --help`.

use std::process::ExitCode;

use clap::Parser;
use zks_api::Role;
use zks_node::cli::{Cli, Command, ConfigFile, KeyCommand, RlpxCommand, StoreCommand};
use zks_node::commands;
use zks_node::exit::Failure;
use zks_node::logging::{self, LogSettings};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo logs between its progress bars and sets up logging itself.
    if !matches!(cli.command, Command::Demo(_)) {
        logging::init(
            LogSettings {
                format: cli.log_format,
                colour: cli.command.logs_may_be_coloured() && logging::stderr_wants_colour(),
                default_filter: cli.command.default_log_filter(),
            },
            std::io::stderr,
        );
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            ExitCode::from(failure.status)
        }
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let file = match &cli.config {
        Some(path) => ConfigFile::load(path)?,
        None => ConfigFile::default(),
    };
    let done = match cli.command {
        Command::Key(KeyCommand::Generate { out, verifier }) => {
            commands::key_generate(out.as_deref(), verifier)
        }
        Command::MainNode(args) => return commands::main_node(args.merge(file.main_node)).await,
        Command::ExternalNode(args) => {
            return commands::replica(args.merge(file.external_node), Role::ExternalNode).await;
        }
        Command::Relay(args) => {
            return commands::replica(args.merge(file.relay), Role::Relay).await;
        }
        Command::Rlpx(RlpxCommand::Ping {
            enode,
            timeout,
            chain_id,
            fetch,
        }) => commands::rlpx_ping(&enode, timeout, chain_id, fetch).await,
        Command::Store(StoreCommand::Dump { data }) => commands::store_dump(&data),
        Command::Demo(args) => zks_node::demo::run(args, cli.log_format).await,
        Command::Bench(args) => commands::bench(args).await,
    };
    Ok(done?)
}
