//! `trustpull verify IMAGE`: verify an image in a registry against a signer policy (DESIGN.md §9).
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
//! Exit status: 0 verified, 1 rejected, 2 usage or config error, 3 unavailable.

use std::sync::Arc;

use trustpull_referrers::{
    is_index_media_type, ImageIndex, ImageReference, Platform, PlatformChoiceError, RegistryError,
    RegistryErrorKind,
};
use trustpull_verifier::{
    CosignVerifier, ImageSubject, ImageVerifier, RegistrySource, Verification,
};

use crate::trust_args::{describe, Output, RegistryArgs, TrustArgs};
use crate::{CliError, Status};

/// Arguments of `trustpull verify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The image: `host[:port]/repository[:tag|@sha256:…]`.
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
    output: Output,
}

/// Runs the command.
pub async fn run(args: Args) -> Result<(), CliError> {
    let reference =
        ImageReference::parse(&args.image).map_err(|e| CliError::new(Status::Usage, e))?;
    let policy = args.trust.policy()?;
    let platform = args
        .platform
        .as_deref()
        .map(|p| p.parse::<Platform>())
        .transpose()
        .map_err(|e| CliError::new(Status::Usage, e))?;
    let root = args.trust.trust_root()?;
    let client = args.registry.client(&reference)?;

    let resolved = client
        .resolve(&reference)
        .await
        .map_err(|e| registry_error(&reference, e))?;
    let repo = reference.repository();
    if platform.is_some() && !is_index_media_type(&resolved.media_type) {
        eprintln!(
            "warning: {reference}@{} is a single-platform manifest, not an index; --platform is ignored",
            resolved.digest
        );
    }
    let subject =
        if let Some(platform) = platform.filter(|_| is_index_media_type(&resolved.media_type)) {
            let index: ImageIndex = serde_json::from_slice(&resolved.bytes).map_err(|e| {
                CliError::new(
                    Status::Rejected,
                    format!(
                        "{reference}@{}: the index does not parse: {e}",
                        resolved.digest
                    ),
                )
            })?;
            let child = index.select_platform(&platform).map_err(|e| {
                let message = match &e {
                    PlatformChoiceError::NoMatch { wanted, offered } => format!(
                        "{reference}@{} has no {wanted} image; available: {}",
                        resolved.digest,
                        offered.join(", ")
                    ),
                    other => format!("{reference}@{}: {other}", resolved.digest),
                };
                CliError::new(Status::Usage, message)
            })?;
            ImageSubject::new(
                repo.registry(),
                repo.name(),
                child.digest.clone(),
                child.media_type.clone(),
            )
            .with_index(resolved.digest.clone())
        } else {
            ImageSubject::new(
                repo.registry(),
                repo.name(),
                resolved.digest.clone(),
                resolved.media_type.clone(),
            )
        };

    let verifier = CosignVerifier::new(
        Arc::new(RegistrySource::new(client)),
        Arc::new(policy),
        Arc::new(root),
    );
    match verifier.verify(&subject).await {
        Ok(Verification::Verified(receipt)) => {
            match args.output {
                Output::Json => {
                    let mut value = serde_json::to_value(&receipt).map_err(|e| {
                        CliError::new(Status::Usage, format!("cannot serialize the receipt: {e}"))
                    })?;
                    if let Some(map) = value.as_object_mut() {
                        map.insert("verified".to_owned(), serde_json::Value::Bool(true));
                    }
                    println!("{value}");
                }
                Output::Text => println!(
                    "verified {subject}: signed by {} ({}) on the {} digest {}",
                    receipt.identity(),
                    receipt.issuer().unwrap_or("no issuer"),
                    match receipt.signed_target() {
                        trustpull_verifier::SignedTarget::Manifest => "manifest",
                        trustpull_verifier::SignedTarget::Index => "index",
                    },
                    receipt.signed_digest()
                ),
            }
            Ok(())
        }
        Ok(other) => Err(failed(
            &args,
            &subject,
            Status::Rejected,
            format!("{subject} was not verified: {other:?}"),
        )),
        Err(e) => {
            let status = if e.is_unavailable() {
                Status::Unavailable
            } else {
                Status::Rejected
            };
            Err(failed(&args, &subject, status, describe(&e)))
        }
    }
}

/// With `--output json`, a failure also prints `{"digest", "verified": false, "error"}`.
fn failed(args: &Args, subject: &ImageSubject, status: Status, message: String) -> CliError {
    if args.output == Output::Json {
        let value = serde_json::json!({
            "image": subject.name(),
            "digest": subject.digest(),
            "verified": false,
            "unavailable": status == Status::Unavailable,
            "error": message,
        });
        println!("{value}");
    }
    CliError::new(status, message)
}

fn registry_error(reference: &ImageReference, e: RegistryError) -> CliError {
    let status = match e.kind() {
        RegistryErrorKind::Unavailable => Status::Unavailable,
        RegistryErrorKind::Rejected => Status::Rejected,
        _ => Status::Usage,
    };
    CliError::new(status, format!("cannot resolve {reference}: {e}"))
}
