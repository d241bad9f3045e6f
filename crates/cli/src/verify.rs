//! `trustpull verify IMAGE`: verify an image (registry or `oci-layout:`) against a signer
//! policy, through the same spine as `pull` and `install` (pin, then verify; no layer is
//! fetched).
//!
//! ```text
//! trustpull verify IMAGE (--certificate-identity S | --certificate-identity-regexp R)
//!                        (--certificate-oidc-issuer S | --certificate-oidc-issuer-regexp R)
//!                        [--not-before RFC3339] [--trusted-root FILE] [--platform os/arch[/variant]]
//!                        [--plain-http] [--output text|json]
//! ```
//!
//! The reference is resolved once; from then on everything is by digest. For a multi-arch index
//! with `--platform`, the platform child (exact os/arch, and variant when given) is verified
//! with `signed: either` by default: a signature on the child or on the index passes, and the
//! receipt says which. Without `--platform` an index is verified as itself (its own digest).
//! Regexes are full-match (unlike cosign, which matches substrings).
//!
//! The policy, trust root and registry flags are shared with `trustpull pull`
//! ([`crate::trust_args`]); registry credentials come from the Docker config.
//!
//! Exit status (`crate::exit`): 0 verified, 1 rejected, 2 usage, config or local error,
//! 3 unavailable (including an inconclusive signature list, or `--timeout`), 130 interrupted.

use std::sync::Arc;

use trustpull_downloader::{ImageLocation, PlatformChoice, PullError};
use trustpull_verifier::{CosignVerifier, SignedTarget, Verification};

use crate::output::{self, Output};
use crate::trust_args::{RegistryArgs, TrustArgs};
use crate::{CliError, Status};

/// Arguments of `trustpull verify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The image: `host[:port]/repository[:tag|@sha256:…]` or `oci-layout:PATH[:tag|@sha256:…]`.
    #[arg(value_name = "IMAGE")]
    image: String,
    #[command(flatten)]
    trust: TrustArgs,
    /// For a multi-arch index, the platform to verify: os/arch[/variant].
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub(crate) output: Output,
}

/// Runs the command; `quiet` leaves out warnings.
pub async fn run(args: Args, quiet: bool) -> Result<(), CliError> {
    let location =
        ImageLocation::parse(&args.image).map_err(|e| CliError::new(Status::Usage, e))?;
    let policy = args.trust.policy()?;
    let choice = match args.platform.as_deref() {
        Some(p) => {
            PlatformChoice::Platform(p.parse().map_err(|e| CliError::new(Status::Usage, e))?)
        }
        None => PlatformChoice::IndexItself,
    };
    let root = args.trust.trust_root()?;
    let verifier = CosignVerifier::new(Arc::new(policy), Arc::new(root));
    let downloader = args
        .registry
        .downloader(&location, Arc::new(verifier))?
        .build()
        .map_err(|e| CliError::new(Status::Usage, e))?;
    let verified = downloader.verify(&location, &choice).await.map_err(|e| {
        // A failed verification still names what was checked in the JSON document.
        let details = match &e {
            PullError::Verify { source, .. } => {
                Some(serde_json::json!({"digest": source.digest(), "verified": false}))
            }
            _ => None,
        };
        let error = CliError::of(e.kind(), e);
        match details {
            Some(details) => error.with_details(details),
            None => error,
        }
    })?;
    let subject = verified.pinned.subject();
    if let (Some(platform), None, false) = (args.platform.as_deref(), subject.index_digest(), quiet)
    {
        // Said, not silently dropped: the flag chose nothing here.
        eprintln!(
            "warning: --platform {platform} was ignored: {subject} is a single manifest, not a multi-arch index"
        );
    }
    let Verification::Verified(receipt) = &verified.verification else {
        // CosignVerifier never answers Unverified; refuse rather than trust it silently.
        return Err(CliError::new(
            Status::Rejected,
            format!("{subject} was not verified"),
        ));
    };
    let target = match receipt.signed_target() {
        SignedTarget::Manifest => "manifest",
        SignedTarget::Index => "index",
    };
    match args.output {
        Output::Json => output::json(
            "verified",
            serde_json::json!({
                "image": subject.name(),
                "digest": subject.digest(),
                "index_digest": subject.index_digest(),
                "platform": subject.platform().map(ToString::to_string),
                "verified": true,
                "format": receipt.format(),
                "receipt": output::to_json(receipt)?,
            }),
        ),
        Output::Text => output::line(format_args!(
            "verified {subject}: signed by {} ({}) on the {target} digest {} ({} signature)",
            receipt.identity(),
            receipt.issuer().unwrap_or("no issuer"),
            receipt.signed_digest(),
            receipt.format()
        )),
    }
    Ok(())
}
