//! The installed tree: one lock per destination name, a private staging directory beside the
//! destination, the atomic swap that installs it together with its sidecar (the receipt), and
//! the sweep of whatever a crashed run left behind ("The installed tree").
//!
//! Names beside `<parent>/<name>`, all in `<parent>`, all reached through one open handle of
//! `<parent>`:
//! - `.<name>.trustpull.lock` — the lock file; `flock(LOCK_EX)` on it is the per-name lock. The
//!   holder removes it when it lets go, and a waiter that then gets the lock on a removed file
//!   opens the name again, so removing it is safe.
//! - `.<name>.trustpull-staging-*` — the tree being built (`0700` until the final step), and
//!   after a swap the previous tree on its way out;
//! - `.<name>.trustpull-layers-*` — downloaded layer blobs;
//! - `.<name>.trustpull-old-*` — the previous tree, on a filesystem without `RENAME_EXCHANGE`;
//! - `.<name>.trustpull-pending-<tree digest hex><suffix>` — a sidecar written before the swap.
//!
//! Everything starting with `.<name>.trustpull-` belongs to the lock holder, and to no other
//! name: a destination name may not contain `.trustpull-` itself
//! ([`DestinationError::ReservedDestinationName`]), so `a` never touches `.a.b.trustpull-…` nor
//! the files of a name like `a.trustpull-staging-x`. The lock holder: [`DestinationLock::acquire`] sweeps staging,
//! layer and old directories and resolves pending sidecars before anything else.
//!
//! The destination (documented on [`crate::ExistingDestination`]): a missing destination or an
//! empty directory is replaced by one `renameat2(RENAME_NOREPLACE)` (an empty directory is
//! removed first; `NOREPLACE` then refuses anything that appeared meanwhile); a non-empty
//! directory is refused unless the caller asked to replace it, in which case the new tree and the
//! old one are exchanged with `renameat2(RENAME_EXCHANGE)`, so there is never a moment without a
//! tree at the destination. A symlink or file at the destination is always refused.
//!
//! The sidecar `<parent>/<name><suffix>` always describes the tree at `<parent>/<name>`: its
//! content is written (and fsync'd) to the pending name, whose file name carries the new tree's
//! digest, before the swap; it is renamed over the sidecar after the swap; if that rename fails
//! the trees are exchanged back. A crash in between leaves the pending file, and the next lock
//! holder ([`DestinationLock::acquire`], [`recover_sidecar`]) recomputes the digest of the tree
//! at the destination: equal to the one in the pending name means the swap happened, so the
//! pending file becomes the sidecar; anything else means it did not, so the pending file goes.

pub(crate) mod at;
mod listing;
mod remove;

pub(crate) use listing::{encode, entry_at, ROOT_PATH};
pub use listing::{TreeChange, TreeDifference, TreeEntry, TreeEntryKind, TreeError, TreeListing};
pub use remove::{remove, Removed};

use std::ffi::{OsStr, OsString};
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rustix::fs::{FlockOperation, OFlags, RenameFlags};

use crate::extract::Extractor;
use crate::ExistingDestination;

/// The mode of the installed tree's root directory.
pub(crate) const ROOT_MODE: u32 = 0o755;

/// How often [`DestinationLock::acquire`] opens the lock file again after finding the one it
/// locked removed by the previous holder before giving up.
const LOCK_ATTEMPTS: usize = 64;

