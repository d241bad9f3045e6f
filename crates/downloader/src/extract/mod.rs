//! Safe, layered tar extraction into a root directory that this process owns.
//!
//! The rules:
//! - paths: a leading `/` and `./` are dropped; any `..` component is refused;
//! - everything is created by handle, relative to an open handle of the root: each parent is
//!   reached by one `openat(O_DIRECTORY | O_NOFOLLOW)` per component, and entries are made with
//!   `mkdirat`, `openat(O_CREAT | O_EXCL | O_NOFOLLOW)`, `symlinkat`, `linkat` and removed with
//!   `unlinkat` — never through a path string another process could have swapped;
//! - symlinks are created as data (any target) but never followed when writing: every parent of
//!   an entry must be a real directory, and an entry's own name is unlinked before it is created;
//! - hardlinks must name an existing non-directory inside the root, reached without symlinks;
//! - character and block devices and FIFOs are skipped; ownership and timestamps are not
//!   restored;
//! - modes: files get theirs without setuid, setgid and sticky; directories are created `0700`
//!   (so later layers can write into a `0555` directory, and nothing is reachable by others
//!   while extracting) and get their recorded mode — setuid and setgid stripped, the sticky bit
//!   kept (`/tmp` is `1777`) — in [`Extractor::finish`], deepest first; directories the archive
//!   never lists get `0755`;
//! - OCI whiteouts: `.wh.NAME` removes `NAME` from lower layers and `.wh..wh..opq` empties its
//!   directory of everything lower layers put there; neither is materialised;
//! - entry-count and extracted-size limits across all layers ([`crate::PullLimits`]), and at most
//!   [`MAX_METADATA_BYTES`] of tar metadata per entry (the tar reader buffers long names and pax
//!   records in memory);
//! - a cancellation flag checked between entries and every 64 KiB written.
//!
//! While writing, the extractor keeps the [`TreeListing`] of the tree (file bytes hashed as they
//! are written; overwrites, whiteouts and hardlinks update it), so installing does not read the
//! tree a second time to compute its digest.
//!
//! Decompression runs on a second thread a bounded distance ahead ([`readahead`]), so inflating
//! and writing files overlap (or on the extracting thread when no thread can be spawned);
//! everything above is decided on the extracting thread.

mod compression;
mod path;
mod readahead;

pub use compression::Compression;
pub(crate) use compression::{declared, DeclaredCompression};

use std::collections::{BTreeMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::ops::Bound;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use sha2::{Digest as _, Sha256};

use crate::tree::{self, at, TreeEntry, TreeEntryKind, TreeListing};
use path::{PathProblem, SafeRelativePath};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";
const COPY_CHUNK: usize = 64 * 1024;

/// Most bytes of tar metadata read between two entries (headers, GNU long names, pax records,
/// and any data of an entry that is skipped, such as a FIFO with a size). The tar reader keeps
/// long names and pax records in memory, so this bounds its memory: 1 MiB.
pub const MAX_METADATA_BYTES: u64 = 1024 * 1024;

/// How many more bytes the tar reader may read; shared between the extractor and [`Budgeted`].
#[derive(Debug, Clone, Default)]
struct MetadataBudget {
    left: std::rc::Rc<std::cell::Cell<u64>>,
    exceeded: std::rc::Rc<std::cell::Cell<bool>>,
}

impl MetadataBudget {
    fn refill(&self, bytes: u64) {
        self.left.set(bytes);
    }

    /// A read error is ours (budget exceeded) or the stream's (corrupt).
    fn classify(&self, compression: Compression, source: io::Error) -> ExtractError {
        if self.exceeded.get() {
            ExtractError::OversizedMetadata {
                limit: MAX_METADATA_BYTES,
            }
        } else {
            ExtractError::Corrupt {
                compression,
                source,
            }
        }
    }
}

/// The decompressed layer, readable only as far as the budget allows.
struct Budgeted<R> {
    inner: R,
    budget: MetadataBudget,
}

impl<R: Read> Read for Budgeted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.budget.left.get();
        if buf.is_empty() {
            return Ok(0);
        }
        if left == 0 {
            self.budget.exceeded.set(true);
            return Err(io::Error::other("tar metadata budget exceeded"));
        }
        let max = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        self.budget.left.set(left - n as u64);
        Ok(n)
    }
}

