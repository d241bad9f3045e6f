//! `trustpull pull IMAGE --dest DIR`: verify an image against a signer policy, then install its
//! filesystem into DIR atomically.
//!
//! ```text
//! trustpull pull IMAGE --dest DIR
//!                (--certificate-identity S | --certificate-identity-regexp R)
//!                (--certificate-oidc-issuer S | --certificate-oidc-issuer-regexp R)
//!                [--not-before RFC3339] [--trusted-root FILE] [--platform os/arch[/variant]]
//!                [--signed platform|index|either] [--plain-http] [--registry-ca PEM]
//!                [--replace] [--output text|json]
//! ```
//!
//! IMAGE is a registry reference (`host[:port]/repo[:tag|@sha256:…]`, `oci://` allowed) or a
//! local OCI image layout (`oci-layout:PATH[:tag|@sha256:…]`); both are verified the same way,
//! with signatures found as referrers of the digest. The reference is resolved once; for an
//! index the platform child (default: this machine's platform) is selected from the index
//! bytes, verified (`--signed either` by default), and only then are layers fetched by digest.
//! Nothing is written to DIR unless everything passed: the tree is staged beside DIR and
//! renamed into place. DIR must not exist or be empty, unless `--replace`.
//!
//! Exit status (`crate::exit`): 0 installed, 1 rejected, 2 usage, config or local error,
//! 3 unavailable (or `--timeout` passed), 130 interrupted; nothing is installed unless 0.

use std::path::PathBuf;
use std::sync::Arc;

use trustpull_downloader::{ExistingDestination, ImageLocation};
use trustpull_verifier::{CosignVerifier, SignedTarget, Verification};

use crate::output::{self, Output};
use crate::trust_args::{platform_or_host, RegistryArgs, TrustArgs};
use crate::{CliError, Status};

/// Arguments of `trustpull pull`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The image: `host[:port]/repo[:tag|@sha256:…]` or `oci-layout:PATH[:tag|@sha256:…]`.
    #[arg(value_name = "IMAGE")]
    image: String,
    /// Where to install the image filesystem (must not exist or be empty, unless --replace).
    #[arg(long, value_name = "DIR")]
    dest: PathBuf,
    #[command(flatten)]
    trust: TrustArgs,
    #[command(flatten)]
    registry: RegistryArgs,
    /// For a multi-arch index, the platform to install: os/arch[/variant]. Default: this machine's.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    /// Replace a non-empty DIR (swapped by rename; the old tree is restored if the swap fails).
    #[arg(long)]
    replace: bool,
    /// How many layers to download at once.
    #[arg(long, default_value_t = 3, value_name = "N")]
    concurrency: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub(crate) output: Output,
}

/// Runs the command.
pub async fn run(args: Args, quiet: bool) -> Result<(), CliError> {
    let location =
        ImageLocation::parse(&args.image).map_err(|e| CliError::new(Status::Usage, e))?;
    let policy = args.trust.policy()?;
    let root = args.trust.trust_root()?;
    let platform = platform_or_host(args.platform.as_deref())?;
    let verifier = CosignVerifier::new(Arc::new(policy), Arc::new(root));
    let downloader = args
        .registry
        .downloader(&location, Arc::new(verifier))?
        .platform(platform)
        .concurrency(args.concurrency)
        .progress(crate::progress::observer(quiet))
        .existing_destination(if args.replace {
            ExistingDestination::Replace
        } else {
            ExistingDestination::Refuse
        })
        .build()
        .map_err(|e| CliError::new(Status::Usage, e))?;
    let outcome = downloader
        .pull(&location, &args.dest)
        .await
        .map_err(|e| CliError::of(e.kind(), e))?;
    let Verification::Verified(receipt) = &outcome.verification else {
        // CosignVerifier never answers Unverified; refuse rather than trust it silently.
        return Err(CliError::new(
            Status::Rejected,
            format!("{} was not verified", args.image),
        ));
    };
    match args.output {
        Output::Json => output::json(
            "installed",
            serde_json::json!({
                "reference": outcome.reference,
                "digest": outcome.digest,
                "index_digest": outcome.index_digest,
                "platform": outcome.platform.as_ref().map(ToString::to_string),
                "dest": outcome.dest,
                "verified": true,
                "format": "bundle",
                "receipt": output::to_json(receipt)?,
            }),
        ),
        Output::Text => output::line(format_args!(
            "installed {} ({}) into {}: signed by {} ({}) on the {} digest; {} entries, {} bytes",
            args.image,
            outcome.digest,
            outcome.dest.display(),
            receipt.identity(),
            receipt.issuer().unwrap_or("no issuer"),
            match receipt.signed_target() {
                SignedTarget::Manifest => "manifest",
                SignedTarget::Index => "index",
            },
            outcome.stats.entries,
            outcome.stats.bytes,
        )),
    }
    Ok(())
}