/// Why preparing, locking or installing the destination failed.
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
    /// The destination's name contains `.trustpull-`, the marker of the names trustpull keeps
    /// beside it: another name's staging or pending files could then look like this name's.
    #[error("destination {dest:?} has '.trustpull-' in its name, which trustpull reserves for its own files beside it; choose another name")]
    ReservedDestinationName {
        /// The destination.
        dest: PathBuf,
    },
    /// A sidecar suffix that is not `.` followed by at least one character, or holds a `/`.
    #[error("sidecar suffix {suffix:?} for {dest:?} must start with '.' and hold no '/'")]
    BadSidecarSuffix {
        /// The destination.
        dest: PathBuf,
        /// The suffix given.
        suffix: String,
    },
    /// A staging directory was committed with the lock of another destination (a bug in the
    /// caller).
    #[error("staging directory {staging:?} belongs to another destination than {dest:?}")]
    LockMismatch {
        /// The destination whose lock was passed.
        dest: PathBuf,
        /// The staging directory.
        staging: PathBuf,
    },
    /// A pending sidecar left by a crash could not be resolved because the tree at the
    /// destination could not be read.
    #[error("could not check whether {pending:?} describes the tree at {dest:?}; fix the tree's permissions, or remove {pending:?} if {dest:?} is not the tree it was written for")]
    PendingSidecar {
        /// The destination.
        dest: PathBuf,
        /// The pending sidecar.
        pending: PathBuf,
        /// Why the tree could not be read.
        #[source]
        source: TreeError,
    },
    /// The new tree was swapped in, its sidecar could not be put in place, and swapping the old
    /// tree back failed too. Nothing was deleted: the new tree is at `dest`, the previous one at
    /// `previous`, and the pending sidecar (for the new tree) is resolved by the next install or
    /// `recover_sidecar` of this name.
    #[error("installing {dest:?} failed after the swap (sidecar: {sidecar_error}) and the previous tree could not be swapped back; it is kept at {previous:?}: move it somewhere safe before the next install of this name, which sweeps that path")]
    RollbackFailed {
        /// The destination (now holding the new tree).
        dest: PathBuf,
        /// Where the previous tree is.
        previous: PathBuf,
        /// Why the sidecar rename failed.
        sidecar_error: io::Error,
        /// Why swapping back failed.
        #[source]
        source: io::Error,
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

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> DestinationError {
    let path = path.to_path_buf();
    move |source| DestinationError::Io {
        action,
        path,
        source,
    }
}

/// A file beside the tree that must always describe it, e.g. `cuda.receipt.json` beside `cuda`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sidecar {
    /// Appended to the destination's name: `.receipt.json`. Starts with `.`, holds no `/`.
    pub suffix: String,
    /// The whole content.
    pub bytes: Vec<u8>,
}

/// The exclusive lock on one destination name; released (and its lock file removed) when the
/// last of it and the [`StagingDir`]s made from it is dropped.
#[derive(Debug)]
pub(crate) struct DestinationLock {
    inner: Arc<LockInner>,
}

#[derive(Debug)]
struct LockInner {
    dest: PathBuf,
    parent_path: PathBuf,
    name: OsString,
    parent: OwnedFd,
    /// Held for its `flock`; closing it lets go.
    _lock_file: OwnedFd,
    existing: ExistingDestination,
    /// Parent directories this lock created, deepest first: removed again (when empty) if
    /// nothing was installed.
    created_parents: Vec<PathBuf>,
    installed: AtomicBool,
}

impl LockInner {
    fn lock_name(&self) -> OsString {
        lock_name(&self.name)
    }
    /// `.<name>.trustpull-`: everything of this name's that the lock holder owns.
    fn prefix(&self) -> OsString {
        at::concat(&at::concat(OsStr::new("."), &self.name), MARKER)
    }
    fn at(&self, name: &OsStr) -> PathBuf {
        self.parent_path.join(name)
    }
}

impl Drop for LockInner {
    fn drop(&mut self) {
        // Still holding the flock: nobody else can be using this name right now.
        let _ = at::unlink(&self.parent, &self.lock_name());
        if !self.installed.load(Ordering::SeqCst) {
            for parent in &self.created_parents {
                // Only empty directories go: anything another process put there stays.
                if std::fs::remove_dir(parent).is_err() {
                    break;
                }
            }
        }
        // `_lock_file` closes after this, which releases the flock.
    }
}

/// What separates a destination name from the kind of file trustpull keeps beside it. No
/// destination name contains it, so `.<name>.trustpull-…` names exactly one destination.
const MARKER: &str = ".trustpull-";

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn lock_name(name: &OsStr) -> OsString {
    at::concat(&at::concat(OsStr::new("."), name), ".trustpull.lock")
}

fn parent_and_name(dest: &Path) -> Result<(PathBuf, OsString), DestinationError> {
    let bad = || DestinationError::BadDestination {
        dest: dest.to_path_buf(),
    };
    let name = dest.file_name().ok_or_else(bad)?.to_os_string();
    if contains(name.as_bytes(), MARKER.as_bytes()) {
        return Err(DestinationError::ReservedDestinationName {
            dest: dest.to_path_buf(),
        });
    }
    let parent = match dest.parent() {
        Some(p) if p.as_os_str().is_empty() => PathBuf::from("."),
        Some(p) => p.to_path_buf(),
        None => return Err(bad()),
    };
    Ok((parent, name))
}

