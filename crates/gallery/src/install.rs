//! The install flow of DESIGN.md §8 on top of the downloader: find a backend across the
//! configured galleries, plan it with [`plan`](crate::plan), pull it through the verifier the
//! plan names, and write a receipt beside it; and `verify-installed`, which re-checks receipts
//! against today's config.
//!
//! Decisions (documented in ARCHITECTURE.md):
//! - The first gallery (in config order) whose index has `NAME` is used; later galleries are not
//!   consulted, even if that one then rejects.
//! - A meta entry is resolved by capability; the tree goes to `DEST/<concrete entry name>` and
//!   the receipt to `DEST/<concrete entry name>.receipt.json`.
//! - A reinstall swaps the old tree out atomically ([`ExistingDestination::Replace`]); since
//!   verification happens before anything is written, a rejected reinstall leaves the old tree
//!   and receipt untouched.
//! - Mirrors are tried only when a source is *unavailable*: the downloader says
//!   [`ErrorKind::Unavailable`], or an `oci-layout:` directory does not exist (a missing mount
//!   is the local form of an unreachable registry). A rejection, a strict refusal or a
//!   configuration problem (tag not in the layout, bad reference) is final.
//! - A strict plan (no policy, `--require-integrity`) is refused before anything is fetched.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use trustpull_downloader::{
    error_chain, recover_sidecars_in, DestinationError, Downloader, DownloaderBuilder, ErrorKind,
    ExistingDestination, ImageLocation, LocationError, NoProgress, Platform, PlatformChoice,
    ProgressObserver, PullError, Sidecar, StagedImage, TreeListing,
};
use trustpull_policy::Digest;
use trustpull_referrers::{Credentials, DiscoveryOptions, RegistryClient, RegistryError};
use trustpull_verifier::{
    CosignVerifier, ImageVerifier, NoopVerifier, Receipt, TrustRoot, TrustRootError, Verification,
};

use crate::{
    fetch_index, plan, BackendEntry, BackendIndex, EntryName, Gallery, IndexError,
    IndexSourceError, LookupError, OperatorConfig, SourcePlan, VerifierChoice, RECEIPT_SUFFIX,
};

/// What the install flow needs besides the config.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// Force strict mode on (`--require-integrity`); the config's `require_integrity` also does.
    pub require_integrity: bool,
    /// The platform to pick from a multi-arch index.
    pub platform: Platform,
    /// How registry signatures are discovered (the CLI passes the current time, so referrers
    /// dated in the future cannot crowd out the real signature).
    pub discovery: DiscoveryOptions,
    /// The capability that resolves a meta entry (`default` unless asked).
    pub capability: String,
    /// Registry credentials (the CLI reads the Docker config).
    pub credentials: Credentials,
    /// Where download progress goes.
    pub progress: Arc<dyn ProgressObserver>,
}

impl Default for InstallOptions {
    fn default() -> Self {
        Self {
            require_integrity: false,
            platform: trustpull_downloader::host_platform(),
            discovery: DiscoveryOptions::default(),
            capability: "default".to_owned(),
            credentials: Credentials::anonymous(),
            progress: Arc::new(NoProgress),
        }
    }
}

/// The receipt written beside an installed backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallReceipt {
    /// The concrete entry installed (after meta resolution).
    pub name: EntryName,
    /// The name asked for (a meta entry's name, or the same as `name`).
    pub requested: String,
    /// The gallery it came from.
    pub gallery: String,
    /// The location actually used (the entry's uri or one of its mirrors).
    pub source: String,
    /// The installed image manifest's digest.
    pub digest: Digest,
    /// The index the manifest was selected from, if any.
    pub index_digest: Option<Digest>,
    /// The platform the manifest was selected for, when it came from an index;
    /// `verify-installed` re-checks that the index still lists it for this platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Whether a signature was verified.
    pub verified: bool,
    /// The verifier's receipt, when verified.
    pub verification: Option<Receipt>,
    /// The gallery policy's fingerprint at install time, if it had one.
    pub policy_fingerprint: Option<Digest>,
    /// The warning shown at install time, if any.
    pub warning: Option<String>,
    /// The installed tree (sorted paths, modes, file hashes, link targets; its digest is
    /// [`TreeListing::digest`]): `verify-installed` recomputes it from disk and names what
    /// changed. `None` only in receipts written before trees were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree: Option<TreeListing>,
}

