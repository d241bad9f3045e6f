//! `upgrade`: for each installed backend, resolve its entry's location again
//! through the same spine (open → pin, nothing fetched but the manifest), compare digests, and
//! when they differ install the new digest through the same plan — the same decision table,
//! the same verifier factory — and swap it in atomically with its receipt. Anything that fails
//! leaves the old tree and receipt as they were.
//!
//! Decisions:
//! - The entry looked up is the receipt's concrete name in the receipt's gallery (not the first
//!   gallery with the name, and not the meta entry again: a meta name resolved with another
//!   capability would name another directory). Meta name and requested name carry over; the
//!   alias is the index's today.
//! - The new image is staged by the digest that was compared (the index's, when the manifest
//!   came from one, for the receipt's platform), so a tag moved between the check and the
//!   download cannot swap the content; the receipt keeps the location as the index wrote it.
//! - Mirrors are tried only when a location is unavailable, as for install.

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use trustpull_downloader::{
    error_chain, ErrorKind, ExistingDestination, PlatformChoice, StagedImage,
};
use trustpull_policy::Digest;

use crate::install::plan_location;
use crate::installer::Found;
use crate::receipt::{select, InstalledBackend};
use crate::{install_dir, installed, plan, InstallError, Installer, LookupError};

/// What happened to one backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum UpgradeStatus {
    /// A new digest was verified and installed.
    Upgraded,
    /// The location still resolves to the installed digest.
    Current,
    /// A new digest is available (`--dry-run`: nothing was changed).
    WouldUpgrade,
    /// The new digest was refused (signature, policy, strict mode); the old backend stays.
    Rejected,
    /// Every location was unavailable; the old backend stays. Retrying may help.
    Unavailable,
    /// A local or configuration problem (gallery or entry gone, tarball, bad receipt); the old
    /// backend stays.
    Error,
}

/// The result for one installed backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpgradeReport {
    /// The backend (its concrete name).
    pub name: String,
    /// The installed digest before the upgrade.
    pub from: Digest,
    /// The digest the location resolves to now (`None` when it could not be resolved).
    pub to: Option<Digest>,
    /// What happened.
    pub status: UpgradeStatus,
    /// Why, for `rejected`, `unavailable` and `error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Warnings (an unsigned gallery; mirrors skipped because a location was unavailable).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl UpgradeReport {
    fn failed(backend: &InstalledBackend, error: &InstallError, warnings: Vec<String>) -> Self {
        Self {
            name: backend.receipt.name.to_string(),
            from: backend.receipt.digest.clone(),
            to: None,
            status: match error.kind() {
                ErrorKind::Rejected => UpgradeStatus::Rejected,
                ErrorKind::Unavailable => UpgradeStatus::Unavailable,
                _ => UpgradeStatus::Error,
            },
            reason: Some(error_chain(error)),
            warnings,
        }
    }
}

impl Installer {
    /// Upgrades the backends `names` name in `dest_root` (concrete, meta or alias names; a meta
    /// name installed for several capabilities names each), or every installed backend when
    /// `names` is empty. With `dry_run` only the manifests are resolved: nothing is fetched,
    /// verified or changed. Per-backend failures are in the reports; `Err` only when the
    /// destination or a receipt cannot be read, or a name is not installed.
    pub async fn upgrade(
        &self,
        names: &[String],
        dest_root: &Path,
        dry_run: bool,
    ) -> Result<Vec<UpgradeReport>, InstallError> {
        let all = installed(dest_root).await?;
        let mut chosen: Vec<&InstalledBackend> = Vec::new();
        if names.is_empty() {
            chosen.extend(all.iter());
        } else {
            for name in names {
                for backend in select(&all, name, dest_root)? {
                    if !chosen
                        .iter()
                        .any(|c| c.receipt.name == backend.receipt.name)
                    {
                        chosen.push(backend);
                    }
                }
            }
        }
        let mut reports = Vec::with_capacity(chosen.len());
        for backend in chosen {
            reports.push(self.upgrade_one(backend, dest_root, dry_run).await);
        }
        Ok(reports)
    }

    async fn upgrade_one(
        &self,
        backend: &InstalledBackend,
        dest_root: &Path,
        dry_run: bool,
    ) -> UpgradeReport {
        let receipt = &backend.receipt;
        let Some(gallery) = self.config.gallery(&receipt.gallery) else {
            let error = InstallError::UnknownBackend {
                name: receipt.name.to_string(),
                searched: vec![receipt.gallery.clone()],
            };
            return UpgradeReport::failed(backend, &error, Vec::new());
        };
        // The concrete entry by its own name: a meta entry now under that name would install
        // another directory, so it is an error here, not a silent switch.
        let entry = match self.index(gallery).await.and_then(|index| {
            let lookup = |source| InstallError::Lookup {
                gallery: gallery.name.clone(),
                source,
            };
            let entry = index.get(receipt.name.as_str()).map_err(lookup)?;
            if entry.is_meta() || entry.name != receipt.name {
                return Err(lookup(LookupError::NotFound {
                    name: receipt.name.to_string(),
                }));
            }
            Ok(entry.clone())
        }) {
            Ok(entry) => entry,
            Err(InstallError::Lookup {
                source: LookupError::NotFound { .. },
                ..
            }) => {
                let error = InstallError::UnknownBackend {
                    name: receipt.name.to_string(),
                    searched: vec![gallery.name.clone()],
                };
                return UpgradeReport::failed(backend, &error, Vec::new());
            }
            Err(e) => return UpgradeReport::failed(backend, &e, Vec::new()),
        };
        let found = Found {
            warnings: Vec::new(),
            gallery,
            entry,
            meta: receipt.meta.clone(),
        };
        let install_plan = plan(&found.entry, gallery, self.strict);
        let mut warnings = Vec::new();
        let mut tried = Vec::new();
        let mut last = None;
        for source in std::iter::once(&install_plan.primary).chain(&install_plan.mirrors) {
            match self
                .upgrade_from(backend, &found, source, dest_root, dry_run)
                .await
            {
                Ok((status, to, warning)) => {
                    warnings.extend(warning);
                    return UpgradeReport {
                        name: receipt.name.to_string(),
                        from: receipt.digest.clone(),
                        to: Some(to),
                        status,
                        reason: None,
                        warnings,
                    };
                }
                Err(e) if e.kind() == ErrorKind::Unavailable => {
                    let location = plan_location(source).to_owned();
                    warnings.push(format!(
                        "{location} is unavailable ({e}); trying the next mirror"
                    ));
                    tried.push(location);
                    last = Some(e);
                }
                Err(e) => return UpgradeReport::failed(backend, &e, warnings),
            }
        }
        let error = InstallError::AllUnavailable {
            name: receipt.name.to_string(),
            tried,
            source: Box::new(
                last.expect("the primary location is always tried, so a failure was recorded"),
            ),
        };
        UpgradeReport::failed(backend, &error, warnings)
    }

