//! The install flow on top of the downloader: find a backend across the
//! configured galleries, plan it with [`plan`](crate::plan), pull it through the verifier the
//! installer's [`VerifierFactory`](crate::VerifierFactory) gives for the plan cell, and commit
//! a receipt with the tree.
//!
//! Decisions (documented in ARCHITECTURE.md):
//! - The first gallery (in config order) whose index has `NAME` is used; later galleries are not
//!   consulted, even if that one then rejects.
//! - A meta entry is resolved by capability; the tree goes to `DEST/<concrete entry name>` and
//!   the receipt to `DEST/<concrete entry name>.receipt.json`, recording the meta name and the
//!   entry's alias.
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

use trustpull_downloader::{
    ErrorKind, ExistingDestination, ImageLocation, PullError, PullOutcome, Sidecar, StagedImage,
};
use trustpull_policy::Digest;
use trustpull_referrers::{Credentials, RegistryClient};
use trustpull_verifier::{ImageVerifier, TrustRoot, Verification};

use crate::installer::Found;
use crate::receipt::receipt_bytes;
use crate::{
    plan, receipt_path, BackendEntry, BackendIndex, EntryName, Gallery, InstallError,
    InstallReceipt, Installer, OperatorConfig, SourcePlan, RECEIPT_SUFFIX,
};

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

