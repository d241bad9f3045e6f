//! `trustpull verify-bundle`: verify one Sigstore bundle for a file or digest, offline.
//!
//! This is the sigstore-conformance client protocol:
//!
//! ```text
//! trustpull verify-bundle --bundle FILE (--certificate-identity I --certificate-oidc-issuer I | --key PEM)
//!                         [--trusted-root FILE] FILE_OR_DIGEST
//! ```
//!
//! Identity and issuer match exactly. `FILE_OR_DIGEST` is a digest when it is `sha256:` plus 64
//! hex characters and no file of that name exists. DSSE predicate types are only checked when
//! `--predicate-type` is given (images are checked against their gallery policy instead).
//! Exit status: 0 verified, 1 rejected, 2 usage or config error, 3 unavailable.

use std::path::{Path, PathBuf};

use trustpull_policy::{evaluate, Digest, PolicySpec, TrustPolicy};
use trustpull_verifier::{verify_signature, verify_with_key, ManagedKey};

use crate::trust_args::resolve_trust_root;
use crate::{CliError, Status};

/// Arguments of `trustpull verify-bundle`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("signer").required(true).args(["certificate_identity", "key"])))]
pub struct Args {
    /// The Sigstore bundle (`*.sigstore.json`).
    #[arg(long, value_name = "FILE")]
    bundle: PathBuf,
    /// The exact certificate identity (SAN) that must have signed.
    #[arg(
        long,
        value_name = "IDENTITY",
        requires = "certificate_oidc_issuer",
        conflicts_with = "key"
    )]
    certificate_identity: Option<String>,
    /// The exact OIDC issuer of the signing certificate.
    #[arg(long, value_name = "ISSUER", requires = "certificate_identity")]
    certificate_oidc_issuer: Option<String>,
    /// A PEM public key, for managed-key bundles (no certificate, no identity).
    #[arg(long, value_name = "PEM")]
    key: Option<PathBuf>,
    /// A trusted_root.json; default: the cached TUF root, else the embedded public-good root.
    #[arg(long, value_name = "FILE")]
    trusted_root: Option<PathBuf>,
    /// Accept DSSE bundles only with this in-toto predicate type (repeatable).
    #[arg(long = "predicate-type", value_name = "URI")]
    predicate_types: Vec<String>,
    /// The signed file, or its digest as `sha256:<hex>`.
    #[arg(value_name = "FILE_OR_DIGEST")]
    artifact: String,
}

/// Runs the command; prints one line on success.
pub fn run(args: Args) -> Result<(), CliError> {
    let digest = artifact_digest(&args.artifact)?;
    let root = resolve_trust_root(args.trusted_root.as_deref(), None)?;
    let bundle = std::fs::read(&args.bundle).map_err(|e| {
        CliError::new(
            Status::Usage,
            format!("cannot read bundle {}: {e}", args.bundle.display()),
        )
    })?;
    if let Some(key_path) = &args.key {
        let pem = std::fs::read_to_string(key_path).map_err(|e| {
            CliError::new(
                Status::Usage,
                format!("cannot read key {}: {e}", key_path.display()),
            )
        })?;
        let key = ManagedKey::from_pem(&pem).map_err(|e| CliError::new(Status::Usage, e))?;
        verify_with_key(&bundle, &digest, &key, &root)
            .map_err(|e| rejected(&args.bundle, &digest, e))?;
        println!(
            "verified {digest}: signed with the key in {}",
            key_path.display()
        );
        return Ok(());
    }
    let spec = PolicySpec {
        identity: args.certificate_identity,
        issuer: args.certificate_oidc_issuer,
        predicate_types: (!args.predicate_types.is_empty()).then_some(args.predicate_types.clone()),
        ..PolicySpec::default()
    };
    let policy = TrustPolicy::new(spec).map_err(|e| CliError::new(Status::Usage, e))?;
    let signed = verify_signature(&bundle, &digest, &root)
        .map_err(|e| rejected(&args.bundle, &digest, e))?;
    let mut facts = signed.facts().clone();
    if args.predicate_types.is_empty() {
        facts.predicate_type = None;
    }
    evaluate(&policy, &facts).map_err(|e| {
        rejected(
            &args.bundle,
            &digest,
            trustpull_verifier::BundleRejection::Policy(e),
        )
    })?;
    println!(
        "verified {digest}: signed by {} ({})",
        facts.identity,
        facts.issuer.as_deref().unwrap_or("no issuer")
    );
    Ok(())
}

fn rejected(bundle: &Path, digest: &Digest, e: trustpull_verifier::BundleRejection) -> CliError {
    CliError::new(
        Status::Rejected,
        format!("bundle {} does not verify {digest}: {e}", bundle.display()),
    )
}

fn artifact_digest(arg: &str) -> Result<Digest, CliError> {
    if !Path::new(arg).exists() {
        if let Ok(d) = Digest::parse(arg) {
            return Ok(d);
        }
    }
    let bytes = std::fs::read(arg).map_err(|e| {
        CliError::new(
            Status::Usage,
            format!("cannot read artifact {arg}: {e}; pass a file or a sha256:<64 hex> digest"),
        )
    })?;
    Ok(Digest::of(&bytes))
}
