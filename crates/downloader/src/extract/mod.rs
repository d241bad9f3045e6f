//! Safe, layered tar extraction into a root directory that this process owns.
//!
//! The rules (DESIGN §7, step 4):
//! - paths: a leading `/` and `./` are dropped; any `..` component is refused;
//! - symlinks are created as data (any target) but never followed when writing: every parent of
//!   an entry must be a real directory, and an entry's own name is unlinked before it is created
//!   (files are created with `O_EXCL`, which does not follow a symlink);
//! - hardlinks must name an existing non-directory inside the root, reached without symlinks;
//! - character and block devices and FIFOs are skipped; setuid, setgid and sticky bits are
//!   stripped; directories stay owner-writable (`u+rwx`) so later layers can write into them;
//!   ownership and timestamps are not restored;
//! - OCI whiteouts: `.wh.NAME` removes `NAME` from lower layers and `.wh..wh..opq` empties its
//!   directory of everything lower layers put there; neither is materialised;
//! - entry-count and extracted-size limits across all layers ([`crate::PullLimits`]), and at most
//!   [`MAX_METADATA_BYTES`] of tar metadata per entry (the tar reader buffers long names and pax
//!   records in memory);
//! - a cancellation flag checked between entries and every 64 KiB written.
//!
//! Decompression runs on a second thread a bounded distance ahead ([`readahead`]), so inflating
//! and writing files overlap (or on the extracting thread when no thread can be spawned);
//! everything above is decided on the extracting thread.

mod compression;
mod path;
mod readahead;

pub use compression::Compression;
pub(crate) use compression::{declared, DeclaredCompression};

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

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
    /// Writing into the staging directory failed (disk full, permissions).
    #[error("could not write {path:?} in the staging directory")]
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

/// Extracts layers, in order, into one root directory.
#[derive(Debug)]
pub(crate) struct Extractor {
    root: PathBuf,
    max_entries: u64,
    max_bytes: u64,
    cancel: CancelFlag,
    stats: ExtractStats,
    /// Paths created by the layer being extracted: whiteouts only hide lower layers' content.
    this_layer: HashSet<PathBuf>,
}

enum Kind {
    Dir,
    File { size: u64 },
    Symlink,
    Hardlink,
    Skip,
}

impl Extractor {
    /// An extractor writing into `root`, which must be an existing directory this process owns.
    pub(crate) fn new(root: &Path, limits: &crate::PullLimits, cancel: CancelFlag) -> Self {
        Self {
            root: root.to_path_buf(),
            max_entries: limits.max_entries,
            max_bytes: limits.max_extracted_bytes,
            cancel,
            stats: ExtractStats::default(),
            this_layer: HashSet::new(),
        }
    }

    /// What has been done so far.
    pub(crate) fn stats(&self) -> &ExtractStats {
        &self.stats
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
        let mode = header.mode().unwrap_or(0o644) & 0o777;
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
        let target = parent.join(&name);
        match kind {
            Kind::Dir => self.make_dir(&target, mode)?,
            Kind::File { size } => {
                let total = self.stats.bytes.saturating_add(size);
                if total > self.max_bytes {
                    return Err(ExtractError::TooLarge {
                        limit: self.max_bytes,
                    });
                }
                self.clear(&target)?;
                // File data is bounded by the size limit checked above, not by the budget.
                budget.refill(size);
                self.write_file(&target, &mut entry, size, mode, compression)?;
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
                self.clear(&target)?;
                std::os::unix::fs::symlink(&link, &target).map_err(io_at(&target))?;
            }
            Kind::Hardlink => {
                let link = entry
                    .link_name()
                    .map_err(corrupt)?
                    .unwrap_or_default()
                    .into_owned();
                let source = self
                    .hardlink_source(&link)
                    .ok_or_else(|| unsafe_entry(UnsafeReason::HardlinkTarget))?;
                if source == target {
                    // A link to itself changes nothing.
                } else {
                    self.clear(&target)?;
                    fs::hard_link(&source, &target).map_err(io_at(&target))?;
                }
            }
            Kind::Skip => {}
        }
        self.this_layer.insert(rel.as_path().to_path_buf());
        Ok(())
    }