/// What is at the destination now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DestState {
    Missing,
    EmptyDir,
    NonEmptyDir,
    NotDir,
}

fn dest_state(parent: impl AsFd, name: &OsStr, dest: &Path) -> Result<DestState, DestinationError> {
    let parent = parent.as_fd();
    let stat = at::lstat(parent, name).map_err(io_error("inspect", dest))?;
    match stat.as_ref().map(at::file_type) {
        None => Ok(DestState::Missing),
        Some(at::Type::Dir) => {
            let dir = at::open_dir(parent, name).map_err(io_error("open", dest))?;
            let children = at::children(&dir).map_err(io_error("list", dest))?;
            Ok(if children.is_empty() {
                DestState::EmptyDir
            } else {
                DestState::NonEmptyDir
            })
        }
        Some(_) => Ok(DestState::NotDir),
    }
}

fn check_state(
    state: DestState,
    existing: ExistingDestination,
    dest: &Path,
) -> Result<(), DestinationError> {
    match (state, existing) {
        (DestState::Missing | DestState::EmptyDir, _)
        | (DestState::NonEmptyDir, ExistingDestination::Replace) => Ok(()),
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

impl DestinationLock {
    /// [`DestinationLock::acquire_blocking`] on a blocking thread, so an async caller's worker
    /// is not held while another install of the same name finishes. Dropping the future does
    /// not interrupt the wait: the thread gets the lock, finds nobody to hand it to, and lets
    /// it go again (sweeping first, which is harmless).
    pub(crate) async fn acquire(
        dest: &Path,
        existing: ExistingDestination,
    ) -> Result<Self, DestinationError> {
        let owned = dest.to_path_buf();
        match tokio::task::spawn_blocking(move || Self::acquire_blocking(&owned, existing)).await {
            Ok(result) => result,
            Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
            Err(join) => Err(DestinationError::Io {
                action: "wait for the lock on",
                path: dest.to_path_buf(),
                source: io::Error::other(join),
            }),
        }
    }

    /// Creates `dest`'s missing parents, takes the lock on `dest`'s name (waiting for another
    /// holder to finish), sweeps what a crashed run of this name left behind, resolves pending
    /// sidecars, and checks the destination: a symlink or file there is refused, and a non-empty
    /// directory unless `existing` is [`ExistingDestination::Replace`].
    pub(crate) fn acquire_blocking(
        dest: &Path,
        existing: ExistingDestination,
    ) -> Result<Self, DestinationError> {
        let inner = lock(dest, existing, true)?
            .expect("lock() with create = true always returns a lock or an error");
        let lock = Self {
            inner: Arc::new(inner),
        };
        lock.sweep(None, true)?;
        let inner = &lock.inner;
        check_state(
            dest_state(&inner.parent, &inner.name, dest)?,
            existing,
            dest,
        )?;
        Ok(lock)
    }

    /// Removes this name's stale staging, layer and old directories (when `dirs`) and resolves
    /// its pending sidecars (only those ending in `suffix`, when given).
    fn sweep(&self, suffix: Option<&str>, dirs: bool) -> Result<(), DestinationError> {
        let inner = &self.inner;
        let prefix = inner.prefix();
        let names = at::children(&inner.parent).map_err(io_error("list", &inner.parent_path))?;
        for name in names {
            let Some(rest) = at::strip_prefix(&name, &prefix) else {
                continue;
            };
            let rest = rest.as_bytes();
            if rest.starts_with(b"staging-")
                || rest.starts_with(b"old-")
                || rest.starts_with(b"layers-")
            {
                if dirs {
                    at::remove_tree(&inner.parent, &name)
                        .map_err(io_error("remove the stale", &inner.at(&name)))?;
                }
            } else if let Some(pending) = rest.strip_prefix(b"pending-") {
                if suffix.is_none_or(|s| pending.get(64..) == Some(s.as_bytes())) {
                    self.resolve_pending(&name, pending)?;
                }
            }
        }
        Ok(())
    }

    /// `pending` is `<64 hex><suffix>`: rename the file to the sidecar when the tree at the
    /// destination has that digest, delete it otherwise.
    fn resolve_pending(&self, file: &OsStr, pending: &[u8]) -> Result<(), DestinationError> {
        let inner = &self.inner;
        let pending_path = inner.at(file);
        let remove = || {
            at::unlink(&inner.parent, file)
                .map_err(io_error("remove the stale pending sidecar", &pending_path))
        };
        let (Some(hex), Some(suffix)) = (pending.get(..64), pending.get(64..)) else {
            return remove();
        };
        if !hex.iter().all(|b| b.is_ascii_hexdigit()) || !valid_suffix(suffix) {
            return remove();
        }
        let tree = match at::open_dir(&inner.parent, &inner.name) {
            Ok(fd) => fd,
            // Missing, a symlink or a file: no tree this sidecar could describe.
            Err(_) => return remove(),
        };
        let listing = TreeListing::read_fd(&tree, &inner.dest).map_err(|source| {
            DestinationError::PendingSidecar {
                dest: inner.dest.clone(),
                pending: pending_path.clone(),
                source,
            }
        })?;
        if listing.digest().hex().as_bytes() != hex {
            return remove();
        }
        let sidecar = at::concat(&inner.name, OsStr::from_bytes(suffix));
        rustix::fs::renameat(&inner.parent, file, &inner.parent, &sidecar).map_err(|e| {
            io_error("rename the pending sidecar into", &inner.at(&sidecar))(e.into())
        })?;
        sync_dir(&inner.parent, &inner.parent_path)
    }

    /// A new private (`0700`) staging directory, `.<name>.trustpull-staging-*` beside the
    /// destination; it holds this lock until it is committed or dropped.
    pub(crate) fn staging(&self) -> Result<StagingDir, DestinationError> {
        let inner = &self.inner;
        let prefix = at::concat(&inner.prefix(), "staging-");
        let name = make_unique_dir(&inner.parent, &prefix, &inner.parent_path)?;
        let path = inner.at(&name);
        let root = at::open_dir(&inner.parent, &name).map_err(io_error("open", &path))?;
        let staging = StagingDir {
            lock: Arc::clone(inner),
            name,
            root,
            listing: None,
            keep: false,
        };
        at::set_mode(&staging.root, 0o700).map_err(io_error("set permissions on", &path))?;
        Ok(staging)
    }

    /// A directory for downloaded layer blobs, `.<name>.trustpull-layers-*` beside the
    /// destination (same filesystem), removed when dropped. Drop it before the lock: once the
    /// lock is gone, the next holder of this name may sweep it.
    pub(crate) fn layer_dir(&self) -> Result<tempfile::TempDir, DestinationError> {
        let inner = &self.inner;
        let prefix = at::concat(&inner.prefix(), "layers-");
        tempfile::Builder::new()
            .prefix(&prefix)
            .tempdir_in(&inner.parent_path)
            .map_err(io_error("create a layer directory in", &inner.parent_path))
    }
}

/// Takes the lock on `dest`'s name. With `create`, missing parents are made; without, a
/// missing parent means there is nothing to lock (`Ok(None)`).
fn lock(
    dest: &Path,
    existing: ExistingDestination,
    create: bool,
) -> Result<Option<LockInner>, DestinationError> {
    let (parent_path, name) = parent_and_name(dest)?;
    let lock_file_name = lock_name(&name);
    let mut created_parents: Vec<PathBuf> = Vec::new();
    for _ in 0..LOCK_ATTEMPTS {
        if create {
            let missing: Vec<PathBuf> = parent_path
                .ancestors()
                .take_while(|p| !p.as_os_str().is_empty() && !p.exists())
                .map(Path::to_path_buf)
                .collect();
            std::fs::create_dir_all(&parent_path).map_err(io_error("create", &parent_path))?;
            for p in missing {
                if !created_parents.contains(&p) {
                    created_parents.push(p);
                }
            }
            created_parents.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        }
        let parent = match at::open_dir_path(&parent_path, false) {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound && !create => return Ok(None),
            // Removed by the previous holder after we created it: make it again.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_error("open", &parent_path)(e)),
        };
        let lock_path = parent_path.join(&lock_file_name);
        let lock_file = match rustix::fs::openat(
            &parent,
            &lock_file_name,
            OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            rustix::fs::Mode::from_raw_mode(0o600),
        ) {
            Ok(fd) => fd,
            // The directory was removed under us (it was empty): start again.
            Err(rustix::io::Errno::NOENT) => continue,
            Err(e) => return Err(io_error("create the lock file", &lock_path)(e.into())),
        };
        rustix::fs::flock(&lock_file, FlockOperation::LockExclusive)
            .map_err(|e| io_error("lock", &lock_path)(e.into()))?;
        // The previous holder removes the lock file before letting go: only a lock on the file
        // that is at the name now counts.
        let locked =
            rustix::fs::fstat(&lock_file).map_err(|e| io_error("inspect", &lock_path)(e.into()))?;
        match at::lstat(&parent, &lock_file_name) {
            Ok(Some(now)) if now.st_dev == locked.st_dev && now.st_ino == locked.st_ino => {
                return Ok(Some(LockInner {
                    dest: dest.to_path_buf(),
                    parent_path,
                    name,
                    parent,
                    _lock_file: lock_file,
                    existing,
                    created_parents,
                    installed: AtomicBool::new(false),
                }));
            }
            Ok(_) => continue,
            Err(e) => return Err(io_error("inspect", &lock_path)(e)),
        }
    }
    Err(DestinationError::Io {
        action: "take the lock on",
        path: dest.to_path_buf(),
        source: io::Error::new(
            io::ErrorKind::WouldBlock,
            "the lock file kept being replaced; another program is interfering",
        ),
    })
}

/// Resolves pending sidecars of `dest` ending in `suffix` (see the module docs) under the lock
/// of `dest`'s name, so what is read next at `<dest><suffix>` describes the tree at `dest`. Call
/// it before reading a sidecar (receipt). Blocks while another install of that name runs (call
/// it from a blocking thread in async code). A missing parent or destination is not an error.
pub fn recover_sidecar(dest: &Path, suffix: &str) -> Result<(), DestinationError> {
    if !valid_suffix(suffix.as_bytes()) {
        return Err(DestinationError::BadSidecarSuffix {
            dest: dest.to_path_buf(),
            suffix: suffix.to_owned(),
        });
    }
    let Some(inner) = lock(dest, ExistingDestination::Refuse, false)? else {
        return Ok(());
    };
    let lock = DestinationLock {
        inner: Arc::new(inner),
    };
    lock.sweep(Some(suffix), false)
}

/// [`recover_sidecar`] for every destination in `parent` with a pending sidecar ending in
/// `suffix`: call it before reading the sidecars (receipts) of a whole directory. Blocks like
/// [`recover_sidecar`].
pub fn recover_sidecars_in(parent: &Path, suffix: &str) -> Result<(), DestinationError> {
    let pending_marker = format!("{MARKER}pending-");
    for entry in std::fs::read_dir(parent).map_err(io_error("list", parent))? {
        let file = entry.map_err(io_error("list", parent))?.file_name();
        let Some(rest) = file.as_bytes().strip_prefix(b".") else {
            continue;
        };
        // No destination name contains the marker, so its first occurrence ends the name.
        let Some(end) = rest
            .windows(pending_marker.len())
            .position(|w| w == pending_marker.as_bytes())
        else {
            continue;
        };
        if rest.ends_with(suffix.as_bytes()) {
            recover_sidecar(&parent.join(OsStr::from_bytes(&rest[..end])), suffix)?;
        }
    }
    Ok(())
}

fn valid_suffix(suffix: &[u8]) -> bool {
    suffix.len() >= 2 && suffix[0] == b'.' && !suffix.contains(&b'/') && !suffix.contains(&0)
}

fn make_unique_dir(
    parent: impl AsFd,
    prefix: &OsStr,
    parent_path: &Path,
) -> Result<OsString, DestinationError> {
    let parent = parent.as_fd();
    loop {
        let name = at::unique_name(prefix);
        match at::mkdir(parent, &name, 0o700) {
            Ok(()) => return Ok(name),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_error("create a staging directory in", parent_path)(e)),
        }
    }
}

fn sync_dir(dir: impl AsFd, path: &Path) -> Result<(), DestinationError> {
    rustix::fs::fsync(dir).map_err(|e| io_error("sync", path)(e.into()))
}

/// The staging directory: private (`0700`) until [`StagingDir::commit`], removed when dropped
/// unless it was installed. It keeps the lock of its destination held while it exists.
#[derive(Debug)]
pub(crate) struct StagingDir {
    lock: Arc<LockInner>,
    /// Its name inside the destination's parent.
    name: OsString,
    /// The staging root, open.
    root: OwnedFd,
    /// Set by [`StagingDir::finish`].
    listing: Option<TreeListing>,
    /// Renamed into place, or holding a previous tree that must not be deleted.
    keep: bool,
}

impl StagingDir {
    /// The staging root's path, for messages and tests. Writes go through
    /// [`StagingDir::root_handle`], never through this path.
    pub(crate) fn path(&self) -> PathBuf {
        self.lock.at(&self.name)
    }

    /// A new handle on the staging root, for [`Extractor::new`].
    pub(crate) fn root_handle(&self) -> Result<OwnedFd, DestinationError> {
        self.root
            .try_clone()
            .map_err(io_error("open", &self.path()))
    }

    /// Ends extraction: applies every directory's recorded mode, deepest first (the root keeps
    /// `0700` until [`StagingDir::commit`]), and returns the listing of the tree as it will be
    /// installed, built while extracting (no second pass over the files). Blocking I/O: one
    /// `open` + `fchmod` per directory.
    pub(crate) fn finish(&mut self, extractor: Extractor) -> Result<TreeListing, DestinationError> {
        let listing = extractor
            .finish()
            .map_err(|(rel, source)| DestinationError::Io {
                action: "set the mode of",
                path: self.path().join(rel),
                source,
            })?;
        self.listing = Some(listing.clone());
        Ok(listing)
    }

    /// Installs the staged tree at the destination of `lock` (module docs), with `sidecar`
    /// beside it; then removes the previous tree and lets go of the lock. Blocking I/O.
    ///
    /// Without [`StagingDir::finish`] first, the staged tree is read back to compute its digest.
    pub(crate) fn commit(
        mut self,
        lock: DestinationLock,
        sidecar: Option<Sidecar>,
    ) -> Result<(), DestinationError> {
        let inner = Arc::clone(&self.lock);
        let dest = inner.dest.clone();
        if !Arc::ptr_eq(&inner, &lock.inner) {
            return Err(DestinationError::LockMismatch {
                dest: lock.inner.dest.clone(),
                staging: self.path(),
            });
        }
        if let Some(sidecar) = &sidecar {
            if !valid_suffix(sidecar.suffix.as_bytes()) {
                return Err(DestinationError::BadSidecarSuffix {
                    dest,
                    suffix: sidecar.suffix.clone(),
                });
            }
        }
        let staged = self.path();
        at::set_mode(&self.root, ROOT_MODE).map_err(io_error("set permissions on", &staged))?;
        let digest = match &self.listing {
            Some(listing) => listing.digest(),
            None => TreeListing::read_fd(&self.root, &staged)
                .map_err(|source| DestinationError::Io {
                    action: "read the staged tree",
                    path: staged.clone(),
                    source: io::Error::other(source),
                })?
                .digest(),
        };
        let state = dest_state(&inner.parent, &inner.name, &dest)?;
        check_state(state, inner.existing, &dest)?;

        let parent = &inner.parent;
        let pending = match &sidecar {
            Some(sidecar) => Some(self.write_pending(sidecar, digest.hex())?),
            None => None,
        };
        fault(Fault::CrashBeforeSwap, &mut self)?;

        let swapped = self.swap(state);
        let exchanged = match swapped {
            Ok(exchanged) => exchanged,
            Err(e) => {
                if let Some((file, _)) = &pending {
                    let _ = at::unlink(parent, file);
                }
                return Err(e);
            }
        };
        // From here the new tree is at the destination.
        inner.installed.store(true, Ordering::SeqCst);
        if exchanged.is_none() {
            self.keep = true;
        }
        fault(Fault::CrashAfterSwap, &mut self)?;

        if let Some((file, sidecar_name)) = &pending {
            let renamed = fault(Fault::SidecarRename, &mut self).and_then(|()| {
                rustix::fs::renameat(parent, file, parent, sidecar_name).map_err(|e| {
                    io_error("rename the sidecar into", &inner.at(sidecar_name))(e.into())
                })
            });
            if let Err(e) = renamed {
                return Err(self.roll_back(exchanged, file, e));
            }
        }
        let _ = sync_dir(parent, &inner.parent_path);
        match exchanged {
            Some(old) => {
                // Best effort: a leftover is swept by the next install of this name.
                let _ = at::remove_tree(parent, &old);
                self.keep = true;
            }
            None => self.keep = true,
        }
        drop(lock);
        Ok(())
    }

    /// Writes the sidecar to `.<name>.trustpull-pending-<hex><suffix>`, fsync'd, and syncs the
    /// directory, so the pending name is durable before the swap. Returns the pending and final
    /// names.
    fn write_pending(
        &self,
        sidecar: &Sidecar,
        hex: &str,
    ) -> Result<(OsString, OsString), DestinationError> {
        let inner = &self.lock;
        let file = at::concat(
            &at::concat(&inner.prefix(), format!("pending-{hex}")),
            &sidecar.suffix,
        );
        let path = inner.at(&file);
        at::remove_tree(&inner.parent, &file).map_err(io_error("remove", &path))?;
        let mut out =
            at::create_file(&inner.parent, &file, 0o644).map_err(io_error("create", &path))?;
        if let Err(e) = out.write_all(&sidecar.bytes).and_then(|()| out.sync_all()) {
            // A partial sidecar must never be resolved into place by a later recovery.
            let _ = at::unlink(&inner.parent, &file);
            return Err(io_error("write", &path)(e));
        }
        sync_dir(&inner.parent, &inner.parent_path)?;
        Ok((file, at::concat(&inner.name, &sidecar.suffix)))
    }

    /// Puts the staged tree at the destination. Returns where the previous tree now is (its
    /// name in the parent), if there was one.
    fn swap(&mut self, state: DestState) -> Result<Option<OsString>, DestinationError> {
        let inner = Arc::clone(&self.lock);
        let parent = &inner.parent;
        let dest = &inner.dest;
        let rename_err = |e: rustix::io::Errno| io_error("rename into place", dest)(e.into());
        match state {
            DestState::Missing | DestState::EmptyDir => {
                if state == DestState::EmptyDir {
                    rustix::fs::unlinkat(parent, &inner.name, rustix::fs::AtFlags::REMOVEDIR)
                        .map_err(|e| io_error("remove the empty directory", dest)(e.into()))?;
                }
                rename_noreplace(parent, &self.name, &inner.name)
                    .map(|()| None)
                    .map_err(rename_err)
            }
            DestState::NonEmptyDir => {
                match exchange(parent, &self.name, &inner.name) {
                    // The previous tree is now at the staging name.
                    Ok(()) => Ok(Some(self.name.clone())),
                    Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {
                        // No RENAME_EXCHANGE: two renames, with a moment without a tree.
                        let old = at::unique_name(&at::concat(&inner.prefix(), "old-"));
                        rustix::fs::renameat(parent, &inner.name, parent, &old)
                            .map_err(rename_err)?;
                        if let Err(e) =
                            rustix::fs::renameat(parent, &self.name, parent, &inner.name)
                        {
                            let _ = rustix::fs::renameat(parent, &old, parent, &inner.name);
                            return Err(rename_err(e));
                        }
                        Ok(Some(old))
                    }
                    Err(e) => Err(rename_err(e)),
                }
            }
            DestState::NotDir => {
                Err(DestinationError::DestinationNotDirectory { dest: dest.clone() })
            }
        }
    }

    /// The sidecar could not be put in place: take the new tree out again. If that fails too,
    /// nothing is deleted (the pending file, written for the new tree now at the destination,
    /// is resolved by the next lock holder).
    fn roll_back(
        &mut self,
        exchanged: Option<OsString>,
        pending: &OsStr,
        sidecar_error: DestinationError,
    ) -> DestinationError {
        let inner = Arc::clone(&self.lock);
        let parent = &inner.parent;
        let sidecar_io = match sidecar_error {
            DestinationError::Io { source, .. } => source,
            other => io::Error::other(other),
        };
        let back = fault(Fault::RollbackFails, self)
            .map_err(io::Error::other)
            .and_then(|()| match &exchanged {
                Some(old) if *old == self.name => Ok(exchange(parent, old, &inner.name)?),
                // The two-rename fallback: the same two renames backwards.
                Some(old) => {
                    rename_noreplace(parent, &inner.name, &self.name)?;
                    Ok(rename_noreplace(parent, old, &inner.name)?)
                }
                // There was no tree before: move the new one back to the staging name.
                None => Ok(rename_noreplace(parent, &inner.name, &self.name)?),
            });
        match back {
            Ok(()) => {
                let _ = at::unlink(parent, pending);
                inner.installed.store(false, Ordering::SeqCst);
                // The new tree is at the staging name again: dropping removes it.
                self.keep = false;
                DestinationError::Io {
                    action: "put the sidecar beside",
                    path: inner.dest.clone(),
                    source: sidecar_io,
                }
            }
            // No previous tree to keep: the new one stays installed and its pending sidecar is
            // resolved by the next lock holder.
            Err(_) if exchanged.is_none() => {
                self.keep = true;
                DestinationError::Io {
                    action: "put the sidecar beside",
                    path: inner.dest.clone(),
                    source: sidecar_io,
                }
            }
            Err(source) => {
                self.keep = true;
                DestinationError::RollbackFailed {
                    dest: inner.dest.clone(),
                    previous: exchanged.map(|old| inner.at(&old)).unwrap_or_default(),
                    sidecar_error: sidecar_io,
                    source,
                }
            }
        }
    }
}

/// `renameat2(RENAME_NOREPLACE)` of `from` to `to` in `parent`; a plain `renameat` where the
/// filesystem has no `renameat2` (we hold the lock, and `to` was free when we looked).
fn rename_noreplace(parent: impl AsFd, from: &OsStr, to: &OsStr) -> Result<(), rustix::io::Errno> {
    let parent = parent.as_fd();
    match rustix::fs::renameat_with(parent, from, parent, to, RenameFlags::NOREPLACE) {
        Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {
            rustix::fs::renameat(parent, from, parent, to)
        }
        other => other,
    }
}

/// `renameat2(RENAME_EXCHANGE)` of two names in `parent`.
fn exchange(parent: impl AsFd, a: &OsStr, b: &OsStr) -> Result<(), rustix::io::Errno> {
    let parent = parent.as_fd();
    rustix::fs::renameat_with(parent, a, parent, b, RenameFlags::EXCHANGE)
}

impl Drop for StagingDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = at::remove_tree(&self.lock.parent, &self.name);
        }
    }
}