/// A successful install.
#[derive(Debug, Clone)]
pub struct InstallOutcome {
    /// What was written to the receipt file.
    pub receipt: InstallReceipt,
    /// The installed tree.
    pub dest: PathBuf,
    /// The receipt file.
    pub receipt_path: PathBuf,
    /// Warnings to show (no policy; sources skipped because they were unavailable).
    pub warnings: Vec<String>,
}

/// Why an install or a check could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// No configured gallery has the backend.
    #[error("no configured gallery has a backend named {name:?} (searched: {searched:?}); run `trustpull list` to see what is offered")]
    UnknownBackend {
        /// The name asked for.
        name: String,
        /// The galleries searched, in order.
        searched: Vec<String>,
    },
    /// A gallery's index could not be read (a local file, or a URL and its mirrors).
    #[error("gallery {gallery:?}")]
    IndexSource {
        /// The gallery.
        gallery: String,
        /// Why; its `kind()` says whether a retry may help.
        #[source]
        source: Box<IndexSourceError>,
    },
    /// A gallery's index does not parse.
    #[error("gallery {gallery:?}: bad index: {source}")]
    Index {
        /// The gallery.
        gallery: String,
        /// The parse error.
        source: IndexError,
    },
    /// The name exists but does not resolve (meta entry without the capability, chains...).
    #[error("gallery {gallery:?}: {source}")]
    Lookup {
        /// The gallery.
        gallery: String,
        /// The lookup error.
        source: LookupError,
    },
    /// The trust root could not be loaded.
    #[error("cannot load the trust root")]
    TrustRoot {
        /// The trust root error.
        #[from]
        source: TrustRootError,
    },
    /// The registry client could not be built.
    #[error("cannot set up the registry client")]
    Registry {
        /// The registry error.
        #[from]
        source: RegistryError,
    },
    /// Strict mode refused: the gallery has no policy.
    #[error("refusing to install {name:?} from gallery {gallery:?}: {reason}")]
    StrictRefusal {
        /// The backend.
        name: String,
        /// The gallery.
        gallery: String,
        /// The reason and what to do.
        reason: String,
    },
    /// The decision table refused the location.
    #[error("refusing to install {name:?} from {location:?} (gallery {gallery:?}): {reason}")]
    Refused {
        /// The backend.
        name: String,
        /// The gallery.
        gallery: String,
        /// The location refused.
        location: String,
        /// The reason and what to do.
        reason: String,
    },
    /// The plan is an HTTP(S) or file tarball, which this version cannot install.
    #[error("backend {name:?} (gallery {gallery:?}) is a tarball at {url}; HTTP(S) tarball installs are not implemented yet — publish it as an OCI image")]
    TarballNotImplemented {
        /// The backend.
        name: String,
        /// The gallery.
        gallery: String,
        /// The tarball URL.
        url: String,
    },
    /// The pull failed.
    #[error("backend {name:?} (gallery {gallery:?}) from {reference}: {source}")]
    Pull {
        /// The backend.
        name: String,
        /// The gallery.
        gallery: String,
        /// The location pulled.
        reference: String,
        /// The pull error.
        source: Box<PullError>,
    },
    /// The primary and every mirror were unavailable; `last` is the last error.
    #[error("backend {name:?}: every location was unavailable ({tried:?}); retry later; last error: {source}")]
    AllUnavailable {
        /// The backend.
        name: String,
        /// The locations tried, in order.
        tried: Vec<String>,
        /// The last error.
        source: Box<InstallError>,
    },
    /// An index entry's location is not an image reference or `oci-layout:` path.
    #[error("backend {name:?} (gallery {gallery:?}) has an unusable location")]
    BadLocation {
        /// The backend.
        name: String,
        /// The gallery.
        gallery: String,
        /// What is wrong with it.
        #[source]
        source: LocationError,
    },
    /// An install directory would not be a direct child of the destination.
    #[error("backend name {name:?} does not name a directory directly inside {}; nothing was written", dest.display())]
    OutsideDestination {
        /// The name.
        name: String,
        /// The destination root.
        dest: PathBuf,
    },
    /// The install directory to check does not exist.
    #[error("{} does not exist; pass the --dest an install used", path.display())]
    NoInstallDir {
        /// The directory.
        path: PathBuf,
    },
    /// A receipt left pending by a crashed install could not be settled.
    #[error("cannot settle the receipts left pending in {}", path.display())]
    Recover {
        /// The install directory.
        path: PathBuf,
        /// What failed.
        #[source]
        source: DestinationError,
    },
    /// The receipt could not be written or read.
    #[error("receipt {}", path.display())]
    ReceiptIo {
        /// The receipt file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The receipt could not be encoded or decoded.
    #[error("receipt {} is not valid JSON of the expected shape", path.display())]
    ReceiptJson {
        /// The receipt file.
        path: PathBuf,
        /// The JSON error.
        source: serde_json::Error,
    },
}

