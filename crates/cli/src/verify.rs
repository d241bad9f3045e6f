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
//! Registry credentials come from the Docker config (`$DOCKER_CONFIG/config.json` or
//! `~/.docker/config.json`), read here and passed to the registry client.
//!
//! Exit status: 0 verified, 1 rejected, 2 usage or config error, 3 unavailable.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use trustpull_policy::{PolicySpec, SignedBy, TrustPolicy};
use trustpull_referrers::{
    is_index_media_type, Credentials, DockerConfig, ErrorKind, ImageIndex, ImageReference,
    RegistryClient, RegistryError,
};
use trustpull_verifier::{
    CosignVerifier, ImageSubject, ImageVerifier, RegistrySource, TrustRoot, TrustRootError,
    Verification, VerifyError,
};

use crate::{CliError, Status};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// One line for people.
    Text,
    /// The receipt as JSON, with `"digest"` and `"verified"`.
    Json,
}

/// Which digest's signature counts for a platform image selected from an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Signed {
    /// The platform manifest must be signed (cosign sign --recursive).
    Platform,
    /// The index must be signed.
    Index,
    /// Either one.
    Either,
}

/// Arguments of `trustpull verify`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("identity").required(true).multiple(true).args(["certificate_identity", "certificate_identity_regexp"])))]
#[command(group(clap::ArgGroup::new("issuer").required(true).multiple(true).args(["certificate_oidc_issuer", "certificate_oidc_issuer_regexp"])))]
pub struct Args {
    /// The image: `host[:port]/repository[:tag|@sha256:…]`.
    #[arg(value_name = "IMAGE")]
    image: String,
    /// The exact certificate identity (SAN) that must have signed.
    #[arg(long, value_name = "IDENTITY")]
    certificate_identity: Option<String>,
    /// A regex the whole certificate identity must match (full match).
    #[arg(long, value_name = "REGEX")]
    certificate_identity_regexp: Option<String>,
    /// The exact OIDC issuer of the signing certificate.
    #[arg(long, value_name = "ISSUER")]
    certificate_oidc_issuer: Option<String>,
    /// A regex the whole OIDC issuer must match (full match).
    #[arg(long, value_name = "REGEX")]
    certificate_oidc_issuer_regexp: Option<String>,
    /// Reject signatures whose earliest verified timestamp is before this time (RFC 3339).
    #[arg(long, value_name = "RFC3339")]
    not_before: Option<String>,
    /// A trusted_root.json; default: the embedded public-good Sigstore root.
    #[arg(long, value_name = "FILE")]
    trusted_root: Option<PathBuf>,
    /// For a multi-arch index, the platform to verify: os/arch[/variant].
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    /// Which digest's signature counts for a platform image.
    #[arg(long, value_enum, default_value_t = Signed::Either)]
    signed: Signed,
    /// Talk plain HTTP (no TLS) to the image's registry.
    #[arg(long)]
    plain_http: bool,
    /// Extra CA certificates (PEM) to trust for the registry.
    #[arg(long, value_name = "PEM")]
    registry_ca: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

/// Runs the command.
pub async fn run(args: Args) -> Result<(), CliError> {
    let reference =
        ImageReference::parse(&args.image).map_err(|e| CliError::new(Status::Usage, e))?;
    let policy = TrustPolicy::new(PolicySpec {
        identity: args.certificate_identity.clone(),
        identity_regex: args.certificate_identity_regexp.clone(),
        issuer: args.certificate_oidc_issuer.clone(),
        issuer_regex: args.certificate_oidc_issuer_regexp.clone(),
        not_before: args.not_before.clone(),
        signed: Some(match args.signed {
            Signed::Platform => SignedBy::Platform,
            Signed::Index => SignedBy::Index,
            Signed::Either => SignedBy::Either,
        }),
        ..PolicySpec::default()
    })
    .map_err(|e| CliError::new(Status::Usage, e))?;
    let platform = args.platform.as_deref().map(parse_platform).transpose()?;
    let root = load_root(args.trusted_root.as_deref())?;
    let client = build_client(&args, &reference)?;

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
    let subject = if let Some((os, arch, variant)) =
        platform.filter(|_| is_index_media_type(&resolved.media_type))
    {
        let index: ImageIndex = serde_json::from_slice(&resolved.bytes).map_err(|e| {
            CliError::new(
                Status::Rejected,
                format!(
                    "{reference}@{}: the index does not parse: {e}",
                    resolved.digest
                ),
            )
        })?;
        let child = index
            .manifests
            .iter()
            .find(|d| {
                d.platform.as_ref().is_some_and(|p| {
                    p.os == os
                        && p.architecture == arch
                        && (variant.is_none() || p.variant == variant)
                })
            })
            .ok_or_else(|| {
                let available: Vec<String> = index
                    .manifests
                    .iter()
                    .filter_map(|d| d.platform.as_ref())
                    .map(|p| match &p.variant {
                        Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
                        None => format!("{}/{}", p.os, p.architecture),
                    })
                    .collect();
                CliError::new(
                    Status::Usage,
                    format!(
                        "{reference}@{} has no {} image; available: {}",
                        resolved.digest,
                        args.platform.as_deref().unwrap_or(""),
                        available.join(", ")
                    ),
                )
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

fn describe(e: &VerifyError) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

fn build_client(args: &Args, reference: &ImageReference) -> Result<RegistryClient, CliError> {
    let mut builder = RegistryClient::builder().credentials(docker_credentials()?);
    if args.plain_http {
        builder = builder.plain_http_host(reference.repository().registry());
    }
    if let Some(path) = &args.registry_ca {
        let pem = std::fs::read(path).map_err(|e| {
            CliError::new(
                Status::Usage,
                format!("cannot read CA file {}: {e}", path.display()),
            )
        })?;
        builder = builder.add_root_certificates_pem(pem);
    }
    builder.build().map_err(|e| CliError::new(Status::Usage, e))
}

/// The Docker config the docker CLI would use: `$DOCKER_CONFIG/config.json`, else
/// `$HOME/.docker/config.json`; anonymous when there is none.
pub fn docker_credentials() -> Result<Credentials, CliError> {
    let path = match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) => PathBuf::from(dir).join("config.json"),
        None => match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(".docker").join("config.json"),
            None => return Ok(Credentials::anonymous()),
        },
    };
    match std::fs::read(&path) {
        Ok(bytes) => DockerConfig::from_json(&bytes)
            .map(Credentials::from_docker_config)
            .map_err(|e| CliError::new(Status::Usage, format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Credentials::anonymous()),
        Err(e) => Err(CliError::new(
            Status::Usage,
            format!("cannot read {}: {e}", path.display()),
        )),
    }
}

fn registry_error(reference: &ImageReference, e: RegistryError) -> CliError {
    let status = match e.kind() {
        ErrorKind::Unavailable => Status::Unavailable,
        ErrorKind::Rejected => Status::Rejected,
        _ => Status::Usage,
    };
    CliError::new(status, format!("cannot resolve {reference}: {e}"))
}

type PlatformSpec = (String, String, Option<String>);

fn parse_platform(text: &str) -> Result<PlatformSpec, CliError> {
    let parts: Vec<&str> = text.split('/').collect();
    match parts.as_slice() {
        [os, arch] if !os.is_empty() && !arch.is_empty() => {
            Ok(((*os).to_owned(), (*arch).to_owned(), None))
        }
        [os, arch, variant] if !os.is_empty() && !arch.is_empty() && !variant.is_empty() => Ok((
            (*os).to_owned(),
            (*arch).to_owned(),
            Some((*variant).to_owned()),
        )),
        _ => Err(CliError::new(
            Status::Usage,
            format!("--platform {text:?}: expected os/arch or os/arch/variant"),
        )),
    }
}

fn load_root(path: Option<&Path>) -> Result<TrustRoot, CliError> {
    let root = match path {
        Some(p) => TrustRoot::from_file(p),
        None => TrustRoot::public_good(),
    };
    root.map_err(|e| match e {
        TrustRootError::Unreadable { .. } => CliError::new(Status::Unavailable, e),
        _ => CliError::new(Status::Usage, e),
    })
}