/// A flag that, once set, makes extraction stop at the next entry or chunk.
#[derive(Debug, Clone, Default)]
pub(crate) struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    pub(crate) fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Why an archive entry was refused as unsafe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnsafeReason {
    /// The path has a `..` component.
    ParentComponent,
    /// A parent of the path is a symlink (writing would follow it).
    ThroughSymlink,
    /// A parent of the path is a regular file or other non-directory.
    ParentNotDirectory,
    /// A hardlink target is outside the root, missing, a directory, or reached through a symlink.
    HardlinkTarget,
    /// A whiteout names `.`, `..` or nothing.
    BadWhiteout,
    /// A symlink with an empty target.
    EmptySymlinkTarget,
}

impl std::fmt::Display for UnsafeReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::ParentComponent => "it has a `..` component",
            Self::ThroughSymlink => {
                "a parent directory is a symlink (writes never follow symlinks)"
            }
            Self::ParentNotDirectory => "a parent is not a directory",
            Self::HardlinkTarget => {
                "its hardlink target is not an existing non-directory inside the image root"
            }
            Self::BadWhiteout => "it is a whiteout that names no entry",
            Self::EmptySymlinkTarget => "it is a symlink with an empty target",
        })
    }
}

/// Why extraction of a layer stopped. The staging directory is discarded by the caller.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExtractError {
    /// An entry would escape the root or write through a link.
    #[error("archive entry {path:?} is refused: {reason}; the image is malformed or hostile")]
    UnsafeEntry {
        /// The entry path as written in the archive.
        path: String,
        /// What is wrong with it.
        reason: UnsafeReason,
    },
    /// More entries than [`crate::PullLimits::max_entries`].
    #[error("the image has more than {limit} archive entries; raise PullLimits::max_entries if it is trusted")]
    TooManyEntries {
        /// The limit in force.
        limit: u64,
    },
    /// More file bytes than [`crate::PullLimits::max_extracted_bytes`].
    #[error("the image extracts to more than {limit} bytes; raise PullLimits::max_extracted_bytes if it is trusted")]
    TooLarge {
        /// The limit in force.
        limit: u64,
    },
    /// The layer is not a readable (compressed) tar stream.
    #[error("the layer is not a valid {compression:?} tar stream")]
    Corrupt {
        /// The decoder that was used.
        compression: Compression,
        /// The decoder or tar reader error.
        #[source]
        source: io::Error,
    },
    /// Writing into the staging directory failed (disk full, a file over the size limit,
    /// permissions). Out of room (ENOSPC, EDQUOT, EFBIG), the message says so and what to do.
    #[error("could not write {path:?} in the staging directory{}", crate::error::out_of_room(.source).unwrap_or_default())]
    Io {
        /// The file being written.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Tar metadata (headers, long names, pax records, data of skipped entries) between two
    /// entries exceeds [`MAX_METADATA_BYTES`]: a hostile archive trying to make the reader
    /// buffer it in memory.
    #[error("the layer has more than {limit} bytes of tar metadata for one entry; the image is malformed or hostile")]
    OversizedMetadata {
        /// The bound.
        limit: u64,
    },
    /// The pull was cancelled.
    #[error("extraction was cancelled")]
    Cancelled,
}

/// What extraction did, for progress reports and receipts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExtractStats {
    /// Tar entries read, whiteouts and skipped entries included.
    pub entries: u64,
    /// Regular-file bytes written.
    pub bytes: u64,
    /// Device nodes, FIFOs and unknown entry types skipped.
    pub skipped: u64,
    /// Whiteouts applied.
    pub whiteouts: u64,
}

