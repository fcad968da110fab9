//! The `sluice` binary: `sluice import` runs an import headless; `sluice serve` (next) is the bulk proxy.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sluice_server::import::{self, ImportArgs};

/// Resumable imports of JSON from S3 (or files) into OpenSearch.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Debug, Subcommand)]
enum Commands {
    /// Import one object or file into an index, with a checkpoint file to resume from.
    ///
    /// Exit codes: 0 all records indexed; 3 completed with dead letters; 1 stopped (error, pause), run the same
    /// command again to resume; 2 wrong arguments.
    Import(Box<ImportArgs>),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Commands::Import(args) => import::run(*args),
    }
}
