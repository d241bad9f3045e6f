//! The receipt written beside an installed backend (`DEST/NAME.receipt.json`), reading the
//! receipts of a destination, and finding an installed backend by any name it answers to.
//!
//! Receipts are read by later versions: every field added after the first release has a serde
//! default, so an older receipt still reads (and says what it lacks, e.g. `tree: None`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use trustpull_downloader::{recover_sidecars_in, Platform, TreeListing};
use trustpull_policy::Digest;
use trustpull_verifier::Receipt;

use crate::{install_dir, EntryName, InstallError, RECEIPT_SUFFIX};

/// The receipt written beside an installed backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallReceipt {
    /// The concrete entry installed (after meta resolution): the tree is `DEST/<name>`.
    pub name: EntryName,
    /// The name asked for (a meta entry's name, an alias, or the same as `name`).
    pub requested: String,
    /// The meta entry this backend was installed for (LocalAI: `llama-cpp` installs
    /// `cpu-llama-cpp` for the `default` capability), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<EntryName>,
    /// The entry's `alias` in the index, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<EntryName>,
    /// The gallery it came from.
    pub gallery: String,
    /// The location actually used, as the index wrote it (the entry's uri or one of its
    /// mirrors; a tag, not the digest): `upgrade` resolves it again.
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

impl InstallReceipt {
    /// Whether `name` names this backend: its concrete name, the meta entry it was installed
    /// for, its alias, or the name it was installed by (receipts older than `meta`/`alias`
    /// recorded only that).
    pub fn answers_to(&self, name: &str) -> bool {
        self.name == *name
            || self.meta.as_ref().is_some_and(|m| m == name)
            || self.alias.as_ref().is_some_and(|a| a == name)
            || self.requested == name
    }
}

/// An installed backend: its receipt and where things are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledBackend {
    /// What the receipt says.
    pub receipt: InstallReceipt,
    /// The receipt file.
    pub receipt_path: PathBuf,
    /// The installed tree (`DEST/<name>`; it may be missing if someone removed it).
    pub dir: PathBuf,
}

/// Where an entry's receipt goes: `dest_root/NAME.receipt.json`.
pub fn receipt_path(dest_root: &Path, name: &EntryName) -> PathBuf {
    dest_root.join(format!("{name}{RECEIPT_SUFFIX}"))
}

/// Every backend installed in `dest_root`, sorted by name.
///
/// Receipts a crashed install left pending are settled first (under each name's lock, on a
/// blocking thread: it waits for installs running now), so each receipt read describes the
/// tree beside it. A receipt that cannot be read or parsed is an error naming the file.
pub async fn installed(dest_root: &Path) -> Result<Vec<InstalledBackend>, InstallError> {
    if !dest_root.is_dir() {
        return Err(InstallError::NoInstallDir {
            path: dest_root.to_owned(),
        });
    }
    let io = |source| InstallError::ReceiptIo {
        path: dest_root.to_owned(),
        source,
    };
    let root = dest_root.to_owned();
    tokio::task::spawn_blocking(move || recover_sidecars_in(&root, RECEIPT_SUFFIX))
        .await
        .map_err(|e| io(std::io::Error::other(e)))?
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
            .is_some_and(|n| n.ends_with(RECEIPT_SUFFIX) && !n.starts_with('.'))
    });
    files.sort();
    let mut out = Vec::with_capacity(files.len());
    for path in files {
        let receipt = read_receipt(&path)?;
        if path != receipt_path(dest_root, &receipt.name) {
            return Err(InstallError::ReceiptMismatch {
                path,
                name: receipt.name.to_string(),
            });
        }
        let dir = install_dir(dest_root, &receipt.name)?;
        out.push(InstalledBackend {
            receipt,
            receipt_path: path,
            dir,
        });
    }
    Ok(out)
}

