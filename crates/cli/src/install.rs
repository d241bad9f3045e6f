//! `trustpull install NAME --galleries FILE --dest DIR` and
//! `trustpull verify-installed --galleries FILE --dest DIR`.
//!
//! The flow lives in `trustpull_gallery::Installer`; this module builds one
//! (`crate::gallery_args`), prints warnings and results, and maps errors to exit codes through
//! `crate::exit`: 0 installed / all OK, 1 rejected or strict refusal or a backend that no
//! longer passes, 2 usage, config or local (a bad index name, a destination that cannot be
//! written, tarball entries: not implemented yet), 3 unavailable, 130 interrupted.

use std::path::PathBuf;

use trustpull_gallery::{CheckStatus, InstallError};

use crate::gallery_args::{installer, load, require_integrity};
use crate::output::{self, Output};
use crate::trust_args::platform_or_host;
use crate::{CliError, Status};

/// Arguments of `trustpull install`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The backend name (a concrete entry or a meta entry).
    #[arg(value_name = "NAME")]
    name: String,
    /// The operator config naming the galleries.
    #[arg(long, value_name = "FILE")]
    galleries: PathBuf,
    /// The install directory: the backend goes to DIR/<entry name>, its receipt beside it.
    #[arg(long, value_name = "DIR")]
    dest: PathBuf,
    /// Refuse anything that is not verified (forces the config's require_integrity on; so does
    /// TRUSTPULL_REQUIRE_INTEGRITY=1).
    #[arg(long)]
    require_integrity: bool,
    /// For a multi-arch index, the platform to install: os/arch[/variant]. Default: this machine's.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    /// The capability that resolves a meta entry.
    #[arg(long, default_value = "default", value_name = "C")]
    capability: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub(crate) output: Output,
}

/// Arguments of `trustpull verify-installed`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The operator config naming the galleries (today's policies).
    #[arg(long, value_name = "FILE")]
    galleries: PathBuf,
    /// The install directory holding the backends and their receipts.
    #[arg(long, value_name = "DIR")]
    dest: PathBuf,
    /// Treat backends from galleries without a policy as failed (so does
    /// TRUSTPULL_REQUIRE_INTEGRITY=1).
    #[arg(long)]
    require_integrity: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub(crate) output: Output,
}

/// Runs `trustpull install`.
pub async fn run(args: Args, quiet: bool) -> Result<(), CliError> {
    let strict = require_integrity(args.require_integrity)?;
    let config = load(&args.galleries)?;
    let platform = platform_or_host(args.platform.as_deref())?;
    let installer = installer(
        config,
        strict,
        Some(platform),
        Some(&args.capability),
        quiet,
    )?;
    let outcome = installer
        .install(&args.name, &args.dest)
        .await
        .map_err(|e| CliError::of(e.kind(), e))?;
    if !quiet {
        for w in &outcome.warnings {
            eprintln!("warning: {w}");
        }
    }
    let r = &outcome.receipt;
    match args.output {
        Output::Json => {
            let mut value = output::to_json(r)?;
            if let Some(map) = value.as_object_mut() {
                // The receipt's listing is for verify-installed; the document gives its digest.
                map.remove("tree");
                let tree_digest = r.tree.as_ref().map(|t| t.digest());
                map.insert("tree_digest".into(), serde_json::json!(tree_digest));
                map.insert("dest".into(), serde_json::json!(outcome.dest));
                map.insert(
                    "receipt_path".into(),
                    serde_json::json!(outcome.receipt_path),
                );
                map.insert("warnings".into(), serde_json::json!(outcome.warnings));
            }
            output::json("installed", value);
        }
        Output::Text => output::line(format_args!(
            "installed {}{} ({}) from gallery {:?} via {} into {}: {}; receipt {}",
            r.name,
            match &r.meta {
                Some(meta) => format!(" for {meta}"),
                None => String::new(),
            },
            r.digest,
            r.gallery,
            r.source,
            outcome.dest.display(),
            match &r.verification {
                Some(v) => format!("signed by {}", v.identity()),
                None => "NOT verified".to_owned(),
            },
            outcome.receipt_path.display(),
        )),
    }
    Ok(())
}

pub async fn run_verify(args: VerifyArgs) -> Result<(), CliError> {
    let strict = require_integrity(args.require_integrity)?;
    let config = load(&args.galleries)?;
    let installer = installer(config, strict, None, None, true)?;
    let checks = installer
        .verify_installed(&args.dest)
        .await
        .map_err(|e: InstallError| CliError::of(e.kind(), e))?;
    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| {
            !matches!(
                c.status,
                CheckStatus::Verified { .. } | CheckStatus::Unsigned { .. }
            )
        })
        .map(|c| c.name.as_str())
        .collect();
    match args.output {
        Output::Json if failed.is_empty() => output::json(
            "verified",
            serde_json::json!({ "backends": output::to_json(&checks)? }),
        ),
        // On failure main prints the one document: the error, with the checks as details.
        Output::Json => {}
        Output::Text => {
            for c in &checks {
                match &c.status {
                    CheckStatus::Verified { identity } => output::line(format_args!(
                        "OK      {} ({}, gallery {:?}): signed by {identity}",
                        c.name, c.digest, c.gallery
                    )),
                    CheckStatus::Unsigned { warning } => output::line(format_args!(
                        "OK      {} ({}, gallery {:?}): not verified: {warning}",
                        c.name, c.digest, c.gallery
                    )),
                    CheckStatus::Failed { reason, .. } => output::line(format_args!(
                        "FAILED  {} ({}, gallery {:?}): {reason}",
                        c.name, c.digest, c.gallery
                    )),
                    _ => output::line(format_args!("FAILED  {}: unknown result", c.name)),
                }
            }
            if checks.is_empty() {
                output::line(format_args!("no receipts in {}", args.dest.display()));
            }
        }
    }
    if failed.is_empty() {
        return Ok(());
    }
    let all_unavailable = checks.iter().all(|c| {
        !matches!(
            c.status,
            CheckStatus::Failed {
                unavailable: false,
                ..
            }
        )
    });
    Err(CliError::new(
        if all_unavailable {
            Status::Unavailable
        } else {
            Status::Rejected
        },
        format!(
            "{} installed backend(s) no longer pass: {}",
            failed.len(),
            failed.join(", ")
        ),
    )
    .with_details(serde_json::json!({ "backends": output::to_json(&checks)? })))
}
