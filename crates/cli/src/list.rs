//! `trustpull list --galleries FILE`: the backends every configured gallery offers; and
//! `trustpull list --installed --dest DIR [--galleries FILE] [NAME ...]`: the backends installed
//! there (name, digest, gallery, verified, alias, meta), with an `upgradable` column when the
//! galleries are given (resolved only, nothing downloaded: `upgrade --dry-run`'s check).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;
use trustpull_gallery::{installed, Installer, UpgradeStatus};

use crate::gallery_args::{installer, load};
use crate::output::{self, Output};
use crate::{CliError, Status};

/// Arguments of `trustpull list`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// With --installed: only these backends (concrete, meta or alias names).
    #[arg(value_name = "NAME", requires = "installed")]
    names: Vec<String>,
    /// The operator config naming the galleries (required without --installed).
    #[arg(long, value_name = "FILE")]
    galleries: Option<PathBuf>,
    /// List the backends installed in --dest instead of the galleries' entries.
    #[arg(long, requires = "dest")]
    installed: bool,
    /// The install directory (with --installed).
    #[arg(long, value_name = "DIR", requires = "installed")]
    dest: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub(crate) output: Output,
}

#[derive(Serialize)]
struct Listed<'a> {
    name: &'a str,
    gallery: &'a str,
    signed: bool,
    meta: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    uri: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    mirrors: &'a [String],
}

/// One installed backend, as `list --installed` shows it.
#[derive(Serialize)]
struct Installed {
    name: String,
    digest: String,
    gallery: String,
    verified: bool,
    alias: Option<String>,
    meta: Option<String>,
    source: String,
    /// With --galleries: whether the location now resolves to another digest (`null`: it
    /// could not be resolved; `upgrade_check` says why).
    #[serde(skip_serializing_if = "Option::is_none")]
    upgradable: Option<Option<bool>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    available: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    upgrade_check: Option<String>,
}

/// Runs `trustpull list`.
pub async fn run(args: Args) -> Result<(), CliError> {
    if args.installed {
        return run_installed(args).await;
    }
    let Some(galleries) = &args.galleries else {
        return Err(CliError::new(
            Status::Usage,
            "list needs --galleries FILE (the galleries' entries) or --installed --dest DIR",
        ));
    };
    let installer = Installer::builder(load(galleries)?)
        .build()
        .map_err(|e| CliError::of(e.kind(), e))?;
    let mut indexes = Vec::new();
    for gallery in &installer.config().galleries {
        let index = installer
            .index(gallery)
            .await
            .map_err(|e| CliError::of(e.kind(), e))?;
        indexes.push((gallery, index));
    }
    let listed: Vec<Listed<'_>> = indexes
        .iter()
        .flat_map(|(gallery, index)| {
            index.entries().iter().map(|e| Listed {
                name: &e.name,
                gallery: &gallery.name,
                signed: gallery.verification.is_some(),
                meta: e.is_meta(),
                uri: e.uri.as_deref(),
                mirrors: &e.mirrors,
            })
        })
        .collect();
    match args.output {
        Output::Json => output::json(
            "listed",
            serde_json::json!({ "backends": output::to_json(&listed)? }),
        ),
        Output::Text => {
            for l in &listed {
                let what = if l.meta {
                    "meta"
                } else {
                    l.uri.unwrap_or("(no uri)")
                };
                let signed = if l.signed { "signed" } else { "unsigned" };
                output::line(format_args!("{}/{}\t{signed}\t{what}", l.gallery, l.name));
            }
        }
    }
    Ok(())
}

async fn run_installed(args: Args) -> Result<(), CliError> {
    let Some(dest) = &args.dest else {
        return Err(CliError::new(
            Status::Usage,
            "list --installed needs --dest DIR",
        ));
    };
    let lib = |e: trustpull_gallery::InstallError| CliError::of(e.kind(), e);
    let mut backends = installed(dest).await.map_err(lib)?;
    if !args.names.is_empty() {
        backends.retain(|b| args.names.iter().any(|n| b.receipt.answers_to(n)));
        if let Some(missing) = args
            .names
            .iter()
            .find(|n| !backends.iter().any(|b| b.receipt.answers_to(n)))
        {
            return Err(lib(trustpull_gallery::InstallError::NotInstalled {
                name: missing.clone(),
                dest: dest.clone(),
            }));
        }
    }
    // With the galleries: `upgrade --dry-run`'s check (resolve only).
    let checks = match &args.galleries {
        Some(galleries) => {
            let installer = installer(load(galleries)?, false, None, None, true)?;
            let names: Vec<String> = backends
                .iter()
                .map(|b| b.receipt.name.to_string())
                .collect();
            let reports = if names.is_empty() {
                Vec::new()
            } else {
                installer.upgrade(&names, dest, true).await.map_err(lib)?
            };
            Some(
                reports
                    .into_iter()
                    .map(|r| (r.name.clone(), r))
                    .collect::<BTreeMap<_, _>>(),
            )
        }
        None => None,
    };
    let rows: Vec<Installed> = backends
        .iter()
        .map(|b| {
            let r = &b.receipt;
            let check = checks.as_ref().map(|c| c.get(r.name.as_str()));
            Installed {
                name: r.name.to_string(),
                digest: r.digest.to_string(),
                gallery: r.gallery.clone(),
                verified: r.verified,
                alias: r.alias.as_ref().map(ToString::to_string),
                meta: r.meta.as_ref().map(ToString::to_string),
                source: r.source.clone(),
                upgradable: check.map(|c| {
                    c.and_then(|c| match c.status {
                        UpgradeStatus::WouldUpgrade => Some(true),
                        UpgradeStatus::Current => Some(false),
                        _ => None,
                    })
                }),
                available: check
                    .flatten()
                    .and_then(|c| c.to.as_ref())
                    .map(ToString::to_string),
                upgrade_check: check.flatten().and_then(|c| c.reason.clone()),
            }
        })
        .collect();
    match args.output {
        Output::Json => output::json(
            "listed",
            serde_json::json!({ "backends": output::to_json(&rows)? }),
        ),
        Output::Text => {
            for row in &rows {
                let mut line = format!(
                    "{}\t{}\t{}\t{}",
                    row.name,
                    row.digest,
                    row.gallery,
                    if row.verified {
                        "verified"
                    } else {
                        "UNVERIFIED"
                    }
                );
                if let Some(alias) = &row.alias {
                    line.push_str(&format!("\talias={alias}"));
                }
                if let Some(meta) = &row.meta {
                    line.push_str(&format!("\tmeta={meta}"));
                }
                match row.upgradable {
                    Some(Some(true)) => line.push_str(&format!(
                        "\tupgradable to {}",
                        row.available.as_deref().unwrap_or("?")
                    )),
                    Some(Some(false)) => line.push_str("\tcurrent"),
                    Some(None) => line.push_str(&format!(
                        "\tupgrade check failed: {}",
                        row.upgrade_check.as_deref().unwrap_or("unknown")
                    )),
                    None => {}
                }
                output::line(line);
            }
            if rows.is_empty() {
                output::line(format_args!("no backends installed in {}", dest.display()));
            }
        }
    }
    Ok(())
}