/// Reads and parses one receipt file.
pub(crate) fn read_receipt(path: &Path) -> Result<InstallReceipt, InstallError> {
    let text = std::fs::read(path).map_err(|source| InstallError::ReceiptIo {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_slice(&text).map_err(|source| InstallError::ReceiptJson {
        path: path.to_owned(),
        source,
    })
}

/// The installed backends `name` names (see [`InstallReceipt::answers_to`]): the one whose
/// concrete name it is, else every one whose meta name, alias or requested name it is.
/// None is [`InstallError::NotInstalled`].
pub(crate) fn select<'a>(
    all: &'a [InstalledBackend],
    name: &str,
    dest_root: &Path,
) -> Result<Vec<&'a InstalledBackend>, InstallError> {
    if let Some(exact) = all.iter().find(|b| b.receipt.name == *name) {
        return Ok(vec![exact]);
    }
    let matching: Vec<&InstalledBackend> =
        all.iter().filter(|b| b.receipt.answers_to(name)).collect();
    if matching.is_empty() {
        return Err(InstallError::NotInstalled {
            name: name.to_owned(),
            dest: dest_root.to_owned(),
        });
    }
    Ok(matching)
}

/// The receipt as JSON bytes, for the sidecar committed with the tree.
pub(crate) fn receipt_bytes(
    path: &Path,
    receipt: &InstallReceipt,
) -> Result<Vec<u8>, InstallError> {
    serde_json::to_vec_pretty(receipt).map_err(|source| InstallError::ReceiptJson {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A receipt for `name` from `gallery` (nothing verified, no tree).
    pub(crate) fn receipt_for(name: &str, gallery: &str) -> InstallReceipt {
        InstallReceipt {
            name: EntryName::parse(name).expect("valid name"),
            requested: name.into(),
            meta: None,
            alias: None,
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

    /// Writes `receipt` to `path` (receipts as an earlier install left them).
    pub(crate) fn write_receipt(path: &Path, receipt: &InstallReceipt) {
        std::fs::write(path, receipt_bytes(path, receipt).expect("encodes")).expect("write");
    }

    #[test]
    fn old_receipts_without_meta_and_alias_still_read() {
        let mut old = serde_json::to_value(receipt_for("cpu-x", "g")).expect("json");
        let map = old.as_object_mut().expect("object");
        map.remove("meta");
        map.remove("alias");
        map.insert("requested".into(), "x".into());
        let back: InstallReceipt = serde_json::from_value(old).expect("an old receipt reads");
        assert_eq!((&back.meta, &back.alias), (&None, &None));
        assert!(back.answers_to("x") && back.answers_to("cpu-x") && !back.answers_to("y"));
    }

    #[tokio::test]
    async fn a_receipt_naming_another_backend_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_receipt(&dir.path().join("a.receipt.json"), &receipt_for("b", "g"));
        let err = installed(dir.path()).await.expect_err("mismatch");
        assert!(
            matches!(&err, InstallError::ReceiptMismatch { name, .. } if name == "b"),
            "{err:?}"
        );
        write_receipt(&dir.path().join("a.receipt.json"), &receipt_for("a", "g"));
        assert_eq!(installed(dir.path()).await.expect("listed").len(), 1);
    }

    #[test]
    fn selection_by_concrete_meta_and_alias() {
        let dest = Path::new("/srv/b");
        let backend = |name: &str, meta: Option<&str>, alias: Option<&str>| InstalledBackend {
            receipt: InstallReceipt {
                meta: meta.map(|m| EntryName::parse(m).expect("valid")),
                alias: alias.map(|a| EntryName::parse(a).expect("valid")),
                ..receipt_for(name, "g")
            },
            receipt_path: dest.join(format!("{name}.receipt.json")),
            dir: dest.join(name),
        };
        let all = [
            backend("cpu-llama", Some("llama"), Some("llama")),
            backend("cuda-llama", Some("llama"), None),
            backend("whisper-cpu", None, Some("whisper")),
        ];
        let names = |n: &str| -> Vec<String> {
            select(&all, n, dest)
                .expect("selected")
                .iter()
                .map(|b| b.receipt.name.to_string())
                .collect()
        };
        assert_eq!(names("cpu-llama"), ["cpu-llama"]);
        assert_eq!(names("llama"), ["cpu-llama", "cuda-llama"]);
        assert_eq!(names("whisper"), ["whisper-cpu"]);
        assert!(matches!(
            select(&all, "nope", dest),
            Err(InstallError::NotInstalled { .. })
        ));
    }
}
