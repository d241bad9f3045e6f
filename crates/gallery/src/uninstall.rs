//! `uninstall`: remove an installed backend's tree and receipt, by its concrete
//! name, its meta name or its alias, under the per-name lock installs take (the downloader's
//! `remove`: the tree is renamed aside before it is deleted, so a crash never leaves half a
//! tree under the real name).

use std::path::{Path, PathBuf};

use trustpull_downloader::remove;

use crate::receipt::select;
use crate::{installed, EntryName, InstallError, InstalledBackend, Installer, RECEIPT_SUFFIX};

/// What [`uninstall`] removed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UninstallOutcome {
    /// The backend removed (its concrete name).
    pub name: EntryName,
    /// Where its tree was.
    pub dir: PathBuf,
    /// Where its receipt was.
    pub receipt_path: PathBuf,
    /// Whether a tree was there (a receipt whose tree someone deleted is removed too).
    pub removed_tree: bool,
}

/// Removes the backend `name` names from `dest_root`: tree and receipt. Not installed is
/// [`InstallError::NotInstalled`]; a meta name or alias that names several installed backends
/// is [`InstallError::AmbiguousInstalled`] (nothing removed).
pub async fn uninstall(dest_root: &Path, name: &str) -> Result<UninstallOutcome, InstallError> {
    let all = installed(dest_root).await?;
    let backend: &InstalledBackend = match select(&all, name, dest_root)?.as_slice() {
        [one] => one,
        many => {
            return Err(InstallError::AmbiguousInstalled {
                name: name.to_owned(),
                candidates: many.iter().map(|b| b.receipt.name.to_string()).collect(),
            })
        }
    };
    let dir = backend.dir.clone();
    let concrete = backend.receipt.name.clone();
    let removed = {
        let dir = dir.clone();
        // Takes the name's lock: waits for an install of it running now.
        tokio::task::spawn_blocking(move || remove(&dir, RECEIPT_SUFFIX))
            .await
            .map_err(|e| InstallError::ReceiptIo {
                path: dest_root.to_owned(),
                source: std::io::Error::other(e),
            })?
            .map_err(|source| InstallError::Uninstall {
                name: concrete.to_string(),
                source,
            })?
    };
    Ok(UninstallOutcome {
        name: concrete,
        dir,
        receipt_path: backend.receipt_path.clone(),
        removed_tree: removed.tree,
    })
}

impl Installer {
    /// [`uninstall`]: the installer's config plays no part (removing needs no policy).
    pub async fn uninstall(
        &self,
        name: &str,
        dest_root: &Path,
    ) -> Result<UninstallOutcome, InstallError> {
        uninstall(dest_root, name).await
    }

    /// Every backend installed in `dest_root` ([`installed`]).
    pub async fn list_installed(
        &self,
        dest_root: &Path,
    ) -> Result<Vec<InstalledBackend>, InstallError> {
        installed(dest_root).await
    }
}