/// The index of `gallery`: its local file or URL, or a mirror when the URL is unavailable (see
/// [`fetch_index`](crate::fetch_index)), read through `client` (from [`registry_client`]).
pub async fn load_index(
    gallery: &Gallery,
    client: &RegistryClient,
) -> Result<BackendIndex, InstallError> {
    crate::fetch_index(gallery, client)
        .await
        .map(|loaded| loaded.index)
        .map_err(|source| InstallError::IndexSource {
            gallery: gallery.name.clone(),
            source: Box::new(source),
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

/// The location a plan cell names, as written in the index.
pub(crate) fn plan_location(source: &SourcePlan) -> &str {
    match source {
        SourcePlan::Oci { reference, .. } => reference,
        SourcePlan::Tarball { url, .. } => url,
        SourcePlan::Refuse { location, .. } => location,
    }
}

/// An OCI plan cell, ready to pull: its reference as written, parsed, and its verifier.
pub(crate) struct OciCell<'p> {
    pub(crate) reference: &'p str,
    pub(crate) location: ImageLocation,
    pub(crate) verifier: Arc<dyn ImageVerifier>,
}

impl Installer {
    /// Installs `name` (an entry name, a meta entry's name or an alias) from the first gallery
    /// that has it into `dest_root/<concrete entry name>`, with its receipt beside it.
    pub async fn install(
        &self,
        name: &str,
        dest_root: &Path,
    ) -> Result<InstallOutcome, InstallError> {
        let found = self.find(name).await?;
        let install_plan = plan(&found.entry, found.gallery, self.strict);
        let dir = install_dir(dest_root, &found.entry.name)?;
        let mut warnings = found.warnings.clone();
        let mut tried = Vec::new();
        let mut last: Option<InstallError> = None;
        for source in std::iter::once(&install_plan.primary).chain(&install_plan.mirrors) {
            let attempt = async {
                // A tarball (the table allows one only from a gallery without a policy, and
                // one without a sha256 only outside strict mode): streamed, checked against
                // its sha256 when the index gives one, then extracted like an image.
                if let SourcePlan::Tarball { url, sha256, .. } = source {
                    let staged = self
                        .stage_tarball(
                            &found.gallery.name,
                            url,
                            sha256.as_ref().map(Digest::hex),
                            dest_root,
                            &found.entry.name,
                        )
                        .await?;
                    return Ok::<_, InstallError>((staged, url.as_str()));
                }
                let cell = self.oci_cell(found.gallery, &found.entry, source)?;
                let staged = self
                    .downloader(Arc::clone(&cell.verifier))
                    .existing_destination(ExistingDestination::Replace)
                    .build()
                    .map_err(|_| {
                        self.pull_error(
                            &found.entry.name,
                            found.gallery,
                            cell.reference,
                            PullError::NoRegistryClient {
                                image: cell.reference.to_owned(),
                            },
                        )
                    })?
                    .stage(&cell.location, &dir)
                    .await
                    .map_err(|e| {
                        self.pull_error(&found.entry.name, found.gallery, cell.reference, e)
                    })?;
                Ok::<_, InstallError>((staged, cell.reference))
            }
            .await;
            match attempt {
                Ok((staged, reference)) => {
                    let receipt =
                        self.receipt_for(&found, name, reference, staged.outcome(), staged.tree());
                    let outcome = self
                        .commit(
                            staged,
                            &receipt,
                            dest_root,
                            &found.entry.name,
                            found.gallery,
                        )
                        .await?;
                    warnings.extend(receipt.warning.clone());
                    return Ok(InstallOutcome {
                        receipt_path: receipt_path(dest_root, &found.entry.name),
                        receipt,
                        dest: outcome.dest,
                        warnings,
                    });
                }
                Err(e) if e.kind() == ErrorKind::Unavailable => {
                    let location = plan_location(source).to_owned();
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
            name: found.entry.name.to_string(),
            tried,
            source: Box::new(
                last.expect("the primary location is always tried, so a failure was recorded"),
            ),
        })
    }

    /// The OCI cell `source` plans, or the error the table gives for it: a refusal, a strict
    /// refusal or another refusal of the verifier factory, a
    /// location that does not parse. Nothing is resolved or fetched here.
    pub(crate) fn oci_cell<'p>(
        &self,
        gallery: &Gallery,
        entry: &BackendEntry,
        source: &'p SourcePlan,
    ) -> Result<OciCell<'p>, InstallError> {
        let (reference, choice) = match source {
            SourcePlan::Oci {
                reference,
                verifier,
            } => (reference, verifier),
            // `install` and `upgrade` stage tarballs themselves before asking for a cell.
            SourcePlan::Tarball { url, .. } => {
                return Err(InstallError::BadLocation {
                    name: entry.name.to_string(),
                    gallery: gallery.name.clone(),
                    source: trustpull_downloader::LocationError {
                        reference: url.clone(),
                        reason: "a tarball is not an OCI image".to_owned(),
                    },
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
        let verifier = self.verifier_for(gallery, &entry.name, reference, choice)?;
        let location = ImageLocation::parse(reference).map_err(|e| InstallError::BadLocation {
            name: entry.name.to_string(),
            gallery: gallery.name.clone(),
            source: e,
        })?;
        Ok(OciCell {
            reference,
            location,
            verifier,
        })
    }

    pub(crate) fn pull_error(
        &self,
        name: &EntryName,
        gallery: &Gallery,
        reference: &str,
        source: PullError,
    ) -> InstallError {
        InstallError::Pull {
            name: name.to_string(),
            gallery: gallery.name.clone(),
            reference: reference.to_owned(),
            source: Box::new(source),
        }
    }

    /// The receipt for `staged`, installed from `reference` (as the index wrote it).
    pub(crate) fn receipt_for(
        &self,
        found: &Found<'_>,
        requested: &str,
        reference: &str,
        outcome: &PullOutcome,
        tree: &trustpull_downloader::TreeListing,
    ) -> InstallReceipt {
        InstallReceipt {
            name: found.entry.name.clone(),
            requested: requested.to_owned(),
            meta: found.meta.clone(),
            alias: found.entry.alias.clone(),
            gallery: found.gallery.name.clone(),
            source: reference.to_owned(),
            digest: outcome.digest.clone(),
            index_digest: outcome.index_digest.clone(),
            platform: outcome.platform.clone(),
            verified: matches!(outcome.verification, Verification::Verified(_)),
            verification: match &outcome.verification {
                Verification::Verified(r) => Some(r.clone()),
                _ => None,
            },
            policy_fingerprint: found
                .gallery
                .verification
                .as_ref()
                .map(|p| p.fingerprint().clone()),
            warning: match &outcome.verification {
                Verification::Unverified { reason } => Some(reason.clone()),
                _ => None,
            },
            tree: Some(tree.clone()),
        }
    }

    /// Swaps the staged tree in together with `receipt`: a crash leaves the old pair or the new.
    pub(crate) async fn commit(
        &self,
        staged: StagedImage,
        receipt: &InstallReceipt,
        dest_root: &Path,
        name: &EntryName,
        gallery: &Gallery,
    ) -> Result<PullOutcome, InstallError> {
        let bytes = receipt_bytes(&receipt_path(dest_root, name), receipt)?;
        staged
            .commit(Some(Sidecar {
                suffix: RECEIPT_SUFFIX.to_owned(),
                bytes,
            }))
            .await
            .map_err(|e| self.pull_error(name, gallery, &receipt.source, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receipt::tests::{receipt_for, write_receipt};
    use crate::CheckStatus;
    use trustpull_downloader::TreeListing;

    fn installer(config: OperatorConfig) -> Installer {
        Installer::builder(config).build().expect("installer")
    }

    async fn find_backend(
        c: &OperatorConfig,
        name: &str,
        capability: &str,
    ) -> Result<(String, BackendEntry), InstallError> {
        let i = Installer::builder(c.clone())
            .capability(capability)
            .build()
            .expect("installer");
        let found = i.find(name).await?;
        Ok((found.gallery.name.clone(), found.entry))
    }

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

    #[tokio::test]
    async fn first_gallery_with_the_name_wins_and_meta_entries_resolve() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = config(
            dir.path(),
            Some("- name: x\n  uri: oci-layout:/a:v1\n"),
            "- name: x\n  uri: oci-layout:/b:v1\n- name: y\n  uri: oci-layout:/y:v1\n- name: m\n  capabilities:\n    default: y\n    nvidia: gone\n",
        );
        let (g, e) = find_backend(&c, "x", "default").await.expect("found");
        assert_eq!(
            (g.as_str(), e.uri.as_deref()),
            ("a", Some("oci-layout:/a:v1"))
        );
        let (g, e) = find_backend(&c, "m", "default").await.expect("found");
        assert_eq!((g.as_str(), e.name.as_str()), ("b", "y"));
        let i = installer(c.clone());
        let found = i.find("m").await.expect("found");
        assert_eq!(found.meta.as_ref().map(EntryName::as_str), Some("m"));
        assert_eq!(i.find("x").await.expect("found").meta, None);
        let err = find_backend(&c, "m", "nvidia")
            .await
            .expect_err("capability maps to a missing entry");
        assert!(matches!(&err, InstallError::Lookup { gallery, .. } if gallery == "b"));
        assert_eq!(err.kind(), ErrorKind::Config);
        let err = find_backend(&c, "nope", "default")
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
        let client = trustpull_referrers::RegistryClient::builder()
            .build()
            .expect("client");
        let err = load_index(&c.galleries[1], &client)
            .await
            .expect_err("missing file");
        assert!(matches!(
            &err,
            InstallError::IndexSource { gallery, source } if gallery == "b" && matches!(**source, crate::IndexSourceError::Read { .. })
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
        let tarball = InstallError::TarballUpgrade {
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
        write_receipt(&path, &receipt);
        let back: InstallReceipt =
            serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("parse");
        assert_eq!(back, receipt);
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
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
            write_receipt(&receipt_path(&dest, &entry), &receipt);
        }
        let checks = installer(c.clone())
            .verify_installed(&dest)
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
        let checks = installer(c.clone())
            .verify_installed(&dest)
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

        let strict = Installer::builder(c.clone())
            .require_integrity(true)
            .build()
            .expect("installer");
        let checks = strict.verify_installed(&dest).await.expect("checks");
        assert!(checks
            .iter()
            .all(|c| matches!(c.status, CheckStatus::Failed { .. })));

        let err = strict
            .verify_installed(&dir.path().join("nope"))
            .await
            .expect_err("no such dir");
        assert!(matches!(err, InstallError::NoInstallDir { .. }));
        assert_eq!(err.kind(), ErrorKind::Config);
    }
}