impl InstallError {
    /// How to treat the error: rejected (exit 1), config (exit 2) or unavailable (exit 3).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::StrictRefusal { .. } | Self::Refused { .. } => ErrorKind::Rejected,
            Self::Pull { source, .. } => source.kind(),
            Self::AllUnavailable { .. } => ErrorKind::Unavailable,
            Self::IndexSource { source, .. } => source.kind(),
            // Everything else is local (an unreadable trust-root file, a receipt that cannot be
            // written, a bad name or location): exit 2, and never a reason to try a mirror.
            _ => ErrorKind::Config,
        }
    }
}

/// The index of `gallery`: its local file or URL, or a mirror when the URL is unavailable (see
/// [`fetch_index`]), read through the run's `client` (from [`registry_client`]).
pub async fn load_index(
    gallery: &Gallery,
    client: &RegistryClient,
) -> Result<BackendIndex, InstallError> {
    fetch_index(gallery, client)
        .await
        .map(|loaded| loaded.index)
        .map_err(|source| InstallError::IndexSource {
            gallery: gallery.name.clone(),
            source: Box::new(source),
        })
}

/// The first gallery (config order) whose index has `name`, and its resolved concrete entry.
pub async fn find_backend<'c>(
    config: &'c OperatorConfig,
    client: &RegistryClient,
    name: &str,
    capability: &str,
) -> Result<(&'c Gallery, BackendEntry), InstallError> {
    for gallery in &config.galleries {
        let index = load_index(gallery, client).await?;
        // Only "not here" moves on to the next gallery: an ambiguous name is this gallery's
        // answer, and trying the next one would let another gallery shadow it.
        match index.get(name) {
            Err(LookupError::NotFound { .. }) => continue,
            Err(source) => {
                return Err(InstallError::Lookup {
                    gallery: gallery.name.clone(),
                    source,
                })
            }
            Ok(_) => {}
        }
        let entry = index
            .resolve(name, capability)
            .map_err(|source| InstallError::Lookup {
                gallery: gallery.name.clone(),
                source,
            })?;
        return Ok((gallery, entry.clone()));
    }
    Err(InstallError::UnknownBackend {
        name: name.to_owned(),
        searched: config.galleries.iter().map(|g| g.name.clone()).collect(),
    })
}

/// A registry client with the config's per-host settings (`plain_http`, `ca_file`); it also
/// reads gallery indexes and tarball URLs.
pub fn registry_client(
    config: &OperatorConfig,
    credentials: Credentials,
) -> Result<RegistryClient, InstallError> {
    Ok(crate::hosts::client_builder(config)?
        .credentials(credentials)
        .build()?)
}

/// The trust root the config names, or the embedded public-good one.
pub fn trust_root(config: &OperatorConfig) -> Result<TrustRoot, InstallError> {
    Ok(match &config.trusted_root {
        Some(path) => TrustRoot::from_file(path)?,
        None => TrustRoot::public_good()?,
    })
}

/// Where an entry's tree goes: `dest_root/NAME`. [`EntryName`] proves NAME is one safe path
/// component; the parent is checked again here (defence in depth), so a future way of making
/// names cannot send a tree outside `dest_root`.
pub fn install_dir(dest_root: &Path, name: &EntryName) -> Result<PathBuf, InstallError> {
    let dir = dest_root.join(name.as_str());
    if dir.parent() != Some(dest_root) || dir.file_name() != Some(name.as_str().as_ref()) {
        return Err(InstallError::OutsideDestination {
            name: name.to_string(),
            dest: dest_root.to_owned(),
        });
    }
    Ok(dir)
}

/// Where an entry's receipt goes: `dest_root/NAME.receipt.json`.
pub fn receipt_path(dest_root: &Path, name: &EntryName) -> PathBuf {
    dest_root.join(format!("{name}{RECEIPT_SUFFIX}"))
}