    /// Walks (and, when `create`, makes) the parents of `rel`, refusing symlinks and
    /// non-directories. Returns the absolute parent directory.
    fn parents(&mut self, rel: &SafeRelativePath, create: bool) -> Result<PathBuf, EntryError> {
        let mut dir = self.root.clone();
        let Some(parent) = rel.parent() else {
            return Ok(dir);
        };
        let mut so_far = PathBuf::new();
        for component in parent.as_path().components() {
            dir.push(component);
            so_far.push(component);
            match fs::symlink_metadata(&dir) {
                Ok(meta) if meta.file_type().is_dir() => {}
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(EntryError::Unsafe(UnsafeReason::ThroughSymlink))
                }
                Ok(_) => return Err(EntryError::Unsafe(UnsafeReason::ParentNotDirectory)),
                Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                    fs::DirBuilder::new()
                        .mode(0o755)
                        .create(&dir)
                        .map_err(|e| EntryError::Io(dir.clone(), e))?;
                    self.this_layer.insert(so_far.clone());
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(EntryError::Missing),
                Err(e) => return Err(EntryError::Io(dir.clone(), e)),
            }
        }
        Ok(dir)
    }

    /// Removes whatever is at `target` (file, symlink, or directory tree) without following links.
    fn clear(&self, target: &Path) -> Result<(), ExtractError> {
        match fs::symlink_metadata(target) {
            Ok(meta) if meta.file_type().is_dir() => {
                fs::remove_dir_all(target).map_err(io_at(target))
            }
            Ok(_) => fs::remove_file(target).map_err(io_at(target)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_at(target)(e)),
        }
    }

    fn make_dir(&self, target: &Path, mode: u32) -> Result<(), ExtractError> {
        match fs::symlink_metadata(target) {
            Ok(meta) if meta.file_type().is_dir() => {}
            Ok(_) => {
                self.clear(target)?;
                fs::DirBuilder::new()
                    .mode(0o755)
                    .create(target)
                    .map_err(io_at(target))?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::DirBuilder::new()
                    .mode(0o755)
                    .create(target)
                    .map_err(io_at(target))?;
            }
            Err(e) => return Err(io_at(target)(e)),
        }
        fs::set_permissions(target, fs::Permissions::from_mode(mode | 0o700)).map_err(io_at(target))
    }

    fn write_file<R: Read>(
        &mut self,
        target: &Path,
        entry: &mut R,
        size: u64,
        mode: u32,
        compression: Compression,
    ) -> Result<(), ExtractError> {
        // create_new = O_CREAT|O_EXCL: never follows a symlink, never reuses an inode.
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(target)
            .map_err(io_at(target))?;
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
            file.write_all(&buf[..n]).map_err(io_at(target))?;
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
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(io_at(target))
    }

    fn hardlink_source(&mut self, link: &Path) -> Option<PathBuf> {
        let rel = SafeRelativePath::parse(link).ok()??;
        let parent = self.parents(&rel, false).ok()?;
        let source = parent.join(rel.file_name());
        let meta = fs::symlink_metadata(&source).ok()?;
        if meta.file_type().is_dir() {
            return None;
        }
        Some(source)
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
        self.clear(&parent.join(hidden))
            .map_err(EntryError::from_extract)
    }

    /// Removes everything under `dir` that the current layer did not create.
    fn empty_lower(&self, dir: &Path, dir_rel: &Path) -> Result<(), EntryError> {
        let listing = match fs::read_dir(dir) {
            Ok(listing) => listing,
            Err(e) => return Err(EntryError::Io(dir.to_path_buf(), e)),
        };
        for child in listing {
            let child = child.map_err(|e| EntryError::Io(dir.to_path_buf(), e))?;
            let child_rel = dir_rel.join(child.file_name());
            let child_path = child.path();
            if !self.this_layer.contains(&child_rel) {
                self.clear(&child_path).map_err(EntryError::from_extract)?;
            } else if fs::symlink_metadata(&child_path)
                .map(|m| m.file_type().is_dir())
                .unwrap_or(false)
            {
                self.empty_lower(&child_path, &child_rel)?;
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
