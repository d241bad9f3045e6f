//! `trustpull verify-attestation IMAGE --type T`: the in-toto attestations of one predicate type
//! for an image, verified exactly like signatures, with the same policy,
//! trust-root, platform and registry flags as `verify`.
//!
//! ```text
//! trustpull verify-attestation IMAGE --type T (--certificate-identity S | …) (--certificate-oidc-issuer S | …)
//!                        [--not-before RFC3339] [--trusted-root FILE] [--platform os/arch[/variant]]
//!                        [--plain-http] [--output text|json]
//! ```
//!
//! T is a predicate type URI or one of cosign's names (`slsaprovenance`, `slsaprovenance02`,
//! `slsaprovenance1`, `spdx`, `spdxjson`, `cyclonedx`, `vuln`, `openvex`, `link`, `custom`).
//! Like cosign's, it needs no image signature besides the attestation itself. Exit status: 0
//! when at least one attestation of the type verified, 1 when none did, 2 usage, 3 unavailable.

use std::sync::Arc;

use trustpull_downloader::{ErrorKind, ImageLocation, PlatformChoice, PullError};
use trustpull_policy::Digest;
use trustpull_verifier::{predicate_type_uri, CosignVerifier, VerifyError, COSIGN_PREDICATE_TYPES};

use crate::output::{self, Output};
use crate::trust_args::{RegistryArgs, TrustArgs};
use crate::{CliError, Status};

/// Arguments of `trustpull verify-attestation`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The image: `host[:port]/repository[:tag|@sha256:…]` or `oci-layout:PATH[:tag|@sha256:…]`.
    #[arg(value_name = "IMAGE")]
    image: String,
    /// The predicate type: a URI, or a cosign name (slsaprovenance, slsaprovenance1, spdxjson, …).
    #[arg(long = "type", value_name = "T")]
    predicate_type: String,
    #[command(flatten)]
    trust: TrustArgs,
    /// For a multi-arch index, the platform whose attestations to verify: os/arch[/variant].
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub(crate) output: Output,
}

/// Why `verify-attestation` found nothing to report as verified.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyAttestationError {
    /// No attestation of the type verified for the pinned image (the verifier rejected every
    /// candidate), or the signatures could not be looked up (`source` is unavailable).
    #[error("no {predicate_type} attestation for {reference} verifies")]
    NotVerified {
        /// The predicate type URI asked for.
        predicate_type: String,
        /// The image as given on the command line.
        reference: String,
        /// The pinned manifest digest the attestations had to name.
        digest: Digest,
        /// The verifier's answer: every candidate and why it failed, or why none could be read.
        #[source]
        source: VerifyError,
    },
}

impl VerifyAttestationError {
    /// Rejected (exit 1) or, when the signatures could not be looked up, unavailable (exit 3):
    /// the same mapping as a failed verification in a pull.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NotVerified { source, .. } if source.is_unavailable() => ErrorKind::Unavailable,
            Self::NotVerified { .. } => ErrorKind::Rejected,
        }
    }
}

/// Runs the command.
pub async fn run(args: Args) -> Result<(), CliError> {
    let predicate_type = predicate_type_uri(&args.predicate_type).ok_or_else(|| {
        let names: Vec<&str> = COSIGN_PREDICATE_TYPES.iter().map(|(n, _)| *n).collect();
        CliError::new(
            Status::Usage,
            format!(
                "--type {:?} is neither a predicate type URI nor one of cosign's names ({})",
                args.predicate_type,
                names.join(", ")
            ),
        )
    })?;
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
    let verifier = Arc::new(CosignVerifier::new(Arc::new(policy), Arc::new(root)));
    let downloader = args
        .registry
        .downloader(&location, verifier.clone())?
        .build()
        .map_err(|e| CliError::new(Status::Usage, e))?;
    let pull_error = |e: PullError| CliError::of(e.kind(), e);
    let source = downloader.open(&location).map_err(pull_error)?;
    let pinned = downloader
        .pin(source.as_ref(), &choice)
        .await
        .map_err(pull_error)?;
    let subject = pinned.subject();
    let verified = verifier
        .verify_attestations(subject, source.as_ref(), &predicate_type)
        .await
        .map_err(|source| {
            let digest = source.digest().clone();
            let error = VerifyAttestationError::NotVerified {
                predicate_type: predicate_type.clone(),
                reference: pinned.reference().to_owned(),
                digest: digest.clone(),
                source,
            };
            let details = serde_json::json!({
                "digest": digest,
                "verified": false,
                "predicate_type": predicate_type,
                "attestations": [],
            });
            CliError::of(error.kind(), error).with_details(details)
        })?;
    match args.output {
        Output::Json => {
            let attestations: Vec<serde_json::Value> = verified
                .iter()
                .map(|a| {
                    serde_json::json!({
                        "predicate_type": a.predicate_type(),
                        "statement": a.statement(),
                        "identity": a.identity(),
                        "issuer": a.issuer(),
                        "format": a.format(),
                        "signed_digest": a.signed_digest(),
                        "referrer": a.referrer(),
                        "verified_timestamps": a.verified_timestamps(),
                    })
                })
                .collect();
            output::json(
                "verified",
                serde_json::json!({
                    "image": subject.name(),
                    "digest": subject.digest(),
                    "index_digest": subject.index_digest(),
                    "platform": subject.platform().map(ToString::to_string),
                    "verified": true,
                    "predicate_type": predicate_type,
                    "attestations": attestations,
                }),
            );
        }
        Output::Text => {
            for a in &verified {
                output::line(format_args!(
                    "verified {subject}: {} attestation by {} ({}) on {}",
                    a.predicate_type(),
                    a.identity(),
                    a.issuer().unwrap_or("no issuer"),
                    a.signed_digest()
                ));
            }
        }
    }
    Ok(())
}