/// Installs `name` from the first gallery that has it into `dest_root/<entry name>`.
pub async fn install(
    config: &OperatorConfig,
    name: &str,
    dest_root: &Path,
    options: &InstallOptions,
) -> Result<InstallOutcome, InstallError> {
    let strict = config.require_integrity || options.require_integrity;
    let client = registry_client(config, options.credentials.clone())?;
    let (gallery, entry) = find_backend(config, &client, name, &options.capability).await?;
    let install_plan = plan(&entry, gallery, strict);
    let mut root: Option<Arc<TrustRoot>> = None;
    let mut warnings = Vec::new();
    let mut tried = Vec::new();
    let mut last: Option<InstallError> = None;

    for source in std::iter::once(&install_plan.primary).chain(&install_plan.mirrors) {
        let attempt = attempt(
            config, source, gallery, &entry, dest_root, options, &client, &mut root,
        )
        .await;
        match attempt {
            Ok((staged, warning)) => {
                let outcome = staged.outcome();
                let receipt = InstallReceipt {
                    name: entry.name.clone(),
                    requested: name.to_owned(),
                    gallery: gallery.name.clone(),
                    source: outcome.reference.clone(),
                    digest: outcome.digest.clone(),
                    index_digest: outcome.index_digest.clone(),
                    platform: outcome.platform.clone(),
                    verified: matches!(outcome.verification, Verification::Verified(_)),
                    verification: match &outcome.verification {
                        Verification::Verified(r) => Some(r.clone()),
                        _ => None,
                    },
                    policy_fingerprint: gallery
                        .verification
                        .as_ref()
                        .map(|p| p.fingerprint().clone()),
                    warning: warning.clone(),
                    tree: Some(staged.tree().clone()),
                };
                let path = receipt_path(dest_root, &entry.name);
                let bytes = serde_json::to_vec_pretty(&receipt).map_err(|source| {
                    InstallError::ReceiptJson {
                        path: path.clone(),
                        source,
                    }
                })?;
                // The receipt is committed with the tree: a crash leaves the old pair or the new.
                let outcome = staged
                    .commit(Some(Sidecar {
                        suffix: RECEIPT_SUFFIX.to_owned(),
                        bytes,
                    }))
                    .map_err(|source| InstallError::Pull {
                        name: entry.name.to_string(),
                        gallery: gallery.name.clone(),
                        reference: receipt.source.clone(),
                        source: Box::new(source),
                    })?;
                warnings.extend(warning);
                return Ok(InstallOutcome {
                    receipt,
                    dest: outcome.dest,
                    receipt_path: path,
                    warnings,
                });
            }
            Err(e) if e.kind() == ErrorKind::Unavailable => {
                let location = match source {
                    SourcePlan::Oci { reference, .. } => reference.clone(),
                    SourcePlan::Tarball { url, .. } => url.clone(),
                    SourcePlan::Refuse { location, .. } => location.clone(),
                };
                warnings.push(format!(
                    "{location} is unavailable ({e}); trying the next mirror"
                ));
                tried.push(location);
                last = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(InstallError::AllUnavailable {
        name: entry.name.to_string(),
        tried,
        source: Box::new(
            last.expect("the primary location is always tried, so a failure was recorded"),
        ),
    })
}

/// One location: pulls it through the verifier its plan names.
#[allow(clippy::too_many_arguments)]
async fn attempt(
    config: &OperatorConfig,
    source: &SourcePlan,
    gallery: &Gallery,
    entry: &BackendEntry,
    dest_root: &Path,
    options: &InstallOptions,
    client: &RegistryClient,
    root: &mut Option<Arc<TrustRoot>>,
) -> Result<(StagedImage, Option<String>), InstallError> {
    let (reference, choice) = match source {
        SourcePlan::Oci {
            reference,
            verifier,
        } => (reference, verifier),
        SourcePlan::Tarball { url, .. } => {
            return Err(InstallError::TarballNotImplemented {
                name: entry.name.to_string(),
                gallery: gallery.name.clone(),
                url: url.clone(),
            })
        }
        SourcePlan::Refuse { location, reason } => {
            return Err(InstallError::Refused {
                name: entry.name.to_string(),
                gallery: gallery.name.clone(),
                location: location.clone(),
                reason: reason.clone(),
            })
        }
    };
    let pull_error = |source: PullError| InstallError::Pull {
        name: entry.name.to_string(),
        gallery: gallery.name.clone(),
        reference: reference.clone(),
        source: Box::new(source),
    };
    let location = ImageLocation::parse(reference).map_err(|e| InstallError::BadLocation {
        name: entry.name.to_string(),
        gallery: gallery.name.clone(),
        source: e,
    })?;
    let (verifier, warning): (Arc<dyn ImageVerifier>, Option<String>) = match choice {
        VerifierChoice::Cosign(policy) => {
            let root = match root {
                Some(r) => r.clone(),
                None => root.insert(Arc::new(trust_root(config)?)).clone(),
            };
            (
                Arc::new(CosignVerifier::new(Arc::new(policy.clone()), root)),
                None,
            )
        }
        VerifierChoice::Noop { warning } => (
            Arc::new(NoopVerifier::new(warning.clone())),
            Some(warning.clone()),
        ),
        VerifierChoice::Strict { reason } => {
            return Err(InstallError::StrictRefusal {
                name: entry.name.to_string(),
                gallery: gallery.name.clone(),
                reason: reason.clone(),
            })
        }
    };
    let downloader = downloader(client, options, verifier)
        .mirrors(crate::registry_mirrors(config))
        .existing_destination(ExistingDestination::Replace)
        .build()
        .map_err(|_| {
            pull_error(PullError::NoRegistryClient {
                image: reference.clone(),
            })
        })?;
    let staged = downloader
        .stage(&location, &install_dir(dest_root, &entry.name)?)
        .await
        .map_err(pull_error)?;
    Ok((staged, warning))
}

/// What is wrong with the tree at `dir` compared with what `receipt` recorded, if anything.
/// Hashing a tree is blocking work: it runs on a blocking thread.
async fn tree_problem(dir: &Path, receipt: &InstallReceipt) -> Option<String> {
    let Some(then) = &receipt.tree else {
        return Some(format!(
            "the receipt records no tree (it was written by an older trustpull), so {} cannot be proven; reinstall with `trustpull install {}`",
            dir.display(),
            receipt.requested
        ));
    };
    let owned = dir.to_owned();
    let read = tokio::task::spawn_blocking(move || TreeListing::read(&owned)).await;
    let now = match read {
        Ok(Ok(now)) => now,
        Err(e) => return Some(format!("cannot read the installed tree: {e}")),
        Ok(Err(e)) => {
            return Some(format!(
                "cannot read the installed tree: {}",
                error_chain(&e)
            ))
        }
    };
    if now.digest() == then.digest() {
        return None;
    }
    let changes: Vec<String> = then
        .changes(&now)
        .iter()
        .take(5)
        .map(ToString::to_string)
        .collect();
    Some(format!(
        "the tree at {} changed on disk since it was verified: {}; reinstall with `trustpull install {}`",
        dir.display(),
        changes.join(", "),
        receipt.requested
    ))
}

/// A downloader builder with the run's client, platform, progress and discovery options.
fn downloader(
    client: &RegistryClient,
    options: &InstallOptions,
    verifier: Arc<dyn ImageVerifier>,
) -> DownloaderBuilder {
    Downloader::builder()
        .client(client.clone())
        .platform(options.platform.clone())
        .progress(options.progress.clone())
        .discovery(options.discovery.clone())
        .verifier(verifier)
}

/// Writes `receipt` to `path` through a temporary file and a rename (tests: receipts as an
/// earlier install left them).
#[cfg(test)]
fn write_receipt(path: &Path, receipt: &InstallReceipt) -> Result<(), InstallError> {
    let json = serde_json::to_vec_pretty(receipt).map_err(|source| InstallError::ReceiptJson {
        path: path.to_owned(),
        source,
    })?;
    let tmp = path.with_extension("json.tmp");
    let io = |source| InstallError::ReceiptIo {
        path: path.to_owned(),
        source,
    };
    std::fs::write(&tmp, json).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// The result of re-checking one installed backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum CheckStatus {
    /// Today's gallery policy still accepts the installed digest.
    Verified {
        /// The signer identity.
        identity: String,
    },
    /// The gallery has no policy today (and strict mode is off): nothing to check.
    Unsigned {
        /// Why nothing was checked.
        warning: String,
    },
    /// The backend no longer passes.
    Failed {
        /// Why, and what to do.
        reason: String,
        /// Whether retrying may help (the source or trust root was unreachable).
        unavailable: bool,
    },
}

/// One installed backend, re-checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstalledCheck {
    /// The backend (its directory name).
    pub name: String,
    /// The gallery its receipt names.
    pub gallery: String,
    /// The location it was installed from.
    pub source: String,
    /// The installed digest.
    pub digest: Digest,
    /// The result.
    #[serde(flatten)]
    pub status: CheckStatus,
}

/// Re-checks every `*.receipt.json` in `dest_root` against today's `config`, by digest.
///
/// A receipt that cannot be read is an error; a backend that no longer passes is a
/// [`CheckStatus::Failed`] entry. Results are sorted by receipt file name.
pub async fn verify_installed(
    config: &OperatorConfig,
    dest_root: &Path,
    options: &InstallOptions,
) -> Result<Vec<InstalledCheck>, InstallError> {
    if !dest_root.is_dir() {
        return Err(InstallError::NoInstallDir {
            path: dest_root.to_owned(),
        });
    }
    let io = |source| InstallError::ReceiptIo {
        path: dest_root.to_owned(),
        source,
    };
    // First finish (or discard) a receipt an install crashed before moving into place, so
    // each receipt read below describes the tree beside it. It waits for installs of those
    // names to finish, so it runs on a blocking thread.
    let root = dest_root.to_owned();
    tokio::task::spawn_blocking(move || recover_sidecars_in(&root, RECEIPT_SUFFIX))
        .await
        .map_err(|e| InstallError::ReceiptIo {
            path: dest_root.to_owned(),
            source: std::io::Error::other(e),
        })?
        .map_err(|source| InstallError::Recover {
            path: dest_root.to_owned(),
            source,
        })?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dest_root)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io)?;
    files.retain(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(RECEIPT_SUFFIX))
    });
    files.sort();
    let strict = config.require_integrity || options.require_integrity;
    let client = registry_client(config, options.credentials.clone())?;
    let mut root: Option<Arc<TrustRoot>> = None;
    let mut checks = Vec::with_capacity(files.len());
    for path in files {
        let text = std::fs::read(&path).map_err(|source| InstallError::ReceiptIo {
            path: path.clone(),
            source,
        })?;
        let receipt: InstallReceipt =
            serde_json::from_slice(&text).map_err(|source| InstallError::ReceiptJson {
                path: path.clone(),
                source,
            })?;
        let status = check_one(
            config, &receipt, dest_root, options, strict, &client, &mut root,
        )
        .await;
        checks.push(InstalledCheck {
            name: receipt.name.to_string(),
            gallery: receipt.gallery,
            source: receipt.source,
            digest: receipt.digest,
            status,
        });
    }
    Ok(checks)
}