/// Extracts layers, in order, into one root directory, through an open handle of it.
#[derive(Debug)]
pub(crate) struct Extractor {
    root: Arc<OwnedFd>,
    max_entries: u64,
    max_bytes: u64,
    cancel: CancelFlag,
    stats: ExtractStats,
    /// Paths created by the layer being extracted: whiteouts only hide lower layers' content.
    this_layer: HashSet<PathBuf>,
    /// What the tree holds, by relative path (the root is the empty path), kept up to date as
    /// entries are written and removed: the listing of the installed tree, with directories at
    /// the mode they get in [`Extractor::finish`].
    nodes: BTreeMap<PathBuf, TreeEntry>,
    /// The directory the last entry was written into, by relative path; forgotten whenever a
    /// directory is removed (its handle could name a deleted directory).
    last_parent: Option<(PathBuf, Arc<OwnedFd>)>,
}

enum Kind {
    Dir,
    File { size: u64 },
    Symlink,
    Hardlink,
    Skip,
}

/// The final mode of a directory the archive never lists but whose entries need it.
const IMPLICIT_DIR_MODE: u32 = 0o755;

impl Extractor {
    /// An extractor writing into the directory open as `root` (the staging root: a directory
    /// this process created and owns).
    pub(crate) fn new(root: OwnedFd, limits: &crate::PullLimits, cancel: CancelFlag) -> Self {
        let mut nodes = BTreeMap::new();
        nodes.insert(
            PathBuf::new(),
            TreeEntry::dir(tree::ROOT_PATH.to_owned(), tree::ROOT_MODE),
        );
        Self {
            root: Arc::new(root),
            max_entries: limits.max_entries,
            max_bytes: limits.max_extracted_bytes,
            cancel,
            stats: ExtractStats::default(),
            this_layer: HashSet::new(),
            nodes,
            last_parent: None,
        }
    }

    /// What has been done so far.
    pub(crate) fn stats(&self) -> &ExtractStats {
        &self.stats
    }

    /// Ends extraction: gives every directory but the root its recorded mode (setuid and
    /// setgid stripped, sticky kept), deepest first so no directory is closed to us before
    /// the ones below it are done, and returns the listing of the tree. On failure, the
    /// relative path of the directory and the OS error.
    pub(crate) fn finish(self) -> Result<TreeListing, (PathBuf, io::Error)> {
        let mut dirs: Vec<(&PathBuf, u32)> = self
            .nodes
            .iter()
            .filter(|(rel, e)| e.kind == TreeEntryKind::Dir && !rel.as_os_str().is_empty())
            .map(|(rel, e)| (rel, e.mode))
            .collect();
        dirs.sort_by_key(|(rel, _)| std::cmp::Reverse(rel.components().count()));
        for (rel, mode) in dirs {
            let mut dir: Option<OwnedFd> = None;
            for component in rel.components() {
                let from = dir.as_ref().map_or(self.root.as_fd(), AsFd::as_fd);
                let next =
                    at::open_dir(from, component.as_os_str()).map_err(|e| (rel.clone(), e))?;
                dir = Some(next);
            }
            if let Some(dir) = dir {
                at::set_mode(&dir, mode).map_err(|e| (rel.clone(), e))?;
            }
        }
        Ok(TreeListing::from_entries(
            self.nodes.into_values().collect(),
        ))
    }

    /// Extracts one layer blob (compressed as `declared` says, or sniffed) on top of the layers
    /// extracted before it.
    pub(crate) fn extract_layer<R: Read + Send>(
        &mut self,
        blob: R,
        declared: DeclaredCompression,
    ) -> Result<(), ExtractError> {
        self.this_layer.clear();
        let fallback = match declared {
            DeclaredCompression::Known(c) => c,
            DeclaredCompression::Sniff => Compression::None,
        };
        let (compression, decoded) =
            compression::decoder(blob, declared).map_err(|source| ExtractError::Corrupt {
                compression: fallback,
                source,
            })?;
        let (reader, producer) = readahead::pipe(decoded);
        // The decoder thread ends when the stream does, or when `reader` is dropped (when
        // `entries` returns, whatever it returns); the scope waits for it either way.
        std::thread::scope(|scope| {
            let (handoff, receive) = std::sync::mpsc::channel::<readahead::Producer<_>>();
            let decoder_thread = std::thread::Builder::new()
                .name("trustpull-decode".to_owned())
                .spawn_scoped(scope, move || {
                    if let Ok(producer) = receive.recv() {
                        producer.run();
                    }
                });
            let producer = match decoder_thread {
                Ok(_) => match handoff.send(producer) {
                    Ok(()) => return self.entries(reader, compression),
                    Err(std::sync::mpsc::SendError(producer)) => producer,
                },
                Err(_) => producer,
            };
            // The system would not give us a second thread: decode on this one.
            drop(reader);
            self.entries(producer.into_decoder(), compression)
        })
    }

