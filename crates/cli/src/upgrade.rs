//! `trustpull upgrade [NAME ...] --galleries FILE --dest DIR [--dry-run]`:
//! resolve each installed backend's location again and install a new digest through the same
//! plan; the old tree and receipt stay whenever anything fails.
//!
//! Exit: 0 when every backend is upgraded, current or (with `--dry-run`) would be upgraded;
//! otherwise 1 if any upgrade was rejected, else 2 for a local or config problem, else 3 when
//! only availability failed. `--output json`: the usual document with `backends`, an array of
//! `{name, from, to, status}` (status: upgraded, current, would-upgrade, rejected,
//! unavailable, error), on success and on failure.

use std::path::PathBuf;

use trustpull_gallery::{UpgradeReport, UpgradeStatus};

use crate::gallery_args::{installer, load, require_integrity};
use crate::output::{self, Output};
use crate::trust_args::platform_or_host;
use crate::{CliError, Status};

/// Arguments of `trustpull upgrade`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Backends to upgrade (concrete, meta or alias names); none: every installed backend.
    #[arg(value_name = "NAME")]
    names: Vec<String>,
    /// The operator config naming the galleries.
    #[arg(long, value_name = "FILE")]
    galleries: PathBuf,
    /// The install directory holding the backends and their receipts.
    #[arg(long, value_name = "DIR")]
    dest: PathBuf,
    /// Only resolve and report what would be upgraded; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Refuse anything that is not verified (so does TRUSTPULL_REQUIRE_INTEGRITY=1).
    #[arg(long)]
    require_integrity: bool,
    /// The platform for backends installed from a single manifest (those installed from an
    /// index keep the platform their receipt records). Default: this machine's.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub(crate) output: Output,
}

/// Runs `trustpull upgrade`.
pub async fn run(args: Args, quiet: bool) -> Result<(), CliError> {
    let strict = require_integrity(args.require_integrity)?;
    let config = load(&args.galleries)?;
    let platform = platform_or_host(args.platform.as_deref())?;
    let installer = installer(config, strict, Some(platform), None, quiet)?;
    let reports = installer
        .upgrade(&args.names, &args.dest, args.dry_run)
        .await
        .map_err(|e| CliError::of(e.kind(), e))?;
    if !quiet {
        for r in &reports {
            for w in &r.warnings {
                eprintln!("warning: {}: {w}", r.name);
            }
        }
    }
    let has = |s: UpgradeStatus| reports.iter().any(|r| r.status == s);
    let failure = if has(UpgradeStatus::Rejected) {
        Some(Status::Rejected)
    } else if has(UpgradeStatus::Error) {
        Some(Status::Usage)
    } else if has(UpgradeStatus::Unavailable) {
        Some(Status::Unavailable)
    } else {
        None
    };
    let body = serde_json::json!({ "backends": output::to_json(&reports)? });
    match args.output {
        Output::Json if failure.is_none() => {
            let status = if has(UpgradeStatus::Upgraded) {
                "upgraded"
            } else if has(UpgradeStatus::WouldUpgrade) {
                "would-upgrade"
            } else {
                "current"
            };
            output::json(status, body.clone());
        }
        // On failure main prints the one document: the error, with the reports as details.
        Output::Json => {}
        Output::Text => {
            for r in &reports {
                output::line(text(r));
            }
            if reports.is_empty() {
                output::line(format_args!(
                    "no backends installed in {}",
                    args.dest.display()
                ));
            }
        }
    }
    let Some(status) = failure else {
        return Ok(());
    };
    let failed: Vec<&str> = reports
        .iter()
        .filter(|r| {
            matches!(
                r.status,
                UpgradeStatus::Rejected | UpgradeStatus::Error | UpgradeStatus::Unavailable
            )
        })
        .map(|r| r.name.as_str())
        .collect();
    Err(CliError::new(
        status,
        format!(
            "{} backend(s) not upgraded, the installed version kept: {}",
            failed.len(),
            failed.join(", ")
        ),
    )
    .with_details(body))
}

fn text(r: &UpgradeReport) -> String {
    let to = r.to.as_ref().map(ToString::to_string);
    let to = to.as_deref().unwrap_or("?");
    match r.status {
        UpgradeStatus::Upgraded => format!("upgraded       {}: {} -> {to}", r.name, r.from),
        UpgradeStatus::Current => format!("current        {}: {}", r.name, r.from),
        UpgradeStatus::WouldUpgrade => format!("would-upgrade  {}: {} -> {to}", r.name, r.from),
        other => format!(
            "{:<14} {}: kept {}: {}",
            match other {
                UpgradeStatus::Rejected => "rejected",
                UpgradeStatus::Unavailable => "unavailable",
                _ => "error",
            },
            r.name,
            r.from,
            r.reason.as_deref().unwrap_or("no reason given")
        ),
    }
}
