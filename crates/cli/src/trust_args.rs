//! The flags `trustpull verify` and `trustpull pull` share, flattened into both with
//! `#[command(flatten)]`: the signer policy and trust root ([`TrustArgs`], cosign's flag names)
//! and how to reach the registry ([`RegistryArgs`]), with the code that turns them into a
//! [`TrustPolicy`], a [`TrustRoot`] and a [`RegistryClient`]; also the `--output` format.
//!
//! Registry credentials come from the Docker config (`$DOCKER_CONFIG/config.json` or
//! `~/.docker/config.json`), read here and passed to the registry client.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use trustpull_downloader::{Downloader, DownloaderBuilder, ImageLocation};
use trustpull_policy::{FulcioClaim, PolicySpec, SignedBy, TrustPolicy};
use trustpull_referrers::{Credentials, DiscoveryOptions, DockerConfig, RegistryClient};
use trustpull_verifier::{ImageVerifier, TrustRoot, TrustRootError, TufCache};

use crate::{CliError, Status};

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

/// The signer policy and trust flags (cosign's names).
#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("identity").required(true).multiple(true).args(["certificate_identity", "certificate_identity_regexp"])))]
#[command(group(clap::ArgGroup::new("issuer").required(true).multiple(true).args(["certificate_oidc_issuer", "certificate_oidc_issuer_regexp"])))]
pub struct TrustArgs {
    /// The exact certificate identity (SAN) that must have signed.
    #[arg(long, value_name = "IDENTITY")]
    pub certificate_identity: Option<String>,
    /// A regex the whole certificate identity must match (full match, unlike cosign).
    #[arg(long, value_name = "REGEX")]
    pub certificate_identity_regexp: Option<String>,
    /// The exact OIDC issuer of the signing certificate.
    #[arg(long, value_name = "ISSUER")]
    pub certificate_oidc_issuer: Option<String>,
    /// A regex the whole OIDC issuer must match (full match).
    #[arg(long, value_name = "REGEX")]
    pub certificate_oidc_issuer_regexp: Option<String>,
    /// Reject signatures whose earliest verified timestamp is before this time (RFC 3339).
    #[arg(long, value_name = "RFC3339")]
    pub not_before: Option<String>,
    /// A trusted_root.json; default: the root `trustpull trust-root update` last fetched, else
    /// the embedded public-good Sigstore root.
    #[arg(long, value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,
    /// Which digest's signature counts for a platform image selected from an index.
    #[arg(long, value_enum, default_value_t = Signed::Either)]
    pub signed: Signed,
    /// The exact GitHub workflow repository claim (e.g. acme/backends) the certificate must carry.
    #[arg(long, value_name = "OWNER/REPO")]
    pub certificate_github_workflow_repository: Option<String>,
    /// The exact GitHub workflow ref claim (e.g. refs/heads/main).
    #[arg(long, value_name = "REF")]
    pub certificate_github_workflow_ref: Option<String>,
    /// The exact GitHub workflow commit SHA claim.
    #[arg(long, value_name = "SHA")]
    pub certificate_github_workflow_sha: Option<String>,
    /// The exact GitHub workflow name claim.
    #[arg(long, value_name = "NAME")]
    pub certificate_github_workflow_name: Option<String>,
    /// The exact GitHub workflow trigger claim (e.g. push).
    #[arg(long, value_name = "EVENT")]
    pub certificate_github_workflow_trigger: Option<String>,
}

impl TrustArgs {
    /// The validated policy; a bad flag value is a usage error.
    pub fn policy(&self) -> Result<TrustPolicy, CliError> {
        // cosign's claim flags, as the policy's `extensions:` (the same Fulcio claim names).
        let extensions = [
            (
                FulcioClaim::GithubWorkflowRepository,
                &self.certificate_github_workflow_repository,
            ),
            (
                FulcioClaim::GithubWorkflowRef,
                &self.certificate_github_workflow_ref,
            ),
            (
                FulcioClaim::GithubWorkflowSha,
                &self.certificate_github_workflow_sha,
            ),
            (
                FulcioClaim::GithubWorkflowName,
                &self.certificate_github_workflow_name,
            ),
            (
                FulcioClaim::GithubWorkflowTrigger,
                &self.certificate_github_workflow_trigger,
            ),
        ]
        .into_iter()
        .filter_map(|(claim, value)| value.clone().map(|v| (claim.name().to_owned(), v)))
        .collect();
        TrustPolicy::new(PolicySpec {
            extensions,
            identity: self.certificate_identity.clone(),
            identity_regex: self.certificate_identity_regexp.clone(),
            issuer: self.certificate_oidc_issuer.clone(),
            issuer_regex: self.certificate_oidc_issuer_regexp.clone(),
            not_before: self.not_before.clone(),
            signed: Some(match self.signed {
                Signed::Platform => SignedBy::Platform,
                Signed::Index => SignedBy::Index,
                Signed::Either => SignedBy::Either,
            }),
            ..PolicySpec::default()
        })
        .map_err(|e| CliError::new(Status::Usage, e))
    }

