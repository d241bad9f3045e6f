//! `trustpull`, the command line: verify, pull and install OCI images only when a Sigstore
//! signature proves who built them.
//!
//! This is the only crate that reads the environment, prints, or picks an exit code:
//! 0 success, 1 rejected (signature, policy, integrity, strict refusal), 2 usage or config
//! error, 3 unavailable (registry, network, trust root). Each subcommand lives in its own module
//! and returns `Result<(), CliError>`; `main` turns that into output and an exit code.

// The binary is where printing, environment reads and the exit code belong.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::disallowed_methods)]

mod completions;
mod exit;
mod gallery_args;
mod install;
mod list;
mod output;
mod progress;
mod pull;
mod trust_args;
mod trust_root;
mod uninstall;
mod upgrade;
mod verify;
mod verify_attestation;
mod verify_bundle;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

pub use exit::{CliError, Status};

/// Install OCI images only when a Sigstore signature proves who built them.
#[derive(Debug, Parser)]
#[command(name = "trustpull", version, about)]
struct Cli {
    /// Show the cause chain of errors; twice (`-vv`): also log every registry request to
    /// stderr (`RUST_LOG`, e.g. `trustpull_referrers=debug`, chooses the log filter instead).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Print only errors (no progress, warnings or summaries on stderr).
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Overall deadline, e.g. 90s or 10m; when it passes the command stops with exit 3 and
    /// nothing is installed.
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
    timeout: Option<std::time::Duration>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Install a backend from the configured galleries, verified as the gallery's policy says.
    Install(install::Args),
    /// List the backends the configured galleries offer, or (--installed) those installed.
    List(list::Args),
    /// Verify an image, then install its filesystem into a directory, atomically.
    Pull(pull::Args),
    /// Remove an installed backend (tree and receipt), by its name, meta name or alias.
    Uninstall(uninstall::Args),
    /// Upgrade installed backends whose location now resolves to a new digest, verified as
    /// for install; the old version stays when anything fails.
    Upgrade(upgrade::Args),
    /// Verify an image in a registry: a Sigstore signature must satisfy the signer policy.
    Verify(verify::Args),
    /// Verify an image's in-toto attestations of one predicate type (SLSA provenance, SBOMs, …).
    VerifyAttestation(verify_attestation::Args),
    /// Re-check installed backends' receipts against today's gallery policies.
    VerifyInstalled(install::VerifyArgs),
    /// Verify one Sigstore bundle for a file or digest (sigstore-conformance protocol).
    VerifyBundle(verify_bundle::Args),
    /// Refresh the trusted root over TUF, or show the one commands use.
    TrustRoot {
        /// What to do.
        #[command(subcommand)]
        command: trust_root::Command,
    },
    /// Print a shell completion script (bash, elvish, fish, powershell, zsh).
    Completions(completions::Args),
    /// Print the trustpull(1) man page (roff).
    Man,
}

impl Command {
    /// Whether the command prints `--output json` documents.
    fn json(&self) -> bool {
        use output::Output::Json;
        match self {
            Self::Install(a) => a.output == Json,
            Self::List(a) => a.output == Json,
            Self::Pull(a) => a.output == Json,
            Self::Uninstall(a) => a.output == Json,
            Self::Upgrade(a) => a.output == Json,
            Self::Verify(a) => a.output == Json,
            Self::VerifyAttestation(a) => a.output == Json,
            Self::VerifyInstalled(a) => a.output == Json,
            Self::VerifyBundle(_) | Self::Completions(_) | Self::Man => false,
            Self::TrustRoot { command } => command.output() == Json,
        }
    }
}

/// `90s`, `10m`, `1h`, `500ms`, or plain seconds.
fn parse_duration(raw: &str) -> Result<std::time::Duration, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{raw:?} is not a duration; use e.g. 90s, 10m or 1h"))?;
    let secs = |m: u64| std::time::Duration::from_secs(n.saturating_mul(m));
    match unit {
        "" | "s" => Ok(secs(1)),
        "m" => Ok(secs(60)),
        "h" => Ok(secs(3600)),
        "ms" => Ok(std::time::Duration::from_millis(n)),
        other => Err(format!(
            "unknown duration unit {other:?}; use ms, s, m or h"
        )),
    }
}

async fn run(command: Command, quiet: bool) -> Result<(), CliError> {
    match command {
        Command::Install(args) => install::run(args, quiet).await,
        Command::List(args) => list::run(args).await,
        Command::Pull(args) => pull::run(args, quiet).await,
        Command::Uninstall(args) => uninstall::run(args).await,
        Command::Upgrade(args) => upgrade::run(args, quiet).await,
        Command::Verify(args) => verify::run(args, quiet).await,
        Command::VerifyAttestation(args) => verify_attestation::run(args).await,
        Command::VerifyBundle(args) => verify_bundle::run(args),
        Command::Completions(args) => completions::run(&args, Cli::command()),
        Command::Man => completions::man(Cli::command()),
        Command::VerifyInstalled(args) => install::run_verify(args).await,
        Command::TrustRoot { command } => trust_root::run(command).await,
    }
}

/// Sends the libraries' `tracing` events to stderr: those `RUST_LOG` selects, else with `-vv`
/// the debug events of trustpull's crates (each registry request and its answer, retries),
/// else none.
fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let filter = match EnvFilter::try_from_default_env() {
        Ok(filter) => filter,
        Err(_) if verbose >= 2 => EnvFilter::new(
            "trustpull=debug,trustpull_referrers=debug,trustpull_downloader=debug,\
             trustpull_verifier=debug,trustpull_gallery=debug",
        ),
        Err(_) => return,
    };
    // Only fails if a subscriber is already set, which nothing else in this process does.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Parses the command line; `--version` also names the embedded trust root (loaded only when
/// asked for, as it costs a parse of the root).
fn parse() -> Cli {
    let mut command = Cli::command();
    if std::env::args_os().any(|a| a == "--version" || a == "-V") {
        command = command.version(trust_root::version_text());
    }
    let matches = command.get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

fn main() -> ExitCode {
    let cli = parse();
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(Status::Usage as u8);
        }
    };
    let code = runtime.block_on(run_cli(cli));
    // The command has ended and cleaned up; a read still stuck on a blocking thread (a stalled
    // pipe or network mount the interrupted command was reading) must not keep the process
    // alive, so the runtime is not waited for.
    runtime.shutdown_background();
    code
}

async fn run_cli(cli: Cli) -> ExitCode {
    let json = cli.command.json();
    let timeout = cli.timeout;
    // Dropping the command's future cancels it: the libraries guarantee that a cancelled
    // install leaves the destination as it was and no staging directory behind.
    let command = async {
        match timeout {
            Some(limit) => tokio::time::timeout(limit, run(cli.command, cli.quiet))
                .await
                .unwrap_or_else(|_| {
                    Err(CliError::new(
                        Status::Unavailable,
                        format!(
                            "the overall deadline (--timeout {}s) passed; nothing was installed; retry or raise --timeout",
                            limit.as_secs_f64()
                        ),
                    ))
                }),
            None => run(cli.command, cli.quiet).await,
        }
    };
    let result = tokio::select! {
        result = command => result,
        _ = tokio::signal::ctrl_c() => Err(CliError::new(
            Status::Interrupted,
            "interrupted; nothing was installed",
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if json {
                output::json_failure(&e);
            }
            e.report(cli.verbose > 0);
            ExitCode::from(e.status() as u8)
        }
    }
}
