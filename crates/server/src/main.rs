//! The `sluice` binary: `sluice serve` is the bulk proxy for the web app; `sluice import` runs an import headless.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sluice_server::import::{self, ImportArgs};
use sluice_server::preview::{self, PreviewArgs};
use sluice_server::retry::{self, RetryArgs};
use sluice_server::serve::{self, args::ServeArgs};

/// Resumable imports of JSON from S3 (or files) into OpenSearch.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Debug, Subcommand)]
enum Commands {
    /// Run the proxy between the web app and OpenSearch (it holds the cluster's credentials).
    Serve(Box<ServeArgs>),
    /// Import one object or file into an index, with a checkpoint file to resume from.
    ///
    /// Exit codes: 0 all records indexed; 3 completed with dead letters; 1 stopped (error, pause), run the same
    /// command again to resume; 2 wrong arguments.
    Import(Box<ImportArgs>),
    /// Show what a source holds before importing it: format, the first records, fields and their types, records
    /// that would fail; with --index, whether they fit the index's mapping (or a mapping for a new index).
    ///
    /// Reads only the first 256 KiB. Exit codes: 0 importable; 3 some sampled records would fail; 1 not importable
    /// (the wrong file, unreadable); 2 wrong arguments.
    Preview(Box<PreviewArgs>),
    /// Send the records of a dead-letter file again, after fixing their cause (transforms, pipeline, mapping).
    ///
    /// Exit codes: 0 all indexed; 3 some still fail (they stay in the file, with their new reasons); 1 stopped
    /// (run the same command again to go on); 2 wrong arguments.
    Retry(Box<RetryArgs>),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Commands::Import(args) => import::run(*args),
        Commands::Preview(args) => preview::run(*args),
        Commands::Retry(args) => retry::run(*args),
        Commands::Serve(args) => run_serve(*args),
    }
}

fn run_serve(args: ServeArgs) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG").unwrap_or_else(|_| "info".into()))
        .with_target(false)
        .init();
    let listen = args.listen.clone();
    let site = args.site.clone();
    let config = match args.into_config() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("sluice serve: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("sluice serve: cannot start: {error}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(&listen).await {
            Ok(listener) => listener,
            Err(error) => {
                eprintln!("sluice serve: cannot listen on {listen}: {error}");
                return ExitCode::from(1);
            }
        };
        let address = listener.local_addr().map(|a| a.to_string()).unwrap_or(listen);
        tracing::info!(upstream = %config.upstream, indices = ?config.indices.patterns(), "sluice {} proxy listening on http://{address}", sluice_engine::VERSION);
        if site.is_some() {
            println!("Sluice is at http://{address}/");
        }
        match serve::serve(listener, config, shutdown_signal()).await {
            Ok(()) => {
                tracing::info!("stopped");
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("sluice serve: {message}");
                ExitCode::from(1)
            }
        }
    })
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