/// Points in [`StagingDir::commit`] where a test can make it stop or fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(test), allow(dead_code))] // only tests arm faults
pub(crate) enum Fault {
    /// Stop as a killed process would, after writing the pending sidecar, before the swap.
    CrashBeforeSwap,
    /// Stop as a killed process would, after the swap, before renaming the sidecar.
    CrashAfterSwap,
    /// Make the sidecar rename fail.
    SidecarRename,
    /// Make swapping back after a failed sidecar rename fail.
    RollbackFails,
}

#[cfg(test)]
thread_local! {
    /// The faults armed for the commits on this thread.
    pub(crate) static FAULTS: std::cell::RefCell<Vec<Fault>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Fails when a test armed `point`. A "crash" leaves everything on disk as it is (the staging
/// directory is kept, as a killed process would leave it) and releases nothing but the lock.
#[cfg(test)]
fn fault(point: Fault, staging: &mut StagingDir) -> Result<(), DestinationError> {
    if FAULTS.with(|f| f.borrow().contains(&point)) {
        if matches!(point, Fault::CrashBeforeSwap | Fault::CrashAfterSwap) {
            staging.keep = true;
        }
        return Err(DestinationError::Io {
            action: "simulate a fault at",
            path: staging.path(),
            source: io::Error::other(format!("{point:?}")),
        });
    }
    Ok(())
}

#[cfg(not(test))]
#[inline(always)]
fn fault(_: Fault, _: &mut StagingDir) -> Result<(), DestinationError> {
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests;
