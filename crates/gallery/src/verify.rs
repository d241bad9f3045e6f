//! `verify-installed`: re-check every receipt in a destination against
//! today's config, by digest, and the tree on disk against the receipt's tree listing.
//! Nothing is re-downloaded.

use std::path::Path;

use serde::Serialize;
use trustpull_downloader::{
    error_chain, ErrorKind, ImageLocation, PlatformChoice, PullError, TreeListing,
};
use trustpull_policy::Digest;
use trustpull_verifier::Verification;

use crate::{installed, InstallError, InstallReceipt, Installer, VerifierChoice};

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

impl Installer {
    /// Re-checks every backend installed in `dest_root` against today's config, by digest:
    /// the tree on disk against the receipt's listing, then the recorded location pinned at
    /// the recorded digest and verified by the verifier today's plan cell gives.
    ///
    /// A receipt that cannot be read is an error; a backend that no longer passes is a
    /// [`CheckStatus::Failed`] entry. Results are sorted by receipt file name.
    pub async fn verify_installed(
        &self,
        dest_root: &Path,
    ) -> Result<Vec<InstalledCheck>, InstallError> {
        let backends = installed(dest_root).await?;
        let mut checks = Vec::with_capacity(backends.len());
        for backend in backends {
            let receipt = backend.receipt;
            let status = self.check_one(&receipt, &backend.dir).await;
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
}

fn failed(reason: String, unavailable: bool) -> CheckStatus {
    CheckStatus::Failed {
        reason,
        unavailable,
    }
}

impl Installer {
    /// Re-checks one receipt; `dir` is its tree.
    async fn check_one(&self, receipt: &InstallReceipt, dir: &Path) -> CheckStatus {
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
        if let Some(problem) = tree_problem(dir, receipt).await {
            return failed(problem, false);
        }
        let Some(gallery) = self.config.gallery(&receipt.gallery) else {
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
            return if self.strict {
                failed(
                format!("{warning}; add verification: to the gallery or run without --require-integrity"),
                false,
            )
            } else {
                CheckStatus::Unsigned { warning }
            };
        };
        let choice = VerifierChoice::Cosign(policy.clone());
        let verifier = match self.verifier_for(gallery, &receipt.name, &receipt.source, &choice) {
            Ok(v) => v,
            Err(e) => {
                let unavailable = e.kind() == ErrorKind::Unavailable;
                return failed(error_chain(&e), unavailable);
            }
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
            .unwrap_or_else(|| self.platform.clone());
        let downloader = match self.downloader(verifier).platform(platform.clone()).build() {
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
