//! `trustpull`, the command line: verify, pull and install OCI images only when a Sigstore
//! signature proves who built them.
//!
//! This is the only crate that reads the environment, prints, or picks an exit code:
//! 0 success, 1 rejected (signature, policy, integrity, strict refusal), 2 usage or config
//! error, 3 unavailable (registry, network, trust root). Each subcommand lives in its own module
//! and returns `Result<(), CliError>`; `main` turns that into output and an exit code.

// The binary is where printing, environment reads and the exit code belong (DESIGN.md §1).
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::disallowed_methods)]

mod exit;
mod install;
mod list;
mod progress;
mod pull;
mod trust_args;
mod verify;
mod verify_bundle;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use exit::{CliError, Status};

/// Install OCI images only when a Sigstore signature proves who built them.
#[derive(Debug, Parser)]
#[command(name = "trustpull", version, about)]
struct Cli {
    /// Show the cause chain of errors.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Install a backend from the configured galleries, verified as the gallery's policy says.
    Install(install::Args),
    /// List the backends the configured galleries offer.
    List(list::Args),
    /// Verify an image, then install its filesystem into a directory, atomically.
    Pull(pull::Args),
    /// Verify an image in a registry: a Sigstore signature must satisfy the signer policy.
    Verify(verify::Args),
    /// Re-check installed backends' receipts against today's gallery policies.
    VerifyInstalled(install::VerifyArgs),
    /// Verify one Sigstore bundle for a file or digest (sigstore-conformance protocol).
    VerifyBundle(verify_bundle::Args),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Install(args) => install::run(args).await,
        Command::List(args) => list::run(args),
        Command::Pull(args) => pull::run(args).await,
        Command::Verify(args) => verify::run(args).await,
        Command::VerifyBundle(args) => verify_bundle::run(args),
        Command::VerifyInstalled(args) => install::run_verify(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            e.report(cli.verbose > 0);
            ExitCode::from(e.status() as u8)
        }
    }
}
