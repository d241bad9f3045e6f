//! [`TreeListing`]: what an installed tree is, and the one digest of it that receipts record and
//! `verify-installed` recomputes. The encoding is documented on the type (users see it there).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use trustpull_policy::Digest;

use super::at;

/// The listing path of the tree root.
pub(crate) const ROOT_PATH: &str = ".";

const FORMAT: &str = "trustpull-tree/v1";

/// Every path of an installed tree with what it is — kind, mode, content hash, link target —
/// and the one digest of it that receipts record and `verify-installed` recomputes.
///
/// Paths are relative to the tree root and `/`-separated; the root itself is `.`. Names are
/// written as UTF-8 with `%` and every byte that is not valid UTF-8 written as `%XX`, so two
/// different names never share a listing path. Entries are sorted by that string (bytewise).
///
/// [`TreeListing::digest`] is sha256 over compact JSON (no whitespace, non-ASCII as UTF-8):
/// `{"format":"trustpull-tree/v1","entries":[{"path":…,"kind":…,"mode":…,"sha256":…,"target":…},…]}`
/// with the entries sorted, the fields in that order, `kind` one of `dir`, `file`, `symlink`,
/// `other`, `mode` a decimal number, `sha256` lowercase hex, and absent values `null`: one byte
/// string per tree, whatever produced the listing (the extractor while writing, or
/// [`TreeListing::read`] walking the disk). Changing any of this changes every recorded digest:
/// bump the format string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "RawListing")]
pub struct TreeListing {
    entries: Vec<TreeEntry>,
}

/// [`TreeListing`] as written; sorted (and de-duplicated by path) when read back.
#[derive(Deserialize)]
struct RawListing {
    entries: Vec<TreeEntry>,
}

impl From<RawListing> for TreeListing {
    fn from(raw: RawListing) -> Self {
        Self::from_entries(raw.entries)
    }
}

/// One path of a [`TreeListing`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TreeEntry {
    /// Relative, `/`-separated, `%`-escaped (see [`TreeListing`]); `.` for the root.
    pub path: String,
    /// What the path is.
    pub kind: TreeEntryKind,
    /// Permission bits with setuid, setgid and sticky (`st_mode & 0o7777`); `0o777` for a
    /// symlink, whose own mode means nothing.
    pub mode: u32,
    /// Lowercase hex sha256 of a regular file's content; `None` for anything else.
    pub sha256: Option<String>,
    /// A symlink's target, escaped like `path`; `None` for anything else.
    pub target: Option<String>,
}

/// The kind of a [`TreeEntry`]. A hardlinked file is a file like any other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TreeEntryKind {
    /// A directory.
    Dir,
    /// A regular file.
    File,
    /// A symbolic link.
    Symlink,
    /// A device node, FIFO or socket: never installed by trustpull, so one found on disk is a
    /// change.
    Other,
}

/// How a path differs between two listings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TreeChange {
    /// In the new listing only.
    Added {
        /// The listing path.
        path: String,
    },
    /// In the old listing only.
    Removed {
        /// The listing path.
        path: String,
    },
    /// In both, different.
    Modified {
        /// The listing path.
        path: String,
        /// What differs, in the order kind, mode, content, target.
        what: Vec<TreeDifference>,
    },
}

/// One way a path differs in [`TreeChange::Modified`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TreeDifference {
    /// It is now another kind of thing (a file became a symlink).
    Kind {
        /// In the old listing.
        expected: TreeEntryKind,
        /// On disk now.
        found: TreeEntryKind,
    },
    /// Its permission bits changed.
    Mode {
        /// In the old listing.
        expected: u32,
        /// On disk now.
        found: u32,
    },
    /// A file's content changed.
    Content,
    /// A symlink points elsewhere.
    Target,
}

impl std::fmt::Display for TreeDifference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Kind { expected, found } => write!(f, "kind {expected:?} → {found:?}"),
            Self::Mode { expected, found } => write!(f, "mode {expected:o} → {found:o}"),
            Self::Content => f.write_str("content"),
            Self::Target => f.write_str("symlink target"),
        }
    }
}