    /// Extracts every entry of one layer's decompressed tar stream.
    fn entries<D: Read>(
        &mut self,
        decoded: D,
        compression: Compression,
    ) -> Result<(), ExtractError> {
        let corrupt = |source| ExtractError::Corrupt {
            compression,
            source,
        };
        let budget = MetadataBudget::default();
        let mut archive = tar::Archive::new(Budgeted {
            inner: decoded,
            budget: budget.clone(),
        });
        let mut entries = archive.entries().map_err(corrupt)?;
        loop {
            if self.cancel.is_cancelled() {
                return Err(ExtractError::Cancelled);
            }
            // Between two entries the tar reader reads headers, long names, pax records and
            // whatever the previous entry left unread: all bounded by the metadata budget.
            budget.refill(MAX_METADATA_BYTES);
            let Some(entry) = entries.next() else { break };
            let entry = entry.map_err(|source| budget.classify(compression, source))?;
            self.stats.entries += 1;
            if self.stats.entries > self.max_entries {
                return Err(ExtractError::TooManyEntries {
                    limit: self.max_entries,
                });
            }
            self.entry(entry, compression, &budget)?;
        }
        Ok(())
    }

    fn entry<R: Read>(
        &mut self,
        mut entry: tar::Entry<'_, R>,
        compression: Compression,
        budget: &MetadataBudget,
    ) -> Result<(), ExtractError> {
        let corrupt = |source| ExtractError::Corrupt {
            compression,
            source,
        };
        let raw_path = entry.path().map_err(corrupt)?.into_owned();
        let shown = raw_path.to_string_lossy().into_owned();
        let unsafe_entry = |reason| ExtractError::UnsafeEntry {
            path: shown.clone(),
            reason,
        };
        let header = entry.header();
        let mode = header.mode().unwrap_or(0o644) & 0o7777;
        let kind = match header.entry_type() {
            // The tar reader expands GNU sparse files (holes read as zeros).
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                Kind::File { size: entry.size() }
            }
            tar::EntryType::Directory => Kind::Dir,
            tar::EntryType::Symlink => Kind::Symlink,
            tar::EntryType::Link => Kind::Hardlink,
            // Devices, FIFOs, global pax headers and unknown types carry nothing we install.
            _ => Kind::Skip,
        };
        let rel = match SafeRelativePath::parse(&raw_path) {
            Ok(rel) => rel,
            Err(PathProblem::ParentComponent) => {
                return Err(unsafe_entry(UnsafeReason::ParentComponent))
            }
        };
        if let Kind::Skip = kind {
            self.stats.skipped += 1;
            return Ok(());
        }
        let Some(rel) = rel else {
            // The root itself ("./"): its mode is ours to decide.
            return Ok(());
        };

        let name = rel.file_name();
        if let Some(hidden) = name.to_str().and_then(|n| n.strip_prefix(WHITEOUT_PREFIX)) {
            return self.whiteout(&rel, hidden).map_err(|e| e.with_path(&shown));
        }