fn failed(reason: String, unavailable: bool) -> CheckStatus {
    CheckStatus::Failed {
        reason,
        unavailable,
    }
}

/// Re-checks one receipt.
async fn check_one(
    config: &OperatorConfig,
    receipt: &InstallReceipt,
    dest_root: &Path,
    options: &InstallOptions,
    strict: bool,
    client: &RegistryClient,
    root: &mut Option<Arc<TrustRoot>>,
) -> CheckStatus {
    let dir = match install_dir(dest_root, &receipt.name) {
        Ok(dir) => dir,
        Err(e) => return failed(e.to_string(), false),
    };
    if !dir.is_dir() {
        return failed(
            format!(
                "{} is missing; reinstall with `trustpull install {}`",
                dir.display(),
                receipt.requested
            ),
            false,
        );
    }
    if let Some(problem) = tree_problem(&dir, receipt).await {
        return failed(problem, false);
    }
    let Some(gallery) = config.gallery(&receipt.gallery) else {
        return failed(
            format!(
                "gallery {:?} is no longer configured; remove the backend or add the gallery back",
                receipt.gallery
            ),
            false,
        );
    };
    let Some(policy) = &gallery.verification else {
        let warning = format!(
            "gallery {:?} has no verification policy; {} was not checked",
            gallery.name, receipt.name
        );
        return if strict {
            failed(
                format!("{warning}; add verification: to the gallery or run without --require-integrity"),
                false,
            )
        } else {
            CheckStatus::Unsigned { warning }
        };
    };
    let root = match root {
        Some(r) => r.clone(),
        None => match trust_root(config) {
            Ok(r) => root.insert(Arc::new(r)).clone(),
            Err(e) => {
                let unavailable = e.kind() == ErrorKind::Unavailable;
                return failed(error_chain(&e), unavailable);
            }
        },
    };
    // The same spine as install: the recorded location, pinned to the recorded digest (the
    // index's, when the manifest came from one, so the verifier re-checks that the index still
    // lists it for the recorded platform), verified with today's policy.
    let location = match ImageLocation::parse(&receipt.source) {
        Ok(l) => l,
        Err(e) => return failed(error_chain(&e), false),
    };
    let pinned_at = location.with_digest(
        receipt
            .index_digest
            .clone()
            .unwrap_or_else(|| receipt.digest.clone()),
    );
    let platform = receipt
        .platform
        .clone()
        .unwrap_or_else(|| options.platform.clone());
    let verifier = Arc::new(CosignVerifier::new(Arc::new(policy.clone()), root));
    let downloader = match downloader(client, options, verifier)
        .mirrors(crate::registry_mirrors(config))
        .platform(platform.clone())
        .build()
    {
        Ok(d) => d,
        Err(e) => return failed(e.to_string(), false),
    };
    let unavailable = |e: &PullError| e.kind() == ErrorKind::Unavailable;
    let source = match downloader.open(&pinned_at) {
        Ok(source) => source,
        Err(e) => return failed(error_chain(&e), unavailable(&e)),
    };
    let choice = PlatformChoice::Platform(platform);
    let pinned = match downloader.pin(source.as_ref(), &choice).await {
        Ok(pinned) => pinned,
        Err(e) => return failed(error_chain(&e), unavailable(&e)),
    };
    // The index must still select the installed manifest, before any signature is looked at.
    if pinned.digest() != &receipt.digest {
        return failed(
            format!(
                "index {} now selects {} for this platform, not the installed {}; reinstall",
                pinned_at,
                pinned.digest(),
                receipt.digest
            ),
            false,
        );
    }
    match downloader.verify_pinned(source.as_ref(), &pinned).await {
        Ok(Verification::Verified(r)) => CheckStatus::Verified {
            identity: r.identity().to_owned(),
        },
        Ok(_) => failed(format!("{} was not verified", receipt.digest), false),
        Err(e) => failed(error_chain(&e), unavailable(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config with galleries `a` (index: `a_index`) and `b` (index: `b_index`) in `dir`.
    fn config(dir: &Path, a_index: Option<&str>, b_index: &str) -> OperatorConfig {
        std::fs::write(dir.join("b.yaml"), b_index).expect("write index");
        let a_url = match a_index {
            Some(text) => {
                std::fs::write(dir.join("a.yaml"), text).expect("write index");
                "./a.yaml"
            }
            None => "https://example.invalid/index.yaml",
        };
        OperatorConfig::parse(
            &format!("galleries:\n  - name: a\n    url: {a_url}\n  - name: b\n    url: ./b.yaml\n"),
            &dir.join("galleries.yaml"),
        )
        .expect("valid config")
    }

    fn client() -> RegistryClient {
        RegistryClient::builder().build().expect("client")
    }

    #[tokio::test]
    async fn first_gallery_with_the_name_wins_and_meta_entries_resolve() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = config(
            dir.path(),
            Some("- name: x\n  uri: oci-layout:/a:v1\n"),
            "- name: x\n  uri: oci-layout:/b:v1\n- name: y\n  uri: oci-layout:/y:v1\n- name: m\n  capabilities:\n    default: y\n    nvidia: gone\n",
        );
        let client = client();
        let (g, e) = find_backend(&c, &client, "x", "default")
            .await
            .expect("found");
        assert_eq!(
            (g.name.as_str(), e.uri.as_deref()),
            ("a", Some("oci-layout:/a:v1"))
        );
        let (g, e) = find_backend(&c, &client, "m", "default")
            .await
            .expect("found");
        assert_eq!((g.name.as_str(), e.name.as_str()), ("b", "y"));
        let err = find_backend(&c, &client, "m", "nvidia")
            .await
            .expect_err("capability maps to a missing entry");
        assert!(matches!(&err, InstallError::Lookup { gallery, .. } if gallery == "b"));
        assert_eq!(err.kind(), ErrorKind::Config);
        let err = find_backend(&c, &client, "nope", "default")
            .await
            .expect_err("unknown");
        assert!(
            matches!(&err, InstallError::UnknownBackend { searched, .. } if searched == &["a", "b"])
        );
    }

    #[tokio::test]
    async fn unreadable_index_files_are_local_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = config(
            dir.path(),
            Some("[]"),
            "- name: x\n  uri: oci-layout:/b:v1\n",
        );
        std::fs::remove_file(dir.path().join("b.yaml")).expect("remove");
        let err = load_index(&c.galleries[1], &client())
            .await
            .expect_err("missing file");
        assert!(matches!(
            &err,
            InstallError::IndexSource { gallery, source } if gallery == "b" && matches!(**source, IndexSourceError::Read { .. })
        ));
        assert_eq!(err.kind(), ErrorKind::Config);
    }

    #[test]
    fn error_kinds_follow_the_exit_code_contract() {
        let refusal = InstallError::StrictRefusal {
            name: "x".into(),
            gallery: "g".into(),
            reason: "r".into(),
        };
        assert_eq!(refusal.kind(), ErrorKind::Rejected);
        let tarball = InstallError::TarballNotImplemented {
            name: "x".into(),
            gallery: "g".into(),
            url: "https://e/x.tgz".into(),
        };
        assert_eq!(tarball.kind(), ErrorKind::Config);
    }

    #[test]
    fn paths_and_receipt_round_trip() {
        let root = Path::new("/srv/backends");
        let cuda = EntryName::parse("cuda").expect("valid");
        assert_eq!(install_dir(root, &cuda).expect("inside"), root.join("cuda"));
        assert_eq!(receipt_path(root, &cuda), root.join("cuda.receipt.json"));
        let receipt = InstallReceipt {
            requested: "meta".into(),
            source: "oci-layout:/x:v1".into(),
            warning: Some("w".into()),
            ..receipt_for("cuda", "g")
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let path = receipt_path(dir.path(), &cuda);
        write_receipt(&path, &receipt).expect("write");
        let back: InstallReceipt =
            serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("parse");
        assert_eq!(back, receipt);
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
    }

    fn receipt_for(name: &str, gallery: &str) -> InstallReceipt {
        InstallReceipt {
            name: EntryName::parse(name).expect("valid name"),
            requested: name.into(),
            gallery: gallery.into(),
            source: "oci-layout:/nowhere:v1".into(),
            digest: Digest::of(b""),
            index_digest: None,
            platform: None,
            tree: None,
            verified: false,
            verification: None,
            policy_fingerprint: None,
            warning: None,
        }
    }

    #[tokio::test]
    async fn verify_installed_without_touching_a_source() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = config(dir.path(), Some("[]\n"), "[]\n");
        let dest = dir.path().join("backends");
        std::fs::create_dir(&dest).expect("mkdir");
        for (name, gallery, tree) in [
            ("gone", "removed", true),
            ("nodir", "b", false),
            ("plain", "b", true),
        ] {
            let entry = EntryName::parse(name).expect("valid");
            let mut receipt = receipt_for(name, gallery);
            if tree {
                let dir = install_dir(&dest, &entry).expect("inside");
                std::fs::create_dir(&dir).expect("mkdir");
                std::fs::write(dir.join("run"), b"v1").expect("write");
                receipt.tree = Some(TreeListing::read(&dir).expect("listing"));
            }
            write_receipt(&receipt_path(&dest, &entry), &receipt).expect("write");
        }
        let checks = verify_installed(&c, &dest, &InstallOptions::default())
            .await
            .expect("checks");
        let by_name = |n: &str| &checks.iter().find(|c| c.name == n).expect("checked").status;
        assert!(
            matches!(by_name("gone"), CheckStatus::Failed { reason, unavailable: false } if reason.contains("no longer configured"))
        );
        assert!(
            matches!(by_name("nodir"), CheckStatus::Failed { reason, .. } if reason.contains("missing"))
        );
        assert!(matches!(by_name("plain"), CheckStatus::Unsigned { .. }));

        // A tree edited after install fails, naming the file.
        std::fs::write(dest.join("plain/run"), b"v2").expect("edit");
        let checks = verify_installed(&c, &dest, &InstallOptions::default())
            .await
            .expect("checks");
        let plain = &checks
            .iter()
            .find(|c| c.name == "plain")
            .expect("checked")
            .status;
        assert!(
            matches!(plain, CheckStatus::Failed { reason, unavailable: false } if reason.contains("changed on disk") && reason.contains("run changed (content)")),
            "{plain:?}"
        );
        std::fs::write(dest.join("plain/run"), b"v1").expect("restore");

        let strict = InstallOptions {
            require_integrity: true,
            ..InstallOptions::default()
        };
        let checks = verify_installed(&c, &dest, &strict).await.expect("checks");
        assert!(checks
            .iter()
            .all(|c| matches!(c.status, CheckStatus::Failed { .. })));

        let err = verify_installed(&c, &dir.path().join("nope"), &strict)
            .await
            .expect_err("no such dir");
        assert!(matches!(err, InstallError::NoInstallDir { .. }));
        assert_eq!(err.kind(), ErrorKind::Config);
    }
}