impl std::fmt::Display for TreeChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Added { path } => write!(f, "{path} added"),
            Self::Removed { path } => write!(f, "{path} removed"),
            Self::Modified { path, what } => {
                write!(f, "{path} changed (")?;
                for (i, w) in what.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{w}")?;
                }
                f.write_str(")")
            }
        }
    }
}

/// Why a tree could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TreeError {
    /// The root is missing, a symlink, or not a directory.
    #[error("{root:?} is not a directory (or is a symlink); reinstall it")]
    NotADirectory {
        /// The tree root.
        root: PathBuf,
    },
    /// A filesystem operation failed.
    #[error("could not read {path:?} in the installed tree; check its permissions")]
    Io {
        /// The path (root joined with the relative path).
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl TreeListing {
    /// A listing of `entries`, sorted by path; of two entries with one path the first is kept.
    pub(crate) fn from_entries(mut entries: Vec<TreeEntry>) -> Self {
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        entries.dedup_by(|later, first| later.path == first.path);
        Self { entries }
    }

    /// Walks the tree at `root` without following any symlink (the root itself must be a real
    /// directory) and hashes every regular file.
    ///
    /// Reading needs read permission on every file and `r-x` on every directory: as a normal
    /// user, a tree holding a `0000` file cannot be read (root can).
    pub fn read(root: &Path) -> Result<Self, TreeError> {
        let fd = at::open_dir_path(root, true).map_err(|source| match source.raw_os_error() {
            Some(code)
                if code == rustix::io::Errno::LOOP.raw_os_error()
                    || code == rustix::io::Errno::NOTDIR.raw_os_error()
                    || code == rustix::io::Errno::NOENT.raw_os_error() =>
            {
                TreeError::NotADirectory {
                    root: root.to_path_buf(),
                }
            }
            _ => TreeError::Io {
                path: root.to_path_buf(),
                source,
            },
        })?;
        Self::read_fd(&fd, root)
    }

    /// Like [`TreeListing::read`], for the tree whose root directory is open as `fd`; `shown`
    /// names it in errors.
    pub(crate) fn read_fd(fd: impl AsFd, shown: &Path) -> Result<Self, TreeError> {
        let fd = fd.as_fd();
        let root_stat = rustix::fs::fstat(fd).map_err(|e| TreeError::Io {
            path: shown.to_path_buf(),
            source: e.into(),
        })?;
        let mut entries = vec![TreeEntry {
            path: ROOT_PATH.to_owned(),
            kind: TreeEntryKind::Dir,
            mode: at::mode_bits(&root_stat),
            sha256: None,
            target: None,
        }];
        walk(fd, Path::new(""), shown, &mut entries)?;
        Ok(Self::from_entries(entries))
    }

    /// The entries, sorted by path.
    pub fn entries(&self) -> &[TreeEntry] {
        &self.entries
    }

    /// sha256 of the canonical encoding (see [`TreeListing`]): equal listings, equal digests.
    pub fn digest(&self) -> Digest {
        #[derive(Serialize)]
        struct Canonical<'a> {
            format: &'a str,
            entries: &'a [TreeEntry],
        }
        let bytes = serde_json::to_vec(&Canonical {
            format: FORMAT,
            entries: &self.entries,
        })
        .expect("a listing of strings and numbers always serialises");
        Digest::of(&bytes)
    }

    /// What changed from `self` (what was installed) to `now` (what is on disk), sorted by
    /// path; empty when the trees are the same.
    pub fn changes(&self, now: &TreeListing) -> Vec<TreeChange> {
        let old: BTreeMap<&str, &TreeEntry> =
            self.entries.iter().map(|e| (e.path.as_str(), e)).collect();
        let new: BTreeMap<&str, &TreeEntry> =
            now.entries.iter().map(|e| (e.path.as_str(), e)).collect();
        let mut paths: Vec<&str> = old.keys().chain(new.keys()).copied().collect();
        paths.sort_unstable();
        paths.dedup();
        let mut out = Vec::new();
        for path in paths {
            match (old.get(path), new.get(path)) {
                (Some(_), None) => out.push(TreeChange::Removed { path: path.into() }),
                (None, Some(_)) => out.push(TreeChange::Added { path: path.into() }),
                (Some(a), Some(b)) => {
                    let mut what = Vec::new();
                    if a.kind != b.kind {
                        what.push(TreeDifference::Kind {
                            expected: a.kind,
                            found: b.kind,
                        });
                    }
                    if a.mode != b.mode {
                        what.push(TreeDifference::Mode {
                            expected: a.mode,
                            found: b.mode,
                        });
                    }
                    if a.kind == b.kind && a.sha256 != b.sha256 {
                        what.push(TreeDifference::Content);
                    }
                    if a.kind == b.kind && a.target != b.target {
                        what.push(TreeDifference::Target);
                    }
                    if !what.is_empty() {
                        out.push(TreeChange::Modified {
                            path: path.into(),
                            what,
                        });
                    }
                }
                (None, None) => {}
            }
        }
        out
    }
}