        let parent = self.parents(&rel, true).map_err(|e| e.with_path(&shown))?;
        let target = rel.as_path();
        match kind {
            // Setuid and setgid never survive; the sticky bit does on directories (`/tmp`).
            Kind::Dir => self.make_dir(&parent, &name, target, mode & 0o1777)?,
            Kind::File { size } => {
                let total = self.stats.bytes.saturating_add(size);
                if total > self.max_bytes {
                    return Err(ExtractError::TooLarge {
                        limit: self.max_bytes,
                    });
                }
                self.clear(&parent, &name, target)?;
                // File data is bounded by the size limit checked above, not by the budget.
                budget.refill(size);
                self.write_file(
                    &parent,
                    &name,
                    target,
                    &mut entry,
                    size,
                    mode & 0o777,
                    compression,
                )?;
            }
            Kind::Symlink => {
                let link = entry
                    .link_name()
                    .map_err(corrupt)?
                    .unwrap_or_default()
                    .into_owned();
                if link.as_os_str().is_empty() {
                    return Err(unsafe_entry(UnsafeReason::EmptySymlinkTarget));
                }
                self.clear(&parent, &name, target)?;
                rustix::fs::symlinkat(&link, &*parent, &name)
                    .map_err(|e| io_at(target)(e.into()))?;
                self.nodes.insert(
                    target.to_path_buf(),
                    TreeEntry::symlink(tree::encode(target.as_os_str()), link.as_os_str()),
                );
            }
            Kind::Hardlink => {
                let link = entry
                    .link_name()
                    .map_err(corrupt)?
                    .unwrap_or_default()
                    .into_owned();
                let (source_dir, source_name, source_rel) = self
                    .hardlink_source(&link)
                    .ok_or_else(|| unsafe_entry(UnsafeReason::HardlinkTarget))?;
                if source_rel == target {
                    // A link to itself changes nothing.
                } else {
                    self.clear(&parent, &name, target)?;
                    rustix::fs::linkat(
                        &*source_dir,
                        &source_name,
                        &*parent,
                        &name,
                        rustix::fs::AtFlags::empty(),
                    )
                    .map_err(|e| io_at(target)(e.into()))?;
                    // One inode: the same kind, mode and content as the source.
                    let entry = match self.nodes.get(&source_rel) {
                        Some(source) => TreeEntry {
                            path: tree::encode(target.as_os_str()),
                            ..source.clone()
                        },
                        None => tree::entry_at(&*parent, &name, target).map_err(io_at(target))?,
                    };
                    self.nodes.insert(target.to_path_buf(), entry);
                }
            }
            Kind::Skip => {}
        }
        self.this_layer.insert(target.to_path_buf());
        Ok(())
    }

    /// Walks (and, when `create`, makes) the parents of `rel` from the root, one `openat` with
    /// `O_NOFOLLOW | O_DIRECTORY` per component, refusing symlinks and non-directories. Returns
    /// a handle of the parent directory.
    fn parents(
        &mut self,
        rel: &SafeRelativePath,
        create: bool,
    ) -> Result<Arc<OwnedFd>, EntryError> {
        let Some(parent) = rel.parent() else {
            return Ok(Arc::clone(&self.root));
        };
        let parent = parent.as_path();
        if let Some((cached, fd)) = &self.last_parent {
            if cached == parent {
                return Ok(Arc::clone(fd));
            }
        }
        let mut dir = Arc::clone(&self.root);
        let mut so_far = PathBuf::new();
        for component in parent.components() {
            let name = component.as_os_str();
            so_far.push(name);
            let io = |e| EntryError::Io(so_far.clone(), e);
            let next = match at::open_dir(&*dir, name) {
                Ok(fd) => fd,
                Err(open_error) => match at::lstat(&*dir, name).map_err(io)? {
                    None if create => {
                        at::mkdir(&*dir, name, 0o700).map_err(io)?;
                        self.nodes.insert(
                            so_far.clone(),
                            TreeEntry::dir(tree::encode(so_far.as_os_str()), IMPLICIT_DIR_MODE),
                        );
                        self.this_layer.insert(so_far.clone());
                        at::open_dir(&*dir, name).map_err(io)?
                    }
                    None => return Err(EntryError::Missing),
                    Some(stat) => match at::file_type(&stat) {
                        at::Type::Symlink => {
                            return Err(EntryError::Unsafe(UnsafeReason::ThroughSymlink))
                        }
                        at::Type::Dir => return Err(io(open_error)),
                        _ => return Err(EntryError::Unsafe(UnsafeReason::ParentNotDirectory)),
                    },
                },
            };
            dir = Arc::new(next);
        }
        self.last_parent = Some((parent.to_path_buf(), Arc::clone(&dir)));
        Ok(dir)
    }

    /// Removes whatever is at `name` in `dir` (file, symlink, or directory tree) without
    /// following links, and forgets it (and everything below it) in the listing.
    fn clear(&mut self, dir: &OwnedFd, name: &OsStr, rel: &Path) -> Result<(), ExtractError> {
        let Some(stat) = at::lstat(dir, name).map_err(io_at(rel))? else {
            return Ok(());
        };
        if at::file_type(&stat) == at::Type::Dir {
            self.last_parent = None;
            at::remove_tree(dir, name).map_err(io_at(rel))?;
        } else {
            at::unlink(dir, name).map_err(io_at(rel))?;
        }
        let below: Vec<PathBuf> = self
            .nodes
            .range::<Path, _>((Bound::Excluded(rel), Bound::Unbounded))
            .take_while(|(path, _)| path.starts_with(rel))
            .map(|(path, _)| path.clone())
            .collect();
        for path in below {
            self.nodes.remove(&path);
        }
        self.nodes.remove(rel);
        Ok(())
    }

    /// Makes `name` in `dir` a directory (`0700` until [`Extractor::finish`]) and records
    /// `mode` as its final mode.
    fn make_dir(
        &mut self,
        dir: &OwnedFd,
        name: &OsStr,
        rel: &Path,
        mode: u32,
    ) -> Result<(), ExtractError> {
        match at::lstat(dir, name).map_err(io_at(rel))? {
            Some(stat) if at::file_type(&stat) == at::Type::Dir => {}
            Some(_) => {
                self.clear(dir, name, rel)?;
                at::mkdir(dir, name, 0o700).map_err(io_at(rel))?;
            }
            None => at::mkdir(dir, name, 0o700).map_err(io_at(rel))?,
        }
        self.nodes.insert(
            rel.to_path_buf(),
            TreeEntry::dir(tree::encode(rel.as_os_str()), mode),
        );
        Ok(())
    }

    #[allow(clippy::too_many_arguments)] // one call site; the arguments are the entry
    fn write_file<R: Read>(
        &mut self,
        dir: &OwnedFd,
        name: &OsStr,
        rel: &Path,
        entry: &mut R,
        size: u64,
        mode: u32,
        compression: Compression,
    ) -> Result<(), ExtractError> {
        // O_CREAT|O_EXCL|O_NOFOLLOW: never follows a symlink, never reuses an inode.
        let mut file = at::create_file(dir, name, 0o600).map_err(io_at(rel))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; COPY_CHUNK];
        let mut written = 0u64;
        loop {
            if self.cancel.is_cancelled() {
                return Err(ExtractError::Cancelled);
            }
            let n = entry
                .read(&mut buf)
                .map_err(|source| ExtractError::Corrupt {
                    compression,
                    source,
                })?;
            if n == 0 {
                break;
            }
            file.write_all(&buf[..n]).map_err(io_at(rel))?;
            hasher.update(&buf[..n]);
            written += n as u64;
            self.stats.bytes += n as u64;
        }
        if written != size {
            let source = io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "tar entry shorter than its header says",
            );
            return Err(ExtractError::Corrupt {
                compression,
                source,
            });
        }
        at::set_mode(&file, mode).map_err(io_at(rel))?;
        self.nodes.insert(
            rel.to_path_buf(),
            TreeEntry::file(
                tree::encode(rel.as_os_str()),
                mode,
                hasher.finalize().into(),
            ),
        );
        Ok(())
    }

    /// The directory, name and relative path of an existing non-directory inside the root
    /// reached without symlinks.
    fn hardlink_source(&mut self, link: &Path) -> Option<(Arc<OwnedFd>, OsString, PathBuf)> {
        let rel = SafeRelativePath::parse(link).ok()??;
        let parent = self.parents(&rel, false).ok()?;
        let name = rel.file_name();
        let stat = at::lstat(&*parent, &name).ok()??;
        if at::file_type(&stat) == at::Type::Dir {
            return None;
        }
        Some((parent, name, rel.as_path().to_path_buf()))
    }

    fn whiteout(&mut self, rel: &SafeRelativePath, hidden: &str) -> Result<(), EntryError> {
        self.stats.whiteouts += 1;
        let opaque = rel.file_name() == OsStr::new(OPAQUE_WHITEOUT);
        if !opaque && (hidden.is_empty() || hidden == "." || hidden == "..") {
            return Err(EntryError::Unsafe(UnsafeReason::BadWhiteout));
        }
        let parent = match self.parents(rel, false) {
            Ok(parent) => parent,
            // Nothing below can exist, so there is nothing to hide.
            Err(EntryError::Missing) => return Ok(()),
            Err(e) => return Err(e),
        };
        let parent_rel = rel
            .parent()
            .map(|p| p.as_path().to_path_buf())
            .unwrap_or_default();
        if opaque {
            return self.empty_lower(&parent, &parent_rel);
        }
        let rel_hidden = parent_rel.join(hidden);
        if self.this_layer.contains(&rel_hidden) {
            return Ok(());
        }
        self.clear(&parent, OsStr::new(hidden), &rel_hidden)
            .map_err(EntryError::from_extract)
    }

    /// Removes everything under `dir` that the current layer did not create.
    fn empty_lower(&mut self, dir: &OwnedFd, dir_rel: &Path) -> Result<(), EntryError> {
        let io = |e| EntryError::Io(dir_rel.to_path_buf(), e);
        for child in at::children(dir).map_err(io)? {
            let child_rel = dir_rel.join(&child);
            if !self.this_layer.contains(&child_rel) {
                self.clear(dir, &child, &child_rel)
                    .map_err(EntryError::from_extract)?;
            } else if at::lstat(dir, &child)
                .map_err(io)?
                .is_some_and(|s| at::file_type(&s) == at::Type::Dir)
            {
                let sub = at::open_dir(dir, &child).map_err(io)?;
                self.empty_lower(&sub, &child_rel)?;
            }
        }
        Ok(())
    }
}