    /// The trust root, resolved by [`resolve_trust_root`] from `--trusted-root`.
    pub fn trust_root(&self) -> Result<TrustRoot, CliError> {
        resolve_trust_root(self.trusted_root.as_deref(), None)
    }
}

/// THE trust-root resolution order for every command: the `--trusted-root`
/// file; else the config's `trusted_root:` (gallery commands); else the root `trustpull
/// trust-root update` left in the cache ([`cache_dir`]); else the embedded public-good snapshot.
///
/// An unreadable file is unavailable (3); a malformed file or a damaged cache is a local error
/// (2), never a silent fall back to the embedded root.
pub fn resolve_trust_root(
    flag: Option<&Path>,
    configured: Option<&Path>,
) -> Result<TrustRoot, CliError> {
    if let Some(path) = flag.or(configured) {
        return TrustRoot::from_file(path).map_err(|e| match e {
            TrustRootError::Unreadable { .. } => CliError::new(Status::Unavailable, e),
            _ => CliError::new(Status::Usage, e),
        });
    }
    if let Some(root) = cached_tuf_root()? {
        return Ok(root);
    }
    TrustRoot::public_good().map_err(|e| CliError::new(Status::Usage, e))
}

/// The root the last `trustpull trust-root update` left in the cache ([`cache_dir`]), checked
/// against its recorded fingerprint; `None` when there is none. A damaged cache is exit 2.
pub fn cached_tuf_root() -> Result<Option<TrustRoot>, CliError> {
    match cache_dir() {
        Some(dir) => TufCache::new(dir)
            .load()
            .map_err(|e| CliError::new(Status::Usage, e)),
        None => Ok(None),
    }
}

/// Where `trust-root update` keeps the last good root: `$XDG_CACHE_HOME/trustpull`, else
/// `$HOME/.cache/trustpull`; `None` when neither variable is set.
pub fn cache_dir() -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    xdg.or_else(|| {
        std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| PathBuf::from(h).join(".cache"))
    })
    .map(|base| base.join("trustpull"))
}

/// How to reach the image's registry.
#[derive(Debug, Clone, clap::Args)]
pub struct RegistryArgs {
    /// Talk plain HTTP (no TLS) to the image's registry.
    #[arg(long)]
    pub plain_http: bool,
    /// Extra CA certificates (PEM) to trust for the registry.
    #[arg(long, value_name = "PEM")]
    pub registry_ca: Option<PathBuf>,
}

impl RegistryArgs {
    /// A downloader builder for `location` (a registry client with the Docker config's
    /// credentials, discovery dated now), with `verifier`: the one way `verify` and `pull`
    /// reach an image.
    pub fn downloader(
        &self,
        location: &ImageLocation,
        verifier: Arc<dyn ImageVerifier>,
    ) -> Result<DownloaderBuilder, CliError> {
        Ok(Downloader::builder()
            .client(self.client(location)?)
            .discovery(discovery_now())
            .verifier(verifier))
    }

    /// A registry client for `location`'s registry, with the Docker config's credentials.
    fn client(&self, location: &ImageLocation) -> Result<RegistryClient, CliError> {
        let mut builder = RegistryClient::builder().credentials(docker_credentials()?);
        if self.plain_http {
            builder = builder.plain_http_host(location.registry());
        }
        if let Some(path) = &self.registry_ca {
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
}

/// Registry credentials as podman and skopeo find them, then as the docker CLI does: the file
/// `$REGISTRY_AUTH_FILE` names (podman's `auth.json`, same shape as Docker's) when set, then
/// `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`. A file that does not exist
/// adds nothing (as in podman); anonymous when there is none.
pub fn docker_credentials() -> Result<Credentials, CliError> {
    let docker = match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) => Some(PathBuf::from(dir).join("config.json")),
        None => std::env::var_os("HOME")
            .map(|home| PathBuf::from(home).join(".docker").join("config.json")),
    };
    let files = std::env::var_os("REGISTRY_AUTH_FILE")
        .map(PathBuf::from)
        .into_iter()
        .chain(docker);
    let mut credentials = Credentials::anonymous();
    for path in files {
        match std::fs::read(&path) {
            Ok(bytes) => {
                let config = DockerConfig::from_json(&bytes).map_err(|e| {
                    CliError::new(Status::Usage, format!("{}: {e}", path.display()))
                })?;
                credentials = credentials.and_config(config);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(CliError::new(
                    Status::Usage,
                    format!("cannot read {}: {e}", path.display()),
                ))
            }
        }
    }
    Ok(credentials)
}

/// The `--platform` value, or this machine's platform when none was given.
pub fn platform_or_host(raw: Option<&str>) -> Result<trustpull_downloader::Platform, CliError> {
    raw.map_or_else(
        || Ok(trustpull_downloader::host_platform()),
        |p| p.parse().map_err(|e| CliError::new(Status::Usage, e)),
    )
}

/// Discovery options dated now: referrers claiming a creation time in the future sort last.
pub fn discovery_now() -> DiscoveryOptions {
    DiscoveryOptions::at(chrono::DateTime::<chrono::Utc>::from(
        std::time::SystemTime::now(),
    ))
}
