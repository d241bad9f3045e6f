//! The staging directory beside the destination, and the one rename that installs it.
//!
//! Destination semantics (documented on [`crate::ExistingDestination`]): a missing destination or
//! an empty directory is replaced by one `rename(2)`; a non-empty directory is refused unless the
//! caller asked to replace it, in which case it is swapped out by rename, the staging directory
//! is renamed in, and on failure the old tree is renamed back. A symlink or file at the
//! destination is always refused.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::ExistingDestination;

/// A directory beside the destination (same filesystem, so the final rename is atomic) that is
/// removed when dropped unless it was installed.
#[derive(Debug)]
pub(crate) struct StagingDir {
    dir: Option<tempfile::TempDir>,
    /// Parent directories of the destination this pull created, deepest first: removed again
    /// (when still empty) if the pull does not install.
    created_parents: Vec<PathBuf>,
}

/// Why installing the staged tree failed. The destination is as it was.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DestinationError {
    /// The destination exists and is not an empty directory.
    #[error("destination {dest:?} already exists and is not an empty directory; remove it or ask to replace it")]
    DestinationExists {
        /// The destination.
        dest: PathBuf,
    },
    /// The destination is a symlink or a file, which is never replaced.
    #[error("destination {dest:?} is a symlink or a file; choose a directory path")]
    DestinationNotDirectory {
        /// The destination.
        dest: PathBuf,
    },
    /// The destination has no usable parent directory name.
    #[error("destination {dest:?} has no parent directory or file name")]
    BadDestination {
        /// The destination.
        dest: PathBuf,
    },
    /// A filesystem operation failed.
    #[error("could not {action} {path:?}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// What is at the destination now.
enum DestState {
    Missing,
    EmptyDir,
    NonEmptyDir,
    NotDir,
}

fn dest_state(dest: &Path) -> Result<DestState, DestinationError> {
    match fs::symlink_metadata(dest) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(DestState::Missing),
        Err(source) => Err(DestinationError::Io {
            action: "inspect",
            path: dest.to_path_buf(),
            source,
        }),
        Ok(meta) if !meta.file_type().is_dir() => Ok(DestState::NotDir),
        Ok(_) => {
            let mut listing = fs::read_dir(dest).map_err(|source| DestinationError::Io {
                action: "list",
                path: dest.to_path_buf(),
                source,
            })?;
            Ok(if listing.next().is_none() {
                DestState::EmptyDir
            } else {
                DestState::NonEmptyDir
            })
        }
    }
}

/// Checks, before any network traffic, that `dest` could be installed under `existing`.
pub(crate) fn check_destination(
    dest: &Path,
    existing: ExistingDestination,
) -> Result<(), DestinationError> {
    match (dest_state(dest)?, existing) {
        (DestState::Missing | DestState::EmptyDir, _) => Ok(()),
        (DestState::NonEmptyDir, ExistingDestination::Replace) => Ok(()),
        (DestState::NonEmptyDir, ExistingDestination::Refuse) => {
            Err(DestinationError::DestinationExists {
                dest: dest.to_path_buf(),
            })
        }
        (DestState::NotDir, _) => Err(DestinationError::DestinationNotDirectory {
            dest: dest.to_path_buf(),
        }),
    }
}

fn parent_and_name(dest: &Path) -> Result<(PathBuf, String), DestinationError> {
    let bad = || DestinationError::BadDestination {
        dest: dest.to_path_buf(),
    };
    let name = dest
        .file_name()
        .ok_or_else(bad)?
        .to_string_lossy()
        .into_owned();
    let parent = match dest.parent() {
        Some(p) if p.as_os_str().is_empty() => PathBuf::from("."),
        Some(p) => p.to_path_buf(),
        None => return Err(bad()),
    };
    Ok((parent, name))
}

impl StagingDir {
    /// Creates `.<name>.trustpull-staging-XXXXXX` beside `dest` (creating `dest`'s parent if
    /// needed), mode 0755.
    pub(crate) fn beside(dest: &Path) -> Result<Self, DestinationError> {
        let (parent, name) = parent_and_name(dest)?;
        let created_parents: Vec<PathBuf> = parent
            .ancestors()
            .take_while(|p| !p.as_os_str().is_empty() && !p.exists())
            .map(Path::to_path_buf)
            .collect();
        fs::create_dir_all(&parent).map_err(|source| DestinationError::Io {
            action: "create",
            path: parent.clone(),
            source,
        })?;
        let dir = tempfile::Builder::new()
            .prefix(&format!(".{name}.trustpull-staging-"))
            .tempdir_in(&parent)
            .map_err(|source| DestinationError::Io {
                action: "create a staging directory in",
                path: parent.clone(),
                source,
            })?;
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).map_err(|source| {
            DestinationError::Io {
                action: "set permissions on",
                path: dir.path().to_path_buf(),
                source,
            }
        })?;
        Ok(Self {
            dir: Some(dir),
            created_parents,
        })
    }

    /// The staging root.
    pub(crate) fn path(&self) -> &Path {
        self.dir
            .as_ref()
            .map(tempfile::TempDir::path)
            .unwrap_or(Path::new(""))
    }

    /// Renames the staged tree to `dest` (see the module docs for an existing destination).
    pub(crate) fn install(
        mut self,
        dest: &Path,
        existing: ExistingDestination,
    ) -> Result<(), DestinationError> {
        let staged = self.path().to_path_buf();
        check_destination(dest, existing)?;
        let rename = |from: &Path, to: &Path| {
            fs::rename(from, to).map_err(|source| DestinationError::Io {
                action: "rename into place",
                path: to.to_path_buf(),
                source,
            })
        };
        match dest_state(dest)? {
            DestState::Missing | DestState::EmptyDir => rename(&staged, dest)?,
            DestState::NonEmptyDir => {
                let (parent, name) = parent_and_name(dest)?;
                // An empty directory reserves a unique name; renaming a directory over it is allowed.
                let old = tempfile::Builder::new()
                    .prefix(&format!(".{name}.trustpull-old-"))
                    .tempdir_in(&parent)
                    .map_err(|source| DestinationError::Io {
                        action: "create a directory in",
                        path: parent.clone(),
                        source,
                    })?;
                rename(dest, old.path())?;
                if let Err(e) = rename(&staged, dest) {
                    // Roll back; the old tree is then at dest again and `old` is empty.
                    let _ = fs::rename(old.path(), dest);
                    return Err(e);
                }
                // `old` now holds the previous tree; dropping it removes it.
                drop(old);
            }
            DestState::NotDir => {
                return Err(DestinationError::DestinationNotDirectory {
                    dest: dest.to_path_buf(),
                })
            }
        }
        if let Some(dir) = self.dir.take() {
            // Renamed away: nothing is left to clean up at the old path.
            let _ = dir.keep();
        }
        Ok(())
    }
}