/// An error found while resolving an entry, before its archive path is attached.
#[derive(Debug)]
enum EntryError {
    Unsafe(UnsafeReason),
    Missing,
    Io(PathBuf, io::Error),
    Extract(ExtractError),
}

impl EntryError {
    fn from_extract(e: ExtractError) -> Self {
        Self::Extract(e)
    }

    fn with_path(self, shown: &str) -> ExtractError {
        match self {
            Self::Unsafe(reason) => ExtractError::UnsafeEntry {
                path: shown.to_owned(),
                reason,
            },
            // Only hardlink lookups ask for no creation, and they map Missing themselves.
            Self::Missing => ExtractError::UnsafeEntry {
                path: shown.to_owned(),
                reason: UnsafeReason::HardlinkTarget,
            },
            Self::Io(path, source) => ExtractError::Io { path, source },
            Self::Extract(e) => e,
        }
    }
}

fn io_at(path: &Path) -> impl Fn(io::Error) -> ExtractError + '_ {
    move |source| ExtractError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests;

/// Fuzzing entry point (`cargo xtask fuzz`, built only with `--cfg fuzzing`): extracts `layers`
/// in order, each sniffed for its compression, into the existing directory `root`, with the
/// default limits, and returns the listing of the result.
#[cfg(fuzzing)]
pub fn fuzz_extract(layers: &[&[u8]], root: &std::path::Path) -> Result<TreeListing, ExtractError> {
    let handle = at::open_dir_path(root, true).map_err(|source| ExtractError::Io {
        path: root.to_path_buf(),
        source,
    })?;
    let mut extractor =
        Extractor::new(handle, &crate::PullLimits::default(), CancelFlag::default());
    for layer in layers {
        extractor.extract_layer(*layer, DeclaredCompression::Sniff)?;
    }
    extractor
        .finish()
        .map_err(|(path, source)| ExtractError::Io { path, source })
}
