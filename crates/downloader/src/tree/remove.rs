//! Removing an installed tree and its sidecar (`trustpull uninstall`), under the same per-name
//! lock as installs.
//!
//! Order, so a crash at any moment leaves nothing half-removed under the real name: take the
//! lock (an install of the name running now finishes first); sweep what a crashed run left and
//! settle a pending sidecar; rename the tree aside to `.<name>.trustpull-old-*` (one atomic
//! rename: the name now holds the whole tree or nothing); remove the sidecar; sync the parent;
//! then delete the renamed tree. A crash after the rename leaves the old tree under a name the
//! next lock holder of this name sweeps, and possibly the sidecar without its tree, which the
//! next [`remove`] removes.

use std::ffi::OsStr;
use std::io;
use std::path::Path;
use std::sync::Arc;

use super::{
    at, io_error, lock, rename_noreplace, sync_dir, valid_suffix, DestinationError, DestinationLock,
};
use crate::ExistingDestination;

/// What [`remove`] found and removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Removed {
    /// A tree was at the destination and is gone.
    pub tree: bool,
    /// A sidecar (`<dest><suffix>`) was beside it and is gone.
    pub sidecar: bool,
}

impl Removed {
    /// Whether anything was there to remove.
    pub fn anything(&self) -> bool {
        self.tree || self.sidecar
    }
}

/// Removes the tree at `dest` and its sidecar `<dest><suffix>` under the lock of `dest`'s name
/// (see the module docs for the order). A missing tree or sidecar is not an error: the result
/// says what was there. A symlink or file at `dest` is refused
/// ([`DestinationError::DestinationNotDirectory`]) and nothing is removed. Blocks while another
/// install of that name runs: call it from a blocking thread in async code.
pub fn remove(dest: &Path, suffix: &str) -> Result<Removed, DestinationError> {
    if !valid_suffix(suffix.as_bytes()) {
        return Err(DestinationError::BadSidecarSuffix {
            dest: dest.to_path_buf(),
            suffix: suffix.to_owned(),
        });
    }
    let Some(inner) = lock(dest, ExistingDestination::Refuse, false)? else {
        // No parent directory: nothing installed there.
        return Ok(Removed {
            tree: false,
            sidecar: false,
        });
    };
    let lock = DestinationLock {
        inner: Arc::new(inner),
    };
    lock.sweep(Some(suffix), true)?;
    let inner = &lock.inner;
    let parent = &inner.parent;

    let aside = match at::lstat(parent, &inner.name).map_err(io_error("inspect", dest))? {
        None => None,
        Some(stat) if at::file_type(&stat) == at::Type::Dir => {
            let prefix = at::concat(&inner.prefix(), "old-");
            loop {
                let name = at::unique_name(&prefix);
                match rename_noreplace(parent, &inner.name, &name) {
                    Ok(()) => break Some(name),
                    Err(rustix::io::Errno::EXIST | rustix::io::Errno::NOTEMPTY) => continue,
                    Err(e) => return Err(io_error("move aside", dest)(e.into())),
                }
            }
        }
        Some(_) => {
            return Err(DestinationError::DestinationNotDirectory {
                dest: dest.to_path_buf(),
            })
        }
    };
    let sidecar_name = at::concat(&inner.name, OsStr::new(suffix));
    let sidecar = match at::unlink(parent, &sidecar_name) {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(io_error("remove", &inner.at(&sidecar_name))(e)),
    };
    sync_dir(parent, &inner.parent_path)?;
    if let Some(name) = &aside {
        at::remove_tree(parent, name).map_err(io_error("remove", &inner.at(name)))?;
    }
    Ok(Removed {
        tree: aside.is_some(),
        sidecar,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::tests::entries;

    #[test]
    fn removes_tree_and_sidecar_and_nothing_else() {
        let parent = tempfile::tempdir().expect("tempdir");
        let dest = parent.path().join("cuda");
        std::fs::create_dir_all(dest.join("bin")).expect("mkdir");
        std::fs::write(dest.join("bin/run"), b"x").expect("write");
        std::fs::write(parent.path().join("cuda.receipt.json"), b"{}").expect("write");
        std::fs::create_dir(parent.path().join("cpu")).expect("mkdir");
        std::fs::write(parent.path().join("cpu.receipt.json"), b"{}").expect("write");
        // What a crashed install of this name left: swept too.
        std::fs::create_dir(parent.path().join(".cuda.trustpull-staging-x")).expect("mkdir");

        let removed = remove(&dest, ".receipt.json").expect("removed");
        assert_eq!((removed.tree, removed.sidecar), (true, true));
        assert_eq!(entries(parent.path()), ["cpu", "cpu.receipt.json"]);

        let again = remove(&dest, ".receipt.json").expect("nothing to remove");
        assert!(!again.anything());
        // A sidecar left without its tree (a crash after the rename) goes on the next run.
        std::fs::write(parent.path().join("cuda.receipt.json"), b"{}").expect("write");
        let removed = remove(&dest, ".receipt.json").expect("removed");
        assert_eq!((removed.tree, removed.sidecar), (false, true));
        assert!(!remove(&parent.path().join("no/such"), ".receipt.json")
            .expect("no parent")
            .anything());
    }

    #[test]
    fn a_file_or_symlink_at_the_destination_is_refused() {
        let parent = tempfile::tempdir().expect("tempdir");
        std::fs::write(parent.path().join("target"), b"keep").expect("write");
        std::os::unix::fs::symlink("target", parent.path().join("link")).expect("symlink");
        for name in ["target", "link"] {
            let err = remove(&parent.path().join(name), ".receipt.json").expect_err("refused");
            assert!(
                matches!(err, DestinationError::DestinationNotDirectory { .. }),
                "{name}: {err:?}"
            );
        }
        assert_eq!(entries(parent.path()), ["link", "target"]);
        assert_eq!(
            std::fs::read(parent.path().join("target")).expect("read"),
            b"keep"
        );
    }
}