impl Drop for StagingDir {
    fn drop(&mut self) {
        // `TempDir`'s own Drop removes the tree; nothing else to do. Kept explicit so the
        // guarantee is visible here: a staging dir that was not installed never survives.
        if let Some(dir) = self.dir.take() {
            drop(dir);
            for parent in &self.created_parents {
                // Only empty directories go: anything another process put there stays.
                if fs::remove_dir(parent).is_err() {
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The names in `dir`, sorted (also used by the extractor's tests).
    pub(crate) fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn dropped_staging_leaves_nothing() {
        let parent = tempfile::tempdir().unwrap();
        let dest = parent.path().join("dest");
        let staging = StagingDir::beside(&dest).unwrap();
        fs::write(staging.path().join("f"), b"x").unwrap();
        drop(staging);
        assert!(entries(parent.path()).is_empty());
    }

    #[test]
    fn dropped_staging_removes_the_parents_it_created() {
        let top = tempfile::tempdir().unwrap();
        let dest = top.path().join("x/y/dest");
        let staging = StagingDir::beside(&dest).unwrap();
        assert!(top.path().join("x/y").is_dir());
        drop(staging);
        assert!(entries(top.path()).is_empty());

        // Installed: the parents stay.
        let staging = StagingDir::beside(&dest).unwrap();
        staging.install(&dest, ExistingDestination::Refuse).unwrap();
        assert!(dest.is_dir());
    }

    #[test]
    fn install_into_missing_and_empty() {
        let parent = tempfile::tempdir().unwrap();
        let dest = parent.path().join("dest");
        let staging = StagingDir::beside(&dest).unwrap();
        fs::write(staging.path().join("f"), b"x").unwrap();
        staging.install(&dest, ExistingDestination::Refuse).unwrap();
        assert_eq!(entries(parent.path()), vec!["dest"]);
        assert_eq!(fs::read(dest.join("f")).unwrap(), b"x");

        let empty = parent.path().join("empty");
        fs::create_dir(&empty).unwrap();
        let staging = StagingDir::beside(&empty).unwrap();
        fs::write(staging.path().join("g"), b"y").unwrap();
        staging
            .install(&empty, ExistingDestination::Refuse)
            .unwrap();
        assert_eq!(entries(&empty), vec!["g"]);
        assert_eq!(entries(parent.path()), vec!["dest", "empty"]);
    }

    #[test]
    fn refuse_or_replace_non_empty() {
        let parent = tempfile::tempdir().unwrap();
        let dest = parent.path().join("dest");
        fs::create_dir(&dest).unwrap();
        fs::write(dest.join("old"), b"old").unwrap();

        let staging = StagingDir::beside(&dest).unwrap();
        fs::write(staging.path().join("new"), b"new").unwrap();
        let err = staging
            .install(&dest, ExistingDestination::Refuse)
            .unwrap_err();
        assert!(matches!(err, DestinationError::DestinationExists { .. }));
        assert_eq!(entries(parent.path()), vec!["dest"]);
        assert_eq!(entries(&dest), vec!["old"]);

        let staging = StagingDir::beside(&dest).unwrap();
        fs::write(staging.path().join("new"), b"new").unwrap();
        staging
            .install(&dest, ExistingDestination::Replace)
            .unwrap();
        assert_eq!(entries(parent.path()), vec!["dest"]);
        assert_eq!(entries(&dest), vec!["new"]);
    }

    #[test]
    fn symlink_destination_refused() {
        let parent = tempfile::tempdir().unwrap();
        let target = parent.path().join("target");
        fs::create_dir(&target).unwrap();
        let dest = parent.path().join("dest");
        std::os::unix::fs::symlink(&target, &dest).unwrap();
        let err = check_destination(&dest, ExistingDestination::Replace).unwrap_err();
        assert!(matches!(
            err,
            DestinationError::DestinationNotDirectory { .. }
        ));
    }
}
