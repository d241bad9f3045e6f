//! `trustpull pull IMAGE --dest DIR`: verify an image against a signer policy, then install its
//! filesystem into DIR atomically (DESIGN.md §7, §9).
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
//! Exit status: 0 installed, 1 rejected, 2 usage or config error, 3 unavailable.

use std::path::PathBuf;
use std::sync::Arc;

use trustpull_downloader::{
    Downloader, ErrorKind, ExistingDestination, LayoutSource, LAYOUT_SCHEME,
};
use trustpull_referrers::ImageReference;
use trustpull_verifier::{
    CosignVerifier, RegistrySource, SignatureSource, SignedTarget, Verification,
};

use crate::trust_args::{describe, platform_or_host, Output, RegistryArgs, TrustArgs};
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
    output: Output,
}

/// Runs the command.
pub async fn run(args: Args) -> Result<(), CliError> {
    let policy = args.trust.policy()?;
    let root = args.trust.trust_root()?;
    let platform = platform_or_host(args.platform.as_deref())?;

    let mut builder = Downloader::builder()
        .platform(platform)
        .concurrency(args.concurrency)
        .progress(crate::progress::observer())
        .existing_destination(if args.replace {
            ExistingDestination::Replace
        } else {
            ExistingDestination::Refuse
        });
    let signatures: Arc<dyn SignatureSource> = if let Some(layout) =
        args.image.strip_prefix(LAYOUT_SCHEME)
    {
        Arc::new(LayoutSource::open_reference(layout).map_err(|e| CliError::new(Status::Usage, e))?)
    } else {
        let reference =
            ImageReference::parse(&args.image).map_err(|e| CliError::new(Status::Usage, e))?;
        let client = args.registry.client(&reference)?;
        builder = builder.client(client.clone());
        Arc::new(RegistrySource::new(client))
    };
    let verifier = CosignVerifier::new(signatures, Arc::new(policy), Arc::new(root));
    let downloader = builder
        .verifier(Arc::new(verifier))
        .build()
        .map_err(|e| CliError::new(Status::Usage, e))?;

    match downloader.pull(&args.image, &args.dest).await {
        Ok(outcome) => {
            let Verification::Verified(receipt) = &outcome.verification else {
                // CosignVerifier never answers Unverified; refuse rather than trust it silently.
                return Err(CliError::new(
                    Status::Rejected,
                    format!("{} was not verified", args.image),
                ));
            };
            match args.output {
                Output::Json => {
                    let mut value = serde_json::to_value(receipt)
                        .map_err(|e| CliError::new(Status::Usage, format!("cannot serialize the receipt: {e}")))?;
                    if let Some(map) = value.as_object_mut() {
                        map.insert("verified".to_owned(), serde_json::Value::Bool(true));
                        map.insert("dest".to_owned(), serde_json::json!(outcome.dest));
                        map.insert("reference".to_owned(), serde_json::json!(outcome.reference));
                        if let Some(index) = &outcome.index_digest {
                            map.insert("index_digest".to_owned(), serde_json::json!(index));
                        }
                    }
                    println!("{value}");
                }
                Output::Text => println!(
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
                ),
            }
            Ok(())
        }
        Err(e) => {
            let status = match e.kind() {
                ErrorKind::Rejected => Status::Rejected,
                ErrorKind::Unavailable => Status::Unavailable,
                _ => Status::Usage,
            };
            if args.output == Output::Json {
                let value = serde_json::json!({
                    "reference": args.image,
                    "verified": false,
                    "installed": false,
                    "unavailable": status == Status::Unavailable,
                    "error": describe(&e),
                });
                println!("{value}");
            }
            Err(CliError::new(status, e))
        }
    }
}