    /// One location: resolve, compare, and (unless `dry_run`) stage the new digest and swap it
    /// in with its receipt. Returns the status, the resolved digest and a warning to show.
    async fn upgrade_from(
        &self,
        backend: &InstalledBackend,
        found: &Found<'_>,
        source: &crate::SourcePlan,
        dest_root: &Path,
        dry_run: bool,
    ) -> Result<(UpgradeStatus, Digest, Option<String>), InstallError> {
        let receipt = &backend.receipt;
        let name = &found.entry.name;
        if let crate::SourcePlan::Tarball { url, sha256, .. } = source {
            return self
                .upgrade_tarball(backend, found, url, sha256.as_ref(), dest_root, dry_run)
                .await;
        }
        let cell = self.oci_cell(found.gallery, &found.entry, source)?;
        let pull_error = |e| self.pull_error(name, found.gallery, cell.reference, e);
        let platform = receipt
            .platform
            .clone()
            .unwrap_or_else(|| self.platform.clone());
        let downloader = self
            .downloader(Arc::clone(&cell.verifier))
            .platform(platform.clone())
            .existing_destination(ExistingDestination::Replace)
            .build()
            .map_err(|_| {
                pull_error(trustpull_downloader::PullError::NoRegistryClient {
                    image: cell.reference.to_owned(),
                })
            })?;
        let image = downloader.open(&cell.location).map_err(pull_error)?;
        let pinned = downloader
            .pin(image.as_ref(), &PlatformChoice::Platform(platform))
            .await
            .map_err(pull_error)?;
        let to = pinned.digest().clone();
        if to == receipt.digest {
            return Ok((UpgradeStatus::Current, to, None));
        }
        if dry_run {
            return Ok((UpgradeStatus::WouldUpgrade, to, None));
        }
        // Stage exactly what was compared: the index digest when the manifest came from one.
        let at = cell
            .location
            .with_digest(pinned.index_digest().cloned().unwrap_or_else(|| to.clone()));
        let dir = install_dir(dest_root, name)?;
        let staged = downloader.stage(&at, &dir).await.map_err(pull_error)?;
        self.commit_upgrade(found, &receipt.requested, cell.reference, staged, dest_root)
            .await
    }

    /// Puts the staged upgrade in place with its new receipt (the installed entry's `requested`
    /// name kept, `source` the location it came from).
    async fn commit_upgrade(
        &self,
        found: &Found<'_>,
        requested: &str,
        source: &str,
        staged: StagedImage,
        dest_root: &Path,
    ) -> Result<(UpgradeStatus, Digest, Option<String>), InstallError> {
        let new = self.receipt_for(found, requested, source, staged.outcome(), staged.tree());
        let warning = new.warning.clone();
        let digest = new.digest.clone();
        self.commit(staged, &new, dest_root, &found.entry.name, found.gallery)
            .await?;
        Ok((UpgradeStatus::Upgraded, digest, warning))
    }

    /// A tarball entry: its digest is the sha256 the index gives, compared with the installed
    /// one without downloading anything. Without a sha256 the content is known only by
    /// downloading it: `upgrade` downloads and compares (the same content stays `current`, the
    /// staged copy dropped); `--dry-run` cannot tell and says so.
    async fn upgrade_tarball(
        &self,
        backend: &InstalledBackend,
        found: &Found<'_>,
        url: &str,
        sha256: Option<&Digest>,
        dest_root: &Path,
        dry_run: bool,
    ) -> Result<(UpgradeStatus, Digest, Option<String>), InstallError> {
        let receipt = &backend.receipt;
        let name = &found.entry.name;
        if let Some(sha256) = sha256 {
            if *sha256 == receipt.digest {
                return Ok((UpgradeStatus::Current, sha256.clone(), None));
            }
            if dry_run {
                return Ok((UpgradeStatus::WouldUpgrade, sha256.clone(), None));
            }
        } else if dry_run {
            return Err(InstallError::TarballUpgrade {
                name: name.to_string(),
                gallery: found.gallery.name.clone(),
                url: url.to_owned(),
            });
        }
        let staged = self
            .stage_tarball(
                &found.gallery.name,
                url,
                sha256.map(Digest::hex),
                dest_root,
                name,
            )
            .await?;
        if staged.outcome().digest == receipt.digest {
            // Downloaded to compare (no sha256 in the index): the same content; nothing changes.
            return Ok((UpgradeStatus::Current, receipt.digest.clone(), None));
        }
        self.commit_upgrade(found, &receipt.requested, url, staged, dest_root)
            .await
    }
}