fn walk(
    dir: std::os::fd::BorrowedFd<'_>,
    rel: &Path,
    shown: &Path,
    out: &mut Vec<TreeEntry>,
) -> Result<(), TreeError> {
    let io_err = |rel: &Path| {
        let path = shown.join(rel);
        move |source: io::Error| TreeError::Io { path, source }
    };
    for name in at::children(dir).map_err(io_err(rel))? {
        let child_rel = rel.join(&name);
        let entry = entry_at(dir, &name, &child_rel).map_err(io_err(&child_rel))?;
        let is_dir = entry.kind == TreeEntryKind::Dir;
        out.push(entry);
        if is_dir {
            let child = at::open_dir(dir, &name).map_err(io_err(&child_rel))?;
            walk(std::os::fd::AsFd::as_fd(&child), &child_rel, shown, out)?;
        }
    }
    Ok(())
}

/// The entry for `name` inside `dir` as it is on disk (`rel` is its path from the root).
pub(crate) fn entry_at(dir: impl AsFd, name: &OsStr, rel: &Path) -> io::Result<TreeEntry> {
    let dir = dir.as_fd();
    let stat = at::lstat(dir, name)?.ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
    let path = encode(rel.as_os_str());
    Ok(match at::file_type(&stat) {
        at::Type::Dir => TreeEntry::dir(path, at::mode_bits(&stat)),
        at::Type::File => {
            let mut file = at::open_file(dir, name)?;
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = file.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
            }
            TreeEntry::file(path, at::mode_bits(&stat), hasher.finalize().into())
        }
        at::Type::Symlink => {
            let target = rustix::fs::readlinkat(dir, name, Vec::new())?;
            TreeEntry::symlink(path, OsStr::from_bytes(target.as_bytes()))
        }
        at::Type::Other => TreeEntry {
            path,
            kind: TreeEntryKind::Other,
            mode: at::mode_bits(&stat),
            sha256: None,
            target: None,
        },
    })
}

impl TreeEntry {
    pub(crate) fn dir(path: String, mode: u32) -> Self {
        Self {
            path,
            kind: TreeEntryKind::Dir,
            mode,
            sha256: None,
            target: None,
        }
    }

    pub(crate) fn file(path: String, mode: u32, sha256: [u8; 32]) -> Self {
        Self {
            path,
            kind: TreeEntryKind::File,
            mode,
            sha256: Some(hex::encode(sha256)),
            target: None,
        }
    }

    pub(crate) fn symlink(path: String, target: &OsStr) -> Self {
        Self {
            path,
            kind: TreeEntryKind::Symlink,
            mode: 0o777,
            sha256: None,
            target: Some(encode(target)),
        }
    }
}

/// A relative path (or link target) as a listing string: UTF-8, with `%` and every byte of an
/// invalid UTF-8 sequence written as `%XX`; the empty path is [`ROOT_PATH`].
pub(crate) fn encode(raw: &OsStr) -> String {
    if raw.is_empty() {
        return ROOT_PATH.to_owned();
    }
    let mut out = String::new();
    for chunk in raw.as_bytes().utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '%' {
                out.push_str("%25");
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
