//! `trustpull trust-root update [--mirror URL --root FILE]` and `trustpull trust-root show`:
//! refresh Sigstore's `trusted_root.json` over TUF into the cache
//! ([`crate::trust_args::cache_dir`]), and say which root commands use and when its keys are
//! valid.
//!
//! Exit codes: 0 updated or current; 2 a local problem (a custom mirror without `--root`, a bad
//! root file, no cache directory, an unwritable cache); 3 a mirror problem (unreachable, bad
//! signature, expired, rollback, freeze, mismatch, garbage): the last good root stays.

use std::path::PathBuf;

use serde_json::json;
use trustpull_verifier::{
    KeyValidity, TrustRoot, TrustRootSource, TufCache, TufError, TufMirror, PUBLIC_GOOD_MIRROR,
};

use crate::output::{self, Output};
use crate::trust_args::{cache_dir, resolve_trust_root};
use crate::{CliError, Status};

/// `trust-root` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Refresh the trusted root over TUF (default: Sigstore's public-good repository with the
    /// embedded TUF root) and keep it as the root commands use.
    Update(UpdateArgs),
    /// Show the trusted root commands use: where it came from, its fingerprint, and when its
    /// keys are valid.
    Show(ShowArgs),
}

impl Command {
    /// The `--output` format.
    pub fn output(&self) -> Output {
        match self {
            Self::Update(a) => a.output,
            Self::Show(a) => a.output,
        }
    }
}

/// `trust-root update` flags.
#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// The TUF repository (http:// or https://; its metadata is signed). A mirror other than
    /// Sigstore's public-good one needs --root.
    #[arg(long, value_name = "URL")]
    mirror: Option<String>,
    /// The repository's TUF root.json that trust starts from (no trust on first use).
    #[arg(long, value_name = "FILE", requires = "mirror")]
    root: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

/// `trust-root show` flags.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// Show this trusted_root.json instead of the one commands would use.
    #[arg(long, value_name = "FILE")]
    trusted_root: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

/// Runs `trustpull trust-root …`.
pub async fn run(command: Command) -> Result<(), CliError> {
    match command {
        Command::Update(args) => update(args).await,
        Command::Show(args) => show(&args),
    }
}

fn the_cache() -> Result<TufCache, CliError> {
    cache_dir().map(TufCache::new).ok_or_else(|| {
        CliError::new(
            Status::Usage,
            "no cache directory: set XDG_CACHE_HOME or HOME so the refreshed root can be kept",
        )
    })
}

fn mirror(args: &UpdateArgs) -> Result<TufMirror, CliError> {
    let usage = |e: TufError| CliError::new(Status::Usage, e);
    match (&args.mirror, &args.root) {
        (None, _) => Ok(TufMirror::public_good()),
        (Some(url), None) if url.trim_end_matches('/') == PUBLIC_GOOD_MIRROR => {
            Ok(TufMirror::public_good())
        }
        (Some(url), None) => Err(CliError::new(
            Status::Usage,
            format!(
                "--mirror {url} needs --root FILE: the repository's TUF root.json to start trust from (trustpull does not trust a mirror on first use)"
            ),
        )),
        (Some(url), Some(path)) => {
            let bytes = std::fs::read(path).map_err(|e| {
                CliError::new(
                    Status::Usage,
                    format!("cannot read --root {}: {e}", path.display()),
                )
            })?;
            TufMirror::new(url, bytes, &path.display().to_string()).map_err(usage)
        }
    }
}

async fn update(args: UpdateArgs) -> Result<(), CliError> {
    let mirror = mirror(&args)?;
    let cache = the_cache()?;
    let now = chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now());
    let update = cache.update(&mirror, now).await.map_err(|e| {
        let status = if e.is_unavailable() {
            Status::Unavailable
        } else {
            Status::Usage
        };
        let failure = e.failure().map(ToString::to_string);
        CliError::new(status, e).with_details(json!({
            "mirror": mirror.url(),
            "failure": failure,
            "cache": cache.dir(),
        }))
    })?;
    let root = &update.root;
    let status = if update.changed() {
        "updated"
    } else {
        "current"
    };
    match args.output {
        Output::Json => output::json(
            status,
            json!({
                "mirror": mirror.url(),
                "fingerprint": root.fingerprint(),
                "previous": update.previous,
                "fetched_at": now,
                "tuf_versions": update.versions,
                "cache": cache.dir(),
                "source": root.source(),
            }),
        ),
        Output::Text => {
            let v = &update.versions;
            let what = match &update.previous {
                Some(prev) if update.changed() => format!("updated (was {prev})"),
                Some(_) => "already current".to_owned(),
                None => "updated (first refresh)".to_owned(),
            };
            output::line(format_args!(
                "trusted root {what}: {} from {}",
                root.fingerprint(),
                mirror.url()
            ));
            output::line(format_args!(
                "TUF versions: root {}, timestamp {}, snapshot {}, targets {}; kept in {}",
                v.root,
                v.timestamp,
                v.snapshot,
                v.targets,
                cache.dir().display()
            ));
        }
    }
    Ok(())
}

fn show(args: &ShowArgs) -> Result<(), CliError> {
    let root = resolve_trust_root(args.trusted_root.as_deref(), None)?;
    match args.output {
        Output::Json => output::json(
            "ok",
            json!({
                "source": root.source(),
                "fingerprint": root.fingerprint(),
                "keys": root.validity(),
            }),
        ),
        Output::Text => {
            output::line(format_args!("source: {}", describe(&root)));
            output::line(format_args!("fingerprint: {}", root.fingerprint()));
            for key in root.validity() {
                output::line(validity_line(key));
            }
        }
    }
    Ok(())
}

fn describe(root: &TrustRoot) -> String {
    match root.source() {
        TrustRootSource::Embedded => "embedded public-good snapshot".to_owned(),
        TrustRootSource::File { path } => format!("file {}", path.display()),
        TrustRootSource::Tuf {
            mirror,
            fetched_at,
            path,
        } => format!(
            "TUF {mirror}, fetched {}, cached at {}",
            fetched_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            path.display()
        ),
        TrustRootSource::Bytes { origin } => origin.clone(),
        other => format!("{other:?}"),
    }
}

fn validity_line(key: &KeyValidity) -> String {
    let time = |t: Option<chrono::DateTime<chrono::Utc>>, none: &str| {
        t.map_or_else(
            || none.to_owned(),
            |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        )
    };
    let service = serde_json::to_value(key.service)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    format!(
        "{service:<7} {:<50} valid {} .. {}",
        key.url,
        time(key.start, "(no start)"),
        time(key.end, "(open)")
    )
}

/// `--version`'s text: the package version, then the embedded trust root's date (the newest
/// key start in it) and fingerprint.
pub fn version_text() -> String {
    let version = env!("CARGO_PKG_VERSION");
    match TrustRoot::public_good() {
        Ok(root) => format!(
            "{version}\nembedded trusted root: {} (newest key from {})",
            root.fingerprint(),
            root.newest_key_start().map_or_else(
                || "an unknown date".to_owned(),
                |t| t.format("%Y-%m-%d").to_string()
            )
        ),
        Err(e) => format!("{version}\nembedded trusted root: unusable ({e})"),
    }
}
